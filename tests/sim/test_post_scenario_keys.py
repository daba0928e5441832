"""The POST-REGISTRATION scenario keys reach the FAs (protocol.tunnel_lifetime_s,
protocol.anchor_policy, protocol.combined_timer_ms), and bad values are refused by key."""

from __future__ import annotations

import pytest

from mip4.sim.runner import World
from mip4.sim.scenario import ScenarioError, load_scenario


def test_the_keys_configure_every_fa() -> None:
    scenario = load_scenario(
        "corridor",
        [
            "protocol.tunnel_lifetime_s=7",
            "protocol.anchor_policy=earliest",
            "protocol.combined_timer_ms=250",
        ],
    )
    w = World(scenario, "combined")
    for fa in w.fas:
        post = fa.agent.config.post_registration
        assert post is not None
        assert (post.tunnel_lifetime, post.anchor_policy, post.combined_timer) == (
            7,
            "earliest",
            0.25,
        )


def test_the_combined_timer_key_sets_when_the_fallback_starts() -> None:
    """§5: with the PRE-REGISTRATION reply lost, the nFA's HRqst(t) leaves when the timer
    (here 250 ms) runs out after it started."""
    from mip4.sim.trace import ListSink

    sink = ListSink()
    w = World(
        load_scenario("corridor", ["protocol.combined_timer_ms=250"]), "combined", sinks=[sink]
    )
    w.net.loss_rules.append(
        lambda node, action: (
            action.message == "registration_reply"
            and node.name == "HA"
            and 5.0 < w.engine.now < 7.0
        )
    )
    w.run()
    started = next(r for r in sink.records if r.message == "combined-timer-started")
    fallback = next(r for r in sink.records if r.message == "combined-fallback")
    assert fallback.node == started.node
    assert fallback.time - started.time == pytest.approx(0.25)


@pytest.mark.parametrize(
    "assignment",
    ["protocol.tunnel_lifetime_s=0", "protocol.anchor_policy=soon", "protocol.combined_timer_ms=0"],
)
def test_bad_values_name_the_key(assignment: str) -> None:
    with pytest.raises(ScenarioError, match=assignment.split("=")[0]):
        load_scenario("corridor", [assignment])
