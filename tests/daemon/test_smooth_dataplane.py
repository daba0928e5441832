"""Smooth handoff in the daemon data plane: SetDuplicateFilter, as in the simulator's."""

from __future__ import annotations

from ipaddress import IPv4Address

from mip4.core.actions import (
    FlushBuffer,
    SetDefaultRouter,
    SetDuplicateFilter,
    SetVisitor,
    StartBuffering,
    TunnelMode,
)
from mip4.daemon.dataplane import DataPlane, decrement_ttl
from mip4.sim.dataplane import DuplicateFilter as SimDuplicateFilter
from mip4.wire.ip import build_udp_ipv4
from mip4.wire.tunnel import encapsulate

HA = IPv4Address("198.18.1.1")
OFA = IPv4Address("198.18.1.2")
NFA = IPv4Address("198.18.1.3")
CN = IPv4Address("198.18.3.1")
HOME = IPv4Address("198.18.2.10")
MAC = bytes.fromhex("020000000101")


def _packet(seq: int) -> bytes:
    return build_udp_ipv4(CN, HOME, 5000, 5001, seq.to_bytes(4, "big"), ttl=63)


def _nfa() -> tuple[DataPlane, list[bytes]]:
    nfa = DataPlane(role="fa", address=NFA, tun_name="t0")
    sent: list[bytes] = []
    nfa.sent = sent.append
    return nfa, sent


def test_the_nfa_drops_the_forwarded_copy_of_a_bicast_packet_and_delivers_each_once() -> None:
    nfa, sent = _nfa()
    nfa.apply(StartBuffering(home_address=HOME, limit=64))
    nfa.apply(SetDuplicateFilter(home_address=HOME, window=64))
    assert nfa.snapshot()["duplicate_filters"] == {str(HOME): 64}
    for seq in range(3):
        inner = _packet(seq)
        nfa.decapsulated(encapsulate(TunnelMode.IP_IN_IP, inner, HA, NFA))  # HA's bicast
        nfa.decapsulated(encapsulate(TunnelMode.IP_IN_IP, inner, OFA, NFA))  # oFA forwards
    assert nfa.drops["duplicate"] == 3
    assert nfa.snapshot()["buffers"] == {str(HOME): {"held": 3, "limit": 64}}
    nfa.apply(SetVisitor(home_address=HOME, interface="fa-ap", link_address=MAC))
    nfa.apply(FlushBuffer(home_address=HOME))
    assert sent == [decrement_ttl(_packet(seq)) for seq in range(3)]


def test_the_filter_remembers_the_last_window_packets_and_window_0_removes_it() -> None:
    nfa, sent = _nfa()
    nfa.apply(SetVisitor(home_address=HOME, interface="fa-ap", link_address=MAC))
    nfa.apply(SetDuplicateFilter(home_address=HOME, window=2))
    for seq in (0, 1, 2, 0, 2):  # 0 has left the window of 2 when it comes again; 2 has not
        nfa.decapsulated(encapsulate(TunnelMode.IP_IN_IP, _packet(seq), OFA, NFA))
    assert sent == [decrement_ttl(_packet(seq)) for seq in (0, 1, 2, 0)]
    assert nfa.drops["duplicate"] == 1
    nfa.apply(SetDuplicateFilter(home_address=HOME, window=0))
    assert nfa.snapshot()["duplicate_filters"] == {}
    nfa.decapsulated(encapsulate(TunnelMode.IP_IN_IP, _packet(0), OFA, NFA))
    assert sent[-1] == decrement_ttl(_packet(0)) and nfa.drops["duplicate"] == 1


def test_the_filter_keeps_the_simulators_semantics() -> None:
    # Same sequence of packets, same verdicts as mip4.sim.dataplane.DuplicateFilter.
    from mip4.daemon.dataplane import DuplicateFilter

    daemon, sim = DuplicateFilter(3), SimDuplicateFilter(3)
    for seq in (0, 1, 0, 2, 3, 0, 1, 3, 4, 1, 1):
        assert daemon.repeated(_packet(seq)) == sim.repeated(_packet(seq))


def test_other_home_addresses_are_not_filtered() -> None:
    nfa, sent = _nfa()
    other = IPv4Address("198.18.2.11")
    nfa.apply(SetVisitor(home_address=other, interface="fa-ap", link_address=MAC))
    nfa.apply(SetDuplicateFilter(home_address=HOME, window=8))
    packet = build_udp_ipv4(CN, other, 5000, 5001, b"x", ttl=63)
    for _ in range(2):
        nfa.decapsulated(encapsulate(TunnelMode.IP_IN_IP, packet, HA, NFA))
    assert sent == [decrement_ttl(packet)] * 2 and nfa.drops["duplicate"] == 0


def test_the_mn_holds_its_uplink_without_a_router_and_sends_it_in_order_once_one_is_set() -> None:
    mn = DataPlane(role="mn", address=HOME, tun_name="t0", home_address=HOME, uplink_hold=True)
    sent: list[bytes] = []
    mn.sent = sent.append
    router = IPv4Address("198.18.21.1")
    mn.apply(SetDefaultRouter(router=router, interface="mn-radio", link_address=MAC))
    mn.from_tun(_uplink(0))  # a router: nothing reaches the TUN device to be held
    assert mn.drops["no-default-router"] == 1
    mn.apply(SetDefaultRouter(router=None))  # L2-LD: the router is cleared, then ...
    mn.apply(StartBuffering(home_address=HOME, limit=2))  # ... the uplink is held
    for seq in (1, 2, 3):
        mn.from_tun(_uplink(seq))
    assert sent == [] and mn.drops["buffer-full"] == 1
    assert mn.snapshot()["uplink_held"] == 2
    nfa = IPv4Address("198.18.22.1")
    mn.apply(SetDefaultRouter(router=nfa, interface="mn-radio", link_address=MAC))
    assert sent == [_uplink(1), _uplink(2)]  # unchanged: the MN originated them
    assert mn.snapshot()["uplink_held"] is None and mn.counters["uplink-released"] == 2
    mn.from_tun(_uplink(4))
    assert sent == [_uplink(1), _uplink(2)] and mn.drops["no-default-router"] == 2


def _uplink(seq: int) -> bytes:
    return build_udp_ipv4(HOME, CN, 5001, 5000, seq.to_bytes(4, "big"), ttl=64)
