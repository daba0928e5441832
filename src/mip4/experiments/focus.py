"""The part of a trace that the report draws: one MN, one handoff.

:class:`FocusSink` is a trace sink that keeps every control record and only the ``data``
records of one MN (a campus of 40 MNs makes millions of data records; the charts need one).
:func:`handoff_window` finds the first complete handoff of that MN and the time span the
charts show around it (from before the anticipatory trigger to after the traffic resumed and
the MN's first registration reply after it, so a POST-REGISTRATION chart ends with the
deferred registration and the BET's termination, however long the MN defers it, e.g. past
a renewal of the BET; the timeline keeps to the data around the gap); :func:`window_events`
pairs each
received control message with the transmission that caused it, which is what a sequence
chart draws.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mip4.sim.trace import TraceRecord, data_record

MULTICAST_PREFIXES = ("224.", "255.")
ANTICIPATORY = ("L2-MT", "L2-ST", "L2-TT")
REGISTRATION_REPLIES = ("registration_reply", "regional_registration_reply")
REGISTRATION_WAIT_S = 3.0  # the timeline shows a registration this soon after L2-LU
RENEWAL_MESSAGES = ("handoff_request_r", "handoff_reply_r")  # RFC 4881 §4.3: lifetime matters


class FocusSink:
    """Keeps control records of every node and data records of ``mn`` only."""

    def __init__(self, mn: str = "MN1") -> None:
        self.mn = mn
        self.records: list[TraceRecord] = []

    def record(self, record: TraceRecord) -> None:
        if record.kind == "drop" and record.fields.get("data"):
            return  # one per dropped user packet: the data records already tell the story
        self.records.append(record)

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
        if mn == self.mn:
            self.records.append(
                data_record(time, node, interface, medium, direction, flow, mn, seq, sent, size)
            )

    def write_jsonl(self, path: str | Path) -> None:
        with open(path, "w", encoding="utf-8") as stream:
            for record in self.records:
                stream.write(record.to_json())
                stream.write("\n")


@dataclass(slots=True)
class Window:
    """One handoff of one MN and the span of time the charts show around it."""

    mn: str
    source: str  # oFA
    target: str  # nFA
    l2_ld: float
    l2_lu: float
    start: float
    end: float  # the sequence chart's: up to the MN's registration after the handoff
    data_end: float = 0.0  # the timeline's: the data around the gap (end, if 0)
    trigger: tuple[str, float] | None = None  # anticipatory trigger (name, time)
    home_address: str | None = None
    extra_fas: list[str] = field(default_factory=list)  # a third FA (three-party)


def handoff_window(
    records: list[TraceRecord],
    handoff: dict[str, object] | None,
    *,
    before_s: float = 0.3,
    after_s: float = 0.4,
    lead_s: float = 0.0,
) -> Window | None:
    """The window around ``handoff`` (a row of the result), or None without one."""
    if handoff is None:
        return None
    mn = str(handoff["mn"])
    l2_ld = float(handoff["l2_ld"])  # type: ignore[arg-type]
    l2_lu = float(handoff["l2_lu"])  # type: ignore[arg-type]
    disruption = handoff.get("disruption_ms")
    recovered = l2_lu
    if isinstance(disruption, int | float):
        recovered = max(l2_lu, l2_ld + disruption / 1000.0)
    start = l2_ld - max(before_s, lead_s + 0.1)
    window = Window(
        mn=mn,
        source=str(handoff["from"]),
        target=str(handoff["to"]),
        l2_ld=l2_ld,
        l2_lu=l2_lu,
        start=start,
        end=recovered + after_s,
        data_end=recovered + after_s,
    )
    next_ld = min(
        (
            r.time
            for r in records
            if r.kind == "l2" and r.node == mn and r.message == "L2-LD" and r.time > l2_lu
        ),
        default=float("inf"),
    )
    for rec in records:  # the handoff ends with the MN's registration after L2-LU
        if (
            rec.kind == "packet"
            and rec.node == mn
            and rec.direction == "rx"
            and rec.message in REGISTRATION_REPLIES
            and rec.time > l2_lu
        ):
            soon = rec.time <= l2_lu + REGISTRATION_WAIT_S
            if soon:  # e.g. through a third FA (three-party), or a deferred one (POST)
                window.data_end = max(window.data_end, rec.time + 0.1)
            if soon or rec.time < next_ld:  # deferred while the MN stays (§4.4, Figure 12)
                window.end = max(window.end, rec.time + 0.1)
            break
    for rec in records:
        if (
            rec.kind == "l2"
            and rec.fields.get("mn") == mn
            and rec.message in ANTICIPATORY
            and start - 1.0 <= rec.time <= l2_ld
            and rec.fields.get("to") == window.target
        ):
            window.trigger = (rec.message, rec.time)
        if (
            window.home_address is None
            and rec.kind == "packet"
            and rec.node == mn
            and rec.message == "registration_request"
        ):
            home = rec.fields.get("home_address")
            window.home_address = str(home) if home is not None else None
        if (
            rec.kind == "l2"
            and rec.node == mn
            and rec.message == "L2-LD"
            and rec.fields.get("from") == window.target
            and l2_lu < rec.time <= window.end
        ):
            third = rec.fields.get("to")
            if isinstance(third, str) and third not in window.extra_fas:
                window.extra_fas.append(third)
    if window.trigger is not None:
        window.start = min(window.start, window.trigger[1] - 0.1)
    return window


@dataclass(frozen=True, slots=True)
class Event:
    """One row of a sequence chart: a message (sender -> receiver) or a note at a node."""

    time: float  # send time (message) or event time (note)
    kind: str  # "message" or "note"
    source: str
    target: str  # == source for a note
    label: str
    medium: str | None = None
    arrival: float | None = None
    detail: str = ""  # e.g. the lifetime of an HRqst(r)/HRply(r): renewal or termination


def participants(window: Window, records: list[TraceRecord]) -> list[str]:
    """The nodes a chart shows, left to right: MN, oFA, nFA, any third FA, GFA, HA."""
    names = [window.mn, window.source, window.target, *window.extra_fas]
    present = {r.node for r in records}
    for other in ("GFA", "HA"):
        if other in present:
            names.append(other)
    return names


def _relevant(rec: TraceRecord, window: Window) -> bool:
    home = rec.fields.get("home_address")
    # False for another MN's registration
    return home is None or window.home_address is None or home == window.home_address


def window_events(records: list[TraceRecord], window: Window) -> list[Event]:
    """Messages (a transmission paired with its reception) and notes within the window."""
    nodes = participants(window, records)
    inside = set(nodes)
    sent: dict[str, list[TraceRecord]] = {}
    events: list[Event] = []
    for rec in records:
        if rec.time > window.end:
            break
        if rec.kind == "packet" and rec.direction == "tx":
            key = rec.message + json.dumps(rec.fields, sort_keys=True)
            sent.setdefault(key, []).append(rec)
            continue
        if rec.time < window.start or rec.node not in inside:
            continue
        if rec.kind == "packet" and rec.direction == "rx":
            key = rec.message + json.dumps(rec.fields, sort_keys=True)
            candidates = sent.get(key)
            if not candidates:
                continue
            tx = candidates[-1]
            destination = str(rec.fields.get("destination", ""))
            if not destination.startswith(MULTICAST_PREFIXES):
                candidates.pop()
            if tx.node not in inside or tx.node == rec.node or not _relevant(rec, window):
                continue
            if rec.medium == "air" and window.mn not in (tx.node, rec.node):
                continue
            detail = ""
            if rec.message in RENEWAL_MESSAGES and "lifetime" in rec.fields:
                detail = f"lifetime {rec.fields['lifetime']}"  # 0: termination (§4.3)
            events.append(
                Event(
                    tx.time, "message", tx.node, rec.node, rec.message, tx.medium, rec.time, detail
                )
            )
        elif rec.kind == "l2" and rec.fields.get("mn") == window.mn:
            events.append(Event(rec.time, "note", rec.node, rec.node, rec.message))
        elif rec.kind == "dataplane" and _relevant(rec, window):
            events.append(Event(rec.time, "note", rec.node, rec.node, _dataplane_label(rec)))
    events.sort(key=lambda e: (e.time, e.arrival if e.arrival is not None else e.time))
    return events


def _dataplane_label(rec: TraceRecord) -> str:
    fields = rec.fields
    if rec.message == "SetMobilityBinding":
        coas = fields.get("care_of_addresses")
        if isinstance(coas, list):
            return f"binding -> {', '.join(str(c) for c in coas) or 'none'}"
    if rec.message == "SetDefaultRouter":
        return f"default router {fields.get('router') or 'none'}"
    return rec.message
