"""ICMP codecs: Agent Advertisement / Solicitation (RFC 1256, RFC 5944 §2.1-2.2), the RFC 4881
PrRtSol / PrRtAdv with the router-discovery LLA (type 140), Destination Unreachable (RFC 792)."""

from __future__ import annotations

import dataclasses
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
    TruncatedError,
    UnknownMandatoryExtension,
    UnknownMessageType,
    ValueDecodeError,
)
from mip4.wire.icmp import (
    AgentAdvertisement,
    AgentSolicitation,
    Challenge,
    DestinationUnreachable,
    IcmpMessage,
    MobilityAgentAdvertisement,
    MobilityAgentFlags,
    Padding,
    PrefixLengths,
    RouterAddress,
    RouterDiscoveryExtension,
    RouterDiscoveryLinkLayerAddress,
    UnknownSkippableExtension,
    UnreachableCode,
    decode_icmp,
)
from mip4.wire.ip import PROTO_ICMP, build_ipv4, internet_checksum
from mip4.wire.lla import (
    AccessPointId,
    EthernetMac,
    Eui64,
    FaIpv4Address,
    Imsi3gpp,
    Imsi3gpp2,
    LlaValue,
    SolicitedIpv4Address,
    UnknownLla,
)
from tests.conftest import require_tool
from tests.vectors import Vector, load, subset_matches
from tests.wire.test_control_vectors import build_lla

VECTORS = load("icmp")
BY_NAME = {v.name: v for v in VECTORS}
CLASSES = {
    "agent_advertisement": AgentAdvertisement,
    "agent_solicitation": AgentSolicitation,
    "destination_unreachable": DestinationUnreachable,
}

A = IPv4Address


def fix_checksum(data: bytes) -> bytes:
    """``data`` with a correct ICMP checksum in bytes 2-3 (needs at least 4 bytes)."""
    zeroed = data[:2] + b"\x00\x00" + data[4:]
    return zeroed[:2] + internet_checksum(zeroed).to_bytes(2, "big") + zeroed[4:]


# ------------------------------------------------------------------------------------------
# golden vectors, both ways


@pytest.mark.parametrize("vector", VECTORS, ids=str)
def test_vector_decodes_to_fields(vector: Vector) -> None:
    message = decode_icmp(vector.data)
    assert type(message) is CLASSES[vector.codec]
    assert subset_matches(vector.fields, message.to_dict()) == []
    assert message.to_dict()["message"] == vector.codec


@pytest.mark.parametrize("vector", VECTORS, ids=str)
def test_vector_reencodes_byte_exact(vector: Vector) -> None:
    message = decode_icmp(vector.data)
    assert message.encode() == vector.data
    # The checksum the encoder computes is the one in the vector.
    assert dataclasses.replace(message, checksum=None).encode() == vector.data


# ------------------------------------------------------------------------------------------
# building every vector from its fields alone (independent of the decoders)


def build_icmp_extension(d: dict[str, Any]) -> RouterDiscoveryExtension:
    match d["type"]:
        case 0:
            return Padding()
        case 16:
            flags = MobilityAgentFlags.NONE
            for letter, on in d["flags"].items():
                if on:
                    flags |= MobilityAgentFlags[letter]
            return MobilityAgentAdvertisement(
                sequence_number=d["sequence_number"],
                registration_lifetime=d["registration_lifetime"],
                flags=flags,
                reserved=d["reserved"],
                care_of_addresses=tuple(A(a) for a in d["care_of_addresses"]),
            )
        case 19:
            return PrefixLengths(prefix_lengths=tuple(d["prefix_lengths"]))
        case 24:
            return Challenge(challenge=bytes.fromhex(d["challenge"]))
        case 140:
            return RouterDiscoveryLinkLayerAddress(value=build_lla(d["sub_type"], d["value"]))
        case _:
            return UnknownSkippableExtension(ext_type=d["type"], data=bytes.fromhex(d["data"]))


def build_icmp(codec: str, f: dict[str, Any]) -> IcmpMessage:
    """The message a vector's fields describe, with the checksum left to the encoder."""
    extensions = tuple(build_icmp_extension(e) for e in f.get("extensions", []))
    match codec:
        case "agent_advertisement":
            return AgentAdvertisement(
                code=f["code"],
                lifetime=f["lifetime"],
                router_addresses=tuple(
                    RouterAddress(address=A(r["address"]), preference_level=r["preference_level"])
                    for r in f["router_addresses"]
                ),
                extensions=extensions,
            )
        case "agent_solicitation":
            return AgentSolicitation(reserved=f["reserved"], extensions=extensions)
        case "destination_unreachable":
            return DestinationUnreachable(
                code=f["code"],
                unused=f["unused"],
                original_datagram=bytes.fromhex(f["original_datagram"]),
            )
    raise AssertionError(f"no builder for {codec}")


