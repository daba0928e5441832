"""The FA's validity checks and its own reply codes (RFC 5944 §3.7, RFC 3024 §4.2)."""

from __future__ import annotations

import random
from ipaddress import IPv4Address
from typing import Any

import pytest

from mip4.core.actions import Action, Dropped, DropReason, Notify, SendPacket, TunnelMode
from mip4.core.foreign_agent import ForeignAgent
from mip4.core.packets import ALL_MOBILITY_AGENTS, LIMITED_BROADCAST, ReceivedPacket
from mip4.core.registration import seal_with
from mip4.wire.extensions import (
    EncapsulatingDeliveryStyle,
    MobileForeignAuthentication,
    MobileHomeAuthentication,
)
from mip4.wire.registration import (
    RegistrationFlags,
    RegistrationReply,
    RegistrationRequest,
    ReplyCode,
)
from tests.core.topology import FA1_ADDR, HA_ADDR, HOME, MN_MAC, fa_config, sa

MN_HA = sa(0x100, b"mn-ha-shared-key")
IDENT = 0xE8A1B2C3_00000001


def fa(**overrides: Any) -> ForeignAgent:
    agent = ForeignAgent(fa_config(1, **overrides), random=random.Random(3))
    agent.start(0.0)
    return agent


def request(
    *,
    flags: RegistrationFlags = RegistrationFlags.T,
    lifetime: int = 600,
    home_agent: IPv4Address = HA_ADDR,
    care_of: IPv4Address = FA1_ADDR,
    extras: tuple[Any, ...] = (),
    mn_fa: Any = None,
    identification: int = IDENT,
) -> bytes:
    message = RegistrationRequest(
        flags=flags,
        lifetime=lifetime,
        home_address=HOME,
        home_agent=home_agent,
        care_of_address=care_of,
        identification=identification,
    )
    sealed = seal_with(message, MobileHomeAuthentication, MN_HA)
    if extras:
        sealed = RegistrationRequest(
            flags=sealed.flags,
            lifetime=sealed.lifetime,
            home_address=sealed.home_address,
            home_agent=sealed.home_agent,
            care_of_address=sealed.care_of_address,
            identification=sealed.identification,
            extensions=(*sealed.extensions, *extras),
        )
    if mn_fa is not None:
        sealed = seal_with(sealed, MobileForeignAuthentication, mn_fa)
    return sealed.encode()


def from_mn(
    payload: bytes, *, ttl: int = 255, destination: IPv4Address = FA1_ADDR
) -> ReceivedPacket:
    return ReceivedPacket(
        interface="access0",
        source=HOME,
        destination=destination,
        protocol=17,
        payload=payload,
        ttl=ttl,
        source_port=5000,
        destination_port=434,
        link_source=MN_MAC,
    )


def reply_code(actions: list[Action]) -> int:
    (send,) = [a for a in actions if isinstance(a, SendPacket)]
    assert send.destination == HOME and send.link_destination == MN_MAC
    assert (send.source_port, send.destination_port) == (434, 5000)
    return RegistrationReply.decode(send.payload).code


def assert_nothing_pending(agent: ForeignAgent) -> None:
    snap = agent.snapshot(1.0)
    assert snap["pending"] == {} and snap["visitors"] == {}


def test_valid_request_is_relayed_with_a_pending_entry() -> None:
    agent = fa()
    out = agent.receive(from_mn(request()), 1.0)
    (send,) = [a for a in out if isinstance(a, SendPacket)]
    assert (send.destination, send.interface) == (HA_ADDR, "wired0")
    pending = agent.snapshot(1.0)["pending"]
    assert isinstance(pending, dict) and str(HOME) in pending


def test_reserved_bits_get_70() -> None:
    agent = fa()
    raw = bytearray(request())
    raw[1] |= 0x01  # the x bit
    out = agent.receive(from_mn(bytes(raw)), 1.0)
    assert reply_code(out) == ReplyCode.FA_POORLY_FORMED_REQUEST
    assert agent.drops[DropReason.MALFORMED] == 1
    assert_nothing_pending(agent)


