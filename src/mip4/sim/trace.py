"""The trace: one typed record per event, written as JSON lines (design.md, "Trace").

Every record has the same nine keys, in this order::

    {"time": 5.12, "node": "FA2", "kind": "packet", "interface": "wlan0", "direction": "rx",
     "medium": "air", "message": "registration-request", "fields": {...}, "bytes": 86}

``kind`` is one of:

- ``packet``: a control message sent (``tx``) or received (``rx``) by an agent; ``fields``
  holds the IP source and destination and the message's key fields, ``bytes`` the IP length;
- ``data``: a user packet of a CBR flow sent by its source (``tx``) or received by its sink
  (``rx``); ``fields`` holds ``flow`` (``down``: CN to MN, ``up``: MN to CN), ``mn``, ``seq``
  and ``sent`` (the send time carried in the packet);
- ``l2``: an L2 trigger delivered to a node (``message`` is ``L2-LD``, ``L2-LU``, ``L2-MT``,
  ``L2-ST`` or ``L2-TT``; ``fields`` names the MN and the FAs);
- ``timer``: a keyed timer expired (``fields.key``);
- ``dataplane``: a data-plane action was applied (``message`` is the action's class name);
- ``drop``: a packet, trigger or frame was refused (``message`` is the reason);
- ``notify``: a protocol milestone an agent reported.

Sinks receive records as they happen; the JSON-lines sink writes them, the metrics
(:mod:`mip4.sim.metrics`) consume them, and :func:`read_jsonl` turns a file back into the same
records, so metrics computed live and from the file agree.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Iterator, Mapping
from ipaddress import IPv4Address
from pathlib import Path
from typing import IO, Protocol

KINDS = ("packet", "data", "l2", "timer", "dataplane", "drop", "notify")


def jsonable(value: object) -> object:
    """``value`` as plain JSON data: addresses as strings, bytes as hex, enums by value."""
    if isinstance(value, enum.IntEnum):
        return value.name.lower()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, IPv4Address):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


class TraceRecord:
    """One trace event. ``fields`` must already be plain JSON data (see :func:`jsonable`)."""

    __slots__ = (
        "bytes",
        "direction",
        "fields",
        "interface",
        "kind",
        "medium",
        "message",
        "node",
        "time",
    )

    def __init__(
        self,
        time: float,
        node: str,
        kind: str,
        message: str,
        *,
        interface: str | None = None,
        direction: str | None = None,
        medium: str | None = None,
        fields: dict[str, object] | None = None,
        bytes: int | None = None,
    ) -> None:
        self.time = time
        self.node = node
        self.kind = kind
        self.interface = interface
        self.direction = direction
        self.medium = medium
        self.message = message
        self.fields: dict[str, object] = fields if fields is not None else {}
        self.bytes = bytes

    def to_dict(self) -> dict[str, object]:
        return {
            "time": round(self.time, 9),
            "node": self.node,
            "kind": self.kind,
            "interface": self.interface,
            "direction": self.direction,
            "medium": self.medium,
            "message": self.message,
            "fields": self.fields,
            "bytes": self.bytes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TraceRecord:
        fields = data.get("fields") or {}
        size = data.get("bytes")
        return cls(
            float(data["time"]),  # type: ignore[arg-type]
            str(data["node"]),
            str(data["kind"]),
            str(data["message"]),
            interface=_opt_str(data.get("interface")),
            direction=_opt_str(data.get("direction")),
            medium=_opt_str(data.get("medium")),
            fields=dict(fields),  # type: ignore[call-overload]
            bytes=int(size) if isinstance(size, int) else None,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TraceRecord) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TraceRecord({self.to_json()})"


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


class TraceSink(Protocol):
    """Something that consumes trace records as they happen."""

    def record(self, record: TraceRecord) -> None: ...

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
        """A ``data`` record, passed unpacked (the hot path builds no object for it)."""


class DataRecorder(Protocol):
    """Where the ``data`` records of one flow (one direction of one MN's call) go: sources
    and sinks of user packets hold one per flow (:meth:`Trace.recorder`), so recording a
    packet looks nothing up by name."""

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
        """The same as the sinks' ``data(time, node, interface, medium, direction, flow, mn,
        seq, sent, size)`` for this recorder's flow and MN."""


class _SinkRecorder:
    """One flow's records to a sink through its ``data`` (a sink with no recorders)."""

    __slots__ = ("flow", "mn", "sink")

    def __init__(self, sink: TraceSink, flow: str, mn: str) -> None:
        self.sink = sink
        self.flow = flow
        self.mn = mn

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
        self.sink.data(
            time, node, interface, medium, direction, self.flow, self.mn, seq, sent, size
        )


