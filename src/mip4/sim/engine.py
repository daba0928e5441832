"""The discrete-event engine: a virtual clock and one event queue.

Events are ``(time, sequence, callback, args)`` tuples in a binary heap (:mod:`heapq`). The
sequence counter breaks ties, so events at the same virtual time run in the order they were
scheduled, and a run is a pure function of its inputs: the same scenario and seed give the same
event order and therefore the same trace, byte for byte.

Time is float seconds of virtual time, the ``now`` every agent input carries (design.md, "The
core contract"); deadlines are absolute values on the same clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

Callback = Callable[..., None]


class Engine:
    """A virtual clock and a heap of pending events."""

    __slots__ = ("_queue", "counter", "events", "now", "queue")

    def __init__(self) -> None:
        self.now: float = 0.0
        self.events: int = 0  # events executed so far
        self.queue: list[tuple[float, int, Callback, tuple[Any, ...]]] = []
        self._queue = self.queue
        # Hot paths push ``(time, next(engine.counter), callback, args)`` onto ``queue``
        # themselves (with ``time >= now``), saving a call per event.
        self.counter = itertools.count()

    def at(self, time: float, callback: Callback, *args: Any) -> None:
        """Run ``callback(*args)`` at virtual ``time`` (never before :attr:`now`)."""
        if time < self.now:
            time = self.now
        heappush(self._queue, (time, next(self.counter), callback, args))

    def after(self, delay: float, callback: Callback, *args: Any) -> None:
        """Run ``callback(*args)`` ``delay`` seconds from now."""
        self.at(self.now + delay, callback, *args)

    @property
    def pending(self) -> int:
        """Events still queued."""
        return len(self._queue)

    def run(self, until: float) -> None:
        """Execute events in (time, sequence) order up to and including time ``until``.

        The clock ends at ``until`` even when the queue empties earlier.
        """
        queue = self._queue
        pop = heappop
        executed = 0
        try:
            while queue and queue[0][0] <= until:
                time, _, callback, args = pop(queue)
                self.now = time
                executed += 1
                callback(*args)
        finally:
            self.events += executed
        self.now = max(self.now, until)
