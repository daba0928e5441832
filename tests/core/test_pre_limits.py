"""PRE-REGISTRATION limits at the FA and the MN, hand-wired (RFC 4881 §3.5, §3.6, §3.8, §11).

- §11: the rate limit counts trigger-caused *advertisements* (every copy), not triggers, for
  L2-ST, PrRtSols (cache hit and miss) and L2-TT at the nFA, and the oFA's relay of
  tunnelled advertisements; each advertisement over the limit is dropped and counted, and
  nothing else changes.
- §3.5: MIN_SOLICITATION_INTERVAL and the cached challenge's lifetime come from the nFA's
  CHALLENGE_WINDOW and advertisement interval, per neighbour.
- §3.6: PrRtSols stopped after PRE_SOL_ATTEMPTS resume once the MN registers with a new FA.
- §3.8: a PrRtAdv naming the MN's current FA starts no PRE-REGISTRATION.
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address
from typing import Any

import pytest

from mip4.core.actions import DropReason, SendPacket, StartTimer
from mip4.core.config import MnPreRegistrationConfig, NeighbourFa
from mip4.core.foreign_agent import ForeignAgent
from mip4.core.packets import ReceivedPacket
from mip4.core.pre_registration import PRE_SOLICIT_TIMER
from mip4.core.triggers import (
    FaIdentifier,
    LinkDown,
    LinkUp,
    MnIdentifier,
    MobileTrigger,
    SourceTrigger,
    TargetTrigger,
)
from mip4.errors import LocalUsageError
from mip4.wire.icmp import AgentAdvertisement, AgentSolicitation, RouterDiscoveryLinkLayerAddress
from mip4.wire.ip import PROTO_ICMP
from mip4.wire.lla import EthernetMac, SolicitedIpv4Address
from tests.core.test_pre_registration import (
    ACCESS,
    WIRED,
    challenged_fa,
    drops,
    esp_sa,
    events,
    fa,
    neighbour,
    pre,
    received,
    registered,
    sends,
)
from tests.core.topology import (
    FA1_ADDR,
    FA1_MAC,
    FA2_ADDR,
    FA2_MAC,
    HOME,
    MN_MAC,
    Net,
    build,
    fa_config,
    mn_config,
)

MN = MnIdentifier(link_address=MN_MAC, home_address=HOME)
L2_ST = SourceTrigger(mn=MN, new_fa=FaIdentifier(address=FA2_ADDR))
L2_TT = TargetTrigger(mn=MN, old_fa=FaIdentifier(address=FA1_ADDR))
PRRTSOL = ReceivedPacket(
    interface=ACCESS,
    source=HOME,
    destination=FA1_ADDR,
    protocol=PROTO_ICMP,
    payload=AgentSolicitation(
        extensions=(RouterDiscoveryLinkLayerAddress(value=SolicitedIpv4Address(FA2_ADDR)),)
    ).encode(),
    ttl=1,
    link_source=MN_MAC,
)


def pre_net(fa1: dict[str, Any] | None = None, fa2: dict[str, Any] | None = None) -> Net:
    return build(
        mn=mn_config(pre_registration=MnPreRegistrationConfig()),
        fa1=fa_config(1, pre_registration=pre(1, **(fa1 or {}))),
        fa2=fa_config(2, pre_registration=pre(2, **(fa2 or {}))),
    )


def max_in_a_second(times: list[float]) -> int:
    """The most of ``times`` in any half-open window of one second."""
    return max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)


def fa_state(agent: ForeignAgent, now: float) -> dict[str, Any]:
    snapshot = agent.snapshot(now)
    return {"visitors": snapshot["visitors"], "pre": snapshot.get("pre_registration")}


# ---------------------------------------------------------------------------- §11


@pytest.mark.parametrize("copies", [1, 2])
def test_an_l2_st_flood_gives_at_most_ten_advertisements_a_second_every_copy_counted(
    copies: int,
) -> None:
    """§11: "a limit on the number of advertisements ... the default limit is 10 per
    second": with 2 copies per PrRtAdv (§8.1.1, lossy air) 1,000 L2-STs in one second give
    5 triggers' worth, 10 advertisements; the other 2,000 - 10 are dropped and counted."""
    net = pre_net(fa1={"advertisement_copies": copies})
    now = registered(net)
    fa1 = net.fa1
    before = fa_state(fa1, now)
    sent: list[float] = []
    dropped = 0
    for k in range(3000):  # 1,000 a second for three seconds
        t = now + k / 1000.0
        out = fa1.l2_trigger(L2_ST, t)
        sent += [t] * len(sends(out, "proxy_router_advertisement"))
        dropped += drops(out).count(DropReason.RATE_LIMITED)
        assert not sends(out, "inter_fa_solicitation")  # the cache is warm
    first_second = [t for t in sent if t < now + 1.0]
    assert len(first_second) == 10
    assert max_in_a_second(sent) == 10 and len(sent) == 30
    assert dropped == fa1.drops[DropReason.RATE_LIMITED] == 3000 * copies - 30
    assert fa_state(fa1, now) == before  # nothing but the limit changed


