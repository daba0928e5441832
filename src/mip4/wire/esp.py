"""ESP with NULL encryption and HMAC-SHA1-96 integrity (RFC 4303, RFC 2410, RFC 2404).

RFC 4881 §3.4.1 requires the inter-FA Agent Solicitations and Advertisements to be protected
with ESP, and §3.4.2 the tunnelled nFA advertisement with tunnel-mode ESP; the default
algorithm of the manually keyed inter-FA SAs is HMAC-SHA1-96 (digest §9.5). Confidentiality
is not asked for, so the cipher is NULL (RFC 2410): the payload travels in clear and the ICV
authenticates the whole ESP packet.

::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |               Security Parameters Index (SPI)                 |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                      Sequence Number                          |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                    Payload Data (variable)                    |
    +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |               |     Padding (0-255 bytes)                     |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                               |  Pad Length   | Next Header   |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |         Integrity Check Value (ICV): 12 bytes of HMAC-SHA1    |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

The receiver's order (RFC 4303 §3.4): find the SA by SPI (:func:`peek_spi_and_sequence`),
check the sequence number against the :class:`ReplayWindow`, verify the ICV
(:func:`esp_unprotect`), and only then ``update`` the window — :func:`esp_receive` does all
of it. Nothing here keeps state: the window is an immutable value the caller replaces.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import ClassVar, NamedTuple, Self

from mip4.errors import LocalUsageError
from mip4.wire._util import need
from mip4.wire.errors import (
    DecodeError,
    LengthError,
    TruncatedError,
    ValueDecodeError,
)
from mip4.wire.ip import FLAG_DF, PROTO_ESP, PROTO_IPIP, IPv4Header, IPv4Packet

ICV_LENGTH = 12  # HMAC-SHA1-96: the first 96 bits of the HMAC-SHA1 output (RFC 2404 §2)
HMAC_SHA1_KEY_LENGTH = 20  # RFC 2404 §3: 160-bit authenticator key
NEXT_HEADER_IPV4 = PROTO_IPIP  # tunnel mode carries a whole IPv4 datagram (RFC 4303 §2.6)
NEXT_HEADER_NO_NEXT = 59  # a dummy packet to be discarded (RFC 4303 §2.6)
DEFAULT_REPLAY_WINDOW = 64  # RFC 4303 §3.4.3: "64 is preferred and SHOULD be the default"
MAX_SEQUENCE_NUMBER = 0xFFFFFFFF
_RESERVED_SPI_MAX = 255  # RFC 4303 §2.1: 1-255 reserved by IANA, 0 for local use only

_HEADER = struct.Struct("!II")  # SPI, Sequence Number
_TRAILER_MIN = 2 + ICV_LENGTH  # Pad Length, Next Header, ICV


class AuthenticationError(DecodeError):
    """The ICV does not verify (RFC 4303 §3.4.4: discard the packet; an auditable event)."""


class ReplayedPacketError(DecodeError):
    """The sequence number is a duplicate or left of the anti-replay window (RFC 4303 §3.4.3)."""


class EspMode(enum.Enum):
    """ESP mode of a security association (RFC 4301 §4.1)."""

    TRANSPORT = "transport"  # ESP between the IP header and its payload
    TUNNEL = "tunnel"  # ESP around a whole inner IPv4 datagram, Next Header 4


@dataclass(frozen=True, slots=True, kw_only=True)
class EspSecurityAssociation:
    """A manually keyed ESP SA with NULL encryption and HMAC-SHA1-96 (RFC 4881 §3.4).

    ``spi`` must be 256 or more (RFC 4303 §2.1), ``auth_key`` exactly 20 bytes (RFC 2404 §3).
    Not to be confused with :class:`mip4.core.security.SecurityAssociation`, the Mobile IP
    SA of RFC 5944 §3.5.
    """

    spi: int
    auth_key: bytes = dataclasses.field(repr=False)
    mode: EspMode = EspMode.TRANSPORT

    def __post_init__(self) -> None:
        if not _RESERVED_SPI_MAX < self.spi <= 0xFFFFFFFF:
            raise LocalUsageError(f"ESP SPI {self.spi} is reserved or too large (RFC 4303 §2.1)")
        if len(self.auth_key) != HMAC_SHA1_KEY_LENGTH:
            raise LocalUsageError(
                f"HMAC-SHA1-96 needs a 20-byte key, got {len(self.auth_key)} (RFC 2404 §3)"
            )

    def icv(self, data: bytes) -> bytes:
        """HMAC-SHA1-96 of ``data`` (RFC 2404 §2: HMAC-SHA1 truncated to its first 96 bits)."""
        return hmac.digest(self.auth_key, data, hashlib.sha1)[:ICV_LENGTH]


SecurityAssociation = EspSecurityAssociation
"""The name issue 2 uses; prefer :class:`EspSecurityAssociation` in new code."""


def minimum_padding(payload_length: int) -> int:
    """Padding that right-aligns Pad Length and Next Header in a 4-byte word (RFC 4303 §2.4)."""
    return -(payload_length + 2) % 4


def _padding(count: int) -> bytes:
    """RFC 4303 §2.4 default padding: 1, 2, 3, ..."""
    return bytes(range(1, count + 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class EspPacket:
    """One ESP packet as it appears on the wire (RFC 4303 §2), ICV not verified.

    :meth:`decode` is for tools that display packets; receivers use :func:`esp_unprotect`,
    which verifies the ICV first. ``pad_length`` keeps the amount of padding received (a
    sender may add more than alignment needs, RFC 4303 §2.4), so the packet re-encodes
    exactly. The padding itself must be the default 1, 2, 3, ... sequence (§2.4: the receiver
    SHOULD inspect it).
    """

    spi: int
    sequence_number: int
    payload: bytes
    pad_length: int = 0
    next_header: int
    icv: bytes = b""

    def signed_part(self) -> bytes:
        """SPI through Next Header: the bytes the ICV covers (RFC 4303 §2.8)."""
        if not 0 <= self.pad_length <= 255:
            raise LocalUsageError(f"pad length {self.pad_length} is outside 0-255")
        return (
            _HEADER.pack(self.spi, self.sequence_number)
            + self.payload
            + _padding(self.pad_length)
            + bytes((self.pad_length, self.next_header))
        )

    def encode(self) -> bytes:
        return self.signed_part() + self.icv

    @classmethod
    def decode(cls, data: bytes, *, base: int = 0) -> Self:
        """Split ``data`` into its fields; ``base`` is added to error offsets."""
        need(data, 4, field="esp.spi", offset=base)
        need(data, 8, field="esp.sequence_number", offset=base + 4)
        if len(data) < _HEADER.size + _TRAILER_MIN:
            raise TruncatedError(
                f"needs Pad Length, Next Header and a {ICV_LENGTH}-byte ICV after the header, "
                f"only {len(data) - _HEADER.size} bytes follow it",
                field="esp.trailer",
                offset=base + _HEADER.size,
            )
        spi, sequence = _HEADER.unpack_from(data)
        icv_at = len(data) - ICV_LENGTH
        pad_length, next_header = data[icv_at - 2], data[icv_at - 1]
        padding_at = icv_at - 2 - pad_length
        if padding_at < _HEADER.size:
            raise LengthError(
                f"pad length {pad_length} exceeds the {icv_at - 2 - _HEADER.size} bytes "
                "before the trailer",
                field="esp.pad_length",
                offset=base + icv_at - 2,
            )
        padding = data[padding_at : icv_at - 2]
        for i, value in enumerate(padding):
            if value != i + 1:
                raise ValueDecodeError(
                    f"padding byte {i} is {value}, not {i + 1} (RFC 4303 §2.4)",
                    field="esp.padding",
                    offset=base + padding_at + i,
                )
        return cls(
            spi=spi,
            sequence_number=sequence,
            payload=data[_HEADER.size : padding_at],
            pad_length=pad_length,
            next_header=next_header,
            icv=data[icv_at:],
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "message": "esp",
            "spi": self.spi,
            "sequence_number": self.sequence_number,
            "payload": self.payload.hex(),
            "pad_length": self.pad_length,
            "next_header": self.next_header,
            "icv": self.icv.hex(),
        }


class EspPayload(NamedTuple):
    """What :func:`esp_unprotect` returns."""

    sequence_number: int
    next_header: int
    payload: bytes


def peek_spi_and_sequence(data: bytes) -> tuple[int, int]:
    """SPI and Sequence Number of an ESP packet, before any check: to find the SA and run the
    preliminary replay check (RFC 4303 §3.4.2, §3.4.3)."""
    need(data, 4, field="esp.spi", offset=0)
    need(data, 8, field="esp.sequence_number", offset=4)
    spi, sequence = _HEADER.unpack_from(data)
    return spi, sequence


def esp_protect(
    sa: EspSecurityAssociation,
    sequence_number: int,
    payload: bytes,
    next_header: int,
    *,
    pad_length: int | None = None,
) -> bytes:
    """The ESP packet carrying ``payload`` (RFC 4303 §3.3).

    ``sequence_number`` is the sender's counter, 1 for the first packet of the SA (RFC 4303
    §3.3.3; 0 is never sent, and the counter must not cycle). ``pad_length`` None gives the
    minimum that 4-byte-aligns the trailer; a larger value must keep that alignment.
    """
    if not 1 <= sequence_number <= MAX_SEQUENCE_NUMBER:
        raise LocalUsageError(
            f"sequence number {sequence_number} is outside 1-2**32-1 (RFC 4303 §3.3.3)"
        )
    minimum = minimum_padding(len(payload))
    if pad_length is None:
        pad_length = minimum
    elif not (minimum <= pad_length <= 255 and (pad_length - minimum) % 4 == 0):
        raise LocalUsageError(f"pad length {pad_length} breaks the 4-byte alignment (§2.4)")
    packet = EspPacket(
        spi=sa.spi,
        sequence_number=sequence_number,
        payload=payload,
        pad_length=pad_length,
        next_header=next_header,
    )
    signed = packet.signed_part()
    return signed + sa.icv(signed)


def _unprotect(sa: EspSecurityAssociation, data: bytes, base: int) -> EspPacket:
    need(data, 4, field="esp.spi", offset=base)
    need(data, 8, field="esp.sequence_number", offset=base + 4)
    if len(data) < _HEADER.size + _TRAILER_MIN:
        EspPacket.decode(data, base=base)  # raises the TruncatedError naming the trailer
    spi = int.from_bytes(data[:4], "big")
    if spi != sa.spi:
        raise ValueDecodeError(
            f"SPI 0x{spi:08x} is not the SA's 0x{sa.spi:08x}", field="esp.spi", offset=base
        )
    icv_at = len(data) - ICV_LENGTH
    # RFC 4303 §3.4.4: integrity first, compared in constant time; nothing else is read from
    # a packet that does not authenticate.
    if not hmac.compare_digest(sa.icv(data[:icv_at]), data[icv_at:]):
        raise AuthenticationError(
            "ICV does not verify (HMAC-SHA1-96)", field="esp.icv", offset=base + icv_at
        )
    return EspPacket.decode(data, base=base)


def esp_unprotect(sa: EspSecurityAssociation, data: bytes) -> EspPayload:
    """Verify and open an ESP packet: (sequence number, next header, payload).

    Raises :class:`AuthenticationError` when the ICV does not verify, and the other
    :class:`DecodeError`s for a wrong SPI, truncation or bad padding. The replay check is the
    caller's (:class:`ReplayWindow`), as is discarding Next Header 59 dummy packets.
    """
    packet = _unprotect(sa, data, 0)
    return EspPayload(
        sequence_number=packet.sequence_number,
        next_header=packet.next_header,
        payload=packet.payload,
    )


# --------------------------------------------------------------------------------------------
# IPv4 framing


def _outer_packet(data: bytes) -> IPv4Packet:
    packet = IPv4Packet.decode(data)
    if packet.header.protocol != PROTO_ESP:
        raise ValueDecodeError(
            f"protocol {packet.header.protocol} is not ESP (50)", field="ipv4.protocol", offset=9
        )
    return packet


def _check_mode(sa: EspSecurityAssociation, mode: EspMode) -> None:
    if sa.mode is not mode:
        raise LocalUsageError(f"SA {sa.spi:#x} is a {sa.mode.value}-mode SA, not {mode.value}")


def protect_ipv4_tunnel(
    sa: EspSecurityAssociation,
    sequence_number: int,
    source: IPv4Address,
    destination: IPv4Address,
    inner: bytes,
    *,
    ttl: int = 64,
    identification: int = 0,
) -> bytes:
    """Tunnel-mode ESP (RFC 4303 §3.1.2): a new IPv4 header (protocol 50) from ``source`` to
    ``destination`` around ESP carrying the whole ``inner`` datagram, Next Header 4. As in
    RFC 4301 §5.1.2.1 the outer TOS and DF are copied from the inner header. Used for the
    nFA's tunnelled advertisement of RFC 4881 §3.4.2."""
    _check_mode(sa, EspMode.TUNNEL)
    packet = IPv4Packet.decode(inner)
    esp = esp_protect(sa, sequence_number, packet.encode(), NEXT_HEADER_IPV4)
    total = 20 + len(esp)
    if total > 0xFFFF:
        raise LocalUsageError(f"protected datagram would be {total} bytes")
    header = IPv4Header(
        tos=packet.header.tos,
        total_length=total,
        identification=identification,
        flags_fragment=FLAG_DF if packet.header.dont_fragment else 0,
        ttl=ttl,
        protocol=PROTO_ESP,
        source=source,
        destination=destination,
    )
    return header.encode() + esp


