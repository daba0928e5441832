"""Our Wireshark Lua dissector (contrib/wireshark/mip4-rfc4881.lua) read by tshark (issue 2, §5).

One pcap holds our encodings of every RFC 4881 message: HRqst(s), HRply(s), HRqst(t), HRply(t)
with code 1, HRqst(r) with lifetime 0, HRply(r), the HTT request and reply (§4.5-4.7), a
low-latency RRQ with LLA 138 sub-types 3 and 7 (§5), LLA sub-types 1-7 across them (§9), the
PrRtAdv (LLA 140 sub-type 3) and PrRtSol (sub-types 5 and 6), the plain registration and
router-discovery messages, and a few broken messages. ``tshark -X lua_script:...`` runs once
over it; every ``mip4ll.*`` field must equal our ``to_dict()``, the stock dissectors must still
decode RRQ/RRP and ICMP as before, nothing valid may be flagged, and the broken messages must be.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mip4.wire.handoff import HandoffFlags, HandoffRequest
from mip4.wire.ip import build_udp_ipv4
from tests.conftest import require_tool
from tests.interop.frames import (
    HOME_ADDRESS,
    HOME_AGENT,
    MIP_PORT,
    NEW_FA,
    OLD_FA,
    Frame,
    assert_stock_mip,
    extension_lengths,
    flag,
    handoff_frames,
    icmp_frames,
    ints,
    lla_registration_frames,
    problems,
    registration_frames,
    run_tshark,
    write_pcap,
)

pytestmark = pytest.mark.tshark

SCRIPT = Path(__file__).resolve().parents[2] / "contrib" / "wireshark" / "mip4-rfc4881.lua"

Fields = dict[str, list[str]]


def _broken(name: str, payload: bytes) -> Frame:
    return Frame(name, build_udp_ipv4(OLD_FA, NEW_FA, MIP_PORT, MIP_PORT, payload), None)


_HRQST = HandoffRequest(
    flags=HandoffFlags.H,
    lifetime=10,
    mn_home_address=HOME_ADDRESS,
    ha_address=HOME_AGENT,
    identification=1,
).encode()

BROKEN = [
    # RFC 4881 §4.5: the fixed part is 24 bytes
    (_broken("truncated_fixed_part", _HRQST[:20]), "needs 24 bytes, has 20"),
    # an LLA 138 whose Length (9) runs past the end of the message
    (_broken("extension_overrun", _HRQST + bytes.fromhex("8a09030200")), "Length 9, only 3"),
    # LLA sub-type 3 is a 6-byte MAC (§9.3); this one has 4
    (
        _broken("lla_mac_too_short", _HRQST + bytes.fromhex("8a050302000000")),
        "sub-type 3 needs 6 bytes, has 4",
    ),
    # the long-format header of a type-36 extension cut short
    (_broken("generalized_auth_cut", _HRQST + bytes.fromhex("2402")), "needs 4 bytes"),
]
# flags H and R together name no variant (§4.5), and a reserved bit: a warning, not malformed
ODD = [_broken("no_variant_reserved_bit", bytes([16, 0xA1]) + _HRQST[2:])]

HANDOFFS = handoff_frames()
REGISTRATION = registration_frames() + lla_registration_frames()
ICMP = icmp_frames()
FRAMES = HANDOFFS + REGISTRATION + ICMP + [frame for frame, _ in BROKEN] + ODD
BY_NAME = {frame.name: frame for frame in FRAMES}


@pytest.fixture(scope="module")
def pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pcap(tmp_path_factory.mktemp("lua") / "rfc4881.pcap", FRAMES)


@cache
def _decoded(tshark: str, pcap: Path, *, lua: bool) -> dict[str, Fields]:
    rows = run_tshark(tshark, pcap, lua_script=SCRIPT if lua else None)
    assert len(rows) == len(FRAMES)
    return {frame.name: row for frame, row in zip(FRAMES, rows, strict=True)}


def decoded(pcap: Path, name: str) -> Fields:
    tshark = require_tool("tshark")
    return _decoded(tshark, pcap, lua=True)[name]


# --------------------------------------------------------------------------- expectations


def _lla_values(llas: list[dict[str, Any]]) -> dict[str, list[object]]:
    """Per LLA field name, the values our to_dict() gives, in message order (RFC 4881 §9)."""
    out: dict[str, list[object]] = {
        "imsi": [],
        "connection_id": [],
        "mac": [],
        "eui64": [],
        "ipv4": [],
        "apid": [],
    }
    for lla in llas:
        value = lla["value"]
        match lla["sub_type"]:
            case 1:
                out["imsi"].append(value["imsi"])
                out["connection_id"].append(value["connection_id"])
            case 2:
                out["imsi"].append(value["imsi"])
            case 3:
                out["mac"].append(value["mac"])
            case 4:
                out["eui64"].append(value["eui64"])
            case 5 | 7:
                out["ipv4"].append(value["address"])
            case 6:
                out["apid"].append(value["ap_id"])
    return out


def _assert_llas(llas: list[dict[str, Any]], fields: Fields, prefix: str) -> None:
    assert ints(fields.get(f"{prefix}.lla.subtype", [])) == [e["sub_type"] for e in llas]
    expected = _lla_values(llas)
    assert fields.get(f"{prefix}.lla.imsi", []) == expected["imsi"]
    assert ints(fields.get(f"{prefix}.lla.connection_id", [])) == expected["connection_id"]
    assert fields.get(f"{prefix}.lla.mac", []) == expected["mac"]
    assert fields.get(f"{prefix}.lla.eui64", []) == expected["eui64"]
    assert fields.get(f"{prefix}.lla.ipv4", []) == expected["ipv4"]
    assert ints(fields.get(f"{prefix}.lla.apid", [])) == expected["apid"]
    assert f"{prefix}.lla.data" not in fields


# --------------------------------------------------------------------------- tests


def test_script_loads_and_flags_nothing_valid(pcap: Path) -> None:
    tshark = require_tool("tshark")
    rows = _decoded(tshark, pcap, lua=True)
    for frame in HANDOFFS + REGISTRATION + ICMP + ODD:
        assert problems(rows[frame.name]) == [], frame.name


def test_without_the_script_tshark_cannot_read_handoffs(pcap: Path) -> None:
    """Why the script exists: stock tshark 4.0 shows every HRqst/HRply as malformed."""
    tshark = require_tool("tshark")
    rows = _decoded(tshark, pcap, lua=False)
    for frame in HANDOFFS:
        assert problems(rows[frame.name]), frame.name
        assert "mip4ll.type" not in rows[frame.name]


@pytest.mark.parametrize("name", [f.name for f in HANDOFFS])
def test_handoff_messages(pcap: Path, name: str) -> None:
    require_tool("tshark")
    frame = BY_NAME[name]
    exp = frame.expected
    fields = decoded(pcap, name)
    assert "mip.type" not in fields  # handled by the script, not handed to the stock "mip"
    assert fields["mip4ll.type"] == [str(exp["type"])]
    assert ints(fields["mip4ll.flags"]) == [frame.message.encode()[1]]
    for letter, value in exp["flags"].items():
        assert fields[f"mip4ll.flags.{letter.lower()}"] == [flag(value)], letter
    assert fields["mip4ll.flags.reserved"] == ["0"]
    assert fields["mip4ll.variant"] == [exp["variant"]]
    if exp["type"] == 17:
        assert fields["mip4ll.code"] == [str(exp["code"])]
        assert fields["mip4ll.reserved_raw"] == ["00", "0000"]
    else:
        assert "mip4ll.code" not in fields
        assert fields["mip4ll.reserved_raw"] == ["0000", "0000"]
    assert fields["mip4ll.lifetime"] == [str(exp["lifetime"])]
    assert fields["mip4ll.homeaddr"] == [exp["mn_home_address"]]
    assert fields["mip4ll.haaddr"] == [exp["ha_address"]]
    assert ints(fields["mip4ll.ident"]) == [exp["identification"]]
    assert [int(v, 16) for v in fields["mip4ll.ident_raw"]] == [exp["identification"]]

    exts = exp["extensions"]
    assert ints(fields["mip4ll.ext.type"]) == [e["type"] for e in exts]
    assert ints(fields["mip4ll.ext.length"]) == extension_lengths(frame.message.extensions)
    _assert_llas([e for e in exts if e["type"] == 138], fields, "mip4ll")
    auths = [e for e in exts if "spi" in e]
    assert ints(fields["mip4ll.auth.subtype"]) == [e["sub_type"] for e in exts if e["type"] == 36]
    assert ints(fields["mip4ll.auth.spi"]) == [e["spi"] for e in auths]
    assert fields["mip4ll.auth.authenticator_raw"] == [e["authenticator"] for e in auths]
    unknown = [e["data"] for e in exts if e["name"] == "unknown"]
    assert fields.get("mip4ll.ext.data_raw", []) == unknown


def test_every_lla_sub_type_is_covered() -> None:
    seen = {
        e["sub_type"]
        for frame in HANDOFFS + REGISTRATION
        for e in frame.expected["extensions"]
        if e["type"] == 138
    }
    assert seen == set(range(1, 8))


@pytest.mark.parametrize("name", [f.name for f in REGISTRATION])
def test_stock_registration_decoding_is_kept(pcap: Path, name: str) -> None:
    """With the script loaded, RRQ/RRP still go to the stock "mip" dissector, which sees
    exactly what it sees without the script; LLA 138 is decoded next to it."""
    require_tool("tshark")
    frame = BY_NAME[name]
    fields = decoded(pcap, name)
    assert_stock_mip(frame, fields)
    assert "mip4ll.type" not in fields
    llas = [e for e in frame.expected["extensions"] if e["type"] == 138]
    assert ints(fields.get("mip4ll.ext.type", [])) == [138] * len(llas)
    _assert_llas(llas, fields, "mip4ll")


def test_low_latency_rrq_lla(pcap: Path) -> None:
    require_tool("tshark")
    fields = decoded(pcap, "rrq_lla_combined")
    assert fields["mip4ll.lla.subtype"] == ["3", "7"]
    assert fields["mip4ll.lla.mac"] == ["02:00:00:00:00:01"]
    assert fields["mip4ll.lla.ipv4"] == [str(OLD_FA)]


@pytest.mark.parametrize("name", [f.name for f in ICMP])
def test_router_discovery_lla(pcap: Path, name: str) -> None:
    require_tool("tshark")
    frame = BY_NAME[name]
    exp = frame.expected
    fields = decoded(pcap, name)
    assert fields["icmp.type"] == [str(exp["type"])]  # the stock ICMP dissector still runs
    assert fields["icmp.checksum.status"] == ["1"]
    llas = [e for e in exp.get("extensions", []) if e["type"] == 140]
    assert ints(fields.get("mip4ll.rd.ext.type", [])) == [140] * len(llas)
    assert ints(fields.get("mip4ll.rd.ext.length", [])) == [
        1 + len(bytes.fromhex(_lla_bytes(frame, i))) for i in range(len(llas))
    ]
    _assert_llas(llas, fields, "mip4ll.rd")


def _lla_bytes(frame: Frame, index: int) -> str:
    """The LLA value bytes (after the Sub-Type) of the index-th LLA 140 extension, as hex."""
    values: list[str] = [
        ext.value.encode().hex() for ext in frame.message.extensions if ext.TYPE == 140
    ]
    return values[index]


def test_prrtadv_and_prrtsol_are_covered() -> None:
    subtypes = sorted(
        e["sub_type"]
        for frame in ICMP
        for e in frame.expected.get("extensions", [])
        if e["type"] == 140
    )
    assert subtypes == [3, 5, 6]


@pytest.mark.parametrize(("name", "message"), [(f.name, m) for f, m in BROKEN])
def test_broken_messages_are_flagged(pcap: Path, name: str, message: str) -> None:
    """Our expert info (group Malformed, severity Error) names what is wrong; no Lua error."""
    require_tool("tshark")
    fields = decoded(pcap, name)
    assert fields["mip4ll.type"] == ["16"]
    assert "_ws.malformed" in fields
    found = problems(fields)
    assert [p for p in found if p != "_ws.malformed"] == [
        m for m in fields["_ws.expert.message"] if message in m
    ]
    assert len(found) == 2
    assert not any(key.startswith("_ws.lua.error") for key in fields)


def test_odd_flags_are_a_warning(pcap: Path) -> None:
    require_tool("tshark")
    fields = decoded(pcap, "no_variant_reserved_bit")
    assert fields["mip4ll.variant"] == ["none"]
    assert fields["mip4ll.flags.reserved"] == ["1"]
    messages = fields["_ws.expert.message"]
    assert any("no handoff variant" in m for m in messages)
    assert any("Reserved" in m or "reserved" in m for m in messages)
