"""PRE-REGISTRATION end to end in the simulator (RFC 4881 §3, issue 4).

The message order of each variant, read from the trace, equals RFC 4881 Figures 2, 3 and 4;
with the S bit and enough trigger lead the L3 handoff adds nothing; without the S bit the
early switch costs packets (every variant); with too little lead the extra time follows the
analytical model (:mod:`mip4.experiments.model`) within one packet interval and never
exceeds ``standard-solicit`` by more than one.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from mip4.experiments.model import Parameters, predict
from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink, TraceRecord

FA1, FA2, HA = "198.18.2.1", "198.18.2.2", "198.18.16.1"
MN1 = "198.18.16.16"
NAMES = {FA1: "FA1", FA2: "FA2", HA: "HA", MN1: "MN1", "224.0.0.11": "all-agents"}
METHODS = ("pre-source", "pre-target", "pre-mobile")
INTERVAL_MS = 20.0  # traffic.interval_ms of the corridor scenario

# The handoff FA1 -> FA2 of the corridor as the RFC draws it: (sender, message, receiver).
# The low-latency Registration Request goes MN -> nFA "routed via oFA" (at the oFA it is
# forwarded by the data plane, so the oFA's agent never sees it); the nFA buffers the reply
# until the MN connects and solicits (or L2-LU reaches the nFA).
_REGISTRATION = [
    ("MN1", "registration_request", "FA2"),  # RegReq (routed via oFA)
    ("FA2", "registration_request", "HA"),  # RegReq
    ("HA", "registration_reply", "FA2"),  # RegReply
    ("FA2", "registration-reply-buffered", None),  # Buffered ~~~>
    ("MN1", "agent_solicitation", "all-agents"),  # Agent Solicitation (MN connects)
    ("FA2", "registration_reply", "MN1"),  # (Reg)RegReply
]
FIGURE = {
    # Figure 2: L2-Source Trigger at oFA; PrRtAdv oFA -> MN.
    "pre-source": [
        ("FA1", "L2-ST", None),
        ("FA1", "proxy_router_advertisement", "MN1"),
        *_REGISTRATION,
    ],
    # Figure 3: L2-Target Trigger at nFA; the nFA's advertisement tunnelled to the MN
    # through the oFA (two hops here: nFA -> oFA in ESP, then oFA -> MN on-link).
    "pre-target": [
        ("FA2", "L2-TT", None),
        ("FA2", "tunnelled_agent_advertisement", "FA1"),
        ("FA1", "proxy_router_advertisement", "MN1"),
        *_REGISTRATION,
    ],
    # Figure 4: L2-Trigger at the MN; PrRtSol MN -> oFA; PrRtAdv oFA -> MN.
    "pre-mobile": [
        ("MN1", "L2-MT", None),
        ("MN1", "proxy_router_solicitation", "FA1"),
        ("FA1", "proxy_router_advertisement", "MN1"),
        *_REGISTRATION,
    ],
}
_MESSAGES = {m for steps in FIGURE.values() for _, m, _ in steps}


def run(method: str, *overrides: str) -> tuple[dict[str, Any], list[TraceRecord]]:
    sink = ListSink()
    world = World(load_scenario("corridor", list(overrides)), method, sinks=[sink])
    return world.run(), sink.records


def first_handoff(records: list[TraceRecord]) -> list[TraceRecord]:
    """Records from the anticipatory trigger of the first handoff to the MN's acceptance."""
    start = next(
        r.time for r in records if r.kind == "l2" and r.message in {"L2-ST", "L2-TT", "L2-MT"}
    )
    end = next(
        r.time
        for r in records
        if r.node == "MN1" and r.message == "registration-accepted" and r.time > start
    )
    return [r for r in records if start <= r.time <= end]


def sequence(records: list[TraceRecord]) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    for r in records:
        if r.message not in _MESSAGES:
            continue
        if r.kind == "l2" or r.kind == "notify":
            out.append((r.node, r.message, None))
        elif r.kind == "packet" and r.direction == "tx":
            destination = str(r.fields["destination"])
            out.append((r.node, r.message, NAMES.get(destination, destination)))
    return out