def unprotect_ipv4_tunnel(sa: EspSecurityAssociation, data: bytes) -> tuple[IPv4Header, int, bytes]:
    """Undo :func:`protect_ipv4_tunnel`: (outer header, sequence number, inner datagram).

    Next Header must be 4 and the payload exactly one IPv4 datagram.
    """
    _check_mode(sa, EspMode.TUNNEL)
    outer = _outer_packet(data)
    start = outer.header.header_length
    esp = _unprotect(sa, outer.payload, start)
    if esp.next_header != NEXT_HEADER_IPV4:
        raise ValueDecodeError(
            f"next header {esp.next_header} is not IPv4 (4) in a tunnel-mode SA",
            field="esp.next_header",
            offset=start + len(outer.payload) - ICV_LENGTH - 1,
        )
    inner_at = start + _HEADER.size
    try:
        inner = IPv4Packet.decode(esp.payload)
    except DecodeError as exc:
        raise type(exc)(
            exc.reason, field=f"inner.{exc.field}", offset=inner_at + exc.offset
        ) from None
    if inner.header.total_length != len(esp.payload):
        raise LengthError(
            f"inner total length {inner.header.total_length} does not fill the "
            f"{len(esp.payload)}-byte ESP payload",
            field="inner.ipv4.total_length",
            offset=inner_at + 2,
        )
    return outer.header, esp.sequence_number, esp.payload


