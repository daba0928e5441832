"""Reading and writing capture files: classic pcap (through dpkt) and pcapng (read here).

:func:`read_capture` yields one :class:`CaptureFrame` per packet record: its frame number
(from 1, as Wireshark counts), its timestamp, and either the IPv4 datagram it carries or the
reason it carries none. Link types: Ethernet (1, with 802.1Q/802.1ad tags), raw IP (101,
228 for IPv4 only, and the platform-dependent DLT_RAW values 12 and 14), BSD loopback (0,
108) and Linux cooked capture (113, 276). In pcapng the link type is each packet's own
interface's (a merged capture mixes them); a frame whose link layer cannot be read at all
(an unsupported link type, an interface id no Interface Description Block describes) is
marked :attr:`CaptureFrame.link_error`, so that callers report it instead of skipping it.

:func:`write_pcap` writes raw-IPv4 (linktype 101) or Ethernet captures.

Problems with the file itself (missing, not a capture, truncated header) raise
:class:`CaptureError` naming the file.
"""

from __future__ import annotations

import dataclasses
import io
import struct
from collections.abc import Iterable, Iterator, Sequence
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
    """One packet record: ``ip`` holds the IPv4 datagram, or ``skip`` says why there is none.

    ``interface`` is the pcapng interface id (0 in classic pcap) and ``linktype`` its link
    type. ``link_error`` is True when the link layer could not be read at all (unsupported
    link type, undescribed interface): what the frame carries went unexamined.
    """

    number: int
    time: float
    ip: bytes | None
    skip: str | None = None
    interface: int = 0
    linktype: int | None = None
    link_error: bool = False


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
            if magic == _PCAPNG_MAGIC:
                yield from _pcapng_frames(handle, name)
                return
            reader = _open_pcap(handle, magic, name)
            yield from _frames(reader, int(reader.datalink()), name)
    except OSError as exc:
        raise CaptureError(f"{name}: cannot read: {exc.strerror or exc}") from None


def _open_pcap(handle: BinaryIO, magic: bytes, name: str) -> Any:
    if not magic:
        raise CaptureError(f"{name}: not a capture: the file is empty")
    if magic in _PCAP_MAGICS:
        try:
            return dpkt.pcap.Reader(handle)
        except (ValueError, struct.error, dpkt.dpkt.Error) as exc:
            raise CaptureError(f"{name}: not a readable pcap file: {exc}") from None
    raise CaptureError(
        f"{name}: not a capture: first bytes {magic.hex()} are neither a pcap magic "
        f"(a1b2c3d4, a1b23c4d, either byte order) nor a pcapng section header (0a0d0d0a)"
    )


def _frames(reader: Any, linktype: int, name: str) -> Iterator[CaptureFrame]:
    """The frames of a classic pcap: one link type for the whole file."""
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
        yield _extract(number, time, bytes(buf), linktype, 0)


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


# ------------------------------------------------------------------------- pcapng blocks
#
# dpkt's pcapng reader takes the link type of the first Interface Description Block for the
# whole file; a file with several interfaces (mergecap, dumpcap -i a -i b) needs each
# packet's interface id. So pcapng is read here, block by block
# (draft-ietf-opsawg-pcapng §3-4): Section Header (resets the interfaces and may change the
# byte order), Interface Description (link type, snaplen, if_tsresol, if_tsoffset), Enhanced
# Packet, Simple Packet and the obsolete Packet Block; every other block is skipped.

_BT_SHB = 0x0A0D0D0A
_BT_IDB = 0x00000001
_BT_PB = 0x00000002  # obsolete Packet Block (§ Appendix A of the draft)
_BT_SPB = 0x00000003
_BT_EPB = 0x00000006
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_OPT_IF_TSRESOL = 9
_OPT_IF_TSOFFSET = 14
_MAX_BLOCK = 1 << 28  # far beyond any real block; refuses a corrupt length before reading it


