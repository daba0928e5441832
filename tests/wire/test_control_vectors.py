"""Golden vectors for the control messages and their extensions, checked both ways.

The vectors (tests/vectors/control.toml) are hex written by hand from the RFC figures. Each is
decoded (the decoder must produce the listed fields) and, independently, built from its
fields by :func:`build_message` / :func:`build_extension` below and encoded (the encoder must
produce the hex). Authenticators in the vectors verify with the keys stored beside them.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from ipaddress import IPv4Address
from typing import Any

import pytest

from mip4.wire import auth
from mip4.wire.extensions import (
    AuthenticationExtension,
    ControlExtension,
    EncapsulatingDeliveryStyle,
    ForeignHomeAuthentication,
    GeneralizedAuthentication,
    GfaIpAddress,
    HierarchicalForeignAgent,
    LinkLayerAddress,
    MnFaChallenge,
    MobileForeignAuthentication,
    MobileHomeAuthentication,
    MobileNodeNai,
    Padding,
    RegionalRegistrationLifetime,
    ReplayProtectionStyle,
    UnknownSkippableExtension,
    decode_extensions,
)
from mip4.wire.handoff import HandoffFlags, HandoffReply, HandoffRequest
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
from mip4.wire.messages import ControlMessage, decode_control_message
from mip4.wire.registration import (
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationFlags,
    RegistrationReply,
    RegistrationRequest,
)
from tests.vectors import Vector, load, parse_hex, subset_matches

VECTORS = load("control")
MESSAGES = [v for v in VECTORS if v.codec == "control"]
EXTENSIONS = [v for v in VECTORS if v.codec == "extension"]
AUTHENTICATED = [v for v in VECTORS if "auth" in v.extra]

# A Registration Request fixed part (RFC 5944 §3.3) that carries an extension vector.
HOST_RRQ = parse_hex("01 00 07 08 0a00000a 0a000001 c0000201 e8a1b2c3 000000ff")


# --- building objects from the vector fields (independent of the decoders) -----------------


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def build_lla(sub_type: int, value: dict[str, Any]) -> LlaValue:
    match sub_type:
        case 1:
            return Imsi3gpp2(imsi=value["imsi"], connection_id=value["connection_id"])
        case 2:
            return Imsi3gpp(imsi=value["imsi"])
        case 3:
            return EthernetMac(mac=_mac(value["mac"]))
        case 4:
            return Eui64(eui64=_mac(value["eui64"]))
        case 5:
            return SolicitedIpv4Address(address=IPv4Address(value["address"]))
        case 6:
            return AccessPointId(ap_id=value["ap_id"])
        case 7:
            return FaIpv4Address(address=IPv4Address(value["address"]))
        case _:
            return UnknownLla(sub_type=sub_type, data=bytes.fromhex(value["data"]))


_AUTH_CLASSES = {
    32: MobileHomeAuthentication,
    33: MobileForeignAuthentication,
    34: ForeignHomeAuthentication,
}


def build_extension(d: dict[str, Any]) -> ControlExtension:
    ext_type = d["type"]
    if ext_type in _AUTH_CLASSES:
        return _AUTH_CLASSES[ext_type](
            spi=d["spi"], authenticator=bytes.fromhex(d["authenticator"])
        )
    match ext_type:
        case 0:
            return Padding()
        case 36:
            return GeneralizedAuthentication(
                subtype=d["sub_type"], spi=d["spi"], authenticator=bytes.fromhex(d["authenticator"])
            )
        case 46:
            return GfaIpAddress(address=IPv4Address(d["address"]), reserved=d.get("reserved", 0))
        case 130:
            return EncapsulatingDeliveryStyle()
        case 131:
            return MobileNodeNai(nai=d["nai"].encode())
        case 132:
            return MnFaChallenge(challenge=bytes.fromhex(d["challenge"]))
        case 138:
            return LinkLayerAddress(value=build_lla(d["sub_type"], d["value"]))
        case 140:
            return HierarchicalForeignAgent(
                address=IPv4Address(d["address"]), reserved=d.get("reserved", 0)
            )
        case 141:
            return ReplayProtectionStyle(
                style=d["style"], initial_identification=d.get("initial_identification")
            )
        case 142:
            return RegionalRegistrationLifetime(
                lifetime=d["lifetime"], reserved=d.get("reserved", 0)
            )
        case _:
            return UnknownSkippableExtension(ext_type=ext_type, data=bytes.fromhex(d["data"]))


def _flags(enum_cls: Any, flags: dict[str, bool]) -> Any:
    return functools.reduce(
        operator.or_, (enum_cls[letter] for letter, on in flags.items() if on), enum_cls.NONE
    )


def build_message(f: dict[str, Any]) -> ControlMessage:
    exts = tuple(build_extension(e) for e in f["extensions"])
    common = {"lifetime": f["lifetime"], "identification": f["identification"], "extensions": exts}
    match f["message"]:
        case "registration_request" | "regional_registration_request":
            regional = f["message"] == "regional_registration_request"
            request_cls = RegionalRegistrationRequest if regional else RegistrationRequest
            return request_cls(
                flags=_flags(RegistrationFlags, f["flags"]),
                home_address=IPv4Address(f["home_address"]),
                home_agent=IPv4Address(f["gfa_ip_address" if regional else "home_agent"]),
                care_of_address=IPv4Address(f["care_of_address"]),
                **common,
            )
        case "registration_reply" | "regional_registration_reply":
            regional = f["message"] == "regional_registration_reply"
            reply_cls = RegionalRegistrationReply if regional else RegistrationReply
            return reply_cls(
                code=f["code"],
                home_address=IPv4Address(f["home_address"]),
                home_agent=IPv4Address(f["gfa_ip_address" if regional else "home_agent"]),
                **common,
            )
        case "handoff_request":
            return HandoffRequest(
                flags=_flags(HandoffFlags, f["flags"]),
                mn_home_address=IPv4Address(f["mn_home_address"]),
                ha_address=IPv4Address(f["ha_address"]),
                **common,
            )
        case "handoff_reply":
            return HandoffReply(
                flags=_flags(HandoffFlags, f["flags"]),
                code=f["code"],
                mn_home_address=IPv4Address(f["mn_home_address"]),
                ha_address=IPv4Address(f["ha_address"]),
                **common,
            )
    raise AssertionError(f"no builder for {f['message']}")


def _decode_one_extension(data: bytes) -> ControlExtension:
    exts = decode_extensions(data, 0)
    assert len(exts) == 1, exts
    return exts[0]


# --- the vectors, both ways ----------------------------------------------------------------


@pytest.mark.parametrize("vector", MESSAGES, ids=str)
def test_message_decode_gives_fields(vector: Vector) -> None:
    message = decode_control_message(vector.data)
    assert subset_matches(vector.fields, message.to_dict()) == []


@pytest.mark.parametrize("vector", MESSAGES, ids=str)
def test_message_encode_gives_bytes(vector: Vector) -> None:
    built = build_message(vector.fields)
    assert built.encode().hex(" ") == vector.data.hex(" ")
    assert decode_control_message(vector.data) == built
    assert decode_control_message(vector.data).encode() == vector.data


@pytest.mark.parametrize("vector", EXTENSIONS, ids=str)
def test_extension_decode_gives_fields(vector: Vector) -> None:
    ext = _decode_one_extension(vector.data)
    assert subset_matches(vector.fields, ext.to_dict()) == []
    # The same bytes at the end of a Registration Request decode to the same extension.
    hosted = decode_control_message(HOST_RRQ + vector.data)
    assert hosted.extensions == (ext,)


@pytest.mark.parametrize("vector", EXTENSIONS, ids=str)
def test_extension_encode_gives_bytes(vector: Vector) -> None:
    built = build_extension(vector.fields)
    assert built.encode().hex(" ") == vector.data.hex(" ")
    assert _decode_one_extension(vector.data) == built


def test_replay_protection_style_length_2_has_no_identification() -> None:
    (vector,) = [v for v in EXTENSIONS if v.extra.get("no_initial_identification")]
    ext = _decode_one_extension(vector.data)
    assert isinstance(ext, ReplayProtectionStyle)
    assert ext.initial_identification is None
    assert ext.to_dict()["initial_identification"] is None


@pytest.mark.parametrize("vector", AUTHENTICATED, ids=str)
def test_vector_authenticators_verify(vector: Vector) -> None:
    message = decode_control_message(vector.data)
    for entry in vector.extra["auth"]:
        index = entry["extension"]
        key = entry["key_ascii"].encode()
        ext = message.extensions[index]
        assert ext.spi == entry["spi"]  # type: ignore[union-attr]
        assert auth.verify(message, index, key) is True
        assert auth.verify(message, index, key[:-1] + b"?") is False


@pytest.mark.parametrize("vector", AUTHENTICATED, ids=str)
def test_vector_authenticators_reproduced_by_seal(vector: Vector) -> None:
    """Cutting the message before each authenticator and sealing it again with the vector's
    key gives the vector's bytes up to the end of that authenticator."""
    message = decode_control_message(vector.data)
    for entry in vector.extra["auth"]:
        index = entry["extension"]
        template = message.extensions[index]
        assert isinstance(template, AuthenticationExtension)
        cut = dataclasses.replace(message, extensions=message.extensions[:index])
        resealed = auth.seal(cut, template, entry["key_ascii"].encode())
        upto = dataclasses.replace(message, extensions=message.extensions[: index + 1])
        assert resealed.encode() == upto.encode()
        assert vector.data.startswith(resealed.encode())


