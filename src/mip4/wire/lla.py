"""Link-layer and IPv4 address values carried by the LLA extension (RFC 4881 §9).

The same sub-type values appear in two extension spaces: type 138 in control messages on UDP
434 and type 140 in ICMP Router Discovery messages (digest §0.2). This module holds only the
values; :mod:`mip4.wire.extensions` and :mod:`mip4.wire.icmp` wrap them in the two extension
types.

RFC 4881 §9 header: ``Type | Length (= 1 + LLA bytes) | Sub-Type | LLA ...``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import ClassVar

from mip4.wire._util import ipv4
from mip4.wire.errors import LengthError, ValueDecodeError


class LlaSubType(enum.IntEnum):
    """LLA sub-types, RFC 4881 §9 and §10.2 (0 is reserved)."""

    IMSI_3GPP2 = 1  # §9.1: ASCII "<IMSI>:<Connection Id>"
    IMSI_3GPP = 2  # §9.2: IMSI, up to 15 digits
    ETHERNET_MAC = 3  # §9.3: 48-bit MAC
    EUI64 = 4  # §9.4: 64-bit global identifier
    SOLICITED_IPV4 = 5  # §9.5: the FA being solicited (nFA in a PrRtSol, aFA in an HTT)
    ACCESS_POINT_ID = 6  # §9.6: 32-bit access point identifier
    FA_IPV4 = 7  # §9.7: the oFA's address in the combined method's RRQ


@dataclass(frozen=True, slots=True)
class Imsi3gpp2:
    """3GPP2 IMSI and connection id, RFC 4881 §9.1: ASCII ``<IMSI>:<Connection Id>``."""

    SUB_TYPE: ClassVar[LlaSubType] = LlaSubType.IMSI_3GPP2
    imsi: str
    connection_id: int

    def encode(self) -> bytes:
        return f"{self.imsi}:{self.connection_id}".encode("ascii")

    @classmethod
    def decode(cls, body: bytes, offset: int) -> Imsi3gpp2:
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ValueDecodeError(
                "3GPP2 IMSI is not ASCII", field="lla.imsi", offset=offset + exc.start
            ) from None
        imsi, sep, conn = text.rpartition(":")
        if not sep or not imsi.isdigit() or not conn.isdigit() or not conn.isascii():
            raise ValueDecodeError(
                f"expected '<IMSI digits>:<decimal connection id>', got {text!r}",
                field="lla.imsi",
                offset=offset,
            )
        value = cls(imsi=imsi, connection_id=int(conn))
        if value.encode() != body:  # leading zeros in the connection id would not round-trip
            raise ValueDecodeError(
                f"connection id {conn!r} is not in canonical decimal form",
                field="lla.connection_id",
                offset=offset + len(imsi) + 1,
            )
        return value

    def to_dict(self) -> dict[str, object]:
        return {"imsi": self.imsi, "connection_id": self.connection_id}


@dataclass(frozen=True, slots=True)
class Imsi3gpp:
    """3GPP IMSI, RFC 4881 §9.2: up to 15 digits, coded per 3GPP TS 23.003.

    We carry it in TBCD (two digits per byte, low nibble first, an odd count padded with the
    filler nibble 0xF), the usual binary form of TS 23.003 identities in 3GPP protocols.
    """

    SUB_TYPE: ClassVar[LlaSubType] = LlaSubType.IMSI_3GPP
    imsi: str

    def encode(self) -> bytes:
        digits = [int(d) for d in self.imsi]
        if len(digits) % 2:
            digits.append(0xF)
        return bytes(digits[i] | (digits[i + 1] << 4) for i in range(0, len(digits), 2))

    @classmethod
    def decode(cls, body: bytes, offset: int) -> Imsi3gpp:
        if not 1 <= len(body) <= 8:
            raise LengthError(
                f"3GPP IMSI needs 1 to 8 TBCD bytes, got {len(body)}",
                field="lla.imsi",
                offset=offset,
            )
        digits: list[str] = []
        for i, byte in enumerate(body):
            for nibble in (byte & 0x0F, byte >> 4):
                if nibble == 0xF and i == len(body) - 1 and len(digits) == 2 * i + 1:
                    continue  # the filler of an odd digit count
                if nibble > 9:
                    raise ValueDecodeError(
                        f"nibble 0x{nibble:x} is not a TBCD digit",
                        field="lla.imsi",
                        offset=offset + i,
                    )
                digits.append(str(nibble))
        if len(digits) > 15:
            raise LengthError("IMSI has more than 15 digits", field="lla.imsi", offset=offset)
        return cls(imsi="".join(digits))

    def to_dict(self) -> dict[str, object]:
        return {"imsi": self.imsi}


@dataclass(frozen=True, slots=True)
class EthernetMac:
    """Ethernet 48-bit MAC address, RFC 4881 §9.3."""

    SUB_TYPE: ClassVar[LlaSubType] = LlaSubType.ETHERNET_MAC
    SIZE: ClassVar[int] = 6
    mac: bytes

    def encode(self) -> bytes:
        return self.mac

    @classmethod
    def decode(cls, body: bytes, offset: int) -> EthernetMac:
        _exact(body, cls.SIZE, "lla.mac", offset)
        return cls(mac=body)

    def to_dict(self) -> dict[str, object]:
        return {"mac": ":".join(f"{b:02x}" for b in self.mac)}


@dataclass(frozen=True, slots=True)
class Eui64:
    """IEEE 64-bit global identifier, RFC 4881 §9.4."""

    SUB_TYPE: ClassVar[LlaSubType] = LlaSubType.EUI64
    SIZE: ClassVar[int] = 8
    eui64: bytes

    def encode(self) -> bytes:
        return self.eui64

    @classmethod
    def decode(cls, body: bytes, offset: int) -> Eui64:
        _exact(body, cls.SIZE, "lla.eui64", offset)
        return cls(eui64=body)

    def to_dict(self) -> dict[str, object]:
        return {"eui64": ":".join(f"{b:02x}" for b in self.eui64)}


@dataclass(frozen=True, slots=True)
class SolicitedIpv4Address:
    """Solicited IPv4 address, RFC 4881 §9.5 (nFA in a PrRtSol; aFA in an HTT, §4.2)."""

    SUB_TYPE: ClassVar[LlaSubType] = LlaSubType.SOLICITED_IPV4
    address: IPv4Address

    def encode(self) -> bytes:
        return self.address.packed

    @classmethod
    def decode(cls, body: bytes, offset: int) -> SolicitedIpv4Address:
        _exact(body, 4, "lla.address", offset)
        return cls(address=ipv4(body))

    def to_dict(self) -> dict[str, object]:
        return {"address": str(self.address)}


@dataclass(frozen=True, slots=True)
class AccessPointId:
    """Access point identifier, RFC 4881 §9.6: 32 bits (e.g. derived from a BSSID)."""

    SUB_TYPE: ClassVar[LlaSubType] = LlaSubType.ACCESS_POINT_ID
    ap_id: int

    def encode(self) -> bytes:
        return self.ap_id.to_bytes(4, "big")

    @classmethod
    def decode(cls, body: bytes, offset: int) -> AccessPointId:
        _exact(body, 4, "lla.ap_id", offset)
        return cls(ap_id=int.from_bytes(body, "big"))

    def to_dict(self) -> dict[str, object]:
        return {"ap_id": self.ap_id}


@dataclass(frozen=True, slots=True)
class FaIpv4Address:
    """FA IPv4 address, RFC 4881 §9.7: the oFA's address in the combined method (§5)."""

    SUB_TYPE: ClassVar[LlaSubType] = LlaSubType.FA_IPV4
    address: IPv4Address

    def encode(self) -> bytes:
        return self.address.packed

    @classmethod
    def decode(cls, body: bytes, offset: int) -> FaIpv4Address:
        _exact(body, 4, "lla.address", offset)
        return cls(address=ipv4(body))

    def to_dict(self) -> dict[str, object]:
        return {"address": str(self.address)}


