"""Three-party POST-REGISTRATION handoffs and the return to the anchor in the simulator
(RFC 4881 §4.2, Figures 10 and 11, step 6).

An MN crossing three cells without registering keeps its call through one anchor; the
message order equals the figures; both aFA timing policies work (the earliest costs the
packets sent to the nFA before the MN gets there); the old BET is gone after the handoff;
an MN coming back to its anchor is served directly again without any HRqst(t).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from mip4.core.foreign_agent import ForeignAgent
from mip4.sim.agents import make_agent
from mip4.sim.runner import NodePlan, World, WorldPlan
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink, TraceRecord
from tests.sim.test_post_registration import NAMES

FAST = ["mobility.model=fast"]
STEPS = {
    "L2-ST",
    "L2-TT",
    "L2-LD",
    "L2-LU",
    "handoff_request_s",
    "handoff_reply_s",
    "handoff_request_t",
    "handoff_reply_t",
    "handoff_request_r",
    "handoff_reply_r",
    "handoff_to_third",
    "registration_request",
}
_END = [
    ("FA2", "L2-LD", None),
    ("FA2", "handoff_request_r", "FA1"),  # §4.2 step 4b: lifetime 0
    ("FA1", "handoff_reply_r", "FA2"),
    ("FA3", "L2-LU", None),
]
FIGURE = {
    "post-source": [  # Figure 10
        ("FA2", "L2-ST", None),
        ("FA2", "handoff_to_third", "FA3"),
        ("FA3", "handoff_reply_s", "FA2"),
        ("FA3", "handoff_request_t", "FA1"),
        ("FA1", "handoff_reply_t", "FA3"),
        *_END,
    ],
    "post-target": [  # Figure 11
        ("FA3", "L2-TT", None),
        ("FA3", "handoff_request_t", "FA2"),
        ("FA2", "handoff_to_third", "FA3"),
        ("FA3", "handoff_request_t", "FA1"),
        ("FA1", "handoff_reply_t", "FA3"),
        *_END,
    ],
}


def with_policy(policy: str) -> Any:
    def factory(node: NodePlan, world: WorldPlan, rng: random.Random) -> Any:
        agent = make_agent(node, world, rng)
        if isinstance(agent, ForeignAgent) and agent.config.post_registration is not None:
            post = dataclasses.replace(agent.config.post_registration, anchor_policy=policy)
            config = dataclasses.replace(agent.config, post_registration=post)
            return ForeignAgent(config, random=rng)
        return agent

    return factory


def run(
    method: str, overrides: list[str], policy: str | None = None
) -> tuple[dict[str, Any], list[TraceRecord], World]:
    sink = ListSink()
    factory = None if policy is None else with_policy(policy)
    world = World(load_scenario("corridor", overrides), method, sinks=[sink], agent_factory=factory)
    return world.run(), sink.records, world


def sequence(records: list[TraceRecord]) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    for r in records:
        if r.message not in STEPS or (r.node == "MN1" and r.kind == "l2"):
            continue
        if r.kind == "l2":
            out.append((r.node, r.message, None))
        elif r.kind == "packet" and r.direction == "tx":
            destination = str(r.fields["destination"])
            out.append((r.node, r.message, NAMES.get(destination, destination)))
    return out


def second_handoff(records: list[TraceRecord]) -> list[TraceRecord]:
    triggers = [r.time for r in records if r.kind == "l2" and r.message in {"L2-ST", "L2-TT"}]
    start = triggers[1]
    end = next(
        r.time for r in records if r.kind == "l2" and r.message == "L2-LU" and r.time > start
    )
    return [r for r in records if start <= r.time <= end]


@pytest.mark.parametrize("method", ["post-source", "post-target"])
def test_message_order_equals_figures_10_and_11(method: str) -> None:
    result, records, _ = run(method, FAST)
    assert sequence(second_handoff(records)) == FIGURE[method]
    # The MN crossed three cells without registering: one anchor, FA1, all along.
    first_lu = next(r.time for r in records if r.node == "FA2" and r.message == "L2-LU")
    third_lu = next(r.time for r in records if r.node == "FA3" and r.message == "L2-LU")
    assert not [
        r
        for r in records
        if r.node == "MN1"
        and r.message == "registration_request"
        and first_lu <= r.time <= third_lu
    ]
    forwarding = [r for r in records if r.node == "FA1" and r.message == "SetForwardTunnel"]
    assert [f.fields["peer"] for f in forwarding][:2] == ["198.18.2.2", "198.18.2.3"]
    # The call went on: only the L2 gaps were lost.
    assert [h["lost"] for h in result["handoffs"]] == [5, 5]
    assert all(h["l3_extra_ms"] <= 2.0 + 1.0 for h in result["handoffs"])


@pytest.mark.parametrize("policy", ["earliest", "latest"])
def test_both_anchor_policies_move_the_bet_and_the_old_one_is_gone(policy: str) -> None:
    result, records, world = run("post-source", FAST, policy)
    window = second_handoff(records)
    moved = next(
        r
        for r in window
        if r.node == "FA1" and r.message == "SetForwardTunnel" and r.fields["peer"] is not None
    )
    reply_t = next(r for r in window if r.node == "FA1" and r.message == "handoff_reply_t")
    request_r = next(
        r
        for r in window
        if r.node == "FA1" and r.message == "handoff_request_r" and r.direction == "rx"
    )
    if policy == "earliest":
        assert moved.time == reply_t.time  # §4.2: right after the HRply(t)
        assert result["handoffs"][1]["lost"] > 5  # sent to FA3 before the MN got there
    else:
        assert moved.time == request_r.time  # §4.2: on the oFA's HRqst(r)
        assert result["handoffs"][1]["lost"] == 5
    # The old BET is gone: FA2 delivers nothing, proxies nothing, holds nothing.
    removed = [r for r in window if r.node == "FA2" and r.message == "RemoveVisitor"]
    assert removed and removed[0].time == pytest.approx(request_r.time - 0.002)  # at L2-LD
    fa2 = world.fas[1]
    assert fa2.agent.snapshot(world.engine.now)["post_registration"]["bets"] == {}
    assert not fa2.dataplane.proxy_arp


@pytest.mark.parametrize("method", ["post-source", "post-target"])
def test_the_return_to_the_anchor_needs_no_new_tunnel(method: str) -> None:
    """§4.2 step 6: the MN goes back to FA1 before registering with FA2 (advertisements
    every 5 s): the HTT names FA1 itself; no HRqst(t) to an aFA; FA1 delivers directly."""
    overrides = [
        "mobility.model=ping-pong",
        "mobility.dwell_s=1",
        "mobility.handoffs=2",
        "protocol.advertisement_interval_ms=5000",
        "traffic.start_s=5.3",
    ]
    result, records, world = run(method, overrides)
    window = second_handoff(records)
    steps = sequence(window)
    assert ("FA2", "handoff_to_third", "FA1") in steps
    assert ("FA1", "handoff_reply_t", "FA2") not in steps
    assert ("FA2", "handoff_request_r", "FA1") in steps  # redundant, as the RFC says
    assert any(r.node == "FA1" and r.message == "mn-returning" for r in window)
    assert not [r for r in records if r.node == "MN1" and r.message == "registration_request"][1:]
    assert [h["lost"] for h in result["handoffs"]] == [5, 5]
    assert result["handoffs"][1]["l3_extra_ms"] <= 0.0  # the tunnel hop is gone
    for fa in world.fas:
        assert fa.dataplane.forward_tunnels == {}
        assert fa.agent.snapshot(world.engine.now)["post_registration"]["bets"] == {}


@pytest.mark.parametrize("method", ["post-source", "post-target"])
def test_fast_ping_pong_loses_only_the_l2_gaps(method: str) -> None:
    """Handoffs every 0.5 s between two cells: registrations race the handoffs (an MN
    registers with an FA it is about to leave). The FA it registered with takes over as the
    anchor (§4.1 step 4c) and hands the MN on itself; the ping-pong back to the anchor
    cancels the tunnel (§4.1 step 6, §4.2 step 6). Every handoff loses only its L2 gap."""
    overrides = ["mobility.model=ping-pong", "mobility.dwell_s=0.4", "mobility.handoffs=10"]
    result, records, world = run(method, overrides)
    measured = [h for h in result["handoffs"] if h["l3_extra_ms"] is not None]
    assert len(measured) >= 6
    assert all(h["lost"] == 5 and h["l3_extra_ms"] <= 3.0 for h in measured)
    assert any(r.message == "handoff-re-anchored" for r in records)
    assert any(r.message == "mn-returning" for r in records)
    for fa in world.fas:
        assert fa.agent.snapshot(world.engine.now)["post_registration"]["bets"] == {}
        assert fa.dataplane.forward_tunnels == {}
