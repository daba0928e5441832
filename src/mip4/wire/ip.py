"""IPv4 (RFC 791) and UDP (RFC 768) headers with their checksums.

Used by the drivers and the pcap taps to carry the control messages as real datagrams, and by
the tunnel codecs (:mod:`mip4.wire.tunnel`). Options are kept as raw bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import ClassVar, Self

from mip4.wire._util import ipv4, need
from mip4.wire.errors import ChecksumError, LengthError, ValueDecodeError

PROTO_ICMP = 1
PROTO_IPIP = 4  # RFC 2003
PROTO_UDP = 17
PROTO_GRE = 47  # RFC 2784
PROTO_ESP = 50  # RFC 4303
PROTO_MINIMAL = 55  # RFC 2004

FLAG_DF = 0x4000
FLAG_MF = 0x2000

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")


def internet_checksum(data: bytes) -> int:
    """The 16-bit one's-complement checksum of RFC 1071 (odd lengths padded with a zero)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass(frozen=True, slots=True, kw_only=True)
class IPv4Header:
    """IPv4 header, RFC 791 §3.1. ``checksum`` None means "compute on encode".

    ``flags_fragment`` is the 16-bit word holding DF/MF and the fragment offset.
    """

    MIN_SIZE: ClassVar[int] = 20

    tos: int = 0
    total_length: int
    identification: int = 0
    flags_fragment: int = 0
    ttl: int = 64
    protocol: int
    checksum: int | None = None
    source: IPv4Address
    destination: IPv4Address
    options: bytes = b""

    @property
    def header_length(self) -> int:
        return 20 + len(self.options)

    @property
    def dont_fragment(self) -> bool:
        return bool(self.flags_fragment & FLAG_DF)

    def encode(self) -> bytes:
        if len(self.options) % 4:
            raise ValueError("IPv4 options must be padded to a multiple of 4 bytes")
        ihl = self.header_length // 4
        head = _IPV4.pack(
            0x40 | ihl,
            self.tos,
            self.total_length,
            self.identification,
            self.flags_fragment,
            self.ttl,
            self.protocol,
            0,
            self.source.packed,
            self.destination.packed,
        )
        head += self.options
        checksum = internet_checksum(head) if self.checksum is None else self.checksum
        return head[:10] + checksum.to_bytes(2, "big") + head[12:]

    @classmethod
    def decode(cls, data: bytes, *, verify_checksum: bool = True) -> Self:
        """Decode the header at the start of ``data`` (which may hold the payload too)."""
        need(data, 20, field="ipv4.header", offset=0)
        vihl, tos, total, ident, frag, ttl, proto, checksum, src, dst = _IPV4.unpack_from(data)
        if vihl >> 4 != 4:
            raise ValueDecodeError(f"version {vihl >> 4} is not 4", field="ipv4.version", offset=0)
        hlen = (vihl & 0x0F) * 4
        if hlen < 20:
            raise LengthError(f"IHL {hlen // 4} is below 5", field="ipv4.ihl", offset=0)
        need(data, hlen, field="ipv4.options", offset=20)
        if total < hlen:
            raise LengthError(
                f"total length {total} is shorter than the header ({hlen})",
                field="ipv4.total_length",
                offset=2,
            )
        if verify_checksum and internet_checksum(data[:hlen]) != 0:
            raise ChecksumError(
                f"header checksum 0x{checksum:04x} does not verify",
                field="ipv4.checksum",
                offset=10,
            )
        return cls(
            tos=tos,
            total_length=total,
            identification=ident,
            flags_fragment=frag,
            ttl=ttl,
            protocol=proto,
            checksum=checksum,
            source=ipv4(src),
            destination=ipv4(dst),
            options=data[20:hlen],
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "tos": self.tos,
            "total_length": self.total_length,
            "identification": self.identification,
            "dont_fragment": self.dont_fragment,
            "ttl": self.ttl,
            "protocol": self.protocol,
            "source": str(self.source),
            "destination": str(self.destination),
        }


