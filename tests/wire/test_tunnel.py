"""Tunnel encapsulations: IP in IP (RFC 2003), minimal (RFC 2004), GRE (RFC 2784, RFC 2890)."""

from __future__ import annotations

import struct
import subprocess
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip4.wire.errors import (
    ChecksumError,
    DecodeError,
    LengthError,
    ReservedValueError,
    TruncatedError,
    ValueDecodeError,
)
from mip4.wire.ip import FLAG_DF, FLAG_MF, IPv4Header, build_ipv4, internet_checksum
from mip4.wire.tunnel import (
    Decapsulated,
    Encapsulation,
    EncapsulationRefused,
    GreHeader,
    MinimalForwardingHeader,
    decapsulate,
    decapsulate_gre,
    decapsulate_ip_in_ip,
    decapsulate_minimal,
    encapsulate,
    encapsulate_ip_in_ip,
    encapsulate_minimal,
    gre_sequence_in_order,
    is_fragment,
)
from tests.conftest import require_tool
from tests.vectors import Vector, load, parse_hex, subset_matches

VECTORS = load("tunnel")
BY_NAME = {v.name: v for v in VECTORS}
KINDS = {
    "ip_in_ip": Encapsulation.IP_IN_IP,
    "minimal": Encapsulation.MINIMAL,
    "gre": Encapsulation.GRE,
}
A = IPv4Address
HA = A("10.0.0.1")
COA = A("192.0.2.1")
I1 = parse_hex(BY_NAME["ip-in-ip-udp"].extra["inner"])


def fix_ip_checksum(data: bytes | bytearray) -> bytes:
    """``data`` with a correct IPv4 header checksum for its (IHL-sized) header."""
    out = bytearray(data)
    hlen = (out[0] & 0x0F) * 4
    out[10:12] = b"\x00\x00"
    out[10:12] = internet_checksum(bytes(out[:hlen])).to_bytes(2, "big")
    return bytes(out)


def _options(vector: Vector) -> dict[str, Any]:
    keys = ("ttl", "identification", "gre_key", "gre_sequence_number", "gre_checksum")
    return {k: vector.extra[k] for k in keys if k in vector.extra}


def _view(data: bytes) -> dict[str, Any]:
    result = decapsulate(data)
    tunnel_header: dict[str, object] = {}
    if result.kind is Encapsulation.MINIMAL:
        tunnel_header = decapsulate_minimal(data)[1].to_dict()
    elif result.kind is Encapsulation.GRE:
        tunnel_header = decapsulate_gre(data)[1].to_dict()
    return {
        "kind": result.kind.name.lower(),
        "outer_header": result.outer_header.to_dict(),
        "tunnel_header": tunnel_header,
    }


# ------------------------------------------------------------------------------------------
# golden vectors, both ways


@pytest.mark.parametrize("vector", VECTORS, ids=str)
def test_vector_encapsulate(vector: Vector) -> None:
    inner = parse_hex(vector.extra["inner"])
    wire = encapsulate(
        KINDS[vector.codec],
        inner,
        A(vector.extra["source"]),
        A(vector.extra["destination"]),
        **_options(vector),
    )
    assert wire == vector.data


@pytest.mark.parametrize("vector", VECTORS, ids=str)
def test_vector_decapsulate(vector: Vector) -> None:
    result = decapsulate(vector.data)
    assert isinstance(result, Decapsulated)
    kind, outer, inner = result  # a 3-tuple, as the data planes unpack it
    assert kind is KINDS[vector.codec]
    assert inner == parse_hex(vector.extra["inner"])
    assert outer.source == A(vector.extra["source"])
    assert outer.destination == A(vector.extra["destination"])
    assert subset_matches(vector.fields, _view(vector.data)) == []


@pytest.mark.parametrize("vector", [v for v in VECTORS if v.codec != "ip_in_ip"], ids=str)
def test_vector_tunnel_header_reencodes(vector: Vector) -> None:
    if vector.codec == "minimal":
        outer, forwarding, _ = decapsulate_minimal(vector.data)
        start = outer.header_length
        assert forwarding.encode() == vector.data[start : start + forwarding.size]
    else:
        outer, gre, inner = decapsulate_gre(vector.data)
        start = outer.header_length
        assert gre.encode(inner) == vector.data[start : start + gre.size]