@dataclass(frozen=True, slots=True)
class _Interface:
    linktype: int
    snaplen: int
    units_per_second: int  # if_tsresol: 10**n or 2**n timestamp units per second
    offset: int  # if_tsoffset: seconds added to every timestamp


class _BlockError(Exception):
    """A pcapng block that is cut short or inconsistent (turned into a CaptureError)."""


def _pcapng_frames(handle: BinaryIO, name: str) -> Iterator[CaptureFrame]:
    order = "<"
    interfaces: list[_Interface] = []
    number = 0
    first = True
    while True:
        try:
            block = _next_block(handle, order, first)
            if block is None:
                return
            block_type, body, order = block
            if block_type == _BT_SHB:
                interfaces = []  # interface ids count from 0 again in each section
            elif block_type == _BT_IDB:
                interfaces.append(_interface(body, order))
            elif block_type in (_BT_EPB, _BT_PB, _BT_SPB):
                iface_id, stamp, data = _packet(block_type, body, order, interfaces)
                number += 1
                yield _pcapng_frame(number, iface_id, stamp, data, interfaces)
        except _BlockError as exc:
            if first:
                raise CaptureError(f"{name}: not a readable pcapng file: {exc}") from None
            raise CaptureError(
                f"{name}: the block after frame {number} is cut short or corrupt: {exc}"
            ) from None
        first = False


def _next_block(handle: BinaryIO, order: str, first: bool) -> tuple[int, bytes, str] | None:
    """The next block as (type, body without type and lengths, byte order), None at the end."""
    head = handle.read(8)
    if not head:
        if first:
            raise _BlockError("no Section Header Block")
        return None
    if len(head) < 8:
        raise _BlockError(f"block header cut short ({len(head)} of 8 bytes)")
    if head[:4] == _PCAPNG_MAGIC:
        # A Section Header Block: its byte-order magic says how to read everything after it.
        magic = handle.read(4)
        if len(magic) < 4:
            raise _BlockError("Section Header Block cut short before its byte-order magic")
        if int.from_bytes(magic, "little") == _BYTE_ORDER_MAGIC:
            order = "<"
        elif int.from_bytes(magic, "big") == _BYTE_ORDER_MAGIC:
            order = ">"
        else:
            raise _BlockError(f"byte-order magic {magic.hex()} is not 1a2b3c4d in either order")
        length = struct.unpack(order + "I", head[4:8])[0]
        if length < 28:
            raise _BlockError(f"Section Header Block length {length} is below 28")
        rest = _read_block_rest(handle, length, 12)
        major = struct.unpack_from(order + "H", rest, 0)[0]
        if major != 1:
            raise _BlockError(f"pcapng major version {major}, only 1 is defined")
        _check_trailer(head, rest, order, length)
        return _BT_SHB, magic + rest[:-4], order
    if first:
        raise _BlockError("the first block is not a Section Header Block")
    block_type, length = struct.unpack(order + "II", head)
    if length < 12:
        raise _BlockError(f"block type 0x{block_type:08x} has length {length}, below 12")
    rest = _read_block_rest(handle, length, 8)
    _check_trailer(head, rest, order, length)
    return block_type, rest[:-4], order


def _read_block_rest(handle: BinaryIO, length: int, done: int) -> bytes:
    if length % 4 or length > _MAX_BLOCK:
        raise _BlockError(f"block length {length} is not a multiple of 4 below 2**28")
    rest = handle.read(length - done)
    if len(rest) < length - done:
        raise _BlockError(f"block of {length} bytes cut short after {done + len(rest)}")
    return rest


def _check_trailer(head: bytes, rest: bytes, order: str, length: int) -> None:
    trailer = struct.unpack(order + "I", rest[-4:])[0]
    if trailer != length:
        block_type = struct.unpack(order + "I", head[:4])[0]
        raise _BlockError(
            f"block type 0x{block_type:08x}: trailing length {trailer} differs from {length}"
        )


