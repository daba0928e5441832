"""POST-REGISTRATION two-party handoffs in the agents (RFC 4881 §4.1, §4.4-4.6), hand-wired.

Figures 7 and 8 message by message: every field and flag of HRqst/HRply, lifetime
negotiation, the BET (forward tunnel on L2-LD, delivery, uplink and proxy ARP on L2-LU), the
MN's deferred registration, and FA-FA authentication (unauthenticated, forged, replayed and
unknown-FA messages change nothing).
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address
from typing import Any

import pytest

from mip4.core.actions import (
    Action,
    AnnounceProxyArp,
    DropReason,
    SendPacket,
    SetDefaultRouter,
    SetForwardTunnel,
    SetProxyArp,
    SetUplink,
    SetVisitor,
    UplinkMode,
)
from mip4.core.config import PostRegistrationConfig
from mip4.core.packets import ReceivedPacket
from mip4.core.post_registration import TRANSITIONS, Phase
from mip4.core.security import ntp_timestamp
from mip4.core.triggers import (
    FaIdentifier,
    LinkDown,
    LinkUp,
    MnIdentifier,
    SourceTrigger,
    TargetTrigger,
)
from mip4.errors import LocalUsageError
from mip4.wire.auth import seal
from mip4.wire.extensions import (
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    LinkLayerAddress,
)
from mip4.wire.handoff import HandoffFlags, HandoffReply, HandoffRequest
from mip4.wire.ip import PROTO_UDP
from mip4.wire.lla import EthernetMac, FaIpv4Address, SolicitedIpv4Address
from mip4.wire.messages import MOBILE_IP_PORT, decode_control_message
from tests.core.harness import Delivery
from tests.core.topology import (
    FA1_ADDR,
    FA2_ADDR,
    HA_ADDR,
    HOME,
    MN_MAC,
    Net,
    build,
    fa_config,
    mn_config,
    sa,
)

FA_FA_KEY = b"fa-fa-shared-key"
FA_FA_SPI = 0x500
ACCESS = "access0"
MN_ID = MnIdentifier(link_address=MN_MAC, home_address=HOME)


def post(**overrides: Any) -> PostRegistrationConfig:
    values: dict[str, Any] = {"neighbours": {}}
    values.update(overrides)
    return PostRegistrationConfig(**values)


def post_net(
    fa1: dict[str, Any] | None = None, fa2: dict[str, Any] | None = None, **mn: Any
) -> Net:
    shared = sa(FA_FA_SPI, FA_FA_KEY)
    return build(
        fa1=fa_config(1, post_registration=post(neighbours={FA2_ADDR: shared}, **(fa1 or {}))),
        fa2=fa_config(2, post_registration=post(neighbours={FA1_ADDR: shared}, **(fa2 or {}))),
        mn=mn_config(deferred_registration=True, **mn),
    )


def registered(net: Net) -> float:
    """Run until the MN is registered through FA1; L2-LU for it at FA1."""
    net.wire.trigger("fa1", LinkUp(interface=ACCESS, mn=MN_ID))
    net.wire.run(0.5)
    assert net.mn.registration is not None and net.mn.registration.agent == FA1_ADDR
    return net.wire.now


def handoffs(net: Net, since: float = 0.0) -> list[Delivery]:
    return [
        d
        for d in net.wire.deliveries
        if d.time >= since and d.message.startswith(("handoff", "icmp"))
    ]


def move(net: Net) -> None:
    """L2-LD at MN and FA1, the MN's radio to cell2, then L2-LU at MN and FA2 (100 ms)."""
    wire = net.wire
    wire.trigger("mn", LinkDown(interface="radio0"))
    wire.trigger("fa1", LinkDown(interface=ACCESS, mn=MN_ID))
    net.move_to("cell2")
    wire.run(wire.now + 0.1)
    wire.trigger("mn", LinkUp(interface="radio0", fa=FaIdentifier(address=FA2_ADDR)))
    wire.trigger("fa2", LinkUp(interface=ACCESS, mn=MN_ID))


def source_trigger(net: Net) -> None:
    net.wire.trigger("fa1", SourceTrigger(mn=MN_ID, new_fa=FaIdentifier(address=FA2_ADDR)))


