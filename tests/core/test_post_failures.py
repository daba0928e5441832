"""POST-REGISTRATION renewal, termination and failure recovery (RFC 4881 §4.1 step 6, §4.3,
§4.4, §8.2), hand-wired.

Renewal and its denial, expiry at both ends, the ping-pong cancel, lost HRqst and HRply in
both trigger cases (the lifetime-0 HRqst retransmitted with exponential backoff for
CONFIG-HFAIL, the ICMP Destination Unreachable), an advertisement whenever a tunnel is
cancelled, and nothing left afterwards.
"""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address
from typing import Any

import pytest

from mip4.core.actions import (
    AnnounceProxyArp,
    DropReason,
    RefuseReverseTunnel,
    RemoveVisitor,
    SendPacket,
    SetForwardTunnel,
    SetProxyArp,
    SetUplink,
    UplinkMode,
)
from mip4.core.config import AdvertisementConfig
from mip4.core.packets import ReceivedPacket
from mip4.core.post_registration import Phase
from mip4.core.triggers import FaIdentifier, LinkDown, LinkUp
from mip4.wire.icmp import DestinationUnreachable, UnreachableCode
from mip4.wire.ip import PROTO_ICMP, PROTO_IPIP, PROTO_UDP, build_ipv4
from tests.core.test_post_registration import (
    ACCESS,
    FA_FA_KEY,
    FA_FA_SPI,
    MN_ID,
    data_plane,
    deferred_handoff,
    handoffs,
    move,
    post,
    post_net,
    registered,
    source_trigger,
    target_trigger,
)
from tests.core.topology import (
    FA1_ADDR,
    FA2_ADDR,
    HA_ADDR,
    HOME,
    Net,
    build,
    fa_config,
    mn_config,
    sa,
)


def advertisements(net: Net, name: str, since: float) -> list[SendPacket]:
    return [
        s
        for s in net.wire.of(name, SendPacket, since=since)
        if s.message == "agent_advertisement" and s.destination == HOME
    ]


def messages(net: Net, since: float) -> list[tuple[str, str]]:
    return [(d.sender, d.message) for d in handoffs(net, since)]


def not_through_a_bet(net: Net, since: float) -> bool:
    """FA2 installed no BET end: no proxy ARP (neither answering nor announced), no uplink
    tunnelled to FA1 (what a later registration installs, delivery and the uplink to the HA,
    is not the BET's)."""
    return not [
        a
        for a in data_plane(net, "fa2", since)
        if isinstance(a, SetProxyArp | AnnounceProxyArp)
        or (isinstance(a, SetUplink) and a.tunnel_destination == FA1_ADDR)
    ]


def net_without_adverts(fa1: dict[str, Any] | None = None, **fa2: Any) -> Net:
    """FA2 advertises only when asked or when a tunnel ends, FA1's advertisements last 100 s:
    the MN defers its registration for as long as the BET lasts (§4.4)."""
    shared = sa(FA_FA_SPI, FA_FA_KEY)
    return build(
        fa1=fa_config(
            1,
            advertisement=AdvertisementConfig(interval=1.0, icmp_lifetime=100),
            post_registration=post(neighbours={FA2_ADDR: shared}, **(fa1 or {})),
        ),
        fa2=fa_config(
            2,
            advertisement=AdvertisementConfig(interval=1.0, enabled=False),
            post_registration=post(neighbours={FA1_ADDR: shared}, **fa2),
        ),
        mn=mn_config(deferred_registration=True),
    )


# ---------------------------------------------------------------------------- §4.3