def _interface(body: bytes, order: str) -> _Interface:
    if len(body) < 8:
        raise _BlockError(f"Interface Description Block body of {len(body)} bytes, below 8")
    linktype, _, snaplen = struct.unpack_from(order + "HHI", body, 0)
    units, offset = 10**6, 0  # default resolution: microseconds
    for code, value in _options(body, 8, order):
        if code == _OPT_IF_TSRESOL and len(value) >= 1:
            exponent = value[0] & 0x7F
            units = 2**exponent if value[0] & 0x80 else 10**exponent
        elif code == _OPT_IF_TSOFFSET and len(value) >= 8:
            offset = struct.unpack_from(order + "q", value, 0)[0]
    return _Interface(linktype=linktype, snaplen=snaplen, units_per_second=units, offset=offset)


def _options(body: bytes, pos: int, order: str) -> Iterator[tuple[int, bytes]]:
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == 0:  # opt_endofopt
            return
        value = body[pos + 4 : pos + 4 + length]
        if len(value) < length:
            raise _BlockError(f"option {code} declares {length} bytes, {len(value)} remain")
        yield code, value
        pos += 4 + (length + 3) // 4 * 4


def _packet(
    block_type: int, body: bytes, order: str, interfaces: Sequence[_Interface]
) -> tuple[int, int | None, bytes]:
    """(interface id, raw timestamp or None, captured bytes) of a packet block."""
    if block_type == _BT_SPB:
        # Simple Packet Block: interface 0, no timestamp; captured = min(original, snaplen).
        if len(body) < 4:
            raise _BlockError("Simple Packet Block has no Original Packet Length")
        original = struct.unpack_from(order + "I", body, 0)[0]
        snaplen = interfaces[0].snaplen if interfaces else 0
        captured = min(original, snaplen) if snaplen else original
        if captured > len(body) - 4:
            raise _BlockError(f"Simple Packet Block holds {len(body) - 4} of {captured} bytes")
        return 0, None, body[4 : 4 + captured]
    if len(body) < 20:
        raise _BlockError(f"packet block body of {len(body)} bytes, below 20")
    if block_type == _BT_EPB:
        iface_id, high, low, captured = struct.unpack_from(order + "IIII", body, 0)
    else:  # obsolete Packet Block: 16-bit interface id, 16-bit drops count
        iface_id, _, high, low, captured = struct.unpack_from(order + "HHIII", body, 0)
    if captured > len(body) - 20:
        raise _BlockError(
            f"packet block declares {captured} captured bytes, holds {len(body) - 20}"
        )
    return iface_id, (high << 32) | low, body[20 : 20 + captured]


def _pcapng_frame(
    number: int,
    iface_id: int,
    stamp: int | None,
    data: bytes,
    interfaces: Sequence[_Interface],
) -> CaptureFrame:
    if iface_id >= len(interfaces):
        return CaptureFrame(
            number,
            0.0,
            None,
            f"interface {iface_id} has no Interface Description Block "
            f"({len(interfaces)} in this section)",
            interface=iface_id,
            link_error=True,
        )
    iface = interfaces[iface_id]
    time = 0.0 if stamp is None else stamp / iface.units_per_second + iface.offset
    frame = _extract(number, time, data, iface.linktype, iface_id)
    if frame.link_error:
        return dataclasses.replace(frame, skip=f"{frame.skip} on interface {iface_id}")
    return frame


def _extract(number: int, time: float, data: bytes, linktype: int, interface: int) -> CaptureFrame:
    extract = _EXTRACTORS.get(linktype)
    if extract is None:
        return CaptureFrame(
            number,
            time,
            None,
            f"unsupported link type {linktype}",
            interface=interface,
            linktype=linktype,
            link_error=True,
        )
    ip, reason = extract(data)
    return CaptureFrame(number, time, ip, reason, interface=interface, linktype=linktype)


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