def deferred_handoff(net: Net) -> float:
    """Registered through FA1, L2-ST, the BET agreed, then the move to FA2: the MN defers its
    registration (§4.4). Returns the time of its L2-LU."""
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    move(net)
    return net.wire.now


def target_trigger(net: Net) -> None:
    net.wire.trigger("fa2", TargetTrigger(mn=MN_ID, old_fa=FaIdentifier(address=FA1_ADDR)))


def auth_of(message: HandoffRequest | HandoffReply) -> GeneralizedAuthentication:
    last = message.extensions[-1]
    assert isinstance(last, GeneralizedAuthentication)
    return last


def announcement(net: Net, since: float) -> AnnounceProxyArp:
    """The one proxy ARP Reply FA2 sent since ``since``."""
    (sent,) = [a for a in data_plane(net, "fa2", since) if isinstance(a, AnnounceProxyArp)]
    return sent


def data_plane(net: Net, name: str, since: float) -> list[Action]:
    kinds = (
        SetForwardTunnel,
        SetVisitor,
        SetUplink,
        SetProxyArp,
        AnnounceProxyArp,
        SetDefaultRouter,
    )
    return [a for t, n, a in net.wire.actions if n == name and t >= since and isinstance(a, kinds)]


# ---------------------------------------------------------------------------- Figure 7


def test_source_triggered_two_party_handoff_follows_figure_7() -> None:
    net = post_net()
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    messages = [(d.sender, d.receiver, d.message) for d in handoffs(net, t0)]
    assert messages == [
        ("fa1", "fa2", "handoff_request_s"),
        ("fa2", "fa1", "handoff_reply_s"),
    ]
    request, reply = (d.decoded() for d in handoffs(net, t0))
    # §4.1 step 2a, §4.5: H, T (both directions offered), B (the MN's reverse tunnel, §7)
    assert isinstance(request, HandoffRequest) and request.variant.value == "s"
    assert request.flags == HandoffFlags.H | HandoffFlags.T | HandoffFlags.B
    assert request.lifetime == 60
    assert request.mn_home_address == HOME and request.ha_address == HA_ADDR
    lla, fa_lla = request.extensions[0], request.extensions[1]
    assert isinstance(lla, LinkLayerAddress) and lla.value == EthernetMac(MN_MAC)
    assert isinstance(fa_lla, LinkLayerAddress) and fa_lla.value == FaIpv4Address(FA1_ADDR)
    assert auth_of(request).subtype == GeneralizedAuthSubtype.FA_FA
    assert auth_of(request).spi == FA_FA_SPI
    # §4.1 step 3b, §4.6: H, T (the nFA asks for the reverse tunnel), lifetime <= offer
    assert isinstance(reply, HandoffReply) and reply.variant.value == "s"
    assert reply.flags == HandoffFlags.H | HandoffFlags.T
    assert reply.code == 0 and reply.lifetime == 60
    assert reply.identification == request.identification
    assert auth_of(reply).spi == FA_FA_SPI
    assert net.fa1.bet(HOME) is not None and net.fa1.bet(HOME).phase is Phase.ANCHOR_AGREED
    assert net.fa2.bet(HOME) is not None and net.fa2.bet(HOME).phase is Phase.SERVING_AGREED
    # Nothing installed before L2-LD / L2-LU (§4.1 step 4).
    assert data_plane(net, "fa1", t0) == [] and data_plane(net, "fa2", t0) == []

    t1 = net.wire.now
    move(net)
    # §4.1 step 4a: the forward tunnel from L2-LD at the oFA.
    assert data_plane(net, "fa1", t1) == [
        SetForwardTunnel(home_address=HOME, peer=FA2_ADDR, tunnel_source=FA1_ADDR)
    ]
    # §4.1 step 4b: delivery, the reverse tunnel to the oFA, the proxy ARP for the oFA.
    assert data_plane(net, "fa2", t1) == [
        SetVisitor(home_address=HOME, interface=ACCESS, link_address=MN_MAC),
        SetUplink(
            home_address=HOME,
            mode=UplinkMode.REVERSE_TUNNEL,
            tunnel_source=FA2_ADDR,
            tunnel_destination=FA1_ADDR,
        ),
        SetProxyArp(address=FA1_ADDR, interface=ACCESS, enabled=True),
        # §4.1 step 4b: the unicast proxy ARP Reply on behalf of the oFA, to the MN's MAC.
        AnnounceProxyArp(
            address=FA1_ADDR,
            interface=ACCESS,
            link_source=net.fa2.config.mac,
            link_destination=MN_MAC,
            mobile_node=HOME,
        ),
    ]
    arp = announcement(net, t1).arp_packet()
    assert (arp.operation, arp.sender_address, arp.sender_mac) == (2, FA1_ADDR, net.fa2.config.mac)
    assert (arp.target_address, arp.target_mac) == (FA1_ADDR, net.fa2.config.mac)
    # §4.4: the MN defers: it keeps the oFA as router and its ARP entry for it (no MAC
    # restated: the nFA's reply updates the entry), and sends nothing on L2-LU.
    assert SetDefaultRouter(router=FA1_ADDR, interface="radio0") in data_plane(net, "mn", t1)
    assert net.mn.deferring
    lu = net.wire.now
    net.wire.run(lu + 0.001)
    assert [d for d in net.wire.deliveries if d.time >= lu and d.sender == "mn"] == []