@pytest.mark.parametrize("method", METHODS)
def test_message_order_equals_the_rfc_figure(method: str) -> None:
    result, records = run(method)
    window = first_handoff(records)
    assert sequence(window) == FIGURE[method]
    l2_lu = next(r.time for r in records if r.kind == "l2" and r.message == "L2-LU" and r.time > 5)
    # The solicitation and the reply's delivery happen once the MN is on the nFA's link.
    solicit = next(r for r in window if r.message == "agent_solicitation")
    delivered = next(
        r
        for r in window
        if r.node == "FA2" and r.message == "registration_reply" and r.direction == "tx"
    )
    assert solicit.time >= l2_lu and delivered.time >= l2_lu
    # The request reached the nFA routed (TTL 254), carrying the S bit; the oFA's agent
    # never saw it; the nFA took the MN's MAC from the LLA (the visitor entry's address).
    request = next(
        r
        for r in window
        if r.node == "FA2"
        and r.kind == "packet"
        and r.direction == "rx"
        and r.message == "registration_request"
    )
    assert "S" in str(request.fields["flags"])
    ll = next(r for r in window if r.node == "FA2" and r.message == "low-latency-request")
    assert ll.fields["ttl"] == 254
    assert not [
        r
        for r in window
        if r.node == "FA1" and r.direction == "rx" and r.message == "registration_request"
    ]
    visitor = next(r for r in window if r.node == "FA2" and r.message == "SetVisitor")
    assert (
        visitor.fields["link_address"] == "020000000006"
    )  # MN1's MAC: mac_of(6) (CN, HA, FA1-3, MN1)
    # With the S bit the HA bicasts to the oFA and the nFA across the L2 handoff (§3.1, §6).
    binding = next(r for r in window if r.node == "HA" and r.message == "SetMobilityBinding")
    assert binding.fields["care_of_addresses"] == [FA1, FA2]
    # §3.6: the default router switches to the nFA when the reply arrives, with the nFA's
    # MAC from the PrRtAdv's LLA (§3.7), not the oFA's frame source.
    accepted = next(r for r in window if r.node == "MN1" and r.message == "registration-accepted")
    router = next(
        r
        for r in window
        if r.node == "MN1" and r.message == "SetDefaultRouter" and r.time == accepted.time
    )
    assert router.fields["router"] == FA2 and router.fields["link_address"] == "020000000004"
    assert result["summary"]["handoffs"] == 2


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "overrides",
    [
        ("topology.ha_delay_ms=5",),
        ("topology.ha_delay_ms=20",),
        ("topology.ha_delay_ms=50",),
        ("radio.profile=cellular",),
    ],
)
def test_enough_lead_and_the_s_bit_add_nothing(method: str, overrides: tuple[str, ...]) -> None:
    """Issue 4: l3_extra is 0 (within 1 ms) for every handoff of every variant with d_FH 5,
    20 and 50 ms (and on the cellular profile, d_w 10 ms). With d_FH 50 ms the packet phase
    puts a downlink frame on the nFA's air within d_w before L2-LU; it is delivered because
    the association completes before it arrives (sim/network.py), as the metric's ideal
    assumes."""
    result, _ = run(method, *overrides)
    extras = [h["l3_extra_ms"] for h in result["handoffs"]]
    assert len(extras) == 2
    assert all(abs(x) <= 1.0 for x in extras), extras
    for h in result["handoffs"]:  # exactly what the L2 gap implies, nothing more
        assert h["lost"] == round(h["ideal_disruption_ms"] / INTERVAL_MS) - 1


def signalling_ms(method: str, p: Parameters) -> float:
    """The variant's signalling time from the trigger to the HA, S in design.md's model
    (:mod:`mip4.experiments.model`), recovered from its prediction
    max(0, S - lead - t_l2 + d_fh + d_w) at a lead long enough not to fall back."""
    lead = 10.0
    extra = predict(method, dataclasses.replace(p, lead=lead, t_l2=0.0))
    assert extra is not None and extra > 0.0
    return extra + lead - p.d_fh - p.d_w


@pytest.mark.parametrize("method", METHODS)
def test_without_the_s_bit_the_early_switch_costs_packets(method: str) -> None:
    """§3.1, §6: without simultaneous bindings the HA switches to the nFA as soon as the
    registration arrives (S after the trigger: 26 ms pre-source, 28 ms pre-target and
    pre-mobile), while the MN is still on the oFA until L2-LD: the packets tunnelled to the
    nFA before L2-LU are lost. Measured on the corridor, for every variant: 13 packets per
    handoff instead of 5, disruption 280 ms instead of 120. (``l3_extra_ms`` stays 0: its
    ideal starts from the last packet received before L2-LD, so the cost shows in ``lost``
    and ``disruption_ms``.)"""
    with_s, _ = run(method)
    without_s, _ = run(method, "protocol.low_latency_s_bit=false")
    p = Parameters()
    for a, b in zip(with_s["handoffs"], without_s["handoffs"], strict=True):
        assert a["lost"] == 5 and a["disruption_ms"] == pytest.approx(120.0)
        assert b["lost"] == 13 and b["disruption_ms"] == pytest.approx(280.0)
        # The lead minus the signalling time to the HA of traffic goes to the nFA before
        # the MN leaves, then the L2 gap itself.
        expected = p.lead - signalling_ms(method, p) + p.t_l2
        assert abs(b["disruption_ms"] - expected) < INTERVAL_MS


