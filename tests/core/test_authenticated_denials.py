"""Denials only answer authenticated requests, the HA's denial codes 134-139, MN-HA security
contexts selected by SPI, and the MN's retry after a denial (RFC 5944 §3.6.2, §3.7.2.1,
§3.8.2, §1.6)."""

from __future__ import annotations

import dataclasses
import itertools
from ipaddress import IPv4Address
from typing import Any

import pytest

from mip4.core.actions import DropReason, SendPacket, SetMobilityBinding, StartTimer
from mip4.core.mn_registration import DENIAL_RETRY_TIMER
from mip4.core.packets import ReceivedPacket
from mip4.core.registration import check_single, seal_with
from mip4.core.security import (
    NTP_UNIX_OFFSET,
    MobilitySecurityAssociation,
    ReplayProtection,
    SecurityAssociation,
)
from mip4.errors import LocalUsageError
from mip4.wire.auth import hmac_md5
from mip4.wire.extensions import MobileForeignAuthentication, MobileHomeAuthentication
from mip4.wire.registration import RegistrationFlags, RegistrationReply, RegistrationRequest
from mip4.wire.registration import ReplyCode as C
from tests.core.topology import (
    FA1_ADDR,
    FA2_ADDR,
    HA_ADDR,
    HOME,
    MN_FA_KEY,
    MN_HA_KEY,
    MN_MAC,
    Net,
    build,
    fa_config,
    ha_config,
    mn_config,
    sa,
)

MN_HA = sa(0x100, MN_HA_KEY)
MN_FA = sa(0x200, MN_FA_KEY)
WRONG_FA = sa(0x200, b"not-the-fa-key!!")


def sends(out: list[Any], message: str = "registration_reply") -> list[SendPacket]:
    return [a for a in out if isinstance(a, SendPacket) and a.message == message]


def replies(net: Net, sender: str) -> list[RegistrationReply]:
    return [
        RegistrationReply.decode(s.payload)
        for s in net.wire.of(sender, SendPacket)
        if s.message == "registration_reply"
    ]


def ident(net: Net, ahead: float = 1.0) -> int:
    """A timestamp Identification the HA accepts now (RFC 5944 §5.7)."""
    return (int(net.wire.now + ahead) + NTP_UNIX_OFFSET) << 32


def with_reserved_bit(request: RegistrationRequest, key: bytes | None, spi: int = 0x100) -> bytes:
    """``request`` with reserved flag bit r set, then an MN-HA extension whose authenticator
    is computed over those bytes with ``key`` (zeroed when None): RFC 5944 §3.5.1."""
    fixed = bytearray(request.encode_fixed())
    fixed[1] |= int(RegistrationFlags.r)
    header = bytes([MobileHomeAuthentication.TYPE, 20]) + spi.to_bytes(4, "big")
    mac = bytes(16) if key is None else hmac_md5(key, bytes(fixed) + header)
    return bytes(fixed) + header + mac


def at_ha(payload: bytes, source: IPv4Address = FA1_ADDR) -> ReceivedPacket:
    return ReceivedPacket(
        interface="home0",
        source=source,
        destination=HA_ADDR,
        protocol=17,
        payload=payload,
        source_port=434,
        destination_port=434,
    )


def at_fa(payload: bytes, ttl: int = 255) -> ReceivedPacket:
    return ReceivedPacket(
        interface="access0",
        source=HOME,
        destination=FA1_ADDR,
        protocol=17,
        payload=payload,
        ttl=ttl,
        source_port=434,
        destination_port=434,
        link_source=MN_MAC,
    )


def request(net: Net, **fields: Any) -> RegistrationRequest:
    values: dict[str, Any] = {
        "lifetime": 100,
        "home_address": HOME,
        "home_agent": HA_ADDR,
        "care_of_address": FA1_ADDR,
        "identification": ident(net),
    }
    values.update(fields)
    return RegistrationRequest(**values)


# ---------------------------------------------------------------------------- 134 at the HA


