"""The simulator's data plane on real bytes: every data-plane action of core/actions.py."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip4.core.actions import (
    FlushBuffer,
    RemoveVisitor,
    SetForwardTunnel,
    SetMobilityBinding,
    SetProxyArp,
    SetUplink,
    SetVisitor,
    StartBuffering,
    TunnelMode,
    UplinkMode,
)
from mip4.sim.dataplane import (
    RouterDataPlane,
    decapsulate_packet,
    decrement_ttl,
    encapsulate_packet,
    ipv4_header,
)
from mip4.wire.ip import PROTO_IPIP, IPv4Packet, build_udp_ipv4, internet_checksum
from mip4.wire.tunnel import decapsulate, encapsulate_ip_in_ip

HA = IPv4Address("198.18.16.1")
FA1 = IPv4Address("198.18.2.1")
FA2 = IPv4Address("198.18.2.2")
CN = IPv4Address("198.18.0.1")
HOME = IPv4Address("198.18.16.16")
MAC = b"\x02\x00\x00\x00\x00\x09"


def datagram(src: IPv4Address = CN, dst: IPv4Address = HOME, payload: bytes = b"x" * 20) -> bytes:
    return build_udp_ipv4(src, dst, 5004, 5004, payload)


class FakeHost:
    name = "node"

    def __init__(self) -> None:
        self.routed: list[bytes] = []
        self.delivered: list[tuple[bytes, bytes]] = []
        self.dropped: list[str] = []

    def route(self, packet: bytes, meta: str | None) -> None:
        self.routed.append(packet)

    def deliver_on_access_link(self, packet: bytes, meta: str | None, link_address: bytes) -> None:
        self.delivered.append((packet, link_address))

    def dataplane_drop(self, reason: str, packet: bytes, meta: str | None) -> None:
        self.dropped.append(reason)


@given(st.binary(min_size=0, max_size=40), st.integers(2, 255), st.integers(0, 255))
def test_ttl_decrement_matches_a_full_checksum(payload: bytes, ttl: int, tos: int) -> None:
    raw = ipv4_header(CN.packed, HOME.packed, 17, 20 + len(payload), ttl, tos) + payload
    out = decrement_ttl(raw)
    assert out is not None
    assert out[8] == ttl - 1
    assert internet_checksum(out[:20]) == 0
    assert out[:8] == raw[:8] and out[12:] == raw[12:]


def test_ttl_of_one_is_not_forwarded() -> None:
    raw = ipv4_header(CN.packed, HOME.packed, 17, 20, 1)
    assert decrement_ttl(raw) is None


def test_ip_in_ip_fast_path_equals_the_wire_codec() -> None:
    inner = datagram()
    fast = encapsulate_packet(TunnelMode.IP_IN_IP, inner, HA.packed, FA1.packed)
    assert fast == encapsulate_ip_in_ip(inner, HA, FA1)
    assert decapsulate_packet(fast) == inner
    assert decapsulate(fast).inner == inner


@pytest.mark.parametrize("mode", [TunnelMode.MINIMAL, TunnelMode.GRE])
def test_other_encapsulations_round_trip(mode: TunnelMode) -> None:
    inner = datagram()
    outer = encapsulate_packet(mode, inner, HA.packed, FA1.packed)
    assert outer[9] == int(mode)
    assert decapsulate_packet(outer) == inner


def test_ha_bicasts_to_every_care_of_address() -> None:
    host = FakeHost()
    dp = RouterDataPlane(host, HA.packed)
    dp.apply(SetMobilityBinding(home_address=HOME, care_of_addresses=(FA1, FA2), tunnel_source=HA))
    inner = datagram()
    assert dp.intercepts(inner[16:20])
    dp.intercept(inner, None)
    outers = [IPv4Packet.decode(p) for p in host.routed]
    assert [(o.header.source, o.header.destination, o.header.protocol) for o in outers] == [
        (HA, FA1, PROTO_IPIP),
        (HA, FA2, PROTO_IPIP),
    ]
    # the HA forwards the inner datagram: its TTL went down by one (RFC 2003 §3.1)
    assert outers[0].payload == decrement_ttl(inner)
    dp.apply(SetMobilityBinding(home_address=HOME, care_of_addresses=(), tunnel_source=HA))
    assert not dp.intercepts(inner[16:20])


def test_fa_delivers_only_to_visitors() -> None:
    host = FakeHost()
    dp = RouterDataPlane(host, FA1.packed)
    tunnelled = encapsulate_packet(TunnelMode.IP_IN_IP, datagram(), HA.packed, FA1.packed)
    dp.decapsulated(tunnelled, None)
    assert host.dropped == ["not-a-visitor"] and not host.delivered
    dp.apply(SetVisitor(home_address=HOME, interface="wlan0", link_address=MAC))
    dp.decapsulated(tunnelled, None)
    assert [mac for _, mac in host.delivered] == [MAC]
    assert host.delivered[0][0] == decrement_ttl(datagram())
    dp.apply(RemoveVisitor(HOME))
    dp.decapsulated(tunnelled, None)
    assert host.dropped == ["not-a-visitor", "not-a-visitor"]


def test_uplink_reverse_tunnel_route_and_control_exception() -> None:
    host = FakeHost()
    dp = RouterDataPlane(host, FA1.packed)
    up = datagram(src=HOME, dst=CN)
    dp.uplink(up, None)
    assert host.dropped == ["not-a-visitor"]
    dp.apply(
        SetUplink(
            home_address=HOME,
            mode=UplinkMode.REVERSE_TUNNEL,
            tunnel_source=FA1,
            tunnel_destination=HA,
        )
    )
    dp.uplink(up, None)
    outer = IPv4Packet.decode(host.routed[-1])
    assert (outer.header.source, outer.header.destination) == (FA1, HA)
    assert outer.payload == decrement_ttl(up)
    # UDP 434 from a visitor is routed, not reverse-tunnelled (RFC 4881 §3.6 routed RRQ)
    rrq = build_udp_ipv4(HOME, FA2, 434, 434, b"\x01" * 24)
    dp.uplink(rrq, "registration_request")
    assert host.routed[-1] == decrement_ttl(rrq)
    dp.apply(SetUplink(home_address=HOME, mode=UplinkMode.ROUTE))
    dp.uplink(up, None)
    assert host.routed[-1] == decrement_ttl(up)


def test_ha_checks_reverse_tunnels_against_the_binding() -> None:
    host = FakeHost()
    dp = RouterDataPlane(host, HA.packed)
    dp.apply(SetMobilityBinding(home_address=HOME, care_of_addresses=(FA1,), tunnel_source=HA))
    up = datagram(src=HOME, dst=CN)
    dp.decapsulated(encapsulate_packet(TunnelMode.IP_IN_IP, up, FA1.packed, HA.packed), None)
    assert host.routed == [decrement_ttl(up)]
    # RFC 3024 §4.2.2: from a care-of address that is not bound -> dropped
    dp.decapsulated(encapsulate_packet(TunnelMode.IP_IN_IP, up, FA2.packed, HA.packed), None)
    assert host.dropped == ["reverse-tunnel-check"]


def test_buffer_limit_flush_and_discard() -> None:
    host = FakeHost()
    dp = RouterDataPlane(host, FA2.packed)
    dp.apply(SetVisitor(home_address=HOME, interface="wlan0", link_address=MAC))
    dp.apply(StartBuffering(home_address=HOME, limit=2))
    for i in range(3):
        dp.downlink(datagram(payload=bytes([i]) * 20), None)
    assert host.dropped == ["buffer-full"] and not host.delivered
    dp.apply(FlushBuffer(home_address=HOME))
    assert [p[-1] for p, _ in host.delivered] == [0, 1]
    dp.apply(StartBuffering(home_address=HOME, limit=5))
    dp.downlink(datagram(), None)
    dp.apply(FlushBuffer(home_address=HOME, discard=True))
    assert host.dropped == ["buffer-full", "buffer-discarded"]
    assert len(host.delivered) == 2


def test_forward_tunnel_takes_precedence_over_delivery() -> None:
    host = FakeHost()
    dp = RouterDataPlane(host, FA1.packed)
    dp.apply(SetVisitor(home_address=HOME, interface="wlan0", link_address=MAC))
    dp.apply(SetForwardTunnel(home_address=HOME, peer=FA2))
    dp.decapsulated(
        encapsulate_packet(TunnelMode.IP_IN_IP, datagram(), HA.packed, FA1.packed), None
    )
    outer = IPv4Packet.decode(host.routed[-1])
    assert (outer.header.source, outer.header.destination) == (FA1, FA2)
    assert not host.delivered
    dp.apply(SetForwardTunnel(home_address=HOME, peer=None))
    dp.downlink(datagram(), None)
    assert len(host.delivered) == 1


def test_proxy_arp() -> None:
    dp = RouterDataPlane(FakeHost(), FA2.packed)
    assert not dp.answers_arp("wlan0", FA1.packed)
    dp.apply(SetProxyArp(address=FA1, interface="wlan0", enabled=True))
    assert dp.answers_arp("wlan0", FA1.packed)
    dp.apply(SetProxyArp(address=FA1, interface="wlan0", enabled=False))
    assert not dp.answers_arp("wlan0", FA1.packed)


# (payload, TTL, TOS, DF, whether the TTL word is memoised already) of a user packet
any_packet = given(
    st.binary(min_size=0, max_size=60),
    st.integers(1, 255),
    st.integers(0, 255),
    st.sampled_from([0, 0x4000]),
    st.booleans(),
)


def general_delivery(outer: bytes) -> bytes | None:
    """What an FA delivers to a visitor, step by step: decapsulation, then the TTL rewrite."""
    inner = decapsulate_packet(outer)
    return None if inner is None else decrement_ttl(inner)


@any_packet
def test_the_fused_fast_paths_give_the_bytes_of_the_general_ones(
    payload: bytes, ttl: int, tos: int, df: int, memoised: bool
) -> None:
    # HA: TTL rewrite and IP-in-IP encapsulation in one copy; FA: decapsulation and TTL
    # rewrite in one copy (RouterDataPlane.intercept, RouterDataPlane.decapsulated); also
    # when the TTL word is not memoised yet and when the TTL runs out
    inner = ipv4_header(CN.packed, HOME.packed, 17, 20 + len(payload), ttl, tos, df) + payload
    if memoised:
        decrement_ttl(inner)
    ha_host = FakeHost()
    ha = RouterDataPlane(ha_host, HA.packed)
    ha.apply(SetMobilityBinding(home_address=HOME, care_of_addresses=(FA1,), tunnel_source=HA))
    ha.intercept(inner, None)
    forwarded = decrement_ttl(inner)
    if forwarded is None:
        assert ha_host.dropped == ["ttl-exceeded"] and not ha_host.routed
        return
    expected = encapsulate_packet(TunnelMode.IP_IN_IP, forwarded, HA.packed, FA1.packed)
    assert ha_host.routed == [expected]
    fa_host = FakeHost()
    fa = RouterDataPlane(fa_host, FA1.packed)
    fa.apply(SetVisitor(home_address=HOME, interface="wlan0", link_address=MAC))
    fa.decapsulated(expected, None)
    delivered = general_delivery(expected)
    if delivered is None:
        assert fa_host.dropped == ["ttl-exceeded"] and not fa_host.delivered
    else:
        assert fa_host.delivered == [(delivered, MAC)]


def test_the_fa_fast_path_leaves_what_it_cannot_handle_to_the_general_one() -> None:
    tunnelled = encapsulate_packet(TunnelMode.IP_IN_IP, datagram(), HA.packed, FA1.packed)
    decrement_ttl(datagram())  # memoised: the fast path would take it
    host = FakeHost()
    dp = RouterDataPlane(host, FA1.packed)
    dp.apply(SetVisitor(home_address=HOME, interface="wlan0", link_address=MAC))
    dp.decapsulated(tunnelled[:-1], None)  # inner length field no longer matches
    dp.decapsulated(tunnelled[:39], None)  # too short for an inner header
    assert host.dropped == ["bad-tunnel", "bad-tunnel"] and not host.delivered
    dp.apply(StartBuffering(home_address=HOME, limit=4))  # buffering: not the fast path
    dp.decapsulated(tunnelled, None)
    assert not host.delivered and len(dp.buffers[HOME.packed].packets) == 1


@any_packet
def test_the_fused_reverse_tunnel_gives_the_bytes_of_the_general_path(
    payload: bytes, ttl: int, tos: int, df: int, memoised: bool
) -> None:
    # FA: TTL rewrite and reverse-tunnel encapsulation in one copy (RouterDataPlane.uplink);
    # HA: the tunnel exit, the RFC 3024 check and the TTL rewrite in one copy
    # (RouterDataPlane.decapsulated)
    up = ipv4_header(HOME.packed, CN.packed, 17, 20 + len(payload), ttl, tos, df) + payload
    if memoised:
        decrement_ttl(up)
    fa_host = FakeHost()
    fa = RouterDataPlane(fa_host, FA1.packed)
    fa.apply(
        SetUplink(
            home_address=HOME,
            mode=UplinkMode.REVERSE_TUNNEL,
            tunnel_source=FA1,
            tunnel_destination=HA,
        )
    )
    fa.uplink(up, None)
    forwarded = decrement_ttl(up)
    if forwarded is None:
        assert fa_host.dropped == ["ttl-exceeded"] and not fa_host.routed
        return
    expected = encapsulate_packet(TunnelMode.IP_IN_IP, forwarded, FA1.packed, HA.packed)
    assert fa_host.routed == [expected]
    ha_host = FakeHost()
    ha = RouterDataPlane(ha_host, HA.packed)
    ha.apply(SetMobilityBinding(home_address=HOME, care_of_addresses=(FA1,), tunnel_source=HA))
    ha.decapsulated(expected, None)
    inner = decapsulate_packet(expected)
    assert inner is not None
    routed = decrement_ttl(inner)
    if routed is None:
        assert ha_host.dropped == ["ttl-exceeded"] and not ha_host.routed
    else:
        assert ha_host.routed == [routed]
    # from a care-of address the binding does not have: the check refuses it
    ha.apply(SetMobilityBinding(home_address=HOME, care_of_addresses=(FA2,), tunnel_source=HA))
    ha.decapsulated(expected, None)
    assert ha_host.dropped[-1] == "reverse-tunnel-check"


def test_a_binding_keeps_its_only_care_of_address_apart() -> None:
    dp = RouterDataPlane(FakeHost(), HA.packed)
    dp.apply(SetMobilityBinding(home_address=HOME, care_of_addresses=(FA1,), tunnel_source=HA))
    assert dp.bindings[HOME.packed].only == FA1.packed
    dp.apply(SetMobilityBinding(home_address=HOME, care_of_addresses=(FA1, FA2), tunnel_source=HA))
    assert dp.bindings[HOME.packed].only is None  # bicasting: the hot paths use the tuple