def test_the_current_fa_renews_and_the_anchor_may_grant_less() -> None:
    net = net_without_adverts(tunnel_lifetime=10)
    t1 = deferred_handoff(net)
    bet = net.fa2.bet(HOME)
    assert bet is not None and bet.phase is Phase.DELIVERING and bet.lifetime == 10
    net.wire.run(t1 + 9.0)  # the renewal at 80% of 10 s
    assert messages(net, t1) == [("fa2", "handoff_request_r"), ("fa1", "handoff_reply_r")]
    renewal, reply = (d.decoded() for d in handoffs(net, t1))
    assert renewal.lifetime == 10 and reply.lifetime == 10
    assert net.fa2.bet(HOME).expires_at == pytest.approx(reply_time(net, t1) + 10)
    assert net.fa1.bet(HOME).expires_at == pytest.approx(net.fa2.bet(HOME).expires_at, abs=0.01)
    assert net.mn.deferring  # still deferring: the BET carries its traffic


def reply_time(net: Net, since: float) -> float:
    return next(d.time for d in handoffs(net, since) if d.message == "handoff_reply_r")


def test_the_anchor_grants_at_most_its_own_maximum() -> None:
    net = net_without_adverts(fa1={"tunnel_lifetime": 30}, tunnel_lifetime=60)
    t1 = deferred_handoff(net)
    assert net.fa2.bet(HOME).lifetime == 30  # HRply(s) <= the offer
    net.wire.run(t1 + 25.0)
    renewal, reply = (d.decoded() for d in handoffs(net, t1))
    assert renewal.lifetime == 60 and reply.lifetime == 30  # §4.3: it MAY grant less
    # §4.3: never 0xFFFF unless configured.
    assert all(d.decoded().lifetime != 0xFFFF for d in handoffs(net))


def test_a_lost_renewal_lets_the_bet_expire_at_both_ends_and_the_mn_registers() -> None:
    net = net_without_adverts(tunnel_lifetime=10)
    t1 = deferred_handoff(net)
    net.wire.lose = lambda sender, send: send.message == "handoff_request_r"
    net.wire.run(t1 + 10.5)
    # §4.3: the aFA ends the BET when the lifetime runs out.
    assert SetForwardTunnel(home_address=HOME, peer=None) in data_plane(net, "fa1", t1)
    # §4.4 event 1: the current FA stops and MUST make the MN register (advertisement).
    assert RemoveVisitor(HOME) in net.wire.of("fa2", RemoveVisitor, since=t1)
    assert SetProxyArp(address=FA1_ADDR, interface=ACCESS, enabled=False) in data_plane(
        net, "fa2", t1
    )
    assert len(advertisements(net, "fa2", t1)) == 1
    net.wire.run(net.wire.now + 0.5)
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR
    assert net.fa1.bet(HOME) is None and net.fa2.bet(HOME) is None
    assert not [k for k in net.wire.pending_timers("fa1") if str(k[0]).startswith("bet")]
    assert not [k for k in net.wire.pending_timers("fa2") if str(k[0]).startswith("bet")]


def test_an_early_termination_by_the_anchor_makes_the_fa_advertise() -> None:
    net = net_without_adverts(tunnel_lifetime=10)
    t1 = deferred_handoff(net)
    # The anchor terminates early instead (§4.3: "the current FA or aFA may need to
    # terminate the BET prior to the lifetime expiring").
    bet = net.fa1.bet(HOME)
    assert bet is not None
    out = net.fa1._start_cancel(bet, net.wire.now, "operator")
    net.wire.apply("fa1", out)
    net.wire.run(net.wire.now + 0.1)
    assert messages(net, t1)[:2] == [("fa1", "handoff_request_r"), ("fa2", "handoff_reply_r")]
    assert len(advertisements(net, "fa2", t1)) == 1  # §8.2.2: whenever a tunnel is cancelled
    assert net.fa2.bet(HOME) is None