def test_the_mn_registers_on_the_nfa_advertisement_and_the_bet_is_torn_down() -> None:
    net = post_net()
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    move(net)
    t1 = net.wire.now
    net.wire.run(t1 + 1.5)  # FA2's next periodic advertisement
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR
    assert not net.mn.deferring
    # §4.1 teardown 2: FA2 ends the BET with a lifetime-0 HRqst(r); FA1 removes the tunnel.
    after = [(d.sender, d.message) for d in handoffs(net, t1)]
    assert after == [("fa2", "handoff_request_r"), ("fa1", "handoff_reply_r")]
    cancel = handoffs(net, t1)[0].decoded()
    assert cancel.flags == HandoffFlags.R and cancel.lifetime == 0
    assert SetForwardTunnel(home_address=HOME, peer=None) in data_plane(net, "fa1", t1)
    assert SetProxyArp(address=FA1_ADDR, interface=ACCESS, enabled=False) in data_plane(
        net, "fa2", t1
    )
    assert net.fa1.bet(HOME) is None and net.fa2.bet(HOME) is None
    assert net.fa1.post_snapshot(net.wire.now) == {"bets": {}, "cancelling": []}
    assert net.fa2.post_snapshot(net.wire.now) == {"bets": {}, "cancelling": []}


# ---------------------------------------------------------------------------- Figure 8


def test_target_triggered_two_party_handoff_follows_figure_8() -> None:
    net = post_net()
    t0 = registered(net)
    target_trigger(net)
    net.wire.run(t0 + 0.2)
    assert [(d.sender, d.receiver, d.message) for d in handoffs(net, t0)] == [
        ("fa2", "fa1", "handoff_request_t"),
        ("fa1", "fa2", "handoff_reply_t"),
    ]
    request, reply = (d.decoded() for d in handoffs(net, t0))
    # §4.1 step 2b, §4.5: N, T with the reverse lifetime asked; home address from L2-TT,
    # HA unknown; LLA with the MN's L2 address.
    assert request.variant.value == "t"
    assert request.flags == HandoffFlags.N | HandoffFlags.T
    assert request.lifetime == 60
    assert request.mn_home_address == HOME and request.ha_address == IPv4Address("0.0.0.0")
    assert request.extensions[0] == LinkLayerAddress(value=EthernetMac(MN_MAC))
    # §4.1 step 3a, §4.6: N, T; B only when T was unset in the HRqst(t); home, HA, LLA.
    assert reply.variant.value == "t"
    assert reply.flags == HandoffFlags.N | HandoffFlags.T
    assert reply.lifetime == 60 and reply.code == 0
    assert reply.mn_home_address == HOME and reply.ha_address == HA_ADDR
    assert reply.extensions[0] == LinkLayerAddress(value=EthernetMac(MN_MAC))
    assert auth_of(reply).spi == FA_FA_SPI
    t1 = net.wire.now
    move(net)
    assert SetForwardTunnel(home_address=HOME, peer=FA2_ADDR, tunnel_source=FA1_ADDR) in data_plane(
        net, "fa1", t1
    )
    assert SetProxyArp(address=FA1_ADDR, interface=ACCESS, enabled=True) in data_plane(
        net, "fa2", t1
    )
    assert net.fa2.bet(HOME).phase is Phase.DELIVERING
    assert net.fa2.bet(HOME).home_agent == HA_ADDR


