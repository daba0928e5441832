"""The discrete-event engine: a virtual clock and one event queue.

Events run in (time, scheduling order): events at the same virtual time run in the order they
were scheduled, and a run is a pure function of its inputs, so the same scenario and seed give
the same event order and therefore the same trace, byte for byte.

The queue is a calendar: :attr:`Engine.buckets` maps each pending virtual time to the list of
its ``(callback, args)`` events in scheduling order, and :attr:`Engine.times`, a binary heap
(:mod:`heapq`), holds each pending time once. That is the order of a heap of ``(time,
sequence)`` pairs, but the heap only holds distinct times, compared as plain floats: the many
events a large run schedules at the same instant (every call's packet of one period, the
frames of one broadcast) share one heap entry, so the heap stays small and a pop touches little
memory as the number of MNs grows.

Time is float seconds of virtual time, the ``now`` every agent input carries (design.md, "The
core contract"); deadlines are absolute values on the same clock.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from heapq import heapify, heappop, heappush
from typing import Any

Callback = Callable[..., None]
Event = tuple[Callback, tuple[Any, ...]]


class Engine:
    """A virtual clock and a calendar of pending events."""

    __slots__ = ("buckets", "events", "now", "times")

    def __init__(self) -> None:
        self.now: float = 0.0
        self.events: int = 0  # events executed so far
        # Hot paths schedule inline (saving a call per event), exactly as :meth:`at` does:
        # append ``(callback, args)`` to ``buckets[time]``, or create that list and push
        # ``time`` onto ``times`` (with ``time >= now``).
        self.buckets: dict[float, list[Event]] = {}
        self.times: list[float] = []

    def at(self, time: float, callback: Callback, *args: Any) -> None:
        """Run ``callback(*args)`` at virtual ``time`` (never before :attr:`now`)."""
        if time < self.now:
            time = self.now
        bucket = self.buckets.get(time)
        if bucket is None:
            self.buckets[time] = [(callback, args)]
            heappush(self.times, time)
        else:
            bucket.append((callback, args))

    def after(self, delay: float, callback: Callback, *args: Any) -> None:
        """Run ``callback(*args)`` ``delay`` seconds from now."""
        self.at(self.now + delay, callback, *args)

    @property
    def pending(self) -> int:
        """Events still queued."""
        return sum(map(len, self.buckets.values()))

    @property
    def queue(self) -> list[tuple[float, int, Callback, tuple[Any, ...]]]:
        """A snapshot of the pending events as ``(time, position, callback, args)``, in the
        order they will run (for tests and diagnostics)."""
        ordered = sorted(self.buckets.items())
        return [
            (time, position, callback, args)
            for position, (time, (callback, args)) in enumerate(
                (time, event) for time, bucket in ordered for event in bucket
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
        for time, bucket in list(buckets.items()):
            if time <= now:
                continue
            kept = [event for event in bucket if not dead(*event)]
            if len(kept) != len(bucket):
                removed += len(bucket) - len(kept)
                if kept:
                    bucket[:] = kept
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
        bucket: list[Event] | None = None
        time = 0.0
        done = 0
        try:
            while times and times[0] <= until:
                time = times[0]
                self.now = time
                bucket = buckets[time]
                done = 0
                # Events the callbacks schedule at this same time join this list, after the
                # ones already in it, and run in this loop.
                for callback, args in bucket:
                    done += 1
                    callback(*args)
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