def test_lifetime_too_long_gets_69_with_the_fa_maximum() -> None:
    agent = fa(registration_lifetime=300)
    out = agent.receive(from_mn(request(lifetime=301)), 1.0)
    (send,) = [a for a in out if isinstance(a, SendPacket)]
    reply = RegistrationReply.decode(send.payload)
    assert (reply.code, reply.lifetime) == (ReplyCode.FA_LIFETIME_TOO_LONG, 300)
    # RFC 5944 §3.7.2.3: Home Address, Home Agent and Identification copied.
    assert (reply.home_address, reply.home_agent, reply.identification) == (HOME, HA_ADDR, IDENT)
    assert_nothing_pending(agent)


def test_care_of_address_not_offered_gets_77() -> None:
    agent = fa()
    out = agent.receive(from_mn(request(care_of=IPv4Address("203.0.113.9"))), 1.0)
    assert reply_code(out) == ReplyCode.FA_INVALID_CARE_OF_ADDRESS
    assert_nothing_pending(agent)


def test_home_agent_that_is_the_fa_itself_gets_194() -> None:
    agent = fa()
    out = agent.receive(from_mn(request(home_agent=FA1_ADDR)), 1.0)
    assert reply_code(out) == ReplyCode.FA_INVALID_HA_ADDRESS
    assert_nothing_pending(agent)


def test_t_bit_with_ttl_below_255_gets_76() -> None:
    agent = fa()
    out = agent.receive(from_mn(request(), ttl=254), 1.0)
    assert reply_code(out) == ReplyCode.FA_MN_TOO_DISTANT
    assert agent.drops[DropReason.BAD_TTL] == 1
    assert_nothing_pending(agent)


@pytest.mark.parametrize(
    ("overrides", "flags", "extras", "code"),
    [
        (
            {"encapsulations": frozenset({TunnelMode.IP_IN_IP})},
            RegistrationFlags.T | RegistrationFlags.G,
            (),
            72,
        ),
        ({}, RegistrationFlags.M | RegistrationFlags.G, (), 72),
        (
            {"encapsulating_delivery": False},
            RegistrationFlags.T,
            (EncapsulatingDeliveryStyle(),),
            79,
        ),
        ({"reverse_tunnel_required": True}, RegistrationFlags.NONE, (), 75),
        ({"reverse_tunnel_offered": False}, RegistrationFlags.T, (), 74),
        ({}, RegistrationFlags.NONE, (EncapsulatingDeliveryStyle(),), 70),
    ],
)
def test_encapsulation_and_reverse_tunnel_codes(
    overrides: dict[str, Any], flags: RegistrationFlags, extras: tuple[Any, ...], code: int
) -> None:
    agent = fa(**overrides)
    out = agent.receive(from_mn(request(flags=flags, extras=extras)), 1.0)
    assert reply_code(out) == code
    assert_nothing_pending(agent)


def test_mn_fa_authentication_failure_gets_67_and_is_counted() -> None:
    agent = fa(mn_fa={HOME: sa(0x200, b"mn-fa-shared-key")})
    out = agent.receive(from_mn(request(mn_fa=sa(0x200, b"the-wrong-key!!!"))), 1.0)
    assert reply_code(out) == ReplyCode.FA_MN_FAILED_AUTHENTICATION
    assert agent.drops[DropReason.BAD_AUTHENTICATOR] == 1
    out = agent.receive(from_mn(request()), 5.0)  # no MN-FA extension at all
    assert reply_code(out) == ReplyCode.FA_MN_FAILED_AUTHENTICATION
    assert agent.drops[DropReason.MISSING_AUTHENTICATION] == 1
    assert_nothing_pending(agent)
    good = agent.receive(from_mn(request(mn_fa=sa(0x200, b"mn-fa-shared-key"))), 9.0)
    assert any(isinstance(a, SendPacket) and a.destination == HA_ADDR for a in good)