def test_minimal_s0_carries_digest_vector_f() -> None:
    wire = BY_NAME["minimal-s0"].data
    assert wire[20:28] == bytes.fromhex("1100e4f50a00000a")
    header = MinimalForwardingHeader(protocol=17, original_destination=A("10.0.0.10"))
    assert header.encode() == bytes.fromhex("1100e4f50a00000a")


def test_ip_in_ip_outer_rules() -> None:
    """RFC 2003 §3.1: TOS copied, DF copied only when the inner DF is set, options not copied."""
    inner_no_df = build_ipv4(A("198.51.100.10"), A("10.0.0.10"), 17, b"x" * 8, tos=0x20)
    outer, _ = decapsulate_ip_in_ip(encapsulate_ip_in_ip(inner_no_df, HA, COA, ttl=9))
    assert outer.tos == 0x20 and not outer.dont_fragment and outer.ttl == 9
    assert outer.protocol == 4 and outer.options == b""
    with_options = IPv4Header(
        total_length=32,
        protocol=17,
        source=A("198.51.100.10"),
        destination=A("10.0.0.10"),
        options=b"\x01\x01\x01\x00",
        flags_fragment=FLAG_DF,
    ).encode() + bytes(8)
    outer, inner = decapsulate_ip_in_ip(encapsulate_ip_in_ip(with_options, HA, COA))
    assert outer.header_length == 20 and outer.dont_fragment
    assert inner == with_options


def test_encapsulation_strips_link_padding() -> None:
    padded = I1 + b"\x00" * 6  # e.g. Ethernet minimum-frame padding past Total Length
    assert decapsulate(encapsulate(Encapsulation.GRE, padded, HA, COA)).inner == I1


# ------------------------------------------------------------------------------------------
# minimal encapsulation specifics


def test_minimal_keeps_ttl_identification_and_options() -> None:
    inner = IPv4Header(
        tos=4,
        total_length=28,
        identification=0x4242,
        ttl=17,
        protocol=1,
        source=A("198.51.100.10"),
        destination=A("10.0.0.10"),
        options=b"\x94\x04\x00\x00",  # router alert
    ).encode() + bytes(4)
    wire = encapsulate_minimal(inner, HA, COA)
    outer = IPv4Header.decode(wire)
    assert (outer.ttl, outer.identification, outer.options) == (17, 0x4242, b"\x94\x04\x00\x00")
    assert outer.total_length == 28 + 12
    assert decapsulate_minimal(wire)[2] == inner


@pytest.mark.parametrize("flags_fragment", [FLAG_MF, 1, FLAG_DF | 0x100, FLAG_MF | 7])
def test_minimal_refuses_fragments(flags_fragment: int) -> None:
    header = IPv4Header(
        total_length=28,
        flags_fragment=flags_fragment,
        protocol=17,
        source=A("198.51.100.10"),
        destination=A("10.0.0.10"),
    )
    fragment = header.encode() + bytes(8)
    assert is_fragment(header)
    with pytest.raises(EncapsulationRefused):
        encapsulate_minimal(fragment, HA, COA)
    # IP in IP carries it (RFC 2003 allows fragments; RFC 2004 sends you there).
    assert decapsulate(encapsulate(Encapsulation.IP_IN_IP, fragment, HA, COA)).inner == fragment


def test_minimal_bad_forwarding_checksum() -> None:
    wire = bytearray(BY_NAME["minimal-s1"].data)
    wire[22] ^= 0xFF
    with pytest.raises(ChecksumError) as info:
        decapsulate(bytes(wire))
    assert (info.value.field, info.value.offset) == ("minimal.checksum", 22)


def test_minimal_reserved_bits_ignored_and_kept() -> None:
    """RFC 2004 §3: reserved bits are "sent as zero; ignored on reception"."""
    header = MinimalForwardingHeader(
        protocol=17, original_destination=A("10.0.0.10"), reserved=0x55
    )
    raw = header.encode()
    decoded = MinimalForwardingHeader.decode(raw)
    assert decoded.reserved == 0x55 and decoded.original_source is None
    assert decoded.encode() == raw
    wire = BY_NAME["minimal-s0"].data
    tampered = wire[:20] + raw + wire[28:]
    assert decapsulate(tampered).inner == parse_hex(BY_NAME["minimal-s0"].extra["inner"])


