"""Registration through an FA: MN, FA and HA objects wired by hand (RFC 5944 §3)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from ipaddress import IPv4Address

from mip4.core.actions import (
    DropReason,
    RemoveVisitor,
    SendPacket,
    SetDefaultRouter,
    SetMobilityBinding,
    SetUplink,
    SetVisitor,
    TunnelMode,
    UplinkMode,
)
from mip4.core.config import AdvertisementConfig
from mip4.core.foreign_agent import ForeignAgent
from mip4.core.mobile_node import MobileNode
from mip4.core.packets import ReceivedPacket
from mip4.core.security import NTP_UNIX_OFFSET, ReplayProtection
from mip4.wire.extensions import MobileHomeAuthentication
from mip4.wire.registration import RegistrationReply, RegistrationRequest, ReplyCode
from tests.core.harness import Wire
from tests.core.topology import (
    FA1_ADDR,
    FA1_MAC,
    FA2_ADDR,
    HA_ADDR,
    HOME,
    MN_MAC,
    build,
    fa_config,
    ha_config,
    mn_config,
    sa,
)

RRQ_PATH = [
    ("mn", "fa1", "registration_request"),
    ("fa1", "ha", "registration_request"),
    ("ha", "fa1", "registration_reply"),
    ("fa1", "mn", "registration_reply"),
]


def control(wire: Wire, name: str) -> list[SendPacket]:
    return [a for a in wire.of(name, SendPacket) if not a.is_icmp]


def test_full_exchange_in_rfc_order_installs_binding_visitor_and_router() -> None:
    net = build()
    net.wire.run(3.0)
    assert net.wire.messages() == RRQ_PATH
    now = net.wire.now
    # HA: one binding to FA1's care-of address, tunnelled from the HA's address.
    (binding,) = net.wire.of("ha", SetMobilityBinding)
    assert binding == SetMobilityBinding(
        home_address=HOME,
        care_of_addresses=(FA1_ADDR,),
        tunnel_source=HA_ADDR,
        mode=TunnelMode.IP_IN_IP,
    )
    # FA: deliver to the MN's MAC from the request frame; reverse tunnel to the HA.
    assert net.wire.of("fa1", SetVisitor) == [
        SetVisitor(home_address=HOME, interface="access0", link_address=MN_MAC)
    ]
    assert net.wire.of("fa1", SetUplink) == [
        SetUplink(
            home_address=HOME,
            mode=UplinkMode.REVERSE_TUNNEL,
            tunnel_source=FA1_ADDR,
            tunnel_destination=HA_ADDR,
        )
    ]
    # MN: default router = FA1 at the MAC of its advertisement.
    assert net.wire.of("mn", SetDefaultRouter) == [
        SetDefaultRouter(router=FA1_ADDR, interface="radio0", link_address=FA1_MAC)
    ]
    (accepted,) = net.wire.events("mn", "registration-accepted")
    assert accepted.fields["lifetime"] == 600
    reg = net.mn.snapshot(now)["registration"]
    assert isinstance(reg, dict) and reg["care_of_address"] == str(FA1_ADDR)
    assert str(HOME) in net.fa1.snapshot(now)["visitors"]  # type: ignore[operator]
    assert net.fa1.snapshot(now)["pending"] == {}
    assert net.ha.bindings(HOME)[0].care_of_address == FA1_ADDR
    for agent in (net.mn, net.fa1, net.ha):
        assert sum(agent.drops.values()) == 0


def test_ip_and_udp_framing_of_each_hop() -> None:
    net = build()
    net.wire.run(3.0)
    (rrq,) = control(net.wire, "mn")
    # RFC 5944 §3.6.1.1: home address -> FA address, L2 dst = the advertisement's source;
    # RFC 3024 §4.1.1: TTL 255 with the T bit.
    assert (rrq.source, rrq.destination, rrq.ttl) == (HOME, FA1_ADDR, 255)
    assert (rrq.destination_port, rrq.link_destination) == (434, FA1_MAC)
    relayed, reply_to_mn = control(net.wire, "fa1")
    # §3.7.2.2: from the care-of address to the Home Agent field, port 434.
    assert (relayed.source, relayed.destination, relayed.destination_port) == (
        FA1_ADDR,
        HA_ADDR,
        434,
    )
    (reply,) = control(net.wire, "ha")
    # §3.8.3.1: back to the request's source address and port, from 434.
    assert (reply.source, reply.destination, reply.source_port, reply.destination_port) == (
        HA_ADDR,
        FA1_ADDR,
        434,
        relayed.source_port,
    )
    # §3.7.2.3: to the home address and the MN's MAC, UDP 434 -> the request's port.
    assert (reply_to_mn.destination, reply_to_mn.link_destination) == (HOME, MN_MAC)
    assert (reply_to_mn.source_port, reply_to_mn.destination_port) == (434, rrq.source_port)
    request = RegistrationRequest.decode(rrq.payload)
    assert request.flags == request.flags.T
    assert (request.lifetime, request.care_of_address, request.home_agent) == (
        600,
        FA1_ADDR,
        HA_ADDR,
    )
    assert [type(e) for e in request.extensions] == [MobileHomeAuthentication]
    ha_reply = RegistrationReply.decode(reply.payload)
    assert ha_reply.code == 0 and ha_reply.identification == request.identification


class FixedBits:
    """A random source whose every draw is ``value`` (masked to the bits asked)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def getrandbits(self, k: int, /) -> int:
        return self.value & ((1 << k) - 1)