# Names derived from a number the vector does list (the codec, a type, a sub-type, a code).
_NAMING_KEYS = frozenset({"message", "name", "sub_type_name", "code_name"})


def missing_fields(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Keys of ``actual`` (a decoded to_dict()) with a value that ``expected`` (the vector's
    fields) does not list. TOML has no null, so a None value may go unlisted; so may the
    names of :data:`_NAMING_KEYS` and the message's own type (the codec says it)."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        out = [
            f"{path}.{k}"
            for k, v in actual.items()
            if k not in expected
            and v is not None
            and k not in _NAMING_KEYS
            and not (path == "" and k == "type")
        ]
        for key in actual.keys() & expected.keys():
            out += missing_fields(actual[key], expected[key], f"{path}.{key}")
        return out
    if isinstance(actual, list) and isinstance(expected, list):
        return [
            problem
            for i, (a, e) in enumerate(zip(actual, expected, strict=False))
            for problem in missing_fields(a, e, f"{path}[{i}]")
        ]
    return []


@pytest.mark.parametrize("vector", VECTORS, ids=str)
def test_vector_fields_are_complete(vector: Vector) -> None:
    """Every field the decoder produces is written out in the vector (so that the vector
    alone says what the bytes mean, and the builder below needs nothing else)."""
    assert missing_fields(decode_icmp(vector.data).to_dict(), vector.fields) == []


@pytest.mark.parametrize("vector", VECTORS, ids=str)
def test_vector_built_from_fields_encodes_to_its_bytes(vector: Vector) -> None:
    built = build_icmp(vector.codec, vector.fields)
    assert built.encode().hex(" ") == vector.data.hex(" ")
    assert dataclasses.replace(built, checksum=vector.fields["checksum"]) == decode_icmp(
        vector.data
    )


def test_digest_vector_d_built_from_fields() -> None:
    """Digest §10 vector D: a PrRtAdv-style Agent Advertisement (RFC 4881 §3.3)."""
    adv = AgentAdvertisement(
        lifetime=30,
        router_addresses=(RouterAddress(address=A("192.0.2.1")),),
        extensions=(
            MobilityAgentAdvertisement(
                sequence_number=256,
                registration_lifetime=1800,
                flags=MobilityAgentFlags.F | MobilityAgentFlags.T,
                care_of_addresses=(A("192.0.2.1"),),
            ),
            RouterDiscoveryLinkLayerAddress(value=EthernetMac(mac=bytes.fromhex("0200000000fe"))),
            Padding(),
        ),
    )
    wire = adv.encode()
    assert wire == BY_NAME["prrtadv-digest-d"].data
    assert wire[2:4] == b"\xbb\xbf"
    assert adv.is_agent_advertisement
    assert adv.lla == EthernetMac(mac=bytes.fromhex("0200000000fe"))
    mobility = adv.mobility_extension
    assert mobility is not None and mobility.sequence_number == 256


def test_digest_vector_e_built_from_fields() -> None:
    """Digest §10 vector E: PrRtSol, LLA 140 sub-type 5 (RFC 4881 §3.3, §9.5)."""
    sol = AgentSolicitation(
        extensions=(
            RouterDiscoveryLinkLayerAddress(value=SolicitedIpv4Address(address=A("198.51.100.7"))),
        )
    )
    assert sol.encode() == BY_NAME["prrtsol-digest-e"].data
    assert sol.encode()[2:4] == b"\x29\xd0"
    assert sol.is_proxy_router_solicitation
    assert sol.lla == SolicitedIpv4Address(address=A("198.51.100.7"))


def test_every_flag_vector_built_from_fields() -> None:
    every = MobilityAgentFlags(0)
    for letter in "RBHFMGrTUXI":
        every |= MobilityAgentFlags[letter]
    assert int(every) == 0xFFE0
    adv = AgentAdvertisement(
        lifetime=90,
        router_addresses=(RouterAddress(address=A("198.51.100.1"), preference_level=5),),
        extensions=(
            MobilityAgentAdvertisement(
                sequence_number=0x1234,
                registration_lifetime=600,
                flags=every,
                care_of_addresses=(A("198.51.100.1"), A("198.51.100.2")),
            ),
        ),
    )
    assert adv.encode() == BY_NAME["advertisement-two-coas-every-flag"].data


