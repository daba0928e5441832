"""Issue 3 §5: every agent fed random and mutated datagrams never raises, never changes its
bindings or visitor list, and counts each drop by reason (style guide §2.12).

The agents run with every security association configured (MN-HA, MN-FA, FA-HA, FA-GFA,
MN-GFA), so any change to a message breaks an authenticator. Two states are fuzzed: all
registered, and registration pending (the HA's reply lost), which exposes the reply paths.
Mutations never reproduce the original byte, so no input is the valid message itself.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
from functools import cache
from ipaddress import IPv4Address
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mip4.core.actions import Action, Dropped, SendPacket
from mip4.core.packets import ReceivedPacket
from mip4.core.registration import check_single
from mip4.wire.errors import DecodeError
from mip4.wire.extensions import (
    ForeignHomeAuthentication,
    GeneralizedAuthentication,
    MobileForeignAuthentication,
    MobileHomeAuthentication,
)
from mip4.wire.ip import PROTO_ICMP, PROTO_UDP, build_ipv4
from mip4.wire.messages import decode_control_message
from mip4.wire.registration import RegistrationReply, RegistrationRequest, ReplyCode
from tests.core.topology import (
    FA1_ADDR,
    FA2_ADDR,
    FA_GFA_KEY,
    GFA_ADDR,
    HA_ADDR,
    HOME,
    MN_GFA_KEY,
    MN_HA_KEY,
    Net,
    build,
    fa_config,
    gfa_config,
    ha_config,
    mn_config,
    sa,
    with_gfa_option,
)

MN_FA = sa(0x200, b"mn-fa-shared-key")
FA_HA = sa(0x500, b"fa-ha-shared-key")
MN_GFA = sa(0x400, MN_GFA_KEY)
STATES = ("registered", "pending", "regional")
NOW = 10.0


def secured(state: str) -> Net:
    """A network in ``state`` with every SA configured, at time NOW."""
    mn_fa = {FA1_ADDR: MN_FA, FA2_ADDR: MN_FA}
    fa_sas = {"mn_fa": {HOME: MN_FA}, "fa_ha": {HA_ADDR: FA_HA}}
    if state == "regional":
        net = build(
            mn=mn_config(mn_fa=mn_fa, mn_gfa={GFA_ADDR: MN_GFA}),
            fa1=with_gfa_option(1, **fa_sas),
            fa2=with_gfa_option(2, **fa_sas),
            ha=ha_config(fa_ha={FA1_ADDR: FA_HA, FA2_ADDR: FA_HA, GFA_ADDR: FA_HA}),
            gfa=gfa_config(fa_ha={HA_ADDR: FA_HA}),
        )
        net.wire.run(3.0)
        net.move_to("cell2")
        net.wire.run(NOW)
        return net
    net = build(
        mn=mn_config(mn_fa=mn_fa),
        fa1=fa_config(1, **fa_sas),
        fa2=fa_config(2, **fa_sas),
        ha=ha_config(fa_ha={FA1_ADDR: FA_HA, FA2_ADDR: FA_HA}),
    )
    if state == "pending":
        net.wire.lose = lambda sender, send: send.message == "registration_reply"
        net.wire.run(0.5)
        net.wire.lose = lambda sender, send: True  # freeze: nothing more is delivered
        net.wire.run(NOW)
    else:
        net.wire.run(NOW)
    return net


@cache
def corpus() -> tuple[tuple[str, str, ReceivedPacket], ...]:
    """(state, receiver, packet) for every packet delivered in each state's run."""
    out = []
    for state in STATES:
        for d in secured(state).wire.deliveries:
            out.append((state, d.receiver, d.packet))
    return tuple(out)


def protected(agent: Any, now: float, *, mn_fa_authentic: bool = False) -> object:
    """The part of an agent's state that unauthenticated input must never change: bindings,
    visitors, the MN's registration; the HA's and GFA's replay state; and, for the MNs an FA
    shares an MN-FA SA with (it can authenticate their requests), the pending entries and
    the denial rate-limit clock (a forged request must not silence a genuine denial).

    ``mn_fa_authentic``: the input is a request whose MN-FA authenticator verifies (a replay,
    or bytes appended after the authenticator): an FA without RFC 4721 challenges cannot
    tell it from the MN's own (RFC 5944 §3.7.2.1) and may relay it, so its pending entries
    and clocks are not compared; the HA's replay check refuses it."""
    snap = agent.snapshot(now)
    out: dict[str, object] = {k: snap.get(k) for k in ("bindings", "visitors", "registration")}
    replay = getattr(agent, "_replay", None)
    if replay is not None:
        out["replay"] = (dict(replay.last_accepted), dict(replay.issued_nonce))
    mn_fa = getattr(agent.config, "mn_fa", {})
    if agent.role != "mobile-node" and mn_fa and not mn_fa_authentic:
        pending = snap.get("pending")
        assert isinstance(pending, dict)
        out["pending"] = {str(home): pending.get(str(home)) for home in mn_fa}
        # (The FA's 67s to unauthenticated requests have a clock of their own, which such
        # requests do move: they can only silence other 67s.)
        out["denial_clock"] = {home: agent._last_denial.get(home) for home in mn_fa}
    return out