def test_sealed_request_bytes_match_the_digest_vector() -> None:
    """Digest §10 vector A, built by the MN: T bit, lifetime 1800, HoA 10.0.0.10, HA
    10.0.0.1, CoA 192.0.2.1, Identification e8a1b2c3 00000001, MN-HA SPI 0x100."""
    fa_address = IPv4Address("192.0.2.1")
    wall = 0xE8A1B2C3 - NTP_UNIX_OFFSET  # whole seconds; the last fraction bit is "random"
    mn = MobileNode(
        mn_config(
            home_address=IPv4Address("10.0.0.10"),
            home_agent=IPv4Address("10.0.0.1"),
            mn_ha=sa(0x100, b"0123456789abcdef"),
            registration_lifetime=1800,
            clock_offset=float(wall) - 5.0,
            timestamp_random_bits=1,
        ),
        random=FixedBits(1),
    )
    fa = ForeignAgent(
        fa_config(1, address=fa_address, advertisement=AdvertisementConfig()),
        random=FixedBits(0),
    )
    (advert, _) = fa.start(0.0)
    assert isinstance(advert, SendPacket)
    out = mn.receive(
        ReceivedPacket(
            interface="radio0",
            source=fa_address,
            destination=advert.destination,
            protocol=1,
            payload=advert.payload,
            ttl=1,
            link_source=FA1_MAC,
        ),
        5.0,
    )
    (rrq,) = [a for a in out if isinstance(a, SendPacket)]
    expected = bytes.fromhex(
        "01 02 07 08 0a 00 00 0a 0a 00 00 01 c0 00 02 01 e8 a1 b2 c3 00 00 00 01"
        "20 14 00 00 01 00 63 b0 b0 6d dd 21 3e 28 b0 bc ae ea 77 11 15 33"
    )
    assert rrq.payload == expected
    # ... and the authenticator is HMAC-MD5 over the fixed part and the extension header.
    mac = hmac.new(b"0123456789abcdef", expected[:30], hashlib.md5).digest()
    assert expected[30:] == mac


def test_lost_replies_are_recovered_by_retransmission_with_backoff() -> None:
    net = build()
    lost = []

    def lose(sender: str, send: SendPacket) -> bool:
        if sender == "ha" and send.message == "registration_reply" and len(lost) < 2:
            lost.append(net.wire.now)
            return True
        return False

    net.wire.lose = lose
    net.wire.run(10.0)
    requests = [
        s
        for t, n, s in net.wire.actions
        if n == "mn" and isinstance(s, SendPacket) and s.message == "registration_request"
    ]
    times = [
        t
        for t, n, s in net.wire.actions
        if n == "mn" and isinstance(s, SendPacket) and s.message == "registration_request"
    ]
    # RFC 5944 §3.6.3: >= 1 s, each interval at least double the previous.
    assert len(requests) == 3
    assert [round(b - a, 6) for a, b in itertools.pairwise(times)] == [1.0, 2.0]
    # Timestamps: every retransmission is a new request with a larger Identification.
    idents = [RegistrationRequest.decode(s.payload).identification for s in requests]
    assert idents == sorted(idents) and len(set(idents)) == 3
    assert len(net.wire.events("mn", "registration-accepted")) == 1
    assert net.mn.registration is not None
    assert [b.care_of_address for b in net.ha.bindings(HOME)] == [FA1_ADDR]
    assert len(net.wire.events("mn", "registration-retransmitted")) == 2