def test_reserved_maae_bits_are_kept_not_flags() -> None:
    adv = decode_icmp(BY_NAME["advertisement-reserved-bits-kept"].data)
    assert isinstance(adv, AgentAdvertisement)
    mobility = adv.mobility_extension
    assert mobility is not None
    assert mobility.flags == MobilityAgentFlags.F | MobilityAgentFlags.T
    assert mobility.reserved == 0x1F


def test_plain_router_advertisement_is_not_an_agent_advertisement() -> None:
    adv = decode_icmp(BY_NAME["router-advertisement-without-maae"].data)
    assert isinstance(adv, AgentAdvertisement)
    assert not adv.is_agent_advertisement
    assert adv.mobility_extension is None and adv.lla is None


def test_prefix_lengths_and_challenge_helpers() -> None:
    adv = decode_icmp(BY_NAME["advertisement-prefix-lengths"].data)
    assert isinstance(adv, AgentAdvertisement)
    assert adv.prefix_lengths == (24, 16)
    assert adv.router_addresses[1].preference_level == -1
    adv = decode_icmp(BY_NAME["advertisement-challenge"].data)
    assert isinstance(adv, AgentAdvertisement)
    assert adv.challenge == bytes.fromhex("0123456789abcdef")
    assert adv.router_addresses[0].preference_level == -(2**31)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("prrtsol-lla-3gpp2-imsi", Imsi3gpp2(imsi="310150123456789", connection_id=1)),
        ("prrtsol-lla-3gpp-imsi", Imsi3gpp(imsi="310150123456789")),
        ("prrtsol-lla-ethernet", EthernetMac(mac=bytes.fromhex("020000000001"))),
        ("prrtsol-lla-eui64", Eui64(eui64=bytes.fromhex("020000fffe000001"))),
        ("prrtsol-digest-e", SolicitedIpv4Address(address=A("198.51.100.7"))),
        ("prrtsol-lla-access-point-id", AccessPointId(ap_id=0x0A0B0C0D)),
        ("solicitation-lla-fa-ipv4", FaIpv4Address(address=A("198.51.100.1"))),
        ("solicitation-lla-unassigned-sub-type", UnknownLla(sub_type=200, data=b"\x01\x02\x03")),
    ],
)
def test_each_lla_sub_type_both_ways(name: str, value: LlaValue) -> None:
    sol = AgentSolicitation(extensions=(RouterDiscoveryLinkLayerAddress(value=value),))
    assert sol.encode() == BY_NAME[name].data
    decoded = decode_icmp(BY_NAME[name].data)
    assert isinstance(decoded, AgentSolicitation)
    assert decoded.lla == value


def test_unknown_skippable_extension_kept() -> None:
    adv = decode_icmp(BY_NAME["advertisement-unknown-skippable-kept"].data)
    assert isinstance(adv, AgentAdvertisement)
    assert adv.extensions[1] == UnknownSkippableExtension(ext_type=200, data=b"\xaa\xbb\xcc")
    assert adv.extensions[2] == Padding()


def test_solicitation_reserved_word_kept() -> None:
    sol = AgentSolicitation(reserved=0xDEADBEEF)
    assert sol.encode() == BY_NAME["solicitation-reserved-kept"].data


def test_destination_unreachable_protocol_4() -> None:
    vector = BY_NAME["destination-unreachable-protocol-4"]
    message = decode_icmp(vector.data)
    assert isinstance(message, DestinationUnreachable)
    assert message.code == UnreachableCode.PROTOCOL_UNREACHABLE
    assert message.next_hop_mtu is None
    assert message.to_dict()["next_hop_mtu"] is None
    header = message.original_header()
    assert header.protocol == 4
    assert header.source == A("198.51.100.1")
    # Built from the offending datagram: header + the first 64 bits of its payload.
    offending = vector.data[8:36] + b"\xff" * 32
    built = DestinationUnreachable.about(offending, UnreachableCode.PROTOCOL_UNREACHABLE)
    assert built.encode() == vector.data


