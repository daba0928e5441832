"""PRE-REGISTRATION in the agents (RFC 4881 §3, §8.1, §11), hand-wired.

The FAs' inter-FA solicitation and cache (ESP HMAC-SHA1-96), the PrRtAdv of L2-ST and of a
PrRtSol (address or access point id), the tunnelled advertisement of L2-TT, the nFA's
handling of the low-latency request (LLA, TTL, buffered reply), the MN's low-latency
request and PrRtSol retries, §3.8, the rate limit, and attacks on all of it.
"""

from __future__ import annotations

import dataclasses
import random
from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mip4.core.actions import Action, Dropped, DropReason, Notify, SendPacket, StartTimer
from mip4.core.config import (
    MnPreRegistrationConfig,
    NeighbourFa,
    PreRegistrationConfig,
)
from mip4.core.foreign_agent import ForeignAgent
from mip4.core.packets import ReceivedPacket
from mip4.core.pre_registration import PRE_SOLICIT_TIMER, low_latency_lla
from mip4.core.registration import seal_with
from mip4.core.security import SecurityAssociation, ntp_timestamp
from mip4.core.triggers import (
    FaIdentifier,
    LinkUp,
    MnIdentifier,
    MobileTrigger,
    SourceTrigger,
    TargetTrigger,
)
from mip4.errors import LocalUsageError
from mip4.wire.esp import EspMode, EspSecurityAssociation, ReplayWindow, esp_protect, esp_receive
from mip4.wire.extensions import (
    LinkLayerAddress,
    MnFaChallenge,
    MobileForeignAuthentication,
    MobileHomeAuthentication,
)
from mip4.wire.icmp import (
    AgentAdvertisement,
    AgentSolicitation,
    RouterDiscoveryLinkLayerAddress,
    decode_icmp,
)
from mip4.wire.ip import PROTO_ESP, PROTO_ICMP, PROTO_UDP, build_ipv4
from mip4.wire.lla import AccessPointId, EthernetMac, SolicitedIpv4Address
from mip4.wire.messages import MOBILE_IP_PORT, decode_control_message
from mip4.wire.registration import RegistrationFlags, RegistrationRequest
from tests.core.topology import (
    FA1_ADDR,
    FA1_MAC,
    FA2_ADDR,
    FA2_MAC,
    HA_ADDR,
    HOME,
    MN_HA_KEY,
    MN_MAC,
    WIRED_MAC,
    Net,
    build,
    fa_config,
    mn_config,
    sa,
)

WIRED, ACCESS = "wired0", "access0"


def esp_sa(
    src: int, dst: int, tunnel: bool = False, key: bytes | None = None
) -> EspSecurityAssociation:
    return EspSecurityAssociation(
        spi=0x1000 + src * 16 + dst * 2 + int(tunnel),
        auth_key=key or bytes([src, dst, int(tunnel)]) * 6 + b"kk",
        mode=EspMode.TUNNEL if tunnel else EspMode.TRANSPORT,
    )


def neighbour(me: int, other: int) -> NeighbourFa:
    return NeighbourFa(
        address=FA1_ADDR if other == 1 else FA2_ADDR,
        esp_out=esp_sa(me, other),
        esp_in=esp_sa(other, me),
        tunnel_out=esp_sa(me, other, True),
        tunnel_in=esp_sa(other, me, True),
        access_point_ids=(other,),
    )


def pre(me: int, **overrides: Any) -> PreRegistrationConfig:
    values: dict[str, Any] = {"neighbours": (neighbour(me, 3 - me),), "access_point_ids": (me,)}
    values.update(overrides)
    return PreRegistrationConfig(**values)


def fa(index: int, **overrides: Any) -> ForeignAgent:
    return ForeignAgent(
        fa_config(index, pre_registration=pre(index, **overrides)), random=random.Random(index)
    )


def received(
    send: SendPacket, interface: str, *, routed: bool = False, link_source: bytes | None = None
) -> ReceivedPacket:
    return ReceivedPacket(
        interface=interface,
        source=send.source,
        destination=send.destination,
        protocol=send.protocol,
        payload=send.payload,
        ttl=send.ttl - 1 if routed else send.ttl,
        source_port=send.source_port,
        destination_port=send.destination_port,
        link_source=WIRED_MAC if link_source is None and interface == WIRED else link_source,
    )


def sends(actions: list[Action], message: str | None = None) -> list[SendPacket]:
    return [
        a
        for a in actions
        if isinstance(a, SendPacket) and (message is None or a.message == message)
    ]


def drops(actions: list[Action]) -> list[DropReason]:
    return [a.reason for a in actions if isinstance(a, Dropped)]


def events(actions: list[Action]) -> list[str]:
    return [a.event for a in actions if isinstance(a, Notify)]


def open_esp(send: SendPacket, sa_: EspSecurityAssociation) -> bytes:
    opened, _ = esp_receive(sa_, ReplayWindow(), send.payload)
    return opened.payload


def pre_net(*, fa1_pre: bool = True, mn_pre: MnPreRegistrationConfig | None = None) -> Net:
    return build(
        mn=mn_config(pre_registration=mn_pre or MnPreRegistrationConfig()),
        fa1=fa_config(1, pre_registration=pre(1) if fa1_pre else None),
        fa2=fa_config(2, pre_registration=pre(2)),
    )