@pytest.mark.parametrize("copies", [1, 2])
def test_a_prrtsol_flood_is_limited_per_advertisement(copies: int) -> None:
    """§11: 1,000 PrRtSols in one second share the same limit: 10 advertisements, the
    excess (1,000 x copies - 10) counted; no visitor or cache changes."""
    net = pre_net(fa1={"advertisement_copies": copies})
    now = registered(net)
    fa1 = net.fa1
    before = fa_state(fa1, now)
    sent = 0
    for k in range(1000):
        out = fa1.receive(PRRTSOL, now + k / 1000.0)
        sent += len(sends(out, "proxy_router_advertisement"))
        assert not sends(out, "inter_fa_solicitation")
    assert sent == 10
    assert fa1.drops[DropReason.RATE_LIMITED] == 1000 * copies - 10
    assert fa_state(fa1, now) == before


def test_cache_miss_triggers_reserve_the_limit_and_are_charged_when_sent() -> None:
    """§11, §3.4.1: on a cache miss a trigger takes its share at once (no inter-FA
    solicitation for a refused one), and its advertisement is charged to the second it goes
    out in, so no second holds more than the limit of advertisements sent."""
    fa1, fa2 = fa(1, trigger_rate_limit=3), fa(2)  # never started: nothing cached
    solicits = []
    for k in range(5):
        out = fa1.receive(PRRTSOL, 0.1 * k)
        assert not sends(out, "proxy_router_advertisement")
        solicits += sends(out, "inter_fa_solicitation")
    assert len(solicits) == 3 and fa1.drops[DropReason.RATE_LIMITED] == 2
    [answer] = sends(fa2.receive(received(solicits[0], WIRED, routed=True), 0.9))
    out = fa1.receive(received(answer, WIRED, routed=True), 0.95)
    assert len(sends(out, "proxy_router_advertisement")) == 3  # one per accepted trigger
    # Sent at 0.95: the window is full until 1.95, though the triggers came at 0.0-0.2.
    late = fa1.receive(PRRTSOL, 1.3)
    assert drops(late) == [DropReason.RATE_LIMITED] and not sends(late)
    assert len(sends(fa1.receive(PRRTSOL, 1.96), "proxy_router_advertisement")) == 1
    assert fa1.drops[DropReason.RATE_LIMITED] == 3


