"""POST-REGISTRATION end to end in the simulator (RFC 4881 §4, issue 5).

The message order of each two-party variant, read from the trace, equals RFC 4881 Figures
7 and 8; the L3 handoff adds at most the extra tunnel hop (d_FF) whatever d_FH is; the MN
defers its registration until the nFA's advertisement (§4.4); after every scenario no BET,
BET timer or tunnel is left.
"""

from __future__ import annotations

from typing import Any

import pytest

from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink, TraceRecord

FA1, FA2, FA3, HA = "198.18.2.1", "198.18.2.2", "198.18.2.3", "198.18.16.1"
MN1 = "198.18.16.16"
NAMES = {FA1: "FA1", FA2: "FA2", FA3: "FA3", HA: "HA", MN1: "MN1"}
METHODS = ("post-source", "post-target")

_STEPS = {
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
    "bet-forwarding",
    "bet-delivering",
    "registration_request",
    "registration_reply",
}
# The handoff FA1 -> FA2 as the RFC draws it (FA-side triggers, the BET, the MN's traffic
# through it), then the deferred registration (§4.4) and the teardown (§4.3, Figure 12).
_AFTER = [
    ("FA1", "L2-LD", None),
    ("FA1", "bet-forwarding", None),  # §4.1 step 4a
    ("FA2", "L2-LU", None),
    ("FA2", "bet-delivering", None),  # §4.1 step 4b
    ("MN1", "registration_request", "FA2"),  # on FA2's advertisement (§4.4)
    ("FA2", "registration_request", "HA"),
    ("HA", "registration_reply", "FA2"),
    ("FA2", "registration_reply", "MN1"),
    ("FA2", "handoff_request_r", "FA1"),  # Figure 12, lifetime 0
    ("FA1", "handoff_reply_r", "FA2"),
]
FIGURE = {
    "post-source": [  # Figure 7
        ("FA1", "L2-ST", None),
        ("FA1", "handoff_request_s", "FA2"),
        ("FA2", "handoff_reply_s", "FA1"),
        *_AFTER,
    ],
    "post-target": [  # Figure 8
        ("FA2", "L2-TT", None),
        ("FA2", "handoff_request_t", "FA1"),
        ("FA1", "handoff_reply_t", "FA2"),
        *_AFTER,
    ],
}


def run(method: str, *overrides: str) -> tuple[dict[str, Any], list[TraceRecord], World]:
    sink = ListSink()
    world = World(load_scenario("corridor", list(overrides)), method, sinks=[sink])
    return world.run(), sink.records, world


def first_handoff(records: list[TraceRecord]) -> list[TraceRecord]:
    start = next(r.time for r in records if r.kind == "l2" and r.message in {"L2-ST", "L2-TT"})
    end = next(
        r.time
        for r in records
        if r.node == "FA2" and r.message == "bet-cancelled" and r.time > start
    )
    return [r for r in records if start <= r.time <= end]


def sequence(records: list[TraceRecord]) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    for r in records:
        if r.message not in _STEPS or (r.node == "MN1" and r.kind == "l2"):
            continue
        if r.kind in ("l2", "notify"):
            out.append((r.node, r.message, None))
        elif r.kind == "packet" and r.direction == "tx":
            destination = str(r.fields["destination"])
            out.append((r.node, r.message, NAMES.get(destination, destination)))
    return out


@pytest.mark.parametrize("method", METHODS)
def test_message_order_equals_the_rfc_figure(method: str) -> None:
    result, records, _ = run(method)
    window = first_handoff(records)
    assert sequence(window) == FIGURE[method]
    assert result["summary"]["handoffs"] == 2
    # §4.4: nothing from the MN between its L2-LU and the nFA's advertisement.
    l2_lu = next(r.time for r in window if r.node == "MN1" and r.message == "L2-LU")
    advert = next(
        r.time
        for r in window
        if r.node == "FA2" and r.message == "agent_advertisement" and r.time >= l2_lu
    )
    sent = [
        r
        for r in window
        if r.node == "MN1" and r.kind == "packet" and r.direction == "tx" and r.time < advert
    ]
    assert sent == []
    assert any(r.node == "MN1" and r.message == "registration-deferred" for r in window)
    # The BET carried the MN's traffic both ways before it registered.
    teardown = next(r.time for r in window if r.message == "handoff_request_r")
    assert advert < teardown


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("ha_delay_ms", [5, 20, 50])
def test_l3_extra_is_at_most_the_extra_tunnel_hop(method: str, ha_delay_ms: int) -> None:
    d_ff = 2.0
    result, _, _ = run(method, f"topology.ha_delay_ms={ha_delay_ms}")
    extras = [h["l3_extra_ms"] for h in result["handoffs"]]
    assert len(extras) == 2
    assert all(x <= d_ff + 1.0 for x in extras), extras
    # Only the L2 gap is lost: 100 ms of a 20 ms stream, 5 packets per handoff.
    assert all(h["lost"] == 5 for h in result["handoffs"])