def test_nonce_retransmission_resends_the_same_bytes_and_the_ha_does_not_extend() -> None:
    nonce = sa(0x100, b"mn-ha-shared-key", ReplayProtection.NONCE)
    net = build(mn=mn_config(mn_ha=nonce), ha=ha_config(mn_ha={HOME: nonce}))
    dropped: list[float] = []

    def lose(sender: str, send: SendPacket) -> bool:
        # lose the reply to the second request (the first gets 133: no HA nonce yet)
        if sender == "ha" and send.message == "registration_reply":
            reply = RegistrationReply.decode(send.payload)
            if reply.code == 0 and not dropped:
                dropped.append(net.wire.now)
                return True
        return False

    net.wire.lose = lose
    net.wire.run(10.0)
    requests = [RegistrationRequest.decode(s.payload) for s in control(net.wire, "mn")]
    # first: unknown nonce -> 133 with a nonce; second: accepted but reply lost; third: the
    # same bytes (RFC 5944 §3.6.3), answered as a duplicate without extending the lifetime.
    assert len(requests) == 3
    assert requests[2] == requests[1]
    replies = [RegistrationReply.decode(s.payload) for s in control(net.wire, "ha")]
    assert [r.code for r in replies] == [133, 0, 0]
    assert replies[1].identification == replies[2].identification
    assert replies[2].lifetime < replies[1].lifetime
    assert net.wire.events("ha", "duplicate-request")
    assert net.mn.registration is not None
    assert net.mn.registration.lifetime == replies[2].lifetime


def test_ha_rejects_a_bad_authenticator_with_131_and_no_binding() -> None:
    net = build(mn=mn_config(mn_ha=sa(0x100, b"not-the-ha-key!!")))
    net.wire.run(3.0)
    # The MN retransmits (it cannot authenticate the 131 reply): 0 s, 1 s, 3 s.
    codes = {RegistrationReply.decode(s.payload).code for s in control(net.wire, "ha")}
    assert codes == {ReplyCode.HA_MN_FAILED_AUTHENTICATION}
    assert net.ha.bindings(HOME) == ()
    assert net.wire.of("ha", SetMobilityBinding) == []
    assert net.ha.drops[DropReason.BAD_AUTHENTICATOR] == len(control(net.wire, "ha"))
    # The FA relays the denial and installs nothing; the MN cannot authenticate it (its
    # key is wrong) and silently drops it.
    assert net.wire.of("fa1", SetVisitor) == []
    assert net.mn.drops[DropReason.BAD_AUTHENTICATOR] >= 1
    assert net.mn.registration is None


def test_replayed_request_gets_133_with_the_ha_time_and_changes_nothing() -> None:
    net = build(ha=ha_config(clock_offset=0.0))
    net.wire.run(3.0)
    relayed = next(s for s in control(net.wire, "fa1") if s.message == "registration_request")
    before = net.ha.bindings(HOME)
    accepted_before = dict(net.ha._replay.last_accepted)
    net.wire.run(20.0)
    assert net.ha.bindings(HOME) == before  # (the MN has not re-registered yet)
    out = net.wire.deliver(
        "ha",
        ReceivedPacket(
            interface="home0",
            source=FA1_ADDR,
            destination=HA_ADDR,
            protocol=17,
            payload=relayed.payload,
            source_port=434,
            destination_port=434,
        ),
    )
    sends = [a for a in out if isinstance(a, SendPacket)]
    (reply_send,) = sends
    reply = RegistrationReply.decode(reply_send.payload)
    request = RegistrationRequest.decode(relayed.payload)
    assert reply.code == ReplyCode.HA_IDENTIFICATION_MISMATCH
    # RFC 5944 §5.7.1: low 32 bits copied, high 32 bits = the HA's time of day.
    assert reply.identification & 0xFFFFFFFF == request.identification & 0xFFFFFFFF
    assert reply.identification >> 32 == int(net.wire.now) + NTP_UNIX_OFFSET
    assert not any(isinstance(a, SetMobilityBinding) for a in out)
    # The whole binding is untouched: care-of address, Identifications, lifetime, expiry.
    assert before and net.ha.bindings(HOME) == before
    assert net.ha._replay.last_accepted == accepted_before
    assert net.ha.drops[DropReason.REPLAYED] == 1