def test_minimal_truncated_forwarding_header() -> None:
    wire = BY_NAME["minimal-s1"].data
    expected = {
        20: ("minimal.protocol", 20),
        21: ("minimal.flags", 21),
        22: ("minimal.checksum", 22),
        24: ("minimal.original_destination", 24),
        27: ("minimal.original_destination", 24),
        28: ("minimal.original_source", 28),
        31: ("minimal.original_source", 28),
    }
    for n, (field, offset) in expected.items():
        cut = bytearray(wire[:n])
        cut[2:4] = n.to_bytes(2, "big")
        with pytest.raises(TruncatedError) as info:
            decapsulate(fix_ip_checksum(cut))
        assert (info.value.field, info.value.offset) == (field, offset), n


# ------------------------------------------------------------------------------------------
# GRE specifics


def _gre_tamper(vector: str, word: int | None = None, protocol_type: int | None = None) -> bytes:
    wire = bytearray(BY_NAME[vector].data)
    if word is not None:
        wire[20:22] = word.to_bytes(2, "big")
    if protocol_type is not None:
        wire[22:24] = protocol_type.to_bytes(2, "big")
    return fix_ip_checksum(wire)


@pytest.mark.parametrize("version", [1, 2, 7])
def test_gre_version_must_be_0(version: int) -> None:
    with pytest.raises(ValueDecodeError) as info:
        decapsulate(_gre_tamper("gre-plain", word=version))
    assert (info.value.field, info.value.offset) == ("gre.version", 21)


@pytest.mark.parametrize("bit", [0x4000, 0x0800, 0x0400])
def test_gre_bits_1_4_5_discarded(bit: int) -> None:
    with pytest.raises(ReservedValueError) as info:
        decapsulate(_gre_tamper("gre-plain", word=bit))
    assert (info.value.field, info.value.offset) == ("gre.reserved0", 20)


def test_gre_bits_6_to_12_ignored_and_kept() -> None:
    wire = _gre_tamper("gre-plain", word=0x03F8)
    _, gre, inner = decapsulate_gre(wire)
    assert gre.reserved0 == 0x03F8
    assert inner == I1
    assert gre.encode(inner) == wire[20:24]


def test_gre_reserved1_kept() -> None:
    header = GreHeader(checksum_present=True, reserved1=0x1234)
    raw = header.encode(I1) + I1
    decoded, payload = GreHeader.decode(raw)
    assert decoded.reserved1 == 0x1234 and payload == I1
    assert decoded.encode(payload) + payload == raw


def test_gre_protocol_type_not_ipv4() -> None:
    with pytest.raises(ValueDecodeError) as info:
        decapsulate(_gre_tamper("gre-plain", protocol_type=0x86DD))
    assert (info.value.field, info.value.offset) == ("gre.protocol_type", 22)


def test_gre_bad_checksum() -> None:
    wire = bytearray(BY_NAME["gre-checksum"].data)
    wire[-1] ^= 0x01  # payload byte: covered by the GRE checksum (RFC 2784 §2.5)
    with pytest.raises(DecodeError) as info:
        decapsulate(bytes(wire))
    assert isinstance(info.value, ChecksumError)
    assert (info.value.field, info.value.offset) == ("gre.checksum", 24)


def test_gre_truncated_optional_fields() -> None:
    wire = BY_NAME["gre-checksum-key-sequence"].data
    expected = {
        20: ("gre.flags", 20),
        21: ("gre.flags", 20),
        22: ("gre.protocol_type", 22),
        24: ("gre.checksum", 24),
        26: ("gre.reserved1", 26),
        28: ("gre.key", 28),
        32: ("gre.sequence_number", 32),
        35: ("gre.sequence_number", 32),
    }
    for n, (field, offset) in expected.items():
        cut = bytearray(wire[:n])
        cut[2:4] = n.to_bytes(2, "big")
        if n > 24:  # give the shortened packet a valid GRE checksum, so truncation is hit
            gre = bytearray(cut[20:])
            gre[4:6] = b"\x00\x00"
            gre[4:6] = internet_checksum(bytes(gre)).to_bytes(2, "big")
            cut[20:] = gre
        with pytest.raises(TruncatedError) as info:
            decapsulate(fix_ip_checksum(cut))
        assert (info.value.field, info.value.offset) == (field, offset), n


def test_gre_sequence_window() -> None:
    """RFC 2890 §2.2: out of sequence = the last value or the 2**31 - 1 before it."""
    top = 2**32 - 1
    assert gre_sequence_in_order(top, 0)  # first packet after establishment
    assert gre_sequence_in_order(5, 6)
    assert gre_sequence_in_order(5, 100)
    assert not gre_sequence_in_order(5, 5)
    assert not gre_sequence_in_order(5, 4)
    assert not gre_sequence_in_order(5, (5 - (2**31 - 1)) % 2**32)
    assert gre_sequence_in_order(5, (5 - 2**31) % 2**32)
    assert gre_sequence_in_order(top, 2**31 - 1)


