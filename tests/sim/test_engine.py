"""The event engine: (time, sequence) order, run horizon, virtual clock."""

from __future__ import annotations

from mip4.sim.engine import Engine


def test_events_run_in_time_then_scheduling_order() -> None:
    engine = Engine()
    seen: list[tuple[float, str]] = []
    for name, t in [("c", 2.0), ("a", 1.0), ("b", 1.0), ("d", 0.5)]:
        engine.at(t, lambda n=name: seen.append((engine.now, n)))
    engine.run(10.0)
    assert seen == [(0.5, "d"), (1.0, "a"), (1.0, "b"), (2.0, "c")]
    assert engine.events == 4
    assert engine.now == 10.0


def test_run_stops_at_the_horizon_and_resumes() -> None:
    engine = Engine()
    seen: list[float] = []
    for t in (1.0, 2.0, 3.0):
        engine.at(t, lambda: seen.append(engine.now))
    engine.run(2.0)
    assert seen == [1.0, 2.0]
    assert engine.pending == 1
    engine.run(5.0)
    assert seen == [1.0, 2.0, 3.0]


def test_events_scheduled_in_the_past_run_now_and_after_chains() -> None:
    engine = Engine()
    seen: list[tuple[float, str]] = []

    def first() -> None:
        seen.append((engine.now, "first"))
        engine.at(0.0, lambda: seen.append((engine.now, "late")))
        engine.after(0.25, lambda: seen.append((engine.now, "after")))

    engine.at(1.0, first)
    engine.run(2.0)
    assert seen == [(1.0, "first"), (1.0, "late"), (1.25, "after")]
