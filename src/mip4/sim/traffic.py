"""Constant-bit-rate flows CN -> MN (``down``) and MN -> CN (``up``), a G.711-like call.

Every packet is an IPv4/UDP datagram (port 5004 at both ends) whose payload starts with::

    MN index (u32) | sequence number (u32) | send time in ns of virtual time (u64)

and is padded with zeros to ``payload_bytes``. The UDP checksum is 0 ("not computed", RFC 768)
and the IPv4 and UDP headers are built once per flow, so sending a packet costs one
``struct.pack`` of the whole datagram (headers, payload header and padding: one allocation).
Sources record a ``data``/``tx`` trace record for every packet they emit (also when the MN's
radio is down and the packet is lost at once); sinks record ``data``/``rx`` on arrival.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import cache
from heapq import heappush
from ipaddress import IPv4Address
from typing import Any

from mip4.sim.dataplane import ipv4_header
from mip4.sim.engine import Engine, Event
from mip4.sim.network import (
    AIR,
    TRAFFIC_PORT,
    WIRED,
    CorrespondentNode,
    MobileNodeHost,
    Node,
)
from mip4.sim.trace import DataRecorder, Trace
from mip4.wire.ip import PROTO_UDP

PAYLOAD_HEADER = struct.Struct("!IIQ")
MIN_PAYLOAD = PAYLOAD_HEADER.size
_UDP = struct.Struct("!HHHH")


@cache
def _datagram(payload_bytes: int) -> struct.Struct:
    """The layout of a CBR datagram of ``payload_bytes``: the 28 bytes of IPv4 and UDP header,
    the payload header, zeros (one object shared by every flow of that payload size)."""
    return struct.Struct(f"!28s{PAYLOAD_HEADER.format[1:]}{payload_bytes - MIN_PAYLOAD}x")


class Flow:
    """One CBR flow: a packet every ``interval`` seconds from ``start`` until ``stop``."""

    __slots__ = (
        "engine",
        "first",
        "flow",
        "header",
        "index",
        "interface",
        "interval",
        "layout",
        "medium",
        "mn_name",
        "node",
        "recorder",
        "send",
        "seq",
        "size",
        "stop",
        "tick_event",
        "trace",
    )

    def __init__(
        self,
        engine: Engine,
        trace: Trace,
        *,
        flow: str,
        node: CorrespondentNode | MobileNodeHost,
        mn: MobileNodeHost,
        index: int,
        source: IPv4Address,
        destination: IPv4Address,
        interval: float,
        payload_bytes: int,
        start: float,
        stop: float,
    ) -> None:
        self.engine = engine
        self.trace = trace
        self.flow = flow
        self.node = node
        self.mn_name = mn.name
        self.index = index
        self.interval = interval
        self.first = start
        self.stop = stop
        self.seq = 0
        udp_length = 8 + payload_bytes
        self.size = 20 + udp_length
        self.header = ipv4_header(
            source.packed, destination.packed, PROTO_UDP, self.size
        ) + _UDP.pack(TRAFFIC_PORT, TRAFFIC_PORT, udp_length, 0)
        if payload_bytes < MIN_PAYLOAD:
            raise ValueError(f"a CBR payload holds at least {MIN_PAYLOAD} bytes")
        self.layout = _datagram(payload_bytes)
        self.tick_event: Event = (self.tick,)  # one bound method, queued every period
        # where this flow's data records go (the metrics: its log), found once
        self.recorder = trace.recorder(flow, mn.name)
        if isinstance(node, MobileNodeHost):
            self.send = node.send_data
            self.interface, self.medium = AIR, "air"
        else:
            self.send = node.route_data
            self.interface, self.medium = WIRED, "wired"

    def begin(self) -> None:
        if self.first < self.stop:
            self.engine.at(self.first, self.tick)

    def tick(self) -> None:
        engine = self.engine
        now = engine.now
        seq = self.seq
        sent_ns = round(now * 1e9)
        packet = self.layout.pack(self.header, self.index, seq, sent_ns)
        self.recorder.record(
            now, self.node.name, self.interface, self.medium, "tx", seq, sent_ns / 1e9, self.size
        )
        self.send(packet)
        self.seq = seq + 1
        nxt = self.first + self.seq * self.interval
        if nxt < self.stop:
            bucket: Any = engine.buckets.get(nxt)  # inline Engine.at (nxt > now)
            if bucket is None:
                engine.buckets[nxt] = self.tick_event
                heappush(engine.times, nxt)
            elif type(bucket) is list:
                bucket.append(self.tick_event)
            else:
                engine.buckets[nxt] = [bucket, self.tick_event]


class Traffic:
    """The CBR flows of a run and their sinks."""

    def __init__(
        self,
        engine: Engine,
        trace: Trace,
        cn: CorrespondentNode,
        mns: Sequence[MobileNodeHost],
    ) -> None:
        self.engine = engine
        self.trace = trace
        self.cn = cn
        self.mns = list(mns)
        # by MN index, for the sink: a packet at the CN needs its MN's name, not the MN
        self.names = [mn.name for mn in self.mns]
        # by MN index: the recorders of the flows added (None: no such flow)
        self.down_recorders: list[DataRecorder | None] = [None] * len(self.mns)
        self.up_recorders: list[DataRecorder | None] = [None] * len(self.mns)
        self.flows: list[Flow] = []
        cn.sink = self.receive
        for mn in self.mns:
            mn.sink = self.receive

    def add_call(
        self,
        mn: MobileNodeHost,
        *,
        interval: float,
        payload_bytes: int,
        start: float,
        stop: float,
        downlink: bool = True,
        uplink: bool = True,
    ) -> None:
        """A call between the CN and ``mn``: one flow each way, both starting at ``start``."""
        index = self.mns.index(mn)
        cn_address = IPv4Address(self.cn.address)
        home = IPv4Address(mn.address)
        common = {
            "interval": interval,
            "payload_bytes": payload_bytes,
            "start": start,
            "stop": stop,
        }
        if downlink:
            self.flows.append(
                down := Flow(
                    self.engine,
                    self.trace,
                    flow="down",
                    node=self.cn,
                    mn=mn,
                    index=index,
                    source=cn_address,
                    destination=home,
                    **common,  # type: ignore[arg-type]
                )
            )
            self.down_recorders[index] = down.recorder
        if uplink:
            self.flows.append(
                up := Flow(
                    self.engine,
                    self.trace,
                    flow="up",
                    node=mn,
                    mn=mn,
                    index=index,
                    source=home,
                    destination=cn_address,
                    **common,  # type: ignore[arg-type]
                )
            )
            self.up_recorders[index] = up.recorder

    def begin(self) -> None:
        for flow in self.flows:
            flow.begin()

    def receive(self, packet: bytes, node: Node, interface: str) -> None:
        """A CBR packet reached the CN or an MN."""
        ihl = (packet[0] & 0x0F) * 4
        net_drop = node.net.drop
        if (
            len(packet) < ihl + 8 + MIN_PAYLOAD
            or (packet[ihl + 2] << 8 | packet[ihl + 3]) != TRAFFIC_PORT
        ):
            net_drop(node, "port-unreachable", packet, None)
            return
        index, seq, sent_ns = PAYLOAD_HEADER.unpack_from(packet, ihl + 8)
        if index >= len(self.mns):
            net_drop(node, "unknown-flow", packet, None)
            return
        downlink = node is self.mns[index]
        recorders = self.down_recorders if downlink else self.up_recorders
        recorder = recorders[index]
        if recorder is None:  # a flow this traffic did not add: made on first use
            recorder = recorders[index] = self.trace.recorder(
                "down" if downlink else "up", self.names[index]
            )
        recorder.record(
            self.engine.now,
            node.name,
            interface,
            "air" if downlink else "wired",
            "rx",
            seq,
            sent_ns / 1e9,
            len(packet),
        )