# ------------------------------------------------------------------------------------------
# generic errors


def test_decapsulate_not_a_tunnel() -> None:
    with pytest.raises(ValueDecodeError) as info:
        decapsulate(I1)
    assert (info.value.field, info.value.offset) == ("ipv4.protocol", 9)
    with pytest.raises(ValueDecodeError) as info:
        decapsulate_gre(BY_NAME["ip-in-ip-udp"].data)
    assert (info.value.field, info.value.offset) == ("ipv4.protocol", 9)


def test_decapsulate_outer_checksum() -> None:
    wire = bytearray(BY_NAME["ip-in-ip-udp"].data)
    wire[8] -= 1  # TTL changed without fixing the checksum
    with pytest.raises(ChecksumError) as info:
        decapsulate(bytes(wire))
    assert (info.value.field, info.value.offset) == ("ipv4.checksum", 10)


def test_decapsulate_outer_fragment() -> None:
    wire = bytearray(BY_NAME["ip-in-ip-udp"].data)
    wire[6:8] = (FLAG_MF).to_bytes(2, "big")
    with pytest.raises(ValueDecodeError) as info:
        decapsulate(fix_ip_checksum(wire))
    assert (info.value.field, info.value.offset) == ("ipv4.flags_fragment", 6)


@pytest.mark.parametrize("name", ["ip-in-ip-udp", "gre-key"])
def test_inner_errors_named_and_offset(name: str) -> None:
    wire = BY_NAME[name].data
    start = len(wire) - len(I1)
    bad_version = bytearray(wire)
    bad_version[start] = 0x65
    with pytest.raises(ValueDecodeError) as info:
        decapsulate(bytes(bad_version))
    assert (info.value.field, info.value.offset) == ("inner.ipv4.version", start)
    bad_checksum = bytearray(wire)
    bad_checksum[start + 8] -= 1  # inner TTL (neither vector has a GRE checksum)
    with pytest.raises(ChecksumError) as info2:
        decapsulate(bytes(bad_checksum))
    assert (info2.value.field, info2.value.offset) == ("inner.ipv4.checksum", start + 10)
    short = bytearray(wire)
    short[start + 2 : start + 4] = (len(I1) - 4).to_bytes(2, "big")
    short = bytearray(fix_ip_checksum(short[:start]) + fix_ip_checksum(short[start:]))
    with pytest.raises(LengthError) as info3:
        decapsulate(bytes(short))
    assert (info3.value.field, info3.value.offset) == ("inner.ipv4.total_length", start + 2)


def test_encapsulate_rejects_non_ipv4_inner() -> None:
    with pytest.raises(DecodeError):
        encapsulate(Encapsulation.IP_IN_IP, b"\x60" + bytes(39), HA, COA)


def test_encapsulate_refuses_oversize() -> None:
    big = build_ipv4(A("198.51.100.10"), A("10.0.0.10"), 17, bytes(0xFFFF - 20))
    for kind in Encapsulation:
        with pytest.raises(EncapsulationRefused):
            encapsulate(kind, big, HA, COA)


# ------------------------------------------------------------------------------------------
# properties


addresses = st.builds(IPv4Address, st.integers(0, 2**32 - 1))


@st.composite
def datagrams(draw: st.DrawFn, *, fragments: bool = True) -> bytes:
    options = draw(st.binary(max_size=40).map(lambda b: b[: len(b) - len(b) % 4]))
    payload = draw(st.binary(max_size=200))
    flags = draw(st.integers(0, 0xFFFF) if fragments else st.sampled_from([0, FLAG_DF]))
    header = IPv4Header(
        tos=draw(st.integers(0, 255)),
        total_length=20 + len(options) + len(payload),
        identification=draw(st.integers(0, 0xFFFF)),
        flags_fragment=flags,
        ttl=draw(st.integers(0, 255)),
        protocol=draw(st.integers(0, 255)),
        source=draw(addresses),
        destination=draw(addresses),
        options=options,
    )
    return header.encode() + payload