def registered(net: Net) -> float:
    net.wire.run(0.5)
    reg = net.mn.registration
    assert reg is not None and reg.agent == FA1_ADDR
    return net.wire.now


# ---------------------------------------------------------------------------- configuration


def test_min_solicitation_interval_default_and_floor() -> None:
    # §3.5: 0.5 x CHALLENGE_WINDOW x advertisement interval, never below 1 s; configurable.
    assert pre(1).solicitation_interval(1.0) == 1.0
    assert pre(1).solicitation_interval(3.0) == 3.0
    assert pre(1).solicitation_interval(0.2) == 1.0
    assert pre(1, min_solicitation_interval=2.5).solicitation_interval(1.0) == 2.5
    with pytest.raises(LocalUsageError, match="min_solicitation_interval"):
        pre(1, min_solicitation_interval=0.5)
    with pytest.raises(LocalUsageError, match="esp_out"):
        dataclasses.replace(neighbour(1, 2), esp_out=esp_sa(1, 2, tunnel=True))
    with pytest.raises(LocalUsageError, match="trigger_rate_limit"):
        pre(1, trigger_rate_limit=0)


# ---------------------------------------------------------------------------- inter-FA


def test_inter_fa_solicitation_every_interval_in_esp_and_the_cache() -> None:
    fa1, fa2 = fa(1), fa(2)
    out = fa1.start(0.0)
    [solicit] = sends(out, "inter_fa_solicitation")
    assert (solicit.protocol, solicit.destination, solicit.interface) == (
        PROTO_ESP,
        FA2_ADDR,
        WIRED,
    )
    assert solicit.ttl == 64  # §3.4.1: not limited to TTL 1
    assert StartTimer((PRE_SOLICIT_TIMER, FA2_ADDR), 1.0) in out
    inner = decode_icmp(open_esp(solicit, esp_sa(1, 2)))
    assert isinstance(inner, AgentSolicitation)
    assert inner.lla == SolicitedIpv4Address(FA2_ADDR)  # §3.1 step 1: names the nFA
    [answer] = sends(
        fa2.receive(received(solicit, WIRED, routed=True), 0.01), "inter_fa_advertisement"
    )
    advertisement = decode_icmp(open_esp(answer, esp_sa(2, 1)))
    assert isinstance(advertisement, AgentAdvertisement)
    assert advertisement.lla == EthernetMac(FA2_MAC)  # §3.1 step 1b, §3.7
    assert advertisement.mobility_extension is not None
    assert fa1.receive(received(answer, WIRED, routed=True), 0.02) == []
    cached = fa1.cached_advertisement(FA2_ADDR)
    assert cached is not None and cached.received_at == 0.02
    # The next round, one MIN_SOLICITATION_INTERVAL later.
    again = fa1.timer_expired((PRE_SOLICIT_TIMER, FA2_ADDR), 1.0)
    assert len(sends(again, "inter_fa_solicitation")) == 1
    assert StartTimer((PRE_SOLICIT_TIMER, FA2_ADDR), 2.0) in again


def test_unauthenticated_inter_fa_icmp_is_refused() -> None:
    fa1, fa2 = fa(1), fa(2)
    plain = AgentSolicitation(
        extensions=(RouterDiscoveryLinkLayerAddress(value=SolicitedIpv4Address(FA2_ADDR)),)
    ).encode()
    packet = ReceivedPacket(
        interface=WIRED,
        source=FA1_ADDR,
        destination=FA2_ADDR,
        protocol=PROTO_ICMP,
        payload=plain,
        ttl=63,
    )
    out = fa2.receive(packet, 0.0)
    assert drops(out) == [DropReason.MISSING_AUTHENTICATION] and not sends(out)
    advert = fa2.advertiser.build().encode()
    out = fa1.receive(
        dataclasses.replace(packet, source=FA2_ADDR, destination=FA1_ADDR, payload=advert), 0.0
    )
    assert drops(out) == [DropReason.MISSING_AUTHENTICATION]
    assert fa1.cached_advertisement(FA2_ADDR) is None
    assert fa1.drops[DropReason.MISSING_AUTHENTICATION] == 1