def test_a_lapsed_reservation_takes_a_new_share_or_is_dropped() -> None:
    """A trigger's reservation lasts the second it was made in; if the nFA answers later,
    its advertisement needs a new share of the limit, else it is dropped and counted."""
    fa1, fa2 = fa(1, trigger_rate_limit=1), fa(2)
    [solicit] = sends(fa1.receive(PRRTSOL, 0.0), "inter_fa_solicitation")
    [answer] = sends(fa2.receive(received(solicit, WIRED, routed=True), 1.5))
    # The reservation made at 0.0 lapses at 1.0; a second trigger at 1.2 (still a cache
    # miss) takes the one share of the second 1.2-2.2.
    assert sends(fa1.receive(PRRTSOL, 1.2), "inter_fa_solicitation")
    out = fa1.receive(received(answer, WIRED, routed=True), 1.6)
    # Two advertisements wait for the MN: the one reserved at 1.2 goes out, the lapsed one
    # finds the limit full and is dropped, counted.
    assert len(sends(out, "proxy_router_advertisement")) == 1
    assert drops(out) == [DropReason.RATE_LIMITED]


@pytest.mark.parametrize("copies", [1, 2])
def test_an_l2_tt_flood_at_the_nfa_is_limited_per_advertisement(copies: int) -> None:
    """§11 at the nFA: 1,000 L2-TTs in one second give 10 tunnelled advertisements (every
    copy counted); the excess is dropped and counted; only the advertisements sent advance
    the advertisement sequence number and the ESP sequence."""
    fa2 = fa(2, advertisement_copies=copies)
    sequence = fa2.advertiser.sequence
    tunnelled: list[SendPacket] = []
    for k in range(1000):
        out = fa2.l2_trigger(L2_TT, k / 1000.0)
        tunnelled += sends(out, "tunnelled_agent_advertisement")
        assert len(sends(out)) == len(sends(out, "tunnelled_agent_advertisement"))
    assert len(tunnelled) == 10
    assert fa2.drops[DropReason.RATE_LIMITED] == 1000 * copies - 10
    assert fa2.advertiser.sequence == sequence + 10 // copies
    # RFC 4303 §3.3.3: ESP sequence numbers 1..10, none spent on refused ones.
    assert [int.from_bytes(t.payload[4:8], "big") for t in tunnelled] == list(range(1, 11))
    out = fa2.l2_trigger(L2_TT, 1.0)  # a new second
    assert len(sends(out, "tunnelled_agent_advertisement")) == copies


def test_the_ofa_relays_at_most_the_limit_of_tunnelled_advertisements() -> None:
    """§11 at the oFA: tunnelled nFA advertisements it relays on-link are trigger-caused
    too; with the nFA's own limit raised, the oFA still relays 10 a second and counts the
    rest."""
    net = pre_net(fa2={"trigger_rate_limit": 100})
    now = registered(net)
    tunnelled = [
        a
        for k in range(15)
        for a in sends(net.fa2.l2_trigger(L2_TT, now + k / 100.0), "tunnelled_agent_advertisement")
    ]
    assert len(tunnelled) == 15
    relayed = 0
    for k, t in enumerate(tunnelled):
        out = net.fa1.receive(received(t, WIRED, routed=True), now + 0.001 + k / 100.0)
        relayed += len(sends(out, "proxy_router_advertisement"))
    assert relayed == 10
    assert net.fa1.drops[DropReason.RATE_LIMITED] == 5


# ---------------------------------------------------------------------------- §3.5


FA3_ADDR = IPv4Address("198.19.3.1")


def third_neighbour(**overrides: Any) -> NeighbourFa:
    return dataclasses.replace(
        neighbour(1, 2),
        address=FA3_ADDR,
        esp_out=esp_sa(1, 3),
        esp_in=esp_sa(3, 1),
        tunnel_out=esp_sa(1, 3, True),
        tunnel_in=esp_sa(3, 1, True),
        access_point_ids=(3,),
        **overrides,
    )


