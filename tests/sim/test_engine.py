"""The event engine: (time, sequence) order, run horizon, virtual clock."""

from __future__ import annotations

import pytest

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


def test_events_scheduled_for_now_from_a_callback_run_after_the_ones_queued() -> None:
    engine = Engine()
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        engine.at(1.0, lambda: seen.append("same time, scheduled later"))

    engine.at(1.0, first)
    engine.at(1.0, lambda: seen.append("second"))
    engine.at(0.5, lambda: engine.at(1.0, lambda: seen.append("queued at 0.5")))
    engine.run(1.0)
    assert seen == ["first", "second", "queued at 0.5", "same time, scheduled later"]
    assert engine.pending == 0


def test_a_raising_callback_consumes_itself_and_the_rest_still_run() -> None:
    engine = Engine()
    seen: list[str] = []

    def boom() -> None:
        raise RuntimeError("boom")

    engine.at(1.0, lambda: seen.append("a"))
    engine.at(1.0, boom)
    engine.at(1.0, lambda: seen.append("b"))
    engine.at(2.0, lambda: seen.append("c"))
    with pytest.raises(RuntimeError, match="boom"):
        engine.run(5.0)
    assert seen == ["a"]
    assert engine.events == 2
    assert engine.pending == 2
    engine.run(5.0)
    assert seen == ["a", "b", "c"]
    assert engine.events == 4


def test_queue_snapshot_lists_events_in_run_order() -> None:
    engine = Engine()

    def f(tag: str) -> None:
        pass

    engine.at(2.0, f, "c")
    engine.at(1.0, f, "a")
    engine.at(1.0, f, "b")
    assert [(t, args) for t, _, _, args in engine.queue] == [
        (1.0, ("a",)),
        (1.0, ("b",)),
        (2.0, ("c",)),
    ]


def test_prune_removes_only_dead_events_and_keeps_the_order() -> None:
    engine = Engine()
    seen: list[str] = []
    for t, tag in [(1.0, "a"), (1.0, "dead1"), (2.0, "dead2"), (2.0, "b"), (3.0, "dead3")]:
        engine.at(t, seen.append, tag)
    removed = engine.prune(lambda callback, args: args[0].startswith("dead"))
    assert removed == 3
    assert engine.pending == 2
    assert engine.times == [1.0, 2.0]  # the emptied time 3.0 left the heap too
    engine.run(10.0)
    assert seen == ["a", "b"]


def test_prune_from_a_callback_leaves_the_current_instant_alone() -> None:
    engine = Engine()
    seen: list[str] = []

    def pruner() -> None:
        seen.append("pruner")
        engine.prune(lambda callback, args: bool(args) and args[0].startswith("dead"))

    engine.at(1.0, pruner)
    engine.at(1.0, seen.append, "dead-now")  # the list run() is iterating: not touched
    engine.at(1.5, seen.append, "dead-later")
    engine.at(2.0, seen.append, "live")
    engine.run(10.0)
    assert seen == ["pruner", "dead-now", "live"]
    assert engine.events == 3


def test_a_run_keeps_the_world_out_of_the_collector_and_gives_it_back() -> None:
    """The objects that exist when a run begins are frozen while it runs (the collections
    it triggers do not walk them) and unfrozen when it ends, also when a callback raises."""
    import gc

    if not gc.isenabled() or gc.get_freeze_count():
        pytest.skip("the collector is disabled or something else froze objects")
    engine = Engine()
    frozen: list[int] = []
    engine.at(1.0, lambda: frozen.append(gc.get_freeze_count()))
    engine.run(2.0)
    assert frozen and frozen[0] > 0
    assert gc.get_freeze_count() == 0

    def boom() -> None:
        raise RuntimeError("boom")

    engine.at(3.0, boom)
    with pytest.raises(RuntimeError):
        engine.run(4.0)
    assert gc.get_freeze_count() == 0


def test_a_lone_event_is_stored_as_itself_and_a_second_one_makes_a_list() -> None:
    engine = Engine()

    def f(tag: str) -> None:
        pass

    engine.at(1.0, f, "a")
    assert engine.buckets[1.0] == (f, "a")  # no list for a time with one event
    engine.at(1.0, f, "b")
    engine.at(1.0, f, "c")
    assert engine.buckets[1.0] == [(f, "a"), (f, "b"), (f, "c")]
    assert engine.pending == 3 and engine.times == [1.0]


def test_events_a_lone_event_schedules_for_its_own_instant_run_after_it_in_order() -> None:
    engine = Engine()
    seen: list[tuple[float, str]] = []

    def lone() -> None:
        seen.append((engine.now, "lone"))
        engine.at(1.0, lambda: seen.append((engine.now, "same instant 1")))
        engine.at(1.5, lambda: seen.append((engine.now, "later")))
        engine.at(1.0, lambda: seen.append((engine.now, "same instant 2")))

    engine.at(1.0, lone)
    engine.at(2.0, lambda: seen.append((engine.now, "last")))
    engine.run(3.0)
    assert seen == [
        (1.0, "lone"),
        (1.0, "same instant 1"),
        (1.0, "same instant 2"),
        (1.5, "later"),
        (2.0, "last"),
    ]
    assert engine.events == 5 and engine.pending == 0 and not engine.buckets


def test_a_raising_lone_event_is_consumed_and_what_it_scheduled_still_runs() -> None:
    engine = Engine()
    seen: list[str] = []

    def boom() -> None:
        engine.at(1.0, lambda: seen.append("scheduled for the same instant"))
        raise RuntimeError("boom")

    def boom_alone() -> None:
        raise RuntimeError("alone")

    engine.at(1.0, boom)
    engine.at(2.0, boom_alone)
    engine.at(3.0, lambda: seen.append("c"))
    with pytest.raises(RuntimeError, match="boom"):
        engine.run(5.0)
    assert engine.events == 1 and engine.pending == 3
    with pytest.raises(RuntimeError, match="alone"):
        engine.run(5.0)
    assert seen == ["scheduled for the same instant"]
    assert engine.events == 3 and engine.pending == 1 and engine.times == [3.0]
    engine.run(5.0)
    assert seen == ["scheduled for the same instant", "c"] and engine.events == 4


def test_a_raising_event_after_a_lone_one_became_a_list_keeps_the_rest() -> None:
    engine = Engine()
    seen: list[str] = []

    def boom() -> None:
        raise RuntimeError("boom")

    def lone() -> None:
        seen.append("lone")
        engine.at(1.0, boom)
        engine.at(1.0, lambda: seen.append("after boom"))

    engine.at(1.0, lone)
    with pytest.raises(RuntimeError, match="boom"):
        engine.run(5.0)
    assert engine.events == 2 and engine.pending == 1
    engine.run(5.0)
    assert seen == ["lone", "after boom"] and engine.events == 3 and not engine.buckets


def test_prune_removes_lone_dead_events_too() -> None:
    engine = Engine()
    seen: list[str] = []
    engine.at(1.0, seen.append, "dead-lone")
    engine.at(2.0, seen.append, "live-lone")
    assert engine.prune(lambda callback, args: args[0].startswith("dead")) == 1
    assert engine.times == [2.0] and engine.pending == 1
    engine.run(5.0)
    assert seen == ["live-lone"]
