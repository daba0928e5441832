"""RefuseReverseTunnel in the daemon data plane (RFC 4881 §8.2.2), as in the simulator's."""

from __future__ import annotations

from ipaddress import IPv4Address

from mip4.core.actions import RefuseReverseTunnel, SetUplink, TunnelMode, UplinkMode
from mip4.daemon.dataplane import DataPlane, decrement_ttl
from mip4.wire.ip import build_udp_ipv4
from mip4.wire.tunnel import encapsulate

HA = IPv4Address("198.18.1.1")
OFA = IPv4Address("198.18.1.2")
NFA = IPv4Address("198.18.1.3")
CN = IPv4Address("198.18.3.1")
HOME = IPv4Address("198.18.2.10")


def test_the_ofa_refuses_an_unconfirmed_nfa_reverse_tunnel_until_told_otherwise() -> None:
    ofa = DataPlane(role="fa", address=OFA, tun_name="t0")
    sent: list[bytes] = []
    ofa.sent = sent.append
    ofa.apply(
        SetUplink(
            home_address=HOME,
            mode=UplinkMode.ROUTE,
        )
    )
    inner = build_udp_ipv4(HOME, CN, 40000, 9, b"payload", ttl=63)
    tunnelled = encapsulate(TunnelMode.IP_IN_IP, inner, NFA, OFA)
    ofa.apply(RefuseReverseTunnel(home_address=HOME, peer=NFA, enabled=True))
    ofa.decapsulated(tunnelled)
    assert sent == [] and ofa.drops["reverse-tunnel-refused"] == 1
    assert ofa.snapshot()["refused"] == [f"{NFA}:{HOME}"]
    ofa.apply(RefuseReverseTunnel(home_address=HOME, peer=NFA, enabled=False))
    ofa.decapsulated(tunnelled)
    assert sent == [decrement_ttl(inner)]