def test_forged_and_replayed_inter_fa_messages_change_nothing() -> None:
    fa1, fa2 = fa(1), fa(2)
    [solicit] = sends(fa1.start(0.0), "inter_fa_solicitation")
    genuine = received(solicit, WIRED, routed=True)
    # A flipped ICV bit: forged.
    forged = dataclasses.replace(
        genuine, payload=genuine.payload[:-1] + bytes([genuine.payload[-1] ^ 1])
    )
    assert drops(fa2.receive(forged, 0.0)) == [DropReason.BAD_AUTHENTICATOR]
    # Signed with the wrong key under the right SPI.
    wrong = esp_sa(1, 2, key=b"x" * 20)
    icmp = open_esp(solicit, esp_sa(1, 2))
    bad_key = dataclasses.replace(genuine, payload=esp_protect(wrong, 7, icmp, PROTO_ICMP))
    assert drops(fa2.receive(bad_key, 0.0)) == [DropReason.BAD_AUTHENTICATOR]
    # An SPI nobody configured, and the right SPI from the wrong address.
    stranger = esp_sa(9, 2)
    unknown = dataclasses.replace(genuine, payload=esp_protect(stranger, 1, icmp, PROTO_ICMP))
    assert drops(fa2.receive(unknown, 0.0)) == [DropReason.NO_SECURITY_ASSOCIATION]
    spoofed = dataclasses.replace(genuine, source=IPv4Address("198.51.100.7"))
    assert drops(fa2.receive(spoofed, 0.0)) == [DropReason.NO_SECURITY_ASSOCIATION]
    # The genuine one is answered once; its replay is dropped (RFC 4303 §3.4.3).
    [answer] = sends(fa2.receive(genuine, 0.01), "inter_fa_advertisement")
    replay = fa2.receive(genuine, 0.02)
    assert drops(replay) == [DropReason.REPLAYED] and not sends(replay)
    # A forged advertisement never enters the cache; the replayed genuine one is refused.
    advert = open_esp(answer, esp_sa(2, 1))
    fake = dataclasses.replace(
        received(answer, WIRED, routed=True),
        payload=esp_protect(esp_sa(2, 1, key=b"y" * 20), 1, advert, PROTO_ICMP),
    )
    assert drops(fa1.receive(fake, 0.03)) == [DropReason.BAD_AUTHENTICATOR]
    assert fa1.cached_advertisement(FA2_ADDR) is None
    assert fa1.receive(received(answer, WIRED, routed=True), 0.04) == []
    assert drops(fa1.receive(received(answer, WIRED, routed=True), 0.05)) == [DropReason.REPLAYED]
    cached = fa1.cached_advertisement(FA2_ADDR)
    assert cached is not None and cached.received_at == 0.04
    assert fa2.drops[DropReason.BAD_AUTHENTICATOR] == 2 and fa2.drops[DropReason.REPLAYED] == 1


def test_solicitation_naming_another_fa_is_not_answered() -> None:
    fa2 = fa(2)
    other = AgentSolicitation(
        extensions=(
            RouterDiscoveryLinkLayerAddress(value=SolicitedIpv4Address(IPv4Address("198.19.9.1"))),
        )
    ).encode()
    packet = ReceivedPacket(
        interface=WIRED,
        source=FA1_ADDR,
        destination=FA2_ADDR,
        protocol=PROTO_ESP,
        payload=esp_protect(esp_sa(1, 2), 1, other, PROTO_ICMP),
        ttl=63,
    )
    out = fa2.receive(packet, 0.0)
    assert drops(out) == [DropReason.NOT_FOR_US] and not sends(out)


# ---------------------------------------------------------------------------- oFA: PrRtAdv


def test_l2_st_sends_the_cached_advertisement_as_prrtadv_and_the_mn_registers_via_the_ofa() -> None:
    net = pre_net()
    now = registered(net)
    out = net.wire.trigger(
        "fa1",
        SourceTrigger(
            mn=MnIdentifier(link_address=MN_MAC, home_address=HOME),
            new_fa=FaIdentifier(address=FA2_ADDR),
        ),
    )
    [adv] = sends(out, "proxy_router_advertisement")
    # Appendix C: IP source nFA, L2 source oFA, IP and L2 destination the MN, TTL 1.
    assert (adv.source, adv.destination, adv.ttl) == (FA2_ADDR, HOME, 1)
    assert (adv.link_source, adv.link_destination, adv.interface) == (FA1_MAC, MN_MAC, ACCESS)
    message = decode_icmp(adv.payload)
    assert isinstance(message, AgentAdvertisement) and message.lla == EthernetMac(FA2_MAC)
    net.wire.run(now + 0.0015)
    [rrq] = [
        a
        for a in net.wire.of("mn", SendPacket)
        if a.message == "registration_request" and a.destination == FA2_ADDR
    ]
    # Appendix C: IP destination nFA, L2 destination the default router (oFA); TTL 255 with T.
    assert rrq.link_destination == FA1_MAC and rrq.ttl == 255
    request = decode_control_message(rrq.payload)
    assert isinstance(request, RegistrationRequest)
    assert request.flags & RegistrationFlags.S and request.flags & RegistrationFlags.T
    assert request.care_of_address == FA2_ADDR
    # §3.7: the LLA 138 with the MN's own MAC, after the authorization-enabling extension.
    assert low_latency_lla(request) == MN_MAC
    kinds = [type(e) for e in request.extensions]
    assert kinds.index(LinkLayerAddress) > kinds.index(MobileHomeAuthentication)
    assert net.mn.snapshot(net.wire.now)["pre_registration"]["low_latency_pending"] is True


def test_cache_miss_solicits_at_handoff_time() -> None:
    fa1, fa2 = fa(1), fa(2)  # never started: nothing cached
    prrtsol = AgentSolicitation(
        extensions=(RouterDiscoveryLinkLayerAddress(value=SolicitedIpv4Address(FA2_ADDR)),)
    )
    packet = ReceivedPacket(
        interface=ACCESS,
        source=HOME,
        destination=FA1_ADDR,
        protocol=PROTO_ICMP,
        payload=prrtsol.encode(),
        ttl=1,
        link_source=MN_MAC,
    )
    out = fa1.receive(packet, 5.0)
    assert "inter-fa-cache-miss" in events(out)
    assert not sends(out, "proxy_router_advertisement")
    [solicit] = sends(out, "inter_fa_solicitation")
    [answer] = sends(fa2.receive(received(solicit, WIRED, routed=True), 5.002))
    out = fa1.receive(received(answer, WIRED, routed=True), 5.004)
    [adv] = sends(out, "proxy_router_advertisement")
    assert (adv.destination, adv.link_destination, adv.source) == (HOME, MN_MAC, FA2_ADDR)