def protect_ipv4_transport(
    sa: EspSecurityAssociation, sequence_number: int, datagram: bytes
) -> bytes:
    """Transport-mode ESP (RFC 4303 §3.1.1): ESP goes between the IPv4 header (kept, with
    protocol 50, the new Total Length and checksum) and the payload, whose protocol becomes
    the Next Header (e.g. 1 for the inter-FA ICMP of RFC 4881 §3.4.1)."""
    _check_mode(sa, EspMode.TRANSPORT)
    packet = IPv4Packet.decode(datagram)
    esp = esp_protect(sa, sequence_number, packet.payload, packet.header.protocol)
    total = packet.header.header_length + len(esp)
    if total > 0xFFFF:
        raise LocalUsageError(f"protected datagram would be {total} bytes")
    header = dataclasses.replace(
        packet.header, protocol=PROTO_ESP, total_length=total, checksum=None
    )
    return header.encode() + esp


def unprotect_ipv4_transport(sa: EspSecurityAssociation, data: bytes) -> tuple[int, bytes]:
    """Undo :func:`protect_ipv4_transport`: (sequence number, the original datagram with its
    protocol, Total Length and checksum restored)."""
    _check_mode(sa, EspMode.TRANSPORT)
    outer = _outer_packet(data)
    esp = _unprotect(sa, outer.payload, outer.header.header_length)
    header = dataclasses.replace(
        outer.header,
        protocol=esp.next_header,
        total_length=outer.header.header_length + len(esp.payload),
        checksum=None,
    )
    return esp.sequence_number, header.encode() + esp.payload


