"""The lab's namespaces, links and addresses (198.18.0.0/15 only; nothing leaves them).

::

    CN --- core --- HA (home network 198.18.2.0/24 behind it)
             |
             +--- GFA (with ``--gfa``: RFC 4857 regional registration)
             |
             +--- FA1 --(fa-ap)~~(mn-ap1)--+
             +--- FA2 --(fa-ap)~~(mn-ap2)--+-- bridge mn-air -- (mn-radiop)~~(mn-radio)
             +--- FA3 --(fa-ap)~~(mn-ap3)--+   the MN's radio (home 198.18.2.10)

Namespaces are ``<prefix>-cn``, ``-core``, ``-ha``, ``-fa1`` ... ``-faN``, ``-mn``. The MN
has one veth per access point, a bridge ``mn-air`` (the air) and its radio ``mn-radio``, a
veth with a fixed MAC whose peer is a port of the air bridge: the radio is "attached" to the
access point whose veth is enslaved to the bridge. Every frame between the radio and an
access point is forwarded by the bridge, so the air's delay and loss apply to it whichever
socket sent it (through br_netfilter: iptables NFQUEUE for the delay; nftables bridge
family for the loss; see :mod:`mip4.lab.runner`). A second air ``mn-air2`` with radio
``mn-radio2`` (MAC 06:00:00:00:01:01) is the second radio of method ``multi-interface``.
IPv6 is disabled in every namespace (no link-local addresses). Addresses:
CN 198.18.10.2, HA 198.18.1.1, FA i 198.18.(20+i).1 (also on its access link, /32), core
198.18.x.254 on each link.

A run's files live under :attr:`Lab.workroot` (``<tmp>/<prefix>.lab``), which ``down``
removes with the namespaces.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mip4.errors import LocalUsageError

DEFAULT_PREFIX = "mip4lab"
CN_ADDRESS = "198.18.10.2"
GFA_ADDRESS = "198.18.5.1"
HA_ADDRESS = "198.18.1.1"
HOME_NETWORK = "198.18.2.0/24"
HOME_GATEWAY = "198.18.2.1"
MN_HOME_ADDRESS = "198.18.2.10"
MN_MAC = "02:00:00:00:01:01"
# method multi-interface (RFC 4881 Appendix B): the MN's second radio, a second bridge with
# the MAC the simulator gives it (mip4.sim.multi_radio.second_mac)
MN_RADIO2 = "mn-radio2"
MN_MAC2 = "06:00:00:00:01:01"
# the air bridge of each radio (the access points' veths are enslaved to it)
AIR = {"mn-radio": "mn-air", MN_RADIO2: "mn-air2"}
MAX_FAS = 20


def fa_address(index: int) -> str:
    """The address of FA ``index`` (1-based)."""
    return f"198.18.{20 + index}.1"


class LabError(LocalUsageError):
    """The lab cannot be built, used or removed as asked."""


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class Lab:
    """Names of one lab's namespaces."""

    prefix: str = DEFAULT_PREFIX
    fas: int = 3
    gfa: bool = False

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    @property
    def roles(self) -> list[str]:
        gfa = ["gfa"] if self.gfa else []
        return ["cn", "core", "ha", *gfa, *(f"fa{i}" for i in range(1, self.fas + 1)), "mn"]

    def existing(self) -> list[str]:
        """This prefix's namespaces that exist now (any FA count): exactly the names a lab
        under this prefix makes, not those of a lab under a longer prefix (``mip4lab-x``)."""
        own = re.compile(rf"{re.escape(self.prefix)}-(cn|core|ha|gfa|mn|fa[1-9][0-9]*)")
        return [n for n in namespaces() if own.fullmatch(n)]

    @property
    def workroot(self) -> Path:
        """Where this lab's runs keep their files (configs, logs, sockets)."""
        return Path(tempfile.gettempdir()) / f"{self.prefix}.lab"

    @classmethod
    def detect(cls, prefix: str = DEFAULT_PREFIX) -> Lab:
        """The lab that is up under ``prefix`` (its FA count from the namespaces)."""
        found = cls(prefix).existing()
        if not found:
            raise LabError(f"no lab is up under {prefix!r} (run: mip4 lab up)")
        fas = sum(1 for n in found if n[len(prefix) + 1 :].startswith("fa"))
        lab = cls(prefix, fas, f"{prefix}-gfa" in found)
        if sorted(found) != sorted(lab.ns(r) for r in lab.roles):
            raise LabError(f"the lab under {prefix!r} is half-built: run 'mip4 lab down' first")
        return lab

    def up(self) -> None:
        """Build everything; on any failure remove what was made and raise."""
        if not 1 <= self.fas <= MAX_FAS:
            raise LabError(f"fas: must be 1..{MAX_FAS}, got {self.fas}")
        if self.existing():
            raise LabError(
                f"namespaces {', '.join(self.existing())} exist: a lab (or a half-built one) "
                f"is there; remove it with 'mip4 lab down --prefix {self.prefix}'"
            )
        try:
            self._build()
        except BaseException:
            self.down()
            raise

    def _build(self) -> None:
        for role in self.roles:
            ns = self.ns(role)
            _ip("netns", "add", ns)
            for key in (  # IPv4 only: no IPv6 link-local address on any lab link
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ):
                _ip("netns", "exec", ns, "sysctl", "-qw", key)
            _ip("-n", ns, "link", "set", "lo", "up")
            for key in (
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ):
                _ip("netns", "exec", ns, "sysctl", "-qw", key)
        core, cn, ha, mn = self.ns("core"), self.ns("cn"), self.ns("ha"), self.ns("mn")
        # CN and HA on the core router
        _ip("-n", core, "link", "add", "core-cn", "type", "veth", "peer", "name", "cn0",
            "netns", cn)  # fmt: skip
        _ip("-n", core, "addr", "add", "198.18.10.254/24", "dev", "core-cn")
        _ip("-n", cn, "addr", "add", f"{CN_ADDRESS}/24", "dev", "cn0")
        _ip("-n", core, "link", "add", "core-ha", "type", "veth", "peer", "name", "ha0",
            "netns", ha)  # fmt: skip
        _ip("-n", core, "addr", "add", "198.18.1.254/24", "dev", "core-ha")
        _ip("-n", ha, "addr", "add", f"{HA_ADDRESS}/24", "dev", "ha0")
        _ip("-n", ha, "link", "add", "ha-home", "type", "veth", "peer", "name", "ha-homep")
        _ip("-n", ha, "addr", "add", f"{HOME_GATEWAY}/24", "dev", "ha-home")
        for ns, links in ((cn, ["cn0"]), (ha, ["ha0", "ha-home", "ha-homep"])):
            for link in links:
                _ip("-n", ns, "link", "set", link, "up")
        # the MN's radio: a veth whose peer is a port of the air bridge, to which the veth
        # of the current access point is attached (the radio's carrier stays up between
        # access points: its peer is always up); the second radio (method multi-interface)
        # is the same, with no address of its own
        for radio, mac in (("mn-radio", MN_MAC), (MN_RADIO2, MN_MAC2)):
            air = AIR[radio]
            _ip("-n", mn, "link", "add", air, "type", "bridge")
            _ip("-n", mn, "link", "add", radio, "address", mac, "type", "veth", "peer",
                "name", f"{radio}p")  # fmt: skip
            _ip("-n", mn, "link", "set", f"{radio}p", "master", air)
            for link in (f"{radio}p", air, radio):
                _ip("-n", mn, "link", "set", link, "up")
        _ip("-n", mn, "addr", "add", f"{MN_HOME_ADDRESS}/32", "dev", "mn-radio")
        for i in range(1, self.fas + 1):
            fa = self.ns(f"fa{i}")
            _ip("-n", core, "link", "add", f"core-fa{i}", "type", "veth", "peer", "name",
                "fa-core", "netns", fa)  # fmt: skip
            _ip("-n", core, "addr", "add", f"198.18.{20 + i}.254/24", "dev", f"core-fa{i}")
            _ip("-n", fa, "addr", "add", f"{fa_address(i)}/24", "dev", "fa-core")
            _ip("-n", fa, "link", "add", "fa-ap", "type", "veth", "peer", "name", f"mn-ap{i}",
                "netns", mn)  # fmt: skip
            _ip("-n", fa, "addr", "add", f"{fa_address(i)}/32", "dev", "fa-ap")
            # POST-REGISTRATION's proxy ARP (RFC 4881 §4.1) answers at once, not after the
            # kernel's random proxy_delay (up to 0.8 s, in which the MN's uplink waits)
            _ip("netns", "exec", fa, "sysctl", "-qw", "net.ipv4.neigh.fa-ap.proxy_delay=0")
            _ip("-n", mn, "link", "set", f"mn-ap{i}", "up")
            for link in ("fa-core", "fa-ap"):
                _ip("-n", fa, "link", "set", link, "up")
            _ip("-n", core, "link", "set", f"core-fa{i}", "up")
            _ip("-n", fa, "route", "add", "default", "via", f"198.18.{20 + i}.254")
        if self.gfa:  # RFC 4857: the GFA on the core, between the FAs and the HA
            gfa = self.ns("gfa")
            _ip("-n", core, "link", "add", "core-gfa", "type", "veth", "peer", "name", "gfa0",
                "netns", gfa)  # fmt: skip
            _ip("-n", core, "addr", "add", "198.18.5.254/24", "dev", "core-gfa")
            _ip("-n", gfa, "addr", "add", f"{GFA_ADDRESS}/24", "dev", "gfa0")
            _ip("-n", gfa, "link", "set", "gfa0", "up")
            _ip("-n", core, "link", "set", "core-gfa", "up")
            _ip("-n", gfa, "route", "add", "default", "via", "198.18.5.254")
        for link in ("core-cn", "core-ha"):
            _ip("-n", core, "link", "set", link, "up")
        _ip("-n", core, "route", "add", HOME_NETWORK, "via", HA_ADDRESS)
        _ip("-n", cn, "route", "add", "default", "via", "198.18.10.254")
        _ip("-n", ha, "route", "add", "default", "via", "198.18.1.254")

    def attach(self, index: int | None) -> None:
        """Attach the MN's radio to access point ``index`` only (None: to none)."""
        for i in range(1, self.fas + 1):
            self.set_link(i, i == index)

    def set_link(self, index: int, up: bool, radio: str = "mn-radio") -> None:
        """Attach (``up``) or detach the MN's veth to access point ``index`` (to the air of
        ``radio``: the second radio is ``MN_RADIO2``).

        Links stay administratively up: toggling them would make the kernel's link watch
        delay the bridge port by up to a second; (de)enslaving takes effect at once."""
        mn = self.ns("mn")
        if up:
            _ip("-n", mn, "link", "set", f"mn-ap{index}", "master", AIR[radio])
        else:
            _ip("-n", mn, "link", "set", f"mn-ap{index}", "nomaster")

    def down(self) -> list[str]:
        """Stop every process left in this prefix's namespaces (a run that was killed), then
        delete the namespaces (their veths, bridges and TUN devices go with them) and the
        runs' files. Raises :class:`LabError` naming every namespace that could not be
        deleted (after trying them all)."""
        existing = self.existing()
        pids: list[int] = []
        for ns in existing:
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            pids.extend(int(p) for p in out.stdout.split() if p.isdigit())
        for signum in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
            deadline = time.monotonic() + 3.0
            while pids and time.monotonic() < deadline:
                pids = [p for p in pids if Path(f"/proc/{p}").exists()]
                time.sleep(0.05)
            if not pids:
                break
        removed, failed = [], []
        for ns in existing:
            result = subprocess.run(["ip", "netns", "del", ns], capture_output=True, text=True)
            if result.returncode == 0:
                removed.append(ns)
            else:
                failed.append(f"{ns} ({result.stderr.strip() or 'failed'})")
        shutil.rmtree(self.workroot, ignore_errors=True)
        if failed:
            raise LabError(f"could not delete namespaces: {'; '.join(failed)}")
        return removed


__all__ = [
    "AIR",
    "CN_ADDRESS",
    "DEFAULT_PREFIX",
    "GFA_ADDRESS",
    "HA_ADDRESS",
    "MN_HOME_ADDRESS",
    "MN_MAC",
    "MN_MAC2",
    "MN_RADIO2",
    "Lab",
    "LabError",
    "fa_address",
    "namespaces",
]
