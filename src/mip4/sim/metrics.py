"""Handoff metrics computed from the trace, exactly as design.md ("Metrics") defines them.

:class:`Metrics` is a trace sink: it consumes the records of a run as they happen (or replayed
from a JSON-lines file with :func:`mip4.sim.trace.replay`) and :meth:`Metrics.result` returns
the ``handoffs`` list and the ``summary`` object of ``mip4 simulate --json``.

It reads ``l2`` records at the MNs (L2-LD and L2-LU with ``from``/``to``), ``data`` records
(``tx`` at each flow's source, ``rx`` at its sink) and ``packet``/``tx`` records (signalling).

For each handoff of an MN (L2-LD at ``l2_ld``, L2-LU at ``l2_lu``), on its downlink flow:

- ``l2_gap_ms`` = ``l2_lu - l2_ld``;
- ``disruption_ms`` = arrival of the first packet received after L2-LD minus arrival of the
  last packet received before it (an arrival at the very instant of L2-LD was received before
  the radio went down: the MN receives nothing after L2-LD);
- ``ideal_disruption_ms``: with D the path delay of that last packet (arrival minus send time),
  the first later packet whose send time + D is at or after L2-LU; its would-be arrival minus
  the last arrival;
- ``l3_extra_ms`` = ``disruption_ms - ideal_disruption_ms``;
- ``lost``: packets sent between the last received before L2-LD and the first *new* one
  received after it (sequence number above the last), that never arrive in the whole run;
- ``duplicates`` / ``reordered``: arrivals of an already received sequence number / of a
  number below the highest received so far, from L2-LD until the MN's next L2-LD;
- ``uplink_disruption_ms``: the same at the CN for the MN's uplink flow, split at L2-LD by
  the MN's send time (packets in flight at L2-LD still arrive): arrival at the CN of the first
  packet the MN sent after L2-LD that arrives, minus arrival of the last one it sent at or
  before L2-LD that arrives.

With two radios (method ``multi-interface``) the new interface is up before the old one goes
down: the MN's L2-LD record says ``make_before_break`` and the handoff's L2-LU is its L2-LD
(``l2_gap_ms`` 0); its duplicates and reordered packets count from the new interface's L2-LU
(``new_link_up``), when the overlap of the two bindings begins.

A value that cannot be computed (no packet before or after) is null. The summary's ``sent``,
``delivered`` (distinct packets), ``lost`` (sent - delivered) and ``duplicates`` cover both
directions of every flow over the whole run; its distributions cover the handoffs.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from mip4.sim.trace import TraceRecord

EPSILON = 1e-9  # seconds: float noise in virtual-time comparisons
_NAN = math.nan
DUPLICATE = 2  # FlowLog.marks flags
REORDERED = 1


class FlowLog:
    """Send and arrival times of one flow, in flat arrays (no object per packet).

    Recording a packet touches as little memory as it can: a run with many MNs interleaves
    thousands of flows, so every object or array line a packet writes is likely a cache
    miss, and the number of them per packet decides how the cost grows with the MNs. The
    source writes its send time by sequence number (``sent``); the sink appends one pair to
    ``rx``, its arrival time and its mark (the sequence number with two flags, as a float:
    exact, sequence numbers stay far below 2**53), and updates two counters. An arrival in
    order (above every number so far, the common case) reads nothing else; only one at or
    below the highest so far looks its number up in ``missing`` (the numbers skipped so
    far and not received since) to tell a late first arrival (reordered) from a repeat.
    ``arrivals``, ``marks`` and ``first_arrival`` are derived from ``rx`` when read (after
    the run), and cached until the next arrival."""

    __slots__ = ("_view", "max_seq", "missing", "received", "rx", "sent")

    def __init__(self) -> None:
        self.sent = array("d")  # send time by sequence number (NaN: not seen)
        # per arrival, two values: arrival time, then seq << 2 | DUPLICATE (repeats a
        # sequence number) | REORDERED (below the highest number received before)
        self.rx = array("d")
        self.missing: set[int] = set()  # below max_seq, never received (yet)
        self.max_seq = -1
        self.received = 0  # distinct sequence numbers received
        # (len(rx), arrivals, marks, first_arrival) as last derived
        self._view: tuple[int, array[float], array[int], array[float]] | None = None

    def record(
        self,
        time: float,
        node: str,
        interface: str,
        medium: str,
        direction: str,
        seq: int,
        sent: float,
        size: int,
    ) -> None:
        """A ``data`` record of this flow (the log is its own
        :class:`~mip4.sim.trace.DataRecorder`: :meth:`Metrics.recorder`)."""
        # the common cases of on_sent and on_arrival inline (a call fewer per packet at
        # each end): the next number sent, the next number received
        if direction == "tx":
            send_times = self.sent
            if seq == len(send_times):
                send_times.append(time)
            else:
                self.on_sent(seq, time)
        elif seq == self.max_seq + 1:
            self.max_seq = seq
            self.received += 1
            rx = self.rx
            rx.append(time)
            rx.append(seq << 2)
        else:
            self.on_arrival(seq, time)

    def on_sent(self, seq: int, time: float) -> None:
        sent = self.sent
        if seq == len(sent):
            sent.append(time)
        else:
            if seq > len(sent):
                sent.extend(array("d", [_NAN]) * (seq - len(sent) + 1))
            sent[seq] = time

    def on_arrival(self, seq: int, time: float) -> None:
        max_seq = self.max_seq
        if seq > max_seq:  # a first arrival, in order
            if seq != max_seq + 1:
                self.missing.update(range(max_seq + 1, seq))
            self.max_seq = seq
            self.received += 1
            mark = seq << 2
        elif seq in self.missing:  # a first arrival, late
            self.missing.discard(seq)
            self.received += 1
            mark = seq << 2 | REORDERED
        else:
            mark = seq << 2 | DUPLICATE
        rx = self.rx
        rx.append(time)
        rx.append(mark)

    def _derived(self) -> tuple[int, array[float], array[int], array[float]]:
        view = self._view
        if view is None or view[0] != len(self.rx):
            rx = self.rx
            arrivals = rx[0::2]
            marks = array("q", map(int, rx[1::2]))
            first = array("d", [_NAN]) * (self.max_seq + 1)
            for mark, time in zip(marks, arrivals, strict=True):
                if not mark & DUPLICATE:  # the first arrival of its number
                    first[mark >> 2] = time
            view = self._view = (len(rx), arrivals, marks, first)
        return view

    @property
    def arrivals(self) -> array[float]:
        """Arrival times, in order."""
        return self._derived()[1]

    @property
    def marks(self) -> array[int]:
        """Per arrival: ``seq << 2 | DUPLICATE | REORDERED`` (see ``rx``)."""
        return self._derived()[2]

    @property
    def first_arrival(self) -> array[float]:
        """First arrival time by sequence number (NaN: never), up to ``max_seq``."""
        return self._derived()[3]

    def arrived(self, seq: int) -> bool:
        return 0 <= seq <= self.max_seq and seq not in self.missing

    @property
    def seqs(self) -> array[int]:
        """The sequence number of each arrival."""
        return array("q", [mark >> 2 for mark in self.marks])

    @property
    def dup(self) -> bytes:
        """1 for each arrival that repeats a sequence number, else 0."""
        return bytes(mark >> 1 & 1 for mark in self.marks)

    @property
    def reordered(self) -> bytes:
        """1 for each arrival below the highest number received before it, else 0."""
        return bytes(mark & 1 for mark in self.marks)

    def count(self, flag: int, lo: int = 0, hi: int | None = None) -> int:
        """Arrivals ``lo`` to ``hi`` (indices) marked ``flag``."""
        return sum(1 for mark in self.marks[lo:hi] if mark & flag)


@dataclass(slots=True)
class Handoff:
    mn: str
    source: str
    target: str
    l2_ld: float
    l2_lu: float | None = None
    window_start: float | None = None  # duplicates/reordered from here (default: l2_ld)
    values: dict[str, float | int | None] = field(default_factory=dict)


class Metrics:
    """A trace sink that computes the handoff metrics (see the module docstring)."""

    def __init__(self) -> None:
        self.flows: dict[tuple[str, str], FlowLog] = {}
        # the same logs by flow direction, then MN: the hot path looks a log up by two
        # strings the trace passes (hashes cached) and builds no tuple key per packet
        self._logs: dict[str, dict[str, FlowLog]] = {}
        self.handoffs: list[Handoff] = []
        self._open: dict[str, Handoff] = {}
        self.signalling: dict[str, list[int]] = {"air": [0, 0], "wired": [0, 0]}

    # ------------------------------------------------------------------ sink interface

    def record(self, record: TraceRecord) -> None:
        kind = record.kind
        if kind == "l2":
            fields = record.fields
            if fields.get("mn") != record.node:
                return
            if record.message == "L2-LD":
                handoff = Handoff(
                    record.node, str(fields.get("from")), str(fields.get("to")), record.time
                )
                self.handoffs.append(handoff)
                if fields.get("make_before_break"):
                    handoff.l2_lu = record.time  # two radios: never without a link
                    new_link_up = fields.get("new_link_up")
                    if isinstance(new_link_up, int | float):
                        handoff.window_start = float(new_link_up)
                else:
                    self._open[record.node] = handoff
            elif record.message == "L2-LU":
                opened = self._open.pop(record.node, None)
                if opened is not None:
                    opened.l2_lu = record.time
        elif kind == "packet" and record.direction == "tx" and record.medium in self.signalling:
            counter = self.signalling[record.medium]
            counter[0] += 1
            counter[1] += record.bytes or 0

    def data(
        self,
        time: float,
        node: str,
        interface: str,
        medium: str,
        direction: str,
        flow: str,
        mn: str,
        seq: int,
        sent: float,
        size: int,
    ) -> None:
        self.recorder(flow, mn).record(time, node, interface, medium, direction, seq, sent, size)

    def recorder(self, flow: str, mn: str) -> FlowLog:
        """The log of ``flow`` of ``mn`` (made on first use), which records its ``data``
        records itself (:meth:`mip4.sim.trace.Trace.recorder`): the traffic's sources
        and sinks hold it, so with many MNs a packet's record touches that log only, not
        the look-up by name (two strings and a dict entry, each a cache miss) of
        :meth:`data`."""
        logs = self._logs.setdefault(flow, {})
        log = logs.get(mn)
        if log is None:
            log = logs[mn] = self.flows[(mn, flow)] = FlowLog()
        return log

    # ------------------------------------------------------------------ results

    def result(self) -> tuple[list[dict[str, object]], dict[str, object]]:
        """``(handoffs, summary)`` as ``mip4 simulate --json`` writes them."""
        complete = [h for h in self.handoffs if h.l2_lu is not None]
        next_ld: dict[int, float] = {}
        last_by_mn: dict[str, int] = {}
        for i, h in enumerate(self.handoffs):
            if h.mn in last_by_mn:
                next_ld[last_by_mn[h.mn]] = h.l2_ld if h.window_start is None else h.window_start
            last_by_mn[h.mn] = i
        rows: list[dict[str, object]] = []
        for i, h in enumerate(self.handoffs):
            if h.l2_lu is None:
                continue
            rows.append(self._handoff(h, next_ld.get(i, float("inf"))))
        summary = self._summary(rows, len(complete))
        return rows, summary

    def _handoff(self, h: Handoff, window_end: float) -> dict[str, object]:
        assert h.l2_lu is not None
        t_ld, t_lu = h.l2_ld, h.l2_lu
        disruption = ideal = extra = uplink = None
        lost = duplicates = reordered = 0
        down = self.flows.get((h.mn, "down"))
        if down is not None and down.arrivals:
            i = bisect_right(down.arrivals, t_ld)
            seqs = down.seqs
            if 0 < i < len(down.arrivals):
                t_prev, seq_prev = down.arrivals[i - 1], seqs[i - 1]
                disruption = down.arrivals[i] - t_prev
                delay = t_prev - down.sent[seq_prev]
                k = bisect_left(down.sent, t_lu - delay - EPSILON, seq_prev + 1)
                if k < len(down.sent):
                    ideal = down.sent[k] + delay - t_prev
                    extra = disruption - ideal
                j = i
                while j < len(seqs) and seqs[j] <= seq_prev:
                    j += 1
                if j < len(seqs):
                    arrived = down.arrived
                    lost = sum(1 for s in range(seq_prev + 1, seqs[j]) if not arrived(s))
            lo = bisect_left(down.arrivals, t_ld if h.window_start is None else h.window_start)
            hi = bisect_left(down.arrivals, window_end)
            duplicates = down.count(DUPLICATE, lo, hi)
            reordered = down.count(REORDERED, lo, hi)
        up = self.flows.get((h.mn, "up"))
        if up is not None and up.received:
            before = bisect_right(up.sent, t_ld) - 1
            while before >= 0 and not up.arrived(before):
                before -= 1
            after = bisect_right(up.sent, t_ld)
            while after < len(up.sent) and not up.arrived(after):
                after += 1
            if before >= 0 and after < len(up.sent):
                uplink = up.first_arrival[after] - up.first_arrival[before]
        return {
            "mn": h.mn,
            "from": h.source,
            "to": h.target,
            "l2_ld": round(t_ld, 6),
            "l2_lu": round(t_lu, 6),
            "l2_gap_ms": _ms(t_lu - t_ld),
            "disruption_ms": _ms(disruption),
            "ideal_disruption_ms": _ms(ideal),
            "l3_extra_ms": _ms(extra),
            "uplink_disruption_ms": _ms(uplink),
            "lost": lost,
            "duplicates": duplicates,
            "reordered": reordered,
        }

    def _summary(self, rows: list[dict[str, object]], handoffs: int) -> dict[str, object]:
        sent = sum(len(log.sent) for log in self.flows.values())
        delivered = sum(log.received for log in self.flows.values())
        duplicates = sum(log.count(DUPLICATE) for log in self.flows.values())
        return {
            "handoffs": handoffs,
            "sent": sent,
            "delivered": delivered,
            "lost": sent - delivered,
            "duplicates": duplicates,
            "disruption_ms": distribution(rows, "disruption_ms"),
            "l2_gap_ms": distribution(rows, "l2_gap_ms"),
            "l3_extra_ms": distribution(rows, "l3_extra_ms"),
            "signalling": {
                medium: {"messages": counter[0], "bytes": counter[1]}
                for medium, counter in self.signalling.items()
            },
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def distribution(rows: list[dict[str, object]], key: str) -> dict[str, float | None]:
    """``{"mean", "p50", "p95", "max"}`` of ``key`` over ``rows`` (nulls ignored)."""
    values = [float(v) for r in rows if isinstance(v := r.get(key), int | float)]
    if not values:
        return {"mean": None, "p50": None, "p95": None, "max": None}
    return {
        "mean": round(sum(values) / len(values), 3),
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "max": round(max(values), 3),
    }
