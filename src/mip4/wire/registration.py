"""Registration Request/Reply (RFC 5944 §3.3-3.4) and Regional Registration Request/Reply
(RFC 4857 §10.1-10.2).

The regional messages share the layouts of the home ones with the Home Agent field replaced
by the GFA IP Address, so one pair of classes with a ``TYPE`` each covers all four.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import ClassVar, Self

from mip4.wire._util import (
    _BUILDERS,
    cached_ipv4,
    decoded_builder,
    flag_dict,
    ipv4,
    need_layout,
)
from mip4.wire.errors import ReservedValueError, ValueDecodeError
from mip4.wire.extensions import (
    _AUTH_BUILDERS,
    ControlExtension,
    decode_extensions,
    encode_extensions,
)

INFINITE_LIFETIME = 0xFFFF  # RFC 5944 §3.3: "all ones indicates infinity"


class MessageType(enum.IntEnum):
    """Mobile IP control message types on UDP 434 (digest §1.1)."""

    REGISTRATION_REQUEST = 1  # RFC 5944 §3.3
    REGISTRATION_REPLY = 3  # RFC 5944 §3.4
    HANDOFF_REQUEST = 16  # RFC 4881 §4.5
    HANDOFF_REPLY = 17  # RFC 4881 §4.6
    REGIONAL_REGISTRATION_REQUEST = 18  # RFC 4857 §10.1
    REGIONAL_REGISTRATION_REPLY = 19  # RFC 4857 §10.2


class RegistrationFlags(enum.IntFlag):
    """Byte 1 of a (Regional) Registration Request, RFC 5944 §3.3 and RFC 3024 §3.1."""

    S = 0x80  # simultaneous bindings
    B = 0x40  # broadcast datagrams
    D = 0x20  # decapsulation by the mobile node (co-located care-of address)
    M = 0x10  # minimal encapsulation
    G = 0x08  # GRE encapsulation
    r = 0x04  # reserved, sent as zero (formerly V)
    T = 0x02  # reverse tunnelling requested (RFC 3024)
    x = 0x01  # reserved, sent as zero

    NONE = 0


# Plain ints: IntFlag arithmetic on every decoded message would cost more than the decode.
_RESERVED_REQUEST_FLAGS = int(RegistrationFlags.r | RegistrationFlags.x)
# Every byte value as its flag set, looked up instead of constructing the enum per message.
_FLAGS_BY_BYTE = tuple(RegistrationFlags(value) for value in range(256))


class ReplyCode(enum.IntEnum):
    """Registration Reply codes (RFC 5944 §3.4, RFC 3024, RFC 4857, RFC 4721; digest §1.5).

    The ``code`` field of a reply stays a plain ``int`` so unassigned values re-encode
    exactly; compare it with these members.
    """

    ACCEPTED = 0
    ACCEPTED_NO_SIMULTANEOUS_BINDINGS = 1
    # Foreign agent (RFC 5944 §3.4 unless noted)
    FA_REASON_UNSPECIFIED = 64
    FA_ADMINISTRATIVELY_PROHIBITED = 65
    FA_INSUFFICIENT_RESOURCES = 66
    FA_MN_FAILED_AUTHENTICATION = 67
    FA_HA_FAILED_AUTHENTICATION = 68
    FA_LIFETIME_TOO_LONG = 69
    FA_POORLY_FORMED_REQUEST = 70
    FA_POORLY_FORMED_REPLY = 71
    FA_ENCAPSULATION_UNAVAILABLE = 72
    FA_RESERVED_UNAVAILABLE = 73
    FA_REVERSE_TUNNEL_UNAVAILABLE = 74  # RFC 3024
    FA_REVERSE_TUNNEL_MANDATORY = 75  # RFC 3024
    FA_MN_TOO_DISTANT = 76  # RFC 3024
    FA_INVALID_CARE_OF_ADDRESS = 77
    FA_REGISTRATION_TIMEOUT = 78
    FA_DELIVERY_STYLE_NOT_SUPPORTED = 79  # RFC 3024
    FA_HOME_NETWORK_UNREACHABLE = 80
    FA_HA_HOST_UNREACHABLE = 81
    FA_HA_PORT_UNREACHABLE = 82
    FA_HA_UNREACHABLE = 88
    FA_NONZERO_HOME_ADDRESS_REQUIRED = 96  # RFC 2794
    FA_MISSING_NAI = 97  # RFC 2794
    FA_MISSING_HOME_AGENT = 98  # RFC 2794
    FA_MISSING_HOME_ADDRESS = 99  # RFC 2794
    FA_UNKNOWN_CHALLENGE = 104  # RFC 4721
    FA_MISSING_CHALLENGE = 105  # RFC 4721
    FA_STALE_CHALLENGE = 106  # RFC 4721
    FA_MN_FAILED_AAA_AUTHENTICATION = 108  # RFC 4721
    FA_HA_SENT_WRONG_CHALLENGE = 109  # RFC 4721
    REPLAY_PROTECTION_UNAVAILABLE = 110  # RFC 4857 §9.5 (GFA, in the FA range)
    ZERO_COA_NOT_SUPPORTED = 111  # RFC 4857 §9.5
    UNKNOWN_GFA = 112  # RFC 4857 §10.3
    GFA_UNREACHABLE = 113  # RFC 4857 §10.3
    GFA_HOST_UNREACHABLE = 114  # RFC 4857 §10.3
    GFA_PORT_UNREACHABLE = 115  # RFC 4857 §10.3
    # Home agent (RFC 5944 §3.4 unless noted)
    HA_REASON_UNSPECIFIED = 128
    HA_ADMINISTRATIVELY_PROHIBITED = 129
    HA_INSUFFICIENT_RESOURCES = 130
    HA_MN_FAILED_AUTHENTICATION = 131
    HA_FA_FAILED_AUTHENTICATION = 132
    HA_IDENTIFICATION_MISMATCH = 133
    HA_POORLY_FORMED_REQUEST = 134
    HA_TOO_MANY_SIMULTANEOUS_BINDINGS = 135
    HA_UNKNOWN_HA_ADDRESS = 136
    HA_REVERSE_TUNNEL_UNAVAILABLE = 137  # RFC 3024
    HA_REVERSE_TUNNEL_MANDATORY = 138  # RFC 3024
    HA_ENCAPSULATION_UNAVAILABLE = 139  # RFC 3024
    HA_MN_FAILED_AAA_AUTHENTICATION = 144  # RFC 4721
    HA_ZERO_CARE_OF_ADDRESS = 145  # RFC 4857 §9.5
    HA_DYNAMIC_GFA_NOT_SUPPORTED = 146  # RFC 4857 §9.5
    # Gateway foreign agent (RFC 4857 §10.3)
    GFA_NO_HOME_REGISTRATION = 193
    # Sent by an FA although it sits in the GFA block (RFC 5944 §3.4, digest §0.2)
    FA_INVALID_HA_ADDRESS = 194

    @classmethod
    def name_of(cls, code: int) -> str:
        """The member name for ``code`` in lower case, or ``unassigned_<code>``."""
        try:
            return cls(code).name.lower()
        except ValueError:
            return f"unassigned_{code}"

    @staticmethod
    def is_success(code: int) -> bool:
        """Codes 0-8 accept the registration (RFC 5944 §6.4)."""
        return 0 <= code <= 8


_REQUEST = struct.Struct("!BBH4s4s4sQ")  # 24 bytes, RFC 5944 §3.3
_REPLY = struct.Struct("!BBH4s4sQ")  # 20 bytes, RFC 5944 §3.4
_unpack_request = _REQUEST.unpack_from
# The fixed part followed by an authentication extension's Type, Length and SPI (§3.5.1).
_REQUEST_AND_AUTH_HEADER = struct.Struct("!BBH4s4s4sQBBI")
_unpack_request_and_auth_header = _REQUEST_AND_AUTH_HEADER.unpack_from
# Plain ints: a Struct's size is a descriptor, looked up on every use.
_REQUEST_SIZE = _REQUEST.size
_REQUEST_AND_AUTH_HEADER_SIZE = _REQUEST_AND_AUTH_HEADER.size


def _request_layout(agent: str) -> tuple[tuple[str, int, int], ...]:
    """(field, offset, size) of the fixed part, to name the field a short buffer cuts."""
    return (
        ("type", 0, 1),
        ("flags", 1, 1),
        ("lifetime", 2, 2),
        ("home_address", 4, 4),
        (agent, 8, 4),
        ("care_of_address", 12, 4),
        ("identification", 16, 8),
    )


def _reply_layout(agent: str) -> tuple[tuple[str, int, int], ...]:
    return (
        ("type", 0, 1),
        ("code", 1, 1),
        ("lifetime", 2, 2),
        ("home_address", 4, 4),
        (agent, 8, 4),
        ("identification", 12, 8),
    )


def _check_type(data: bytes, expected: MessageType, cls: str) -> None:
    if data and data[0] != expected:
        raise ValueDecodeError(
            f"type {data[0]} is not a {cls} ({int(expected)})", field="type", offset=0
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationRequest:
    """Registration Request, RFC 5944 §3.3 (UDP destination port 434).

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Type      |S|B|D|M|G|r|T|x|          Lifetime             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                          Home Address                         |
    |                           Home Agent                          |
    |                        Care-of Address                        |
    |                         Identification (64 bits)              |
    | Extensions ...
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    Lifetime is in seconds (0 deregisters, 0xFFFF is infinite). The reserved bits r and x
    must be zero: the decoder raises :class:`ReservedValueError` naming ``flags.r`` or
    ``flags.x``, which an FA answers with 70 and an HA with 134 (RFC 5944 §3.7.2.1, §3.8.2.3).
    """

    TYPE: ClassVar[MessageType] = MessageType.REGISTRATION_REQUEST
    _TYPE: ClassVar[int] = int(TYPE)  # a plain int: compared on every decode
    FIXED_SIZE: ClassVar[int] = _REQUEST.size
    _LAYOUT: ClassVar[tuple[tuple[str, int, int], ...]] = _request_layout("home_agent")

    flags: RegistrationFlags = RegistrationFlags.NONE
    lifetime: int
    home_address: IPv4Address
    home_agent: IPv4Address
    care_of_address: IPv4Address
    identification: int
    extensions: tuple[ControlExtension, ...] = ()
    # The bytes a decoded message came from (not a field of the message: not compared, not
    # copied by dataclasses.replace). Authenticator verification reads its MAC input here.
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def encode_fixed(self) -> bytes:
        return _REQUEST.pack(
            self.TYPE,
            self.flags,
            self.lifetime,
            self.home_address.packed,
            self.home_agent.packed,
            self.care_of_address.packed,
            self.identification,
        )

    def encode(self) -> bytes:
        return self.encode_fixed() + encode_extensions(self.extensions)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        size = len(data)
        if size < _REQUEST_SIZE or data[0] != cls._TYPE:  # the checks, only when one fails
            _check_type(data, cls.TYPE, cls.__name__)
            need_layout(data, cls._LAYOUT)
        if size >= _REQUEST_AND_AUTH_HEADER_SIZE:
            # One unpack for the fixed part and the header of what follows it: in the usual
            # layout, one MN-HA/MN-FA/FA-HA authenticator (Type, Length, SPI) that fills
            # the rest of the message (RFC 5944 §3.2).
            _, flags, lifetime, home, agent, coa, ident, ext_type, length, spi = (
                _unpack_request_and_auth_header(data)
            )
        else:
            _, flags, lifetime, home, agent, coa, ident = _unpack_request(data)
            ext_type = length = spi = 0  # no room for an authenticator
        if flags & _RESERVED_REQUEST_FLAGS:
            bit = "r" if flags & RegistrationFlags.r else "x"
            raise ReservedValueError(f"reserved flag {bit} is set", field=f"flags.{bit}", offset=1)
        auth_build = _AUTH_BUILDERS.get(ext_type)
        if auth_build is not None and _REQUEST_SIZE + 2 + length == size:
            # The lone authenticator, built as decode_extensions builds one.
            extensions: tuple[ControlExtension, ...] = (
                auth_build(spi, data[_REQUEST_AND_AUTH_HEADER_SIZE:]),
            )
        else:  # any other layout, malformed included: the general decoder names what is wrong
            extensions = decode_extensions(data, _REQUEST_SIZE)
        build: Callable[..., Self] = _BUILDERS.get(cls) or decoded_builder(cls)
        return build(
            _FLAGS_BY_BYTE[flags],
            lifetime,
            cached_ipv4(home) or ipv4(home),
            cached_ipv4(agent) or ipv4(agent),
            cached_ipv4(coa) or ipv4(coa),
            ident,
            extensions,
            data if type(data) is bytes else None,  # _wire
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "message": _message_name(self.TYPE),
            "type": int(self.TYPE),
            "flags": flag_dict(self.flags, RegistrationFlags, "SBDMGT"),
            "lifetime": self.lifetime,
            "home_address": str(self.home_address),
            _agent_field(self.TYPE): str(self.home_agent),
            "care_of_address": str(self.care_of_address),
            "identification": self.identification,
            "extensions": [ext.to_dict() for ext in self.extensions],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationReply:
    """Registration Reply, RFC 5944 §3.4 (UDP source port 434).

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Type      |     Code      |           Lifetime            |
    |                          Home Address                         |
    |                           Home Agent                          |
    |                         Identification (64 bits)              |
    | Extensions ...

    ``code`` is an int (see :class:`ReplyCode`); Lifetime is the granted time in seconds.
    """

    TYPE: ClassVar[MessageType] = MessageType.REGISTRATION_REPLY
    FIXED_SIZE: ClassVar[int] = _REPLY.size
    _LAYOUT: ClassVar[tuple[tuple[str, int, int], ...]] = _reply_layout("home_agent")

    code: int
    lifetime: int
    home_address: IPv4Address
    home_agent: IPv4Address
    identification: int
    extensions: tuple[ControlExtension, ...] = ()
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def encode_fixed(self) -> bytes:
        return _REPLY.pack(
            self.TYPE,
            self.code,
            self.lifetime,
            self.home_address.packed,
            self.home_agent.packed,
            self.identification,
        )

    def encode(self) -> bytes:
        return self.encode_fixed() + encode_extensions(self.extensions)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < _REPLY.size or data[0] != cls.TYPE:  # the checks, only when one fails
            _check_type(data, cls.TYPE, cls.__name__)
            need_layout(data, cls._LAYOUT)
        _, code, lifetime, home, agent, ident = _REPLY.unpack_from(data)
        build: Callable[..., Self] = decoded_builder(cls)
        return build(
            code,
            lifetime,
            cached_ipv4(home) or ipv4(home),
            cached_ipv4(agent) or ipv4(agent),
            ident,
            decode_extensions(data, _REPLY.size),
            data if type(data) is bytes else None,  # _wire
        )

    @property
    def accepted(self) -> bool:
        return ReplyCode.is_success(self.code)

    def to_dict(self) -> dict[str, object]:
        return {
            "message": _message_name(self.TYPE),
            "type": int(self.TYPE),
            "code": self.code,
            "code_name": ReplyCode.name_of(self.code),
            "lifetime": self.lifetime,
            "home_address": str(self.home_address),
            _agent_field(self.TYPE): str(self.home_agent),
            "identification": self.identification,
            "extensions": [ext.to_dict() for ext in self.extensions],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionalRegistrationRequest(RegistrationRequest):
    """Regional Registration Request, RFC 4857 §10.1: the RRQ layout with Type 18 and the
    GFA IP Address in place of Home Agent (kept in the ``home_agent`` attribute, shown as
    ``gfa_ip_address`` in :meth:`to_dict`)."""

    TYPE: ClassVar[MessageType] = MessageType.REGIONAL_REGISTRATION_REQUEST
    _TYPE: ClassVar[int] = int(TYPE)
    _LAYOUT: ClassVar[tuple[tuple[str, int, int], ...]] = _request_layout("gfa_ip_address")

    @property
    def gfa_address(self) -> IPv4Address:
        return self.home_agent


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionalRegistrationReply(RegistrationReply):
    """Regional Registration Reply, RFC 4857 §10.2: the RRP layout with Type 19 and the
    GFA IP Address in place of Home Agent."""

    TYPE: ClassVar[MessageType] = MessageType.REGIONAL_REGISTRATION_REPLY
    _LAYOUT: ClassVar[tuple[tuple[str, int, int], ...]] = _reply_layout("gfa_ip_address")

    @property
    def gfa_address(self) -> IPv4Address:
        return self.home_agent


def _message_name(mtype: MessageType) -> str:
    return mtype.name.lower()


def _agent_field(mtype: MessageType) -> str:
    regional = mtype in (
        MessageType.REGIONAL_REGISTRATION_REQUEST,
        MessageType.REGIONAL_REGISTRATION_REPLY,
    )
    return "gfa_ip_address" if regional else "home_agent"


__all__ = [
    "INFINITE_LIFETIME",
    "MessageType",
    "RegionalRegistrationReply",
    "RegionalRegistrationRequest",
    "RegistrationFlags",
    "RegistrationReply",
    "RegistrationRequest",
    "ReplyCode",
]