def test_hrply_t_sets_b_when_the_nfa_asked_no_reverse_tunnel() -> None:
    net = post_net(fa2={"reverse_tunnel": False})
    t0 = registered(net)
    target_trigger(net)
    net.wire.run(t0 + 0.2)
    request, reply = (d.decoded() for d in handoffs(net, t0))
    assert request.flags == HandoffFlags.N and request.lifetime == 0  # §4.5: 0 = none
    assert reply.flags == HandoffFlags.N | HandoffFlags.T | HandoffFlags.B
    t1 = net.wire.now
    move(net)
    # §4.1: B without a reverse tunnel to the oFA -> the nFA tunnels the uplink to the HA.
    assert SetUplink(
        home_address=HOME,
        mode=UplinkMode.REVERSE_TUNNEL,
        tunnel_source=FA2_ADDR,
        tunnel_destination=HA_ADDR,
    ) in data_plane(net, "fa2", t1)


def test_without_t_or_b_the_nfa_routes_the_uplink() -> None:
    net = post_net(fa1={"reverse_tunnel": False}, reverse_tunnel=False)
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    request, reply = (d.decoded() for d in handoffs(net, t0))
    assert request.flags == HandoffFlags.H  # a forward tunnel only (unidirectional)
    assert reply.flags == HandoffFlags.H  # §4.1 step 3b: T only if the oFA set it
    t1 = net.wire.now
    move(net)
    assert SetUplink(home_address=HOME, mode=UplinkMode.ROUTE) in data_plane(net, "fa2", t1)


def test_ingress_filtering_lets_the_nfa_ask_for_a_reverse_tunnel_anyway() -> None:
    net = post_net(fa1={"reverse_tunnel": False}, fa2={"ingress_filtering": True})
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    _, reply = (d.decoded() for d in handoffs(net, t0))
    assert reply.flags & HandoffFlags.T  # §4.1 step 3b: "or ... ingress filtering"


# ---------------------------------------------------------------------------- lifetimes


def test_the_nfa_asks_at_most_the_offer_and_the_ofa_grants_at_most_its_maximum() -> None:
    net = post_net(fa1={"tunnel_lifetime": 40}, fa2={"tunnel_lifetime": 90})
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    request, reply = (d.decoded() for d in handoffs(net, t0))
    assert request.lifetime == 40 and reply.lifetime == 40
    assert net.fa1.bet(HOME).lifetime == 40 and net.fa2.bet(HOME).lifetime == 40
    net2 = post_net(fa1={"tunnel_lifetime": 40}, fa2={"tunnel_lifetime": 90})
    t0 = registered(net2)
    target_trigger(net2)
    net2.wire.run(t0 + 0.2)
    request, reply = (d.decoded() for d in handoffs(net2, t0))
    assert request.lifetime == 90 and reply.lifetime == 40  # the oFA's maximum


def test_a_reply_above_the_offer_counts_as_the_offer() -> None:
    net = post_net()
    t0 = registered(net)
    net.wire.lose = lambda sender, send: send.message == "handoff_reply_s"
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    request = handoffs(net, t0)[0].decoded()
    reply = HandoffReply(
        flags=HandoffFlags.H | HandoffFlags.T,
        lifetime=500,
        mn_home_address=HOME,
        ha_address=HA_ADDR,
        identification=request.identification,
    )
    net.wire.deliver("fa1", from_fa2(seal_fa_fa(reply)))
    assert net.fa1.bet(HOME).lifetime == 60  # §4.6: "default to oFA's maximum"