def test_destination_unreachable_fragmentation_needed_mtu() -> None:
    message = decode_icmp(BY_NAME["destination-unreachable-fragmentation-needed"].data)
    assert isinstance(message, DestinationUnreachable)
    assert message.next_hop_mtu == 1400


def test_destination_unreachable_with_unusable_original_datagram() -> None:
    message = DestinationUnreachable(code=1, original_datagram=b"\x45\x00\x00")
    wire = message.encode()
    decoded = decode_icmp(wire)
    assert isinstance(decoded, DestinationUnreachable)
    assert decoded.encode() == wire
    assert decoded.to_dict()["original_header"] is None
    with pytest.raises(TruncatedError) as info:
        decoded.original_header()
    # The IPv4 decoder's own field name, prefixed; its offset shifted past the ICMP header.
    assert info.value.field.startswith("original_datagram.ipv4.")
    assert 8 <= info.value.offset <= 8 + 3
    bad_version = DestinationUnreachable(code=1, original_datagram=b"\x65" + bytes(27))
    with pytest.raises(ValueDecodeError) as info2:
        bad_version.original_header()
    assert (info2.value.field, info2.value.offset) == ("original_datagram.ipv4.version", 8)


# ------------------------------------------------------------------------------------------
# errors: exact class, field and offset


def _err(exc_type: type[DecodeError], data: bytes, **kw: bool) -> DecodeError:
    with pytest.raises(exc_type) as info:
        decode_icmp(data, **kw)
    return info.value


@pytest.mark.parametrize("vector", VECTORS, ids=str)
def test_bad_checksum(vector: Vector) -> None:
    data = bytearray(vector.data)
    data[3] ^= 0x01
    err = _err(ChecksumError, bytes(data))
    last = bytearray(vector.data)
    last[-1] ^= 0x80
    assert _err(ChecksumError, bytes(last)).offset == 2
    assert (err.field, err.offset) == ("icmp.checksum", 2)
    # Without verification it decodes and keeps the wrong checksum byte-exactly.
    assert decode_icmp(bytes(data), verify_checksum=False).encode() == bytes(data)


def test_short_header_names_the_field() -> None:
    data = BY_NAME["prrtadv-digest-d"].data
    expected = [
        ("icmp.type", 0),
        ("icmp.code", 1),
        ("icmp.checksum", 2),
        ("icmp.checksum", 2),
        ("icmp.num_addrs", 4),
        ("icmp.addr_entry_size", 5),
        ("icmp.lifetime", 6),
        ("icmp.lifetime", 6),
    ]
    for n, (field, offset) in enumerate(expected):
        if n == 0:
            err = _err(TruncatedError, data[:n])
        else:
            with pytest.raises(TruncatedError) as info:
                AgentAdvertisement.decode(data[:n])
            err = info.value
        assert (err.field, err.offset) == (field, offset), n
    sol = BY_NAME["solicitation-plain"].data
    for n in range(4, 8):
        err = _err(TruncatedError, sol[:n])
        assert (err.field, err.offset) == ("icmp.reserved", 4)
    du = BY_NAME["destination-unreachable-protocol-4"].data
    for n in range(4, 8):
        err = _err(TruncatedError, du[:n])
        assert (err.field, err.offset) == ("icmp.unused", 4)


def _boundaries(message: AgentAdvertisement | AgentSolicitation) -> dict[int, int]:
    """Offsets where a structure ends -> offset of the structure that starts there."""
    pos = 8 + 8 * len(message.router_addresses) if isinstance(message, AgentAdvertisement) else 8
    out = {pos: pos}
    for ext in message.extensions:
        pos += len(ext.encode())
        out[pos] = pos
    return out