def test_prrtsol_with_an_access_point_id_uses_the_configured_table() -> None:
    fa1 = fa(1)

    def prrtsol(ap: int) -> list[Action]:
        message = AgentSolicitation(
            extensions=(RouterDiscoveryLinkLayerAddress(value=AccessPointId(ap)),)
        )
        return fa1.receive(
            ReceivedPacket(
                interface=ACCESS,
                source=HOME,
                destination=FA1_ADDR,
                protocol=PROTO_ICMP,
                payload=message.encode(),
                ttl=1,
                link_source=MN_MAC,
            ),
            1.0,
        )

    [solicit] = sends(prrtsol(2), "inter_fa_solicitation")  # AP 2 -> FA2 (§3.4.1)
    assert solicit.destination == FA2_ADDR
    out = prrtsol(77)
    assert drops(out) == [DropReason.BAD_TRIGGER] and not sends(out)
    out = prrtsol(1)  # this FA's own access point: §3.8
    assert events(out) == ["pre-registration-not-applicable"] and not sends(out)


def test_no_pre_registration_when_the_nfa_is_the_ofa() -> None:
    net = pre_net()
    registered(net)
    out = net.wire.trigger(
        "fa1",
        SourceTrigger(
            mn=MnIdentifier(link_address=MN_MAC, home_address=HOME),
            new_fa=FaIdentifier(address=FA1_ADDR),
        ),
    )
    assert events(out) == ["pre-registration-not-applicable"] and not sends(out)
    out = net.wire.trigger("mn", MobileTrigger(new_fa=FaIdentifier(address=FA1_ADDR)))
    assert events(out) == ["pre-registration-not-applicable"] and not sends(out)


def test_a_flood_of_triggers_is_rate_limited_and_counted() -> None:
    net = pre_net()
    now = registered(net)
    fa1 = net.fa1
    trigger = SourceTrigger(
        mn=MnIdentifier(link_address=MN_MAC, home_address=HOME),
        new_fa=FaIdentifier(address=FA2_ADDR),
    )
    before = fa1.snapshot(now + 1.0)["visitors"]
    sent = 0
    for k in range(1000):  # 1,000 triggers in one second
        out = fa1.l2_trigger(trigger, now + k / 1000.0)
        sent += len(sends(out, "proxy_router_advertisement"))
    assert sent == 10  # §11: 10 per second
    assert fa1.drops[DropReason.RATE_LIMITED] == 990
    assert fa1.snapshot(now + 1.0)["visitors"] == before
    # A PrRtSol flood shares the limit; a new second allows 10 more.
    out = fa1.l2_trigger(trigger, now + 1.0)
    assert len(sends(out, "proxy_router_advertisement")) == 1


# ---------------------------------------------------------------------------- nFA


def low_latency_request(
    *, ttl: int = 254, identification: int = 0xE8A1B2C3_00000001, lla: bool = True
) -> ReceivedPacket:
    message = seal_with(
        RegistrationRequest(
            flags=RegistrationFlags.T | RegistrationFlags.S,
            lifetime=600,
            home_address=HOME,
            home_agent=HA_ADDR,
            care_of_address=FA2_ADDR,
            identification=identification,
        ),
        MobileHomeAuthentication,
        sa(0x100, MN_HA_KEY),
    )
    if lla:
        message = dataclasses.replace(
            message, extensions=(*message.extensions, LinkLayerAddress(value=EthernetMac(MN_MAC)))
        )
    return ReceivedPacket(
        interface=WIRED,
        source=HOME,
        destination=FA2_ADDR,
        protocol=PROTO_UDP,
        payload=message.encode(),
        ttl=ttl,
        source_port=MOBILE_IP_PORT,
        destination_port=MOBILE_IP_PORT,
        link_source=FA1_MAC,
    )


