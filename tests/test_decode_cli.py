"""``mip4 decode``: JSON lines from hex and captures, the table view, and bad input."""

from __future__ import annotations

import json
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import dpkt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip4 import samples
from mip4.cli import main
from mip4.decode import (
    DecodedMessage,
    Frame,
    Malformed,
    PacketDecoder,
    Skipped,
    parse_esp_keys,
)
from mip4.pcap import LINKTYPE_ETHERNET, CaptureError, ethernet_frame, read_capture, write_pcap
from mip4.samples import sample_frames, write_sample_pcap
from mip4.wire.ip import PROTO_UDP, IPv4Packet, UdpDatagram, build_ipv4, build_udp_ipv4
from tests.conftest import require_tool

FRAMES = sample_frames()
INDEX = {frame.name: i for i, frame in enumerate(FRAMES)}

# Per sample frame: message name, then fields of "message" the decoder must produce.
EXPECTED: dict[str, tuple[str, dict[str, Any]]] = {
    "agent_solicitation": ("agent_solicitation", {"extensions": []}),
    "agent_advertisement": ("agent_advertisement", {"is_agent_advertisement": True}),
    "proxy_router_solicitation": ("agent_solicitation", {}),
    "proxy_router_advertisement": ("agent_advertisement", {"lifetime": 3}),
    "registration_request": (
        "registration_request",
        {"lifetime": 1800, "care_of_address": "198.18.3.1", "home_agent": "198.18.0.1"},
    ),
    "registration_reply": ("registration_reply", {"code": 0, "code_name": "accepted"}),
    "regional_registration_request": (
        "regional_registration_request",
        {"gfa_ip_address": "198.18.4.1"},
    ),
    "regional_registration_reply": ("regional_registration_reply", {"lifetime": 600}),
    "handoff_request_s": ("handoff_request", {"variant": "s", "lifetime": 10}),
    "handoff_reply_s": ("handoff_reply", {"variant": "s", "code_name": "success"}),
    "handoff_request_t": ("handoff_request", {"variant": "t"}),
    "handoff_reply_t": ("handoff_reply", {"variant": "t", "mn_home_address": "198.18.0.10"}),
    "handoff_request_r": ("handoff_request", {"variant": "r"}),
    "handoff_reply_r": ("handoff_reply", {"variant": "r"}),
    "handoff_to_third_request": ("handoff_request", {"variant": "htt"}),
    "handoff_to_third_reply": ("handoff_reply", {"variant": "htt"}),
    "ip_in_ip_tunnel": ("tunnelled_packet", {"protocol": "udp", "payload_length": 168}),
    "minimal_encapsulation_tunnel": ("tunnelled_packet", {"src": "198.18.5.100"}),
    "gre_reverse_tunnel": ("tunnelled_packet", {"dst": "198.18.5.100"}),
    "destination_unreachable": (
        "destination_unreachable",
        {"code": 1, "code_name": "host_unreachable"},
    ),
    "esp_inter_fa_advertisement": (
        "esp",
        {"spi": samples.ESP_KEY.spi, "sequence_number": 1, "authenticated": False},
    ),
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(["decode", *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def sample_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("decode") / "sample.pcap"
    write_sample_pcap(path)
    return path


def test_every_sample_frame(capsys: pytest.CaptureFixture[str], sample_pcap: Path) -> None:
    code, out, err = run(capsys, "--pcap", str(sample_pcap))
    assert (code, err) == (0, [])
    records = json_lines(out)
    assert [r["frame"] for r in records] == list(range(1, len(FRAMES) + 1))
    for record, frame in zip(records, FRAMES, strict=True):
        name, fields = EXPECTED[frame.name]
        message = record["message"]
        assert message["message"] == name, frame.name
        for key, value in fields.items():
            assert message[key] == value, (frame.name, key)
        header = IPv4Packet.decode(frame.packet).header
        if "tunnel" not in record:
            assert record["src"] == str(header.source)
            assert record["dst"] == str(header.destination)
            assert record["ttl"] == header.ttl
        assert record["time"] == pytest.approx(
            samples.SAMPLE_EPOCH + INDEX[frame.name] * samples.SAMPLE_INTERVAL
        )
    by_name = {frame.name: record for frame, record in zip(FRAMES, records, strict=True)}
    rrq = by_name["registration_request"]
    assert rrq["protocol"] == "udp"
    assert (rrq["src_port"], rrq["dst_port"]) == (samples.MN_PORT, 434)
    assert rrq["ttl"] == 255
    assert rrq["message"]["flags"] == {
        "S": False,
        "B": False,
        "D": False,
        "M": False,
        "G": False,
        "T": True,
    }
    assert [e["name"] for e in rrq["message"]["extensions"]] == [
        "mobile_home_authentication",
        "link_layer_address",
    ]
    assert rrq["message"]["extensions"][1]["sub_type"] == 3
    assert rrq["message"]["extensions"][1]["value"] == {"mac": "02:00:00:00:00:0a"}
    htt = by_name["handoff_to_third_request"]["message"]
    assert [(e["type"], e.get("sub_type")) for e in htt["extensions"]] == [
        (138, 5),
        (138, 3),
        (36, 2),
    ]
    prrtsol = by_name["proxy_router_solicitation"]
    assert prrtsol["protocol"] == "icmp" and prrtsol["ttl"] == 1
    assert prrtsol["message"]["extensions"][0]["value"] == {"address": "198.18.3.1"}
    tunnel = by_name["gre_reverse_tunnel"]
    assert tunnel["src"] == "198.18.0.10" and tunnel["protocol"] == "udp"
    assert len(tunnel["tunnel"]) == 1
    layer = tunnel["tunnel"][0]
    assert (layer["encapsulation"], layer["src"], layer["dst"]) == (
        "gre",
        "198.18.3.1",
        "198.18.0.1",
    )
    assert layer["gre"]["key"] == samples.GRE_KEY
    assert by_name["minimal_encapsulation_tunnel"]["tunnel"][0]["encapsulation"] == "minimal"
    assert by_name["ip_in_ip_tunnel"]["tunnel"][0]["encapsulation"] == "ip-in-ip"


def test_pcapng_gives_the_same_output(
    capsys: pytest.CaptureFixture[str], sample_pcap: Path, tmp_path: Path
) -> None:
    _, expected, _ = run(capsys, "--pcap", str(sample_pcap))
    path = tmp_path / "sample.pcapng"
    with path.open("wb") as handle:
        writer = dpkt.pcapng.Writer(handle, linktype=101)
        for i, frame in enumerate(FRAMES):
            writer.writepkt(frame.packet, ts=samples.SAMPLE_EPOCH + i * samples.SAMPLE_INTERVAL)
    code, out, err = run(capsys, "--pcap", str(path))
    assert (code, err) == (0, [])
    assert [r["message"] for r in json_lines(out)] == [r["message"] for r in json_lines(expected)]


def test_ethernet_pcap(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "eth.pcap"
    mac = samples.MN_MAC
    arp = mac + mac + b"\x08\x06" + bytes(28)
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=LINKTYPE_ETHERNET)
        writer.writepkt_time(arp, 1.0)
        for i, frame in enumerate(FRAMES[:6]):
            writer.writepkt_time(ethernet_frame(frame.packet, mac, samples.NFA_MAC), 2.0 + i)
    code, out, err = run(capsys, "--pcap", str(path))
    assert (code, err) == (0, [])
    records = json_lines(out)
    assert [r["frame"] for r in records] == [2, 3, 4, 5, 6, 7]
    assert [r["message"]["message"] for r in records] == [EXPECTED[f.name][0] for f in FRAMES[:6]]


def test_merged_pcapng_decodes_every_interface(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """mergecap of a raw-IPv4 and an Ethernet capture: a pcapng with two interfaces. Each
    frame is unwrapped by its own interface's link type, so no message is lost (frame 2
    used to be "skipped: IP version 0" with exit code 0)."""
    mergecap = require_tool("mergecap")
    raw, eth, merged = tmp_path / "raw.pcap", tmp_path / "eth.pcap", tmp_path / "m.pcapng"
    write_pcap(raw, [(1.0, FRAMES[0].packet), (3.0, FRAMES[2].packet)])
    mac = samples.MN_MAC
    write_pcap(eth, [(2.0, FRAMES[1].packet)], ethernet=True, source_mac=mac)
    subprocess.run([mergecap, "-F", "pcapng", "-w", str(merged), str(raw), str(eth)], check=True)
    code, out, err = run(capsys, "--pcap", str(merged), "--verbose")
    records = json_lines(out)
    assert [r["frame"] for r in records] == [1, 2, 3]
    assert [r["message"]["message"] for r in records] == [EXPECTED[f.name][0] for f in FRAMES[:3]]
    assert code == 0
    assert err == ["3 messages decoded, 0 malformed, 0 frames skipped"]


def _pcapng_with_unsupported_interface(path: Path, wifi_frames: int) -> None:
    """Interface 0 raw IPv4 (one RRQ), interface 1 link type 105 (802.11): not unwrapped."""

    def block(block_type: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        return (
            struct.pack("<II", block_type, 12 + len(body))
            + body
            + struct.pack("<I", 12 + len(body))
        )

    def epb(interface: int, data: bytes) -> bytes:
        return block(6, struct.pack("<IIIII", interface, 0, 0, len(data), len(data)) + data)

    rrq = FRAMES[INDEX["registration_request"]].packet
    path.write_bytes(
        block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
        + block(1, struct.pack("<HHI", 101, 0, 0))
        + block(1, struct.pack("<HHI", 105, 0, 0))
        + b"".join(epb(1, bytes(40)) for _ in range(wifi_frames))
        + epb(0, rrq)
    )


def test_unsupported_link_type_is_reported_not_skipped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A frame of a link type we cannot unwrap may hold a message: it is reported on stderr
    without --verbose, once per interface with a closing count, and the exit code is 2."""
    path = tmp_path / "wifi.pcapng"
    _pcapng_with_unsupported_interface(path, 3)
    code, out, err = run(capsys, "--pcap", str(path))
    assert code == 2
    assert [r["message"]["message"] for r in json_lines(out)] == ["registration_request"]
    assert err == [
        "frame 1: not examined: unsupported link type 105 on interface 1",
        "mip4 decode: 3 frames of interface 1 (link type 105) were not examined",
    ]
    one = tmp_path / "one.pcapng"
    _pcapng_with_unsupported_interface(one, 1)
    code, _, err = run(capsys, "--pcap", str(one))
    assert (code, err) == (2, ["frame 1: not examined: unsupported link type 105 on interface 1"])
    code, _, err = run(capsys, "--pcap", str(path), "--verbose")
    assert code == 2
    assert err[:3] == [
        f"frame {n}: not examined: unsupported link type 105 on interface 1" for n in (1, 2, 3)
    ]
    assert err[-1] == "1 messages decoded, 0 malformed, 0 frames skipped, 3 frames not examined"


def test_unsupported_link_type_in_classic_pcap(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "wifi.pcap"
    with path.open("wb") as handle:
        dpkt.pcap.Writer(handle, linktype=105).writepkt_time(bytes(40), 1.0)
    code, out, err = run(capsys, "--pcap", str(path))
    assert (code, out, err) == (2, [], ["frame 1: not examined: unsupported link type 105"])


def corrupt_reserved_flag(packet: bytes) -> bytes:
    """Set the RRQ's reserved flag r (0x04) and rebuild the UDP checksum around it."""
    ip = IPv4Packet.decode(packet)
    udp = UdpDatagram.decode(ip.payload, ip.header.source, ip.header.destination)
    payload = bytearray(udp.payload)
    payload[1] |= 0x04
    rebuilt = UdpDatagram(
        source_port=udp.source_port, destination_port=udp.destination_port, payload=bytes(payload)
    )
    return build_ipv4(
        ip.header.source,
        ip.header.destination,
        PROTO_UDP,
        rebuilt.encode(ip.header.source, ip.header.destination),
        ttl=ip.header.ttl,
    )


def test_one_malformed_frame(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    packets = [frame.packet for frame in FRAMES]
    index = INDEX["registration_request"]
    packets[index] = corrupt_reserved_flag(packets[index])
    path = tmp_path / "bad.pcap"
    write_pcap(path, [(float(i), p) for i, p in enumerate(packets)])
    code, out, err = run(capsys, "--pcap", str(path))
    assert code == 2
    assert err == [
        f"frame {index + 1}: malformed registration request: "
        "flags.r at offset 1: reserved flag r is set"
    ]
    records = json_lines(out)
    assert len(records) == len(FRAMES) - 1
    assert index + 1 not in [r["frame"] for r in records]


def test_bad_udp_checksum_is_malformed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    packet = bytearray(FRAMES[INDEX["registration_reply"]].packet)
    packet[-1] ^= 0xFF  # last authenticator byte: the UDP checksum no longer verifies
    path = tmp_path / "checksum.pcap"
    write_pcap(path, [(0.0, bytes(packet))])
    code, out, err = run(capsys, "--pcap", str(path))
    assert (code, out) == (2, [])
    assert len(err) == 1
    assert err[0].startswith("frame 1: malformed udp datagram: udp.checksum at offset 6: ")
    code, out, err = run(capsys, "--pcap", str(path), "--no-verify-checksums")
    assert (code, err) == (0, [])
    assert json_lines(out)[0]["message"]["message"] == "registration_reply"


def test_other_traffic_is_skipped_silently(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dns = build_udp_ipv4(samples.MN_HOME, samples.CN, 5353, 53, b"\x00" * 12)
    tcp = build_ipv4(samples.MN_HOME, samples.CN, 6, bytes(20))
    echo = build_ipv4(samples.MN_HOME, samples.CN, 1, b"\x08\x00\xf7\xff\x00\x00\x00\x00")
    tunnel_data = FRAMES[INDEX["registration_request"]].packet
    path = tmp_path / "other.pcap"
    write_pcap(path, [(0.0, dns), (1.0, tcp), (2.0, echo), (3.0, tunnel_data)])
    code, out, err = run(capsys, "--pcap", str(path))
    assert (code, err) == (0, [])
    assert [r["frame"] for r in json_lines(out)] == [4]
    code, out, err = run(capsys, "--pcap", str(path), "--verbose")
    assert code == 0
    assert err == [
        "frame 1: skipped: UDP 5353 -> 53, not port 434",
        "frame 2: skipped: IP protocol tcp",
        "frame 3: skipped: ICMP type 8",
        "1 messages decoded, 0 malformed, 3 frames skipped",
    ]


def test_table(capsys: pytest.CaptureFixture[str], sample_pcap: Path) -> None:
    code, out, err = run(capsys, "--pcap", str(sample_pcap), "--table")
    assert (code, err) == (0, [])
    text = "\n".join(out)
    for title in (
        "Agent Solicitation",
        "Agent Advertisement",
        "PrRtSol",
        "PrRtAdv",
        "Registration Request",
        "Regional Reg. Reply",
        "HRqst(s)",
        "HRply(t)",
        "HRqst(r)",
        "HTT (HRqst)",
        "data via gre",
        "Dest. Unreachable",
        "198.18.0.10 -> 198.18.3.1 ttl 255",
        "FA-FA auth spi=8194",
    ):
        assert title in text, title
    assert not text.lstrip().startswith("{")


RRQ_HEX = (  # digest §10 vector A (RFC 5944 §3.3, §3.5.2; RFC 4881 §9)
    "01 02 07 08 0a 00 00 0a 0a 00 00 01 c0 00 02 01 e8 a1 b2 c3 00 00 00 01"
    " 20 14 00 00 01 00 63 b0 b0 6d dd 21 3e 28 b0 bc ae ea 77 11 15 33"
    " 8a 07 03 02 00 00 00 00 01"
)
PRRTSOL_HEX = "0a:00:29:d0:00:00:00:00:8c:05:05:c6:33:64:07"  # digest §10 vector E


def test_hex_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    ip_hex = FRAMES[INDEX["handoff_request_s"]].packet.hex()
    code, out, err = run(capsys, RRQ_HEX, ip_hex)
    assert (code, err) == (0, [])
    first, second = json_lines(out)
    assert first["frame"] == 1 and first["src"] is None and first["time"] is None
    assert first["message"]["message"] == "registration_request"
    assert first["message"]["identification"] == 0xE8A1B2C300000001
    assert first["message"]["extensions"][0]["spi"] == 256
    assert second["frame"] == 2
    assert (second["src"], second["dst"], second["ttl"]) == ("198.18.2.1", "198.18.3.1", 64)
    assert second["message"]["variant"] == "s"


def test_hex_icmp(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--icmp", PRRTSOL_HEX)
    assert (code, err) == (0, [])
    (record,) = json_lines(out)
    assert record["protocol"] == "icmp"
    assert record["message"]["message"] == "agent_solicitation"
    assert record["message"]["extensions"][0]["value"] == {"address": "198.51.100.7"}


def test_hex_malformed_message(capsys: pytest.CaptureFixture[str]) -> None:
    bad = "01 06" + RRQ_HEX.replace(" ", "")[4:]  # T and the reserved r flag
    code, out, err = run(capsys, bad, RRQ_HEX)
    assert code == 2
    assert err == [
        "argument 1: malformed registration request: flags.r at offset 1: reserved flag r is set"
    ]
    assert len(out) == 1
    code, out, err = run(capsys, "10 84 00")
    assert code == 2 and out == []
    assert len(err) == 1
    assert err[0].startswith("argument 1: malformed handoff request: ")
    assert " at offset " in err[0] and "present" in err[0]  # truncated: names field and offset


@pytest.mark.parametrize(
    ("argument", "problem"),
    [
        ("01 02 zz", "'z' is not a hex digit"),
        ("01 0", "odd number of hex digits"),
        (" : ", "no hex digits"),
    ],
)
def test_bad_hex(capsys: pytest.CaptureFixture[str], argument: str, problem: str) -> None:
    code, out, err = run(capsys, RRQ_HEX, argument)
    assert (code, out) == (2, [])
    assert len(err) == 1
    assert err[0].startswith("mip4 decode: error: argument 2: ")
    assert problem in err[0]


def test_not_a_pcap(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "readme.txt"
    path.write_text("not a capture at all")
    code, out, err = run(capsys, "--pcap", str(path))
    assert (code, out) == (2, [])
    assert len(err) == 1
    assert str(path) in err[0] and "not a capture" in err[0]
    code, out, err = run(capsys, "--pcap", str(tmp_path / "missing.pcap"))
    assert code == 2 and "cannot read" in err[0]


def test_nothing_to_decode(capsys: pytest.CaptureFixture[str], sample_pcap: Path) -> None:
    code, _, err = run(capsys)
    assert code == 2 and "nothing to decode" in err[0]
    code, _, err = run(capsys, "--pcap", str(sample_pcap), RRQ_HEX)
    assert code == 2 and "not both" in err[0]


def test_write_sample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sample_pcap: Path
) -> None:
    path = tmp_path / "demo.pcap"
    code, out, err = run(capsys, "--write-sample", str(path))
    assert (code, out) == (0, [])
    assert err == [f"wrote {len(FRAMES)} sample frames to {path}"]
    assert path.read_bytes() == sample_pcap.read_bytes()


ESP_KEY_ARG = f"{samples.ESP_KEY.spi:#x}:{samples.ESP_KEY.key.hex()}"


def test_esp_with_key(capsys: pytest.CaptureFixture[str], sample_pcap: Path) -> None:
    code, out, err = run(capsys, "--pcap", str(sample_pcap), "--esp-key", ESP_KEY_ARG)
    assert (code, err) == (0, [])
    record = json_lines(out)[INDEX["esp_inter_fa_advertisement"]]
    assert record["frame"] == INDEX["esp_inter_fa_advertisement"] + 1
    assert (record["src"], record["dst"], record["protocol"]) == (
        "198.18.3.1",
        "198.18.0.10",
        "icmp",
    )
    assert record["tunnel"] == [
        {
            "encapsulation": "esp",
            "src": "198.18.3.1",
            "dst": "198.18.2.1",
            "ttl": 64,
            "spi": samples.ESP_KEY.spi,
            "sequence_number": 1,
            "mode": "tunnel",
            "authenticated": True,
        }
    ]
    message = record["message"]
    assert message["message"] == "agent_advertisement"
    assert message["extensions"][-1]["value"] == {"mac": "02:00:00:00:03:01"}


def test_esp_with_the_wrong_key(capsys: pytest.CaptureFixture[str], sample_pcap: Path) -> None:
    wrong = f"{samples.ESP_KEY.spi}:{bytes(20).hex()}"
    code, out, err = run(capsys, "--pcap", str(sample_pcap), "--esp-key", wrong)
    assert code == 2
    frame = INDEX["esp_inter_fa_advertisement"] + 1
    assert len(err) == 1
    assert err[0].startswith(f"frame {frame}: malformed esp packet: esp.icv at offset ")
    assert err[0].endswith("ICV does not verify (HMAC-SHA1-96)")
    assert len(out) == len(FRAMES) - 1


@pytest.mark.parametrize(
    ("argument", "problem"),
    [
        ("16388", "expected SPI:HEXKEY"),
        ("x:00", "is not a number"),
        ("16388:zz", "not hex"),
        ("16388:0011", "20-byte key"),
        ("12:" + "00" * 20, "reserved"),
    ],
)
def test_bad_esp_key(capsys: pytest.CaptureFixture[str], argument: str, problem: str) -> None:
    code, out, err = run(capsys, "--esp-key", argument, RRQ_HEX)
    assert (code, out) == (2, [])
    assert len(err) == 1 and err[0].startswith("mip4 decode: error: --esp-key")
    assert problem in err[0]


# --- robustness: the walk never raises, whatever the bytes ---------------------------------

DECODERS = [
    PacketDecoder(),
    PacketDecoder(esp_sas=parse_esp_keys([ESP_KEY_ARG])),
    PacketDecoder(verify_checksums=False),
]


def _check(results: list[DecodedMessage | Malformed | Skipped]) -> None:
    assert results
    for result in results:
        if isinstance(result, DecodedMessage):
            json.dumps(result.to_dict())
        elif isinstance(result, Malformed):
            assert result.line().startswith("frame 1: malformed ")
            assert " at offset " in result.line()


@given(st.binary(max_size=120))
def test_random_bytes_never_raise(data: bytes) -> None:
    for decoder in DECODERS:
        _check(decoder.decode_ip(data, Frame(number=1)))
        _check(decoder.decode_control(data, Frame(number=1)))
        _check(decoder.decode_icmp_message(data, Frame(number=1)))
        _check(decoder.decode_ip(b"\x45" + data, Frame(number=1)))


@given(
    st.sampled_from(FRAMES),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=3),
    st.integers(0, 400),
)
def test_mutated_samples_never_raise(frame: Any, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(frame.packet)
    for position, value in edits:
        if position < len(data):
            data[position] = value
    for decoder in DECODERS:
        _check(decoder.decode_ip(bytes(data), Frame(number=1)))
        _check(decoder.decode_ip(bytes(data[:cut]) or b"\x45", Frame(number=1)))


@given(
    st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\x0a\x0d\x0d\x0a", b"\x4d\x3c\xb2\xa1"]), st.binary()
)
def test_garbage_captures_raise_only_capture_errors(magic: bytes, rest: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".pcap") as handle:
        handle.write(magic + rest)
        handle.flush()
        try:
            for capture in read_capture(handle.name):
                assert capture.number >= 1
        except CaptureError as exc:
            assert handle.name in str(exc)
