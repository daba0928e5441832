"""``mip4 decode``: find and decode every Mobile IPv4 message in hex or in a capture.

:class:`PacketDecoder` walks an IPv4 datagram: UDP port 434 (either direction) gives a
control message (:func:`mip4.wire.messages.decode_control_message`), ICMP types 3, 9 and 10
an ICMP message (:func:`mip4.wire.icmp.decode_icmp`); IP-in-IP, minimal encapsulation and
GRE are decapsulated and the inner datagram walked again, marked as tunnelled; ESP is
reported by SPI and sequence number, or authenticated and opened when its key is known.

Every walk returns a list of results: :class:`DecodedMessage` (one JSON line each),
:class:`Malformed` (one stderr line naming the frame, the field and the byte offset), or
:class:`Skipped` (not Mobile IP; reported only with ``--verbose``). A capture frame whose link
layer cannot be read (an unsupported link type) is :class:`Unexamined`: it may hold a message,
so it is always reported and makes the exit code 2, like a malformed message.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from mip4.errors import LocalUsageError, Mip4Error
from mip4.pcap import CaptureError, read_capture
from mip4.wire.errors import DecodeError, LengthError, UnknownMessageType
from mip4.wire.esp import (
    NEXT_HEADER_IPV4,
    NEXT_HEADER_NO_NEXT,
    EspMode,
    EspSecurityAssociation,
    esp_unprotect,
    peek_spi_and_sequence,
)
from mip4.wire.icmp import decode_icmp
from mip4.wire.ip import (
    FLAG_MF,
    PROTO_ESP,
    PROTO_GRE,
    PROTO_ICMP,
    PROTO_IPIP,
    PROTO_MINIMAL,
    PROTO_UDP,
    IPv4Header,
    UdpDatagram,
)
from mip4.wire.messages import MOBILE_IP_PORT, decode_control_message
from mip4.wire.tunnel import (
    GRE_VERSION,
    decapsulate_gre,
    decapsulate_ip_in_ip,
    decapsulate_minimal,
)

MAX_TUNNEL_DEPTH = 8  # nested encapsulations followed before giving up
TUNNEL_NAMES = {PROTO_IPIP: "ip-in-ip", PROTO_MINIMAL: "minimal", PROTO_GRE: "gre"}

PROTOCOL_NAMES = {
    1: "icmp",
    4: "ip-in-ip",
    6: "tcp",
    17: "udp",
    47: "gre",
    50: "esp",
    55: "minimal",
}

# Names used in the "malformed ..." line, by the first byte of the message.
CONTROL_MESSAGE_NAMES = {
    1: "registration request",
    3: "registration reply",
    16: "handoff request",
    17: "handoff reply",
    18: "regional registration request",
    19: "regional registration reply",
}
ICMP_MESSAGE_NAMES = {
    3: "destination unreachable",
    9: "agent advertisement",
    10: "agent solicitation",
}
# Mobile IP control messages that exist but this stack does not decode (digest §1.1):
# reported as skipped, not as malformed.
UNSUPPORTED_CONTROL_TYPES = {
    4: "MIP tunnel data (RFC 3519)",
    7: "registration revocation (RFC 3543)",
    15: "registration revocation acknowledgment (RFC 3543)",
    20: "fast binding update (RFC 4988)",
    21: "fast binding acknowledgment (RFC 4988)",
    22: "generic notification",
    23: "generic notification acknowledgment",
    24: "home test init",
    25: "care-of test init",
    26: "home test",
    27: "care-of test",
    255: "experimental message (RFC 4064)",
}
_INTERESTING_PROTOCOLS = frozenset(
    {PROTO_ICMP, PROTO_UDP, PROTO_IPIP, PROTO_GRE, PROTO_ESP, PROTO_MINIMAL}
)


class _ToDict(Protocol):
    def to_dict(self) -> dict[str, object]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """Where a message came from: a capture frame (``label`` "frame") or a hex argument."""

    number: int
    time: float | None = None
    label: str = "frame"


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodedMessage:
    """One decoded message and the IPv4 header (and tunnels) that carried it."""

    frame: Frame
    message: _ToDict
    protocol: str
    src: str | None = None
    dst: str | None = None
    ttl: int | None = None
    src_port: int | None = None
    dst_port: int | None = None
    tunnel: tuple[dict[str, object], ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "frame": self.frame.number,
            "time": self.frame.time,
            "src": self.src,
            "dst": self.dst,
            "ttl": self.ttl,
            "protocol": self.protocol,
        }
        if self.src_port is not None:
            out["src_port"] = self.src_port
            out["dst_port"] = self.dst_port
        if self.tunnel:
            out["tunnel"] = list(self.tunnel)
        out["message"] = self.message.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class Malformed:
    """A message that failed to decode: ``what`` names it, ``error`` the field and offset."""

    frame: Frame
    what: str
    error: DecodeError

    def line(self) -> str:
        return f"{self.frame.label} {self.frame.number}: malformed {self.what}: {self.error}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A frame with no Mobile IP message in it, and why."""

    frame: Frame
    reason: str

    def line(self) -> str:
        return f"{self.frame.label} {self.frame.number}: skipped: {self.reason}"