def test_an_offer_of_zero_builds_no_bet_and_the_nfa_advertises_on_arrival() -> None:
    net = post_net()
    registered(net)
    request = HandoffRequest(
        flags=HandoffFlags.H,
        lifetime=0,
        mn_home_address=HOME,
        ha_address=HA_ADDR,
        identification=ntp_timestamp(net.wire.now, _Zero()),
        extensions=(LinkLayerAddress(value=EthernetMac(MN_MAC)),),
    )
    out = net.wire.deliver("fa2", from_fa1(seal_fa_fa(request)))
    reply = decode_control_message(sends(out)[0].payload)
    assert isinstance(reply, HandoffReply) and reply.lifetime == 0 and reply.code == 0
    assert net.fa2.bet(HOME) is None
    out = net.wire.trigger("fa2", LinkUp(interface=ACCESS, mn=MN_ID))
    assert [s.message for s in sends(out)] == ["agent_advertisement"]  # §4.4 event 3


def test_infinite_lifetimes_need_an_explicit_setting() -> None:
    with pytest.raises(LocalUsageError, match="tunnel_lifetime"):
        PostRegistrationConfig(tunnel_lifetime=0xFFFF)
    assert PostRegistrationConfig(tunnel_lifetime=0xFFFF, allow_infinite=True)
    with pytest.raises(LocalUsageError, match="anchor_policy"):
        PostRegistrationConfig(anchor_policy="whenever")


# ---------------------------------------------------------------------------- security


class _Zero:
    def getrandbits(self, k: int, /) -> int:
        return 0


def seal_fa_fa(
    message: HandoffRequest | HandoffReply, key: bytes = FA_FA_KEY, spi: int = FA_FA_SPI
) -> bytes:
    template = GeneralizedAuthentication(
        subtype=int(GeneralizedAuthSubtype.FA_FA), spi=spi, authenticator=b""
    )
    return seal(message, template, key).encode()


def from_fa(payload: bytes, source: IPv4Address, destination: IPv4Address) -> ReceivedPacket:
    return ReceivedPacket(
        interface="wired0",
        source=source,
        destination=destination,
        protocol=PROTO_UDP,
        payload=payload,
        ttl=63,
        source_port=MOBILE_IP_PORT,
        destination_port=MOBILE_IP_PORT,
    )


def from_fa1(payload: bytes) -> ReceivedPacket:
    return from_fa(payload, FA1_ADDR, FA2_ADDR)


def from_fa2(payload: bytes) -> ReceivedPacket:
    return from_fa(payload, FA2_ADDR, FA1_ADDR)


def sends(actions: list[Action]) -> list[SendPacket]:
    return [a for a in actions if isinstance(a, SendPacket)]


def source_request(net: Net, **changes: Any) -> HandoffRequest:
    request = HandoffRequest(
        flags=HandoffFlags.H | HandoffFlags.T,
        lifetime=60,
        mn_home_address=HOME,
        ha_address=HA_ADDR,
        identification=ntp_timestamp(net.wire.now, _Zero()),
        extensions=(LinkLayerAddress(value=EthernetMac(MN_MAC)),),
    )
    return dataclasses.replace(request, **changes)


@pytest.mark.parametrize(
    ("payload", "source", "reason"),
    [
        (lambda r: r.encode(), FA1_ADDR, DropReason.MISSING_AUTHENTICATION),
        (lambda r: seal_fa_fa(r, key=b"forged-key"), FA1_ADDR, DropReason.BAD_AUTHENTICATOR),
        (lambda r: seal_fa_fa(r, spi=0x501), FA1_ADDR, DropReason.BAD_AUTHENTICATOR),
        (lambda r: seal_fa_fa(r), IPv4Address("198.19.9.9"), DropReason.NO_SECURITY_ASSOCIATION),
    ],
    ids=["unauthenticated", "forged", "wrong-spi", "unknown-fa"],
)
def test_bad_handoff_requests_are_dropped_and_change_nothing(
    payload: Any, source: IPv4Address, reason: DropReason
) -> None:
    net = post_net()
    registered(net)
    before = net.fa2.snapshot(net.wire.now)
    out = net.wire.deliver("fa2", from_fa(payload(source_request(net)), source, FA2_ADDR))
    assert sends(out) == []
    assert net.fa2.drops[reason] == 1
    after = net.fa2.snapshot(net.wire.now)
    assert after["post_registration"] == before["post_registration"]
    assert net.fa2.bet(HOME) is None