def test_denials_are_rate_limited_to_one_per_second_per_mn() -> None:
    agent = fa()
    first = agent.receive(from_mn(request(home_agent=FA1_ADDR)), 1.0)
    second = agent.receive(from_mn(request(home_agent=FA1_ADDR)), 1.5)
    third = agent.receive(from_mn(request(home_agent=FA1_ADDR)), 2.0)
    assert reply_code(first) == 194 and reply_code(third) == 194
    assert not any(isinstance(a, SendPacket) for a in second)
    assert [a.reason for a in second if isinstance(a, Dropped)] == [DropReason.RATE_LIMITED]


def test_pending_request_times_out_with_78() -> None:
    agent = fa()
    agent.receive(from_mn(request()), 1.0)
    assert agent.timer_expired(("pending", HOME), 7.9) == []  # early: nothing
    out = agent.timer_expired(("pending", HOME), 8.0)
    assert reply_code(out) == ReplyCode.FA_REGISTRATION_TIMEOUT
    assert any(isinstance(a, Notify) and a.event == "registration-timeout" for a in out)
    assert_nothing_pending(agent)
    assert agent.timer_expired(("pending", HOME), 9.0) == []  # stale


def test_max_pending_gets_66() -> None:
    agent = fa(max_pending=1)
    agent.receive(from_mn(request()), 1.0)
    other = request().replace(HOME.packed, IPv4Address("198.18.0.11").packed)
    out = agent.receive(
        ReceivedPacket(
            interface="access0",
            source=IPv4Address("198.18.0.11"),
            destination=FA1_ADDR,
            protocol=17,
            payload=other,
            ttl=255,
            source_port=5000,
            destination_port=434,
            link_source=MN_MAC,
        ),
        1.1,
    )
    (send,) = [a for a in out if isinstance(a, SendPacket)]
    assert RegistrationReply.decode(send.payload).code == ReplyCode.FA_INSUFFICIENT_RESOURCES


def test_request_to_all_mobility_agents_is_answered_from_the_fa_address() -> None:
    agent = fa()
    out = agent.receive(from_mn(request(home_agent=FA1_ADDR), destination=ALL_MOBILITY_AGENTS), 1.0)
    (send,) = [a for a in out if isinstance(a, SendPacket)]
    assert send.source == FA1_ADDR  # RFC 5944 §3.7.2.3


def test_reply_without_pending_request_is_dropped() -> None:
    agent = fa()
    reply = RegistrationReply(
        code=0, lifetime=600, home_address=HOME, home_agent=HA_ADDR, identification=IDENT
    )
    out = agent.receive(
        ReceivedPacket(
            interface="wired0",
            source=HA_ADDR,
            destination=FA1_ADDR,
            protocol=17,
            payload=reply.encode(),
            source_port=434,
            destination_port=434,
        ),
        1.0,
    )
    assert [a.reason for a in out if isinstance(a, Dropped)] == [DropReason.NO_PENDING_REQUEST]


def test_reply_with_wrong_identification_or_source_is_dropped() -> None:
    agent = fa()
    agent.receive(from_mn(request()), 1.0)
    reply = RegistrationReply(
        code=0, lifetime=600, home_address=HOME, home_agent=HA_ADDR, identification=IDENT + 1
    )
    packet = ReceivedPacket(
        interface="wired0",
        source=HA_ADDR,
        destination=FA1_ADDR,
        protocol=17,
        payload=reply.encode(),
        source_port=434,
        destination_port=434,
    )
    out = agent.receive(packet, 1.1)
    assert [a.reason for a in out if isinstance(a, Dropped)] == [DropReason.IDENTIFICATION_MISMATCH]
    good_ident = RegistrationReply(
        code=0, lifetime=600, home_address=HOME, home_agent=HA_ADDR, identification=IDENT
    ).encode()
    spoofed = ReceivedPacket(
        interface="wired0",
        source=IPv4Address("203.0.113.66"),
        destination=FA1_ADDR,
        protocol=17,
        payload=good_ident,
        source_port=434,
        destination_port=434,
    )
    out = agent.receive(spoofed, 1.2)
    assert [a.reason for a in out if isinstance(a, Dropped)] == [DropReason.NOT_FOR_US]
    assert agent.visitor(HOME) is None


