"""Capture files: classic pcap and pcapng, the link types we unwrap, and clear errors."""

from __future__ import annotations

import io
import struct
from ipaddress import IPv4Address
from pathlib import Path

import dpkt
import pytest

from mip4.errors import Mip4Error
from mip4.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    CaptureError,
    ethernet_frame,
    read_capture,
    write_pcap,
)
from mip4.wire.ip import build_udp_ipv4

SRC = IPv4Address("198.18.0.10")
DST = IPv4Address("198.18.3.1")
MAC_A = bytes.fromhex("02000000000a")
MAC_B = bytes.fromhex("020000000301")


def packet(n: int) -> bytes:
    return build_udp_ipv4(SRC, DST, 49152, 434, bytes([n]) * (10 + n))


def write_with_dpkt(path: Path, frames: list[bytes], linktype: int, *, nano: bool = False) -> None:
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=linktype, nano=nano)
        for i, frame in enumerate(frames):
            writer.writepkt_time(frame, 100.0 + i)


def test_raw_ipv4_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "raw.pcap"
    packets = [packet(i) for i in range(3)]
    assert write_pcap(path, [(1000.0 + i / 4, p) for i, p in enumerate(packets)]) == 3
    data = path.read_bytes()
    # pcap global header: magic (host order), v2.4, snaplen 65535, linktype 101 (raw IP).
    assert struct.unpack("=IHHiIII", data[:24]) == (0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW)
    frames = list(read_capture(path))
    assert [f.number for f in frames] == [1, 2, 3]
    assert [f.time for f in frames] == [1000.0, 1000.25, 1000.5]
    assert [f.ip for f in frames] == packets
    assert all(f.skip is None for f in frames)


def test_write_to_a_binary_stream() -> None:
    buffer = io.BytesIO()
    write_pcap(buffer, [(0.0, packet(1))])
    assert len(buffer.getvalue()) == 24 + 16 + len(packet(1))


def test_ethernet_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "eth.pcap"
    write_pcap(path, [(5.0, packet(1))], ethernet=True, source_mac=MAC_A, destination_mac=MAC_B)
    raw = path.read_bytes()
    assert struct.unpack("=I", raw[20:24]) == (LINKTYPE_ETHERNET,)
    assert raw[40:54] == MAC_B + MAC_A + b"\x08\x00"
    (frame,) = read_capture(path)
    assert frame.ip == packet(1)


def test_ethernet_vlan_tags_and_other_ethertypes(tmp_path: Path) -> None:
    path = tmp_path / "vlan.pcap"
    tagged = MAC_B + MAC_A + b"\x81\x00\x00\x64" + b"\x88\xa8\x00\x01" + b"\x08\x00" + packet(2)
    arp = MAC_B + MAC_A + b"\x08\x06" + bytes(28)
    runt = b"\x00" * 10
    write_with_dpkt(path, [tagged, arp, runt], LINKTYPE_ETHERNET)
    frames = list(read_capture(path))
    assert frames[0].ip == packet(2)
    assert frames[1].ip is None and frames[1].skip == "ethertype 0x0806, not IPv4"
    assert frames[2].ip is None and "shorter than its header" in str(frames[2].skip)


@pytest.mark.parametrize("linktype", [101, 228, 12, 14])
def test_raw_link_types(tmp_path: Path, linktype: int) -> None:
    path = tmp_path / "raw.pcap"
    ipv6 = bytes.fromhex("60000000") + bytes(36)
    write_with_dpkt(path, [packet(3), ipv6], linktype)
    first, second = read_capture(path)
    assert first.ip == packet(3)
    assert second.ip is None and second.skip == "IP version 6, not IPv4"


def test_linux_cooked_and_loopback(tmp_path: Path) -> None:
    sll = tmp_path / "sll.pcap"
    write_with_dpkt(sll, [bytes(14) + b"\x08\x00" + packet(4)], 113)
    assert [f.ip for f in read_capture(sll)] == [packet(4)]
    null = tmp_path / "null.pcap"
    write_with_dpkt(null, [struct.pack("<I", 2) + packet(5), struct.pack("<I", 24) + b"x"], 0)
    first, second = read_capture(null)
    assert first.ip == packet(5)
    assert second.ip is None


def test_unsupported_link_type_is_a_skip_reason(tmp_path: Path) -> None:
    path = tmp_path / "wifi.pcap"
    write_with_dpkt(path, [b"\x00" * 30], 105)
    (frame,) = read_capture(path)
    assert frame.ip is None and frame.skip == "unsupported link type 105"


def test_nanosecond_pcap_gives_float_times(tmp_path: Path) -> None:
    path = tmp_path / "nano.pcap"
    write_with_dpkt(path, [packet(1)], LINKTYPE_RAW, nano=True)
    (frame,) = read_capture(path)
    assert isinstance(frame.time, float) and frame.time == 100.0
    assert frame.ip == packet(1)


@pytest.mark.parametrize("linktype", [LINKTYPE_ETHERNET, LINKTYPE_RAW])
def test_pcapng(tmp_path: Path, linktype: int) -> None:
    path = tmp_path / "f.pcapng"
    frames = [packet(1), packet(2)]
    if linktype == LINKTYPE_ETHERNET:
        frames = [ethernet_frame(p, MAC_A, MAC_B) for p in frames]
    with path.open("wb") as handle:
        writer = dpkt.pcapng.Writer(handle, linktype=linktype)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=50.5 + i)
    read = list(read_capture(path))
    assert [f.number for f in read] == [1, 2]
    assert [f.ip for f in read] == [packet(1), packet(2)]
    assert [f.time for f in read] == pytest.approx([50.5, 51.5])


def test_not_a_capture_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a capture\n")
    with pytest.raises(CaptureError) as info:
        list(read_capture(path))
    message = str(info.value)
    assert str(path) in message
    assert "not a capture" in message and "68656c6c" in message
    assert isinstance(info.value, Mip4Error)


def test_empty_missing_and_truncated_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(CaptureError, match="empty"):
        list(read_capture(empty))
    with pytest.raises(CaptureError, match="cannot read"):
        list(read_capture(tmp_path / "missing.pcap"))
    short = tmp_path / "short.pcap"
    short.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
    with pytest.raises(CaptureError, match="not a readable pcap file"):
        list(read_capture(short))
    bad_ng = tmp_path / "bad.pcapng"
    bad_ng.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(30))
    with pytest.raises(CaptureError, match="not a readable pcapng file"):
        list(read_capture(bad_ng))


def test_record_cut_short_names_the_frame(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    write_pcap(path, [(1.0, packet(1)), (2.0, packet(2))])
    data = path.read_bytes()
    path.write_bytes(data + data[24:30])  # half of a third record header
    frames = read_capture(path)
    assert next(frames).number == 1
    assert next(frames).number == 2
    with pytest.raises(CaptureError, match="after frame 2"):
        next(frames)
