"""IPv4 (RFC 791) and UDP (RFC 768) headers and checksums (RFC 1071)."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip4.wire.errors import ChecksumError, LengthError, TruncatedError, ValueDecodeError
from mip4.wire.ip import (
    FLAG_DF,
    FLAG_MF,
    PROTO_UDP,
    IPv4Header,
    IPv4Packet,
    UdpDatagram,
    build_ipv4,
    build_udp_ipv4,
    internet_checksum,
)
from tests.vectors import Vector, load, subset_matches

# A header worked by hand (RFC 791 §3.1 layout; the sum folded as RFC 1071 §4.1 shows):
# 4500 0073 0000 4000 4011 ---- c0a8 0001 c0a8 00c7
# sum of words = 0x4500+0x0073+0x0000+0x4000+0x4011+0xc0a8+0x0001+0xc0a8+0x00c7 = 0x2479c
# folded 0x479e, one's complement 0xb861.
HEADER = bytes.fromhex("45000073000040004011b861c0a80001c0a800c7")


def test_header_vector_decodes_to_its_fields() -> None:
    header = IPv4Header.decode(HEADER)
    assert header.total_length == 0x73
    assert header.flags_fragment == FLAG_DF and header.dont_fragment
    assert header.ttl == 64 and header.protocol == PROTO_UDP
    assert header.checksum == 0xB861
    assert header.source == IPv4Address("192.168.0.1")
    assert header.destination == IPv4Address("192.168.0.199")


def test_header_vector_encodes_to_its_bytes_with_the_checksum_computed() -> None:
    header = IPv4Header(
        total_length=0x73,
        flags_fragment=FLAG_DF,
        ttl=64,
        protocol=PROTO_UDP,
        source=IPv4Address("192.168.0.1"),
        destination=IPv4Address("192.168.0.199"),
    )
    assert header.encode() == HEADER


def test_checksum_of_a_valid_header_is_zero_and_odd_lengths_are_padded() -> None:
    assert internet_checksum(HEADER) == 0
    assert internet_checksum(b"\x01") == internet_checksum(b"\x01\x00") == 0xFEFF


@pytest.mark.parametrize(
    ("data", "error", "field", "offset"),
    [
        (HEADER[:19], TruncatedError, "ipv4.header", 0),
        (b"\x65" + HEADER[1:], ValueDecodeError, "ipv4.version", 0),
        (b"\x44" + HEADER[1:], LengthError, "ipv4.ihl", 0),
        (HEADER[:2] + b"\x00\x10" + HEADER[4:], LengthError, "ipv4.total_length", 2),
        (HEADER[:10] + b"\xb8\x62" + HEADER[12:], ChecksumError, "ipv4.checksum", 10),
    ],
)
def test_bad_headers_name_the_field_and_offset(
    data: bytes, error: type[Exception], field: str, offset: int
) -> None:
    with pytest.raises(error) as info:
        IPv4Header.decode(data)
    assert (info.value.field, info.value.offset) == (field, offset)  # type: ignore[attr-defined]


def test_packet_longer_than_the_bytes_present_is_refused() -> None:
    with pytest.raises(LengthError) as info:
        IPv4Packet.decode(HEADER + b"\x00" * 10)
    assert info.value.field == "ipv4.total_length"


def test_udp_checksum_matches_scapy_and_verifies() -> None:
    from scapy.layers.inet import IP, UDP

    src, dst = IPv4Address("198.18.0.1"), IPv4Address("198.18.0.2")
    ours = build_udp_ipv4(src, dst, 1234, 434, b"mobile ip", ttl=255)
    theirs = bytes(
        IP(src=str(src), dst=str(dst), ttl=255, id=0) / UDP(sport=1234, dport=434) / b"mobile ip"
    )
    assert ours[20:] == theirs[20:]  # the UDP header and payload, checksum included
    packet = IPv4Packet.decode(ours)
    udp = UdpDatagram.decode(packet.payload, src, dst)
    assert (udp.source_port, udp.destination_port, udp.payload) == (1234, 434, b"mobile ip")


def test_udp_zero_checksum_is_accepted_and_a_wrong_one_refused() -> None:
    src, dst = IPv4Address("198.18.0.1"), IPv4Address("198.18.0.2")
    raw = UdpDatagram(source_port=1, destination_port=434, payload=b"x", checksum=0).encode(
        src, dst
    )
    assert UdpDatagram.decode(raw, src, dst).checksum == 0  # RFC 768: zero means not computed
    bad = raw[:6] + b"\x12\x34" + raw[8:]
    with pytest.raises(ChecksumError) as info:
        UdpDatagram.decode(bad, src, dst)
    assert (info.value.field, info.value.offset) == ("udp.checksum", 6)


@given(
    payload=st.binary(max_size=200),
    ttl=st.integers(1, 255),
    src=st.integers(0, 2**32 - 1),
    dst=st.integers(0, 2**32 - 1),
)
def test_built_datagrams_round_trip(payload: bytes, ttl: int, src: int, dst: int) -> None:
    source, destination = IPv4Address(src), IPv4Address(dst)
    raw = build_ipv4(source, destination, 253, payload, ttl=ttl)
    packet = IPv4Packet.decode(raw)
    assert packet.payload == payload and packet.header.ttl == ttl
    assert packet.encode() == raw


# --- golden vectors (tests/vectors/ip.toml), both ways ---------------------------------------

IP_VECTORS = load("ip")
IPV4_VECTORS = [v for v in IP_VECTORS if v.codec == "ipv4"]
UDP_VECTORS = [v for v in IP_VECTORS if v.codec == "udp"]


def ipv4_fields(header: IPv4Header, raw: bytes) -> dict[str, object]:
    """Every RFC 791 §3.1 field of a decoded header (version and IHL read from the byte)."""
    return {
        **header.to_dict(),
        "version": raw[0] >> 4,
        "ihl": header.header_length // 4,
        "more_fragments": bool(header.flags_fragment & FLAG_MF),
        "fragment_offset": header.flags_fragment & 0x1FFF,
        "checksum": header.checksum,
        "options": header.options.hex(),
    }


def build_ipv4_header(f: dict[str, Any]) -> IPv4Header:
    """A header from the vector's fields alone; the encoder computes the checksum."""
    flags = (FLAG_DF if f["dont_fragment"] else 0) | (FLAG_MF if f["more_fragments"] else 0)
    return IPv4Header(
        tos=f.get("tos", 0),
        total_length=f["total_length"],
        identification=f["identification"],
        flags_fragment=flags | f["fragment_offset"],
        ttl=f["ttl"],
        protocol=f["protocol"],
        source=IPv4Address(f["source"]),
        destination=IPv4Address(f["destination"]),
        options=bytes.fromhex(f["options"]),
    )