def test_ha_denial_keeps_the_existing_visitor_entry() -> None:
    agent = fa()
    agent.receive(from_mn(request()), 1.0)
    ok = RegistrationReply(
        code=0, lifetime=600, home_address=HOME, home_agent=HA_ADDR, identification=IDENT
    )
    wired = dict(
        interface="wired0",
        source=HA_ADDR,
        destination=FA1_ADDR,
        protocol=17,
        source_port=434,
        destination_port=434,
    )
    agent.receive(ReceivedPacket(payload=ok.encode(), **wired), 1.1)  # type: ignore[arg-type]
    before = agent.visitor(HOME)
    assert before is not None
    # The accepted request itself, again, is a replay (RFC 5944 §5.7): dropped, unrelayed.
    again = agent.receive(from_mn(request()), 1.5)
    assert [a.reason for a in again if isinstance(a, Dropped)] == [DropReason.REPLAYED]
    agent.receive(from_mn(request(identification=IDENT + 1)), 2.0)
    denied = RegistrationReply(
        code=ReplyCode.HA_ADMINISTRATIVELY_PROHIBITED,
        lifetime=0,
        home_address=HOME,
        home_agent=HA_ADDR,
        identification=IDENT + 1,
    )
    out = agent.receive(ReceivedPacket(payload=denied.encode(), **wired), 2.1)  # type: ignore[arg-type]
    assert reply_code(out) == ReplyCode.HA_ADMINISTRATIVELY_PROHIBITED
    assert agent.visitor(HOME) == before  # RFC 5944 §3.7.2: MUST NOT be modified
    assert agent.snapshot(2.2)["pending"] == {}


def test_broadcast_reply_destination_when_home_address_is_zero() -> None:
    agent = fa()
    zero = request().replace(HOME.packed, bytes(4), 1)
    out = agent.receive(from_mn(zero, ttl=255), 1.0)
    # relayed (no MN-FA SA); a denial would go to 255.255.255.255 (RFC 5944 §3.7.2.3)
    denial = agent.receive(from_mn(zero, ttl=1), 3.0)
    (send,) = [a for a in denial if isinstance(a, SendPacket)]
    assert send.destination == LIMITED_BROADCAST
    assert any(isinstance(a, SendPacket) and a.destination == HA_ADDR for a in out)


@pytest.mark.parametrize(("icmp_code", "reply"), [(0, 80), (1, 81), (3, 82), (13, 88)])
def test_icmp_unreachable_for_a_relayed_request_gives_80_to_88(icmp_code: int, reply: int) -> None:
    from mip4.wire.icmp import DestinationUnreachable

    agent = fa()
    out = agent.receive(from_mn(request()), 1.0)
    (relayed,) = [a for a in out if isinstance(a, SendPacket)]
    error = DestinationUnreachable.about(relayed.ip_packet(), icmp_code, data_bytes=16)
    icmp = ReceivedPacket(
        interface="wired0",
        source=IPv4Address("203.0.113.1"),
        destination=FA1_ADDR,
        protocol=1,
        payload=error.encode(),
    )
    answer = agent.receive(icmp, 1.2)
    assert reply_code(answer) == reply
    # ICMP is unauthenticated: the pending entry stays, and denials stay rate-limited.
    pending = agent.snapshot(1.2)["pending"]
    assert isinstance(pending, dict) and str(HOME) in pending
    again = agent.receive(icmp, 1.3)
    assert [a.reason for a in again if isinstance(a, Dropped)] == [DropReason.RATE_LIMITED]