# --------------------------------------------------------------------------------------------
# Anti-replay


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayWindow:
    """The receiver's anti-replay window, RFC 4303 §3.4.3, as an immutable value.

    ``highest`` is the right edge (the highest authenticated sequence number, 0 before the
    first), ``bitmap`` bit *i* marks ``highest - i`` as received. :meth:`check` is the
    preliminary test before the ICV; :meth:`update` — only after the ICV verified — returns
    the next window. Sequence number 0 is never valid (RFC 4303 §3.3.3).
    """

    DEFAULT_SIZE: ClassVar[int] = DEFAULT_REPLAY_WINDOW

    size: int = DEFAULT_REPLAY_WINDOW
    highest: int = 0
    bitmap: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.size < 2**31:
            raise LocalUsageError(f"replay window size {self.size} is outside 1-2**31-1")

    def check(self, sequence_number: int) -> bool:
        """True if ``sequence_number`` is new: right of the window, or inside it and unseen."""
        if not 1 <= sequence_number <= MAX_SEQUENCE_NUMBER:
            return False
        if sequence_number > self.highest:
            return True
        offset = self.highest - sequence_number
        if offset >= self.size:  # left of the window: too old
            return False
        return not (self.bitmap >> offset) & 1

    def update(self, sequence_number: int) -> ReplayWindow:
        """The window after accepting ``sequence_number`` (which must pass :meth:`check`)."""
        if not self.check(sequence_number):
            raise LocalUsageError(f"sequence number {sequence_number} is a replay: check first")
        mask = (1 << self.size) - 1
        if sequence_number > self.highest:
            shift = sequence_number - self.highest
            bitmap = ((self.bitmap << shift) | 1) & mask if shift < self.size else 1
            return dataclasses.replace(self, highest=sequence_number, bitmap=bitmap)
        bitmap = self.bitmap | (1 << (self.highest - sequence_number))
        return dataclasses.replace(self, bitmap=bitmap)