@pytest.mark.parametrize("connect", ["l2-lu", "solicitation"])
def test_nfa_takes_the_mac_from_the_lla_and_buffers_the_reply_until_the_mn_connects(
    connect: str,
) -> None:
    net = pre_net()
    net.wire.run(0.5)
    identification = ntp_timestamp(net.wire.now, random.Random(0))  # RFC 5944 §5.7
    out = net.wire.deliver("fa2", low_latency_request(identification=identification))
    assert "low-latency-request" in events(out)
    # A second copy of the request (§3.4) is not relayed again.
    again = net.wire.deliver("fa2", low_latency_request(identification=identification))
    assert drops(again) == [DropReason.REPLAYED]
    [relayed] = sends(out, "registration_request")
    assert relayed.destination == HA_ADDR
    assert low_latency_lla(decode_control_message(relayed.payload)) is None  # consumed
    net.wire.run(0.6)
    assert net.wire.events("fa2", "registration-reply-buffered")
    assert not [s for s in net.wire.of("fa2", SendPacket) if s.message == "registration_reply"]
    assert drops(net.wire.deliver("fa2", low_latency_request(identification=identification))) == [
        DropReason.REPLAYED
    ]
    if connect == "l2-lu":
        out = net.wire.trigger(
            "fa2", LinkUp(mn=MnIdentifier(link_address=MN_MAC, home_address=HOME))
        )
    else:
        solicitation = ReceivedPacket(
            interface=ACCESS,
            source=HOME,
            destination=IPv4Address("224.0.0.11"),
            protocol=PROTO_ICMP,
            payload=AgentSolicitation().encode(),
            ttl=1,
            link_source=MN_MAC,
        )
        out = net.wire.deliver("fa2", solicitation)
    [reply] = sends(out, "registration_reply")
    # §3.7: to the MAC from the LLA (the frame came from the oFA), on the access link.
    assert (reply.link_destination, reply.interface, reply.destination) == (MN_MAC, ACCESS, HOME)
    assert reply.source == FA2_ADDR
    assert "buffered-reply-delivered" in events(out)
    assert net.fa2.visitor(HOME) is not None and net.fa2.visitor(HOME).link_address == MN_MAC  # type: ignore[union-attr]


def test_routed_low_latency_request_ttl_decision() -> None:
    """docs/decisions.md: a request with an LLA 138 may have crossed up to 8 routers; without
    the LLA the RFC 3024 check (TTL 255, else 76) stands."""
    fa2 = fa(2)
    assert "low-latency-request" in events(fa2.receive(low_latency_request(ttl=247), 0.0))
    fa2 = fa(2)
    out = fa2.receive(low_latency_request(ttl=246), 0.0)
    assert drops(out) == [DropReason.BAD_TTL]
    fa2 = fa(2)
    out = fa2.receive(low_latency_request(ttl=254, lla=False), 0.0)
    assert drops(out) == [DropReason.BAD_TTL]


def test_l2_tt_tunnels_the_advertisement_in_esp_and_the_ofa_forwards_it() -> None:
    net = pre_net()
    now = registered(net)
    out = net.wire.trigger(
        "fa2",
        TargetTrigger(
            mn=MnIdentifier(link_address=MN_MAC, home_address=HOME),
            old_fa=FaIdentifier(address=FA1_ADDR),
        ),
    )
    [tunnelled] = sends(out, "tunnelled_agent_advertisement")
    assert (tunnelled.protocol, tunnelled.destination) == (PROTO_ESP, FA1_ADDR)
    inner = open_esp(tunnelled, esp_sa(2, 1, True))
    assert (
        inner[9] == PROTO_ICMP and inner[12:16] == FA2_ADDR.packed and inner[16:20] == HOME.packed
    )
    net.wire.run(now + 0.0015)
    [adv] = [a for a in net.wire.of("fa1", SendPacket) if a.message == "proxy_router_advertisement"]
    assert (adv.source, adv.destination, adv.ttl, adv.link_destination) == (
        FA2_ADDR,
        HOME,
        1,
        MN_MAC,
    )


def test_tunnelled_advertisement_without_valid_esp_is_refused() -> None:
    net = pre_net()
    now = registered(net)
    inner = build_ipv4(FA2_ADDR, HOME, PROTO_ICMP, net.fa2.advertiser.build().encode(), ttl=1)
    base = ReceivedPacket(
        interface=WIRED,
        source=FA2_ADDR,
        destination=FA1_ADDR,
        protocol=PROTO_ESP,
        payload=b"",
        ttl=63,
    )
    cases = {
        DropReason.BAD_AUTHENTICATOR: esp_protect(esp_sa(2, 1, True, key=b"z" * 20), 1, inner, 4),
        DropReason.NO_SECURITY_ASSOCIATION: esp_protect(esp_sa(8, 1, True), 1, inner, 4),
        DropReason.MALFORMED: b"\x00\x01",
    }
    for reason, payload in cases.items():
        out = net.fa1.receive(dataclasses.replace(base, payload=payload), now)
        assert drops(out) == [reason] and not sends(out)
    # Authenticated, but the inner packet is not the neighbour's own: refused too.
    other = build_ipv4(
        IPv4Address("198.51.100.1"), HOME, PROTO_ICMP, net.fa2.advertiser.build().encode(), ttl=1
    )
    out = net.fa1.receive(
        dataclasses.replace(base, payload=esp_protect(esp_sa(2, 1, True), 1, other, 4)), now
    )
    assert drops(out) == [DropReason.NOT_FOR_US] and not sends(out)


# ---------------------------------------------------------------------------- MN


