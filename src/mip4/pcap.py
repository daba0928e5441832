"""Reading and writing capture files (classic pcap and pcapng) through dpkt.

:func:`read_capture` yields one :class:`CaptureFrame` per packet record: its frame number
(from 1, as Wireshark counts), its timestamp, and either the IPv4 datagram it carries or the
reason it carries none. Link types: Ethernet (1, with 802.1Q/802.1ad tags), raw IP (101,
228 for IPv4 only, and the platform-dependent DLT_RAW values 12 and 14), BSD loopback (0,
108) and Linux cooked capture (113, 276).

:func:`write_pcap` writes raw-IPv4 (linktype 101) or Ethernet captures.

Problems with the file itself (missing, not a capture, truncated header) raise
:class:`CaptureError` naming the file.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import dpkt

from mip4.errors import Mip4Error

LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family in host byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_DLT_RAW_12 = 12  # DLT_RAW on most BSDs and Linux (written as 101 by libpcap)
LINKTYPE_DLT_RAW_14 = 14  # DLT_RAW on OpenBSD
LINKTYPE_RAW = 101  # raw IPv4 or IPv6, version from the first nibble
LINKTYPE_LOOP = 108  # OpenBSD loopback: 4-byte address family in network byte order
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228  # raw IPv4 only
LINKTYPE_LINUX_SLL2 = 276

ETHERTYPE_IPV4 = 0x0800
_VLAN_ETHERTYPES = frozenset({0x8100, 0x88A8, 0x9100})
_AF_INET = 2

_PCAP_MAGICS = {
    b"\xa1\xb2\xc3\xd4",  # microseconds, big-endian
    b"\xd4\xc3\xb2\xa1",  # microseconds, little-endian
    b"\xa1\xb2\x3c\x4d",  # nanoseconds, big-endian
    b"\x4d\x3c\xb2\xa1",  # nanoseconds, little-endian
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"  # Section Header Block type

DEFAULT_SOURCE_MAC = bytes.fromhex("020000000001")
DEFAULT_DESTINATION_MAC = bytes.fromhex("020000000002")


class CaptureError(Mip4Error):
    """A capture file that cannot be read: missing, not a capture, or cut short."""


@dataclass(frozen=True, slots=True)
class CaptureFrame:
    """One packet record: ``ip`` holds the IPv4 datagram, or ``skip`` says why there is none."""

    number: int
    time: float
    ip: bytes | None
    skip: str | None = None


def read_capture(path: str | Path) -> Iterator[CaptureFrame]:
    """Yield every frame of the classic pcap or pcapng file at ``path``.

    The format is detected from the magic number. Raises :class:`CaptureError` before the
    first frame if the file is not a capture, and during iteration if a record is cut short.
    """
    name = str(path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
            handle.seek(0)
            reader = _open_reader(handle, magic, name)
            linktype = int(reader.datalink())
            yield from _frames(reader, linktype, name)
    except OSError as exc:
        raise CaptureError(f"{name}: cannot read: {exc.strerror or exc}") from None


def _open_reader(handle: BinaryIO, magic: bytes, name: str) -> Any:
    if not magic:
        raise CaptureError(f"{name}: not a capture: the file is empty")
    try:
        if magic in _PCAP_MAGICS:
            return dpkt.pcap.Reader(handle)
        if magic == _PCAPNG_MAGIC:
            return dpkt.pcapng.Reader(handle)
    except (ValueError, struct.error, dpkt.dpkt.Error) as exc:
        kind = "pcapng" if magic == _PCAPNG_MAGIC else "pcap"
        raise CaptureError(f"{name}: not a readable {kind} file: {exc}") from None
    raise CaptureError(
        f"{name}: not a capture: first bytes {magic.hex()} are neither a pcap magic "
        f"(a1b2c3d4, a1b23c4d, either byte order) nor a pcapng section header (0a0d0d0a)"
    )


def _frames(reader: Any, linktype: int, name: str) -> Iterator[CaptureFrame]:
    extract = _EXTRACTORS.get(linktype)
    number = 0
    records = iter(reader)
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except (ValueError, struct.error, dpkt.dpkt.Error) as exc:
            raise CaptureError(
                f"{name}: the record after frame {number} is cut short or corrupt: {exc}"
            ) from None
        number += 1
        timestamp, buf = record
        time = float(timestamp)  # nanosecond pcaps give a Decimal
        if extract is None:
            yield CaptureFrame(number, time, None, f"unsupported link type {linktype}")
            continue
        ip, reason = extract(bytes(buf))
        yield CaptureFrame(number, time, ip, reason)


def _raw(buf: bytes) -> tuple[bytes | None, str | None]:
    if not buf:
        return None, "empty frame"
    if buf[0] >> 4 != 4:
        return None, f"IP version {buf[0] >> 4}, not IPv4"
    return buf, None


def _ethertype(ethertype: int, payload: bytes) -> tuple[bytes | None, str | None]:
    if ethertype != ETHERTYPE_IPV4:
        return None, f"ethertype 0x{ethertype:04x}, not IPv4"
    return payload, None


def _ethernet(buf: bytes) -> tuple[bytes | None, str | None]:
    pos = 12
    while True:
        if len(buf) < pos + 2:
            return None, "Ethernet frame shorter than its header"
        ethertype = int.from_bytes(buf[pos : pos + 2], "big")
        if ethertype not in _VLAN_ETHERTYPES:
            return _ethertype(ethertype, buf[pos + 2 :])
        pos += 4  # an 802.1Q / 802.1ad tag: TPID then TCI


def _null(byteorder: str) -> Any:
    def extract(buf: bytes) -> tuple[bytes | None, str | None]:
        if len(buf) < 4:
            return None, "loopback frame shorter than its header"
        family = int.from_bytes(buf[:4], byteorder)  # type: ignore[arg-type]
        if family != _AF_INET:
            return None, f"address family {family}, not IPv4"
        return buf[4:], None

    return extract


def _sll(buf: bytes) -> tuple[bytes | None, str | None]:
    if len(buf) < 16:
        return None, "Linux cooked frame shorter than its header"
    return _ethertype(int.from_bytes(buf[14:16], "big"), buf[16:])


def _sll2(buf: bytes) -> tuple[bytes | None, str | None]:
    if len(buf) < 20:
        return None, "Linux cooked v2 frame shorter than its header"
    return _ethertype(int.from_bytes(buf[0:2], "big"), buf[20:])


def _null_host(buf: bytes) -> tuple[bytes | None, str | None]:
    # DLT_NULL stores the family in the writer's byte order; AF_INET is 2 either way round.
    if len(buf) < 4:
        return None, "loopback frame shorter than its header"
    if _AF_INET not in (int.from_bytes(buf[:4], "little"), int.from_bytes(buf[:4], "big")):
        return None, "address family is not AF_INET"
    return buf[4:], None


_EXTRACTORS = {
    LINKTYPE_NULL: _null_host,
    LINKTYPE_ETHERNET: _ethernet,
    LINKTYPE_DLT_RAW_12: _raw,
    LINKTYPE_DLT_RAW_14: _raw,
    LINKTYPE_RAW: _raw,
    LINKTYPE_LOOP: _null("big"),
    LINKTYPE_LINUX_SLL: _sll,
    LINKTYPE_IPV4: _raw,
    LINKTYPE_LINUX_SLL2: _sll2,
}


def ethernet_frame(ip_packet: bytes, source: bytes, destination: bytes) -> bytes:
    """``ip_packet`` behind an Ethernet II header (ethertype 0x0800)."""
    if len(source) != 6 or len(destination) != 6:
        raise ValueError("MAC addresses are 6 bytes")
    return destination + source + ETHERTYPE_IPV4.to_bytes(2, "big") + ip_packet


def write_pcap(
    path: str | Path | BinaryIO,
    packets: Iterable[tuple[float, bytes]],
    *,
    ethernet: bool = False,
    source_mac: bytes = DEFAULT_SOURCE_MAC,
    destination_mac: bytes = DEFAULT_DESTINATION_MAC,
) -> int:
    """Write ``(timestamp, ipv4_packet)`` pairs as a classic pcap; returns the frame count.

    Raw IPv4 (linktype 101) by default; with ``ethernet`` every packet gets an Ethernet II
    header from ``source_mac`` to ``destination_mac`` (linktype 1).
    """
    linktype = LINKTYPE_ETHERNET if ethernet else LINKTYPE_RAW
    buffer = io.BytesIO()
    writer = dpkt.pcap.Writer(buffer, snaplen=65535, linktype=linktype)
    count = 0
    for timestamp, packet in packets:
        frame = ethernet_frame(packet, source_mac, destination_mac) if ethernet else packet
        writer.writepkt_time(frame, timestamp)
        count += 1
    data = buffer.getvalue()
    if isinstance(path, str | Path):
        Path(path).write_bytes(data)
    else:
        path.write(data)
    return count


__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_RAW",
    "CaptureError",
    "CaptureFrame",
    "ethernet_frame",
    "read_capture",
    "write_pcap",
]
