"""Extensions of Mobile IP control messages on UDP 434 (RFC 5944 §1.8-1.11, §3.5).

One number space shared by Registration Request/Reply, Regional Registration Request/Reply
and Handoff Request/Reply. Types 0-127 are non-skippable (an unknown one makes the receiver
discard the whole message), 128-255 skippable (an unknown one is kept byte for byte and
re-encoded unchanged). Type 140 here is RFC 4857's Hierarchical Foreign Agent extension, not
the router-discovery LLA (digest §0.2).

Formats (RFC 5944 §1.9-1.11):

- padding:  ``Type(0)`` alone;
- simple:   ``Type | Length | Data``, Length counts Data;
- short:    ``Type | Length | Sub-Type | Data``, Length counts Sub-Type and Data;
- long:     ``Type | Sub-Type | Length(16) | Data``, Length counts Data (type 36 only here).

Offsets in errors count from the first byte of the message.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import ClassVar, TypeVar

from mip4.errors import LocalUsageError
from mip4.wire._util import decoded_builder, ipv4
from mip4.wire.errors import (
    AuthenticatorLengthError,
    LengthError,
    TruncatedError,
    UnknownMandatoryExtension,
)
from mip4.wire.lla import LlaValue, decode_lla_value, lla_name, lla_sub_type


class ControlExtensionType(enum.IntEnum):
    """Control-message extension types this codec understands (digest §1.2)."""

    PADDING = 0  # RFC 5944 §1.8
    MOBILE_HOME_AUTH = 32  # RFC 5944 §3.5.2
    MOBILE_FOREIGN_AUTH = 33  # RFC 5944 §3.5.3
    FOREIGN_HOME_AUTH = 34  # RFC 5944 §3.5.4
    GENERALIZED_AUTH = 36  # RFC 4721 §5
    GFA_IP_ADDRESS = 46  # RFC 4857 §9.1
    ENCAPSULATING_DELIVERY_STYLE = 130  # RFC 3024 §3.3
    MOBILE_NODE_NAI = 131  # RFC 2794
    MN_FA_CHALLENGE = 132  # RFC 4721 §4
    LINK_LAYER_ADDRESS = 138  # RFC 4881 §9
    HIERARCHICAL_FOREIGN_AGENT = 140  # RFC 4857 §9.2
    REPLAY_PROTECTION_STYLE = 141  # RFC 4857 §9.3
    REGIONAL_REGISTRATION_LIFETIME = 142  # RFC 4857 §9.4


class GeneralizedAuthSubtype(enum.IntEnum):
    """Sub-types of the Generalized Authentication extension (type 36)."""

    MN_AAA = 1  # RFC 4721 §6
    FA_FA = 2  # RFC 4857 §11; protects HRqst/HRply, RFC 4881 §4.5
    MN_GFA = 3  # RFC 4857 §11


_E = TypeVar("_E")

_AUTH_HEADER = struct.Struct("!BBI")  # Type, Length, SPI
_LONG_HEADER = struct.Struct("!BBHI")  # Type, Sub-Type, Length, SPI
_ADDR_EXT = struct.Struct("!BBH4s")  # Type, Length=6, Reserved, address (RFC 4857 §9)
_LIFETIME_EXT = struct.Struct("!BBHI")  # Type, Length=6, Reserved, lifetime


def _reserved16(value: int) -> int:
    """A 16-bit reserved field value, refusing what two bytes cannot hold (a caller's mistake)."""
    if not 0 <= value <= 0xFFFF:
        raise LocalUsageError(f"reserved value {value} does not fit in 16 bits")
    return value


def _length(value: int, maximum: int) -> int:
    """A Length field value, refusing what the field cannot hold (a caller's mistake)."""
    if value > maximum:
        raise LocalUsageError(f"extension data needs Length {value}, the field holds {maximum}")
    return value


@dataclass(frozen=True, slots=True)
class Padding:
    """One-byte padding (RFC 5944 §1.8): a lone zero byte with no Length."""

    TYPE: ClassVar[int] = ControlExtensionType.PADDING

    def encode(self) -> bytes:
        return b"\x00"

    def to_dict(self) -> dict[str, object]:
        return {"type": 0, "name": "padding"}


@dataclass(frozen=True, slots=True)
class _Authentication:
    """Shared shape of the MN-HA / MN-FA / FA-HA authentication extensions (RFC 5944 §3.5.1).

    ``Type | Length (= 4 + authenticator bytes) | SPI (4) | Authenticator``. The MAC covers
    the message up to and including the SPI (RFC 5944 §3.5.1); see :mod:`mip4.wire.auth`.
    """

    TYPE: ClassVar[int]
    NAME: ClassVar[str]
    spi: int
    authenticator: bytes

    def header(self) -> bytes:
        """The bytes of this extension that the authenticator itself covers."""
        return _AUTH_HEADER.pack(self.TYPE, _length(4 + len(self.authenticator), 255), self.spi)

    def encode(self) -> bytes:
        return self.header() + self.authenticator

    def to_dict(self) -> dict[str, object]:
        return {
            "type": int(self.TYPE),
            "name": self.NAME,
            "spi": self.spi,
            "authenticator": self.authenticator.hex(),
        }


@dataclass(frozen=True, slots=True)
class MobileHomeAuthentication(_Authentication):
    """Mobile-Home Authentication extension, type 32 (RFC 5944 §3.5.2)."""

    TYPE: ClassVar[int] = ControlExtensionType.MOBILE_HOME_AUTH
    NAME: ClassVar[str] = "mobile_home_authentication"


@dataclass(frozen=True, slots=True)
class MobileForeignAuthentication(_Authentication):
    """Mobile-Foreign Authentication extension, type 33 (RFC 5944 §3.5.3)."""

    TYPE: ClassVar[int] = ControlExtensionType.MOBILE_FOREIGN_AUTH
    NAME: ClassVar[str] = "mobile_foreign_authentication"


@dataclass(frozen=True, slots=True)
class ForeignHomeAuthentication(_Authentication):
    """Foreign-Home Authentication extension, type 34 (RFC 5944 §3.5.4)."""

    TYPE: ClassVar[int] = ControlExtensionType.FOREIGN_HOME_AUTH
    NAME: ClassVar[str] = "foreign_home_authentication"


@dataclass(frozen=True, slots=True)
class GeneralizedAuthentication:
    """Generalized Mobile IP Authentication extension, type 36, long format (RFC 4721 §5).

    ``Type | Subtype | Length(16) (= 4 + authenticator bytes, >= 20) | SPI | Authenticator``.
    Sub-type 2 is FA-FA (RFC 4857 §11), which RFC 4881 §4.5 requires on every HRqst/HRply.
    """

    TYPE: ClassVar[int] = ControlExtensionType.GENERALIZED_AUTH
    MIN_LENGTH: ClassVar[int] = 20  # RFC 4721 §5: "Length ... MUST be at least 20"
    subtype: int
    spi: int
    authenticator: bytes

    def header(self) -> bytes:
        """The 8 bytes of this extension that the authenticator covers (RFC 4721 §6)."""
        length = _length(4 + len(self.authenticator), 0xFFFF)
        return _LONG_HEADER.pack(self.TYPE, self.subtype, length, self.spi)

    def encode(self) -> bytes:
        return self.header() + self.authenticator

    def to_dict(self) -> dict[str, object]:
        try:
            sub_name = GeneralizedAuthSubtype(self.subtype).name.lower()
        except ValueError:
            sub_name = f"unassigned_{self.subtype}"
        return {
            "type": int(self.TYPE),
            "name": "generalized_authentication",
            "sub_type": self.subtype,
            "sub_type_name": sub_name,
            "spi": self.spi,
            "authenticator": self.authenticator.hex(),
        }


@dataclass(frozen=True, slots=True)
class LinkLayerAddress:
    """Generalized Link Layer and IPv4 Address extension in control messages, type 138.

    RFC 4881 §9: ``Type | Length (= 1 + LLA bytes) | Sub-Type | LLA``. The value is one of the
    typed sub-type values of :mod:`mip4.wire.lla`.
    """

    TYPE: ClassVar[int] = ControlExtensionType.LINK_LAYER_ADDRESS
    value: LlaValue

    @property
    def sub_type(self) -> int:
        return lla_sub_type(self.value)

    def encode(self) -> bytes:
        body = self.value.encode()
        return bytes((self.TYPE, _length(1 + len(body), 255), self.sub_type)) + body

    def to_dict(self) -> dict[str, object]:
        return {
            "type": int(self.TYPE),
            "name": "link_layer_address",
            "sub_type": self.sub_type,
            "sub_type_name": lla_name(self.sub_type),
            "value": self.value.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class EncapsulatingDeliveryStyle:
    """Encapsulating Delivery Style extension, type 130, Length 0 (RFC 3024 §3.3)."""

    TYPE: ClassVar[int] = ControlExtensionType.ENCAPSULATING_DELIVERY_STYLE

    def encode(self) -> bytes:
        return bytes((self.TYPE, 0))

    def to_dict(self) -> dict[str, object]:
        return {"type": int(self.TYPE), "name": "encapsulating_delivery_style"}


@dataclass(frozen=True, slots=True)
class MobileNodeNai:
    """Mobile Node NAI extension, type 131 (RFC 2794): the NAI as bytes (UTF-8 in practice)."""

    TYPE: ClassVar[int] = ControlExtensionType.MOBILE_NODE_NAI
    nai: bytes

    def encode(self) -> bytes:
        return bytes((self.TYPE, _length(len(self.nai), 255))) + self.nai

    def to_dict(self) -> dict[str, object]:
        return {
            "type": int(self.TYPE),
            "name": "mobile_node_nai",
            "nai": self.nai.decode("utf-8", "replace"),
        }


@dataclass(frozen=True, slots=True)
class MnFaChallenge:
    """MN-FA Challenge extension, type 132 (RFC 4721 §4): the challenge from the advertisement."""

    TYPE: ClassVar[int] = ControlExtensionType.MN_FA_CHALLENGE
    challenge: bytes

    def encode(self) -> bytes:
        return bytes((self.TYPE, _length(len(self.challenge), 255))) + self.challenge

    def to_dict(self) -> dict[str, object]:
        return {
            "type": int(self.TYPE),
            "name": "mn_fa_challenge",
            "challenge": self.challenge.hex(),
        }


@dataclass(frozen=True, slots=True)
class GfaIpAddress:
    """GFA IP Address extension, type 46, non-skippable (RFC 4857 §9.1).

    ``Type | Length = 6 | Reserved (2) | GFA IP Address``. RFC 4857 only draws the reserved
    bytes (no "must be zero" on receipt): we send zero, keep what arrives in ``reserved`` and
    re-encode it as received.
    """

    TYPE: ClassVar[int] = ControlExtensionType.GFA_IP_ADDRESS
    address: IPv4Address
    reserved: int = 0

    def encode(self) -> bytes:
        return _ADDR_EXT.pack(self.TYPE, 6, _reserved16(self.reserved), self.address.packed)

    def to_dict(self) -> dict[str, object]:
        return {
            "type": int(self.TYPE),
            "name": "gfa_ip_address",
            "address": str(self.address),
            "reserved": self.reserved,
        }


@dataclass(frozen=True, slots=True)
class HierarchicalForeignAgent:
    """Hierarchical Foreign Agent (HFA) extension, type 140 in control messages (RFC 4857 §9.2).

    ``Type | Length = 6 | Reserved (2) | FA IP Address``. Not the router-discovery LLA. The
    reserved bytes are kept in ``reserved`` and re-encoded as received (see
    :class:`GfaIpAddress`).
    """

    TYPE: ClassVar[int] = ControlExtensionType.HIERARCHICAL_FOREIGN_AGENT
    address: IPv4Address
    reserved: int = 0

    def encode(self) -> bytes:
        return _ADDR_EXT.pack(self.TYPE, 6, _reserved16(self.reserved), self.address.packed)

    def to_dict(self) -> dict[str, object]:
        return {
            "type": int(self.TYPE),
            "name": "hierarchical_foreign_agent",
            "address": str(self.address),
            "reserved": self.reserved,
        }


class ReplayProtectionStyleValue(enum.IntEnum):
    """Replay Protection Style values (RFC 4857 §9.3)."""

    TIMESTAMP = 0
    NONCE = 1


@dataclass(frozen=True, slots=True)
class ReplayProtectionStyle:
    """Replay Protection Style extension, type 141 (RFC 4857 §9.3).

    The RFC draws ``Type | Length | Style (2) | Initial Identification (8)`` but says Length is
    2 (digest §4.4). We send Length 10 with the identification, and accept Length 2 (style
    only, ``initial_identification`` None) on receipt, re-encoding it as received.
    """

    TYPE: ClassVar[int] = ControlExtensionType.REPLAY_PROTECTION_STYLE
    style: int
    initial_identification: int | None = None

    def encode(self) -> bytes:
        if self.initial_identification is None:
            return struct.pack("!BBH", self.TYPE, 2, self.style)
        return struct.pack("!BBHQ", self.TYPE, 10, self.style, self.initial_identification)

    def to_dict(self) -> dict[str, object]:
        return {
            "type": int(self.TYPE),
            "name": "replay_protection_style",
            "style": self.style,
            "initial_identification": self.initial_identification,
        }


@dataclass(frozen=True, slots=True)
class RegionalRegistrationLifetime:
    """Regional Registration Lifetime extension, type 142 (RFC 4857 §9.4).

    ``Type | Length = 6 | Reserved (2) | Lifetime (32)``; 0 deregistered, 0xFFFF infinite.
    The reserved bytes are kept in ``reserved`` and re-encoded as received (see
    :class:`GfaIpAddress`).
    """

    TYPE: ClassVar[int] = ControlExtensionType.REGIONAL_REGISTRATION_LIFETIME
    lifetime: int
    reserved: int = 0

    def encode(self) -> bytes:
        return _LIFETIME_EXT.pack(self.TYPE, 6, _reserved16(self.reserved), self.lifetime)

    def to_dict(self) -> dict[str, object]:
        return {
            "type": int(self.TYPE),
            "name": "regional_registration_lifetime",
            "lifetime": self.lifetime,
            "reserved": self.reserved,
        }


@dataclass(frozen=True, slots=True)
class UnknownSkippableExtension:
    """An extension of type 128-255 this codec does not know, kept byte for byte."""

    ext_type: int
    data: bytes

    def encode(self) -> bytes:
        return bytes((self.ext_type, _length(len(self.data), 255))) + self.data

    def to_dict(self) -> dict[str, object]:
        return {"type": self.ext_type, "name": "unknown", "data": self.data.hex()}


AuthenticationExtension = (
    MobileHomeAuthentication
    | MobileForeignAuthentication
    | ForeignHomeAuthentication
    | GeneralizedAuthentication
)

ControlExtension = (
    Padding
    | MobileHomeAuthentication
    | MobileForeignAuthentication
    | ForeignHomeAuthentication
    | GeneralizedAuthentication
    | LinkLayerAddress
    | EncapsulatingDeliveryStyle
    | MobileNodeNai
    | MnFaChallenge
    | GfaIpAddress
    | HierarchicalForeignAgent
    | ReplayProtectionStyle
    | RegionalRegistrationLifetime
    | UnknownSkippableExtension
)

# Types below 128 this codec decodes with the Type | Length layout (36 has its own path).
# Decoders build these through their slots (see decoded_builder): they run per message.
_build_lla = decoded_builder(LinkLayerAddress)
_build_generalized_auth = decoded_builder(GeneralizedAuthentication)
# The RFC 5944 authentication extensions (32, 33, 34), each built from (spi, authenticator).
_AUTH_BUILDERS: dict[int, Callable[[int, bytes], ControlExtension]] = {
    MobileHomeAuthentication.TYPE: decoded_builder(MobileHomeAuthentication),
    MobileForeignAuthentication.TYPE: decoded_builder(MobileForeignAuthentication),
    ForeignHomeAuthentication.TYPE: decoded_builder(ForeignHomeAuthentication),
}

# Types below 128 this codec decodes with the Type | Length layout (36 has its own path).
_KNOWN_NON_SKIPPABLE = frozenset((*_AUTH_BUILDERS, ControlExtensionType.GFA_IP_ADDRESS))
_GENERALIZED_AUTH = int(ControlExtensionType.GENERALIZED_AUTH)  # plain int: hot loop below
_SPI = struct.Struct("!I")
_SPI_AT = _SPI.unpack_from


def encode_extensions(extensions: tuple[ControlExtension, ...]) -> bytes:
    """Concatenate the encodings of ``extensions`` in order."""
    return b"".join([ext.encode() for ext in extensions])


def decode_extensions(data: bytes, start: int) -> tuple[ControlExtension, ...]:
    """Decode every extension from ``start`` to the end of ``data`` (RFC 5944 §1.8).

    Offsets in errors are absolute positions in ``data``. Raises
    :class:`UnknownMandatoryExtension` for an unknown type below 128.
    """
    end = len(data)
    if start + 6 <= end:
        # The common case, first: the extensions are exactly one MN-HA, MN-FA or FA-HA
        # authenticator (a relayed or answered registration). Anything else, including
        # every malformed case, takes the loop below, which reports it.
        auth_build = _AUTH_BUILDERS.get(data[start])
        if auth_build is not None and start + 2 + data[start + 1] == end:
            return (auth_build(_SPI_AT(data, start + 2)[0], data[start + 6 : end]),)
    out: list[ControlExtension] = []
    pos = start
    while pos < end:
        ext_type = data[pos]
        auth_build = _AUTH_BUILDERS.get(ext_type)
        if auth_build is not None and pos + 6 <= end:
            body_end = pos + 2 + data[pos + 1]
            if pos + 6 <= body_end <= end:  # the SPI fits and the body is all there
                out.append(auth_build(_SPI_AT(data, pos + 2)[0], data[pos + 6 : body_end]))
                pos = body_end
                continue
        if ext_type == 0:
            out.append(Padding())
            pos += 1
            continue
        if ext_type == _GENERALIZED_AUTH:
            out.append(_decode_generalized_auth(data, pos))
            pos += 4 + int.from_bytes(data[pos + 2 : pos + 4], "big")
            continue
        if ext_type < 128 and ext_type not in _KNOWN_NON_SKIPPABLE:
            # RFC 5944 §1.8: the whole message is discarded. Its format (and so the meaning
            # of the byte after it) is unknown, so nothing after the type byte is read.
            raise UnknownMandatoryExtension(ext_type, offset=pos)
        if pos + 2 > end:
            raise TruncatedError(
                f"extension type {ext_type} has no Length byte",
                field="extension.length",
                offset=pos + 1,
            )
        length = data[pos + 1]
        body_start = pos + 2
        body_end = body_start + length
        if body_end > end:
            raise TruncatedError(
                f"extension type {ext_type} declares Length {length}, "
                f"only {end - body_start} bytes remain",
                field="extension.length",
                offset=pos + 1,
            )
        out.append(_decode_one(ext_type, data, pos, body_start, body_end))
        pos = body_end
    return tuple(out)


def _decode_one(ext_type: int, data: bytes, pos: int, start: int, end: int) -> ControlExtension:
    if ext_type in _AUTH_BUILDERS:  # decode_extensions has built every one whose SPI fits
        raise AuthenticatorLengthError(
            f"Length {end - start} cannot hold the 4-byte SPI",
            field="extension.length",
            offset=pos + 1,
        )
    body = data[start:end]
    if ext_type == ControlExtensionType.LINK_LAYER_ADDRESS:
        if not body:
            raise LengthError(
                "LLA extension needs a Sub-Type byte", field="extension.length", offset=pos + 1
            )
        return _build_lla(decode_lla_value(body[0], body[1:], start + 1))
    if ext_type == ControlExtensionType.ENCAPSULATING_DELIVERY_STYLE:
        _expect_length(body, 0, pos)
        return EncapsulatingDeliveryStyle()
    if ext_type == ControlExtensionType.MOBILE_NODE_NAI:
        return MobileNodeNai(nai=body)
    if ext_type == ControlExtensionType.MN_FA_CHALLENGE:
        return MnFaChallenge(challenge=body)
    if ext_type in (
        ControlExtensionType.GFA_IP_ADDRESS,
        ControlExtensionType.HIERARCHICAL_FOREIGN_AGENT,
    ):
        _expect_length(body, 6, pos)
        cls = (
            GfaIpAddress
            if ext_type == ControlExtensionType.GFA_IP_ADDRESS
            else HierarchicalForeignAgent
        )
        # RFC 4857 §9.1, §9.2 only draw the reserved bytes: kept, not rejected.
        return cls(address=ipv4(body[2:6]), reserved=int.from_bytes(body[:2], "big"))
    if ext_type == ControlExtensionType.REPLAY_PROTECTION_STYLE:
        if len(body) == 2:
            return ReplayProtectionStyle(style=int.from_bytes(body, "big"))
        _expect_length(body, 10, pos)
        return ReplayProtectionStyle(
            style=int.from_bytes(body[:2], "big"),
            initial_identification=int.from_bytes(body[2:], "big"),
        )
    if ext_type == ControlExtensionType.REGIONAL_REGISTRATION_LIFETIME:
        _expect_length(body, 6, pos)
        # RFC 4857 §9.4 only draws the reserved bytes: kept, not rejected.
        return RegionalRegistrationLifetime(
            lifetime=int.from_bytes(body[2:], "big"), reserved=int.from_bytes(body[:2], "big")
        )
    if ext_type < 128:
        raise UnknownMandatoryExtension(ext_type, offset=pos)
    return UnknownSkippableExtension(ext_type=ext_type, data=body)


def _decode_generalized_auth(data: bytes, pos: int) -> GeneralizedAuthentication:
    if pos + 2 > len(data):
        raise TruncatedError(
            "Generalized Authentication has no Subtype byte",
            field="extension.sub_type",
            offset=pos + 1,
        )
    if pos + 4 > len(data):
        raise TruncatedError(
            "Generalized Authentication has no 2-byte Length",
            field="extension.length",
            offset=pos + 2,
        )
    subtype = data[pos + 1]
    length = int.from_bytes(data[pos + 2 : pos + 4], "big")
    if length < GeneralizedAuthentication.MIN_LENGTH:
        raise AuthenticatorLengthError(
            f"Length {length} is below the minimum of 20 (RFC 4721 §5)",
            field="extension.length",
            offset=pos + 2,
        )
    if pos + 4 + length > len(data):
        raise TruncatedError(
            f"Generalized Authentication declares Length {length}, "
            f"only {len(data) - pos - 4} bytes remain",
            field="extension.length",
            offset=pos + 2,
        )
    return _build_generalized_auth(  # fields: subtype, spi, authenticator
        subtype, _SPI.unpack_from(data, pos + 4)[0], data[pos + 8 : pos + 4 + length]
    )


def _expect_length(body: bytes, length: int, pos: int) -> None:
    if len(body) != length:
        raise LengthError(
            f"Length must be {length}, got {len(body)}", field="extension.length", offset=pos + 1
        )


def find_extension(extensions: tuple[ControlExtension, ...], cls: type[_E]) -> _E | None:
    """The first extension of class ``cls``, or None."""
    for ext in extensions:
        if isinstance(ext, cls):
            return ext
    return None


__all__ = [
    "AuthenticationExtension",
    "ControlExtension",
    "ControlExtensionType",
    "EncapsulatingDeliveryStyle",
    "ForeignHomeAuthentication",
    "GeneralizedAuthSubtype",
    "GeneralizedAuthentication",
    "GfaIpAddress",
    "HierarchicalForeignAgent",
    "LinkLayerAddress",
    "MnFaChallenge",
    "MobileForeignAuthentication",
    "MobileHomeAuthentication",
    "MobileNodeNai",
    "Padding",
    "RegionalRegistrationLifetime",
    "ReplayProtectionStyle",
    "ReplayProtectionStyleValue",
    "UnknownSkippableExtension",
    "decode_extensions",
    "encode_extensions",
    "find_extension",
]