def test_prrtsol_retries_with_backoff_then_stops_until_a_new_registration() -> None:
    """§3.6: in a plain MIPv4 network (the oFA answers a PrRtSol with a normal
    advertisement) the MN retries after PRE_SOL_INTERVAL, then twice with exponential
    backoff, and PRE_SOL_INTERVAL after the last one stops sending PrRtSols."""
    net = pre_net(fa1_pre=False)
    t0 = registered(net)
    out = net.wire.trigger("mn", MobileTrigger(new_fa=FaIdentifier(address=FA2_ADDR)))
    [first] = sends(out, "proxy_router_solicitation")
    assert (first.destination, first.ttl, first.link_destination) == (FA1_ADDR, 1, FA1_MAC)
    prrtsol = decode_icmp(first.payload)
    assert isinstance(prrtsol, AgentSolicitation) and prrtsol.lla == SolicitedIpv4Address(FA2_ADDR)
    net.wire.run(t0 + 20.0)
    times = [
        round(t - t0, 6)
        for t, n, a in net.wire.actions
        if n == "mn" and isinstance(a, SendPacket) and a.message == "proxy_router_solicitation"
    ]
    assert times == [0.0, 1.0, 3.0, 7.0]
    assert net.wire.events("mn", "prrtsol-abandoned")
    out = net.wire.trigger("mn", MobileTrigger(new_fa=FaIdentifier(address=FA2_ADDR)))
    assert events(out) == ["prrtsol-suppressed"] and not sends(out)


def test_prrtsol_names_an_access_point_when_configured() -> None:
    net = pre_net(mn_pre=MnPreRegistrationConfig(identify_by="access-point"))
    registered(net)
    out = net.wire.trigger(
        "mn", MobileTrigger(new_fa=FaIdentifier(address=FA2_ADDR, access_point_id=2))
    )
    [sent] = sends(out, "proxy_router_solicitation")
    message = decode_icmp(sent.payload)
    assert isinstance(message, AgentSolicitation)
    assert [
        e.value for e in message.extensions if isinstance(e, RouterDiscoveryLinkLayerAddress)
    ] == [AccessPointId(2)]


def test_l2_tt_naming_this_fa_as_the_ofa_is_not_applicable() -> None:
    fa2 = fa(2)
    mn = MnIdentifier(link_address=MN_MAC, home_address=HOME)
    out = fa2.l2_trigger(TargetTrigger(mn=mn, old_fa=FaIdentifier(address=FA2_ADDR)), 0.0)
    assert events(out) == ["pre-registration-not-applicable"] and not sends(out)  # §3.8
    out = fa2.l2_trigger(TargetTrigger(mn=mn, old_fa=FaIdentifier(access_point_id=2)), 0.0)
    assert events(out) == ["pre-registration-not-applicable"] and not sends(out)


def test_the_rate_limit_is_configurable() -> None:
    fa1 = fa(1, trigger_rate_limit=3)
    prrtsol = AgentSolicitation(
        extensions=(RouterDiscoveryLinkLayerAddress(value=SolicitedIpv4Address(FA2_ADDR)),)
    )
    packet = ReceivedPacket(
        interface=ACCESS,
        source=HOME,
        destination=FA1_ADDR,
        protocol=PROTO_ICMP,
        payload=prrtsol.encode(),
        ttl=1,
        link_source=MN_MAC,
    )
    outs = [fa1.receive(packet, 0.1 * k) for k in range(5)]
    assert [DropReason.RATE_LIMITED in drops(o) for o in outs] == [False, False, False, True, True]
    assert fa1.drops[DropReason.RATE_LIMITED] == 2


def test_with_challenges_the_cache_lasts_only_the_challenge_window() -> None:
    """§3.5: when the nFA's advertisement carries an RFC 4721 challenge, the oFA proxies it
    only while the challenge is still valid: CHALLENGE_WINDOW advertisement intervals; after
    that the oFA solicits the nFA again at handoff time. The oFA need not use challenges
    itself: the challenge is the nFA's."""
    fa1, fa2 = fa(1), challenged_fa(2)
    [solicit] = sends(fa1.start(0.0), "inter_fa_solicitation")
    [answer] = sends(fa2.receive(received(solicit, WIRED, routed=True), 0.001))
    fa1.receive(received(answer, WIRED, routed=True), 0.002)
    cached = fa1.cached_advertisement(FA2_ADDR)
    assert cached is not None and cached.expires_at == pytest.approx(2.002)  # 2 x 1 s
    prrtsol = AgentSolicitation(
        extensions=(RouterDiscoveryLinkLayerAddress(value=SolicitedIpv4Address(FA2_ADDR)),)
    )
    packet = ReceivedPacket(
        interface=ACCESS,
        source=HOME,
        destination=FA1_ADDR,
        protocol=PROTO_ICMP,
        payload=prrtsol.encode(),
        ttl=1,
        link_source=MN_MAC,
    )
    assert sends(fa1.receive(packet, 1.5), "proxy_router_advertisement")
    late = fa1.receive(packet, 2.5)
    assert not sends(late, "proxy_router_advertisement")
    assert "inter-fa-cache-miss" in events(late) and sends(late, "inter_fa_solicitation")