def test_a_denied_renewal_ends_the_bet_and_the_mn_registers() -> None:
    """§4.3: the aFA "has full control": with ``max_bet_time`` 12 s it grants renewals
    only up to that (less than the 10 s asked), then denies the next (HRply(r) code 1,
    lifetime 0) and stops its tunnel; §4.4 event 1: the current FA tears its end down and
    advertises, and the MN registers with it."""
    net = net_without_adverts({"max_bet_time": 12}, tunnel_lifetime=10)
    t1 = deferred_handoff(net)
    agreed = net.fa1.bet(HOME)
    assert agreed is not None and agreed.agreed_at is not None
    start = agreed.agreed_at
    net.wire.run(start + 12.5)
    renewals = [d for d in handoffs(net, t1) if d.message == "handoff_reply_r"]
    granted = [(d.time, d.decoded()) for d in renewals]
    assert [r.code for _, r in granted] == [0] * (len(granted) - 1) + [1]
    assert len(granted) >= 2
    for time, reply in granted[:-1]:
        assert 0 < reply.lifetime <= start + 12 - time  # never past the limit
    denial = renewals[-1]
    assert granted[-1][1].lifetime == 0 and denial.time < start + 12
    # the anchor stops at once; the current FA tears down and advertises (§4.4 event 1)
    assert SetForwardTunnel(home_address=HOME, peer=None) in data_plane(net, "fa1", t1)
    assert net.fa1.bet(HOME) is None
    assert SetProxyArp(address=FA1_ADDR, interface=ACCESS, enabled=False) in data_plane(
        net, "fa2", denial.time
    )
    [advert] = advertisements(net, "fa2", denial.time)
    assert net.wire.events("fa2", "bet-ended")[-1].fields["why"] == "renewal denied"
    net.wire.run(net.wire.now + 0.5)
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR
    assert net.fa2.bet(HOME) is None
    assert not [k for k in net.wire.pending_timers("fa2") if str(k[0]).startswith("bet")]
    assert advert.destination == HOME


def test_max_bet_time_is_checked() -> None:
    from mip4.errors import LocalUsageError

    for bad in (-1, 1.5, True):
        with pytest.raises(LocalUsageError, match="max_bet_time"):
            post(max_bet_time=bad)


# ---------------------------------------------------------------------------- §4.1 step 6


def test_a_ping_pong_cancels_the_tunnel_and_delivery_goes_on() -> None:
    net = post_net()
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    t1 = net.wire.now
    # L2-ST, L2-LD, then L2-LU at the oFA again: the L2 handoff failed.
    net.wire.trigger("mn", LinkDown(interface="radio0"))
    net.wire.trigger("fa1", LinkDown(interface=ACCESS, mn=MN_ID))
    net.wire.run(t1 + 0.1)
    net.wire.trigger("mn", LinkUp(interface="radio0", fa=FaIdentifier(address=FA1_ADDR)))
    net.wire.trigger("fa1", LinkUp(interface=ACCESS, mn=MN_ID))
    net.wire.run(net.wire.now + 0.05)
    assert data_plane(net, "fa1", t1) == [
        SetForwardTunnel(home_address=HOME, peer=FA2_ADDR, tunnel_source=FA1_ADDR),
        SetForwardTunnel(home_address=HOME, peer=None),
    ]
    assert messages(net, t1) == [("fa1", "handoff_request_r"), ("fa2", "handoff_reply_r")]
    assert not net.wire.of("fa1", RemoveVisitor, since=t0)  # delivery as before
    assert net.fa1.visitor(HOME) is not None
    assert net.fa1.bet(HOME) is None and net.fa2.bet(HOME) is None
    assert not net.mn.deferring


# ---------------------------------------------------------------------------- §8.2.1


def test_lost_source_request_no_tunnel_and_the_nfa_advertises() -> None:
    net = post_net()
    t0 = registered(net)
    net.wire.lose = lambda sender, send: send.message == "handoff_request_s"
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    move(net)
    net.wire.run(net.wire.now + 0.05)
    # §8.2.1: the oFA MUST NOT construct a forward tunnel.
    assert not [a for a in data_plane(net, "fa1", t0) if isinstance(a, SetForwardTunnel)]
    # §8.2.2 (it cannot tell the two apart): a lifetime-0 HRqst(r), answered.
    assert ("fa1", "handoff_request_r") in messages(net, t0)
    assert ("fa2", "handoff_reply_r") in messages(net, t0)
    # The nFA was not informed: it unicasts an advertisement on L2-LU; the MN registers.
    assert len(advertisements(net, "fa2", t0)) == 1
    net.wire.run(net.wire.now + 0.1)
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR
    assert not net.fa1.post_snapshot(net.wire.now)["cancelling"]