def test_the_solicitation_interval_is_each_nfas_own() -> None:
    """§3.5: the recommended MIN_SOLICITATION_INTERVAL is 0.5 x the nFA's CHALLENGE_WINDOW x
    the nFA's advertisement interval: per neighbour, with its own timer; a neighbour whose
    settings are not configured is taken to be like this FA (window 2, interval 1 s)."""
    slow = dataclasses.replace(neighbour(1, 2), advertisement_interval=4.0, challenge_window=3)
    fa1 = fa(1, neighbours=(slow, third_neighbour()))
    out = fa1.start(0.0)
    assert {s.destination for s in sends(out, "inter_fa_solicitation")} == {FA2_ADDR, FA3_ADDR}
    assert StartTimer((PRE_SOLICIT_TIMER, FA2_ADDR), 6.0) in out  # 0.5 x 3 x 4 s
    assert StartTimer((PRE_SOLICIT_TIMER, FA3_ADDR), 1.0) in out  # 0.5 x 2 x 1 s
    out = fa1.timer_expired((PRE_SOLICIT_TIMER, FA3_ADDR), 1.0)
    assert [s.destination for s in sends(out, "inter_fa_solicitation")] == [FA3_ADDR]
    assert StartTimer((PRE_SOLICIT_TIMER, FA3_ADDR), 2.0) in out
    # The configured MIN_SOLICITATION_INTERVAL overrides the formula (§3.5: MUST be
    # manually configurable).
    fixed = fa(1, neighbours=(slow,), min_solicitation_interval=2.5)
    assert StartTimer((PRE_SOLICIT_TIMER, FA2_ADDR), 2.5) in fixed.start(0.0)


def test_the_cached_challenge_lives_the_nfas_challenge_window() -> None:
    """§3.5: a cached advertisement carrying the nFA's challenge is proxied for the nFA's
    CHALLENGE_WINDOW x its advertisement interval, not the oFA's."""
    slow = dataclasses.replace(neighbour(1, 2), advertisement_interval=4.0, challenge_window=3)
    fa1, fa2 = fa(1, neighbours=(slow,)), challenged_fa(2)
    [solicit] = sends(fa1.start(0.0), "inter_fa_solicitation")
    [answer] = sends(fa2.receive(received(solicit, WIRED, routed=True), 0.001))
    fa1.receive(received(answer, WIRED, routed=True), 0.002)
    cached = fa1.cached_advertisement(FA2_ADDR)
    assert cached is not None and cached.expires_at == pytest.approx(12.002)  # 3 x 4 s
    assert sends(fa1.receive(PRRTSOL, 11.9), "proxy_router_advertisement")
    late = fa1.receive(PRRTSOL, 12.1)
    assert "inter-fa-cache-miss" in events(late) and not sends(late, "proxy_router_advertisement")


def test_neighbour_settings_are_checked() -> None:
    with pytest.raises(LocalUsageError, match="advertisement_interval"):
        dataclasses.replace(neighbour(1, 2), advertisement_interval=0.0)
    with pytest.raises(LocalUsageError, match="challenge_window"):
        dataclasses.replace(neighbour(1, 2), challenge_window=0)


# ---------------------------------------------------------------------------- MN


def test_prrtsols_resume_once_registered_with_a_new_fa() -> None:
    """§3.6: after PRE_SOL_ATTEMPTS unanswered PrRtSols the MN stops sending them "until it
    has registered with a new FA": a renewal with the same FA does not lift it, a
    registration with another FA does."""
    net = build(
        mn=mn_config(pre_registration=MnPreRegistrationConfig()),
        fa1=fa_config(1),  # a plain MIPv4 FA: PrRtSols go unanswered
        fa2=fa_config(2, pre_registration=pre(2)),
    )
    t0 = registered(net)
    net.wire.trigger("mn", MobileTrigger(new_fa=FaIdentifier(address=FA2_ADDR)))
    net.wire.run(t0 + 20.0)
    assert net.wire.events("mn", "prrtsol-abandoned")
    out = net.wire.trigger("mn", MobileTrigger(new_fa=FaIdentifier(address=FA2_ADDR)))
    assert events(out) == ["prrtsol-suppressed"] and not sends(out)
    # Move to FA2 and register there (standard registration after L2-LU).
    net.wire.trigger("fa1", LinkDown(interface=ACCESS, mn=MN))
    net.wire.trigger("mn", LinkDown(interface="radio0"))
    net.move_to("cell2")
    net.wire.trigger("mn", LinkUp(interface="radio0", fa=FaIdentifier(address=FA2_ADDR)))
    net.wire.run(net.wire.now + 0.5)
    reg = net.mn.registration
    assert reg is not None and reg.agent == FA2_ADDR
    out = net.wire.trigger("mn", MobileTrigger(new_fa=FaIdentifier(address=FA1_ADDR)))
    [prrtsol] = sends(out, "proxy_router_solicitation")
    assert (prrtsol.destination, prrtsol.link_destination) == (FA2_ADDR, FA2_MAC)


