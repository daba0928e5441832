"""tshark as an independent decoder of our encodings (issue 2, §3).

One pcap holds every message the stock tshark dissectors understand: Registration Request and
Reply with MN-HA / MN-FA / FA-HA authentication (RFC 5944 §3.3-3.5), Agent Advertisements with
the Mobility Agent Advertisement extension (RFC 5944 §2.1), Agent Solicitations (§2.2), a
Destination Unreachable (RFC 792), IP-in-IP (RFC 2003) and GRE (RFC 2784, RFC 2890). tshark
runs once over it (``-T json -x``) and must see the field values of our ``to_dict()``, good
IP / UDP / ICMP / GRE checksums, and nothing malformed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mip4.wire.ip import IPv4Header
from tests.conftest import require_tool
from tests.interop.frames import (
    Frame,
    assert_stock_mip,
    extension_lengths,
    flag,
    icmp_frames,
    ints,
    lla_registration_frames,
    problems,
    registration_frames,
    run_tshark,
    tunnel_frames,
    write_pcap,
)

pytestmark = pytest.mark.tshark

REGISTRATION = registration_frames() + lla_registration_frames()
ICMP = icmp_frames()
TUNNELS = tunnel_frames()
FRAMES = REGISTRATION + ICMP + TUNNELS
BY_NAME = {frame.name: frame for frame in FRAMES}

Fields = dict[str, list[str]]

# tshark's names for the MAAE flag bits (epan/dissectors/packet-icmp.c): RFC 5944 §2.1.1 "r"
# is RFC 2002's V ("v"), T is "rt"; I (RFC 4857, 0x0020) is inside tshark's reserved mask 0x3f.
MAAE_FIELDS = {
    "R": "r",
    "B": "b",
    "H": "h",
    "F": "f",
    "M": "m",
    "G": "g",
    "r": "v",
    "T": "rt",
    "U": "u",
    "X": "x",
}


@pytest.fixture(scope="module")
def pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pcap(tmp_path_factory.mktemp("tshark") / "stock.pcap", FRAMES)


@cache
def _decoded(tshark: str, pcap: Path) -> dict[str, Fields]:
    rows = run_tshark(tshark, pcap)
    assert len(rows) == len(FRAMES)
    return {frame.name: row for frame, row in zip(FRAMES, rows, strict=True)}


def decoded(pcap: Path, name: str) -> Fields:
    tshark = require_tool("tshark")
    return _decoded(tshark, pcap)[name]


def test_every_frame_is_read_without_errors(pcap: Path) -> None:
    tshark = require_tool("tshark")
    rows = _decoded(tshark, pcap)
    for frame in FRAMES:
        fields = rows[frame.name]
        assert problems(fields) == [], frame.name
        # our IPv4 header checksum, verified by tshark (first = outermost header)
        assert fields["ip.checksum.status"][0] == "1", frame.name
        assert fields["ip.src"][0] == str(_outer(frame)["source"]), frame.name
        assert fields["ip.dst"][0] == str(_outer(frame)["destination"]), frame.name


def _outer(frame: Frame) -> dict[str, object]:
    return IPv4Header.decode(frame.packet).to_dict()


@pytest.mark.parametrize("name", [f.name for f in REGISTRATION])
def test_registration_messages(pcap: Path, name: str) -> None:
    require_tool("tshark")
    frame = BY_NAME[name]
    fields = decoded(pcap, name)
    assert fields["udp.checksum.status"] == ["1"]
    assert ints(fields["udp.dstport"]) == [frame.packet[22] << 8 | frame.packet[23]]
    assert_stock_mip(frame, fields)


def _check_maae(ext: dict[str, Any], fields: Fields) -> None:
    assert fields["icmp.mip.seq"] == [str(ext["sequence_number"])]
    assert fields["icmp.mip.life"] == [str(ext["registration_lifetime"])]
    assert fields.get("icmp.mip.coa", []) == ext["care_of_addresses"]
    word = 0
    for bit, letter in enumerate("RBHFMGrTUXI"):
        if ext["flags"][letter]:
            word |= 0x8000 >> bit
    assert ints(fields["icmp.mip.flags"]) == [word | ext["reserved"]]
    for letter, name in MAAE_FIELDS.items():
        assert fields[f"icmp.mip.{name}"] == [flag(ext["flags"][letter])], letter
    assert ints(fields["icmp.mip.reserved"]) == [(word | ext["reserved"]) & 0x003F]


@pytest.mark.parametrize("name", [f.name for f in ICMP if f.expected["type"] == 9])
def test_agent_advertisements(pcap: Path, name: str) -> None:
    require_tool("tshark")
    frame = BY_NAME[name]
    exp = frame.expected
    fields = decoded(pcap, name)
    assert fields["icmp.type"] == ["9"]
    assert fields["icmp.code"] == [str(exp["code"])]
    assert ints(fields["icmp.checksum"]) == [exp["checksum"]]
    assert fields["icmp.checksum.status"] == ["1"]
    assert fields["icmp.num_addrs"] == [str(exp["num_addrs"])]
    assert fields["icmp.addr_entry_size"] == [str(exp["addr_entry_size"])]
    assert fields["icmp.lifetime"] == [str(exp["lifetime"])]
    routers = exp["router_addresses"]
    assert fields.get("icmp.router_address", []) == [r["address"] for r in routers]
    assert ints(fields.get("icmp.pref_level", [])) == [r["preference_level"] for r in routers]
    exts = exp["extensions"]
    # tshark reads the extension chain with the same boundaries (LLA 140 as "Unknown ext 140")
    assert fields["icmp.mip.type"] == [str(e["type"]) for e in exts]
    assert ints(fields["icmp.mip.length"]) == extension_lengths(frame.message.extensions)
    (maae,) = [e for e in exts if e["type"] == 16]
    _check_maae(maae, fields)
    prefixes = [n for e in exts if e["type"] == 19 for n in e["prefix_lengths"]]
    assert ints(fields.get("icmp.mip.prefixlength", [])) == prefixes
    challenges = [e["challenge"] for e in exts if e["type"] == 24]
    assert fields.get("icmp.mip.challenge_raw", []) == challenges


@pytest.mark.parametrize("name", [f.name for f in ICMP if f.expected["type"] == 10])
def test_agent_solicitations(pcap: Path, name: str) -> None:
    require_tool("tshark")
    exp = BY_NAME[name].expected
    fields = decoded(pcap, name)
    assert fields["icmp.type"] == ["10"]
    assert fields["icmp.code"] == ["0"]
    assert ints(fields["icmp.checksum"]) == [exp["checksum"]]
    assert fields["icmp.checksum.status"] == ["1"]
    # tshark stops after the 8-byte header: a PrRtSol's LLA 140 is not shown (nor flagged)
    assert "icmp.mip.type" not in fields


def test_destination_unreachable(pcap: Path) -> None:
    require_tool("tshark")
    exp = BY_NAME["destination_unreachable"].expected
    fields = decoded(pcap, "destination_unreachable")
    assert fields["icmp.type"] == ["3"]
    assert fields["icmp.code"] == [str(exp["code"])]
    assert ints(fields["icmp.checksum"]) == [exp["checksum"]]
    assert fields["icmp.checksum.status"] == ["1"]
    inner = exp["original_header"]
    assert fields["ip.src"][1] == inner["source"]
    assert fields["ip.dst"][1] == inner["destination"]
    assert fields["ip.proto"] == ["1", str(inner["protocol"])]
    assert fields["udp.dstport"] == ["434"]


@pytest.mark.parametrize("name", [f.name for f in TUNNELS])
def test_tunnels(pcap: Path, name: str) -> None:
    require_tool("tshark")
    frame = BY_NAME[name]
    exp = frame.expected
    fields = decoded(pcap, name)
    outer, inner = exp["outer"], exp["inner"]
    assert fields["ip.proto"][0] == str(outer["protocol"])
    assert fields["ip.len"][:2] == [str(outer["total_length"]), str(inner["total_length"])]
    assert ints(fields["ip.id"][:2]) == [outer["identification"], inner["identification"]]
    assert fields["ip.src"][:2] == [outer["source"], inner["source"]]
    assert fields["ip.dst"][:2] == [outer["destination"], inner["destination"]]
    assert fields["ip.ttl"][:2] == [str(outer["ttl"]), str(inner["ttl"])]
    assert fields["ip.proto"][1] == str(inner["protocol"])
    assert fields["ip.checksum.status"][:2] == ["1", "1"]
    assert fields["udp.checksum.status"] == ["1"]
    if exp["kind"] == "gre":
        gre = exp["gre"]
        assert ints(fields["gre.proto"]) == [gre["protocol_type"]]
        assert fields["gre.flags.checksum"] == [flag(gre["flags"]["C"])]
        assert fields["gre.flags.key"] == [flag(gre["flags"]["K"])]
        assert fields["gre.flags.sequence_number"] == [flag(gre["flags"]["S"])]
        assert ints(fields["gre.flags.version"]) == [gre["version"]]
        assert ints(fields["gre.checksum"]) == [gre["checksum"]]
        assert fields["gre.checksum.status"] == ["1"]
        assert ints(fields["gre.key"]) == [gre["key"]]
        assert ints(fields["gre.sequence_number"]) == [gre["sequence_number"]]
    else:
        assert "gre.proto" not in fields