def _expected_truncation(
    message: AgentAdvertisement | AgentSolicitation, n: int
) -> tuple[str, int]:
    """The (field, offset) a message cut to ``n`` bytes (n >= 8) must report."""
    if isinstance(message, AgentAdvertisement):
        end = 8 + 8 * message.num_addrs
        if n < end:
            entry = 8 + 8 * ((n - 8) // 8)
            if n < entry + 4:
                return "icmp.router_address", entry
            return "icmp.preference_level", entry + 4
        pos = end
    else:
        pos = 8
    for ext in message.extensions:
        size = len(ext.encode())
        if n < pos + size:
            return "extension.length", pos + 1
        pos += size
    raise AssertionError("not truncated")


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS if v.codec != "destination_unreachable"],
    ids=str,
)
def test_truncated_at_every_length(vector: Vector) -> None:
    """Cut anywhere (checksum fixed so the structure is what fails): a cut at a structure
    boundary is a valid shorter message, anywhere else a TruncatedError at the exact field."""
    message = decode_icmp(vector.data)
    assert isinstance(message, AgentAdvertisement | AgentSolicitation)
    boundaries = _boundaries(message)
    for n in range(8, len(vector.data)):
        cut = fix_checksum(vector.data[:n])
        if n in boundaries:
            assert decode_icmp(cut).encode() == cut
            continue
        err = _err(TruncatedError, cut)
        assert (err.field, err.offset) == _expected_truncation(message, n), n
        # Unfixed, the checksum no longer verifies (or the header is cut short).
        with pytest.raises(DecodeError):
            decode_icmp(vector.data[:n])


def _adv(extensions: bytes, *, routers: int = 0, code: int = 0, entry_size: int = 2) -> bytes:
    head = struct.pack("!BBHBBH", 9, code, 0, routers, entry_size, 1800)
    body = b"".join(struct.pack("!4si", bytes((192, 0, 2, i + 1)), 0) for i in range(routers))
    return fix_checksum(head + body + extensions)


@pytest.mark.parametrize("length", [0, 2, 5, 7, 8, 9, 11, 13])
def test_maae_length_not_6_plus_4n(length: int) -> None:
    maae = bytes((16, length)) + bytes(length)
    err = _err(LengthError, _adv(maae))
    assert (err.field, err.offset) == ("extension.length", 9)


def test_maae_length_6_plus_4n_accepted() -> None:
    for n in range(4):
        maae = bytes((16, 6 + 4 * n)) + bytes(6 + 4 * n)
        adv = decode_icmp(_adv(maae))
        assert isinstance(adv, AgentAdvertisement)
        mobility = adv.mobility_extension
        assert mobility is not None and len(mobility.care_of_addresses) == n


@pytest.mark.parametrize("entry_size", [0, 1, 3, 255])
def test_addr_entry_size_not_2(entry_size: int) -> None:
    err = _err(ValueDecodeError, _adv(b"", routers=1, entry_size=entry_size))
    assert (err.field, err.offset) == ("icmp.addr_entry_size", 5)


@pytest.mark.parametrize("code", [1, 8, 15, 17, 255])
def test_advertisement_code_not_0_or_16(code: int) -> None:
    err = _err(ValueDecodeError, _adv(b"", code=code))
    assert (err.field, err.offset) == ("icmp.code", 1)


def test_solicitation_code_not_0() -> None:
    err = _err(ValueDecodeError, fix_checksum(bytes((10, 1, 0, 0, 0, 0, 0, 0))))
    assert (err.field, err.offset) == ("icmp.code", 1)


@pytest.mark.parametrize("ext_type", [1, 15, 17, 20, 25, 127])
def test_unknown_mandatory_extension(ext_type: int) -> None:
    maae = bytes.fromhex("100a000107081000c0000201")
    # Refused before the (absent) Length byte is read: nothing after the type is trusted.
    for tail in (bytes((ext_type,)), bytes((ext_type, 2, 0, 0))):
        err = _err(UnknownMandatoryExtension, _adv(maae + tail, routers=1))
        assert isinstance(err, UnknownMandatoryExtension)
        assert (err.field, err.offset, err.ext_type) == ("extension.type", 28, ext_type)
    sol = fix_checksum(bytes((10, 0, 0, 0, 0, 0, 0, 0, ext_type, 0)))
    err = _err(UnknownMandatoryExtension, sol)
    assert (err.field, err.offset) == ("extension.type", 8)


def test_extension_without_length_byte() -> None:
    err = _err(TruncatedError, fix_checksum(bytes((10, 0, 0, 0, 0, 0, 0, 0, 140))))
    assert (err.field, err.offset) == ("extension.length", 9)


def test_prefix_lengths_must_match_num_addrs() -> None:
    err = _err(LengthError, _adv(bytes((19, 1, 24)), routers=2))
    assert (err.field, err.offset) == ("extension.length", 25)
    err = _err(ValueDecodeError, _adv(bytes((19, 2, 24, 33)), routers=2))
    assert (err.field, err.offset) == ("extension.prefix_length", 27)