def test_a_replayed_request_is_dropped() -> None:
    net = post_net()
    registered(net)
    raw = seal_fa_fa(source_request(net))
    assert len(sends(net.wire.deliver("fa2", from_fa1(raw)))) == 1
    state = net.fa2.post_snapshot(net.wire.now)
    assert sends(net.wire.deliver("fa2", from_fa1(raw))) == []
    assert net.fa2.drops[DropReason.REPLAYED] == 1
    assert net.fa2.post_snapshot(net.wire.now) == state
    # An old timestamp (beyond the skew) is refused too.
    stale = source_request(net, identification=ntp_timestamp(net.wire.now - 60, _Zero()))
    assert sends(net.wire.deliver("fa2", from_fa1(seal_fa_fa(stale)))) == []
    assert net.fa2.drops[DropReason.REPLAYED] == 2


def test_replayed_forged_and_unmatched_replies_change_nothing() -> None:
    net = post_net()
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    reply_delivery = handoffs(net, t0)[1]
    state = net.fa1.post_snapshot(net.wire.now)
    replay = net.wire.deliver("fa1", reply_delivery.packet)
    assert replay and net.fa1.drops[DropReason.REPLAYED] == 1
    request = handoffs(net, t0)[0].decoded()
    forged = HandoffReply(
        flags=HandoffFlags.H,
        lifetime=0,
        mn_home_address=HOME,
        ha_address=HA_ADDR,
        identification=request.identification,
    )
    net.wire.deliver("fa1", from_fa2(seal_fa_fa(forged, key=b"forged-key")))
    assert net.fa1.drops[DropReason.BAD_AUTHENTICATOR] == 1
    unmatched = dataclasses.replace(forged, identification=12345)
    net.wire.deliver("fa1", from_fa2(seal_fa_fa(unmatched)))
    assert net.fa1.drops[DropReason.NO_PENDING_REQUEST] == 1
    assert net.fa1.post_snapshot(net.wire.now) == state


def test_the_transition_table_names_real_handlers() -> None:
    net = post_net()
    for (_phase, _event), (name, allowed) in TRANSITIONS.items():
        assert callable(getattr(net.fa1, name)), name
        assert allowed


def test_describe_names_the_post_registration_settings_without_keys() -> None:
    from mip4.core.config import describe

    config = fa_config(1, post_registration=post(neighbours={FA2_ADDR: sa(FA_FA_SPI, FA_FA_KEY)}))
    view = describe(config)["post_registration"]
    assert view == {
        "neighbours": [str(FA2_ADDR)],
        "tunnel_lifetime": 60,
        "anchor_policy": "latest",
        "combined": False,
    }
    assert "fa-fa-shared-key" not in repr(describe(config))


# ---------------------------------------------------------------------------- §4.7 HTT

FA3_ADDR = IPv4Address("198.19.3.1")
FA3_KEY = b"fa2-fa3-shared-key"


def three_fa_net() -> Net:
    shared = sa(FA_FA_SPI, FA_FA_KEY)
    return build(
        fa1=fa_config(1, post_registration=post(neighbours={FA2_ADDR: shared})),
        fa2=fa_config(
            2,
            post_registration=post(neighbours={FA1_ADDR: shared, FA3_ADDR: sa(0x600, FA3_KEY)}),
        ),
        mn=mn_config(deferred_registration=True),
    )