@cache
def genuine() -> frozenset[tuple[IPv4Address, int]]:
    """(Home Address, low 32 bits of the Identification) of every message the runs sent."""
    out = set()
    for _, _, packet in corpus():
        if packet.protocol != PROTO_UDP:
            continue
        message = decode_control_message(packet.payload)
        out.add((message.home_address, message.identification & 0xFFFFFFFF))
    return frozenset(out)


_SEALS: tuple[tuple[type, Any, bool], ...] = (
    (MobileHomeAuthentication, sa(0x100, MN_HA_KEY), False),
    (MobileForeignAuthentication, MN_FA, False),
    (ForeignHomeAuthentication, FA_HA, False),
    (GeneralizedAuthentication, MN_GFA, False),
    (GeneralizedAuthentication, sa(0x300, FA_GFA_KEY), True),
)


def vouched(send: SendPacket) -> list[str]:
    """The authenticators of ``send`` (a registration reply) that verify under a key of the
    runs: what the receiver would take as proof of the reply's fields."""
    try:
        reply = decode_control_message(send.payload)
    except DecodeError:
        return []
    if not isinstance(reply, RegistrationReply):
        return []
    return [
        cls.__name__ + ("/FA-FA" if fa_fa else "")
        for cls, key, fa_fa in _SEALS
        if check_single(reply, cls, key, fa_fa=fa_fa) is None
    ]


def mn_fa_authentic(packet: ReceivedPacket) -> bool:
    """True for a request carrying one valid MN-FA authenticator (see :func:`protected`)."""
    if packet.protocol != PROTO_UDP:
        return False
    try:
        message = decode_control_message(packet.payload)
    except DecodeError:
        return False
    return (
        isinstance(message, RegistrationRequest)
        and check_single(message, MobileForeignAuthentication, MN_FA) is None
    )


def feed(agent: Any, packet: ReceivedPacket, now: float) -> list[Action]:
    """Hand unauthenticated input to a copy of ``agent`` (the cached networks stay as they
    are, so every example starts from the same state) and check what matters: no protected
    state changed, every drop counted, and no reply vouches for forged content."""
    agent = copy.deepcopy(agent)
    authentic = mn_fa_authentic(packet)
    before_state = protected(agent, now, mn_fa_authentic=authentic)
    before_drops = collections.Counter(agent.drops)
    out = agent.receive(packet, now)  # must not raise
    assert out, "network input is never silently ignored"
    assert protected(agent, now, mn_fa_authentic=authentic) == before_state
    dropped = collections.Counter(a.reason for a in out if isinstance(a, Dropped))
    assert collections.Counter(agent.drops) - before_drops == dropped
    for send in (a for a in out if isinstance(a, SendPacket) and a.protocol == PROTO_UDP):
        seals = vouched(send)
        if not seals:
            continue
        reply = decode_control_message(send.payload)
        assert isinstance(reply, RegistrationReply)
        if reply.code == ReplyCode.HA_MN_FAILED_AUTHENTICATION:
            continue  # RFC 5944 §3.8.2.1 (a): a 131 "MUST contain a valid" MN-HA extension
        # An authenticated reply answers content some agent really sent (a 133, 132 or 68
        # to a replay or a damaged trailer), never fields an attacker made up.
        key = (reply.home_address, reply.identification & 0xFFFFFFFF)
        assert key in genuine(), (reply, seals)
    if packet.protocol == PROTO_UDP:
        # A control message that changes nothing is a counted drop or an error reply.
        assert dropped or any(isinstance(a, SendPacket) for a in out), out
    return out


def agents_of(net: Net) -> list[Any]:
    return [a for a in (net.mn, net.fa1, net.fa2, net.ha, net.gfa) if a is not None]


@cache
def network(state: str) -> Net:
    return secured(state)


def packet_for(agent: Any, payload: bytes, protocol: int) -> ReceivedPacket:
    return ReceivedPacket(
        interface=getattr(agent.config, "access_interface", None)
        or getattr(agent.config, "interface", None)
        or agent.config.home_interface,
        source=HOME if agent.role != "mobile-node" else FA1_ADDR,
        destination=getattr(agent.config, "address", HOME),
        protocol=protocol,
        payload=payload,
        ttl=255,
        source_port=434,
        destination_port=434,
        link_source=b"\x02\x00\x00\x00\xa0\x01",
    )