def test_mn_with_a_wrong_clock_resynchronises_on_133_and_succeeds() -> None:
    net = build(mn=mn_config(clock_offset=-100.0))
    net.wire.run(3.0)
    replies = [RegistrationReply.decode(s.payload) for s in control(net.wire, "ha")]
    assert [r.code for r in replies] == [133, 0]
    assert net.wire.events("mn", "identification-resynchronised")
    assert abs(net.mn.clock_offset) < 1.0
    assert net.mn.registration is not None
    assert net.ha.drops[DropReason.REPLAYED] == 1
    assert net.wire.messages() == RRQ_PATH * 2


def test_lifetime_is_min_of_requested_and_granted() -> None:
    net = build(ha=ha_config(max_lifetime=100))
    net.wire.run(3.0)
    assert net.mn.registration is not None and net.mn.registration.lifetime == 100
    visitor = net.fa1.visitor(HOME)
    assert visitor is not None and visitor.lifetime == 100


def test_mn_reregisters_before_the_lifetime_ends() -> None:
    net = build(mn=mn_config(registration_lifetime=20))
    net.wire.run(40.0)
    accepted = net.wire.events("mn", "registration-accepted")
    assert len(accepted) == 3  # at ~0, ~17 (0.85 x 20), ~34
    sends = [
        t
        for t, n, a in net.wire.actions
        if n == "mn" and isinstance(a, SendPacket) and a.message == "registration_request"
    ]
    assert [round(t, 3) for t in sends] == [0.001, 17.001, 34.001]
    assert net.ha.bindings(HOME)[0].expires_at is not None
    assert net.wire.drops("ha") == []


def test_lifetime_expiry_removes_binding_and_visitor() -> None:
    net = build(mn=mn_config(registration_lifetime=10))
    net.wire.run(2.0)
    net.move_to("nowhere")  # the MN can no longer re-register
    net.wire.run(30.0)
    ha_sets = net.wire.of("ha", SetMobilityBinding)
    assert ha_sets[-1] == SetMobilityBinding(
        home_address=HOME, care_of_addresses=(), tunnel_source=HA_ADDR
    )
    assert net.wire.events("ha", "binding-expired")
    assert net.wire.of("fa1", RemoveVisitor) == [RemoveVisitor(HOME)]
    assert net.fa1.visitor(HOME) is None and net.ha.bindings(HOME) == ()
    assert net.wire.events("mn", "registration-expired")
    # RFC 5944 §3.7, §3.8: nobody sends a reply because a lifetime expired.
    assert [m for m in net.wire.messages(since=3.0) if m[2] == "registration_reply"] == []


def test_simultaneous_bindings_bicast_to_both_care_of_addresses() -> None:
    net = build(mn=mn_config(simultaneous_bindings=True))
    net.wire.run(2.0)
    net.move_to("cell2")
    net.wire.run(5.0)
    last = net.wire.of("ha", SetMobilityBinding)[-1]
    assert last.care_of_addresses == (FA1_ADDR, FA2_ADDR)
    assert [b.care_of_address for b in net.ha.bindings(HOME)] == [FA1_ADDR, FA2_ADDR]


def test_s_bit_without_ha_support_replaces_bindings_with_code_1() -> None:
    net = build(mn=mn_config(simultaneous_bindings=True), ha=ha_config(simultaneous_bindings=False))
    net.wire.run(2.0)
    net.move_to("cell2")
    net.wire.run(5.0)
    codes = [RegistrationReply.decode(s.payload).code for s in control(net.wire, "ha")]
    assert codes == [1, 1]
    assert net.wire.of("ha", SetMobilityBinding)[-1].care_of_addresses == (FA2_ADDR,)


