"""The combined method end to end in the simulator (RFC 4881 §5).

When PRE-REGISTRATION completes, the combined method is PRE-REGISTRATION: l3_extra 0 and
no handoff message at all. When the Registration Reply of the low-latency registration is
lost, the nFA's timer (1 s from the request) expires, it builds a BET from the oFA (an
HRqst(t) to the address of the request's LLA sub-type 7), the tunnel carries the traffic
and l3_extra stays within the timer plus one packet interval; the BET ends when the MN's
registration with the nFA succeeds, and nothing is left.
"""

from __future__ import annotations

from typing import Any

import pytest

from mip4.core.actions import SendPacket
from mip4.sim.network import Node
from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink, TraceRecord
from tests.sim.test_post_failures import assert_nothing_left

TIMER_MS, INTERVAL_MS = 1000.0, 20.0


def run(
    *overrides: str, lose_reply_from: str | None = None
) -> tuple[dict[str, Any], list[TraceRecord], World, list[float]]:
    sink = ListSink()
    w = World(load_scenario("corridor", list(overrides)), "combined", sinks=[sink])
    lost: list[float] = []

    def rule(node: Node, action: SendPacket) -> bool:
        if (
            node.name == lose_reply_from
            and action.message == "registration_reply"
            and 5.5 < w.engine.now < 6.5
            and not lost
        ):
            lost.append(w.engine.now)
            return True
        return False

    w.net.loss_rules.append(rule)
    return w.run(), sink.records, w, lost


@pytest.mark.parametrize("ha_delay_ms", [5, 20])
def test_when_pre_registration_completes_it_is_pre_registration(ha_delay_ms: int) -> None:
    result, records, w, _ = run(f"topology.ha_delay_ms={ha_delay_ms}")
    assert [h["l3_extra_ms"] for h in result["handoffs"]] == [0.0, 0.0]
    assert not [r for r in records if r.message.startswith("handoff")]
    started = [r for r in records if r.message == "combined-timer-started"]
    stopped = [r for r in records if r.message == "combined-timer-stopped"]
    assert len(started) == len(stopped) == 2  # §5: started on the request, reset by the reply
    assert_nothing_left(w)


def test_a_lost_reply_falls_back_to_a_post_registration_tunnel() -> None:
    result, records, w, lost = run(lose_reply_from="HA")
    assert lost
    request = next(
        r
        for r in records
        if r.node == "FA2" and r.message == "registration_request" and r.direction == "rx"
    )
    fallback = next(r for r in records if r.message == "combined-fallback")
    assert fallback.node == "FA2"
    assert fallback.time == pytest.approx(request.time + TIMER_MS / 1000.0)  # §5: 1 s
    assert fallback.fields["ofa"] == "198.18.2.1"  # from the LLA sub-type 7
    steps = [
        (r.node, r.message)
        for r in records
        if r.kind == "packet" and r.direction == "tx" and r.message.startswith("handoff")
    ]
    assert steps[:2] == [("FA2", "handoff_request_t"), ("FA1", "handoff_reply_t")]
    delivering = next(r for r in records if r.message == "bet-delivering")
    assert delivering.time > fallback.time
    first = result["handoffs"][0]
    assert 0.0 < first["l3_extra_ms"] <= TIMER_MS + INTERVAL_MS
    assert result["handoffs"][1]["l3_extra_ms"] == 0.0
    # §5: "MAY tear down this tunnel when it receives ... a successful Registration Reply"
    ended = next(r for r in records if r.message == "bet-ended" and r.node == "FA2")
    assert ended.fields["why"] == "registered"
    assert_nothing_left(w)


def test_a_lost_relayed_reply_is_pre_registrations_business() -> None:
    """The reply reached the nFA (timer reset) and was lost on the air: no fallback."""
    _, records, w, lost = run(lose_reply_from="FA2")
    assert lost
    assert not [r for r in records if r.message == "combined-fallback"]
    assert_nothing_left(w)
