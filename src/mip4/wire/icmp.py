"""ICMP messages of Mobile IPv4: Agent Advertisement, Agent Solicitation, Destination
Unreachable (RFC 1256, RFC 5944 §2.1-2.2, RFC 4881 §3, §9, §10.1, RFC 792).

An Agent Advertisement is an ICMP Router Advertisement (type 9) followed by router-discovery
extensions, of which the Mobility Agent Advertisement Extension (type 16) makes it an Agent
Advertisement (RFC 5944 §2.1). An Agent Solicitation is an ICMP Router Solicitation (type 10);
RFC 4881 §3.3 appends an LLA extension to it to form the Proxy Router Solicitation (PrRtSol),
and the Proxy Router Advertisement (PrRtAdv) is an Agent Advertisement carrying the nFA's
link-layer address in an LLA extension (RFC 4881 §3.3, §3.7).

Router-discovery extensions form their own number space, independent of the control-message
extensions of UDP 434 (RFC 5944 §1.8; digest §0.2): here **type 140 is RFC 4881's LLA
extension**, while in control messages 140 is RFC 4857's Hierarchical Foreign Agent
extension (:class:`mip4.wire.extensions.HierarchicalForeignAgent`). Types 0-127 are
non-skippable, 128-255 skippable.

Every decoder takes the ICMP message (the IP payload) and verifies its checksum; offsets in
errors count from the ICMP Type byte. A decoded message keeps the checksum it carried, so it
re-encodes to the same bytes; build new messages with ``checksum=None`` (the default), or
``dataclasses.replace(message, ..., checksum=None)``, to have it computed.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import ClassVar, Self, TypeVar

from mip4.errors import LocalUsageError
from mip4.wire._util import flag_dict, ipv4, need, need_layout
from mip4.wire.errors import (
    ChecksumError,
    DecodeError,
    LengthError,
    TruncatedError,
    UnknownMandatoryExtension,
    UnknownMessageType,
    ValueDecodeError,
)
from mip4.wire.extensions import Padding, UnknownSkippableExtension
from mip4.wire.ip import IPv4Header, internet_checksum
from mip4.wire.lla import LlaValue, decode_lla_value, lla_name, lla_sub_type


class IcmpType(enum.IntEnum):
    """ICMP message types this module decodes."""

    DESTINATION_UNREACHABLE = 3  # RFC 792
    ROUTER_ADVERTISEMENT = 9  # RFC 1256 §3.1; Agent Advertisement, RFC 5944 §2.1
    ROUTER_SOLICITATION = 10  # RFC 1256 §3.2; Agent Solicitation, RFC 5944 §2.2


class AdvertisementCode(enum.IntEnum):
    """Codes of an Agent Advertisement (RFC 5944 §2.1). The ``code`` field stays an int."""

    ROUTES_COMMON_TRAFFIC = 0  # also acts as an ordinary router
    MOBILITY_ONLY = 16  # does not route common traffic (only registered mobile nodes)


class UnreachableCode(enum.IntEnum):
    """Destination Unreachable codes (RFC 792; 6-12 RFC 1122 §3.2.2.1; 13-15 RFC 1812 §5.2.7.1).

    The ``code`` field of :class:`DestinationUnreachable` stays an int.
    """

    NET_UNREACHABLE = 0
    HOST_UNREACHABLE = 1
    PROTOCOL_UNREACHABLE = 2
    PORT_UNREACHABLE = 3
    FRAGMENTATION_NEEDED = 4  # the low 16 bits of the unused word carry the next-hop MTU
    SOURCE_ROUTE_FAILED = 5
    DESTINATION_NETWORK_UNKNOWN = 6
    DESTINATION_HOST_UNKNOWN = 7
    SOURCE_HOST_ISOLATED = 8
    NETWORK_ADMINISTRATIVELY_PROHIBITED = 9
    HOST_ADMINISTRATIVELY_PROHIBITED = 10
    NETWORK_UNREACHABLE_FOR_TOS = 11
    HOST_UNREACHABLE_FOR_TOS = 12
    COMMUNICATION_ADMINISTRATIVELY_PROHIBITED = 13
    HOST_PRECEDENCE_VIOLATION = 14
    PRECEDENCE_CUTOFF_IN_EFFECT = 15


class RouterDiscoveryExtensionType(enum.IntEnum):
    """Router-discovery extension types this codec understands (digest §1.3).

    A separate space from :class:`mip4.wire.extensions.ControlExtensionType`: 140 is the LLA
    here (RFC 4881 §10.1), the HFA there (RFC 4857 §9.2).
    """

    PADDING = 0  # RFC 5944 §2.1.3
    MOBILITY_AGENT_ADVERTISEMENT = 16  # RFC 5944 §2.1.1
    PREFIX_LENGTHS = 19  # RFC 5944 §2.1.2
    CHALLENGE = 24  # RFC 4721 §2
    LINK_LAYER_ADDRESS = 140  # RFC 4881 §9, §10.1


class MobilityAgentFlags(enum.IntFlag):
    """The flags of the Mobility Agent Advertisement Extension as a 16-bit word (digest §2.10).

    RFC 5944 §2.1.1 draws ``R|B|H|F|M|G|r|T|U|X|I|reserved``; the five low bits are reserved
    and live in :attr:`MobilityAgentAdvertisement.reserved`, not here.
    """

    R = 0x8000  # registration required
    B = 0x4000  # busy
    H = 0x2000  # home agent
    F = 0x1000  # foreign agent
    M = 0x0800  # minimal encapsulation (RFC 2004)
    G = 0x0400  # GRE encapsulation (RFC 2784)
    r = 0x0200  # sent as zero, ignored on reception (formerly V)
    T = 0x0100  # reverse tunnelling (RFC 3024)
    U = 0x0080  # UDP tunnelling (RFC 3519)
    X = 0x0040  # registration revocation (RFC 3543)
    I = 0x0020  # noqa: E741  (regional registration, RFC 4857; position per RFC 5944)

    NONE = 0


MAAE_FLAG_LETTERS = "RBHFMGrTUXI"
MAAE_RESERVED_MASK = 0x001F
INFINITE_REGISTRATION_LIFETIME = 0xFFFF  # RFC 5944 §2.1.1
ADDR_ENTRY_SIZE = 2  # RFC 1256 §3.1, RFC 5944 §2.1: 32-bit words per router address entry
PREFERENCE_NOT_DEFAULT = -0x80000000  # RFC 1256 §3.1: 0x80000000, "never use as default"

_HEADER = struct.Struct("!BBH")  # Type, Code, Checksum
_ADVERTISEMENT = struct.Struct("!BBHBBH")  # Type, Code, Checksum, Num Addrs, Entry Size, Life
_ROUTER_ENTRY = struct.Struct("!4si")  # Router Address, Preference Level (signed)
_SOLICITATION = struct.Struct("!BBHI")  # Type, Code, Checksum, Reserved
_MAAE = struct.Struct("!BBHHH")  # Type, Length, Sequence Number, Registration Lifetime, Flags

_X = TypeVar("_X")


# --------------------------------------------------------------------------------------------
# Router-discovery extensions


@dataclass(frozen=True, slots=True, kw_only=True)
class MobilityAgentAdvertisement:
    """Mobility Agent Advertisement Extension, router-discovery type 16 (RFC 5944 §2.1.1).

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Type      |    Length     |        Sequence Number        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |    Registration Lifetime      |R|B|H|F|M|G|r|T|U|X|I|reserved |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                  zero or more Care-of Addresses               |

    Length = 6 + 4N for N care-of addresses; any other Length is rejected. The ``r`` bit and
    the five reserved bits are "sent as zero; ignored on reception" (RFC 5944 §2.1.1, §2.4):
    a mobile node never drops an advertisement for them, so they are kept (``r`` in
    ``flags``, the rest in ``reserved``) and re-encoded as received.
    """

    TYPE: ClassVar[int] = RouterDiscoveryExtensionType.MOBILITY_AGENT_ADVERTISEMENT
    NAME: ClassVar[str] = "mobility_agent_advertisement"

    sequence_number: int
    registration_lifetime: int
    flags: MobilityAgentFlags = MobilityAgentFlags.NONE
    reserved: int = 0  # the 0x001F bits of the flags word, kept to re-encode exactly
    care_of_addresses: tuple[IPv4Address, ...] = ()

    def encode(self) -> bytes:
        length = 6 + 4 * len(self.care_of_addresses)
        if length > 255:
            raise LocalUsageError(f"{len(self.care_of_addresses)} care-of addresses do not fit")
        if self.reserved & ~MAAE_RESERVED_MASK:
            raise LocalUsageError(f"reserved bits 0x{self.reserved:x} exceed mask 0x001f")
        word = int(self.flags) | self.reserved
        head = _MAAE.pack(self.TYPE, length, self.sequence_number, self.registration_lifetime, word)
        return head + b"".join([a.packed for a in self.care_of_addresses])

    @classmethod
    def decode_body(cls, body: bytes, pos: int) -> Self:
        """Decode the bytes after Type and Length; ``pos`` is the offset of the Type byte."""
        if len(body) < 6 or (len(body) - 6) % 4:
            raise LengthError(
                f"Length {len(body)} is not 6 + 4N (RFC 5944 §2.1.1)",
                field="extension.length",
                offset=pos + 1,
            )
        seq, lifetime, word = struct.unpack_from("!HHH", body)
        return cls(
            sequence_number=seq,
            registration_lifetime=lifetime,
            flags=MobilityAgentFlags(word & ~MAAE_RESERVED_MASK),
            reserved=word & MAAE_RESERVED_MASK,
            care_of_addresses=tuple(ipv4(body[i : i + 4]) for i in range(6, len(body), 4)),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "type": int(self.TYPE),
            "name": self.NAME,
            "sequence_number": self.sequence_number,
            "registration_lifetime": self.registration_lifetime,
            "flags": flag_dict(self.flags, MobilityAgentFlags, MAAE_FLAG_LETTERS),
            "reserved": self.reserved,
            "care_of_addresses": [str(a) for a in self.care_of_addresses],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefixLengths:
    """Prefix-Lengths Extension, router-discovery type 19 (RFC 5944 §2.1.2).

    ``Type | Length = Num Addrs | one Prefix Length byte per router address``. In an Agent
    Advertisement the count must equal Num Addrs and each length be at most 32; otherwise the
    extension is rejected (it would describe router addresses that are not there).
    """

    TYPE: ClassVar[int] = RouterDiscoveryExtensionType.PREFIX_LENGTHS
    NAME: ClassVar[str] = "prefix_lengths"

    prefix_lengths: tuple[int, ...]

    def encode(self) -> bytes:
        return bytes((self.TYPE, len(self.prefix_lengths), *self.prefix_lengths))

    @classmethod
    def decode_body(cls, body: bytes, pos: int, num_addrs: int | None) -> Self:
        if num_addrs is not None and len(body) != num_addrs:
            raise LengthError(
                f"Length {len(body)} must equal Num Addrs {num_addrs} (RFC 5944 §2.1.2)",
                field="extension.length",
                offset=pos + 1,
            )
        for i, value in enumerate(body):
            if value > 32:
                raise ValueDecodeError(
                    f"prefix length {value} exceeds 32",
                    field="extension.prefix_length",
                    offset=pos + 2 + i,
                )
        return cls(prefix_lengths=tuple(body))

    def to_dict(self) -> dict[str, object]:
        return {
            "type": int(self.TYPE),
            "name": self.NAME,
            "prefix_lengths": list(self.prefix_lengths),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """Challenge Extension, router-discovery type 24 (RFC 4721 §2).

    ``Type | Length | Challenge``. RFC 4721 says the Length SHOULD be at least 4 (a challenge of
    at least 32 random bits); this codec rejects shorter ones on receipt, so an MN never builds
    an MN-FA Challenge extension (type 132) from a value too short to prevent replays.
    """

    TYPE: ClassVar[int] = RouterDiscoveryExtensionType.CHALLENGE
    NAME: ClassVar[str] = "challenge"
    MIN_LENGTH: ClassVar[int] = 4

    challenge: bytes

    def encode(self) -> bytes:
        return bytes((self.TYPE, len(self.challenge))) + self.challenge

    @classmethod
    def decode_body(cls, body: bytes, pos: int) -> Self:
        if len(body) < cls.MIN_LENGTH:
            raise LengthError(
                f"Length {len(body)} is below 4 (RFC 4721 §2)",
                field="extension.length",
                offset=pos + 1,
            )
        return cls(challenge=body)

    def to_dict(self) -> dict[str, object]:
        return {"type": int(self.TYPE), "name": self.NAME, "challenge": self.challenge.hex()}


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterDiscoveryLinkLayerAddress:
    """Generalized Link Layer and IPv4 Address (LLA) extension in router discovery, type 140.

    RFC 4881 §9, §10.1: ``Type = 140 | Length (= 1 + LLA bytes) | Sub-Type | LLA``. Carried
    by the PrRtSol (sub-type 5 solicited nFA address or 6 access point id, §3.3) and the
    PrRtAdv (the nFA's L2 address, e.g. sub-type 3, §3.3, §3.7).

    This is **not** RFC 4857's Hierarchical Foreign Agent extension, which has the same number
    140 in the independent control-message space (digest §0.2). The control-message form of
    the LLA is :class:`mip4.wire.extensions.LinkLayerAddress` (type 138); both carry the same
    :mod:`mip4.wire.lla` values.
    """

    TYPE: ClassVar[int] = RouterDiscoveryExtensionType.LINK_LAYER_ADDRESS
    NAME: ClassVar[str] = "link_layer_address"

    value: LlaValue

    @property
    def sub_type(self) -> int:
        return lla_sub_type(self.value)

    def encode(self) -> bytes:
        body = self.value.encode()
        if len(body) > 254:
            raise LocalUsageError(f"LLA of {len(body)} bytes does not fit a 1-byte Length")
        return bytes((self.TYPE, 1 + len(body), self.sub_type)) + body

    @classmethod
    def decode_body(cls, body: bytes, pos: int) -> Self:
        if not body:
            raise LengthError(
                "LLA extension needs a Sub-Type byte", field="extension.length", offset=pos + 1
            )
        return cls(value=decode_lla_value(body[0], body[1:], pos + 3))

    def to_dict(self) -> dict[str, object]:
        return {
            "type": int(self.TYPE),
            "name": self.NAME,
            "sub_type": self.sub_type,
            "sub_type_name": lla_name(self.sub_type),
            "value": self.value.to_dict(),
        }


# Types below 128 this codec decodes (padding, type 0, has its own path).
_KNOWN_NON_SKIPPABLE = frozenset(
    (
        RouterDiscoveryExtensionType.MOBILITY_AGENT_ADVERTISEMENT,
        RouterDiscoveryExtensionType.PREFIX_LENGTHS,
        RouterDiscoveryExtensionType.CHALLENGE,
    )
)

RouterDiscoveryExtension = (
    Padding
    | MobilityAgentAdvertisement
    | PrefixLengths
    | Challenge
    | RouterDiscoveryLinkLayerAddress
    | UnknownSkippableExtension
)
"""One extension after an ICMP Router Advertisement or Solicitation. Padding (type 0) and
unknown skippable extensions (128-255, kept byte for byte) reuse the control-message classes
of :mod:`mip4.wire.extensions`, whose encodings are identical."""


def encode_router_discovery_extensions(extensions: tuple[RouterDiscoveryExtension, ...]) -> bytes:
    """Concatenate the encodings of ``extensions`` in order."""
    return b"".join([ext.encode() for ext in extensions])


def decode_router_discovery_extensions(
    data: bytes, start: int, *, num_addrs: int | None = None
) -> tuple[RouterDiscoveryExtension, ...]:
    """Decode every router-discovery extension from ``start`` to the end of ``data``.

    RFC 5944 §1.8, §2.1: the list runs to the end of the ICMP message; an unknown type 0-127
    raises :class:`UnknownMandatoryExtension` (the whole message is discarded), an unknown
    type 128-255 is kept. ``num_addrs`` is the Advertisement's Num Addrs, which a
    Prefix-Lengths extension must match (None: not an advertisement, no check). Offsets in
    errors are absolute positions in ``data``.
    """
    out: list[RouterDiscoveryExtension] = []
    pos = start
    end = len(data)
    while pos < end:
        ext_type = data[pos]
        if ext_type == RouterDiscoveryExtensionType.PADDING:
            out.append(Padding())  # RFC 5944 §2.1.3: a lone zero byte, no Length
            pos += 1
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
        body_end = pos + 2 + length
        if body_end > end:
            raise TruncatedError(
                f"extension type {ext_type} declares Length {length}, "
                f"only {end - pos - 2} bytes remain",
                field="extension.length",
                offset=pos + 1,
            )
        out.append(_decode_extension(ext_type, data[pos + 2 : body_end], pos, num_addrs))
        pos = body_end
    return tuple(out)


def _decode_extension(
    ext_type: int, body: bytes, pos: int, num_addrs: int | None
) -> RouterDiscoveryExtension:
    if ext_type == RouterDiscoveryExtensionType.MOBILITY_AGENT_ADVERTISEMENT:
        return MobilityAgentAdvertisement.decode_body(body, pos)
    if ext_type == RouterDiscoveryExtensionType.PREFIX_LENGTHS:
        return PrefixLengths.decode_body(body, pos, num_addrs)
    if ext_type == RouterDiscoveryExtensionType.CHALLENGE:
        return Challenge.decode_body(body, pos)
    if ext_type == RouterDiscoveryExtensionType.LINK_LAYER_ADDRESS:
        return RouterDiscoveryLinkLayerAddress.decode_body(body, pos)
    return UnknownSkippableExtension(ext_type=ext_type, data=body)


def _find(extensions: tuple[RouterDiscoveryExtension, ...], cls: type[_X]) -> _X | None:
    for ext in extensions:
        if isinstance(ext, cls):
            return ext
    return None


# --------------------------------------------------------------------------------------------
# Messages


def _with_checksum(raw: bytes, checksum: int | None) -> bytes:
    """``raw`` (checksum field zero) with ``checksum`` filled in, or the computed one."""
    value = internet_checksum(raw) if checksum is None else checksum
    return raw[:2] + value.to_bytes(2, "big") + raw[4:]


def _verify_checksum(data: bytes) -> None:
    # RFC 1256 §3.1/§3.2 (and RFC 792): the one's-complement sum over the whole ICMP message,
    # extensions included (RFC 5944 §2.1), must verify; otherwise the message is discarded.
    if internet_checksum(data) != 0:
        raise ChecksumError(
            f"ICMP checksum 0x{int.from_bytes(data[2:4], 'big'):04x} does not verify",
            field="icmp.checksum",
            offset=2,
        )


_COMMON_LAYOUT = (("icmp.type", 0, 1), ("icmp.code", 1, 1), ("icmp.checksum", 2, 2))
_ADVERTISEMENT_LAYOUT = (
    *_COMMON_LAYOUT,
    ("icmp.num_addrs", 4, 1),
    ("icmp.addr_entry_size", 5, 1),
    ("icmp.lifetime", 6, 2),
)
_SOLICITATION_LAYOUT = (*_COMMON_LAYOUT, ("icmp.reserved", 4, 4))
_UNREACHABLE_LAYOUT = (*_COMMON_LAYOUT, ("icmp.unused", 4, 4))


def _check_header(
    data: bytes, expected: IcmpType, name: str, layout: tuple[tuple[str, int, int], ...]
) -> None:
    """The Type byte names ``expected`` and the 8-byte ICMP header is present (a short
    buffer is reported at the field where it ends)."""
    if data and data[0] != expected:
        raise ValueDecodeError(
            f"ICMP type {data[0]} is not an {name} ({int(expected)})", field="icmp.type", offset=0
        )
    need_layout(data, layout)


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterAddress:
    """One (Router Address, Preference Level) entry of a Router Advertisement (RFC 1256 §3.1).

    The preference level is signed: higher is preferred, ``PREFERENCE_NOT_DEFAULT``
    (0x80000000) means "never use as a default router".
    """

    address: IPv4Address
    preference_level: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"address": str(self.address), "preference_level": self.preference_level}


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAdvertisement:
    """ICMP Router Advertisement / Agent Advertisement, RFC 1256 §3.1 and RFC 5944 §2.1.

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Type      |     Code      |           Checksum            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   Num Addrs   |Addr Entry Size|           Lifetime            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                       Router Address[1]                       |
    |                      Preference Level[1]                      |
    |                              ...                              |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Extensions (Mobility Agent Advertisement, Prefix-Lengths, ...)
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    Type 9. Code 0 or 16 (RFC 5944 §2.1; any other code is rejected). Num Addrs may be 0 and
    Addr Entry Size must be 2 (RFC 5944 §2.1 relaxes RFC 1256's host checks, which would
    reject code 16 and Num Addrs 0 — digest §0.2). Lifetime is the ICMP advertisement
    lifetime in seconds, unrelated to the MAAE Registration Lifetime.

    Every type-9 message decodes to this class; :attr:`is_agent_advertisement` says whether it
    carries a Mobility Agent Advertisement Extension (which makes it an Agent Advertisement).
    A PrRtAdv (RFC 4881 §3.3) is one with an LLA (type 140): see :attr:`lla`.
    """

    TYPE: ClassVar[IcmpType] = IcmpType.ROUTER_ADVERTISEMENT

    code: int = AdvertisementCode.ROUTES_COMMON_TRAFFIC
    checksum: int | None = None
    lifetime: int
    router_addresses: tuple[RouterAddress, ...] = ()
    extensions: tuple[RouterDiscoveryExtension, ...] = ()

    @property
    def num_addrs(self) -> int:
        return len(self.router_addresses)

    @property
    def mobility_extension(self) -> MobilityAgentAdvertisement | None:
        """The (first) Mobility Agent Advertisement Extension, or None."""
        return _find(self.extensions, MobilityAgentAdvertisement)

    @property
    def is_agent_advertisement(self) -> bool:
        """True when a MAAE is present (RFC 5944 §2.1: what makes it an Agent Advertisement)."""
        return self.mobility_extension is not None

    @property
    def lla(self) -> LlaValue | None:
        """The value of the (first) LLA extension, type 140 (RFC 4881 §3.3), or None."""
        ext = _find(self.extensions, RouterDiscoveryLinkLayerAddress)
        return None if ext is None else ext.value

    @property
    def prefix_lengths(self) -> tuple[int, ...] | None:
        ext = _find(self.extensions, PrefixLengths)
        return None if ext is None else ext.prefix_lengths

    @property
    def challenge(self) -> bytes | None:
        ext = _find(self.extensions, Challenge)
        return None if ext is None else ext.challenge

    def encode(self) -> bytes:
        if self.num_addrs > 255:
            raise LocalUsageError(f"{self.num_addrs} router addresses do not fit Num Addrs")
        head = _ADVERTISEMENT.pack(
            self.TYPE, self.code, 0, self.num_addrs, ADDR_ENTRY_SIZE, self.lifetime
        )
        routers = b"".join(
            [
                _ROUTER_ENTRY.pack(r.address.packed, r.preference_level)
                for r in self.router_addresses
            ]
        )
        raw = head + routers + encode_router_discovery_extensions(self.extensions)
        return _with_checksum(raw, self.checksum)

    @classmethod
    def decode(cls, data: bytes, *, verify_checksum: bool = True) -> Self:
        _check_header(data, cls.TYPE, "ICMP Router Advertisement", _ADVERTISEMENT_LAYOUT)
        if verify_checksum:
            _verify_checksum(data)
        _, code, checksum, num_addrs, entry_size, lifetime = _ADVERTISEMENT.unpack_from(data)
        if code not in (AdvertisementCode.ROUTES_COMMON_TRAFFIC, AdvertisementCode.MOBILITY_ONLY):
            raise ValueDecodeError(
                f"code {code} is neither 0 nor 16 (RFC 5944 §2.1)", field="icmp.code", offset=1
            )
        if entry_size != ADDR_ENTRY_SIZE:
            raise ValueDecodeError(
                f"Addr Entry Size {entry_size} is not 2 (RFC 1256 §3.1, RFC 5944 §2.1)",
                field="icmp.addr_entry_size",
                offset=5,
            )
        start = _ADVERTISEMENT.size
        end = start + 8 * num_addrs
        routers = []
        for pos in range(start, end, _ROUTER_ENTRY.size):
            need(data, pos + 4, field="icmp.router_address", offset=pos)
            need(data, pos + 8, field="icmp.preference_level", offset=pos + 4)
            address, preference = _ROUTER_ENTRY.unpack_from(data, pos)
            routers.append(RouterAddress(address=ipv4(address), preference_level=preference))
        return cls(
            code=code,
            checksum=checksum,
            lifetime=lifetime,
            router_addresses=tuple(routers),
            extensions=decode_router_discovery_extensions(data, end, num_addrs=num_addrs),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "message": "agent_advertisement",
            "type": int(self.TYPE),
            "code": self.code,
            "checksum": self.checksum,
            "num_addrs": self.num_addrs,
            "addr_entry_size": ADDR_ENTRY_SIZE,
            "lifetime": self.lifetime,
            "router_addresses": [r.to_dict() for r in self.router_addresses],
            "is_agent_advertisement": self.is_agent_advertisement,
            "extensions": [ext.to_dict() for ext in self.extensions],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSolicitation:
    """ICMP Router Solicitation / Agent Solicitation, RFC 1256 §3.2 and RFC 5944 §2.2.

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Type      |     Code      |           Checksum            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           Reserved                            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | Extensions (RFC 4881 §3.3: LLA 140, sub-type 5 or 6, in a PrRtSol)
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    Type 10, code 0 (RFC 1256 §5.3: a router discards other codes). The Reserved word is
    "ignored on reception" (RFC 1256 §3.2), so it is kept in ``reserved`` and re-encoded.
    A PrRtSol (RFC 4881 §3.3) is a solicitation with an LLA: see :attr:`lla`.
    """

    TYPE: ClassVar[IcmpType] = IcmpType.ROUTER_SOLICITATION
    CODE: ClassVar[int] = 0

    checksum: int | None = None
    reserved: int = 0
    extensions: tuple[RouterDiscoveryExtension, ...] = ()

    @property
    def lla(self) -> LlaValue | None:
        """The value of the (first) LLA extension, type 140 (RFC 4881 §3.3), or None."""
        ext = _find(self.extensions, RouterDiscoveryLinkLayerAddress)
        return None if ext is None else ext.value

    @property
    def is_proxy_router_solicitation(self) -> bool:
        """True for a PrRtSol: a solicitation carrying an LLA extension (RFC 4881 §3.3)."""
        return self.lla is not None

    def encode(self) -> bytes:
        raw = _SOLICITATION.pack(self.TYPE, self.CODE, 0, self.reserved)
        return _with_checksum(
            raw + encode_router_discovery_extensions(self.extensions), self.checksum
        )

    @classmethod
    def decode(cls, data: bytes, *, verify_checksum: bool = True) -> Self:
        _check_header(data, cls.TYPE, "ICMP Router Solicitation", _SOLICITATION_LAYOUT)
        if verify_checksum:
            _verify_checksum(data)
        _, code, checksum, reserved = _SOLICITATION.unpack_from(data)
        if code != cls.CODE:
            raise ValueDecodeError(
                f"code {code} is not 0 (RFC 1256 §5.3)", field="icmp.code", offset=1
            )
        return cls(
            checksum=checksum,
            reserved=reserved,
            extensions=decode_router_discovery_extensions(data, _SOLICITATION.size),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "message": "agent_solicitation",
            "type": int(self.TYPE),
            "code": self.CODE,
            "checksum": self.checksum,
            "reserved": self.reserved,
            "extensions": [ext.to_dict() for ext in self.extensions],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DestinationUnreachable:
    """ICMP Destination Unreachable, RFC 792 (next-hop MTU: RFC 1191 §4).

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |     Type      |     Code      |          Checksum             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                             unused                            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |      Internet Header + 64 bits of Original Data Datagram      |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    ``code`` stays an int (see :class:`UnreachableCode`). ``unused`` is the 32-bit word after
    the checksum, kept as received; for code 4 its low 16 bits are the next-hop MTU
    (:attr:`next_hop_mtu`). ``original_datagram`` is everything after it, kept as bytes;
    :meth:`original_header` decodes the embedded IPv4 header. An FA relaying a registration
    turns these into reply codes 80-88 (RFC 5944 §3.7.2.3); RFC 4881 §8.2 relies on them too.
    """

    TYPE: ClassVar[IcmpType] = IcmpType.DESTINATION_UNREACHABLE

    code: int
    checksum: int | None = None
    unused: int = 0
    original_datagram: bytes

    @property
    def next_hop_mtu(self) -> int | None:
        """Next-hop MTU of a "fragmentation needed" message (RFC 1191 §4), else None."""
        return self.unused & 0xFFFF if self.code == UnreachableCode.FRAGMENTATION_NEEDED else None

    @classmethod
    def about(cls, datagram: bytes, code: int, *, unused: int = 0, data_bytes: int = 8) -> Self:
        """The error for an offending ``datagram``: its IP header plus the first ``data_bytes``
        bytes of its payload (64 bits by default, RFC 792)."""
        header = IPv4Header.decode(datagram, verify_checksum=False)
        return cls(
            code=code,
            unused=unused,
            original_datagram=datagram[: header.header_length + data_bytes],
        )

    def original_header(self) -> IPv4Header:
        """The embedded IPv4 header (checksum not verified: routers may have rewritten it).

        Errors name ``original_datagram.<field>`` with offsets from the ICMP Type byte.
        """
        try:
            return IPv4Header.decode(self.original_datagram, verify_checksum=False)
        except DecodeError as exc:
            raise type(exc)(
                exc.reason, field=f"original_datagram.{exc.field}", offset=exc.offset + 8
            ) from None

    def encode(self) -> bytes:
        raw = _SOLICITATION.pack(self.TYPE, self.code, 0, self.unused) + self.original_datagram
        return _with_checksum(raw, self.checksum)

    @classmethod
    def decode(cls, data: bytes, *, verify_checksum: bool = True) -> Self:
        _check_header(data, cls.TYPE, "ICMP Destination Unreachable", _UNREACHABLE_LAYOUT)
        if verify_checksum:
            _verify_checksum(data)
        _, code, checksum, unused = _SOLICITATION.unpack_from(data)
        return cls(
            code=code,
            checksum=checksum,
            unused=unused,
            original_datagram=data[_SOLICITATION.size :],
        )

    def to_dict(self) -> dict[str, object]:
        try:
            code_name = UnreachableCode(self.code).name.lower()
        except ValueError:
            code_name = f"unassigned_{self.code}"
        try:
            original: dict[str, object] | None = self.original_header().to_dict()
        except DecodeError:
            original = None
        return {
            "message": "destination_unreachable",
            "type": int(self.TYPE),
            "code": self.code,
            "code_name": code_name,
            "checksum": self.checksum,
            "unused": self.unused,
            "next_hop_mtu": self.next_hop_mtu,
            "original_datagram": self.original_datagram.hex(),
            "original_header": original,
        }


IcmpMessage = AgentAdvertisement | AgentSolicitation | DestinationUnreachable

_BY_TYPE: dict[int, type[IcmpMessage]] = {
    IcmpType.ROUTER_ADVERTISEMENT: AgentAdvertisement,
    IcmpType.ROUTER_SOLICITATION: AgentSolicitation,
    IcmpType.DESTINATION_UNREACHABLE: DestinationUnreachable,
}


def decode_icmp(data: bytes, *, verify_checksum: bool = True) -> IcmpMessage:
    """Decode one ICMP message (the IPv4 payload of protocol 1) into its class.

    Type 9 always gives an :class:`AgentAdvertisement` (check ``is_agent_advertisement``),
    10 an :class:`AgentSolicitation`, 3 a :class:`DestinationUnreachable`; any other type
    raises :class:`UnknownMessageType`.
    """
    if not data:
        raise TruncatedError("empty ICMP message", field="icmp.type", offset=0)
    cls = _BY_TYPE.get(data[0])
    if cls is None:
        raise UnknownMessageType(
            f"ICMP type {data[0]} is not one this stack decodes (known: {sorted(_BY_TYPE)})",
            field="icmp.type",
            offset=0,
        )
    return cls.decode(data, verify_checksum=verify_checksum)


__all__ = [
    "ADDR_ENTRY_SIZE",
    "INFINITE_REGISTRATION_LIFETIME",
    "MAAE_FLAG_LETTERS",
    "MAAE_RESERVED_MASK",
    "PREFERENCE_NOT_DEFAULT",
    "AdvertisementCode",
    "AgentAdvertisement",
    "AgentSolicitation",
    "Challenge",
    "DestinationUnreachable",
    "IcmpMessage",
    "IcmpType",
    "MobilityAgentAdvertisement",
    "MobilityAgentFlags",
    "Padding",
    "PrefixLengths",
    "RouterAddress",
    "RouterDiscoveryExtension",
    "RouterDiscoveryExtensionType",
    "RouterDiscoveryLinkLayerAddress",
    "UnknownSkippableExtension",
    "UnreachableCode",
    "decode_icmp",
    "decode_router_discovery_extensions",
    "encode_router_discovery_extensions",
]