def test_challenge_shorter_than_4() -> None:
    err = _err(LengthError, _adv(bytes((24, 3, 1, 2, 3))))
    assert (err.field, err.offset) == ("extension.length", 9)
    adv = decode_icmp(_adv(bytes((24, 4, 1, 2, 3, 4))))
    assert isinstance(adv, AgentAdvertisement)
    assert adv.challenge == b"\x01\x02\x03\x04"


def test_lla_errors() -> None:
    err = _err(LengthError, _adv(bytes((140, 0))))
    assert (err.field, err.offset) == ("extension.length", 9)
    err = _err(LengthError, _adv(bytes((140, 6, 3, 2, 0, 0, 0, 0))))  # 5-byte "MAC"
    assert (err.field, err.offset) == ("lla.mac", 11)
    err = _err(LengthError, _adv(bytes((140, 4, 5, 198, 51, 100))))  # 3-byte address
    assert (err.field, err.offset) == ("lla.address", 11)


def test_wrong_type_for_class_and_unknown_type() -> None:
    sol = BY_NAME["solicitation-plain"].data
    with pytest.raises(ValueDecodeError) as info:
        AgentAdvertisement.decode(sol)
    assert (info.value.field, info.value.offset) == ("icmp.type", 0)
    echo = fix_checksum(bytes((8, 0, 0, 0, 0, 1, 0, 1)))
    err = _err(UnknownMessageType, echo)
    assert (err.field, err.offset) == ("icmp.type", 0)
    err = _err(TruncatedError, b"")
    assert (err.field, err.offset) == ("icmp.type", 0)


def test_lla_140_in_icmp_is_not_the_hfa() -> None:
    """Type 140 after an ICMP header is the LLA (RFC 4881 §10.1), never RFC 4857's HFA."""
    # An HFA-shaped body (Length 6, two reserved bytes, an address) parses as an LLA with
    # sub-type 0 (reserved) and five bytes of data, not as an address extension.
    sol = decode_icmp(fix_checksum(bytes((10, 0, 0, 0, 0, 0, 0, 0, 140, 6, 0, 0, 10, 0, 0, 1))))
    assert isinstance(sol, AgentSolicitation)
    assert sol.lla == UnknownLla(sub_type=0, data=bytes((0, 10, 0, 0, 1)))


# ------------------------------------------------------------------------------------------
# properties: nothing but DecodeError, and every accepted message re-encodes exactly


def _decode_roundtrips(data: bytes) -> None:
    for verify in (True, False):
        try:
            message = decode_icmp(data, verify_checksum=verify)
        except DecodeError:
            continue
        assert message.encode() == data
        message.to_dict()


@given(st.binary(max_size=80))
def test_random_bytes(data: bytes) -> None:
    _decode_roundtrips(data)


@given(st.sampled_from([3, 9, 10]), st.binary(min_size=3, max_size=80))
def test_random_bodies_with_valid_checksum(icmp_type: int, rest: bytes) -> None:
    _decode_roundtrips(fix_checksum(bytes((icmp_type,)) + rest))


_mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "insert", "delete"]),
        st.integers(0, 200),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=4,
)


@given(st.sampled_from(VECTORS), _mutations, st.booleans())
def test_mutated_vectors(vector: Vector, mutations: list[tuple[str, int, int]], fix: bool) -> None:
    data = bytearray(vector.data)
    for op, index, value in mutations:
        i = index % (len(data) + 1)
        if op == "insert":
            data.insert(i, value)
        elif not data or i == len(data):
            continue
        elif op == "flip":
            data[i] ^= 1 << (value % 8)
        elif op == "set":
            data[i] = value
        else:
            del data[i]
    raw = bytes(data)
    _decode_roundtrips(fix_checksum(raw) if fix and len(raw) >= 4 else raw)


