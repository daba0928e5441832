"""A CBR endpoint: sends numbered, timestamped UDP packets and logs what it receives.

Run inside a namespace by the lab runner::

    python -m mip4.lab.cbr PORT PEER PEER_PORT INTERVAL_S PAYLOAD START END OUT

Packets carry a sequence number and the send time (``time.monotonic()``, the same clock in
every namespace of the host). From ``START`` to ``END`` (monotonic seconds) one packet goes
to ``PEER:PEER_PORT`` every ``INTERVAL_S`` (a send that fails, e.g. with no route while the
MN is between FAs, still counts as sent: the packet is lost). Arrivals are logged until
``END`` + 1 s. ``OUT`` receives ``{"tx": [[seq, t], ...], "rx": [[seq, sent, arrival], ...]}``.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import sys
import time

HEADER = struct.Struct("!Id")
DRAIN_S = 1.0


def run(
    port: int,
    peer: str,
    peer_port: int,
    interval: float,
    payload: int,
    start: float,
    end: float,
    out: str,
) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    sock.setblocking(False)
    padding = b"\0" * max(0, payload - HEADER.size)
    tx: list[tuple[int, float]] = []
    rx: list[tuple[int, float, float]] = []
    seq = 0
    next_send = start
    stop = end + DRAIN_S
    while True:
        now = time.monotonic()
        if now >= stop:
            break
        if now >= next_send and next_send < end:
            tx.append((seq, now))
            with contextlib.suppress(OSError):  # lost: no route or link down
                sock.sendto(HEADER.pack(seq, now) + padding, (peer, peer_port))
            seq += 1
            next_send = start + seq * interval
            continue
        wait = (next_send if next_send < end else stop) - now
        readable, _, _ = select.select([sock], [], [], max(0.0, min(wait, 0.05)))
        if readable:
            while True:
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    break
                if len(data) >= HEADER.size:
                    number, sent = HEADER.unpack_from(data)
                    rx.append((number, sent, time.monotonic()))
    with open(out, "w", encoding="utf-8") as stream:
        json.dump({"tx": tx, "rx": rx}, stream)


if __name__ == "__main__":
    a = sys.argv[1:]
    run(int(a[0]), a[1], int(a[2]), float(a[3]), int(a[4]), float(a[5]), float(a[6]), a[7])