def test_deregistration_when_the_mn_returns_home() -> None:
    net = build(ha=ha_config(advertisement=AdvertisementConfig()))
    net.wire.run(2.5)
    assert net.ha.bindings(HOME)
    net.move_to("home")
    net.wire.run(5.0)
    (dereg,) = [
        RegistrationRequest.decode(s.payload)
        for s in control(net.wire, "mn")
        if RegistrationRequest.decode(s.payload).lifetime == 0
    ]
    # RFC 5944 §3.6.1.2: lifetime 0 and CoA = home address deregisters every binding.
    assert dereg.care_of_address == HOME
    assert net.ha.bindings(HOME) == ()
    assert net.wire.of("ha", SetMobilityBinding)[-1].care_of_addresses == ()
    assert net.wire.events("mn", "deregistered")
    assert net.mn.registration is None


def test_deregistration_of_one_care_of_address_keeps_the_others() -> None:
    net = build(mn=mn_config(simultaneous_bindings=True))
    net.wire.run(2.0)
    net.move_to("cell2")
    net.wire.run(4.0)
    key = net.mn.config.mn_ha
    request = RegistrationRequest(
        lifetime=0,
        home_address=HOME,
        home_agent=HA_ADDR,
        care_of_address=FA1_ADDR,
        identification=(int(net.wire.now) + NTP_UNIX_OFFSET + 1) << 32,
    )
    from mip4.core.registration import seal_with

    sealed = seal_with(request, MobileHomeAuthentication, key)
    out = net.wire.deliver(
        "ha",
        ReceivedPacket(
            interface="home0",
            source=FA2_ADDR,
            destination=HA_ADDR,
            protocol=17,
            payload=sealed.encode(),
            source_port=434,
            destination_port=434,
        ),
    )
    (program,) = [a for a in out if isinstance(a, SetMobilityBinding)]
    assert program.care_of_addresses == (FA2_ADDR,)


def test_reverse_tunnel_off_routes_the_uplink() -> None:
    net = build(mn=mn_config(reverse_tunnel=False))
    net.wire.run(3.0)
    assert net.wire.of("fa1", SetUplink) == [SetUplink(home_address=HOME, mode=UplinkMode.ROUTE)]
    (rrq,) = control(net.wire, "mn")
    assert rrq.ttl == 64 and not RegistrationRequest.decode(rrq.payload).flags


def test_gre_encapsulation_is_negotiated_end_to_end() -> None:
    net = build(mn=mn_config(encapsulation=TunnelMode.GRE))
    net.wire.run(3.0)
    (binding,) = net.wire.of("ha", SetMobilityBinding)
    assert binding.mode is TunnelMode.GRE
    (uplink,) = net.wire.of("fa1", SetUplink)
    assert uplink.tunnel_mode is TunnelMode.GRE


def test_minimal_encapsulation_refused_by_an_fa_without_it_is_not_requested() -> None:
    # RFC 5944 §3.6.1.2: M only if the FA advertised it; otherwise IP-in-IP.
    fa1 = fa_config(1, encapsulations=frozenset({TunnelMode.IP_IN_IP}))
    net = build(mn=mn_config(encapsulation=TunnelMode.MINIMAL), fa1=fa1)
    net.wire.run(3.0)
    (binding,) = net.wire.of("ha", SetMobilityBinding)
    assert binding.mode is TunnelMode.IP_IN_IP


def test_encapsulating_delivery_style_is_consumed_by_the_fa() -> None:
    net = build(mn=mn_config(encapsulating_delivery=True))
    net.wire.run(3.0)
    rrq = RegistrationRequest.decode(control(net.wire, "mn")[0].payload)
    relayed = RegistrationRequest.decode(control(net.wire, "fa1")[0].payload)
    assert [type(e).__name__ for e in rrq.extensions] == [
        "MobileHomeAuthentication",
        "EncapsulatingDeliveryStyle",
    ]
    assert [type(e).__name__ for e in relayed.extensions] == ["MobileHomeAuthentication"]
    visitor = net.fa1.visitor(HOME)
    assert visitor is not None and visitor.encapsulating_delivery


