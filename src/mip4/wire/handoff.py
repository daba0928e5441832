"""Handoff Request and Handoff Reply, RFC 4881 §4.5-4.7 (UDP port 434, types 16 and 17).

The Handoff to Third (HTT, §4.2, §9.3 of the digest) has no type of its own: it is a
type-16 or type-17 message with both H and N set. :func:`HandoffRequest.variant` and
:func:`HandoffReply.variant` say which of (s), (t), (r) or HTT a message is.

Lifetime: seconds of tunnel service; 0 means no tunnel / refused / terminate, 0xFFFF
infinite (SHOULD NOT be used for BETs, §4.3).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import ClassVar, Self

from mip4.wire._util import cached_ipv4, decoded_builder, flag_dict, ipv4, need_layout
from mip4.wire.errors import ReservedValueError, ValueDecodeError
from mip4.wire.extensions import ControlExtension, decode_extensions, encode_extensions
from mip4.wire.registration import MessageType

INFINITE_HANDOFF_LIFETIME = 0xFFFF  # RFC 4881 §4.5


class HandoffFlags(enum.IntFlag):
    """Byte 1 of HRqst/HRply, RFC 4881 §4.5-4.6. Bit 0x01 is reserved."""

    H = 0x80  # source-triggered: HRqst(s)/HRply(s)
    N = 0x40  # target-triggered: HRqst(t)/HRply(t)
    R = 0x20  # renewal or termination: HRqst(r)/HRply(r)
    M = 0x10  # minimal encapsulation (RFC 2004)
    G = 0x08  # GRE encapsulation (RFC 2784)
    T = 0x04  # tunnel in both directions offered / requested
    B = 0x02  # the MN asked its HA for a reverse tunnel

    NONE = 0


class HandoffVariant(enum.Enum):
    """Which handoff message a type 16/17 is, from its H, N and R bits (RFC 4881 §4.5-4.7)."""

    SOURCE = "s"  # H: oFA got L2-ST (§4.1)
    TARGET = "t"  # N: nFA got L2-TT (§4.1)
    RENEWAL = "r"  # R: renew or terminate a BET (§4.3)
    HANDOFF_TO_THIRD = "htt"  # H and N (§4.2)


class HandoffCode(enum.IntEnum):
    """Handoff Reply codes, RFC 4881 §4.6 and §10.3 (2-255 unallocated)."""

    SUCCESS = 0
    GENERIC_FAILURE = 1


_HRQST = struct.Struct("!BBHHH4s4sQ")  # 24 bytes: Type, Flags, Reserved, Lifetime, Reserved, ...
_HRPLY = struct.Struct("!BBBBHH4s4sQ")  # 24 bytes: Type, Flags, Reserved, Code, Lifetime, ...
_RESERVED_FLAG = 0x01
# Every byte value as its flag set, looked up instead of constructing the enum per message.
_FLAGS_BY_BYTE = tuple(HandoffFlags(value) for value in range(256))
_ADDRESSES = (("mn_home_address", 8, 4), ("ha_address", 12, 4), ("identification", 16, 8))
_HRQST_LAYOUT = (
    ("type", 0, 1),
    ("flags", 1, 1),
    ("reserved", 2, 2),
    ("lifetime", 4, 2),
    ("reserved", 6, 2),
    *_ADDRESSES,
)
_HRPLY_LAYOUT = (
    ("type", 0, 1),
    ("flags", 1, 1),
    ("reserved", 2, 1),
    ("code", 3, 1),
    ("lifetime", 4, 2),
    ("reserved", 6, 2),
    *_ADDRESSES,
)


_H, _N, _R = int(HandoffFlags.H), int(HandoffFlags.N), int(HandoffFlags.R)  # plain ints: fast


def _variant(flags: int) -> HandoffVariant | None:
    h, n, r = flags & _H, flags & _N, flags & _R
    if h and n:
        return HandoffVariant.HANDOFF_TO_THIRD
    if h and not r:
        return HandoffVariant.SOURCE
    if n and not r:
        return HandoffVariant.TARGET
    if r and not (h or n):
        return HandoffVariant.RENEWAL
    return None


def _check_type(data: bytes, expected: MessageType, cls: str) -> None:
    if data and data[0] != expected:
        raise ValueDecodeError(
            f"type {data[0]} is not a {cls} ({int(expected)})", field="type", offset=0
        )


def _check_flags(flags: int) -> None:
    if flags & _RESERVED_FLAG:
        raise ReservedValueError(
            "reserved flag bit (0x01) is set", field="flags.reserved", offset=1
        )
    if _variant(flags) is None:
        raise ValueDecodeError(
            "flags name no handoff variant: exactly one of H, N, R (or H and N for an HTT)",
            field="flags",
            offset=1,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffRequest:
    """Handoff Request (HRqst), RFC 4881 §4.5.

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Type      |H|N|R|M|G|T|B|          Reserved               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           Lifetime            |          Reserved             |
    |                       MN Home Address                         |
    |                       HA Address                              |
    |                       Identification (64 bits)                |
    | Extensions ...

    Non-zero reserved bits or bytes, and a flag set that names no variant, are rejected
    (:class:`ReservedValueError`, :class:`ValueDecodeError`), so that an accepted message
    re-encodes to the same bytes.
    """

    TYPE: ClassVar[MessageType] = MessageType.HANDOFF_REQUEST
    FIXED_SIZE: ClassVar[int] = _HRQST.size

    flags: HandoffFlags
    lifetime: int
    mn_home_address: IPv4Address
    ha_address: IPv4Address
    identification: int
    extensions: tuple[ControlExtension, ...] = ()
    # The bytes a decoded message came from (not a field of the message: not compared, not
    # copied by dataclasses.replace). Authenticator verification reads its MAC input here.
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def variant(self) -> HandoffVariant:
        variant = _variant(self.flags)
        if variant is None:
            raise ValueError(f"flags {self.flags!r} name no handoff variant")
        return variant

    @property
    def is_htt(self) -> bool:
        return self.variant is HandoffVariant.HANDOFF_TO_THIRD

    def encode_fixed(self) -> bytes:
        return _HRQST.pack(
            self.TYPE,
            self.flags,
            0,
            self.lifetime,
            0,
            self.mn_home_address.packed,
            self.ha_address.packed,
            self.identification,
        )

    def encode(self) -> bytes:
        return self.encode_fixed() + encode_extensions(self.extensions)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < _HRQST.size or data[0] != cls.TYPE:  # the checks, only when one fails
            _check_type(data, cls.TYPE, "Handoff Request")
            need_layout(data, _HRQST_LAYOUT)
        _, flags, reserved1, lifetime, reserved2, home, ha, ident = _HRQST.unpack_from(data)
        _check_flags(flags)
        if reserved1:
            raise ReservedValueError("reserved bytes must be zero", field="reserved", offset=2)
        if reserved2:
            raise ReservedValueError("reserved bytes must be zero", field="reserved", offset=6)
        build: Callable[..., Self] = decoded_builder(cls)
        return build(
            _FLAGS_BY_BYTE[flags],
            lifetime,
            cached_ipv4(home) or ipv4(home),  # mn_home_address
            cached_ipv4(ha) or ipv4(ha),  # ha_address
            ident,
            decode_extensions(data, _HRQST.size),
            data if type(data) is bytes else None,  # _wire
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "message": "handoff_request",
            "type": int(self.TYPE),
            "variant": self.variant.value,
            "flags": flag_dict(self.flags, HandoffFlags, "HNRMGTB"),
            "lifetime": self.lifetime,
            "mn_home_address": str(self.mn_home_address),
            "ha_address": str(self.ha_address),
            "identification": self.identification,
            "extensions": [ext.to_dict() for ext in self.extensions],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffReply:
    """Handoff Reply (HRply), RFC 4881 §4.6.

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Type      |H|N|R|M|G|T|B|   Reserved    |      Code       |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           Lifetime            |          Reserved             |
    |                       MN Home Address                         |
    |                       HA Address                              |
    |                       Identification (64 bits)                |
    | Extensions ...

    ``code`` is an int compared with :class:`HandoffCode`; Lifetime SHOULD be 0 when the code
    is not 0 and is ignored on failure (§4.6).
    """

    TYPE: ClassVar[MessageType] = MessageType.HANDOFF_REPLY
    FIXED_SIZE: ClassVar[int] = _HRPLY.size

    flags: HandoffFlags
    code: int = HandoffCode.SUCCESS
    lifetime: int
    mn_home_address: IPv4Address
    ha_address: IPv4Address
    identification: int
    extensions: tuple[ControlExtension, ...] = ()
    # The bytes a decoded message came from (not a field of the message: not compared, not
    # copied by dataclasses.replace). Authenticator verification reads its MAC input here.
    _wire: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def variant(self) -> HandoffVariant:
        variant = _variant(self.flags)
        if variant is None:
            raise ValueError(f"flags {self.flags!r} name no handoff variant")
        return variant

    @property
    def is_htt(self) -> bool:
        return self.variant is HandoffVariant.HANDOFF_TO_THIRD

    @property
    def succeeded(self) -> bool:
        return self.code == HandoffCode.SUCCESS

    def encode_fixed(self) -> bytes:
        return _HRPLY.pack(
            self.TYPE,
            self.flags,
            0,
            self.code,
            self.lifetime,
            0,
            self.mn_home_address.packed,
            self.ha_address.packed,
            self.identification,
        )

    def encode(self) -> bytes:
        return self.encode_fixed() + encode_extensions(self.extensions)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < _HRPLY.size or data[0] != cls.TYPE:  # the checks, only when one fails
            _check_type(data, cls.TYPE, "Handoff Reply")
            need_layout(data, _HRPLY_LAYOUT)
        _, flags, reserved1, code, lifetime, reserved2, home, ha, ident = _HRPLY.unpack_from(data)
        _check_flags(flags)
        if reserved1:
            raise ReservedValueError("reserved byte must be zero", field="reserved", offset=2)
        if reserved2:
            raise ReservedValueError("reserved bytes must be zero", field="reserved", offset=6)
        build: Callable[..., Self] = decoded_builder(cls)
        return build(
            _FLAGS_BY_BYTE[flags],
            code,
            lifetime,
            cached_ipv4(home) or ipv4(home),  # mn_home_address
            cached_ipv4(ha) or ipv4(ha),  # ha_address
            ident,
            decode_extensions(data, _HRPLY.size),
            data if type(data) is bytes else None,  # _wire
        )

    def to_dict(self) -> dict[str, object]:
        try:
            code_name = HandoffCode(self.code).name.lower()
        except ValueError:
            code_name = f"unassigned_{self.code}"
        return {
            "message": "handoff_reply",
            "type": int(self.TYPE),
            "variant": self.variant.value,
            "flags": flag_dict(self.flags, HandoffFlags, "HNRMGTB"),
            "code": self.code,
            "code_name": code_name,
            "lifetime": self.lifetime,
            "mn_home_address": str(self.mn_home_address),
            "ha_address": str(self.ha_address),
            "identification": self.identification,
            "extensions": [ext.to_dict() for ext in self.extensions],
        }


__all__ = [
    "INFINITE_HANDOFF_LIFETIME",
    "HandoffCode",
    "HandoffFlags",
    "HandoffReply",
    "HandoffRequest",
    "HandoffVariant",
]