def test_the_current_fa_sends_an_htt_with_the_extensions_in_order() -> None:
    net = three_fa_net()
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    move(net)
    out = net.wire.trigger("fa2", SourceTrigger(mn=MN_ID, new_fa=FaIdentifier(address=FA3_ADDR)))
    [htt_send] = [s for s in sends(out) if s.message == "handoff_to_third"]
    assert htt_send.destination == FA3_ADDR
    htt = decode_control_message(htt_send.payload)
    assert isinstance(htt, HandoffRequest) and htt.is_htt
    assert htt.flags == HandoffFlags.H | HandoffFlags.N  # §4.7: no tunnel bits
    assert htt.mn_home_address == HOME and htt.ha_address == HA_ADDR
    # §4.7: Solicited IPv4 Address (the aFA), then the MN's LLA, then FA-FA authentication.
    assert [type(e) for e in htt.extensions] == [
        LinkLayerAddress,
        LinkLayerAddress,
        GeneralizedAuthentication,
    ]
    assert htt.extensions[0].value == SolicitedIpv4Address(FA1_ADDR)
    assert htt.extensions[1].value == EthernetMac(MN_MAC)
    assert auth_of(htt).spi == 0x600
    assert net.fa2.bet(HOME).phase is Phase.HANDING_OVER


def test_an_hrqst_t_at_the_current_fa_is_answered_with_an_htt() -> None:
    net = three_fa_net()
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    move(net)
    request = HandoffRequest(
        flags=HandoffFlags.N | HandoffFlags.T,
        lifetime=60,
        mn_home_address=HOME,
        ha_address=IPv4Address("0.0.0.0"),
        identification=ntp_timestamp(net.wire.now, _Zero()),
        extensions=(LinkLayerAddress(value=EthernetMac(MN_MAC)),),
    )
    out = net.wire.deliver(
        "fa2", from_fa(seal_fa_fa(request, key=FA3_KEY, spi=0x600), FA3_ADDR, FA2_ADDR)
    )
    [send] = sends(out)
    htt = decode_control_message(send.payload)
    assert isinstance(htt, HandoffReply) and htt.is_htt and send.destination == FA3_ADDR
    assert htt.flags == HandoffFlags.H | HandoffFlags.N and htt.code == 0
    assert htt.identification == request.identification
    assert htt.mn_home_address == HOME and htt.ha_address == HA_ADDR  # as an HRply(t)
    assert htt.extensions[0] == LinkLayerAddress(value=SolicitedIpv4Address(FA1_ADDR))
    assert htt.extensions[1] == LinkLayerAddress(value=EthernetMac(MN_MAC))
    # The oFA of a three-party handoff then ends its tunnel service with the aFA on L2-LD.
    t2 = net.wire.now
    net.wire.trigger("fa2", LinkDown(interface=ACCESS, mn=MN_ID))
    net.wire.run(t2 + 0.01)
    assert [(d.sender, d.message) for d in handoffs(net, t2)] == [
        ("fa2", "handoff_request_r"),
        ("fa1", "handoff_reply_r"),
    ]
    assert handoffs(net, t2)[0].decoded().lifetime == 0


def test_m_and_g_name_each_end_s_encapsulation() -> None:
    from mip4.core.actions import TunnelMode

    net = post_net(fa1={"encapsulation": TunnelMode.MINIMAL}, fa2={"encapsulation": TunnelMode.GRE})
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    request, reply = (d.decoded() for d in handoffs(net, t0))
    assert request.flags & HandoffFlags.M and not request.flags & HandoffFlags.G
    assert reply.flags & HandoffFlags.G and not reply.flags & HandoffFlags.M
    t1 = net.wire.now
    move(net)
    assert SetForwardTunnel(
        home_address=HOME,
        peer=FA2_ADDR,
        tunnel_source=FA1_ADDR,
        tunnel_mode=TunnelMode.MINIMAL,
    ) in data_plane(net, "fa1", t1)
    assert SetUplink(
        home_address=HOME,
        mode=UplinkMode.REVERSE_TUNNEL,
        tunnel_source=FA2_ADDR,
        tunnel_destination=FA1_ADDR,
        tunnel_mode=TunnelMode.GRE,
    ) in data_plane(net, "fa2", t1)


