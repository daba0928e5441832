"""The discrete-event engine: a virtual clock and one event queue.

Events run in (time, scheduling order): events at the same virtual time run in the order they
were scheduled, and a run is a pure function of its inputs, so the same scenario and seed give
the same event order and therefore the same trace, byte for byte.

The queue is a calendar: :attr:`Engine.buckets` maps each pending virtual time to its
``(callback, *args)`` events in scheduling order, and :attr:`Engine.times`, a binary heap
(:mod:`heapq`), holds each pending time once. That is the order of a heap of ``(time,
sequence)`` pairs, but the heap only holds distinct times, compared as plain floats: the many
events a large run schedules at the same instant (the frames of one broadcast, the two flows
of a call) share one heap entry, so the heap stays small and a pop touches little memory as
the number of MNs grows. A time with a single event (most of them: calls start at random
phases, so their packets' instants differ) maps to that event itself; a second event at the
same time turns the entry into a list, ``[first, second]``. So most events cost no list (an
object to allocate, track in the collector, free, and a cache miss more when it runs).

Time is float seconds of virtual time, the ``now`` every agent input carries (design.md, "The
core contract"); deadlines are absolute values on the same clock.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from heapq import heapify, heappop, heappush
from typing import Any

Callback = Callable[..., None]
# An event is one tuple, ``(callback, *args)``: one object to allocate, track in the
# collector and free per event, not a pair and its arguments (with many MNs, each object of
# a packet in flight is a cache miss when it runs).
Event = tuple[Any, ...]
Entry = Event | list[Event]  # the events at one time: the only one, or several in order


class Engine:
    """A virtual clock and a calendar of pending events."""

    __slots__ = ("buckets", "events", "now", "times")

    def __init__(self) -> None:
        self.now: float = 0.0
        self.events: int = 0  # events executed so far
        # Hot paths schedule inline (saving a call per event), exactly as :meth:`at` does
        # (with ``time >= now``): a new time gets the event itself and goes onto ``times``;
        # a list gets the event appended; a lone event becomes a list of it and this one.
        self.buckets: dict[float, Entry] = {}
        self.times: list[float] = []

    def at(self, time: float, callback: Callback, *args: Any) -> None:
        """Run ``callback(*args)`` at virtual ``time`` (never before :attr:`now`)."""
        if time < self.now:
            time = self.now
        event: Event = (callback, *args)
        bucket = self.buckets.get(time)
        if bucket is None:
            self.buckets[time] = event
            heappush(self.times, time)
        elif type(bucket) is list:
            bucket.append(event)
        else:
            self.buckets[time] = [bucket, event]  # type: ignore[list-item]

    def after(self, delay: float, callback: Callback, *args: Any) -> None:
        """Run ``callback(*args)`` ``delay`` seconds from now."""
        self.at(self.now + delay, callback, *args)

    @property
    def pending(self) -> int:
        """Events still queued."""
        return sum(len(entry) if type(entry) is list else 1 for entry in self.buckets.values())

    @property
    def queue(self) -> list[tuple[float, int, Callback, tuple[Any, ...]]]:
        """A snapshot of the pending events as ``(time, position, callback, args)``, in the
        order they will run (for tests and diagnostics)."""
        ordered = sorted(self.buckets.items())
        return [
            (time, position, event[0], event[1:])
            for position, (time, event) in enumerate(
                (time, event) for time, entry in ordered for event in _events(entry)
            )
        ]

    def prune(self, dead: Callable[[Callback, tuple[Any, ...]], bool]) -> int:
        """Remove the pending events after :attr:`now` for which ``dead(callback, args)`` is
        true (events that would do nothing when they run, such as timers re-armed or
        cancelled since); the others keep their order. Returns how many were removed.

        Safe from inside a callback: the events at :attr:`now` (the list :meth:`run` is
        going through) are left alone."""
        removed = 0
        buckets = self.buckets
        now = self.now
        for time, entry in list(buckets.items()):
            if time <= now:
                continue
            if type(entry) is not list:
                lone: Event = entry  # type: ignore[assignment]
                if dead(lone[0], lone[1:]):
                    removed += 1
                    del buckets[time]
                continue
            kept = [event for event in entry if not dead(event[0], event[1:])]
            if len(kept) != len(entry):
                removed += len(entry) - len(kept)
                if kept:
                    entry[:] = kept
                else:
                    del buckets[time]
        if removed:
            times = self.times  # in place: :meth:`run` holds this list
            times[:] = buckets
            heapify(times)
        return removed

    def run(self, until: float) -> None:
        """Execute events in (time, scheduling) order up to and including time ``until``.

        The clock ends at ``until`` even when the queue empties earlier.

        While it runs, the objects that existed when it began (the world: nodes, agents,
        flows, logs, pending events) sit in the cyclic collector's permanent generation
        (:func:`gc.freeze`), so the collections the run's allocations trigger walk only what
        the run created, not a world that grows with the number of MNs; they go back to the
        collector when the run ends.
        """
        freeze = gc.isenabled() and gc.get_freeze_count() == 0  # not someone else's freeze
        if freeze:
            gc.freeze()
        try:
            self._run(until)
        finally:
            if freeze:
                gc.unfreeze()

    def _run(self, until: float) -> None:
        times = self.times
        buckets = self.buckets
        executed = 0
        bucket: list[Event] | None = None  # a list of events while they run
        time = 0.0
        done = 0
        try:
            while times and times[0] <= until:
                time = times[0]
                self.now = time
                entry: Any = buckets.pop(time)  # an Event or a list of them
                if type(entry) is not list:
                    # A lone event leaves the queue before it runs (so it is consumed if it
                    # raises); an event it schedules for this same instant makes a new
                    # entry, which runs next.
                    heappop(times)
                    executed += 1
                    entry[0](*entry[1:])
                    continue
                buckets[time] = bucket = entry
                done = 0
                # Events the callbacks schedule at this same time join this list, after the
                # ones already in it, and run in this loop.
                for event in bucket:
                    done += 1
                    event[0](*event[1:])
                executed += done
                del buckets[time]
                heappop(times)
                bucket = None
        finally:
            if bucket is not None:  # a callback raised: the events that ran are gone
                executed += done
                del bucket[:done]
                if not bucket:
                    del buckets[time]
                    heappop(times)
            self.events += executed
        self.now = max(self.now, until)


def _events(entry: Entry) -> list[Event]:
    return entry if type(entry) is list else [entry]  # type: ignore[list-item]