def test_a_renewal_with_the_same_fa_keeps_prrtsols_stopped() -> None:
    net = build(
        mn=mn_config(pre_registration=MnPreRegistrationConfig()),
        fa1=fa_config(1),
        fa2=fa_config(2, pre_registration=pre(2)),
    )
    t0 = registered(net)
    net.wire.trigger("mn", MobileTrigger(new_fa=FaIdentifier(address=FA2_ADDR)))
    net.wire.run(t0 + 20.0)
    assert net.wire.events("mn", "prrtsol-abandoned")
    accepted = len(net.wire.events("mn", "registration-accepted"))
    net.wire.run(t0 + 700.0)  # lifetime 600 s: renewed with FA1 meanwhile
    assert len(net.wire.events("mn", "registration-accepted")) > accepted
    reg = net.mn.registration
    assert reg is not None and reg.agent == FA1_ADDR
    out = net.wire.trigger("mn", MobileTrigger(new_fa=FaIdentifier(address=FA2_ADDR)))
    assert events(out) == ["prrtsol-suppressed"] and not sends(out)


def proxied(source: IPv4Address, lla_mac: bytes, net: Net) -> ReceivedPacket:
    """A PrRtAdv as the MN receives it: the advertiser's IP source and LLA, sent on-link by
    another node (Appendix C: the L2 source is the oFA)."""
    base = net.fa2.advertiser.build() if source == FA2_ADDR else net.fa1.advertiser.build()
    message = dataclasses.replace(
        base,
        extensions=(
            *base.extensions,
            RouterDiscoveryLinkLayerAddress(value=EthernetMac(lla_mac)),
        ),
    )
    assert isinstance(message, AgentAdvertisement)
    return ReceivedPacket(
        interface="radio0",
        source=source,
        destination=HOME,
        protocol=PROTO_ICMP,
        payload=message.encode(),
        ttl=1,
        link_source=b"\x02\x00\x00\x00\x00\x77",  # not the LLA's MAC: a proxied one
    )


def test_a_prrtadv_naming_the_current_fa_starts_no_pre_registration() -> None:
    """§3.8: "If ... the IPv4 address of the new FA matches oFA's address, then the
    PRE-REGISTRATION handoff SHOULD NOT be initiated": a PrRtAdv for the current FA sends
    no request and leaves the registration as it was; the same PrRtAdv for FA2 does start
    one (so the first is refused for what it names)."""
    net = build(
        mn=mn_config(pre_registration=MnPreRegistrationConfig()),
        fa1=fa_config(1, pre_registration=pre(1)),
        fa2=fa_config(2, pre_registration=pre(2)),
    )
    now = registered(net)
    before = net.mn.snapshot(now)
    out = net.wire.deliver("mn", proxied(FA1_ADDR, FA1_MAC, net))
    assert events(out) == ["pre-registration-not-applicable"]
    assert not sends(out)
    after = net.mn.snapshot(now)
    assert after["registration"] == before["registration"]
    assert after["pre_registration"] == before["pre_registration"]
    assert after["pre_registration"]["target"] is None
    out = net.wire.deliver("mn", proxied(FA2_ADDR, FA2_MAC, net))
    [request] = sends(out, "registration_request")
    assert (request.destination, request.link_destination) == (FA2_ADDR, FA1_MAC)
