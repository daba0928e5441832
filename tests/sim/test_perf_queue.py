"""The simulator's event queue stays free of stale timers, without changing a run.

Every registration re-arms the MN's, FA's and HA's lifetime timers (minutes long), so a long
run with many MNs left most of the queue to timer events that would do nothing when they
fired; the network removes them once they are as many as the events pending
(:meth:`mip4.sim.network.Network.timer_dropped`). These tests prove that the clean-up happens,
that it removes only dead timers (a run with it gives the same trace, byte for byte, as one
without) and that the queue then holds few stale timers.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

import mip4.sim.network as network
from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import JsonLinesSink

GRID = ["mobility.mns=12", "mobility.dwell_s=1.5", "duration_s=12"]


def stale_timers(world: World) -> int:
    """Timer events in the queue that :meth:`AgentHost.fire` would ignore."""
    return sum(
        1 for _, _, callback, args in world.engine.queue if network._stale_timer(callback, args)
    )


def run(method: str, prune_min: int, monkeypatch: pytest.MonkeyPatch) -> tuple[World, str]:
    monkeypatch.setattr(network, "PRUNE_MIN", prune_min)
    out = io.StringIO()
    world = World(load_scenario("grid", GRID), method, sinks=[JsonLinesSink(out)])
    world.run()
    return world, out.getvalue()


@pytest.mark.parametrize("method", ["standard", "post-source"])
def test_pruning_stale_timers_changes_nothing_in_the_trace(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pruned, trace = run(method, 8, monkeypatch)
    never, reference = run(method, 10**9, monkeypatch)
    assert stale_timers(never) > 50  # without the clean-up they pile up
    assert pruned.net.prune_at < 10**9 and pruned.engine.events < never.engine.events
    assert trace == reference


def test_the_queue_holds_fewer_stale_timers_than_the_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world, _ = run("standard", 8, monkeypatch)
    net: Any = world.net
    assert stale_timers(world) <= net._stale_timers < net.prune_at