def test_prrtadv_while_a_standard_registration_is_pending_is_deferred() -> None:
    """§3.6: not PRE and standard registrations in parallel; without a valid registration
    with the advertising FA the normal procedure has priority."""
    net = pre_net()
    net.wire.run(0.0015)  # the MN heard FA1 and sent its request; no reply yet
    assert net.mn.snapshot(net.wire.now)["pending"] is not None
    adv = AgentAdvertisement(
        lifetime=3,
        router_addresses=(),
        extensions=(
            *net.fa2.advertiser.build().extensions,
            RouterDiscoveryLinkLayerAddress(value=EthernetMac(FA2_MAC)),
        ),
    )
    packet = ReceivedPacket(
        interface="radio0",
        source=FA2_ADDR,
        destination=HOME,
        protocol=PROTO_ICMP,
        payload=adv.encode(),
        ttl=1,
        link_source=FA1_MAC,
    )
    out = net.wire.deliver("mn", packet)
    assert "pre-registration-deferred" in events(out)
    assert not sends(out, "registration_request")
    # Once the standard registration is accepted, the deferred PrRtAdv is acted upon.
    net.wire.run(0.1)
    assert net.wire.events("mn", "registration-accepted")
    [low_latency] = [
        a
        for a in net.wire.of("mn", SendPacket)
        if a.message == "registration_request" and a.destination == FA2_ADDR
    ]
    assert low_latency.link_destination == FA1_MAC


def test_in_a_plain_network_the_mn_uses_standard_movement_detection() -> None:
    """§3.6: once PrRtSols go unanswered the network is plain: an advertisement from another
    FA starts no registration while the current FA is heard on an unchanged link; after an
    L2-LU it does (and a PrRtAdv would bring PRE-REGISTRATION back)."""
    net = pre_net(fa1_pre=False)
    t0 = registered(net)
    net.wire.trigger("mn", MobileTrigger(new_fa=FaIdentifier(address=FA2_ADDR)))
    net.wire.run(t0 + 9.0)
    assert net.mn.snapshot(net.wire.now)["pre_registration"]["pre_network"] is False
    advert = ReceivedPacket(
        interface="radio0",
        source=FA2_ADDR,
        destination=IPv4Address("224.0.0.1"),
        protocol=PROTO_ICMP,
        payload=net.fa2.advertiser.build().encode(),
        ttl=1,
        link_source=FA2_MAC,
    )
    out = net.wire.deliver("mn", advert)
    assert not sends(out, "registration_request")
    assert net.mn.registration is not None and net.mn.registration.agent == FA1_ADDR
    net.wire.trigger("mn", LinkUp(interface="radio0", fa=FaIdentifier(address=FA2_ADDR)))
    out = net.wire.deliver("mn", advert)
    [request] = sends(out, "registration_request")
    assert request.destination == FA2_ADDR and request.link_destination == FA2_MAC


# ---------------------------------------------------------------------------- bad input


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(max_size=120),
    protocol=st.sampled_from([PROTO_ESP, PROTO_ICMP]),
    interface=st.sampled_from([WIRED, ACCESS]),
    source=st.sampled_from([FA2_ADDR, HOME, IPv4Address("198.51.100.9")]),
)
def test_random_esp_and_icmp_never_raise_and_change_no_state(
    payload: bytes, protocol: int, interface: str, source: IPv4Address
) -> None:
    """Agents never raise on network input (design.md): random ESP and ICMP at a PRE FA are
    counted drops (or ordinary answers), and never touch the cache or the visitor list."""
    fa1 = fa(1)
    before = fa1.snapshot(1.0)
    packet = ReceivedPacket(
        interface=interface,
        source=source,
        destination=FA1_ADDR,
        protocol=protocol,
        payload=payload,
        ttl=64,
        link_source=MN_MAC,
    )
    out = fa1.receive(packet, 1.0)
    after = fa1.snapshot(1.0)
    assert after["visitors"] == before["visitors"] and after["pending"] == before["pending"]
    assert fa1.cached_advertisement(FA2_ADDR) is None
    dropped = [a for a in out if isinstance(a, Dropped)]
    assert sum(fa1.drops.values()) == len(dropped)


@settings(max_examples=200, deadline=None)
@given(
    flip=st.integers(min_value=0, max_value=10_000), value=st.integers(min_value=1, max_value=255)
)
def test_mutated_inter_fa_esp_is_refused(flip: int, value: int) -> None:
    """Any change to an authenticated inter-FA message is refused and counted."""
    fa1, fa2 = fa(1), fa(2)
    [solicit] = sends(fa1.start(0.0), "inter_fa_solicitation")
    data = bytearray(solicit.payload)
    data[flip % len(data)] ^= value
    out = fa2.receive(
        dataclasses.replace(received(solicit, WIRED, routed=True), payload=bytes(data)), 0.1
    )
    assert not sends(out)
    assert len(drops(out)) == 1 and sum(fa2.drops.values()) == 1


# ---------------------------------------------------------------------------- RFC 4721


MN_FA_SA = sa(0x200, b"mn-fa-shared-key")


def challenged_fa(index: int, *, mn_fa: bool = True, **overrides: Any) -> ForeignAgent:
    config = fa_config(
        index,
        pre_registration=pre(index, use_challenge=True, **overrides),
        mn_fa={HOME: MN_FA_SA} if mn_fa else {},
    )
    return ForeignAgent(config, random=random.Random(index))


def challenged_request(
    challenge: bytes | None, identification: int, mn_fa: SecurityAssociation = MN_FA_SA
) -> ReceivedPacket:
    packet = low_latency_request(identification=identification)
    message = decode_control_message(packet.payload)
    assert isinstance(message, RegistrationRequest)
    if challenge is not None:
        message = dataclasses.replace(
            message, extensions=(*message.extensions, MnFaChallenge(challenge=challenge))
        )
    message = seal_with(message, MobileForeignAuthentication, mn_fa)
    return dataclasses.replace(packet, payload=message.encode())