def test_mn_fa_and_fa_ha_authentication_when_configured() -> None:
    mn_fa = {FA1_ADDR: sa(0x200, b"mn-fa-shared-key")}
    fa_ha = sa(0x500, b"fa-ha-shared-key")
    net = build(
        mn=mn_config(mn_fa=mn_fa),
        fa1=fa_config(1, mn_fa={HOME: sa(0x200, b"mn-fa-shared-key")}, fa_ha={HA_ADDR: fa_ha}),
        ha=ha_config(fa_ha={FA1_ADDR: fa_ha}),
    )
    net.wire.run(3.0)
    assert net.wire.messages() == RRQ_PATH
    rrq = RegistrationRequest.decode(control(net.wire, "mn")[0].payload)
    relayed = RegistrationRequest.decode(control(net.wire, "fa1")[0].payload)
    reply = RegistrationReply.decode(control(net.wire, "ha")[0].payload)
    to_mn = RegistrationReply.decode(control(net.wire, "fa1")[1].payload)
    names = lambda m: [type(e).__name__ for e in m.extensions]  # noqa: E731
    assert names(rrq) == ["MobileHomeAuthentication", "MobileForeignAuthentication"]
    assert names(relayed) == ["MobileHomeAuthentication", "ForeignHomeAuthentication"]
    assert names(reply) == ["MobileHomeAuthentication", "ForeignHomeAuthentication"]
    assert names(to_mn) == ["MobileHomeAuthentication", "MobileForeignAuthentication"]
    assert net.mn.registration is not None


def test_ha_requires_fa_ha_when_it_shares_an_sa_with_the_fa() -> None:
    fa_ha = sa(0x500, b"fa-ha-shared-key")
    net = build(ha=ha_config(fa_ha={FA1_ADDR: fa_ha}))  # the FA does not add it
    net.wire.run(3.0)
    reply = RegistrationReply.decode(control(net.wire, "ha")[0].payload)
    assert reply.code == ReplyCode.HA_FA_FAILED_AUTHENTICATION
    assert net.ha.bindings(HOME) == ()


def test_fa_rejects_a_reply_with_a_bad_fa_ha_authenticator_with_68() -> None:
    net = build(
        fa1=fa_config(1, fa_ha={HA_ADDR: sa(0x500, b"fa-side-key-xxxx")}),
        ha=ha_config(fa_ha={FA1_ADDR: sa(0x500, b"ha-side-key-yyyy")}),
    )
    net.wire.run(1.5)
    sent = control(net.wire, "fa1")
    codes = [RegistrationReply.decode(s.payload).code for s in sent if s.payload[0] == 3]
    assert ReplyCode.FA_HA_FAILED_AUTHENTICATION in codes
    assert net.fa1.visitor(HOME) is None
    # 68 may come from a forged reply: the MN keeps its request pending and retransmits it
    # (mn_state._TRANSIENT), so the FA relays it to the HA again.
    assert sum(1 for s in sent if s.payload[0] == 1) >= 2
    assert net.fa1.drops[DropReason.BAD_AUTHENTICATOR] >= 1


def test_request_to_the_home_subnet_broadcast_gets_136_with_the_ha_address() -> None:
    net = build()
    key = net.mn.config.mn_ha
    request = RegistrationRequest(
        lifetime=100,
        home_address=HOME,
        home_agent=IPv4Address("198.18.0.255"),
        care_of_address=FA1_ADDR,
        identification=(NTP_UNIX_OFFSET + 1) << 32,
    )
    from mip4.core.registration import seal_with

    out = net.wire.deliver(
        "ha",
        ReceivedPacket(
            interface="home0",
            source=FA1_ADDR,
            destination=IPv4Address("198.18.0.255"),
            protocol=17,
            payload=seal_with(request, MobileHomeAuthentication, key).encode(),
            source_port=434,
            destination_port=434,
        ),
    )
    (send,) = [a for a in out if isinstance(a, SendPacket)]
    reply = RegistrationReply.decode(send.payload)
    # RFC 5944 §3.8.2.1, §3.8.3.1: 136, the HA's unicast address in the field and as source.
    assert (reply.code, reply.home_agent, send.source) == (136, HA_ADDR, HA_ADDR)
    assert net.ha.bindings(HOME) == ()