def esp_receive(
    sa: EspSecurityAssociation, window: ReplayWindow, data: bytes
) -> tuple[EspPayload, ReplayWindow]:
    """The whole inbound check of RFC 4303 §3.4 for one ESP packet: SPI, the preliminary
    replay check, the ICV, then the window update. Returns the payload and the window to keep;
    on any error the caller keeps its old window, so a rejected packet changes nothing.

    Raises :class:`ReplayedPacketError` (``esp.sequence_number``) for a replay, and whatever
    :func:`esp_unprotect` raises.
    """
    spi, sequence = peek_spi_and_sequence(data)
    if spi != sa.spi:
        raise ValueDecodeError(
            f"SPI 0x{spi:08x} is not the SA's 0x{sa.spi:08x}", field="esp.spi", offset=0
        )
    if not window.check(sequence):  # RFC 4303 §3.4.3: the first check after the SA lookup
        raise ReplayedPacketError(
            f"sequence number {sequence} is a replay or too old (window right edge "
            f"{window.highest}, size {window.size})",
            field="esp.sequence_number",
            offset=4,
        )
    payload = esp_unprotect(sa, data)
    return payload, window.update(sequence)  # only after the ICV verified


__all__ = [
    "DEFAULT_REPLAY_WINDOW",
    "HMAC_SHA1_KEY_LENGTH",
    "ICV_LENGTH",
    "NEXT_HEADER_IPV4",
    "NEXT_HEADER_NO_NEXT",
    "AuthenticationError",
    "EspMode",
    "EspPacket",
    "EspPayload",
    "EspSecurityAssociation",
    "ReplayWindow",
    "ReplayedPacketError",
    "SecurityAssociation",
    "esp_protect",
    "esp_receive",
    "esp_unprotect",
    "minimum_padding",
    "peek_spi_and_sequence",
    "protect_ipv4_transport",
    "protect_ipv4_tunnel",
    "unprotect_ipv4_transport",
    "unprotect_ipv4_tunnel",
]