@dataclass(frozen=True, slots=True)
class Unexamined:
    """A capture frame whose link layer could not be read: any message in it is unseen.

    ``source`` names where frames like it come from (interface and link type), so that a
    capture full of them is reported once per source rather than once per frame.
    """

    frame: Frame
    reason: str
    source: tuple[int, int | None]

    def line(self) -> str:
        return f"{self.frame.label} {self.frame.number}: not examined: {self.reason}"


Result = DecodedMessage | Malformed | Skipped | Unexamined


@dataclass(frozen=True, slots=True, kw_only=True)
class TunnelledPacket:
    """The inner datagram of a tunnel that carries no Mobile IP message (user data)."""

    header: IPv4Header
    payload_length: int

    def to_dict(self) -> dict[str, object]:
        return {
            "message": "tunnelled_packet",
            "src": str(self.header.source),
            "dst": str(self.header.destination),
            "ttl": self.header.ttl,
            "protocol": _protocol_name(self.header.protocol),
            "total_length": self.header.total_length,
            "payload_length": self.payload_length,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EspSummary:
    """An ESP packet without a key to open it: what the header shows (RFC 4303 §2)."""

    spi: int
    sequence_number: int
    length: int

    def to_dict(self) -> dict[str, object]:
        return {
            "message": "esp",
            "spi": self.spi,
            "sequence_number": self.sequence_number,
            "length": self.length,
            "authenticated": False,
        }


def _protocol_name(number: int) -> str:
    return PROTOCOL_NAMES.get(number, str(number))


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    frame: Frame
    tunnel: tuple[dict[str, object], ...] = ()

    def deeper(self, layer: dict[str, object]) -> _Context:
        return _Context(frame=self.frame, tunnel=(*self.tunnel, layer))


@dataclass(slots=True)
class PacketDecoder:
    """Finds the Mobile IP messages in IPv4 datagrams.

    ``esp_sas`` maps an ESP SPI to its security association (HMAC-SHA1-96, RFC 4881 §3.4
    inter-FA ICMP): such packets are authenticated and opened (tunnel or transport mode,
    told apart by the Next Header); without an SA an ESP packet is reported by SPI and
    sequence number only.
    ``verify_checksums`` False accepts bad IPv4/UDP/ICMP checksums (captures taken on a
    host with checksum offload show outgoing packets with unfinished checksums).
    """

    esp_sas: Mapping[int, EspSecurityAssociation] = field(default_factory=dict)
    verify_checksums: bool = True

    # ---------------------------------------------------------------- entry points

    def decode_ip(self, data: bytes, frame: Frame) -> list[Result]:
        """Every Mobile IP message in the IPv4 datagram ``data``."""
        return self._walk(data, _Context(frame=frame))

    def decode_control(self, payload: bytes, frame: Frame) -> list[Result]:
        """A UDP 434 payload on its own (no IP or UDP header)."""
        return [self._control(payload, _Context(frame=frame), None, None)]

    def decode_icmp_message(self, payload: bytes, frame: Frame) -> list[Result]:
        """An ICMP message on its own (no IP header)."""
        return [self._icmp(payload, _Context(frame=frame), None)]

    # ---------------------------------------------------------------- the walk

    def _walk(self, data: bytes, ctx: _Context) -> list[Result]:
        what = "tunnelled ipv4 packet" if ctx.tunnel else "ipv4 packet"
        try:
            header = IPv4Header.decode(data, verify_checksum=self.verify_checksums)
        except DecodeError as exc:
            if len(data) >= 20 and data[9] not in _INTERESTING_PROTOCOLS and not ctx.tunnel:
                return [Skipped(ctx.frame, f"IP protocol {_protocol_name(data[9])}")]
            return [Malformed(ctx.frame, what, exc)]
        if header.protocol not in _INTERESTING_PROTOCOLS:
            if ctx.tunnel:
                return [self._tunnelled_data(header, data, ctx)]
            return [Skipped(ctx.frame, f"IP protocol {_protocol_name(header.protocol)}")]
        if header.flags_fragment & (FLAG_MF | 0x1FFF):
            return [Skipped(ctx.frame, "IPv4 fragment (not reassembled)")]
        if header.total_length > len(data):
            return [Malformed(ctx.frame, what, _length_error(header.total_length, len(data)))]
        payload = data[header.header_length : header.total_length]
        results: list[Result]
        if header.protocol == PROTO_UDP:
            results = [self._udp(header, payload, ctx)]
        elif header.protocol == PROTO_ICMP:
            results = [self._icmp(payload, ctx, header)]
        else:
            results = self._encapsulated(header, data[: header.total_length], payload, ctx)
        if ctx.tunnel and all(isinstance(r, Skipped) for r in results):
            return [self._tunnelled_data(header, data, ctx)]
        return results

    def _tunnelled_data(self, header: IPv4Header, data: bytes, ctx: _Context) -> Result:
        packet = TunnelledPacket(
            header=header, payload_length=max(0, header.total_length - header.header_length)
        )
        return self._message(packet, ctx, header, _protocol_name(header.protocol))

    def _message(
        self,
        message: _ToDict,
        ctx: _Context,
        header: IPv4Header | None,
        protocol: str,
        ports: tuple[int, int] | None = None,
    ) -> DecodedMessage:
        return DecodedMessage(
            frame=ctx.frame,
            message=message,
            protocol=protocol,
            src=None if header is None else str(header.source),
            dst=None if header is None else str(header.destination),
            ttl=None if header is None else header.ttl,
            src_port=None if ports is None else ports[0],
            dst_port=None if ports is None else ports[1],
            tunnel=ctx.tunnel,
        )

    def _udp(self, header: IPv4Header, payload: bytes, ctx: _Context) -> Result:
        if len(payload) >= 4:
            sport = int.from_bytes(payload[0:2], "big")
            dport = int.from_bytes(payload[2:4], "big")
            if MOBILE_IP_PORT not in (sport, dport):
                return Skipped(ctx.frame, f"UDP {sport} -> {dport}, not port 434")
        try:
            udp = UdpDatagram.decode(
                payload,
                header.source,
                header.destination,
                verify_checksum=self.verify_checksums,
            )
        except DecodeError as exc:
            return Malformed(ctx.frame, "udp datagram", exc)
        return self._control(udp.payload, ctx, header, (udp.source_port, udp.destination_port))

    def _control(
        self,
        payload: bytes,
        ctx: _Context,
        header: IPv4Header | None,
        ports: tuple[int, int] | None,
    ) -> Result:
        mtype = payload[0] if payload else None
        if mtype in UNSUPPORTED_CONTROL_TYPES:
            return Skipped(ctx.frame, f"Mobile IP type {mtype}: {UNSUPPORTED_CONTROL_TYPES[mtype]}")
        try:
            message = decode_control_message(payload)
        except DecodeError as exc:
            what = CONTROL_MESSAGE_NAMES.get(mtype, "mobile ip control message")  # type: ignore[arg-type]
            return Malformed(ctx.frame, what, exc)
        return self._message(message, ctx, header, "udp", ports)

    def _icmp(self, payload: bytes, ctx: _Context, header: IPv4Header | None) -> Result:
        icmp_type = payload[0] if payload else None
        if header is not None and icmp_type not in ICMP_MESSAGE_NAMES:
            return Skipped(ctx.frame, f"ICMP type {icmp_type}")
        try:
            message = decode_icmp(payload, verify_checksum=self.verify_checksums)
        except UnknownMessageType as exc:
            return Malformed(ctx.frame, "icmp message", exc)
        except DecodeError as exc:
            what = ICMP_MESSAGE_NAMES.get(icmp_type, "icmp message")  # type: ignore[arg-type]
            return Malformed(ctx.frame, what, exc)
        return self._message(message, ctx, header, "icmp")

    def _encapsulated(
        self, header: IPv4Header, packet: bytes, payload: bytes, ctx: _Context
    ) -> list[Result]:
        if header.protocol == PROTO_ESP:
            return self._esp(header, packet, payload, ctx)
        if len(ctx.tunnel) >= MAX_TUNNEL_DEPTH:
            return [Skipped(ctx.frame, f"more than {MAX_TUNNEL_DEPTH} nested tunnels")]
        name = TUNNEL_NAMES[header.protocol]
        layer: dict[str, object] = {
            "encapsulation": name,
            "src": str(header.source),
            "dst": str(header.destination),
            "ttl": header.ttl,
        }
        try:
            if header.protocol == PROTO_IPIP:
                _, inner = decapsulate_ip_in_ip(packet)
            elif header.protocol == PROTO_MINIMAL:
                _, forwarding, inner = decapsulate_minimal(packet)
                layer["minimal"] = forwarding.to_dict()
            else:
                if len(payload) >= 4:
                    word, protocol_type = int.from_bytes(payload[:2], "big"), payload[2:4]
                    if word & GRE_VERSION or protocol_type != b"\x08\x00":
                        return [
                            Skipped(
                                ctx.frame,
                                f"GRE version {word & GRE_VERSION}, "
                                f"protocol type 0x{protocol_type.hex()}: not IPv4 in GRE",
                            )
                        ]
                _, gre, inner = decapsulate_gre(packet)
                layer["gre"] = gre.to_dict()
        except DecodeError as exc:
            return [Malformed(ctx.frame, f"{name} tunnel", exc)]
        return self._walk(inner, ctx.deeper(layer))

    def _esp(
        self, header: IPv4Header, packet: bytes, payload: bytes, ctx: _Context
    ) -> list[Result]:
        try:
            spi, sequence = peek_spi_and_sequence(payload)
        except DecodeError as exc:
            return [Malformed(ctx.frame, "esp packet", exc)]
        sa = self.esp_sas.get(spi)
        if sa is None:
            summary = EspSummary(spi=spi, sequence_number=sequence, length=len(payload))
            return [self._message(summary, ctx, header, "esp")]
        try:
            opened = esp_unprotect(sa, payload)  # RFC 4303 §3.4.4: the ICV first
        except DecodeError as exc:
            return [Malformed(ctx.frame, "esp packet", exc)]
        if opened.next_header == NEXT_HEADER_NO_NEXT:
            return [Skipped(ctx.frame, "ESP dummy packet (next header 59)")]
        tunnel_mode = opened.next_header == NEXT_HEADER_IPV4
        layer: dict[str, object] = {
            "encapsulation": "esp",
            "src": str(header.source),
            "dst": str(header.destination),
            "ttl": header.ttl,
            "spi": spi,
            "sequence_number": opened.sequence_number,
            "mode": "tunnel" if tunnel_mode else "transport",
            "authenticated": True,
        }
        if tunnel_mode:
            inner = opened.payload
        else:  # RFC 4303 §3.1.1: the IP header stays; its payload was protected
            restored = dataclasses.replace(
                header,
                protocol=opened.next_header,
                total_length=header.header_length + len(opened.payload),
                checksum=None,
            )
            inner = restored.encode() + opened.payload
        return self._walk(inner, ctx.deeper(layer))


def _length_error(total: int, present: int) -> DecodeError:
    return LengthError(
        f"total length {total} exceeds the {present} bytes captured",
        field="ipv4.total_length",
        offset=2,
    )


# -------------------------------------------------------------------- hex arguments

_HEX_SEPARATORS = re.compile(r"[\s:]+")


class HexArgumentError(Mip4Error):
    """A ``mip4 decode`` argument that is not hexadecimal."""


def parse_hex_argument(text: str, index: int) -> bytes:
    """The bytes of one hex argument (whitespace and colons allowed, optional ``0x``)."""
    cleaned = _HEX_SEPARATORS.sub("", text)
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    if not cleaned:
        raise HexArgumentError(f"argument {index}: no hex digits")
    bad = re.search(r"[^0-9a-fA-F]", cleaned)
    if bad is not None:
        raise HexArgumentError(
            f"argument {index}: {bad.group()!r} is not a hex digit "
            f"(character {bad.start() + 1} of {cleaned!r})"
        )
    if len(cleaned) % 2:
        raise HexArgumentError(
            f"argument {index}: odd number of hex digits ({len(cleaned)}); every byte needs two"
        )
    return bytes.fromhex(cleaned)


def decode_hex(decoder: PacketDecoder, data: bytes, index: int, *, icmp: bool) -> list[Result]:
    """Decode one hex argument: an IPv4 datagram if it starts like one (version 4), else a
    UDP 434 payload, or an ICMP message with ``icmp``."""
    frame = Frame(number=index, label="argument")
    if icmp:
        return decoder.decode_icmp_message(data, frame)
    if data and data[0] >> 4 == 4:
        return decoder.decode_ip(data, frame)
    return decoder.decode_control(data, frame)


# -------------------------------------------------------------------- output


def message_title(message: Mapping[str, Any]) -> str:
    """A short human name for a decoded message dict (used by ``--table``)."""
    name = str(message.get("message", "?"))
    extensions = message.get("extensions") or []
    has_lla = any(isinstance(e, dict) and e.get("type") == 140 for e in extensions)
    if name in ("handoff_request", "handoff_reply"):
        variant = message.get("variant")
        kind = "HRqst" if name == "handoff_request" else "HRply"
        if variant == "htt":
            return f"HTT ({kind})"
        return f"{kind}({variant})"
    if name == "agent_advertisement":
        if has_lla:
            return "PrRtAdv"
        return "Agent Advertisement" if message.get("is_agent_advertisement") else "Router Adv."
    if name == "agent_solicitation":
        return "PrRtSol" if has_lla else "Agent Solicitation"
    titles = {
        "registration_request": "Registration Request",
        "registration_reply": "Registration Reply",
        "regional_registration_request": "Regional Reg. Request",
        "regional_registration_reply": "Regional Reg. Reply",
        "destination_unreachable": "Dest. Unreachable",
        "tunnelled_packet": "tunnelled data",
        "esp": "ESP",
    }
    return titles.get(name, name.replace("_", " "))


def _flags(flags: Any) -> str | None:
    if not isinstance(flags, dict):
        return None
    letters = "".join(k for k, v in flags.items() if v)
    return letters or "-"


def _ext_summary(ext: Mapping[str, Any]) -> str:
    name = str(ext.get("name", ext.get("type")))
    short = {
        "mobile_home_authentication": "MN-HA",
        "mobile_foreign_authentication": "MN-FA",
        "foreign_home_authentication": "FA-HA",
        "generalized_authentication": "auth",
        "link_layer_address": "LLA",
        "mobility_agent_advertisement": "MAAE",
        "prefix_lengths": "prefix-lengths",
        "padding": "pad",
    }.get(name, name)
    if name == "generalized_authentication":
        sub = str(ext.get("sub_type_name", "")).upper().replace("_", "-")
        return f"{sub} auth spi={ext.get('spi')}"
    if "spi" in ext:
        return f"{short} spi={ext['spi']}"
    if name == "link_layer_address":
        value = ext.get("value")
        shown = ",".join(str(v) for v in value.values()) if isinstance(value, dict) else ""
        return f"LLA{ext.get('type')}/{ext.get('sub_type')} {shown}"
    if name == "mobility_agent_advertisement":
        coas = ext.get("care_of_addresses") or []
        return (
            f"MAAE seq={ext.get('sequence_number')} life={ext.get('registration_lifetime')} "
            f"flags={_flags(ext.get('flags'))} coa={','.join(str(c) for c in coas) or '-'}"
        )
    return short


def message_summary(message: Mapping[str, Any]) -> str:
    """The key fields of a decoded message dict, on one line."""
    parts: list[str] = []
    flags = _flags(message.get("flags"))
    if flags is not None:
        parts.append(f"flags={flags}")
    if "code_name" in message and message.get("message") != "tunnelled_packet":
        parts.append(f"code={message['code']} ({message['code_name']})")
    if "lifetime" in message:
        parts.append(f"life={message['lifetime']}")
    for key, label in (
        ("home_address", "home"),
        ("mn_home_address", "home"),
        ("home_agent", "ha"),
        ("ha_address", "ha"),
        ("gfa_ip_address", "gfa"),
        ("care_of_address", "coa"),
    ):
        if key in message:
            parts.append(f"{label}={message[key]}")
    if isinstance(message.get("identification"), int):
        parts.append(f"id={message['identification']:#018x}")
    original = message.get("original_header")
    if isinstance(original, dict):
        parts.append(
            f"about {original.get('source')} -> {original.get('destination')} "
            f"proto {_protocol_name(int(original.get('protocol', 0)))}"
        )
    if message.get("message") == "tunnelled_packet":
        parts.append(
            f"{message.get('protocol')} {message.get('payload_length')} bytes, "
            f"ttl {message.get('ttl')}"
        )
    if message.get("message") == "esp":
        parts.append(
            f"spi={message.get('spi'):#x} seq={message.get('sequence_number')} "
            f"{message.get('length')} bytes, not authenticated (no --esp-key)"
        )
    extensions = message.get("extensions")
    if isinstance(extensions, list) and extensions:
        parts.append("[" + "; ".join(_ext_summary(e) for e in extensions) + "]")
    return " ".join(parts)


def _tunnel_summary(tunnel: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for layer in tunnel:
        text = f"via {layer.get('encapsulation')} {layer.get('src')} -> {layer.get('dst')}"
        if layer.get("encapsulation") == "esp":
            text += f" (spi {layer.get('spi'):#x} seq {layer.get('sequence_number')}, verified)"
        parts.append(text)
    return " ".join(parts)


def print_table(records: Sequence[DecodedMessage], out: TextIO) -> None:
    """The ``--table`` view: one row per message."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Mobile IPv4 messages", show_lines=False, expand=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("src -> dst", no_wrap=True)
    table.add_column("message", no_wrap=True)
    table.add_column("fields", overflow="fold")
    start = next((r.frame.time for r in records if r.frame.time is not None), None)
    for record in records:
        data = record.message.to_dict()
        time = record.frame.time
        shown_time = "-" if time is None or start is None else f"{time - start:.3f}"
        route = f"{record.src or '-'} -> {record.dst or '-'}"
        details = message_summary(data)
        if record.tunnel:
            details = f"{_tunnel_summary(record.tunnel)} | {details}"
        if record.ttl is not None:
            route += f" ttl {record.ttl}"
        title = message_title(data)
        if data.get("message") == "tunnelled_packet" and record.tunnel:
            title = f"data via {record.tunnel[-1].get('encapsulation')}"
        table.add_row(str(record.frame.number), shown_time, route, title, details)
    console = Console(file=out, width=max(160, Console(file=out).width), highlight=False)
    console.print(table)


# -------------------------------------------------------------------- the command


def parse_esp_keys(values: Sequence[str]) -> dict[int, EspSecurityAssociation]:
    """``SPI:HEXKEY`` arguments (SPI decimal or 0x-hex, a 20-byte HMAC-SHA1-96 key in hex)
    as security associations by SPI."""
    sas: dict[int, EspSecurityAssociation] = {}
    for value in values:
        spi_text, sep, key_text = value.partition(":")
        try:
            if not sep:
                raise ValueError("expected SPI:HEXKEY")
            try:
                spi = int(spi_text, 0)
            except ValueError:
                raise ValueError(f"SPI {spi_text!r} is not a number") from None
            try:
                key = bytes.fromhex(key_text.replace(":", ""))
            except ValueError:
                raise ValueError("the key is not hex") from None
            # The mode only matters when protecting; unprotect reads it from Next Header.
            sas[spi] = EspSecurityAssociation(spi=spi, auth_key=key, mode=EspMode.TUNNEL)
        except (ValueError, LocalUsageError) as exc:
            raise HexArgumentError(f"--esp-key {value!r}: {exc}") from None
    return sas


def run(
    args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """The ``mip4 decode`` command (see :func:`mip4.cli.build_parser`)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        if args.write_sample:
            from mip4.samples import write_sample_pcap

            frames = write_sample_pcap(args.write_sample)
            print(f"wrote {len(frames)} sample frames to {args.write_sample}", file=err)
            if not args.pcap and not args.hex:
                return 0
        decoder = PacketDecoder(
            esp_sas=parse_esp_keys(args.esp_key or []),
            verify_checksums=not args.no_verify_checksums,
        )
        if args.pcap and args.hex:
            raise HexArgumentError("give either --pcap FILE or HEX arguments, not both")
        if args.pcap:
            results: Iterable[Result] = _pcap_results(decoder, args.pcap)
        elif args.hex:
            payloads = [parse_hex_argument(text, i) for i, text in enumerate(args.hex, 1)]
            results = (
                result
                for i, data in enumerate(payloads, 1)
                for result in decode_hex(decoder, data, i, icmp=args.icmp)
            )
        else:
            raise HexArgumentError("nothing to decode: give HEX arguments or --pcap FILE")
        return _emit(results, args, out, err)
    except BrokenPipeError:  # e.g. `mip4 decode --pcap f | head`: stop quietly
        _silence_stdout()
        return 0
    except (CaptureError, HexArgumentError) as exc:
        print(f"mip4 decode: error: {exc}", file=err)
        return 2


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _pcap_results(decoder: PacketDecoder, path: str) -> Iterable[Result]:
    for capture in read_capture(path):
        frame = Frame(number=capture.number, time=capture.time)
        if capture.link_error:
            reason = capture.skip or "unreadable link layer"
            yield Unexamined(frame, reason, (capture.interface, capture.linktype))
            continue
        if capture.ip is None:
            yield Skipped(frame, capture.skip or "no IPv4 packet")
            continue
        yield from decoder.decode_ip(capture.ip, frame)


def _emit(results: Iterable[Result], args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    malformed = 0
    skipped = 0
    count = 0
    unexamined: dict[tuple[int, int | None], int] = {}
    decoded: list[DecodedMessage] = []
    hex_mode = bool(args.hex)
    try:
        for result in results:
            if isinstance(result, Malformed):
                malformed += 1
                print(result.line(), file=err)
            elif isinstance(result, Unexamined):
                seen = unexamined.get(result.source, 0)
                unexamined[result.source] = seen + 1
                if seen == 0 or args.verbose:
                    print(result.line(), file=err)
            elif isinstance(result, Skipped):
                skipped += 1
                if args.verbose or hex_mode:
                    print(result.line(), file=err)
            elif args.table:
                decoded.append(result)
            else:
                count += 1
                out.write(json.dumps(result.to_dict(), separators=(", ", ": ")) + "\n")
    except CaptureError as exc:
        if args.table and decoded:
            print_table(decoded, out)
        _report_unexamined(unexamined, err)
        print(f"mip4 decode: error: {exc}", file=err)
        return 2
    if args.table:
        print_table(decoded, out)
    _report_unexamined(unexamined, err)
    if args.verbose:
        line = f"{count + len(decoded)} messages decoded, {malformed} malformed, "
        line += f"{skipped} frames skipped"
        if unexamined:
            line += f", {sum(unexamined.values())} frames not examined"
        print(line, file=err)
    return 2 if malformed or unexamined else 0


def _report_unexamined(counts: Mapping[tuple[int, int | None], int], err: TextIO) -> None:
    """One closing line per interface whose frames could not be read (the first was shown)."""
    for (interface, linktype), number in counts.items():
        if number > 1:
            link = "undescribed" if linktype is None else f"link type {linktype}"
            print(
                f"mip4 decode: {number} frames of interface {interface} ({link}) were not examined",
                file=err,
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mip4 decode``."""
    parser.add_argument(
        "hex",
        nargs="*",
        metavar="HEX",
        help="a message in hex (whitespace and colons allowed): an IPv4 datagram if it "
        "starts with version 4, else a UDP 434 payload (or ICMP with --icmp)",
    )
    parser.add_argument("--pcap", metavar="FILE", help="decode a capture (classic pcap or pcapng)")
    parser.add_argument("--icmp", action="store_true", help="treat HEX arguments as ICMP messages")
    parser.add_argument(
        "--table", action="store_true", help="print a readable table instead of JSON lines"
    )
    parser.add_argument(
        "--esp-key",
        action="append",
        metavar="SPI:HEXKEY",
        help="an ESP security association to authenticate and open (HMAC-SHA1-96: 20-byte "
        "key in hex; SPI decimal or 0x-hex); repeatable",
    )
    parser.add_argument(
        "--no-verify-checksums",
        action="store_true",
        help="accept bad IPv4/UDP/ICMP checksums (captures with checksum offload); tunnel "
        "headers are still verified",
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="report skipped frames and a count"
    )
    parser.add_argument(
        "--write-sample",
        metavar="FILE",
        help="write a pcap holding one of every message the stack speaks",
    )


__all__ = [
    "DecodedMessage",
    "Frame",
    "HexArgumentError",
    "Malformed",
    "PacketDecoder",
    "Skipped",
    "TunnelledPacket",
    "Unexamined",
    "add_arguments",
    "decode_hex",
    "message_summary",
    "message_title",
    "parse_hex_argument",
    "run",
]