def test_an_encapsulation_the_nfa_cannot_take_is_refused_with_code_1() -> None:
    from mip4.core.actions import TunnelMode

    shared = sa(FA_FA_SPI, FA_FA_KEY)
    net = build(
        fa1=fa_config(
            1,
            post_registration=post(neighbours={FA2_ADDR: shared}, encapsulation=TunnelMode.GRE),
        ),
        fa2=fa_config(
            2,
            encapsulations=frozenset({TunnelMode.IP_IN_IP}),
            post_registration=post(neighbours={FA1_ADDR: shared}),
        ),
        mn=mn_config(deferred_registration=True),
    )
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    _, reply = (d.decoded() for d in handoffs(net, t0))
    assert reply.code == 1 and reply.lifetime == 0  # §4.6: "cannot be performed"
    assert net.fa1.bet(HOME) is None and net.fa2.bet(HOME) is None
    move(net)
    assert [
        s.message for s in net.wire.of("fa2", SendPacket, since=t0) if s.destination == HOME
    ] == ["agent_advertisement"]  # §4.4 event 3


def test_target_trigger_without_the_home_address() -> None:
    """§4.1 step 2b: the nFA's L2-TT may name the MN by its L2 address only; the HRqst(t)
    then carries 0.0.0.0, the oFA finds the MN by its LLA, and the HRply(t) names it."""
    net = post_net()
    t0 = registered(net)
    mac_only = MnIdentifier(link_address=MN_MAC)
    net.wire.trigger("fa2", TargetTrigger(mn=mac_only, old_fa=FaIdentifier(address=FA1_ADDR)))
    net.wire.run(t0 + 0.2)
    request, reply = (d.decoded() for d in handoffs(net, t0))
    assert request.mn_home_address == IPv4Address("0.0.0.0")
    assert reply.mn_home_address == HOME and reply.code == 0
    bet = net.fa2.bet(HOME)
    assert bet is not None and bet.phase is Phase.SERVING_AGREED and bet.home_agent == HA_ADDR
    t1 = net.wire.now
    wire = net.wire
    wire.trigger("mn", LinkDown(interface="radio0"))
    wire.trigger("fa1", LinkDown(interface=ACCESS, mn=mac_only))
    net.move_to("cell2")
    wire.run(wire.now + 0.1)
    wire.trigger("mn", LinkUp(interface="radio0", fa=FaIdentifier(address=FA2_ADDR)))
    wire.trigger("fa2", LinkUp(interface=ACCESS, mn=mac_only))
    assert SetVisitor(home_address=HOME, interface=ACCESS, link_address=MN_MAC) in data_plane(
        net, "fa2", t1
    )
    assert net.fa2.bet(HOME).phase is Phase.DELIVERING
    assert set(net.fa2.post_snapshot(wire.now)["bets"]) == {str(HOME)}


def test_an_unconfirmed_target_handoff_without_the_home_address_still_recovers() -> None:
    net = post_net()
    t0 = registered(net)
    net.wire.lose = lambda sender, send: send.message == "handoff_reply_t"
    mac_only = MnIdentifier(link_address=MN_MAC)
    net.wire.trigger("fa2", TargetTrigger(mn=mac_only, old_fa=FaIdentifier(address=FA1_ADDR)))
    net.wire.run(t0 + 0.2)
    t1 = net.wire.now
    wire = net.wire
    wire.trigger("mn", LinkDown(interface="radio0"))
    wire.trigger("fa1", LinkDown(interface=ACCESS, mn=mac_only))
    net.move_to("cell2")
    wire.run(wire.now + 0.1)
    wire.trigger("mn", LinkUp(interface="radio0", fa=FaIdentifier(address=FA2_ADDR)))
    wire.trigger("fa2", LinkUp(interface=ACCESS, mn=mac_only))
    wire.run(wire.now + 0.05)
    adverts = [
        s for s in wire.of("fa2", SendPacket, since=t1) if s.message == "agent_advertisement"
    ]
    assert adverts and adverts[0].link_destination == MN_MAC  # to the MN's L2 address
    # The ICMP error still stops the oFA's tunnel (the only one to FA2).
    assert data_plane(net, "fa1", t1)[-1] == SetForwardTunnel(home_address=HOME, peer=None)
    assert net.fa1.bet(HOME) is None and net.fa2.post_snapshot(wire.now)["bets"] == {}
