"""Tunnel encapsulations of Mobile IPv4 (RFC 5944 §4.1): IP in IP (RFC 2003), minimal
encapsulation (RFC 2004) and GRE (RFC 2784 with the RFC 2890 key and sequence number).

Pure byte transformations: the data planes of the simulator and the daemon call
:func:`encapsulate` and :func:`decapsulate` (or the per-kind functions). Routing decisions —
decrementing the inner TTL when the encapsulator forwards (RFC 2003 §3.1), dropping an inner
TTL of 0, the loop checks of RFC 2003 §3.1 / RFC 2784 §3.1, tunnel soft state — stay with the
caller.

Decapsulation takes the whole outer datagram and verifies the outer IPv4 header checksum, the
tunnel header (checksums, reserved bits the RFC says to reject) and the inner IPv4 header.
Errors are the :class:`~mip4.wire.errors.DecodeError` family with offsets counted from the
first byte of the outer datagram; errors in the inner datagram name ``inner.<field>``.
Encapsulation refuses what the RFCs forbid with :class:`EncapsulationRefused`.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import NamedTuple, Self

from mip4.errors import LocalUsageError
from mip4.wire._util import ipv4, need
from mip4.wire.errors import (
    ChecksumError,
    DecodeError,
    LengthError,
    ReservedValueError,
    ValueDecodeError,
)
from mip4.wire.ip import (
    FLAG_DF,
    FLAG_MF,
    PROTO_GRE,
    PROTO_IPIP,
    PROTO_MINIMAL,
    IPv4Header,
    IPv4Packet,
    internet_checksum,
)

DEFAULT_OUTER_TTL = 64
ETHERTYPE_IPV4 = 0x0800  # RFC 2784 §3
MAX_DATAGRAM = 0xFFFF
_FRAGMENT_OFFSET_MASK = 0x1FFF


class Encapsulation(enum.IntEnum):
    """Tunnel kinds, valued by the outer IP protocol number that announces them."""

    IP_IN_IP = PROTO_IPIP  # RFC 2003; mandatory for HA and FA (RFC 5944 §4.1)
    GRE = PROTO_GRE  # RFC 2784, RFC 2890; RRQ/MAAE/HRqst bit G
    MINIMAL = PROTO_MINIMAL  # RFC 2004; RRQ/MAAE/HRqst bit M


class EncapsulationRefused(LocalUsageError):
    """The datagram may not be tunnelled this way (a fragment under minimal encapsulation,
    RFC 2004 §3, or a result longer than 65535 bytes)."""


class Decapsulated(NamedTuple):
    """What :func:`decapsulate` returns: the tunnel kind, the outer IPv4 header as received
    (for minimal encapsulation, the modified original header) and the inner datagram."""

    kind: Encapsulation
    outer_header: IPv4Header
    inner: bytes


def is_fragment(header: IPv4Header) -> bool:
    """True if the datagram is a fragment (MF set or a non-zero fragment offset)."""
    return bool(header.flags_fragment & FLAG_MF or header.flags_fragment & _FRAGMENT_OFFSET_MASK)


def _inner_packet(inner: bytes) -> IPv4Packet:
    """The datagram to tunnel, checked to be whole IPv4 (link padding past Total Length is
    dropped); offsets in errors count from the first byte of ``inner``."""
    return IPv4Packet.decode(inner)


def _decode_inner(data: bytes, start: int) -> IPv4Packet:
    """The tunnelled datagram at ``data[start:]``: IPv4 with a verifying header checksum and
    a Total Length that fills the rest of the outer payload exactly."""
    inner = data[start:]
    try:
        packet = IPv4Packet.decode(inner)
    except DecodeError as exc:
        raise type(exc)(exc.reason, field=f"inner.{exc.field}", offset=start + exc.offset) from None
    if packet.header.total_length != len(inner):
        raise LengthError(
            f"inner total length {packet.header.total_length} does not fill the "
            f"{len(inner)} bytes the outer datagram carries",
            field="inner.ipv4.total_length",
            offset=start + 2,
        )
    return packet


def _decode_outer(data: bytes, protocol: int) -> IPv4Packet:
    packet = IPv4Packet.decode(data)
    if packet.header.protocol != protocol:
        raise ValueDecodeError(
            f"outer protocol {packet.header.protocol} is not {protocol}",
            field="ipv4.protocol",
            offset=9,
        )
    if is_fragment(packet.header):
        raise ValueDecodeError(
            "a fragment: reassemble the outer datagram before decapsulating",
            field="ipv4.flags_fragment",
            offset=6,
        )
    return packet


def _outer_header(
    inner: IPv4Header,
    payload_length: int,
    protocol: int,
    source: IPv4Address,
    destination: IPv4Address,
    ttl: int,
    identification: int,
) -> IPv4Header:
    """RFC 2003 §3.1: TOS copied from the inner header, DF set if the inner DF is set,
    options not copied. Used for GRE as well."""
    total = 20 + payload_length
    if total > MAX_DATAGRAM:
        raise EncapsulationRefused(f"encapsulated datagram would be {total} bytes")
    return IPv4Header(
        tos=inner.tos,
        total_length=total,
        identification=identification,
        flags_fragment=FLAG_DF if inner.dont_fragment else 0,  # RFC 2003 §3.1: MUST copy DF
        ttl=ttl,
        protocol=protocol,
        source=source,
        destination=destination,
    )


# --------------------------------------------------------------------------------------------
# IP in IP, RFC 2003


def encapsulate_ip_in_ip(
    inner: bytes,
    source: IPv4Address,
    destination: IPv4Address,
    *,
    ttl: int = DEFAULT_OUTER_TTL,
    identification: int = 0,
) -> bytes:
    """IP-in-IP encapsulation, RFC 2003 §3.1: a new outer header (protocol 4) from the
    encapsulator ``source`` to the tunnel exit ``destination`` in front of the unchanged inner
    datagram. The outer TTL is ``ttl`` (RFC 2003 §3.1: "whatever reaches the tunnel exit")."""
    packet = _inner_packet(inner)
    body = packet.encode()
    outer = _outer_header(
        packet.header, len(body), PROTO_IPIP, source, destination, ttl, identification
    )
    return outer.encode() + body


def decapsulate_ip_in_ip(data: bytes) -> tuple[IPv4Header, bytes]:
    """Undo :func:`encapsulate_ip_in_ip`: (outer header, inner datagram), RFC 2003 §3.1.

    The outer protocol must be 4 and the payload exactly one IPv4 datagram.
    """
    outer = _decode_outer(data, PROTO_IPIP)
    start = outer.header.header_length
    _decode_inner(data[: outer.header.total_length], start)
    return outer.header, outer.payload


# --------------------------------------------------------------------------------------------
# Minimal encapsulation, RFC 2004

_MINIMAL = struct.Struct("!BBH4s")  # Protocol, S|reserved, Header Checksum, Original Destination
_MINIMAL_S = 0x80
_MINIMAL_RESERVED = 0x7F


@dataclass(frozen=True, slots=True, kw_only=True)
class MinimalForwardingHeader:
    """Minimal forwarding header, RFC 2004 §3 (IP protocol 55).

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   Protocol    |S|  reserved   |        Header Checksum        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                 Original Destination Address                  |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    :            (if present) Original Source Address               :
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    S is set exactly when ``original_source`` is present (12 bytes instead of 8). The
    checksum covers this header only. The reserved bits are "sent as zero; ignored on
    reception" (RFC 2004 §3), so they are kept in ``reserved`` and re-encoded as received.
    ``checksum`` None means "compute on encode".
    """

    protocol: int
    original_destination: IPv4Address
    original_source: IPv4Address | None = None
    reserved: int = 0
    checksum: int | None = None

    @property
    def size(self) -> int:
        return 8 if self.original_source is None else 12

    def encode(self) -> bytes:
        if self.reserved & ~_MINIMAL_RESERVED:
            raise LocalUsageError(f"reserved bits 0x{self.reserved:x} exceed mask 0x7f")
        flags = self.reserved | (0 if self.original_source is None else _MINIMAL_S)
        raw = _MINIMAL.pack(self.protocol, flags, 0, self.original_destination.packed)
        if self.original_source is not None:
            raw += self.original_source.packed
        checksum = internet_checksum(raw) if self.checksum is None else self.checksum
        return raw[:2] + checksum.to_bytes(2, "big") + raw[4:]

    @classmethod
    def decode(cls, data: bytes, *, base: int = 0, verify_checksum: bool = True) -> Self:
        """Decode the header at the start of ``data``; ``base`` is added to error offsets."""
        need(data, 1, field="minimal.protocol", offset=base)
        need(data, 2, field="minimal.flags", offset=base + 1)
        need(data, 4, field="minimal.checksum", offset=base + 2)
        need(data, 8, field="minimal.original_destination", offset=base + 4)
        protocol, flags, checksum, destination = _MINIMAL.unpack_from(data)
        size = 8
        source = None
        if flags & _MINIMAL_S:
            need(data, 12, field="minimal.original_source", offset=base + 8)
            source = ipv4(data[8:12])
            size = 12
        # RFC 2004 §3: one's-complement sum over this header only (8 or 12 bytes).
        if verify_checksum and internet_checksum(data[:size]) != 0:
            raise ChecksumError(
                f"minimal forwarding header checksum 0x{checksum:04x} does not verify",
                field="minimal.checksum",
                offset=base + 2,
            )
        return cls(
            protocol=protocol,
            original_destination=ipv4(destination),
            original_source=source,
            reserved=flags & _MINIMAL_RESERVED,
            checksum=checksum,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "protocol": self.protocol,
            "flags": {"S": self.original_source is not None},
            "reserved": self.reserved,
            "checksum": self.checksum,
            "original_destination": str(self.original_destination),
            "original_source": None if self.original_source is None else str(self.original_source),
        }


def encapsulate_minimal(inner: bytes, source: IPv4Address, destination: IPv4Address) -> bytes:
    """Minimal encapsulation, RFC 2004 §3: the original header is modified in place (protocol
    55, destination = tunnel exit ``destination``, source = encapsulator ``source`` unless the
    encapsulator is the original source — then S = 0 — Total Length += 8 or 12, checksum
    recomputed; TTL, identification, flags and options unchanged) and the forwarding header is
    inserted after it.

    Raises :class:`EncapsulationRefused` for a fragment ("MUST NOT be used when an original
    datagram is already fragmented") — use IP in IP for it.
    """
    packet = _inner_packet(inner)
    header = packet.header
    if is_fragment(header):
        raise EncapsulationRefused("minimal encapsulation MUST NOT carry a fragment (RFC 2004 §3)")
    forwarding = MinimalForwardingHeader(
        protocol=header.protocol,
        original_destination=header.destination,
        original_source=None if header.source == source else header.source,
    )
    total = header.total_length + forwarding.size
    if total > MAX_DATAGRAM:
        raise EncapsulationRefused(f"encapsulated datagram would be {total} bytes")
    modified = dataclasses.replace(
        header,
        protocol=PROTO_MINIMAL,
        destination=destination,
        source=source,
        total_length=total,
        checksum=None,
    )
    return modified.encode() + forwarding.encode() + packet.payload


def decapsulate_minimal(data: bytes) -> tuple[IPv4Header, MinimalForwardingHeader, bytes]:
    """Undo :func:`encapsulate_minimal`, RFC 2004 §3: (received header, forwarding header,
    restored original datagram). The restored header gets the original protocol, destination
    and (if S) source back, Total Length shrunk by 8 or 12 and a recomputed checksum, so a
    datagram that went through :func:`encapsulate_minimal` comes back byte for byte."""
    outer = _decode_outer(data, PROTO_MINIMAL)
    start = outer.header.header_length
    forwarding = MinimalForwardingHeader.decode(outer.payload, base=start)
    restored = dataclasses.replace(
        outer.header,
        protocol=forwarding.protocol,
        destination=forwarding.original_destination,
        source=outer.header.source
        if forwarding.original_source is None
        else forwarding.original_source,
        total_length=outer.header.total_length - forwarding.size,
        checksum=None,
    )
    return outer.header, forwarding, restored.encode() + outer.payload[forwarding.size :]


# --------------------------------------------------------------------------------------------
# GRE, RFC 2784 + RFC 2890

GRE_C = 0x8000  # checksum present (RFC 2784 §2.2)
GRE_K = 0x2000  # key present (RFC 2890 §2)
GRE_S = 0x1000  # sequence number present (RFC 2890 §2)
GRE_MUST_BE_ZERO = 0x4C00  # bits 1, 4, 5: RFC 2784 §2.3 "MUST discard" (2, 3 are K, S)
GRE_RESERVED0 = 0x03F8  # bits 6-12: sent as zero, MUST be ignored on receipt (RFC 2784 §2.3)
GRE_VERSION = 0x0007  # bits 13-15: MUST be 0 (RFC 2784 §2.3.1)

_GRE = struct.Struct("!HH")


@dataclass(frozen=True, slots=True, kw_only=True)
class GreHeader:
    """GRE header, RFC 2784 §2.1 with the Key and Sequence Number of RFC 2890 §2.

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |C| |K|S| Reserved0       | Ver |         Protocol Type         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |      Checksum (optional)      |       Reserved1 (Optional)    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                         Key (optional)                        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                 Sequence Number (Optional)                    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    C is set when ``checksum_present``; K when ``key`` is not None; S when
    ``sequence_number`` is not None. The checksum covers the GRE header and the payload
    (RFC 2784 §2.5); ``checksum`` None means "compute on encode".

    Receipt: bits 1, 4 and 5 non-zero -> :class:`ReservedValueError` (RFC 2784 §2.3 "MUST
    discard", routing and RFC 1701 fields); version not 0 -> ``gre.version``; protocol type
    not 0x0800 -> ``gre.protocol_type`` (only IPv4 is tunnelled here, RFC 2784 §2.4 SHOULD
    discard unknown types). Bits 6-12 ("MUST be ignored on receipt") and Reserved1 (only
    "MUST be transmitted as zero") are kept in ``reserved0`` / ``reserved1`` and re-encoded.
    """

    protocol_type: int = ETHERTYPE_IPV4
    checksum_present: bool = False
    checksum: int | None = None
    key: int | None = None
    sequence_number: int | None = None
    reserved0: int = 0  # the 0x03F8 bits of the first word
    reserved1: int = 0

    @property
    def size(self) -> int:
        return (
            4
            + (4 if self.checksum_present else 0)
            + (4 if self.key is not None else 0)
            + (4 if self.sequence_number is not None else 0)
        )

    def encode(self, payload: bytes) -> bytes:
        """The header for ``payload`` (needed for the checksum); payload not included."""
        if self.reserved0 & ~GRE_RESERVED0:
            raise LocalUsageError(f"reserved0 bits 0x{self.reserved0:x} exceed mask 0x03f8")
        word = self.reserved0
        word |= GRE_C if self.checksum_present else 0
        word |= GRE_K if self.key is not None else 0
        word |= GRE_S if self.sequence_number is not None else 0
        raw = _GRE.pack(word, self.protocol_type)
        checksum_at = len(raw)
        if self.checksum_present:
            raw += struct.pack("!HH", 0, self.reserved1)
        if self.key is not None:
            raw += self.key.to_bytes(4, "big")
        if self.sequence_number is not None:
            raw += self.sequence_number.to_bytes(4, "big")
        if not self.checksum_present:
            return raw
        checksum = internet_checksum(raw + payload) if self.checksum is None else self.checksum
        return raw[:checksum_at] + checksum.to_bytes(2, "big") + raw[checksum_at + 2 :]

    @classmethod
    def decode(
        cls, data: bytes, *, base: int = 0, verify_checksum: bool = True
    ) -> tuple[Self, bytes]:
        """Decode the GRE packet ``data`` into (header, payload); ``base`` is added to error
        offsets. The checksum, if present, is verified over the whole of ``data``."""
        need(data, 2, field="gre.flags", offset=base)
        need(data, 4, field="gre.protocol_type", offset=base + 2)
        word, protocol_type = _GRE.unpack_from(data)
        if word & GRE_MUST_BE_ZERO:
            raise ReservedValueError(
                f"bits 0x{word & GRE_MUST_BE_ZERO:04x} (routing / RFC 1701 fields) are set; "
                "RFC 2784 §2.3 requires discarding the packet",
                field="gre.reserved0",
                offset=base,
            )
        if word & GRE_VERSION:
            raise ValueDecodeError(
                f"version {word & GRE_VERSION} is not 0 (RFC 2784 §2.3.1)",
                field="gre.version",
                offset=base + 1,
            )
        if protocol_type != ETHERTYPE_IPV4:
            raise ValueDecodeError(
                f"protocol type 0x{protocol_type:04x} is not IPv4 (0x0800)",
                field="gre.protocol_type",
                offset=base + 2,
            )
        pos = 4
        checksum = None
        reserved1 = 0
        if word & GRE_C:
            need(data, pos + 2, field="gre.checksum", offset=base + pos)
            need(data, pos + 4, field="gre.reserved1", offset=base + pos + 2)
            checksum, reserved1 = struct.unpack_from("!HH", data, pos)
            # RFC 2784 §2.5: one's-complement sum over the GRE header and the payload.
            if verify_checksum and internet_checksum(data) != 0:
                raise ChecksumError(
                    f"GRE checksum 0x{checksum:04x} does not verify",
                    field="gre.checksum",
                    offset=base + pos,
                )
            pos += 4
        key = None
        if word & GRE_K:
            need(data, pos + 4, field="gre.key", offset=base + pos)
            key = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
        sequence = None
        if word & GRE_S:
            need(data, pos + 4, field="gre.sequence_number", offset=base + pos)
            sequence = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
        header = cls(
            protocol_type=protocol_type,
            checksum_present=bool(word & GRE_C),
            checksum=checksum,
            key=key,
            sequence_number=sequence,
            reserved0=word & GRE_RESERVED0,
            reserved1=reserved1,
        )
        return header, data[pos:]

    def to_dict(self) -> dict[str, object]:
        return {
            "flags": {
                "C": self.checksum_present,
                "K": self.key is not None,
                "S": self.sequence_number is not None,
            },
            "version": 0,
            "protocol_type": self.protocol_type,
            "checksum": self.checksum,
            "reserved0": self.reserved0,
            "reserved1": self.reserved1,
            "key": self.key,
            "sequence_number": self.sequence_number,
        }


def gre_sequence_in_order(last: int, received: int) -> bool:
    """RFC 2890 §2.2: a packet is out of sequence (SHOULD be discarded) if its sequence
    number lies in ``last`` or the 2**31 - 1 values before it, modulo 2**32. ``last`` starts
    at 2**32 - 1 when the tunnel is established."""
    return (last - received) % 2**32 >= 2**31


def encapsulate_gre(
    inner: bytes,
    source: IPv4Address,
    destination: IPv4Address,
    *,
    ttl: int = DEFAULT_OUTER_TTL,
    identification: int = 0,
    key: int | None = None,
    sequence_number: int | None = None,
    checksum: bool = False,
) -> bytes:
    """GRE encapsulation of an IPv4 datagram (RFC 2784 §3, protocol type 0x0800) in an IPv4
    delivery header (protocol 47, RFC 2784 §4) built as for IP in IP (TOS and DF copied)."""
    packet = _inner_packet(inner)
    body = packet.encode()
    gre = GreHeader(checksum_present=checksum, key=key, sequence_number=sequence_number)
    header = gre.encode(body)
    outer = _outer_header(
        packet.header,
        len(header) + len(body),
        PROTO_GRE,
        source,
        destination,
        ttl,
        identification,
    )
    return outer.encode() + header + body


def decapsulate_gre(data: bytes) -> tuple[IPv4Header, GreHeader, bytes]:
    """Undo :func:`encapsulate_gre`: (outer header, GRE header, inner datagram)."""
    outer = _decode_outer(data, PROTO_GRE)
    start = outer.header.header_length
    gre, inner = GreHeader.decode(outer.payload, base=start)
    _decode_inner(data[: outer.header.total_length], start + gre.size)
    return outer.header, gre, inner


# --------------------------------------------------------------------------------------------
# Dispatch


def encapsulate(
    kind: Encapsulation,
    inner: bytes,
    source: IPv4Address,
    destination: IPv4Address,
    *,
    ttl: int = DEFAULT_OUTER_TTL,
    identification: int = 0,
    gre_key: int | None = None,
    gre_sequence_number: int | None = None,
    gre_checksum: bool = False,
) -> bytes:
    """Tunnel ``inner`` from ``source`` (the encapsulator) to ``destination`` (the exit).

    ``ttl`` and ``identification`` set the new outer header of IP in IP and GRE; minimal
    encapsulation has no new header and leaves the original TTL and identification alone
    (RFC 2004 §3), so it ignores them. The ``gre_*`` options apply to GRE only.
    """
    if kind is Encapsulation.IP_IN_IP:
        return encapsulate_ip_in_ip(
            inner, source, destination, ttl=ttl, identification=identification
        )
    if kind is Encapsulation.MINIMAL:
        return encapsulate_minimal(inner, source, destination)
    return encapsulate_gre(
        inner,
        source,
        destination,
        ttl=ttl,
        identification=identification,
        key=gre_key,
        sequence_number=gre_sequence_number,
        checksum=gre_checksum,
    )


def decapsulate(data: bytes) -> Decapsulated:
    """Decapsulate a tunnelled datagram, choosing the kind from the outer protocol number
    (4, 47 or 55); another protocol raises :class:`ValueDecodeError` on ``ipv4.protocol``."""
    header = IPv4Header.decode(data)
    try:
        kind = Encapsulation(header.protocol)
    except ValueError:
        raise ValueDecodeError(
            f"protocol {header.protocol} is not a tunnel (4, 47, 55)",
            field="ipv4.protocol",
            offset=9,
        ) from None
    if kind is Encapsulation.IP_IN_IP:
        outer, inner = decapsulate_ip_in_ip(data)
    elif kind is Encapsulation.MINIMAL:
        outer, _, inner = decapsulate_minimal(data)
    else:
        outer, _, inner = decapsulate_gre(data)
    return Decapsulated(kind=kind, outer_header=outer, inner=inner)


TUNNEL_PROTOCOLS: frozenset[int] = frozenset(int(k) for k in Encapsulation)

__all__ = [
    "DEFAULT_OUTER_TTL",
    "ETHERTYPE_IPV4",
    "TUNNEL_PROTOCOLS",
    "Decapsulated",
    "Encapsulation",
    "EncapsulationRefused",
    "GreHeader",
    "MinimalForwardingHeader",
    "decapsulate",
    "decapsulate_gre",
    "decapsulate_ip_in_ip",
    "decapsulate_minimal",
    "encapsulate",
    "encapsulate_gre",
    "encapsulate_ip_in_ip",
    "encapsulate_minimal",
    "gre_sequence_in_order",
    "is_fragment",
]
