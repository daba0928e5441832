"""The combined method from each anticipatory trigger (RFC 4881 §5, ``protocol.combined_trigger``).

§5 combines PRE-REGISTRATION, whatever its trigger (L2-MT at the MN, L2-ST at the oFA, L2-TT
at the nFA), with the nFA's fallback timer; on L2-TT the nFA "MUST also start a timer when
it receives a target trigger". On the corridor (first trigger at 5.8 s, L2-LD 6.0 s, L2-LU
6.1 s): nothing lost, every trigger gives PRE-REGISTRATION's l3_extra of 0 and no handoff
message. With L2-TT, a lost Registration Reply leaves the timer started on L2-TT to expire,
and the BET it builds carries the traffic within the timer plus one packet interval. A lost
tunnelled advertisement leaves the MN without a low-latency registration: it solicits on
L2-LU and registers in the standard way, whose reply resets the 1 s timer (§5); with a timer
shorter than the trigger's lead the timer expires first and the BET carries the traffic from
L2-LU until that registration succeeds.
"""

from __future__ import annotations

from typing import Any

import pytest

from mip4.sim.network import Node
from mip4.sim.radio import Radio
from mip4.sim.runner import World
from mip4.sim.scenario import ScenarioError, load_scenario
from mip4.sim.trace import ListSink, TraceRecord
from tests.sim.test_post_failures import assert_nothing_left

TRIGGER, L2_LU = 5.8, 6.1  # the corridor's first L2-TT (dwell - lead) and L2-LU
TIMER_MS, INTERVAL_MS = 1000.0, 20.0
OFA = "198.18.2.1"


def run(
    trigger: str, *overrides: str, lose: tuple[str, str] | None = None
) -> tuple[dict[str, Any], list[TraceRecord], World, list[float]]:
    """Method combined on the corridor from ``trigger``; ``lose`` = (node, message): that
    node's first such message of the first handoff is lost."""
    sink = ListSink()
    scenario = load_scenario("corridor", [f"protocol.combined_trigger={trigger}", *overrides])
    w = World(scenario, "combined", sinks=[sink])
    lost: list[float] = []

    def rule(node: Node, action: Any) -> bool:
        if (node.name, action.message) == lose and 5.5 < w.engine.now < 6.5 and not lost:
            lost.append(w.engine.now)
            return True
        return False

    w.net.loss_rules.append(rule)
    return w.run(), sink.records, w, lost


def handoff_messages(records: list[TraceRecord]) -> list[tuple[str, str]]:
    return [
        (r.node, r.message)
        for r in records
        if r.kind == "packet" and r.direction == "tx" and r.message.startswith("handoff")
    ]


def notes(records: list[TraceRecord], message: str) -> list[TraceRecord]:
    return [r for r in records if r.kind == "notify" and r.message == message]


@pytest.mark.parametrize(
    ("trigger", "at", "started_on"),
    [
        ("L2-ST", ["FA1", "FA2"], "request"),  # at each oFA
        ("L2-TT", ["FA2", "FA3"], "L2-TT"),  # at each nFA
        ("L2-MT", ["MN1", "MN1"], "request"),
    ],
)
def test_nothing_lost_is_pre_registration_from_every_trigger(
    trigger: str, at: list[str], started_on: str
) -> None:
    result, records, w, _ = run(trigger)
    # the radio gave the configured trigger (and no other) where RFC 4881 Table 1 says
    anticipatory = [
        (r.node, r.message)
        for r in records
        if r.kind == "l2" and r.message not in ("L2-LD", "L2-LU")
    ]
    assert anticipatory == [(node, trigger) for node in at]
    assert [h["l3_extra_ms"] for h in result["handoffs"]] == [0.0, 0.0]
    assert not handoff_messages(records)
    started = notes(records, "combined-timer-started")
    assert [r.fields["on"] for r in started] == [started_on, started_on]
    assert len(notes(records, "combined-timer-stopped")) == 2
    assert not notes(records, "combined-fallback")
    assert_nothing_left(w)


