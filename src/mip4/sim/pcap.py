"""pcap taps: the real bytes at a capture point, openable by Wireshark and tshark.

Each tap writes a classic pcap file with the Ethernet link type (1): destination MAC (all
ones for broadcast and multicast), source MAC, EtherType 0x0800, then the IPv4 datagram
exactly as the simulated wire carries it. Timestamps are virtual time in seconds.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import dpkt

LINKTYPE_ETHERNET = 1
_ETHERTYPE_IPV4 = struct.pack("!H", 0x0800)


class PcapTap:
    """One capture file; :meth:`write` appends a frame, :meth:`close` flushes it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._writer = dpkt.pcap.Writer(self._file, linktype=LINKTYPE_ETHERNET)
        self.frames = 0

    def write(self, time: float, packet: bytes, source_mac: bytes, destination_mac: bytes) -> None:
        self._writer.writepkt(destination_mac + source_mac + _ETHERTYPE_IPV4 + packet, ts=time)
        self.frames += 1

    def close(self) -> None:
        self._file.close()
