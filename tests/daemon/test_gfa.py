"""A GFA daemon between the HA and the FA: regional registration (RFC 4857) with real
daemons, and the HA -> GFA -> FA tunnels carrying a packet to the MN (root only)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.daemon.netns import (
    HA_ADDRESS,
    HOME_ADDRESS,
    MN_HA_KEY,
    RECEIVER,
    SENDER,
    Testbed,
    netns_list,
    sh,
    wait_for,
)

GFA_ADDRESS = "198.18.1.3"
FA_ADDRESS = "198.18.3.2"
FA_GFA_KEY = "hex:0f0e0d0c0b0a09080706050403020100"
MN_GFA_KEY = "hex:a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"


class GfaTestbed(Testbed):
    """HA --(198.18.1.0/24)-- GFA --(198.18.3.0/24)-- FA --(access link)-- MN."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        tag = f"{os.getpid() % 100000}"
        self.ns = {role: f"mip4t-{tag}g-{role}" for role in ("ha", "gfa", "fa", "mn")}

    def build(self) -> None:
        ha, gfa, fa, mn = (self.ns[r] for r in ("ha", "gfa", "fa", "mn"))
        for ns in self.ns.values():
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            for key in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                        "net.ipv4.conf.default.rp_filter=0"):  # fmt: skip
                sh("ip", "netns", "exec", ns, "sysctl", "-qw", key)
        sh("ip", "-n", ha, "link", "add", "ha-core", "type", "veth", "peer", "name", "gfa-up",
           "netns", gfa)  # fmt: skip
        sh("ip", "-n", gfa, "link", "add", "gfa-down", "type", "veth", "peer", "name",
           "fa-core", "netns", fa)  # fmt: skip
        sh("ip", "-n", fa, "link", "add", "fa-ap", "type", "veth", "peer", "name", "mn-radio",
           "netns", mn)  # fmt: skip
        sh("ip", "-n", ha, "link", "add", "ha-home", "type", "veth", "peer", "name", "ha-homep")
        for ns, address, link in (
            (ha, f"{HA_ADDRESS}/24", "ha-core"),
            (ha, "198.18.2.1/24", "ha-home"),
            (gfa, f"{GFA_ADDRESS}/24", "gfa-up"),
            (gfa, "198.18.3.3/24", "gfa-down"),
            (fa, f"{FA_ADDRESS}/24", "fa-core"),
            (fa, f"{FA_ADDRESS}/32", "fa-ap"),
            (mn, f"{HOME_ADDRESS}/32", "mn-radio"),
        ):
            sh("ip", "-n", ns, "addr", "add", address, "dev", link)
        for ns, links in ((ha, ("ha-core", "ha-home", "ha-homep")), (gfa, ("gfa-up", "gfa-down")),
                          (fa, ("fa-core", "fa-ap")), (mn, ("mn-radio",))):  # fmt: skip
            for link in links:
                sh("ip", "-n", ns, "link", "set", link, "up")
        sh("ip", "-n", ha, "route", "add", "198.18.3.0/24", "via", GFA_ADDRESS)
        sh("ip", "-n", fa, "route", "add", "default", "via", "198.18.3.3")


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[GfaTestbed]:
    require_root("network namespaces, TUN devices and raw sockets")
    testbed = GfaTestbed(tmp_path)
    try:
        testbed.build()
        yield testbed
    finally:
        testbed.close()
    assert not [ns for ns in netns_list() if ns in testbed.ns.values()]


def test_regional_registration_through_a_gfa_daemon(bed: GfaTestbed) -> None:
    ha = bed.start(
        "ha",
        f'role = "ha"\nname = "ha"\naddress = "{HA_ADDRESS}"\n[interfaces]\nhome = "ha-home"\n'
        f'[[security.mn_ha]]\npeer = "{HOME_ADDRESS}"\nspi = 1000\nkey = "{MN_HA_KEY}"\n',
    )
    gfa = bed.start(
        "gfa",
        f'role = "gfa"\nname = "gfa"\naddress = "{GFA_ADDRESS}"\n[interfaces]\nwired = "gfa-up"\n'
        f'[[security.fa_gfa]]\npeer = "{FA_ADDRESS}"\nspi = 2001\nkey = "{FA_GFA_KEY}"\n'
        f'[[security.mn_gfa]]\npeer = "{HOME_ADDRESS}"\nspi = 3000\nkey = "{MN_GFA_KEY}"\n',
    )
    fa = bed.start(
        "fa",
        f'role = "fa"\nname = "fa"\naddress = "{FA_ADDRESS}"\n'
        '[interfaces]\naccess = "fa-ap"\nwired = "fa-core"\n'
        "[timers]\nadvertisement_interval = 0.5\n"
        f'[options]\ngfa = "{GFA_ADDRESS}"\n'
        f'[[security.fa_gfa]]\npeer = "{GFA_ADDRESS}"\nspi = 2001\nkey = "{FA_GFA_KEY}"\n',
    )
    for daemon in (ha, gfa, fa):
        daemon.wait_ready()
    mn = bed.start(
        "mn",
        f'role = "mn"\nname = "mn"\nhome_address = "{HOME_ADDRESS}"\n'
        f'home_agent = "{HA_ADDRESS}"\n[interfaces]\nradio = "mn-radio"\n'
        f'[[security.mn_ha]]\npeer = "{HA_ADDRESS}"\nspi = 1000\nkey = "{MN_HA_KEY}"\n'
        f'[[security.mn_gfa]]\npeer = "{GFA_ADDRESS}"\nspi = 3000\nkey = "{MN_GFA_KEY}"\n',
    )
    mn.wait_ready()

    def bound_to_gfa() -> object:
        bindings = ha.status()["agent"]["bindings"].get(HOME_ADDRESS, [])
        return [b for b in bindings if b["care_of_address"] == GFA_ADDRESS]

    wait_for(bound_to_gfa, 10.0, "the HA's binding to the GFA")
    gfa_status = gfa.status()
    assert HOME_ADDRESS in gfa_status["dataplane"]["bindings"]
    assert gfa_status["dataplane"]["bindings"][HOME_ADDRESS]["care_of_addresses"] == [FA_ADDRESS]
    assert HOME_ADDRESS in fa.status()["agent"]["visitors"]

    rx = bed.python("mn", RECEIVER, "9990", "5")
    assert rx.stdout is not None
    assert rx.stdout.readline().strip() == "ready"
    bed.python("ha", SENDER, HOME_ADDRESS, "9990", "via-gfa").wait(5)
    out, _ = rx.communicate(timeout=10)
    assert out.strip() == f"via-gfa {HA_ADDRESS}"
    assert gfa.status()["dataplane"]["counters"]["encapsulated"] >= 1
    for daemon in (mn, fa, gfa, ha):
        assert daemon.stop() == 0, daemon.log_text()
