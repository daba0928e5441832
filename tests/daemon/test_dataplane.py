"""The daemon data plane's forwarding semantics (no kernel state: ``netlink`` None)."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from mip4.core.actions import (
    FlushBuffer,
    RemoveVisitor,
    SetForwardTunnel,
    SetMobilityBinding,
    SetUplink,
    SetVisitor,
    StartBuffering,
    TunnelMode,
    UplinkMode,
)
from mip4.daemon.dataplane import DataPlane, decrement_ttl
from mip4.wire.ip import IPv4Header, build_udp_ipv4
from mip4.wire.tunnel import decapsulate, encapsulate

HA = IPv4Address("198.18.1.1")
FA = IPv4Address("198.18.1.2")
FA2 = IPv4Address("198.18.1.3")
CN = IPv4Address("198.18.3.1")
HOME = IPv4Address("198.18.2.10")
MAC = bytes.fromhex("020000000101")


def _plane(role: str, address: IPv4Address) -> tuple[DataPlane, list[bytes]]:
    plane = DataPlane(role=role, address=address, tun_name="t0")
    sent: list[bytes] = []
    plane.sent = sent.append
    return plane, sent


def _data(source: IPv4Address, destination: IPv4Address, ttl: int = 64, port: int = 9) -> bytes:
    return build_udp_ipv4(source, destination, 40000, port, b"payload", ttl=ttl)


@pytest.mark.parametrize("mode", list(TunnelMode))
def test_ha_tunnels_intercepted_packets_to_every_care_of_address(mode: TunnelMode) -> None:
    ha, sent = _plane("ha", HA)
    ha.apply(
        SetMobilityBinding(
            home_address=HOME, care_of_addresses=(FA, FA2), tunnel_source=HA, mode=mode
        )
    )
    packet = _data(CN, HOME, ttl=63)  # already decremented by the kernel into the TUN
    ha.from_tun(packet)
    assert sent == [encapsulate(mode, packet, HA, FA), encapsulate(mode, packet, HA, FA2)]
    ha.apply(SetMobilityBinding(home_address=HOME, care_of_addresses=(), tunnel_source=HA))
    ha.from_tun(packet)
    assert len(sent) == 2
    assert ha.drops["not-a-visitor"] == 1


def test_fa_delivers_to_visitors_only_with_one_ttl_decrement() -> None:
    fa, sent = _plane("fa", FA)
    inner = _data(CN, HOME, ttl=63)
    tunnelled = encapsulate(TunnelMode.IP_IN_IP, inner, HA, FA)
    fa.decapsulated(tunnelled)
    assert sent == [] and fa.drops["not-a-visitor"] == 1
    fa.apply(SetVisitor(home_address=HOME, interface="ap0", link_address=MAC))
    fa.decapsulated(tunnelled)
    assert sent == [decrement_ttl(inner)]
    assert IPv4Header.decode(sent[0]).ttl == 62
    fa.decapsulated(tunnelled[:30])
    assert fa.drops["bad-tunnel"] == 1


def test_reverse_tunnel_uplink_and_its_end_with_remove_visitor() -> None:
    fa, sent = _plane("fa", FA)
    fa.apply(SetVisitor(home_address=HOME, interface="ap0", link_address=MAC))
    fa.apply(
        SetUplink(
            home_address=HOME,
            mode=UplinkMode.REVERSE_TUNNEL,
            tunnel_source=FA,
            tunnel_destination=HA,
        )
    )
    up = _data(HOME, CN, ttl=63)
    fa.from_tun(up)
    assert sent == [encapsulate(TunnelMode.IP_IN_IP, up, FA, HA)]
    control = _data(HOME, FA2, ttl=63, port=434)  # RFC 4881 §3.6: routed, not tunnelled
    fa.from_tun(control)
    assert sent[-1] == control
    fa.apply(RemoveVisitor(HOME))
    fa.from_tun(up)
    assert len(sent) == 2 and fa.drops["not-a-visitor"] == 1


def test_ha_reverse_tunnel_check() -> None:
    ha, sent = _plane("ha", HA)
    ha.apply(SetMobilityBinding(home_address=HOME, care_of_addresses=(FA,), tunnel_source=HA))
    inner = _data(HOME, CN, ttl=63)
    ha.decapsulated(encapsulate(TunnelMode.GRE, inner, FA, HA))
    assert sent == [decrement_ttl(inner)]
    ha.decapsulated(encapsulate(TunnelMode.IP_IN_IP, inner, FA2, HA))  # not a care-of address
    assert len(sent) == 1 and ha.drops["reverse-tunnel-check"] == 1


def test_buffering_limit_flush_and_discard() -> None:
    fa, sent = _plane("fa", FA)
    fa.apply(SetVisitor(home_address=HOME, interface="ap0", link_address=MAC))
    fa.apply(StartBuffering(home_address=HOME, limit=2))
    packets = [_data(CN, HOME, port=p) for p in (1, 2, 3)]
    for packet in packets:
        fa.decapsulated(encapsulate(TunnelMode.IP_IN_IP, packet, HA, FA))
    assert sent == [] and fa.drops["buffer-full"] == 1
    assert fa.snapshot()["buffers"] == {str(HOME): {"held": 2, "limit": 2}}
    fa.apply(FlushBuffer(home_address=HOME))
    assert sent == [decrement_ttl(p) for p in packets[:2]]
    fa.apply(StartBuffering(home_address=HOME, limit=5))
    fa.decapsulated(encapsulate(TunnelMode.IP_IN_IP, packets[2], HA, FA))
    fa.apply(FlushBuffer(home_address=HOME, discard=True))
    assert len(sent) == 2 and fa.drops["buffer-discarded"] == 1


def test_forward_tunnel_re_encapsulates_to_the_peer() -> None:
    fa, sent = _plane("fa", FA)
    fa.apply(SetVisitor(home_address=HOME, interface="ap0", link_address=MAC))
    fa.apply(
        SetForwardTunnel(
            home_address=HOME, peer=FA2, tunnel_source=FA, tunnel_mode=TunnelMode.MINIMAL
        )
    )
    inner = _data(CN, HOME)
    fa.decapsulated(encapsulate(TunnelMode.IP_IN_IP, inner, HA, FA))
    assert len(sent) == 1
    assert decapsulate(sent[0]).inner == inner
    assert IPv4Header.decode(sent[0]).destination == FA2
    fa.apply(SetForwardTunnel(home_address=HOME, peer=None))
    fa.decapsulated(encapsulate(TunnelMode.IP_IN_IP, inner, HA, FA))
    assert sent[-1] == decrement_ttl(inner)
    assert fa.snapshot()["counters"] == {"delivered": 1, "encapsulated": 1}