def test_lost_target_request_no_reverse_tunnel_and_the_nfa_advertises() -> None:
    net = post_net()
    t0 = registered(net)
    net.wire.lose = lambda sender, send: send.message == "handoff_request_t"
    target_trigger(net)
    net.wire.run(t0 + 0.2)
    move(net)
    net.wire.run(net.wire.now + 0.05)
    assert not [a for a in data_plane(net, "fa1", t0) if isinstance(a, SetForwardTunnel)]
    assert not_through_a_bet(net, t0)
    assert len(advertisements(net, "fa2", t0)) == 1
    net.wire.run(net.wire.now + 0.1)
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR


# ---------------------------------------------------------------------------- §8.2.2


def test_lost_source_reply_the_ofa_cancels_with_backoff_and_the_nfa_advertises() -> None:
    net = post_net()
    t0 = registered(net)
    net.wire.lose = lambda sender, send: send.message == "handoff_reply_s"
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    assert net.fa2.bet(HOME) is not None  # the nFA thinks the BET is agreed
    ld = net.wire.now
    net.wire.lose = lambda sender, send: send.message in ("handoff_reply_s", "handoff_reply_r")
    move(net)
    net.wire.run(ld + 12.0)
    assert not [a for a in data_plane(net, "fa1", t0) if isinstance(a, SetForwardTunnel)]
    sent = [d.time for d in net.wire.deliveries if d.message == "handoff_request_r"]
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(sent)]
    assert sent[0] == pytest.approx(ld + 0.001)  # at L2-LD (+ the wire delay)
    assert gaps == [0.5, 1.0, 2.0, 4.0]  # exponential backoff from 0.5 s
    assert sent[-1] - ld <= 10.0  # CONFIG-HFAIL
    assert net.fa1.post_snapshot(net.wire.now)["cancelling"] == []
    # §8.2.2: meanwhile the oFA refuses the nFA's reverse tunnel for the MN.
    assert [a.enabled for a in net.wire.of("fa1", RefuseReverseTunnel, since=t0)] == [
        True,
        False,
    ]
    # The nFA cancelled at the first HRqst(r) and advertised to the MN (on its L2-LU).
    assert net.fa2.bet(HOME) is None
    assert len(advertisements(net, "fa2", t0)) == 1
    assert not_through_a_bet(net, t0)


def test_the_cancel_stops_when_answered() -> None:
    net = post_net()
    t0 = registered(net)
    net.wire.lose = lambda sender, send: send.message == "handoff_reply_s"
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    move(net)
    net.wire.run(net.wire.now + 12.0)
    assert [m for _, m in messages(net, t0)].count("handoff_request_r") == 1


def test_lost_target_reply_icmp_unreachable_stops_the_ofa_tunnel() -> None:
    net = post_net()
    t0 = registered(net)
    net.wire.lose = lambda sender, send: send.message == "handoff_reply_t"
    target_trigger(net)
    net.wire.run(t0 + 2.0)  # the nFA's reply timer runs out
    assert net.fa2.bet(HOME).phase is Phase.UNCONFIRMED
    assert net.fa1.bet(HOME).phase is Phase.ANCHOR_AGREED
    t1 = net.wire.now
    move(net)
    net.wire.run(net.wire.now + 0.05)
    assert SetForwardTunnel(home_address=HOME, peer=FA2_ADDR, tunnel_source=FA1_ADDR) in (
        data_plane(net, "fa1", t1)
    )
    # §8.2.2: the nFA advertises, sends ICMP Destination Unreachable, no reverse tunnel.
    assert len(advertisements(net, "fa2", t1)) == 1
    assert ("fa2", "icmp_destination_unreachable") in messages(net, t1)
    assert not [
        a for a in data_plane(net, "fa2", t1) if isinstance(a, SetProxyArp | AnnounceProxyArp)
    ]
    assert not [
        a
        for a in data_plane(net, "fa2", t1)
        if isinstance(a, SetUplink) and a.tunnel_destination == FA1_ADDR
    ]
    # ... on which the oFA terminates the tunnel.
    assert data_plane(net, "fa1", t1)[-1] == SetForwardTunnel(home_address=HOME, peer=None)
    assert net.fa1.bet(HOME) is None and net.fa2.bet(HOME) is None