@dataclass(frozen=True, slots=True)
class UnknownLla:
    """A sub-type RFC 4881 does not define (0 or 8-255), kept byte for byte."""

    sub_type: int
    data: bytes

    def encode(self) -> bytes:
        return self.data

    def to_dict(self) -> dict[str, object]:
        return {"data": self.data.hex()}


LlaValue = (
    Imsi3gpp2
    | Imsi3gpp
    | EthernetMac
    | Eui64
    | SolicitedIpv4Address
    | AccessPointId
    | FaIpv4Address
    | UnknownLla
)

_DECODERS = {
    cls.SUB_TYPE: cls.decode
    for cls in (
        Imsi3gpp2,
        Imsi3gpp,
        EthernetMac,
        Eui64,
        SolicitedIpv4Address,
        AccessPointId,
        FaIpv4Address,
    )
}


def lla_sub_type(value: LlaValue) -> int:
    """The sub-type byte for ``value``."""
    return value.sub_type if isinstance(value, UnknownLla) else int(value.SUB_TYPE)


def decode_lla_value(sub_type: int, body: bytes, offset: int) -> LlaValue:
    """Decode the LLA bytes after the Sub-Type byte; ``offset`` is where ``body`` starts."""
    decoder = _DECODERS.get(sub_type)  # type: ignore[call-overload]
    if decoder is None:
        return UnknownLla(sub_type=sub_type, data=body)
    value: LlaValue = decoder(body, offset)
    return value


def lla_name(sub_type: int) -> str:
    """Human-readable sub-type name for reports."""
    try:
        return LlaSubType(sub_type).name.lower()
    except ValueError:
        return f"unassigned_{sub_type}"


def _exact(body: bytes, size: int, field: str, offset: int) -> None:
    if len(body) != size:
        raise LengthError(
            f"needs exactly {size} bytes, got {len(body)}", field=field, offset=offset
        )