addresses = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
lla_values = st.one_of(
    st.builds(
        Imsi3gpp2,
        imsi=st.text("0123456789", min_size=1, max_size=15),
        connection_id=st.integers(0, 10**6),
    ),
    st.builds(Imsi3gpp, imsi=st.text("0123456789", min_size=1, max_size=15)),
    st.builds(EthernetMac, mac=st.binary(min_size=6, max_size=6)),
    st.builds(Eui64, eui64=st.binary(min_size=8, max_size=8)),
    st.builds(SolicitedIpv4Address, address=addresses),
    st.builds(AccessPointId, ap_id=st.integers(0, 2**32 - 1)),
    st.builds(FaIpv4Address, address=addresses),
    st.builds(UnknownLla, sub_type=st.integers(8, 255), data=st.binary(max_size=40)),
)
common_extensions: st.SearchStrategy[RouterDiscoveryExtension] = st.one_of(
    st.builds(
        MobilityAgentAdvertisement,
        sequence_number=st.integers(0, 0xFFFF),
        registration_lifetime=st.integers(0, 0xFFFF),
        flags=st.builds(MobilityAgentFlags, st.integers(0, 0x7FF).map(lambda x: x << 5)),
        reserved=st.integers(0, 0x1F),
        care_of_addresses=st.lists(addresses, max_size=5).map(tuple),
    ),
    st.builds(Challenge, challenge=st.binary(min_size=4, max_size=32)),
    st.builds(RouterDiscoveryLinkLayerAddress, value=lla_values),
    st.builds(
        UnknownSkippableExtension,
        ext_type=st.integers(128, 255).filter(lambda t: t != 140),
        data=st.binary(max_size=20),
    ),
    st.just(Padding()),
)


@st.composite
def advertisements(draw: st.DrawFn) -> AgentAdvertisement:
    routers = draw(
        st.lists(
            st.builds(
                RouterAddress, address=addresses, preference_level=st.integers(-(2**31), 2**31 - 1)
            ),
            max_size=4,
        )
    )
    extensions = draw(st.lists(common_extensions, max_size=5))
    if draw(st.booleans()):
        lengths = draw(st.lists(st.integers(0, 32), min_size=len(routers), max_size=len(routers)))
        extensions.append(PrefixLengths(prefix_lengths=tuple(lengths)))
    return AgentAdvertisement(
        code=draw(st.sampled_from([0, 16])),
        lifetime=draw(st.integers(0, 0xFFFF)),
        router_addresses=tuple(routers),
        extensions=tuple(extensions),
    )


@given(advertisements())
def test_generated_advertisements_round_trip(adv: AgentAdvertisement) -> None:
    wire = adv.encode()
    decoded = decode_icmp(wire)
    assert dataclasses.replace(decoded, checksum=None) == adv
    assert decoded.encode() == wire


@given(st.integers(0, 2**32 - 1), st.lists(common_extensions, max_size=5))
def test_generated_solicitations_round_trip(
    reserved: int, extensions: list[RouterDiscoveryExtension]
) -> None:
    sol = AgentSolicitation(reserved=reserved, extensions=tuple(extensions))
    wire = sol.encode()
    decoded = decode_icmp(wire)
    assert dataclasses.replace(decoded, checksum=None) == sol
    assert decoded.encode() == wire


# ------------------------------------------------------------------------------------------
# independent decoder: tshark


def _pcap(packets: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 228)  # LINKTYPE_IPV4
    for i, pkt in enumerate(packets):
        out += struct.pack("<IIII", i, 0, len(pkt), len(pkt)) + pkt
    return out


@pytest.mark.tshark
def test_tshark_agrees_on_advertisements(tmp_path: Path) -> None:
    tshark = require_tool("tshark")
    names = [
        "prrtadv-digest-d",
        "advertisement-code16-no-routers",
        "advertisement-two-coas-every-flag",
        "advertisement-challenge",
        "prrtsol-digest-e",
    ]
    packets = [
        build_ipv4(A("192.0.2.1"), A("224.0.0.1"), PROTO_ICMP, BY_NAME[n].data, ttl=1)
        for n in names
    ]
    path = tmp_path / "icmp.pcap"
    path.write_bytes(_pcap(packets))
    fields = [
        "icmp.type",
        "icmp.code",
        "icmp.checksum.status",
        "icmp.mip.seq",
        "icmp.mip.life",
        "icmp.mip.coa",
    ]
    cmd = [
        tshark,
        "-r",
        str(path),
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = [line.split("|") for line in out.strip().splitlines()]
    assert len(rows) == len(names)
    for name, row in zip(names, rows, strict=True):
        message = decode_icmp(BY_NAME[name].data)
        assert row[0] == str(message.to_dict()["type"]), name
        assert row[2] == "1", name  # checksum good
        if isinstance(message, AgentAdvertisement):
            assert row[1] == str(message.code)
            mobility = message.mobility_extension
            assert mobility is not None
            assert row[3] == str(mobility.sequence_number)
            assert row[4] == str(mobility.registration_lifetime)
            assert row[5] == ",".join(str(a) for a in mobility.care_of_addresses)