ROUTER = IPv4Address("198.18.0.254")  # a router between the FAs, not an FA


def unreachable_for_tunnel(
    source: IPv4Address, destination: IPv4Address, *, sender: IPv4Address
) -> ReceivedPacket:
    """An ICMP Destination Unreachable from ``sender`` quoting the tunnel header
    ``source`` -> ``destination`` around a packet of the MN's."""
    inner = build_ipv4(HOME, IPv4Address("198.18.0.99"), PROTO_UDP, b"")
    outer = build_ipv4(source, destination, PROTO_IPIP, inner)
    error = DestinationUnreachable.about(outer, UnreachableCode.HOST_UNREACHABLE, data_bytes=20)
    return ReceivedPacket(
        interface="wired0",
        source=sender,
        destination=source,
        protocol=PROTO_ICMP,
        payload=error.encode(),
    )


def test_an_unreachable_for_the_reverse_tunnel_makes_the_nfa_advertise_and_cancel() -> None:
    net = post_net()
    deferred_handoff(net)
    t1 = net.wire.now
    net.wire.deliver("fa2", unreachable_for_tunnel(FA2_ADDR, FA1_ADDR, sender=FA1_ADDR))
    assert net.fa2.bet(HOME) is None
    assert RemoveVisitor(HOME) in net.wire.of("fa2", RemoveVisitor, since=t1)
    assert len(advertisements(net, "fa2", t1)) == 1
    # An ICMP error about some other tunnel or MN is not about a BET: the base FA drops it.
    before = net.fa1.post_snapshot(net.wire.now)
    net.wire.deliver(
        "fa1", unreachable_for_tunnel(FA1_ADDR, IPv4Address("198.19.7.7"), sender=ROUTER)
    )
    assert net.fa1.post_snapshot(net.wire.now) == before


def test_an_unreachable_for_the_reverse_tunnel_from_anyone_but_the_peer_changes_nothing() -> None:
    """§8.2.2: the peer FA sends the error; one from a router (or anyone forging the quote)
    about the nFA's reverse tunnel is counted and neither cancels the BET nor advertises."""
    net = post_net()
    deferred_handoff(net)
    net.wire.run(net.wire.now + 0.05)
    t1 = net.wire.now
    before = net.fa2.post_snapshot(t1)
    assert net.fa2.bet(HOME).phase is Phase.DELIVERING
    for sender in (ROUTER, HA_ADDR, FA2_ADDR):
        net.wire.deliver("fa2", unreachable_for_tunnel(FA2_ADDR, FA1_ADDR, sender=sender))
    assert net.fa2.drops[DropReason.UNEXPECTED_MESSAGE] == 3
    assert net.fa2.post_snapshot(net.wire.now) == before
    assert net.fa2.bet(HOME).phase is Phase.DELIVERING
    assert not net.wire.of("fa2", RemoveVisitor, since=t1)
    assert not advertisements(net, "fa2", t1)
    assert not data_plane(net, "fa2", t1)