def reply_code(out: list[Action]) -> int | None:
    for send in sends(out, "registration_reply"):
        reply = decode_control_message(send.payload)
        return int(reply.code)  # type: ignore[union-attr]
    return None


def test_challenges_in_pre_registration() -> None:
    """RFC 4721 with §3.5: the nFA's advertisements carry challenges, one window for its own
    link and one per neighbour; a request needs one of them (105 missing, 104 unknown), a
    challenge is used once (106 stale), and MN-FA authentication must cover it."""
    fa1, fa2 = fa(1), challenged_fa(2)
    [solicit] = sends(fa1.start(0.0), "inter_fa_solicitation")
    [answer] = sends(fa2.receive(received(solicit, WIRED, routed=True), 0.001))
    advertisement = decode_icmp(open_esp(answer, esp_sa(2, 1)))
    assert isinstance(advertisement, AgentAdvertisement)
    cached = advertisement.challenge
    assert cached is not None and len(cached) == 4
    # Periodic advertisements on the nFA's own link use another window: the cached
    # challenge stays valid however many of them go out.
    for k in range(5):
        fa2.timer_expired(("advertise",), 1.0 + k)
    out = fa2.receive(challenged_request(None, 1 << 32), 6.0)
    assert reply_code(out) == 105
    out = fa2.receive(challenged_request(b"\x00\x00\x00\x01", 2 << 32), 6.1)
    assert drops(out) == [DropReason.RATE_LIMITED] and reply_code(out) is None  # 1 denial/s
    out = fa2.receive(challenged_request(b"\x00\x00\x00\x01", 3 << 32), 7.2)
    assert reply_code(out) == 104
    out = fa2.receive(challenged_request(cached, 4 << 32), 8.3)
    assert "low-latency-request" in events(out) and sends(out, "registration_request")
    # The same challenge again, once nothing is pending: stale.
    fa2.timer_expired(("pending", HOME), 20.0)
    out = fa2.receive(challenged_request(cached, 5 << 32), 21.0)
    assert reply_code(out) == 106
    # Without an MN-FA SA nothing can authenticate a challenge: silently discarded.
    bare = challenged_fa(2, mn_fa=False)
    out = bare.receive(challenged_request(cached, 6 << 32), 0.0)
    assert drops(out) == [DropReason.MISSING_AUTHENTICATION] and not sends(out)


def test_a_forged_challenged_request_gets_no_sealed_challenge_denial() -> None:
    """MN-FA authentication comes before the RFC 4721 checks: a request sealed with the wrong
    key gets only the unsealed 67 (never a sealed 104-106 vouching for forged fields), and
    leaves nothing pending."""
    fa2 = challenged_fa(2)
    forged_sa = sa(0x200, b"not-the-mn-fa-key")
    for now, identification, challenge in (
        (1.0, 1 << 32, None),
        (3.0, 2 << 32, b"\x00\x00\x00\x01"),
    ):
        out = fa2.receive(challenged_request(challenge, identification, forged_sa), now)
        assert DropReason.BAD_AUTHENTICATOR in drops(out)
        assert reply_code(out) in (67, None)  # 67, or rate-limited
        for send in sends(out, "registration_reply"):
            reply = decode_control_message(send.payload)
            assert not reply.extensions  # unsealed
        assert not sends(out, "registration_request")
    assert fa2.visitor(HOME) is None


def test_the_cached_challenge_lasts_challenge_window_solicitations() -> None:
    """§3.5: the challenge the oFA caches is valid for CHALLENGE_WINDOW of its solicitations:
    with MIN_SOLICITATION_INTERVAL = 0.5 x CHALLENGE_WINDOW x the advertisement interval it
    is still valid when the MN uses the cache (at most CHALLENGE_WINDOW intervals old)."""
    fa1, fa2 = fa(1), challenged_fa(2)
    challenges = []
    for k, solicit in enumerate(
        [sends(fa1.start(0.0), "inter_fa_solicitation")[0]]
        + [
            sends(fa1.timer_expired((PRE_SOLICIT_TIMER, FA2_ADDR), t), "inter_fa_solicitation")[0]
            for t in (1.0, 2.0)
        ]
    ):
        [answer] = sends(fa2.receive(received(solicit, WIRED, routed=True), k + 0.001))
        advertisement = decode_icmp(open_esp(answer, esp_sa(2, 1)))
        assert isinstance(advertisement, AgentAdvertisement) and advertisement.challenge
        challenges.append(advertisement.challenge)
    out = fa2.receive(challenged_request(challenges[0], 1 << 32), 2.5)  # 3 solicitations ago
    assert reply_code(out) == 104
    out = fa2.receive(challenged_request(challenges[1], 2 << 32), 3.6)  # within the window
    assert sends(out, "registration_request")


def test_inbound_esp_spis_must_be_unique() -> None:
    twin = dataclasses.replace(neighbour(1, 2), address=IPv4Address("198.19.3.1"))
    with pytest.raises(LocalUsageError, match="SPIs must be unique"):
        PreRegistrationConfig(neighbours=(neighbour(1, 2), twin))
