"""Link delay in user space: an NFQUEUE listener (the NetfilterQueue package) that holds
each queued packet for its link's delay.

The kernels we run on have no netem (design.md, "The real network"). An iptables rule
queues the packets of the links to delay (``-j NFQUEUE``): in the core router's namespace
every forwarded packet (core-link delay), in the MN's namespace every IPv4 frame the air
bridge forwards between the MN's radio and the access point (air delay, through
br_netfilter). This process binds the queue with :mod:`netfilterqueue` in copy mode "meta"
(no payload is copied), looks up the one-way delay of each packet's (input interface,
output interface) pair, keeps the packet object in a heap of deadlines and gives the
ACCEPT verdict once the delay has passed (NetfilterQueue lets a packet outlive its callback
and be accepted later). The queue's descriptor is polled with ``select`` so that the next
deadline bounds the wait.

Run by the lab runner inside a namespace::

    python -m mip4.lab.delay QUEUE DELAYS_JSON [JITTER_S]

``DELAYS_JSON`` maps ``"in-interface>out-interface"`` to seconds; pairs not listed pass
without delay. ``JITTER_S`` adds a uniform extra delay in ``[0, JITTER_S)`` to every packet.
It prints ``ready`` once bound and runs until SIGTERM, then accepts what it still holds.
"""

from __future__ import annotations

import heapq
import json
import random
import select
import signal
import socket
import sys
import time

from netfilterqueue import COPY_META, NetfilterQueue, Packet

MAX_HELD = 65535  # the kernel's queue length; the package's default is 1024


class DelayQueue:
    """Holds queued packets for their link's delay, then accepts them."""

    def __init__(
        self, queue: int, delays: dict[tuple[int, int], float], jitter: float = 0.0
    ) -> None:
        self.queue = queue
        self.delays = delays
        self.jitter = jitter
        self.rng = random.Random(queue)
        self.nfq = NetfilterQueue()
        self.pending: list[tuple[float, int, Packet]] = []
        self.count = 0

    def bind(self) -> None:
        self.nfq.bind(self.queue, self._on_packet, max_len=MAX_HELD, mode=COPY_META)

    def _on_packet(self, packet: Packet) -> None:
        delay = self.delays.get((packet.indev, packet.outdev), 0.0)
        if self.jitter:  # uniform extra delay per traversal, as the simulator's links
            delay += self.rng.uniform(0.0, self.jitter)
        self.count += 1
        if delay <= 0:
            packet.accept()
        else:  # the count orders packets with equal deadlines (FIFO, no Packet comparison)
            heapq.heappush(self.pending, (time.monotonic() + delay, self.count, packet))

    def release_due(self) -> None:
        now = time.monotonic()
        while self.pending and self.pending[0][0] <= now:
            heapq.heappop(self.pending)[2].accept()

    def run(self, stop: list[bool]) -> None:
        fd = self.nfq.get_fd()
        try:
            while not stop[0]:
                timeout = 0.05
                if self.pending:
                    timeout = max(0.0, min(timeout, self.pending[0][0] - time.monotonic()))
                try:
                    readable, _, _ = select.select([fd], [], [], timeout)
                except InterruptedError:
                    continue
                if readable:
                    self.nfq.run(block=False)  # every message waiting, then returns
                self.release_due()
            while self.pending:  # release what is held
                heapq.heappop(self.pending)[2].accept()
        finally:
            self.nfq.unbind()


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