def test_the_ofa_stops_its_forward_tunnel_only_on_the_peers_unreachable() -> None:
    """§8.2.2: the oFA terminates the tunnel on the nFA's ICMP Destination Unreachable; the
    same error from a router on the path is a counted drop and the tunnel keeps running."""
    net = post_net()
    deferred_handoff(net)
    net.wire.run(net.wire.now + 0.05)
    assert net.fa1.bet(HOME).phase is Phase.FORWARDING
    t1 = net.wire.now
    net.wire.deliver("fa1", unreachable_for_tunnel(FA1_ADDR, FA2_ADDR, sender=ROUTER))
    assert net.fa1.drops[DropReason.UNEXPECTED_MESSAGE] == 1
    assert net.fa1.bet(HOME).phase is Phase.FORWARDING
    assert not data_plane(net, "fa1", t1)
    net.wire.deliver("fa1", unreachable_for_tunnel(FA1_ADDR, FA2_ADDR, sender=FA2_ADDR))
    assert net.fa1.bet(HOME) is None
    assert data_plane(net, "fa1", t1) == [SetForwardTunnel(home_address=HOME, peer=None)]
    assert net.fa1.drops[DropReason.UNEXPECTED_MESSAGE] == 1


# ---------------------------------------------------------------------------- §4.4


def test_the_mn_solicits_before_its_router_entry_runs_out_and_registers() -> None:
    """§4.4: "the MN MUST solicit the default router ... before the lifetime of its active
    default router entry runs out"; it registers on the answer."""
    shared = sa(FA_FA_SPI, FA_FA_KEY)
    net = build(
        fa1=fa_config(
            1,
            advertisement=AdvertisementConfig(interval=1.0, icmp_lifetime=3),
            post_registration=post(neighbours={FA2_ADDR: shared}),
        ),
        fa2=fa_config(
            2,
            advertisement=AdvertisementConfig(interval=1.0, enabled=False),
            post_registration=post(neighbours={FA1_ADDR: shared}),
        ),
        mn=mn_config(deferred_registration=True),
    )
    t1 = deferred_handoff(net)
    heard = net.mn.current_agent
    assert heard is not None and net.mn.deferring
    net.wire.run(heard.expires_at)
    solicitations = [
        s for s in net.wire.of("mn", SendPacket, since=t1) if s.message == "agent_solicitation"
    ]
    assert len(solicitations) == 1
    solicited_at = next(t for t, n, a in net.wire.actions if n == "mn" and a is solicitations[0])
    assert solicited_at == pytest.approx(heard.expires_at - 0.5)
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR
    assert net.fa1.bet(HOME) is None and net.fa2.bet(HOME) is None  # torn down


def test_the_oFA_sends_the_departed_mn_no_advertisement() -> None:
    net = post_net()
    deferred_handoff(net)
    t1 = net.wire.now
    net.wire.run(t1 + 3.0)
    assert advertisements(net, "fa1", t1) == []  # §4.4: MUST NOT (no unicast to it)


def test_the_uplink_goes_to_the_ha_with_the_request_and_back_to_the_bet_on_a_denial() -> None:
    from mip4.wire.registration import RegistrationReply

    net = post_net()
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    net.wire.lose = lambda sender, send: send.message == "registration_reply"
    move(net)
    t1 = net.wire.now
    net.wire.run(t1 + 1.5)  # FA2's advertisement; the MN's request is relayed, reply lost
    to_ha = SetUplink(
        home_address=HOME,
        mode=UplinkMode.REVERSE_TUNNEL,
        tunnel_source=FA2_ADDR,
        tunnel_destination=HA_ADDR,
    )
    assert to_ha in data_plane(net, "fa2", t1)
    record = net.fa2.record(HOME)
    assert record is not None and record.pending is not None
    denial = RegistrationReply(
        code=130,  # HA: insufficient resources
        lifetime=0,
        home_address=HOME,
        home_agent=HA_ADDR,
        identification=record.pending.identification,
    )
    t2 = net.wire.now
    net.wire.deliver(
        "fa2",
        ReceivedPacket(
            interface="wired0",
            source=HA_ADDR,
            destination=FA2_ADDR,
            protocol=PROTO_UDP,
            payload=denial.encode(),
            source_port=434,
            destination_port=434,
        ),
    )
    assert data_plane(net, "fa2", t2)[-1] == SetUplink(
        home_address=HOME,
        mode=UplinkMode.REVERSE_TUNNEL,
        tunnel_source=FA2_ADDR,
        tunnel_destination=FA1_ADDR,
    )
    assert net.fa2.bet(HOME).phase is Phase.DELIVERING


