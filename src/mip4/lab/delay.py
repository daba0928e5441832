"""Core-link delay in user space: an NFQUEUE listener that holds each forwarded packet.

The kernels we run on have no netem (design.md, "The real network"). In the core router's
namespace an iptables rule queues every forwarded packet (``-j NFQUEUE``); this process
receives each packet's metadata over ``NETLINK_NETFILTER`` (copy mode "meta": no payload),
looks up the one-way delay of its (input interface, output interface) pair and gives the
kernel the ACCEPT verdict once that delay has passed (a heap of deadlines). Speaking the
nfnetlink_queue protocol directly keeps the NetfilterQueue package (and its C build) out of
the dependencies.

Run by the lab runner inside the core namespace::

    python -m mip4.lab.delay QUEUE DELAYS_JSON [JITTER_S]

``DELAYS_JSON`` maps ``"in-interface>out-interface"`` to seconds; pairs not listed pass
without delay. ``JITTER_S`` adds a uniform extra delay in ``[0, JITTER_S)`` to every packet.
It prints ``ready`` once bound and runs until SIGTERM.
"""

from __future__ import annotations

import heapq
import json
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_IFINDEX_INDEV = 5
NFQA_IFINDEX_OUTDEV = 6
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NF_ACCEPT = 1

_NLMSG = struct.Struct("=IHHII")
_NFGEN = struct.Struct("=BBH")  # family, version, res_id (big-endian value packed by hand)


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _message(kind: int, queue: int, attrs: bytes, flags: int, seq: int, family: int) -> bytes:
    body = _NFGEN.pack(family, 0, socket.htons(queue)) + attrs
    header = _NLMSG.pack(_NLMSG.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, seq, 0)
    return header + body


def _attrs(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while offset + 4 <= end:
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & 0x7FFF] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return out


class DelayQueue:
    """Holds queued packets for their link's delay, then accepts them."""

    def __init__(
        self, queue: int, delays: dict[tuple[int, int], float], jitter: float = 0.0
    ) -> None:
        self.queue = queue
        self.delays = delays
        self.jitter = jitter
        self.rng = random.Random(queue)
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind((0, 0))
        self.seq = 0
        self.pending: list[tuple[float, int, int]] = []
        self.count = 0

    def _send(self, kind: int, attrs: bytes, flags: int = NLM_F_REQUEST, family: int = 0) -> None:
        self.seq += 1
        self.sock.send(_message(kind, self.queue, attrs, flags, self.seq, family))

    def bind(self) -> None:
        command = struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET))
        self._send(NFQNL_MSG_CONFIG, _attr(NFQA_CFG_CMD, command), NLM_F_REQUEST | NLM_F_ACK)
        self._check_ack()
        params = struct.pack(">IB", 0xFFFF, NFQNL_COPY_META)  # packed: 5 bytes
        self._send(NFQNL_MSG_CONFIG, _attr(NFQA_CFG_PARAMS, params), NLM_F_REQUEST | NLM_F_ACK)
        self._check_ack()

    def _check_ack(self) -> None:
        data = self.sock.recv(65536)
        _length, kind = struct.unpack_from("=IH", data)
        if kind == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", data, _NLMSG.size)
            if error:
                raise OSError(-error, f"nfnetlink_queue: {error}")

    def verdict(self, packet_id: int) -> None:
        attrs = _attr(NFQA_VERDICT_HDR, struct.pack(">II", NF_ACCEPT, packet_id))
        self._send(NFQNL_MSG_VERDICT, attrs)

    def receive(self) -> None:
        data = self.sock.recv(1 << 16)
        offset = 0
        now = time.monotonic()
        while offset + _NLMSG.size <= len(data):
            length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, offset)
            if length < _NLMSG.size:
                break
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                attrs = _attrs(data, offset + _NLMSG.size + _NFGEN.size, offset + length)
                header = attrs.get(NFQA_PACKET_HDR)
                if header is not None:
                    (packet_id,) = struct.unpack_from(">I", header)
                    indev = (
                        struct.unpack(">I", attrs[NFQA_IFINDEX_INDEV])[0]
                        if (NFQA_IFINDEX_INDEV in attrs)
                        else 0
                    )
                    outdev = (
                        struct.unpack(">I", attrs[NFQA_IFINDEX_OUTDEV])[0]
                        if (NFQA_IFINDEX_OUTDEV in attrs)
                        else 0
                    )
                    delay = self.delays.get((indev, outdev), 0.0)
                    if self.jitter:  # uniform extra delay per traversal, as the simulator's
                        delay += self.rng.uniform(0.0, self.jitter)
                    self.count += 1
                    if delay <= 0:
                        self.verdict(packet_id)
                    else:
                        heapq.heappush(self.pending, (now + delay, self.count, packet_id))
            offset += (length + 3) & ~3

    def run(self, stop: list[bool]) -> None:
        while not stop[0]:
            timeout = 0.05
            if self.pending:
                timeout = max(0.0, min(timeout, self.pending[0][0] - time.monotonic()))
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if readable:
                self.receive()
            now = time.monotonic()
            while self.pending and self.pending[0][0] <= now:
                _, _, packet_id = heapq.heappop(self.pending)
                self.verdict(packet_id)
        while self.pending:  # release what is held
            self.verdict(heapq.heappop(self.pending)[2])


def main(argv: list[str]) -> None:
    queue = int(argv[0])
    named: dict[str, float] = json.loads(argv[1])
    delays = {}
    for pair, seconds in named.items():
        into, out = pair.split(">")
        delays[(socket.if_nametoindex(into), socket.if_nametoindex(out))] = float(seconds)
    jitter = float(argv[2]) if len(argv) > 2 else 0.0
    delay_queue = DelayQueue(queue, delays, jitter)
    delay_queue.bind()
    stop = [False]

    def on_term(signum: int, frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    print("ready", flush=True)
    delay_queue.run(stop)


if __name__ == "__main__":
    main(sys.argv[1:])
