"""mobility.handoffs: the number of moves of every model where it applies."""

from __future__ import annotations

import random

import pytest

from mip4.sim.mobility import MobilityError, default_duration, plan, requested_handoffs
from mip4.sim.runner import simulate
from mip4.sim.scenario import load_scenario


def moves(model: str, handoffs: int | None, cells: int = 3) -> list[tuple[int, int]]:
    (p,) = plan(
        model,
        cells=cells,
        mns=1,
        dwell_s=5.0,
        duration_s=1000.0,
        handoffs=handoffs,
        fast_dwell_s=0.3,
        l2_handoff_s=0.1,
        dwell_jitter_s=0.0,
        rng=random.Random(1),
    )
    return [(m.source, m.target) for m in p.moves]


def test_requested_handoffs_only_when_set() -> None:
    assert requested_handoffs(load_scenario("corridor").mobility) is None
    assert requested_handoffs(load_scenario("fast").mobility) is None
    assert requested_handoffs(load_scenario("ping-pong").mobility) == 10
    corridor = load_scenario("corridor", ["mobility.handoffs=1"])
    assert requested_handoffs(corridor.mobility) == 1
    with pytest.raises(MobilityError, match=r"mobility\.handoffs: does not apply to model 'grid'"):
        load_scenario("corridor", ["mobility.model=grid", "mobility.handoffs=3"])


def test_corridor_walks_back_and_forth() -> None:
    assert moves("corridor", None) == [(0, 1), (1, 2)]  # unset: one walk, as always
    assert moves("corridor", 1) == [(0, 1)]
    assert moves("corridor", 5) == [(0, 1), (1, 2), (2, 1), (1, 0), (0, 1)]
    assert moves("corridor", 3, cells=2) == [(0, 1), (1, 0), (0, 1)]
    with pytest.raises(MobilityError, match="at least 2 cells"):
        moves("corridor", 2, cells=1)


def test_fast_repeats_its_three_party_pass() -> None:
    assert moves("fast", None, cells=5) == [(0, 1), (1, 2)]
    (p,) = plan("fast", cells=3, mns=1, dwell_s=5.0, duration_s=100.0, handoffs=4,
                fast_dwell_s=0.3, l2_handoff_s=0.1, dwell_jitter_s=0.0,
                rng=random.Random(1))  # fmt: skip
    assert [(m.source, m.target) for m in p.moves] == [(0, 1), (1, 2), (2, 1), (1, 0)]
    # every odd move enters a cell the MN leaves after the L2 gap and fast_dwell only
    times = [m.time for m in p.moves]
    assert times == pytest.approx([5.0, 5.4, 10.4, 10.8])


def test_default_durations_unchanged_when_unset() -> None:
    common = {"dwell_s": 5.0, "fast_dwell_s": 0.3, "l2_handoff_s": 0.1}
    for cells in (1, 2, 3, 5):
        corridor = default_duration("corridor", cells=cells, handoffs=None, **common)
        assert corridor == max(1, cells) * 5.0
        fast = default_duration("fast", cells=cells, handoffs=None, **common)
        assert fast == pytest.approx(2 * 5.0 + 0.1 + 0.3)
    assert default_duration("corridor", cells=3, handoffs=4, **common) == 25.0
    assert default_duration("fast", cells=3, handoffs=4, **common) == pytest.approx(15.8)


def test_the_simulator_runs_the_handoffs_asked_for() -> None:
    quick = ["mobility.dwell_s=1", "traffic.interval_ms=50"]
    assert len(simulate(load_scenario("corridor", quick), "standard")["handoffs"]) == 2
    four = simulate(load_scenario("corridor", [*quick, "mobility.handoffs=4"]), "standard")
    assert [(h["from"], h["to"]) for h in four["handoffs"]] == [
        ("FA1", "FA2"), ("FA2", "FA3"), ("FA3", "FA2"), ("FA2", "FA1"),
    ]  # fmt: skip