@given(
    state=st.sampled_from(STATES),
    which=st.integers(0, 4),
    protocol=st.sampled_from((PROTO_UDP, PROTO_ICMP)),
    data=st.binary(max_size=96),
)
def test_random_datagrams_never_raise_nor_change_state(
    state: str, which: int, protocol: int, data: bytes
) -> None:
    net = network(state)
    agents = agents_of(net)
    agent = agents[which % len(agents)]
    feed(agent, packet_for(agent, data, protocol), NOW)


@given(
    state=st.sampled_from(STATES),
    which=st.integers(0, 4),
    first=st.sampled_from((1, 3, 16, 17, 18, 19, 9, 10, 103)),
    data=st.binary(min_size=7, max_size=120),
)
def test_random_bodies_behind_a_valid_type_byte(
    state: str, which: int, first: int, data: bytes
) -> None:
    net = network(state)
    agents = agents_of(net)
    agent = agents[which % len(agents)]
    protocol = PROTO_ICMP if first in (9, 10, 103) else PROTO_UDP
    first = 3 if first == 103 else first  # 103: an ICMP Destination Unreachable
    feed(agent, packet_for(agent, bytes([first]) + data, protocol), NOW)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str, ReceivedPacket]:
    state, receiver, packet = draw(st.sampled_from(corpus()))
    payload = bytearray(packet.payload)
    kind = draw(st.sampled_from(("flip", "flip", "flip", "truncate", "extend", "splice")))
    if kind == "flip" or not payload:
        for _ in range(draw(st.integers(1, 3))):
            pos = draw(st.integers(0, max(0, len(payload) - 1)))
            if payload:
                payload[pos] ^= draw(st.integers(1, 255))  # never the original byte
    elif kind == "truncate":
        payload = payload[: draw(st.integers(0, len(payload) - 1))]
    elif kind == "extend":
        payload += draw(st.binary(min_size=1, max_size=24))
    else:
        pos = draw(st.integers(0, len(payload)))
        payload[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    return state, receiver, dataclasses.replace(packet, payload=bytes(payload))


@given(mutated())
def test_mutated_real_datagrams_never_raise_nor_change_state(
    case: tuple[str, str, ReceivedPacket],
) -> None:
    state, receiver, packet = case
    net = network(state)
    feed(net.wire.agents[receiver], packet, NOW)


@given(mutated(), st.sampled_from(("mn", "fa1", "fa2", "ha", "gfa")))
def test_mutated_datagrams_at_the_wrong_agent(
    case: tuple[str, str, ReceivedPacket], receiver: str
) -> None:
    state, _, packet = case
    net = network(state)
    agent = net.wire.agents.get(receiver)
    if agent is not None:
        feed(agent, packet, NOW)


def test_the_corpus_covers_every_message_and_state() -> None:
    names = collections.Counter(
        (state, d.message) for state in STATES for d in network(state).wire.deliveries
    )
    for message in ("registration_request", "registration_reply", "agent_advertisement"):
        assert names[("registered", message)] > 0
    assert names[("regional", "regional_registration_request")] > 0
    assert names[("regional", "regional_registration_reply")] > 0
    assert names[("pending", "registration_request")] > 0


def test_replaying_every_valid_datagram_changes_nothing_protected() -> None:
    """Replays of the exact datagrams seen (authentic but stale) are refused too: the HA's
    and GFA's replay checks, the FA's and MN's pending-request matching."""
    for state in STATES:
        net = secured(state)
        for _, receiver, packet in [c for c in corpus() if c[0] == state]:
            agent = net.wire.agents[receiver]
            if packet.protocol == PROTO_ICMP:
                continue  # advertisements are unauthenticated by design (RFC 5944 §2)
            feed(agent, packet, NOW)


@given(
    state=st.sampled_from(STATES),
    which=st.integers(0, 4),
    code=st.integers(0, 255),
    quoted=st.one_of(
        st.binary(max_size=60),
        st.sampled_from([c[2] for c in corpus() if c[2].protocol == PROTO_UDP]).map(
            lambda p: build_ipv4(p.source, p.destination, PROTO_UDP, p.payload)[:48]
        ),
    ),
)
def test_icmp_errors_with_valid_checksums(state: str, which: int, code: int, quoted: bytes) -> None:
    from mip4.wire.icmp import DestinationUnreachable

    net = network(state)
    agents = agents_of(net)
    agent = agents[which % len(agents)]
    payload = DestinationUnreachable(code=code, original_datagram=quoted).encode()
    feed(agent, packet_for(agent, payload, PROTO_ICMP), NOW)