def test_134_answers_a_reserved_bit_request_only_with_a_valid_mn_ha_authenticator() -> None:
    net = build(start=False)
    rrq = request(net)
    out = net.wire.deliver("ha", at_ha(with_reserved_bit(rrq, MN_HA_KEY)))
    (send,) = sends(out)
    reply = RegistrationReply.decode(send.payload)
    # RFC 5944 §3.8.2.3: 134, sealed with the MN's context, fields copied (§3.8.3.2).
    assert reply.code == C.HA_POORLY_FORMED_REQUEST
    assert (reply.home_address, reply.identification) == (HOME, rrq.identification)
    assert check_single(reply, MobileHomeAuthentication, MN_HA) is None
    assert net.ha.drops == {DropReason.MALFORMED: 1}
    assert net.ha.bindings(HOME) == () and not any(isinstance(a, SetMobilityBinding) for a in out)


@pytest.mark.parametrize(
    ("key", "spi", "reason"),
    [
        (None, 0x100, DropReason.BAD_AUTHENTICATOR),  # the auditor's zeroed authenticator
        (b"not-the-mn-key!!", 0x100, DropReason.BAD_AUTHENTICATOR),
        (MN_HA_KEY, 0x999, DropReason.NO_SECURITY_ASSOCIATION),  # no context with that SPI
    ],
)
def test_an_unauthenticated_reserved_bit_request_is_dropped_without_a_reply(
    key: bytes | None, spi: int, reason: DropReason
) -> None:
    net = build(start=False)
    out = net.wire.deliver("ha", at_ha(with_reserved_bit(request(net), key, spi)))
    assert sends(out) == []
    assert net.ha.drops == {reason: 1}


def test_a_forged_reserved_bit_relay_no_longer_strands_the_mn() -> None:
    """The auditor's case: the relayed request replaced by one with bit r set and a zeroed
    authenticator. The HA stays silent, the MN retransmits (§3.6.3) and registers."""
    net = build()
    forged: list[float] = []

    def lose(sender: str, send: SendPacket) -> bool:
        if sender == "fa1" and send.message == "registration_request" and not forged:
            forged.append(net.wire.now)
            genuine = RegistrationRequest.decode(send.payload)
            net.wire.deliver("ha", at_ha(with_reserved_bit(genuine, None)))
            return True
        return False

    net.wire.lose = lose
    net.wire.run(3.0)
    assert forged
    assert [r.code for r in replies(net, "ha")] == [C.ACCEPTED]
    assert net.ha.drops[DropReason.BAD_AUTHENTICATOR] == 1
    assert net.mn.registration is not None
    assert [b.care_of_address for b in net.ha.bindings(HOME)] == [FA1_ADDR]


# ---------------------------------------------------------------------------- 135-139


def only_denial(net: Net, code: int) -> RegistrationReply:
    """The last HA reply: ``code``, authenticated for the MN, and no binding change."""
    reply = replies(net, "ha")[-1]
    assert reply.code == code
    assert check_single(reply, MobileHomeAuthentication, MN_HA) is None
    denied = net.wire.events("mn", "registration-denied")
    assert denied and denied[-1].fields["code"] == code  # the MN took it as a denial
    return reply


def test_135_too_many_simultaneous_bindings_keeps_the_existing_one() -> None:
    net = build(mn=mn_config(simultaneous_bindings=True), ha=ha_config(max_bindings=1))
    net.wire.run(2.0)
    net.move_to("cell2")
    net.wire.run(4.0)
    only_denial(net, C.HA_TOO_MANY_SIMULTANEOUS_BINDINGS)
    assert [b.care_of_address for b in net.ha.bindings(HOME)] == [FA1_ADDR]
    assert net.wire.of("ha", SetMobilityBinding)[-1].care_of_addresses == (FA1_ADDR,)


def test_137_reverse_tunnel_mandatory_without_the_t_bit() -> None:
    net = build(mn=mn_config(reverse_tunnel=False), ha=ha_config(reverse_tunnel_required=True))
    net.wire.run(3.0)
    only_denial(net, C.HA_REVERSE_TUNNEL_MANDATORY)
    assert net.ha.bindings(HOME) == () and net.wire.of("ha", SetMobilityBinding) == []