def test_an_nfa_without_post_registration_leaves_the_mn_to_register_normally() -> None:
    """§4.4 event 3: the nFA cannot do a BET handoff. Its silence makes the oFA build no
    tunnel and cancel (§8.2); the deferring MN registers on the nFA's advertisement."""
    shared = sa(FA_FA_SPI, FA_FA_KEY)
    net = build(
        fa1=fa_config(1, post_registration=post(neighbours={FA2_ADDR: shared})),
        fa2=fa_config(2),
        mn=mn_config(deferred_registration=True),
    )
    t0 = deferred_handoff(net)
    assert net.fa2.drops[DropReason.UNEXPECTED_MESSAGE] >= 1  # the HRqst(s), not understood
    assert not [a for a in data_plane(net, "fa1", t0 - 0.3) if isinstance(a, SetForwardTunnel)]
    net.wire.run(t0 + 1.1)
    assert net.mn.registration is not None and net.mn.registration.agent == FA2_ADDR


def test_a_serving_fa_keeps_no_uplink_for_an_mn_that_left_unregistered() -> None:
    """The MN leaves the serving FA before registering with it (§4.2 step 4): the FA ends
    delivery with RemoveVisitor, which ends the uplink too, and installs no other uplink for
    an MN no longer on its link (a routed one would forward a departed MN's address)."""
    net = post_net()
    deferred_handoff(net)
    net.wire.run(net.wire.now + 0.01)
    assert net.fa2.bet(HOME).phase is Phase.DELIVERING and net.fa2.visitor(HOME) is None
    t2 = net.wire.now
    net.wire.trigger("fa2", LinkDown(interface=ACCESS, mn=MN_ID))
    net.wire.run(t2 + 0.01)
    uplink_state = [
        a
        for t, n, a in net.wire.actions
        if n == "fa2" and t >= t2 and isinstance(a, SetUplink | RemoveVisitor)
    ]
    assert uplink_state == [RemoveVisitor(HOME)]
    assert net.fa2.bet(HOME) is None


def test_a_bet_ending_during_a_registration_keeps_the_requests_uplink() -> None:
    """The MN is still on the serving FA's link and its registration is under way when the
    BET ends (here the anchor's ICMP error, §8.2.2): delivery stops with RemoveVisitor and
    the uplink goes on reverse-tunnelled to the HA, as the request set it."""
    net = post_net()
    t0 = registered(net)
    source_trigger(net)
    net.wire.run(t0 + 0.2)
    net.wire.lose = lambda sender, send: send.message == "registration_reply"
    move(net)
    net.wire.run(net.wire.now + 1.5)  # FA2's advertisement; the MN's request is relayed
    record = net.fa2.record(HOME)
    assert record is not None and record.pending is not None and record.visitor is None
    t2 = net.wire.now
    net.wire.deliver("fa2", unreachable_for_tunnel(FA2_ADDR, FA1_ADDR, sender=FA1_ADDR))
    assert net.fa2.bet(HOME) is None
    uplink_state = [
        a
        for t, n, a in net.wire.actions
        if n == "fa2" and t >= t2 and isinstance(a, SetUplink | RemoveVisitor)
    ]
    assert uplink_state == [
        RemoveVisitor(HOME),
        SetUplink(
            home_address=HOME,
            mode=UplinkMode.REVERSE_TUNNEL,
            tunnel_source=FA2_ADDR,
            tunnel_destination=HA_ADDR,
        ),
    ]
