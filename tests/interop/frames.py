"""Frames for the interop tests, built with OUR encoders, and the plumbing to read them back.

Every frame is a whole IPv4 datagram (our :func:`mip4.wire.ip.build_udp_ipv4` /
:func:`~mip4.wire.ip.build_ipv4`) around a message encoded by :mod:`mip4.wire`, sealed with
:func:`mip4.wire.auth.seal` where the RFCs call for an authenticator. The tests write many
frames into one classic pcap with link type 101 (LINKTYPE_RAW: the record starts at the IPv4
header, no Ethernet header), because one tshark start costs about a quarter of a second.

Addresses come from 198.18.0.0/15 only (RFC 2544's benchmarking range, the lab's range).

:func:`run_tshark` runs tshark once over a pcap and returns, per frame, every field as
``name -> [values in tree order]`` (flattened from ``-T json -x --no-duplicate-keys``); the
``<name>_raw`` lists hold the field bytes as hex. tshark's "running as root" warning goes to
stderr, which is ignored: only stdout is parsed.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, TypeVar

import dpkt

from mip4.wire import auth
from mip4.wire.extensions import (
    ControlExtension,
    ForeignHomeAuthentication,
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    LinkLayerAddress,
    MobileForeignAuthentication,
    MobileHomeAuthentication,
    MobileNodeNai,
    Padding,
    UnknownSkippableExtension,
)
from mip4.wire.handoff import HandoffFlags, HandoffReply, HandoffRequest
from mip4.wire.icmp import (
    AdvertisementCode,
    AgentAdvertisement,
    AgentSolicitation,
    Challenge,
    DestinationUnreachable,
    MobilityAgentAdvertisement,
    MobilityAgentFlags,
    PrefixLengths,
    RouterAddress,
    RouterDiscoveryLinkLayerAddress,
    UnreachableCode,
)
from mip4.wire.ip import PROTO_ICMP, IPv4Header, build_ipv4, build_udp_ipv4
from mip4.wire.lla import (
    AccessPointId,
    EthernetMac,
    Eui64,
    FaIpv4Address,
    Imsi3gpp,
    Imsi3gpp2,
    SolicitedIpv4Address,
)
from mip4.wire.registration import (
    INFINITE_LIFETIME,
    RegistrationFlags,
    RegistrationReply,
    RegistrationRequest,
    ReplyCode,
)
from mip4.wire.tunnel import (
    Encapsulation,
    decapsulate,
    decapsulate_gre,
    encapsulate_gre,
    encapsulate_ip_in_ip,
)

LINKTYPE_RAW = 101  # pcap LINKTYPE_RAW (tcpdump.org link-layer header types): bare IPv4/IPv6
MIP_PORT = 434  # RFC 5944 §1.8
MN_PORT = 49_434  # an arbitrary ephemeral port for the mobile node's side

# 198.18.0.0/15 only.
HOME_ADDRESS = IPv4Address("198.18.1.10")
HOME_AGENT = IPv4Address("198.18.1.1")
OLD_FA = IPv4Address("198.18.2.1")
NEW_FA = IPv4Address("198.18.3.1")
ANCHOR_FA = IPv4Address("198.18.4.1")
COLOCATED_COA = IPv4Address("198.18.5.20")
CORRESPONDENT = IPv4Address("198.19.0.7")
UNSPECIFIED = IPv4Address("0.0.0.0")

MN_MAC = bytes.fromhex("020000000001")
NFA_MAC = bytes.fromhex("0200000000fe")
MN_EUI64 = bytes.fromhex("0200c0fffe000001")
MN_IMSI = "310150123456789"
AP_ID = 0x00A1_B2C3

MN_HA_KEY = b"mn-ha-key-0123456789"
MN_FA_KEY = b"mn-fa-key"
FA_HA_KEY = b"fa-ha-key"
FA_FA_KEY = b"fa-fa-shared-key"
MN_HA_SPI = 0x100
MN_FA_SPI = 0x101
FA_HA_SPI = 0x102
FA_FA_SPI = 0x200


@dataclass(frozen=True)
class Frame:
    """One pcap record: ``packet`` is a whole IPv4 datagram carrying ``message``."""

    name: str
    packet: bytes
    message: Any  # a mip4.wire message object (encode(), to_dict())

    @property
    def expected(self) -> dict[str, Any]:
        result: dict[str, Any] = self.message.to_dict()
        return result


def write_pcap(path: Path, frames: Sequence[Frame]) -> Path:
    """Write ``frames`` as a classic pcap with link type 101 (raw IP), one second apart."""
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f, snaplen=65535, linktype=LINKTYPE_RAW)
        for i, frame in enumerate(frames):
            writer.writepkt(frame.packet, ts=1_700_000_000 + i)
    return path


def udp434(
    name: str,
    message: Any,
    source: IPv4Address,
    destination: IPv4Address,
    *,
    source_port: int = MIP_PORT,
    destination_port: int = MIP_PORT,
) -> Frame:
    """A Mobile IP control message in a UDP datagram (to or from port 434)."""
    packet = build_udp_ipv4(source, destination, source_port, destination_port, message.encode())
    return Frame(name, packet, message)


# --------------------------------------------------------------------------- UDP 434 messages


_M = TypeVar("_M", bound=auth.AuthenticatedMessage)


def _mn_ha(message: _M) -> _M:
    return auth.seal(message, MobileHomeAuthentication(spi=MN_HA_SPI, authenticator=b""), MN_HA_KEY)


def _fa_fa(message: _M) -> _M:
    template = GeneralizedAuthentication(
        subtype=GeneralizedAuthSubtype.FA_FA, spi=FA_FA_SPI, authenticator=b""
    )
    return auth.seal(message, template, FA_FA_KEY)


def _lla(value: Any) -> LinkLayerAddress:
    return LinkLayerAddress(value=value)


def _rrq(
    flags: RegistrationFlags,
    lifetime: int,
    coa: IPv4Address,
    ident: int,
    extensions: tuple[ControlExtension, ...] = (),
) -> RegistrationRequest:
    return RegistrationRequest(
        flags=flags,
        lifetime=lifetime,
        home_address=HOME_ADDRESS,
        home_agent=HOME_AGENT,
        care_of_address=coa,
        identification=ident,
        extensions=extensions,
    )


def _rrp(code: int, lifetime: int, ident: int) -> RegistrationReply:
    return RegistrationReply(
        code=code,
        lifetime=lifetime,
        home_address=HOME_ADDRESS,
        home_agent=HOME_AGENT,
        identification=ident,
    )


F = RegistrationFlags


def registration_frames() -> list[Frame]:
    """RRQ/RRP (RFC 5944 §3.3-3.4) with MN-HA, MN-FA and FA-HA authentication."""
    all_flags = F.S | F.B | F.D | F.M | F.G | F.T
    rrq_fa_ha = auth.seal(
        _mn_ha(_rrq(F.B, 600, OLD_FA, 0x8000_0000_0000_0001)),
        ForeignHomeAuthentication(spi=FA_HA_SPI, authenticator=b""),
        FA_HA_KEY,
    )
    rrp_fa = auth.seal(
        _rrp(ReplyCode.FA_LIFETIME_TOO_LONG, 300, 0xE8A1_B2C3_0000_0005),
        MobileForeignAuthentication(spi=MN_FA_SPI, authenticator=b""),
        MN_FA_KEY,
    )
    return [
        udp434(
            "rrq_reverse_tunnel",
            _mn_ha(_rrq(F.T, 1800, OLD_FA, 0xE8A1_B2C3_0000_0001)),
            HOME_ADDRESS,
            OLD_FA,
            source_port=MN_PORT,
        ),
        udp434(
            "rrq_all_flags_colocated",
            _mn_ha(
                _rrq(
                    all_flags,
                    INFINITE_LIFETIME,
                    COLOCATED_COA,
                    0x0000_0000_FFFF_FFFF,
                    (MobileNodeNai(nai=b"mn1@mip4.test"),),
                )
            ),
            COLOCATED_COA,
            HOME_AGENT,
            source_port=MN_PORT,
        ),
        udp434(
            "rrq_deregistration",
            _mn_ha(_rrq(F.NONE, 0, HOME_ADDRESS, 0x0123_4567_89AB_CDEF)),
            HOME_ADDRESS,
            HOME_AGENT,
            source_port=MN_PORT,
        ),
        udp434("rrq_mn_ha_fa_ha", rrq_fa_ha, OLD_FA, HOME_AGENT),
        udp434(
            "rrp_accepted",
            _mn_ha(_rrp(ReplyCode.ACCEPTED, 1800, 0xE8A1_B2C3_0000_0001)),
            HOME_AGENT,
            OLD_FA,
        ),
        udp434(
            "rrp_no_simultaneous_bindings",
            _mn_ha(_rrp(ReplyCode.ACCEPTED_NO_SIMULTANEOUS_BINDINGS, 900, 0xFFFF_FFFF_FFFF_FFFE)),
            HOME_AGENT,
            COLOCATED_COA,
            destination_port=MN_PORT,
        ),
        udp434(
            "rrp_mn_failed_authentication",
            _mn_ha(_rrp(ReplyCode.HA_MN_FAILED_AUTHENTICATION, 0, 0x0123_4567_89AB_CDEF)),
            HOME_AGENT,
            OLD_FA,
        ),
        udp434("rrp_fa_lifetime_too_long", rrp_fa, OLD_FA, HOME_ADDRESS, destination_port=MN_PORT),
    ]


def lla_registration_frames() -> list[Frame]:
    """Low-latency RRQ of the combined method (RFC 4881 §5): LLA 138 sub-types 3 and 7."""
    rrq = _mn_ha(
        _rrq(
            F.T,
            1800,
            NEW_FA,
            0xE8A1_B2C3_0000_0010,
            (_lla(EthernetMac(mac=MN_MAC)), _lla(FaIpv4Address(address=OLD_FA))),
        )
    )
    return [udp434("rrq_lla_combined", rrq, HOME_ADDRESS, NEW_FA, source_port=MN_PORT)]


H = HandoffFlags


def _hrqst(
    flags: HandoffFlags,
    lifetime: int,
    ident: int,
    extensions: tuple[ControlExtension, ...],
    *,
    known: bool = True,
) -> HandoffRequest:
    return _fa_fa(
        HandoffRequest(
            flags=flags,
            lifetime=lifetime,
            mn_home_address=HOME_ADDRESS if known else UNSPECIFIED,
            ha_address=HOME_AGENT if known else UNSPECIFIED,
            identification=ident,
            extensions=extensions,
        )
    )


def _hrply(
    flags: HandoffFlags,
    code: int,
    lifetime: int,
    ident: int,
    extensions: tuple[ControlExtension, ...] = (),
    *,
    known: bool = True,
) -> HandoffReply:
    return _fa_fa(
        HandoffReply(
            flags=flags,
            code=code,
            lifetime=lifetime,
            mn_home_address=HOME_ADDRESS if known else UNSPECIFIED,
            ha_address=HOME_AGENT if known else UNSPECIFIED,
            identification=ident,
            extensions=extensions,
        )
    )


def handoff_frames() -> list[Frame]:
    """HRqst/HRply (RFC 4881 §4.5-4.7) in every variant, with LLA sub-types 1-7 spread over them
    and FA-FA authentication (type 36 sub-type 2, RFC 4857 §11) last in each."""
    return [
        udp434(
            "hrqst_s",
            _hrqst(
                H.H | H.T,
                10,
                0xE8A1_B2C3_0000_0002,
                (_lla(EthernetMac(mac=MN_MAC)), _lla(AccessPointId(ap_id=AP_ID))),
            ),
            OLD_FA,
            NEW_FA,
        ),
        udp434(
            "hrply_s",
            _hrply(H.H | H.T, 0, 10, 0xE8A1_B2C3_0000_0002, known=False),
            NEW_FA,
            OLD_FA,
        ),
        udp434(
            "hrqst_t",
            _hrqst(
                H.N | H.T,
                5,
                0xE8A1_B2C3_0000_0003,
                (_lla(Imsi3gpp2(imsi=MN_IMSI, connection_id=7)),),
                known=False,
            ),
            NEW_FA,
            OLD_FA,
        ),
        udp434(
            "hrply_t_failure",
            _hrply(H.N, 1, 0, 0xE8A1_B2C3_0000_0003, (_lla(Imsi3gpp(imsi=MN_IMSI)),)),
            OLD_FA,
            NEW_FA,
        ),
        udp434(
            "hrqst_s_gre_infinite",
            _hrqst(
                H.H | H.G | H.B,
                0xFFFF,
                0x0000_0001_0000_0000,
                (
                    _lla(Eui64(eui64=MN_EUI64)),
                    UnknownSkippableExtension(ext_type=200, data=b"\x01\x02\x03"),
                    Padding(),
                ),
            ),
            OLD_FA,
            NEW_FA,
        ),
        udp434(
            "hrqst_r_terminate",
            _hrqst(H.R, 0, 0xE8A1_B2C3_0000_0004, ()),
            OLD_FA,
            NEW_FA,
        ),
        udp434(
            "hrply_r_renewed",
            _hrply(H.R | H.M, 0, 20, 0xE8A1_B2C3_0000_0004),
            NEW_FA,
            OLD_FA,
        ),
        udp434(
            "htt_request",
            _hrqst(
                H.H | H.N,
                10,
                0xE8A1_B2C3_0000_0006,
                (
                    _lla(SolicitedIpv4Address(address=ANCHOR_FA)),
                    _lla(EthernetMac(mac=MN_MAC)),
                ),
            ),
            OLD_FA,
            NEW_FA,
        ),
        udp434(
            "htt_reply",
            _hrply(
                H.H | H.N,
                0,
                10,
                0xE8A1_B2C3_0000_0006,
                (_lla(EthernetMac(mac=NFA_MAC)), _lla(FaIpv4Address(address=OLD_FA))),
            ),
            NEW_FA,
            OLD_FA,
        ),
    ]


# --------------------------------------------------------------------------- ICMP 9 / 10 / 3


def icmp(name: str, message: Any, source: IPv4Address, destination: IPv4Address) -> Frame:
    """An ICMP message in an IPv4 datagram with TTL 1 (RFC 5944 §2.1, §2.2). The frame keeps
    the message as decoded from its encoding, so ``to_dict()`` shows the computed checksum."""
    raw = message.encode()
    packet = build_ipv4(source, destination, PROTO_ICMP, raw, ttl=1)
    return Frame(name, packet, type(message).decode(raw))


M = MobilityAgentFlags


def icmp_frames() -> list[Frame]:
    """Agent Advertisements with the MAAE (RFC 5944 §2.1), Agent Solicitations, the PrRtAdv and
    PrRtSol with LLA 140 (RFC 4881 §3.3, §9), and a Destination Unreachable (RFC 792)."""
    all_flags = M.R | M.B | M.H | M.F | M.M | M.G | M.T | M.U | M.X | M.I
    bounced = build_udp_ipv4(OLD_FA, HOME_AGENT, MIP_PORT, MIP_PORT, b"\x01" + bytes(23))
    return [
        icmp(
            "agent_advertisement_fa",
            AgentAdvertisement(
                lifetime=1800,
                router_addresses=(RouterAddress(address=OLD_FA, preference_level=0),),
                extensions=(
                    MobilityAgentAdvertisement(
                        sequence_number=0,
                        registration_lifetime=1800,
                        flags=M.F | M.T,
                        care_of_addresses=(OLD_FA,),
                    ),
                    PrefixLengths(prefix_lengths=(24,)),
                ),
            ),
            OLD_FA,
            HOME_ADDRESS,
        ),
        icmp(
            "agent_advertisement_all_flags",
            AgentAdvertisement(
                code=AdvertisementCode.MOBILITY_ONLY,
                lifetime=9000,
                extensions=(
                    MobilityAgentAdvertisement(
                        sequence_number=256,
                        registration_lifetime=0xFFFF,
                        flags=all_flags,
                        care_of_addresses=(OLD_FA, ANCHOR_FA),
                    ),
                    Challenge(challenge=bytes.fromhex("0123456789abcdef")),
                ),
            ),
            OLD_FA,
            HOME_ADDRESS,
        ),
        icmp(
            "agent_advertisement_home_agent",
            AgentAdvertisement(
                lifetime=600,
                router_addresses=(
                    RouterAddress(address=HOME_AGENT, preference_level=-0x8000_0000),
                    RouterAddress(address=IPv4Address("198.18.1.2"), preference_level=7),
                ),
                extensions=(
                    MobilityAgentAdvertisement(
                        sequence_number=0xFFFF, registration_lifetime=600, flags=M.H | M.G
                    ),
                    PrefixLengths(prefix_lengths=(24, 24)),
                ),
            ),
            HOME_AGENT,
            HOME_ADDRESS,
        ),
        icmp(
            "prrtadv",
            AgentAdvertisement(
                lifetime=30,
                router_addresses=(RouterAddress(address=NEW_FA),),
                extensions=(
                    MobilityAgentAdvertisement(
                        sequence_number=257,
                        registration_lifetime=1800,
                        flags=M.F | M.T,
                        care_of_addresses=(NEW_FA,),
                    ),
                    RouterDiscoveryLinkLayerAddress(value=EthernetMac(mac=NFA_MAC)),
                    Padding(),
                ),
            ),
            NEW_FA,
            HOME_ADDRESS,
        ),
        icmp("agent_solicitation", AgentSolicitation(), HOME_ADDRESS, OLD_FA),
        icmp(
            "prrtsol_nfa_address",
            AgentSolicitation(
                extensions=(
                    RouterDiscoveryLinkLayerAddress(value=SolicitedIpv4Address(address=NEW_FA)),
                )
            ),
            HOME_ADDRESS,
            OLD_FA,
        ),
        icmp(
            "prrtsol_access_point",
            AgentSolicitation(
                extensions=(RouterDiscoveryLinkLayerAddress(value=AccessPointId(ap_id=AP_ID)),)
            ),
            HOME_ADDRESS,
            OLD_FA,
        ),
        icmp(
            "destination_unreachable",
            DestinationUnreachable.about(bounced, UnreachableCode.PORT_UNREACHABLE),
            HOME_AGENT,
            OLD_FA,
        ),
    ]


# --------------------------------------------------------------------------- tunnels


@dataclass(frozen=True)
class Tunnelled:
    """A tunnelled datagram, shown as our own decapsulator (:func:`decapsulate`) reads it."""

    packet: bytes

    def encode(self) -> bytes:
        return self.packet

    def to_dict(self) -> dict[str, object]:
        result = decapsulate(self.packet)
        out: dict[str, object] = {
            "kind": result.kind.name.lower(),
            "outer": result.outer_header.to_dict(),
            "inner": IPv4Header.decode(result.inner).to_dict(),
        }
        if result.kind is Encapsulation.GRE:
            out["gre"] = decapsulate_gre(self.packet)[1].to_dict()
        return out


def tunnel_frames() -> list[Frame]:
    """IP in IP (RFC 2003) both ways between HA and FA, and GRE (RFC 2784) with the RFC 2890
    key and sequence number and the RFC 2784 checksum."""
    to_mn = build_udp_ipv4(CORRESPONDENT, HOME_ADDRESS, 5004, 5006, b"downlink data")
    from_mn = build_udp_ipv4(HOME_ADDRESS, CORRESPONDENT, 5006, 5004, b"uplink")
    frames = [
        ("ip_in_ip_ha_to_fa", encapsulate_ip_in_ip(to_mn, HOME_AGENT, OLD_FA, identification=7)),
        ("ip_in_ip_reverse_tunnel", encapsulate_ip_in_ip(from_mn, OLD_FA, HOME_AGENT, ttl=255)),
        (
            "gre_key_sequence_checksum",
            encapsulate_gre(
                to_mn,
                HOME_AGENT,
                COLOCATED_COA,
                key=0x0102_0304,
                sequence_number=0xFFFF_FFFF,
                checksum=True,
            ),
        ),
    ]
    return [Frame(name, packet, Tunnelled(packet)) for name, packet in frames]


# --------------------------------------------------------------------------- reading back


def _collect(key: str, value: Any, out: dict[str, list[str]]) -> None:
    if isinstance(value, dict):
        _walk(value, out)
    elif isinstance(value, list):
        for item in value:
            _collect(key, item, out)
    else:
        out.setdefault(key, []).append(str(value))


def _walk(node: dict[str, Any], out: dict[str, list[str]]) -> None:
    for key, value in node.items():
        if key.endswith("_raw"):
            # [hex, offset, length, bitmask, type], or a list of them for a repeated field
            raws = value if value and isinstance(value[0], list) else [value]
            out.setdefault(key, []).extend(str(raw[0]) for raw in raws)
        else:
            _collect(key, value, out)


def flatten(layers: dict[str, Any]) -> dict[str, list[str]]:
    """Every field of one frame's ``layers`` as ``name -> [values in tree order]``."""
    out: dict[str, list[str]] = {}
    _walk(layers, out)
    return out