def test_138_reverse_tunnel_unavailable_for_the_t_bit() -> None:
    net = build(ha=ha_config(reverse_tunnel_offered=False))
    net.wire.run(3.0)
    rrq = RegistrationRequest.decode(
        sends(net.wire.of("mn", SendPacket), "registration_request")[0].payload
    )
    assert rrq.flags & RegistrationFlags.T
    only_denial(net, C.HA_REVERSE_TUNNEL_UNAVAILABLE)
    assert net.ha.bindings(HOME) == ()


def test_139_encapsulation_unavailable() -> None:
    from mip4.core.actions import TunnelMode

    net = build(
        mn=mn_config(encapsulation=TunnelMode.GRE),
        ha=ha_config(encapsulations=frozenset({TunnelMode.IP_IN_IP})),
    )
    net.wire.run(3.0)
    only_denial(net, C.HA_ENCAPSULATION_UNAVAILABLE)
    assert net.ha.bindings(HOME) == ()
    assert net.fa1.visitor(HOME) is None  # §3.7.3.2: a denial installs no visitor


# ---------------------------------------------------------------------------- the MN's retry


def test_after_a_denial_the_mn_retries_after_retransmit_max_and_recovers() -> None:
    """Decision: a denial the MN cannot repair (§3.6.2.3) is retried with a fresh request
    after ``retransmit_max`` (32 s), so a fixed policy or a mistaken denial does not leave
    it unregistered for good."""
    net = build(ha=ha_config(reverse_tunnel_offered=False))
    net.wire.run(3.0)
    assert net.wire.events("mn", "registration-denied")
    timers = [(t, a) for t, n, a in net.wire.actions if n == "mn" and isinstance(a, StartTimer)]
    (retry,) = [(t, a) for t, a in timers if a.key == (DENIAL_RETRY_TIMER,)]
    assert round(retry[1].deadline - retry[0], 6) == net.mn.config.retransmit_max
    net.wire.run(30.0)
    # nothing is sent while waiting (the advertisements every second trigger nothing)
    assert len(sends(net.wire.of("mn", SendPacket), "registration_request")) == 1
    # the operator offers reverse tunnels again
    net.ha.config = dataclasses.replace(net.ha.config, reverse_tunnel_offered=True)
    net.wire.run(40.0)
    assert net.wire.events("mn", "registration-retry-after-denial")
    assert net.mn.registration is not None
    assert [b.care_of_address for b in net.ha.bindings(HOME)] == [FA1_ADDR]


def test_each_further_denial_waits_retransmit_max_again() -> None:
    net = build(ha=ha_config(reverse_tunnel_offered=False))
    net.wire.run(100.0)
    times = [
        t
        for t, n, a in net.wire.actions
        if n == "mn" and isinstance(a, SendPacket) and a.message == "registration_request"
    ]
    assert [round(b - a) for a, b in itertools.pairwise(times)] == [32, 32, 32]
    assert net.mn.registration is None


# ---------------------------------------------------------------------------- the FA


def secured_fa(**fa: Any) -> Net:
    return build(
        mn=mn_config(mn_fa={FA1_ADDR: MN_FA}),
        fa1=fa_config(1, mn_fa={HOME: MN_FA}, **fa),
        start=False,
    )


def fa_request(net: Net, key: SecurityAssociation, **fields: Any) -> bytes:
    rrq = seal_with(request(net, **fields), MobileHomeAuthentication, MN_HA)
    return seal_with(rrq, MobileForeignAuthentication, key).encode()