# --- the vector set covers what issue 2 lists ----------------------------------------------


def _decoded_messages() -> list[ControlMessage]:
    return [decode_control_message(v.data) for v in MESSAGES]


def test_every_message_type_has_vectors() -> None:
    assert {m.TYPE for m in _decoded_messages()} == {1, 3, 16, 17, 18, 19}


def test_every_request_flag_alone_has_a_vector() -> None:
    alone = {
        m.flags
        for m in _decoded_messages()
        if type(m) is RegistrationRequest and bin(int(m.flags)).count("1") == 1
    }
    assert alone == {RegistrationFlags[x] for x in "SBDMGT"}


def test_every_handoff_variant_and_flag_has_a_vector() -> None:
    for cls in (HandoffRequest, HandoffReply):
        messages = [m for m in _decoded_messages() if isinstance(m, cls)]
        assert {m.variant.value for m in messages} == {"s", "t", "r", "htt"}
        seen = functools.reduce(operator.or_, (m.flags for m in messages))
        assert seen == functools.reduce(operator.or_, HandoffFlags)
        assert {m.lifetime for m in messages} >= {0, 0xFFFF}
    codes = {m.code for m in _decoded_messages() if isinstance(m, HandoffReply)}
    assert codes >= {0, 1}


def test_every_extension_and_sub_type_has_a_vector() -> None:
    exts = [_decode_one_extension(v.data) for v in EXTENSIONS]
    types = {e.to_dict()["type"] for e in exts}
    assert types >= {0, 32, 33, 34, 36, 46, 130, 131, 132, 138, 140, 141, 142}
    assert any(isinstance(e, UnknownSkippableExtension) for e in exts)
    lla = {e.sub_type for e in exts if isinstance(e, LinkLayerAddress)}
    assert lla >= {1, 2, 3, 4, 5, 6, 7} and lla - {1, 2, 3, 4, 5, 6, 7}
    generalized = {e.subtype for e in exts if isinstance(e, GeneralizedAuthentication)}
    assert generalized >= {1, 2, 3}


def test_digest_vectors_are_present_byte_for_byte() -> None:
    """Digest §10 vectors A, B and C appear exactly."""
    by_name = {v.name: v.data.hex() for v in VECTORS}
    assert by_name["rrq-digest-vector-a"] == (
        "01020708" "0a00000a" "0a000001" "c0000201" "e8a1b2c300000001"
        "201400000100" "63b0b06ddd213e28b0bcaeea77111533" "8a0703020000000001"
    )  # fmt: skip
    assert by_name["hrqst-s-digest-vector-b"] == (
        "10840000" "000a0000" "0a00000a" "0a000001" "e8a1b2c300000002" "8a0703020000000001"
        "2402001400000200" "4d22bee643ab119bf913ae6df14524f6"
    )  # fmt: skip
    assert by_name["hrply-s-digest-vector-c"] == (
        "11840000" "000a0000" "00000000" "00000000" "e8a1b2c300000002"
        "2402001400000200" "daa26e7aeacb827f354b324ea4161c5b"
    )  # fmt: skip


def test_every_vector_names_its_rfc_section() -> None:
    for vector in VECTORS:
        assert vector.rfc.startswith("RFC ") and "§" in vector.rfc, vector.name