@pytest.mark.parametrize("method", METHODS)
def test_trigger_lead_shortfall_grows_l3_extra_by_the_shortfall(method: str) -> None:
    """Issue 4: with too little lead ``l3_extra_ms`` follows design.md's model
    (:func:`mip4.experiments.model.predict`) within one packet interval (the simulator
    delivers whole packets), from no shortfall down to the fallback to standard-solicit
    when the request cannot leave through the oFA before L2-LD, and never exceeds the
    measured ``standard-solicit`` figure by more than one packet interval. (The leads avoid
    the model's fallback boundary itself, request-out + d_w, where a frame arriving exactly
    at L2-LD is a tie.)"""
    setting = ["radio.l2_handoff_ms=20", "topology.ha_delay_ms=50"]
    p = Parameters(d_fh=50.0, t_l2=20.0)
    solicit, _ = run("standard-solicit", *setting)
    ceiling = max(h["l3_extra_ms"] for h in solicit["handoffs"]) + INTERVAL_MS
    for lead in (150, 60, 40, 30, 20, 10, 5, 3, 0):
        result, _ = run(method, *setting, f"radio.trigger_lead_ms={lead}")
        model = predict(method, dataclasses.replace(p, lead=float(lead)))
        assert model is not None
        for h in result["handoffs"]:
            x = h["l3_extra_ms"]
            assert x <= ceiling, (lead, x)
            assert abs(x - model) < INTERVAL_MS, (lead, x, model)


@pytest.mark.parametrize("method", METHODS)
def test_long_corridor_keeps_reaching_the_floor(method: str) -> None:
    """After each handoff a plain registration drops the simultaneous bindings, so the HA
    never reaches its binding limit (RFC 5944 §3.6.1.2, code 135) on a long path."""
    result, records = run(method, "topology.fas=7")
    assert result["summary"]["handoffs"] == 6
    assert all(abs(h["l3_extra_ms"]) <= 1.0 for h in result["handoffs"])
    assert not [r for r in records if r.message == "registration-denied"]


@pytest.mark.parametrize("method", METHODS)
def test_mip4_simulate_json_for_the_pre_methods(
    method: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mip4.cli import main

    assert main(["simulate", "--method", method, "--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"scenario", "method", "seed", "params", "handoffs", "summary"}
    assert result["method"] == method
    assert result["summary"]["l3_extra_ms"]["max"] == 0.0
    assert result["params"]["protocol"]["low_latency_s_bit"] is True


def test_optional_nfa_buffering_keeps_every_packet() -> None:
    """``protocol.smooth_handoff`` (buffering beyond RFC 4881, §3.1 "outside the scope"): the
    nFA holds the MN's packets with the buffered reply and delivers them after it. Without
    the S bit nothing is lost any more (the early switch is absorbed, delivered late); with
    the S bit the packets the oFA also delivered before L2-LD come twice."""
    without_s, _ = run(
        "pre-source", "protocol.low_latency_s_bit=false", "protocol.smooth_handoff=true"
    )
    with_s, records = run("pre-source", "protocol.smooth_handoff=true")
    for h in without_s["handoffs"]:
        assert h["lost"] == 0 and h["duplicates"] == 0
    for h in with_s["handoffs"]:
        assert h["lost"] == 0 and h["duplicates"] > 0
    flushes = [r for r in records if r.node == "FA2" and r.message == "FlushBuffer"]
    reply = next(
        r
        for r in records
        if r.node == "FA2"
        and r.direction == "tx"
        and r.message == "registration_reply"
        and r.time > 6.0
    )
    assert flushes and flushes[0].time == reply.time  # delivered with (after) the reply


@pytest.mark.parametrize("method", METHODS)
def test_with_rfc_4721_challenges_the_cached_advertisement_still_works(method: str) -> None:
    """§3.5: with FA challenges (and MN-FA SAs) the MN's low-latency request carries the
    challenge the nFA put in the advertisement the oFA cached (or tunnelled), authenticated
    by MN-FA; the default MIN_SOLICITATION_INTERVAL keeps it valid: no denial, l3_extra 0."""
    from mip4.core.actions import SendPacket
    from mip4.sim.network import Node
    from mip4.wire.extensions import MnFaChallenge, MobileForeignAuthentication
    from mip4.wire.messages import decode_control_message

    sink = ListSink()
    world = World(load_scenario("corridor", ["protocol.fa_challenge=true"]), method, sinks=[sink])
    requests: list[Any] = []

    def watch(node: Node, action: SendPacket) -> bool:
        if node.name == "MN1" and action.message == "registration_request":
            requests.append((action.destination, decode_control_message(action.payload)))
        return False

    world.net.loss_rules.append(watch)
    result = world.run()
    assert not [r for r in sink.records if r.message == "registration-denied"]
    assert all(abs(h["l3_extra_ms"]) <= 1.0 for h in result["handoffs"])
    low_latency = [
        m
        for d, m in requests
        if str(d) == FA2 and any(type(e).__name__ == "LinkLayerAddress" for e in m.extensions)
    ]
    assert low_latency
    kinds = [type(e) for e in low_latency[0].extensions]
    assert kinds.index(MnFaChallenge) < kinds.index(MobileForeignAuthentication)