POLICY_CASES = [
    # (FA config, request fields, TTL, the code a valid MN-FA would get)
    ({"registration_lifetime": 50}, {}, 255, C.FA_LIFETIME_TOO_LONG),
    ({}, {"care_of_address": FA2_ADDR}, 255, C.FA_INVALID_CARE_OF_ADDRESS),
    ({}, {"home_agent": FA1_ADDR}, 255, C.FA_INVALID_HA_ADDRESS),
    ({}, {"flags": RegistrationFlags.M | RegistrationFlags.G}, 255, C.FA_ENCAPSULATION_UNAVAILABLE),
    ({"reverse_tunnel_required": True}, {}, 255, C.FA_REVERSE_TUNNEL_MANDATORY),
    ({}, {"flags": RegistrationFlags.T}, 64, C.FA_MN_TOO_DISTANT),
    (
        {"reverse_tunnel_offered": False},
        {"flags": RegistrationFlags.T},
        255,
        C.FA_REVERSE_TUNNEL_UNAVAILABLE,
    ),
]


@pytest.mark.parametrize(("fa", "fields", "ttl", "code"), POLICY_CASES)
def test_fa_authenticates_mn_fa_before_any_policy_denial(
    fa: dict[str, Any], fields: dict[str, Any], ttl: int, code: int
) -> None:
    net = secured_fa(**fa)
    # with the right key: the policy denial, sealed with MN-FA (§3.7.3.2)
    out = net.fa1.receive(at_fa(fa_request(net, MN_FA, **fields), ttl), 1.0)
    (good,) = [RegistrationReply.decode(s.payload) for s in sends(out)]
    assert good.code == code
    assert check_single(good, MobileForeignAuthentication, MN_FA) is None
    # a forgery (wrong MN-FA key): only an unsealed 67, counted, no state, at once
    net = secured_fa(**fa)
    out = net.fa1.receive(at_fa(fa_request(net, WRONG_FA, **fields), ttl), 1.0)
    (bad,) = [RegistrationReply.decode(s.payload) for s in sends(out)]
    assert bad.code == C.FA_MN_FAILED_AUTHENTICATION
    assert not any(isinstance(e, MobileForeignAuthentication) for e in bad.extensions)
    assert net.fa1.drops == {DropReason.BAD_AUTHENTICATOR: 1}
    assert net.fa1.snapshot(1.0)["pending"] == {} and net.fa1._last_denial == {}
    # ... so the genuine request right after still gets its (sealed) denial: the forgery
    # did not start the per-MN denial clock (§3.7.2.3's rate limit)
    out = net.fa1.receive(at_fa(fa_request(net, MN_FA, **fields), ttl), 1.2)
    (after,) = [RegistrationReply.decode(s.payload) for s in sends(out)]
    assert after.code == code


def test_a_forged_69_can_no_longer_cap_the_mn_lifetime() -> None:
    net = secured_fa(registration_lifetime=50)
    out = net.fa1.receive(at_fa(fa_request(net, WRONG_FA, lifetime=600)), 1.0)
    (send,) = sends(out)
    reply = RegistrationReply.decode(send.payload)
    assert reply.code == C.FA_MN_FAILED_AUTHENTICATION
    # the MN holding the MN-FA SA discards the unsealed 67 (§3.6.2.1 a)
    assert check_single(reply, MobileForeignAuthentication, MN_FA) is not None


def test_fa_67s_have_their_own_rate_limit() -> None:
    net = secured_fa()
    first = net.fa1.receive(at_fa(fa_request(net, WRONG_FA)), 1.0)
    second = net.fa1.receive(at_fa(fa_request(net, WRONG_FA)), 1.5)
    assert len(sends(first)) == 1 and sends(second) == []
    assert net.fa1.drops == {DropReason.BAD_AUTHENTICATOR: 2, DropReason.RATE_LIMITED: 1}
    # a genuine request is relayed as usual
    out = net.fa1.receive(at_fa(fa_request(net, MN_FA)), 1.6)
    assert sends(out, "registration_request")