@pytest.mark.parametrize("vector", IPV4_VECTORS, ids=str)
def test_ipv4_vector_decode_gives_fields(vector: Vector) -> None:
    header = IPv4Header.decode(vector.data)
    assert subset_matches(vector.fields, ipv4_fields(header, vector.data)) == []


@pytest.mark.parametrize("vector", IPV4_VECTORS, ids=str)
def test_ipv4_vector_encode_gives_bytes(vector: Vector) -> None:
    built = build_ipv4_header(vector.fields)
    payload = bytes.fromhex(vector.extra.get("payload", ""))
    assert (built.encode() + payload).hex(" ") == vector.data.hex(" ")
    # The decoder keeps the received checksum; with it the decoded header is the built one.
    decoded = IPv4Header.decode(vector.data)
    assert dataclasses.replace(built, checksum=vector.fields["checksum"]) == decoded
    assert decoded.encode() == vector.data[: decoded.header_length]


@pytest.mark.parametrize("vector", [v for v in IPV4_VECTORS if "payload" in v.extra], ids=str)
def test_ipv4_datagram_vector_as_packet(vector: Vector) -> None:
    packet = IPv4Packet.decode(vector.data)
    assert packet.payload == bytes.fromhex(vector.extra["payload"])
    assert packet.encode() == vector.data
    f = vector.fields
    rebuilt = build_ipv4(
        IPv4Address(f["source"]),
        IPv4Address(f["destination"]),
        f["protocol"],
        packet.payload,
        ttl=f["ttl"],
        identification=f["identification"],
        dont_fragment=f["dont_fragment"],
    )
    assert rebuilt == vector.data


def udp_fields(udp: UdpDatagram, raw: bytes) -> dict[str, object]:
    return {
        "source_port": udp.source_port,
        "destination_port": udp.destination_port,
        "length": int.from_bytes(raw[4:6], "big"),
        "checksum": udp.checksum,
        "payload": udp.payload.hex(),
    }


def _addresses(vector: Vector) -> tuple[IPv4Address, IPv4Address]:
    return IPv4Address(vector.extra["source"]), IPv4Address(vector.extra["destination"])


@pytest.mark.parametrize("vector", UDP_VECTORS, ids=str)
def test_udp_vector_decode_gives_fields(vector: Vector) -> None:
    source, destination = _addresses(vector)
    udp = UdpDatagram.decode(vector.data, source, destination)
    assert subset_matches(vector.fields, udp_fields(udp, vector.data)) == []
    assert len(vector.data) == vector.fields["length"]


@pytest.mark.parametrize("vector", UDP_VECTORS, ids=str)
def test_udp_vector_encode_gives_bytes(vector: Vector) -> None:
    source, destination = _addresses(vector)
    f = vector.fields
    built = UdpDatagram(
        source_port=f["source_port"],
        destination_port=f["destination_port"],
        payload=bytes.fromhex(f["payload"]),
        # A sender that computes no checksum sends zero (RFC 768); otherwise the encoder
        # computes it from the pseudo-header.
        checksum=0 if vector.extra.get("no_checksum") else None,
    )
    assert built.encode(source, destination).hex(" ") == vector.data.hex(" ")
    decoded = UdpDatagram.decode(vector.data, source, destination)
    assert decoded.encode(source, destination) == vector.data


def test_udp_checksum_vector_is_bound_to_its_pseudo_header() -> None:
    """The same UDP bytes between other addresses do not verify: the pseudo-header counts."""
    (vector,) = [v for v in UDP_VECTORS if v.name == "udp-checksum"]
    source, destination = _addresses(vector)
    with pytest.raises(ChecksumError):
        UdpDatagram.decode(vector.data, source, IPv4Address("192.0.2.2"))
    with pytest.raises(ChecksumError):
        UdpDatagram.decode(vector.data, IPv4Address("10.0.0.11"), destination)