@given(
    datagrams(fragments=False),
    st.sampled_from(list(Encapsulation)),
    addresses,
    addresses,
    st.integers(0, 255),
    st.integers(0, 0xFFFF),
    st.none() | st.integers(0, 2**32 - 1),
    st.none() | st.integers(0, 2**32 - 1),
    st.booleans(),
    st.booleans(),
)
def test_round_trip(
    inner: bytes,
    kind: Encapsulation,
    source: IPv4Address,
    destination: IPv4Address,
    ttl: int,
    identification: int,
    key: int | None,
    sequence: int | None,
    checksum: bool,
    encapsulator_is_source: bool,
) -> None:
    if encapsulator_is_source:
        source = IPv4Header.decode(inner).source
    wire = encapsulate(
        kind,
        inner,
        source,
        destination,
        ttl=ttl,
        identification=identification,
        gre_key=key,
        gre_sequence_number=sequence,
        gre_checksum=checksum,
    )
    result = decapsulate(wire)
    assert result.kind is kind
    assert result.inner == inner  # byte for byte, the minimal header restore included
    assert result.outer_header.source == source
    assert result.outer_header.destination == destination
    assert result.outer_header.encode() == wire[: result.outer_header.header_length]


@given(datagrams(), addresses, addresses)
def test_ip_in_ip_and_gre_carry_anything(
    inner: bytes, source: IPv4Address, dest: IPv4Address
) -> None:
    for kind in (Encapsulation.IP_IN_IP, Encapsulation.GRE):
        assert decapsulate(encapsulate(kind, inner, source, dest)).inner == inner


@given(st.binary(max_size=80))
def test_tunnel_headers_from_random_bytes(data: bytes) -> None:
    for verify in (True, False):
        try:
            forwarding = MinimalForwardingHeader.decode(data, verify_checksum=verify)
        except DecodeError:
            pass
        else:
            assert forwarding.encode() == data[: forwarding.size]
        try:
            gre, payload = GreHeader.decode(data, verify_checksum=verify)
        except DecodeError:
            pass
        else:
            assert gre.encode(payload) + payload == data


@given(st.sampled_from(VECTORS), st.integers(0, 200), st.integers(0, 7), st.booleans())
def test_bit_flips_raise_only_decode_errors(
    vector: Vector, index: int, bit: int, fix: bool
) -> None:
    wire = bytearray(vector.data)
    wire[index % len(wire)] ^= 1 << bit
    data = fix_ip_checksum(wire) if fix else bytes(wire)
    try:
        result = decapsulate(data)
    except DecodeError:
        return
    assert result.outer_header.encode() == data[: result.outer_header.header_length]
    if result.kind is not Encapsulation.MINIMAL:  # minimal restores a rewritten header
        assert data.endswith(result.inner)


@given(st.binary(max_size=120))
def test_random_bytes(data: bytes) -> None:
    try:
        result = decapsulate(data)
    except DecodeError:
        return
    assert IPv4Header.decode(result.inner).total_length == len(result.inner)


# ------------------------------------------------------------------------------------------
# independent decoder: tshark


@pytest.mark.tshark
def test_tshark_agrees(tmp_path: Path) -> None:
    tshark = require_tool("tshark")
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 228)  # LINKTYPE_IPV4
    for i, v in enumerate(VECTORS):
        out += struct.pack("<IIII", i, 0, len(v.data), len(v.data)) + v.data
    path = tmp_path / "tunnel.pcap"
    path.write_bytes(out)
    cmd = [tshark, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
    cmd += ["-r", str(path), "-T", "fields", "-E", "separator=|", "-E", "occurrence=a"]
    cmd += ["-E", "aggregator=,"]
    for field in (
        "ip.proto",
        "ip.checksum.status",
        "gre.key",
        "gre.sequence_number",
        "gre.checksum.status",
        "udp.checksum.status",
    ):
        cmd += ["-e", field]
    rows = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(rows) == len(VECTORS)
    for vector, row in zip(VECTORS, rows, strict=True):
        proto, ip_status, key, seq, gre_status, udp_status = row.split("|")
        assert set(ip_status.split(",")) == {"1"}, vector.name  # every IPv4 checksum good
        if vector.codec == "minimal":
            assert proto == "55"
            continue
        assert proto == f"{int(KINDS[vector.codec])},17", vector.name
        assert udp_status == "1", vector.name
        if "gre_key" in vector.extra:
            assert int(key, 16) == vector.extra["gre_key"]
        if "gre_sequence_number" in vector.extra:
            assert int(seq) == vector.extra["gre_sequence_number"]
        if vector.extra.get("gre_checksum"):
            assert gre_status == "1", vector.name