def test_fa_answers_70_only_to_an_authenticated_reserved_bit_request() -> None:
    net = secured_fa()

    def with_r(key: SecurityAssociation) -> bytes:
        data = bytearray(fa_request(net, key))
        data[1] |= int(RegistrationFlags.r)
        # re-seal MN-FA (the last 22 bytes) over the bytes as sent
        body = bytes(data[:-16])
        return body + hmac_md5(key.key, body)

    out = net.fa1.receive(at_fa(with_r(WRONG_FA)), 1.0)
    (bad,) = [RegistrationReply.decode(s.payload) for s in sends(out)]
    assert bad.code == C.FA_MN_FAILED_AUTHENTICATION and not bad.extensions
    assert net.fa1.drops == {DropReason.BAD_AUTHENTICATOR: 1} and net.fa1._last_denial == {}
    out = net.fa1.receive(at_fa(with_r(MN_FA)), 1.0)
    (good,) = [RegistrationReply.decode(s.payload) for s in sends(out)]
    assert good.code == C.FA_POORLY_FORMED_REQUEST
    assert check_single(good, MobileForeignAuthentication, MN_FA) is None


# ---------------------------------------------------------------------------- SPI lookup

OLD = sa(0x100, MN_HA_KEY)
NEW = sa(0x101, b"the-new-mn-ha-key")
BOTH = MobilitySecurityAssociation(spi=OLD.spi, key=OLD.key, others=(NEW,))


@pytest.mark.parametrize("context", [OLD, NEW], ids=["first", "other"])
def test_the_spi_selects_the_mn_ha_context(context: SecurityAssociation) -> None:
    net = build(mn=mn_config(mn_ha=context), ha=ha_config(mn_ha={HOME: BOTH}))
    net.wire.run(3.0)
    (reply,) = replies(net, "ha")
    assert reply.code == C.ACCEPTED
    # the reply is sealed with the context that authenticated the request
    assert check_single(reply, MobileHomeAuthentication, context) is None
    assert net.mn.registration is not None


def test_an_unknown_spi_or_the_wrong_key_for_an_spi_is_refused() -> None:
    net = build(mn=mn_config(mn_ha=sa(0x102, NEW.key)), ha=ha_config(mn_ha={HOME: BOTH}))
    net.wire.run(3.0)
    assert replies(net, "ha") == [] and net.ha.drops[DropReason.NO_SECURITY_ASSOCIATION] >= 1
    net = build(mn=mn_config(mn_ha=sa(NEW.spi, OLD.key)), ha=ha_config(mn_ha={HOME: BOTH}))
    net.wire.run(1.5)
    assert {r.code for r in replies(net, "ha")} == {C.HA_MN_FAILED_AUTHENTICATION}
    assert net.ha.bindings(HOME) == ()


def test_replay_state_is_per_mn_across_contexts() -> None:
    """A request authenticated with one context cannot be replayed under another: the
    Identification is checked per MN (RFC 5944 §5.7)."""
    net = build(start=False, ha=ha_config(mn_ha={HOME: BOTH}))
    newer = ident(net, 5.0)
    first = seal_with(request(net, identification=newer), MobileHomeAuthentication, NEW)
    (ok,) = sends(net.wire.deliver("ha", at_ha(first.encode())))
    assert RegistrationReply.decode(ok.payload).code == C.ACCEPTED
    older = seal_with(request(net, identification=ident(net)), MobileHomeAuthentication, OLD)
    (again,) = sends(net.wire.deliver("ha", at_ha(older.encode())))
    assert RegistrationReply.decode(again.payload).code == C.HA_IDENTIFICATION_MISMATCH
    assert net.ha.bindings(HOME)[0].request_identification == newer


def test_a_mobility_security_association_refuses_inconsistent_contexts() -> None:
    with pytest.raises(LocalUsageError, match="twice"):
        MobilitySecurityAssociation(spi=0x100, key=b"k", others=(sa(0x100, b"j"),))
    with pytest.raises(LocalUsageError, match="replay"):
        MobilitySecurityAssociation(
            spi=0x100, key=b"k", others=(sa(0x101, b"j", ReplayProtection.NONCE),)
        )
    assert BOTH.context(0x101) == NEW and BOTH.context(0x100) is BOTH
    assert BOTH.context(0x103) is None and OLD.context(0x101) is None
