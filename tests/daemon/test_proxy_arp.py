"""The FA daemon's unicast proxy ARP Reply (RFC 4881 §4.1 step 4b) on a real link."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from tests.conftest import require_root

OFA = "198.18.1.2"  # the MN's default router, which the nFA answers for
MN_HOME = "198.18.2.10"
NFA_MAC = "02:00:00:00:0a:03"
OFA_MAC = "02:00:00:00:0a:02"
CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "configs"


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def link() -> Iterator[tuple[str, str]]:
    require_root("network namespaces and AF_PACKET sockets")
    fa, mn = f"mip4t-{os.getpid()}arp-fa", f"mip4t-{os.getpid()}arp-mn"
    try:
        for ns in (fa, mn):
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", "ap0", "netns", fa, "type", "veth", "peer", "radio0", "netns", mn)
        sh("ip", "-n", fa, "link", "set", "ap0", "address", NFA_MAC, "up")
        sh("ip", "-n", mn, "addr", "add", f"{MN_HOME}/32", "dev", "radio0")
        sh("ip", "-n", mn, "link", "set", "radio0", "up")
        sh("ip", "-n", mn, "route", "add", f"{OFA}/32", "dev", "radio0")
        # The deferring MN still has its entry for the oFA (RFC 826: only an existing
        # entry is updated by an unsolicited packet).
        sh("ip", "-n", mn, "neigh", "replace", OFA, "lladdr", OFA_MAC, "dev", "radio0",
           "nud", "reachable")  # fmt: skip
        yield fa, mn
    finally:
        for ns in (fa, mn):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_the_mn_s_entry_for_the_ofa_names_the_nfa_after_the_reply(link: tuple[str, str]) -> None:
    fa, mn = link
    mn_mac = json.loads(sh("ip", "-n", mn, "-j", "link", "show", "radio0"))[0]["address"]
    script = textwrap.dedent(
        f"""
        import socket
        from ipaddress import IPv4Address
        from mip4.core.actions import AnnounceProxyArp
        from mip4.daemon.config import load_config
        from mip4.daemon.runtime import Runtime

        runtime = Runtime(load_config({str(CONTRIB / "fa.toml")!r}), use_netlink=False)
        runtime.packet_send = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
        runtime.announce(AnnounceProxyArp(
            address=IPv4Address({OFA!r}), interface="ap0",
            link_source=bytes.fromhex({NFA_MAC.replace(":", "")!r}),
            link_destination=bytes.fromhex({mn_mac.replace(":", "")!r}),
            mobile_node=IPv4Address({MN_HOME!r}),
        ))
        print(runtime.sent_count["proxy-arp-reply"], dict(runtime.drops))
        """
    )
    out = subprocess.run(
        ["ip", "netns", "exec", fa, sys.executable, "-c", script],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.split()[0] == "1", out
    [entry] = json.loads(sh("ip", "-n", mn, "-j", "neigh", "show", OFA, "dev", "radio0"))
    assert IPv4Address(entry["dst"]) == IPv4Address(OFA)
    assert entry["lladdr"] == NFA_MAC  # the uplink to the oFA now reaches the nFA
