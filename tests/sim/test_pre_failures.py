"""PRE-REGISTRATION under loss and attack in the simulator (RFC 4881 §8.1, §11), and its GFA
path (§3.1 steps 3-4, Appendix A).

Loss: each PRE-REGISTRATION message of the first handoff is dropped once; the MN still ends
registered with the nFA, within the bound the RFC implies (stated in :data:`BOUND_S`). The
inter-FA solicitation and advertisement matter only on a cache miss at handoff time (§3.5:
otherwise the oFA answers from its cache): with a short cache lifetime, losing either leaves
the oFA without a PrRtAdv to send, and the MN registers in the standard way on L2-LU
(§8.1.2), within :data:`STANDARD_SOLICIT_S`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import mip4.sim.agents
from mip4.core.actions import SendPacket
from mip4.core.config import PreRegistrationConfig
from mip4.core.triggers import FaIdentifier, MnIdentifier, SourceTrigger, TargetTrigger
from mip4.experiments.model import Parameters, predict
from mip4.sim.network import AIR, Node
from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink, TraceRecord

FA2 = "198.18.2.2"
FIRST_TRIGGER = 5.8  # settle 1 s + dwell 5 s - lead 200 ms
L2_LD = 6.0
L2_LU = 6.1
D_W, D_FH = 0.002, 0.020  # the corridor's radio and FA-HA one-way delays
INTERVAL_MS = 20.0  # traffic.interval_ms of the corridor scenario
# §8.1.2 -> §8.1.1: with no PrRtAdv the MN solicits on L2-LU (2 d_w for the solicitation and
# the nFA's answer) and registers (2 (d_w + d_FH)): standard-solicit, 48 ms after L2-LU.
STANDARD_SOLICIT_S = 2 * D_W + 2 * (D_W + D_FH)
# §8.1: when PRE signalling is lost, the MN registers in the standard way once connected to
# the nFA: at once when it learns the handoff was not confirmed (the nFA's answer to its
# solicitation comes without a reply), else when its PRE fallback timer (1 s after L2-LU,
# the RFC 5944 §3.6.3 retransmission interval) fires; then one registration round trip
# 2 (d_w + d_FH) = 44 ms, and the solicitation's 2 d_w. Everything within 1.1 s of L2-LU.
BOUND_S = 1.0 + 2 * (0.002 + 0.020) + 2 * 0.002 + 0.05

LOSSES = {
    "pre-source": [
        ("FA1", "proxy_router_advertisement"),
        ("MN1", "registration_request"),
        ("FA2", "registration_request"),
        ("HA", "registration_reply"),
        ("FA2", "registration_reply"),
        ("MN1", "agent_solicitation"),
    ],
    "pre-target": [
        ("FA2", "tunnelled_agent_advertisement"),
        ("FA1", "proxy_router_advertisement"),
        ("MN1", "registration_request"),
        ("FA2", "registration_request"),
        ("HA", "registration_reply"),
        ("FA2", "registration_reply"),
        ("MN1", "agent_solicitation"),
    ],
    "pre-mobile": [
        ("MN1", "proxy_router_solicitation"),
        ("FA1", "proxy_router_advertisement"),
        ("MN1", "registration_request"),
        ("FA2", "registration_request"),
        ("HA", "registration_reply"),
        ("FA2", "registration_reply"),
        ("MN1", "agent_solicitation"),
    ],
}
CASES = [(m, node, message) for m, losses in LOSSES.items() for node, message in losses]


def world(method: str, *overrides: str) -> tuple[World, ListSink]:
    sink = ListSink()
    return World(load_scenario("corridor", list(overrides)), method, sinks=[sink]), sink


def accepted_at_nfa(records: list[TraceRecord], after: float) -> float:
    return next(
        r.time
        for r in records
        if r.node == "MN1"
        and r.message == "registration-accepted"
        and r.fields.get("agent") == FA2
        and r.time > after
    )


@pytest.mark.parametrize(("method", "node", "message"), CASES)
def test_each_message_lost_once_still_ends_registered_with_the_nfa(
    method: str, node: str, message: str
) -> None:
    w, sink = world(method)
    lost: list[float] = []

    def lose_once(sender: Node, action: SendPacket) -> bool:
        now = w.engine.now
        if not lost and sender.name == node and action.message == message and now >= FIRST_TRIGGER:
            lost.append(now)
            return True
        return False

    w.net.loss_rules.append(lose_once)
    result: dict[str, Any] = w.run()
    assert lost, f"{node} never sent {message}"
    assert w.net.drops[(node, "injected-loss")] == 1  # counted
    accepted = accepted_at_nfa(sink.records, FIRST_TRIGGER)
    assert accepted <= L2_LU + BOUND_S
    assert result["summary"]["handoffs"] == 2
    second = result["handoffs"][1]  # the next handoff is untouched
    assert abs(second["l3_extra_ms"]) <= 1.0


def test_lost_prrtadv_falls_back_to_standard_registration_on_l2_lu() -> None:
    """§8.1.1: the MN connects to the nFA without prior signalling, solicits on L2-LU and
    registers in the standard way: the handoff costs what standard-solicit costs."""
    w, sink = world("pre-source")
    w.net.loss_rules.append(
        lambda sender, action: (
            sender.name == "FA1" and action.message == "proxy_router_advertisement"
        )
    )
    result = w.run()
    solicit = World(load_scenario("corridor", []), "standard-solicit").run()
    first, std = result["handoffs"][0], solicit["handoffs"][0]  # type: ignore[index]
    assert abs(first["l3_extra_ms"] - std["l3_extra_ms"]) <= 20.0
    # The standard request went on-link to the nFA: no LLA, TTL 255 accepted.
    assert not [r for r in sink.records if r.message == "low-latency-request" and r.time < 7.0]


def test_lost_low_latency_request_is_noticed_at_once_from_the_nfa_answer() -> None:
    """The nFA answers the MN's solicitation without a reply (it never got the request):
    the MN falls back at once instead of waiting for its timer."""
    w, sink = world("pre-source")
    w.net.loss_rules.append(  # the low-latency request: the MN's request before L2-LU
        lambda sender, action: (
            sender.name == "MN1"
            and action.message == "registration_request"
            and FIRST_TRIGGER <= w.engine.now < L2_LU
        )
    )
    w.run()
    # §3.6: the low-latency request is not retransmitted while the MN is still on the oFA.
    before = [
        r
        for r in sink.records
        if r.node == "MN1"
        and r.message == "registration_request"
        and r.direction == "tx"
        and FIRST_TRIGGER <= r.time < L2_LU
    ]
    assert len(before) == 1
    fallback = [r for r in sink.records if r.message == "pre-registration-fallback"]
    assert fallback and fallback[0].time == pytest.approx(L2_LU + 2 * 0.002)
    assert accepted_at_nfa(sink.records, FIRST_TRIGGER) <= L2_LU + 2 * 0.002 + 2 * 0.022 + 1e-6


@pytest.mark.parametrize(
    ("method", "lost_node", "lost_message"),
    [
        ("pre-source", "FA1", "inter_fa_solicitation"),
        ("pre-source", "FA2", "inter_fa_advertisement"),
        ("pre-mobile", "FA1", "inter_fa_solicitation"),
        ("pre-mobile", "FA2", "inter_fa_advertisement"),
    ],
)
def test_a_lost_inter_fa_message_at_handoff_time_falls_back_on_l2_lu(
    method: str, lost_node: str, lost_message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """§8.1.2: the oFA's cache has expired when the trigger comes (cache lifetime 0.5 s,
    refreshed every 2 s: last at ~4.97 s, next at ~6.97 s, after the MN left), so it
    solicits the nFA at handoff time (§3.4.1); that solicitation, or the nFA's answer, is
    lost. No PrRtAdv reaches the MN, which performs a standard registration as soon as it
    connects (L2-LU): registered with the nFA within STANDARD_SOLICIT_S of L2-LU, the
    handoff costing what standard-solicit costs."""
    build = mip4.sim.agents.pre_registration

    def short_cache(node: Any, plan: Any) -> PreRegistrationConfig:
        config = build(node, plan)
        if node.name != "FA1":
            return config
        return dataclasses.replace(config, cache_lifetime=0.5, min_solicitation_interval=2.0)

    monkeypatch.setattr(mip4.sim.agents, "pre_registration", short_cache)
    w, sink = world(method)
    lost: list[float] = []

    def lose_once(sender: Node, action: SendPacket) -> bool:
        now = w.engine.now
        if (
            not lost
            and sender.name == lost_node
            and action.message == lost_message
            and now >= FIRST_TRIGGER
        ):
            lost.append(now)
            return True
        return False

    w.net.loss_rules.append(lose_once)
    result: dict[str, Any] = w.run()
    # The lost message is the handoff-time exchange, not a periodic refresh (at 5.0, 6.0).
    misses = [
        r.time
        for r in sink.records
        if r.node == "FA1" and r.message == "inter-fa-cache-miss" and r.time < L2_LD
    ]
    assert misses and misses[0] >= FIRST_TRIGGER and lost and lost[0] < misses[0] + 0.01
    handoff_time = [
        t for t in tx_times(sink.records, "FA1", "inter_fa_solicitation") if t < L2_LD + 0.1
    ]
    assert handoff_time[-1] == misses[0]  # no refresh between the trigger and L2-LU
    assert w.net.drops[(lost_node, "injected-loss")] == 1
    # Nothing reached the MN before it left: no low-latency request.
    assert not [
        r
        for r in sink.records
        if r.node == "MN1" and r.message == "proxy-advertisement" and r.time < L2_LD
    ]
    accepted = accepted_at_nfa(sink.records, FIRST_TRIGGER)
    assert accepted <= L2_LU + STANDARD_SOLICIT_S + 1e-9
    solicit = World(load_scenario("corridor", []), "standard-solicit").run()
    first = result["handoffs"][0]
    assert first["l3_extra_ms"] == solicit["handoffs"][0]["l3_extra_ms"]  # type: ignore[index]
    model = predict("standard-solicit", Parameters())
    assert model is not None and abs(first["l3_extra_ms"] - model) < INTERVAL_MS
    assert abs(result["handoffs"][1]["l3_extra_ms"]) <= 1.0  # the next handoff: on time


def max_in_a_second(times: list[float]) -> int:
    """The most of ``times`` in any half-open window of one second."""
    return max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)


def tx_times(records: list[TraceRecord], node: str, message: str) -> list[float]:
    return [
        r.time
        for r in records
        if r.node == node and r.message == message and r.direction == "tx" and r.kind == "packet"
    ]


@pytest.mark.parametrize("overrides", [(), ("radio.air_loss=0.000001",)], ids=["1", "2-copies"])
def test_a_trigger_flood_in_the_simulator_is_limited_and_counted(
    overrides: tuple[str, ...],
) -> None:
    """§11: 1,000 L2-ST triggers in one second at the oFA give 10 PrRtAdvs, even with 2
    copies of each on lossy air (§8.1.1: then 5 triggers' worth); every other advertisement
    is dropped and counted; the MN's handoffs still work."""
    w, sink = world("pre-source", *overrides)
    copies = 2 if overrides else 1
    fa1 = w.fas[0]
    mn = w.mns[0]
    trigger = SourceTrigger(
        mn=MnIdentifier(link_address=mn.mac, home_address=w.plan.mns[0].address),
        new_fa=FaIdentifier(address=w.plan.fas[1].address),
    )
    for k in range(1000):
        w.engine.at(3.0 + k / 1000.0, fa1.l2_trigger, trigger, {"flood": k})
    result = w.run()
    sent = [
        r
        for r in sink.records
        if r.node == "FA1"
        and r.message == "proxy_router_advertisement"
        and r.direction == "tx"
        and 3.0 <= r.time < 4.0
    ]
    assert len(sent) == 10
    assert w.net.agent_drops[("FA1", "rate-limited")] == 1000 * copies - 10
    assert max_in_a_second(tx_times(sink.records, "FA1", "proxy_router_advertisement")) == 10
    assert [abs(h["l3_extra_ms"]) <= 1.0 for h in result["handoffs"]] == [True, True]  # type: ignore[index]


@pytest.mark.parametrize("overrides", [(), ("radio.air_loss=0.000001",)], ids=["1", "2-copies"])
def test_an_l2_tt_flood_in_the_simulator_is_limited_and_counted(
    overrides: tuple[str, ...],
) -> None:
    """§11 at the nFA: 1,000 L2-TTs in one second give 10 tunnelled advertisements (every
    copy counted), which the oFA relays; the rest are dropped and counted at the nFA."""
    w, sink = world("pre-target", *overrides)
    copies = 2 if overrides else 1
    fa2 = w.fas[1]
    trigger = TargetTrigger(
        mn=MnIdentifier(link_address=w.mns[0].mac, home_address=w.plan.mns[0].address),
        old_fa=FaIdentifier(address=w.plan.fas[0].address),
    )
    for k in range(1000):
        w.engine.at(3.0 + k / 1000.0, fa2.l2_trigger, trigger, {"flood": k})
    result = w.run()
    tunnelled = [t for t in tx_times(sink.records, "FA2", "tunnelled_agent_advertisement")]
    relayed = [t for t in tx_times(sink.records, "FA1", "proxy_router_advertisement")]
    assert len([t for t in tunnelled if 3.0 <= t < 4.0]) == 10
    assert len([t for t in relayed if 3.0 <= t < 4.1]) == 10
    assert max_in_a_second(tunnelled) == 10 and max_in_a_second(relayed) == 10
    assert w.net.agent_drops[("FA2", "rate-limited")] == 1000 * copies - 10
    assert w.net.agent_drops[("FA1", "rate-limited")] == 0
    assert [abs(h["l3_extra_ms"]) <= 1.0 for h in result["handoffs"]] == [True, True]  # type: ignore[index]


def test_a_prrtsol_flood_in_the_simulator_is_limited_and_counted() -> None:
    """§11: 1,000 PrRtSols in one second on the oFA's air link give 10 PrRtAdvs; the other
    990 are dropped and counted; no extra inter-FA solicitation goes out (the cache
    answers); the MN's handoffs still work."""
    from mip4.wire.icmp import AgentSolicitation, RouterDiscoveryLinkLayerAddress
    from mip4.wire.ip import PROTO_ICMP, build_ipv4
    from mip4.wire.lla import SolicitedIpv4Address

    w, sink = world("pre-mobile")
    fa1, mn = w.fas[0], w.mns[0]
    nfa = w.plan.fas[1].address
    prrtsol = AgentSolicitation(
        extensions=(RouterDiscoveryLinkLayerAddress(value=SolicitedIpv4Address(nfa)),)
    ).encode()
    packet = build_ipv4(w.plan.mns[0].address, w.plan.fas[0].address, PROTO_ICMP, prrtsol, ttl=1)
    for k in range(1000):
        w.engine.at(
            3.0 + k / 1000.0, fa1.ip_input, packet, "proxy_router_solicitation", AIR, mn.mac
        )
    result = w.run()
    sent = [t for t in tx_times(sink.records, "FA1", "proxy_router_advertisement") if t < 4.0]
    assert len(sent) == 10
    assert w.net.agent_drops[("FA1", "rate-limited")] == 990
    solicitations = tx_times(sink.records, "FA1", "inter_fa_solicitation")
    assert len([t for t in solicitations if 3.0 <= t < 4.0]) == 1  # the periodic one only
    assert [abs(h["l3_extra_ms"]) <= 1.0 for h in result["handoffs"]] == [True, True]  # type: ignore[index]


@pytest.mark.parametrize("method", ["pre-source", "pre-target", "pre-mobile"])
def test_gfa_path_uses_regional_registration(method: str) -> None:
    """§3.1 steps 3-4, Appendix A: with a GFA the low-latency request is a Regional
    Registration Request, answered by the GFA (which bicasts on the S bit), never the HA."""
    w, sink = world(method, "topology.gfa=true")
    result = w.run()
    window = [r for r in sink.records if FIRST_TRIGGER <= r.time <= L2_LU + 0.01]
    mn_requests = [
        r for r in window if r.node == "MN1" and r.direction == "tx" and "request" in r.message
    ]
    assert [r.message for r in mn_requests][:1] == ["regional_registration_request"]
    assert not [r for r in window if r.node == "HA" and r.kind == "packet"]
    assert [r for r in window if r.node == "GFA" and r.message == "regional_registration_reply"]
    for h in result["handoffs"]:  # type: ignore[attr-defined]
        assert abs(h["l3_extra_ms"]) <= 1.0 and h["lost"] == 5


@pytest.mark.parametrize("method", ["pre-source", "pre-mobile"])
def test_lossy_air_sends_copies_and_the_nfa_relays_one(method: str) -> None:
    """§3.4: two copies of the low-latency request on a lossy air link (§8.1.1: and of the
    PrRtSol and PrRtAdv); the nFA relays the request once and drops the copy, counted."""
    w, sink = world(method, "radio.air_loss=0.000001")  # lossy in name: copies, no loss here
    w.run()
    window = [r for r in sink.records if FIRST_TRIGGER <= r.time < L2_LU]

    def tx(node: str, message: str) -> list[TraceRecord]:
        return [
            r for r in window if r.node == node and r.direction == "tx" and r.message == message
        ]

    requests = tx("MN1", "registration_request")
    assert len(requests) == 2 and requests[0].time == requests[1].time
    assert len(tx("FA2", "registration_request")) == 1
    copies = [r for r in window if r.node == "FA2" and r.kind == "drop" and r.message == "replayed"]
    assert len(copies) == 1
    expected_adverts = 2 if method == "pre-source" else 4  # 2 PrRtSols x 2 PrRtAdvs
    assert len(tx("FA1", "proxy_router_advertisement")) == expected_adverts
    if method == "pre-mobile":
        assert len(tx("MN1", "proxy_router_solicitation")) == 2
    assert accepted_at_nfa(sink.records, FIRST_TRIGGER) <= L2_LU + 0.01


def test_a_tunnelled_advertisement_without_esp_never_reaches_the_mn() -> None:
    """§3.4.2: "An FA MUST NOT accept tunneled ICMP packets destined to it from sources that
    are not authenticated": a forged nFA advertisement in plain IP-in-IP to the oFA is
    dropped at the tunnel exit (counted), and the MN starts no handoff."""
    from mip4.core.actions import TunnelMode
    from mip4.sim.dataplane import encapsulate_packet
    from mip4.sim.network import WIRED
    from mip4.wire.icmp import AgentAdvertisement, RouterDiscoveryLinkLayerAddress
    from mip4.wire.ip import PROTO_ICMP, build_ipv4
    from mip4.wire.lla import EthernetMac

    w, sink = world("pre-target")
    fa1, fa2, mn = w.fas[0], w.fas[1], w.plan.mns[0]
    genuine = fa2.agent.advertiser.build()  # type: ignore[attr-defined]
    forged = AgentAdvertisement(
        lifetime=3,
        router_addresses=genuine.router_addresses,
        extensions=(
            *genuine.extensions,
            RouterDiscoveryLinkLayerAddress(value=EthernetMac(b"\x02evil!")),
        ),
    )
    inner = build_ipv4(w.plan.fas[1].address, mn.address, PROTO_ICMP, forged.encode(), ttl=1)
    attacker = bytes([198, 51, 100, 66])
    outer = encapsulate_packet(TunnelMode.IP_IN_IP, inner, attacker, fa1.address)
    w.engine.at(3.0, fa1.ip_input, outer, None, WIRED, b"\x02\x00\x00\x00\x00\x99")
    w.run()
    assert w.net.drops[("FA1", "unauthenticated-tunnelled-icmp")] == 1
    assert not [
        r
        for r in sink.records
        if r.node == "MN1" and r.message == "proxy-advertisement" and r.time < 5.0
    ]