class _FanOutRecorder:
    """One flow's records to every sink, in the sinks' order (as :meth:`Trace.data`)."""

    __slots__ = ("recorders",)

    def __init__(self, recorders: list[DataRecorder]) -> None:
        self.recorders = recorders

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
        for recorder in self.recorders:
            recorder.record(time, node, interface, medium, direction, seq, sent, size)


def data_record(
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
) -> TraceRecord:
    """The :class:`TraceRecord` of a ``data`` event."""
    return TraceRecord(
        time,
        node,
        "data",
        "data",
        interface=interface,
        direction=direction,
        medium=medium,
        fields={"flow": flow, "mn": mn, "seq": seq, "sent": round(sent, 9)},
        bytes=size,
    )


class Trace:
    """Fans every event out to the sinks; with no sink it costs almost nothing."""

    __slots__ = ("_recorders", "_sinks", "data")

    def __init__(self, sinks: Iterable[TraceSink] = ()) -> None:
        self._sinks: list[TraceSink] = list(sinks)
        self._recorders = 0  # handed out by recorder()
        self._bind()

    def add_sink(self, sink: TraceSink) -> None:
        if self._recorders:
            raise RuntimeError("a sink added after flow recorders were handed out")
        self._sinks.append(sink)
        self._bind()

    def recorder(self, flow: str, mn: str) -> DataRecorder:
        """The :class:`DataRecorder` of ``flow`` (``down`` or ``up``) of ``mn``: its records
        are exactly :meth:`data`'s with this flow and MN. A sink with a ``recorder(flow,
        mn)`` method (the metrics: the flow's log itself) gives its own, so a packet's
        record costs no look-up of the flow by name; any other gets its ``data`` called."""
        self._recorders += 1
        recorders: list[DataRecorder] = []
        for sink in self._sinks:
            own = getattr(sink, "recorder", None)
            recorders.append(own(flow, mn) if own is not None else _SinkRecorder(sink, flow, mn))
        return recorders[0] if len(recorders) == 1 else _FanOutRecorder(recorders)

    def _bind(self) -> None:
        # hot path: with one sink, ``data`` is that sink's own method (one call fewer)
        self.data = self._sinks[0].data if len(self._sinks) == 1 else self._fan_out_data

    def emit(self, record: TraceRecord) -> None:
        for sink in self._sinks:
            sink.record(record)

    def event(
        self,
        time: float,
        node: str,
        kind: str,
        message: str,
        *,
        interface: str | None = None,
        direction: str | None = None,
        medium: str | None = None,
        fields: dict[str, object] | None = None,
        size: int | None = None,
    ) -> None:
        if self._sinks:
            self.emit(
                TraceRecord(
                    time,
                    node,
                    kind,
                    message,
                    interface=interface,
                    direction=direction,
                    medium=medium,
                    fields=fields,
                    bytes=size,
                )
            )

    def _fan_out_data(
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
        for sink in self._sinks:
            sink.data(time, node, interface, medium, direction, flow, mn, seq, sent, size)


class ListSink:
    """Keeps every record in memory (tests, small runs)."""

    def __init__(self) -> None:
        self.records: list[TraceRecord] = []

    def record(self, record: TraceRecord) -> None:
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
        self.records.append(
            data_record(time, node, interface, medium, direction, flow, mn, seq, sent, size)
        )


class JsonLinesSink:
    """Writes one JSON object per line to ``stream``."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def record(self, record: TraceRecord) -> None:
        self._stream.write(record.to_json())
        self._stream.write("\n")

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
        self.record(
            data_record(time, node, interface, medium, direction, flow, mn, seq, sent, size)
        )


def read_jsonl(path: str | Path) -> Iterator[TraceRecord]:
    """The records of a JSON-lines trace file, in order."""
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                yield TraceRecord.from_dict(json.loads(line))


def replay(records: Iterable[TraceRecord], sink: TraceSink) -> None:
    """Feed ``records`` to ``sink`` as the live trace would have (``data`` ones unpacked)."""
    for rec in records:
        if rec.kind == "data":
            f = rec.fields
            sink.data(
                rec.time,
                rec.node,
                rec.interface or "",
                rec.medium or "",
                rec.direction or "",
                str(f["flow"]),
                str(f["mn"]),
                int(f["seq"]),  # type: ignore[call-overload]
                float(f["sent"]),  # type: ignore[arg-type]
                rec.bytes or 0,
            )
        else:
            sink.record(rec)