def run_tshark(
    tshark: str,
    pcap: Path,
    *,
    lua_script: Path | None = None,
    options: Iterable[str] = (),
) -> list[dict[str, list[str]]]:
    """Run tshark once over ``pcap``; one flattened field map per frame, in capture order.

    IP and UDP checksum validation are switched on, so ``ip.checksum.status`` and
    ``udp.checksum.status`` are "1" (good) for our datagrams.
    """
    command = [tshark, "-n", "-r", str(pcap), "-T", "json", "-x", "--no-duplicate-keys"]
    command += ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
    if lua_script is not None:
        command += ["-X", f"lua_script:{lua_script}"]
    for option in options:
        command += ["-o", option]
    done = subprocess.run(command, capture_output=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    packets = json.loads(done.stdout)
    return [flatten(packet["_source"]["layers"]) for packet in packets]


PI_ERROR = 0x0080_0000  # epan/proto.h: expert severity "error" (malformed, bad checksum)


def problems(fields: dict[str, list[str]]) -> list[str]:
    """Why tshark thinks a frame is broken: malformed markers and error-severity expert info."""
    found = [key for key in fields if key.startswith("_ws.malformed")]
    messages = fields.get("_ws.expert.message", [])
    for i, severity in enumerate(fields.get("_ws.expert.severity", [])):
        if int(severity) >= PI_ERROR:
            found.append(messages[i] if i < len(messages) else f"severity {severity}")
    return found


def ints(values: Iterable[str]) -> list[int]:
    """tshark integer values ("10", "0x00000100") as ints."""
    return [int(v, 0) for v in values]


# --------------------------------------------------------------------------- expectations


def extension_lengths(extensions: Iterable[Any]) -> list[int]:
    """The Length field of every extension but padding, read from our own encoding (16 bits
    for the long format of types 36-38, RFC 5944 §1.11; one byte otherwise, §1.9-1.10)."""
    lengths = []
    for ext in extensions:
        raw = ext.encode()
        if raw[0] == 0:
            continue
        lengths.append(int.from_bytes(raw[2:4], "big") if raw[0] in (36, 37, 38) else raw[1])
    return lengths


def flag(value: bool) -> str:
    """A boolean as tshark shows it in JSON."""
    return "1" if value else "0"


def assert_stock_mip(frame: Frame, fields: dict[str, list[str]]) -> None:
    """tshark's stock "mip" dissector sees exactly our RRQ/RRP (RFC 5944 §3.3-3.5)."""
    exp = frame.expected
    assert fields["mip.type"] == [str(exp["type"])]
    assert fields["mip.life"] == [str(exp["lifetime"])]
    assert fields["mip.homeaddr"] == [exp["home_address"]]
    assert fields["mip.haaddr"] == [exp["home_agent"]]
    # mip.ident is shown as an NTP time with nanosecond resolution: compare its raw bytes
    assert [int(v, 16) for v in fields["mip.ident_raw"]] == [exp["identification"]]
    if exp["type"] == 1:
        assert fields["mip.coa"] == [exp["care_of_address"]]
        assert ints(fields["mip.flags"]) == [frame.message.encode()[1]]
        for letter, value in exp["flags"].items():
            assert fields[f"mip.{letter.lower()}"] == [flag(value)], letter
        # RFC 5944 §3.3 reserves 0x04 ("r", tshark: RFC 2002's V) and 0x01 ("x")
        assert fields["mip.v"] == ["0"]
        assert fields["mip.x"] == ["0"]
        assert "mip.code" not in fields
    else:
        assert fields["mip.code"] == [str(exp["code"])]
        assert "mip.coa" not in fields
    exts = exp["extensions"]
    assert fields.get("mip.ext.type", []) == [str(e["type"]) for e in exts]
    assert ints(fields.get("mip.ext.len", [])) == extension_lengths(frame.message.extensions)
    auths = [e for e in exts if "spi" in e]
    assert ints(fields.get("mip.auth.spi", [])) == [e["spi"] for e in auths]
    assert fields.get("mip.auth.auth_raw", []) == [e["authenticator"] for e in auths]
    generalized = [e["sub_type"] for e in exts if e["type"] == 36]
    assert ints(fields.get("mip.ext.auth.subtype", [])) == generalized
    nais = [e["nai"] for e in exts if e["type"] == 131]
    assert fields.get("mip.nai", []) == nais
    # LLA 138: named, body opaque (Sub-Type + LLA as one byte string)
    llas = [ext.encode()[2:].hex() for ext in frame.message.extensions if ext.encode()[0] == 138]
    assert fields.get("mip.extension_raw", []) == llas


__all__ = [
    "LINKTYPE_RAW",
    "Frame",
    "assert_stock_mip",
    "extension_lengths",
    "flag",
    "flatten",
    "handoff_frames",
    "icmp_frames",
    "ints",
    "lla_registration_frames",
    "problems",
    "registration_frames",
    "run_tshark",
    "tunnel_frames",
    "udp434",
    "write_pcap",
]