@dataclass(frozen=True, slots=True)
class IPv4Packet:
    """An IPv4 datagram: header plus payload, split and joined byte-exactly."""

    header: IPv4Header
    payload: bytes

    def encode(self) -> bytes:
        return self.header.encode() + self.payload

    @classmethod
    def decode(cls, data: bytes, *, verify_checksum: bool = True) -> Self:
        """Decode a whole datagram; bytes beyond Total Length (link padding) are ignored."""
        header = IPv4Header.decode(data, verify_checksum=verify_checksum)
        if header.total_length > len(data):
            raise LengthError(
                f"total length {header.total_length} exceeds the {len(data)} bytes present",
                field="ipv4.total_length",
                offset=2,
            )
        return cls(header=header, payload=data[header.header_length : header.total_length])


def build_ipv4(
    source: IPv4Address,
    destination: IPv4Address,
    protocol: int,
    payload: bytes,
    *,
    ttl: int = 64,
    tos: int = 0,
    identification: int = 0,
    dont_fragment: bool = False,
) -> bytes:
    """A whole IPv4 datagram with a correct Total Length and header checksum."""
    header = IPv4Header(
        tos=tos,
        total_length=20 + len(payload),
        identification=identification,
        flags_fragment=FLAG_DF if dont_fragment else 0,
        ttl=ttl,
        protocol=protocol,
        source=source,
        destination=destination,
    )
    return header.encode() + payload


def _pseudo_header(source: IPv4Address, destination: IPv4Address, length: int) -> bytes:
    return source.packed + destination.packed + struct.pack("!BBH", 0, PROTO_UDP, length)


@dataclass(frozen=True, slots=True, kw_only=True)
class UdpDatagram:
    """UDP header and payload, RFC 768. A zero checksum means "not computed" (RFC 768)."""

    source_port: int
    destination_port: int
    payload: bytes
    checksum: int | None = None  # None: compute on encode

    def encode(self, source: IPv4Address, destination: IPv4Address) -> bytes:
        """Encode with the checksum over the pseudo-header of ``source`` / ``destination``."""
        length = 8 + len(self.payload)
        raw = _UDP.pack(self.source_port, self.destination_port, length, 0) + self.payload
        checksum = self.checksum
        if checksum is None:
            checksum = (
                internet_checksum(_pseudo_header(source, destination, length) + raw) or 0xFFFF
            )
        return raw[:6] + checksum.to_bytes(2, "big") + raw[8:]

    @classmethod
    def decode(
        cls,
        data: bytes,
        source: IPv4Address,
        destination: IPv4Address,
        *,
        verify_checksum: bool = True,
    ) -> Self:
        """Decode a UDP datagram (``data`` is the IP payload); verifies a non-zero checksum."""
        need(data, 8, field="udp.header", offset=0)
        sport, dport, length, checksum = _UDP.unpack_from(data)
        if length < 8 or length > len(data):
            raise LengthError(
                f"UDP length {length} does not fit the {len(data)} bytes present",
                field="udp.length",
                offset=4,
            )
        # RFC 768, RFC 5944 §3.6.1.1: zero means "not computed"; a non-zero one must verify.
        if (
            verify_checksum
            and checksum
            and internet_checksum(_pseudo_header(source, destination, length) + data[:length])
        ):
            raise ChecksumError(
                f"UDP checksum 0x{checksum:04x} does not verify", field="udp.checksum", offset=6
            )
        return cls(
            source_port=sport, destination_port=dport, payload=data[8:length], checksum=checksum
        )


def build_udp_ipv4(
    source: IPv4Address,
    destination: IPv4Address,
    source_port: int,
    destination_port: int,
    payload: bytes,
    *,
    ttl: int = 64,
) -> bytes:
    """A whole IPv4/UDP datagram with both checksums computed."""
    udp = UdpDatagram(source_port=source_port, destination_port=destination_port, payload=payload)
    return build_ipv4(source, destination, PROTO_UDP, udp.encode(source, destination), ttl=ttl)


__all__ = [
    "FLAG_DF",
    "PROTO_ESP",
    "PROTO_GRE",
    "PROTO_ICMP",
    "PROTO_IPIP",
    "PROTO_MINIMAL",
    "PROTO_UDP",
    "IPv4Header",
    "IPv4Packet",
    "UdpDatagram",
    "build_ipv4",
    "build_udp_ipv4",
    "internet_checksum",
]
