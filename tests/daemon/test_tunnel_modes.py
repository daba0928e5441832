"""Minimal encapsulation (RFC 2004) and GRE (RFC 1701/2784) through real raw sockets.

The MN asks for the encapsulation (``options.encapsulation``: the M or G bit, RFC 5944
§3.3); the HA's binding uses it, so a packet for the home address leaves the HA's user-space
tunnel as protocol 55 or 47 on the HA-FA link, where a packet socket in the FA's namespace
sees it, and the FA's raw socket for that protocol decapsulates and delivers it; the FA's
reverse tunnel (RFC 3024) takes the MN's packets back to the HA in the same encapsulation.
"""

from __future__ import annotations

import pytest

from tests.daemon.netns import (
    FA_ADDRESS,
    FA_CONFIG,
    HA_ADDRESS,
    HA_CONFIG,
    HOME_ADDRESS,
    MN_CONFIG,
    RECEIVER,
    SENDER,
    Testbed,
    wait_for,
)

# Prints the IP protocol of the first packet on the interface that carries the marker.
SNIFFER = """
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
s.bind((sys.argv[1], 0))
s.settimeout(float(sys.argv[3]))
print("ready", flush=True)
try:
    while True:
        packet = s.recv(65535)
        if sys.argv[2].encode() in packet:
            print(packet[9], socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20]),
                  flush=True)
            break
except OSError as exc:
    print("timeout", exc, flush=True)
"""


def _through(
    bed: Testbed, receiver: str, sender: str, destination: str, port: int, tap: tuple[str, str]
) -> str:
    """Send one UDP datagram; returns the receiver's line and what the sniffer in namespace
    ``tap[0]`` saw arriving on interface ``tap[1]`` (protocol, outer source, destination)."""
    marker = f"marker-{port}"
    sniff = bed.python(tap[0], SNIFFER, tap[1], marker, "5")
    assert sniff.stdout is not None and sniff.stdout.readline().strip() == "ready"
    rx = bed.python(receiver, RECEIVER, str(port), "5")
    assert rx.stdout is not None and rx.stdout.readline().strip() == "ready"
    bed.python(sender, SENDER, destination, str(port), marker).wait(5)
    received, _ = rx.communicate(timeout=10)
    seen, _ = sniff.communicate(timeout=10)
    return f"{received.strip()} | {seen.strip()}"


@pytest.mark.parametrize(("encapsulation", "protocol"), [("minimal", 55), ("gre", 47)])
def test_packets_cross_the_user_space_tunnel_in_minimal_and_gre(
    bed: Testbed, encapsulation: str, protocol: int
) -> None:
    ha = bed.start("ha", HA_CONFIG)
    fa = bed.start("fa", FA_CONFIG)
    ha.wait_ready()
    fa.wait_ready()
    mn = bed.start(
        "mn",
        MN_CONFIG.replace(
            "[interfaces]", f'[options]\nencapsulation = "{encapsulation}"\n[interfaces]'
        ),
    )
    mn.wait_ready()
    wait_for(lambda: ha.status()["agent"]["bindings"].get(HOME_ADDRESS), 10.0, "the binding")
    assert ha.status()["dataplane"]["bindings"][HOME_ADDRESS]["mode"] == encapsulation

    # HA side -> home address: encapsulated by the HA in `protocol`, decapsulated by the FA
    port = 9990 + protocol % 10
    line = _through(bed, "mn", "ha", HOME_ADDRESS, port, ("fa", "fa-core"))
    assert line == f"marker-{port} {HA_ADDRESS} | {protocol} {HA_ADDRESS} {FA_ADDRESS}"
    assert ha.status()["dataplane"]["counters"]["encapsulated"] >= 1
    fa_plane = fa.status()["dataplane"]
    assert fa_plane["counters"]["decapsulated"] >= 1 and fa_plane["counters"]["delivered"] >= 1
    assert fa_plane["drops"].get("bad-tunnel", 0) == 0
    # MN -> HA side: reverse-tunnelled by the FA in the same encapsulation (RFC 3024 §1.2:
    # "the same configuration (encapsulation method ...) as the forward tunnel"), then
    # decapsulated by the HA
    port = 9980 + protocol % 10
    line = _through(bed, "ha", "mn", "198.18.2.1", port, ("ha", "ha-core"))
    assert line == f"marker-{port} {HOME_ADDRESS} | {protocol} {FA_ADDRESS} {HA_ADDRESS}"
    assert fa.status()["dataplane"]["uplinks"][HOME_ADDRESS]["tunnel_mode"] == encapsulation
    ha_plane = ha.status()["dataplane"]
    assert ha_plane["counters"]["decapsulated"] >= 1 and ha_plane["counters"]["sent"] >= 1
    assert ha_plane["drops"].get("bad-tunnel", 0) == 0