def test_l2_tt_a_lost_reply_expires_the_timer_started_on_l2_tt() -> None:
    result, records, w, lost = run("L2-TT", lose=("HA", "registration_reply"))
    assert lost
    started = notes(records, "combined-timer-started")[0]
    assert (started.node, started.fields["on"], started.time) == ("FA2", "L2-TT", TRIGGER)
    fallback = notes(records, "combined-fallback")[0]
    assert fallback.node == "FA2" and fallback.fields["ofa"] == OFA
    # §5: from L2-TT, not from the low-latency request that reached the nFA 8 ms later
    assert fallback.time == pytest.approx(TRIGGER + TIMER_MS / 1000.0)
    assert handoff_messages(records)[:2] == [
        ("FA2", "handoff_request_t"),
        ("FA1", "handoff_reply_t"),
    ]
    assert notes(records, "bet-delivering")[0].time > fallback.time
    first = result["handoffs"][0]
    assert 0.0 < first["l3_extra_ms"] <= TIMER_MS + INTERVAL_MS
    assert result["handoffs"][1]["l3_extra_ms"] == 0.0
    ended = next(r for r in notes(records, "bet-ended") if r.node == "FA2")
    assert ended.fields["why"] == "registered"
    assert_nothing_left(w)


def test_l2_tt_a_lost_tunnelled_advertisement_the_standard_reply_resets_the_timer() -> None:
    """No low-latency registration: the MN solicits on L2-LU and registers; that reply
    resets the timer (§5), so no BET is built and l3_extra is standard-solicit's."""
    result, records, w, lost = run("L2-TT", lose=("FA2", "tunnelled_agent_advertisement"))
    assert lost == [TRIGGER]
    assert notes(records, "combined-timer-started")[0].fields["on"] == "L2-TT"
    assert not notes(records, "combined-fallback")
    assert not handoff_messages(records)
    first = result["handoffs"][0]
    assert 0.0 < first["l3_extra_ms"] <= TIMER_MS + INTERVAL_MS
    assert_nothing_left(w)


def test_l2_tt_a_lost_tunnelled_advertisement_a_short_timer_builds_the_bet() -> None:
    """With a 150 ms timer (expiring before L2-LD) the nFA's HRqst(t) builds the BET, the oFA
    forwards from L2-LD and the nFA delivers from L2-LU: the MN receives downlink through
    the BET before its registration with the nFA is accepted."""
    timer_ms = 150.0
    result, records, w, lost = run(
        "L2-TT",
        f"protocol.combined_timer_ms={timer_ms}",
        lose=("FA2", "tunnelled_agent_advertisement"),
    )
    assert lost == [TRIGGER]
    fallback = notes(records, "combined-fallback")[0]
    assert fallback.time == pytest.approx(TRIGGER + timer_ms / 1000.0)
    assert handoff_messages(records)[:2] == [
        ("FA2", "handoff_request_t"),
        ("FA1", "handoff_reply_t"),
    ]
    delivering = notes(records, "bet-delivering")[0]
    assert delivering.time == pytest.approx(L2_LU)
    accepted = next(
        r for r in notes(records, "registration-accepted") if r.node == "MN1" and r.time > L2_LU
    )
    through_bet = [
        r
        for r in records
        if r.kind == "data"
        and r.node == "MN1"
        and r.direction == "rx"
        and L2_LU <= r.time < accepted.time
    ]
    assert through_bet
    first = result["handoffs"][0]
    assert first["l3_extra_ms"] <= INTERVAL_MS  # the BET, not the 40 ms registration
    ended = next(r for r in notes(records, "bet-ended") if r.node == "FA2")
    assert ended.fields["why"] == "registered"
    assert_nothing_left(w)


def test_l2_tt_a_lost_relayed_reply_within_the_bound() -> None:
    """The nFA relayed the reply (timer reset) and the air lost it: PRE-REGISTRATION's own
    recovery, no fallback."""
    result, records, w, lost = run("L2-TT", lose=("FA2", "registration_reply"))
    assert lost
    assert not notes(records, "combined-fallback")
    assert result["handoffs"][0]["l3_extra_ms"] <= TIMER_MS + INTERVAL_MS
    assert_nothing_left(w)


def test_a_bad_combined_trigger_is_refused_with_the_key() -> None:
    with pytest.raises(ScenarioError, match=r"protocol\.combined_trigger.*L2-ST.*L2-TT.*L2-MT"):
        load_scenario("corridor", ["protocol.combined_trigger=L2-XX"])
    w = World(load_scenario("corridor"), "combined")
    with pytest.raises(ValueError, match="combined_trigger must be one of L2-ST, L2-TT, L2-MT"):
        Radio(
            w.net,
            w.engine,
            method="combined",
            l2_handoff_s=0.1,
            trigger_lead_s=0.2,
            combined_trigger="L2-LU",
        )