@pytest.mark.parametrize("method", METHODS)
def test_l3_extra_follows_d_ff(method: str) -> None:
    result, _, _ = run(method, "topology.fa_delay_ms=8")
    assert all(7.0 <= h["l3_extra_ms"] <= 9.0 for h in result["handoffs"])


@pytest.mark.parametrize("method", METHODS)
def test_no_bet_tunnel_or_timer_outlives_the_scenario(method: str) -> None:
    _, records, world = run(method)
    end = world.engine.now
    for fa in world.fas:
        snap = fa.agent.snapshot(end)
        assert snap["post_registration"] == {"bets": {}, "cancelling": []}
        assert fa.dataplane.forward_tunnels == {}
        assert not fa.dataplane.proxy_arp
        assert not [key for key in fa.armed if str(key[0]).startswith("bet-")]
    ended = [r for r in records if r.message == "bet-ended"]
    assert {r.fields["why"] for r in ended} == {"registered", "terminated"}


def test_renewal_follows_figure_12_while_the_mn_defers() -> None:
    """§4.3, Figure 12: with 1 s BETs and advertisements every 10 s the MN defers long
    enough for the current FA to renew the BET with the aFA (HRqst(r)/HRply(r) with a
    lifetime), then ends it (lifetime 0) once the MN has registered."""
    import dataclasses
    import random

    from mip4.core.foreign_agent import ForeignAgent
    from mip4.sim.agents import make_agent
    from mip4.sim.runner import NodePlan, WorldPlan

    def factory(node: NodePlan, world: WorldPlan, rng: random.Random) -> Any:
        agent = make_agent(node, world, rng)
        if isinstance(agent, ForeignAgent) and agent.config.post_registration is not None:
            post = dataclasses.replace(agent.config.post_registration, tunnel_lifetime=1)
            return ForeignAgent(
                dataclasses.replace(agent.config, post_registration=post), random=rng
            )
        return agent

    sink = ListSink()
    world = World(
        load_scenario("corridor", ["protocol.advertisement_interval_ms=10000"]),
        "post-source",
        seed=2,
        sinks=[sink],
        agent_factory=factory,
    )
    result = world.run()
    first = [
        (r.node, r.message, NAMES[str(r.fields["destination"])], r.fields["lifetime"])
        for r in sink.records
        if r.kind == "packet"
        and r.direction == "tx"
        and r.message in ("handoff_request_r", "handoff_reply_r")
        and r.time < 19.7
    ]
    assert first[:2] == [
        ("FA2", "handoff_request_r", "FA1", 1),  # renew (Figure 12)
        ("FA1", "handoff_reply_r", "FA2", 1),
    ]
    assert first[-2:] == [
        ("FA2", "handoff_request_r", "FA1", 0),  # terminate once the MN registered
        ("FA1", "handoff_reply_r", "FA2", 0),
    ]
    assert all(h["lost"] == 5 for h in result["handoffs"])
    for fa in world.fas:
        assert fa.dataplane.forward_tunnels == {}


@pytest.mark.parametrize("method", METHODS)
def test_without_lead_the_reply_acts_as_the_trigger(method: str) -> None:
    """§4.1: "In the absence of optimal L2 trigger information, the HRply can act as the
    trigger": with the trigger at L2-LD itself the BET still forms before L2-LU."""
    result, records, _ = run(method, "radio.trigger_lead_ms=0")
    assert all(h["l3_extra_ms"] <= 2.0 + 1.0 for h in result["handoffs"])
    assert not [r for r in records if r.message == "handoff-unconfirmed"]


@pytest.mark.parametrize("method", METHODS)
def test_the_registration_after_the_handoff_loses_no_uplink_packet(method: str) -> None:
    """From the relayed request on, the nFA tunnels the uplink to the HA itself: nothing
    reaches the HA from the old care-of address after the binding moved (RFC 3024 §4.2.2)."""
    result, records, _ = run(method, "topology.ha_delay_ms=50")
    assert not [r for r in records if r.message == "reverse-tunnel-check"]
    assert result["summary"]["lost"] == 4 * 5  # the L2 gaps only, both directions
