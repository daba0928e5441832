"""Capture files: classic pcap and pcapng, the link types we unwrap, and clear errors."""

from __future__ import annotations

import io
import struct
import subprocess
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

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
from tests.conftest import require_tool

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
    assert frame.link_error and frame.linktype == 105


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


# --- pcapng with several interfaces and sections, built block by block ----------------------
#
# Layouts from draft-ietf-opsawg-pcapng §4: every block is Type (4) | Total Length (4) |
# body | Total Length (4), the body padded to 32 bits, integers in the section's byte order.


def ng_block(block_type: int, body: bytes, order: str = "<") -> bytes:
    body += bytes(-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", block_type, length) + body + struct.pack(order + "I", length)


def ng_shb(order: str = "<") -> bytes:
    # Byte-order magic, version 1.0, section length -1 (unknown).
    return ng_block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def ng_idb(
    linktype: int, order: str = "<", *, tsresol: int | None = None, tsoffset: int | None = None
) -> bytes:
    body = struct.pack(order + "HHI", linktype, 0, 0)
    if tsresol is not None:  # if_tsresol (code 9), one byte padded to four
        body += struct.pack(order + "HHB3x", 9, 1, tsresol)
    if tsoffset is not None:  # if_tsoffset (code 14), signed 64-bit seconds
        body += struct.pack(order + "HHq", 14, 8, tsoffset)
    if tsresol is not None or tsoffset is not None:
        body += bytes(4)  # opt_endofopt
    return ng_block(1, body, order)


def ng_epb(interface: int, ticks: int, data: bytes, order: str = "<") -> bytes:
    head = struct.pack(
        order + "IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return ng_block(6, head + data, order)


def test_pcapng_link_type_per_interface(tmp_path: Path) -> None:
    """Interface 0 raw IPv4, interface 1 Ethernet with nanosecond stamps: every frame is
    unwrapped by its own interface's link type (dpkt's reader took the first IDB's for all)."""
    path = tmp_path / "two.pcapng"
    path.write_bytes(
        ng_shb()
        + ng_idb(LINKTYPE_RAW)
        + ng_idb(LINKTYPE_ETHERNET, tsresol=9)
        + ng_epb(0, 10_500_000, packet(1))  # microseconds: 10.5 s
        + ng_epb(1, 11_250_000_000, ethernet_frame(packet(2), MAC_A, MAC_B))  # ns: 11.25 s
        + ng_block(5, bytes(8))  # an Interface Statistics Block: skipped
        + ng_epb(0, 12_000_000, packet(3))
    )
    frames = list(read_capture(path))
    assert [f.number for f in frames] == [1, 2, 3]
    assert [f.ip for f in frames] == [packet(1), packet(2), packet(3)]
    assert [f.interface for f in frames] == [0, 1, 0]
    assert [f.linktype for f in frames] == [LINKTYPE_RAW, LINKTYPE_ETHERNET, LINKTYPE_RAW]
    assert [f.time for f in frames] == [10.5, 11.25, 12.0]
    assert not any(f.link_error for f in frames)


def test_pcapng_sections_reset_interfaces_and_byte_order(tmp_path: Path) -> None:
    """A second Section Header Block (big-endian here) starts a fresh interface list."""
    path = tmp_path / "sections.pcapng"
    path.write_bytes(
        ng_shb("<")
        + ng_idb(LINKTYPE_RAW, "<")
        + ng_epb(0, 1_000_000, packet(1), "<")
        + ng_shb(">")
        + ng_idb(LINKTYPE_ETHERNET, ">", tsresol=0x80 | 10, tsoffset=1000)  # 2**-10 s units
        + ng_epb(0, 2048, ethernet_frame(packet(2), MAC_A, MAC_B), ">")
    )
    first, second = read_capture(path)
    assert (first.ip, first.time) == (packet(1), 1.0)
    assert (second.ip, second.linktype, second.time) == (packet(2), LINKTYPE_ETHERNET, 1002.0)


def test_pcapng_simple_and_obsolete_packet_blocks(tmp_path: Path) -> None:
    path = tmp_path / "spb.pcapng"
    pb = struct.pack("<HHIIII", 0, 0, 0, 3_000_000, len(packet(2)), len(packet(2))) + packet(2)
    path.write_bytes(
        ng_shb()
        + ng_idb(LINKTYPE_RAW)
        + ng_block(3, struct.pack("<I", len(packet(1))) + packet(1))  # Simple Packet Block
        + ng_block(2, pb)  # obsolete Packet Block (16-bit interface id)
    )
    first, second = read_capture(path)
    assert (first.ip, first.time) == (packet(1), 0.0)
    assert (second.ip, second.time) == (packet(2), 3.0)


def test_pcapng_unsupported_link_type_and_undescribed_interface_are_link_errors(
    tmp_path: Path,
) -> None:
    path = tmp_path / "odd.pcapng"
    path.write_bytes(
        ng_shb()
        + ng_idb(LINKTYPE_RAW)
        + ng_idb(105)  # IEEE 802.11: not unwrapped
        + ng_epb(1, 0, bytes(30))
        + ng_epb(7, 0, packet(1))
        + ng_epb(0, 0, packet(2))
    )
    wifi, stray, good = read_capture(path)
    assert wifi.link_error and wifi.ip is None
    assert wifi.skip == "unsupported link type 105 on interface 1"
    assert stray.link_error and stray.ip is None and stray.interface == 7
    assert "interface 7 has no Interface Description Block" in str(stray.skip)
    assert good.ip == packet(2) and not good.link_error


@pytest.mark.parametrize(
    ("tail", "match", "after"),
    [
        (lambda b: b[:-2], "cut short", 1),
        (lambda b: b[:-4] + struct.pack("<I", 99), "trailing length 99", 1),
        (lambda b: b + struct.pack("<II", 6, 13), "not a multiple of 4", 2),
    ],
)
def test_pcapng_corrupt_block_after_a_frame(
    tmp_path: Path, tail: Any, match: str, after: int
) -> None:
    path = tmp_path / "cut.pcapng"
    good = ng_shb() + ng_idb(LINKTYPE_RAW) + ng_epb(0, 0, packet(1))
    path.write_bytes(tail(good + ng_epb(0, 0, packet(2))))
    frames = read_capture(path)
    assert next(frames).number == 1
    with pytest.raises(CaptureError, match=match) as info:
        list(frames)
    assert f"after frame {after}" in str(info.value) and str(path) in str(info.value)


def test_pcapng_packet_longer_than_its_block(tmp_path: Path) -> None:
    path = tmp_path / "long.pcapng"
    head = struct.pack("<IIIII", 0, 0, 0, 500, 500)
    path.write_bytes(ng_shb() + ng_idb(LINKTYPE_RAW) + ng_block(6, head + packet(1)))
    with pytest.raises(CaptureError, match="500 captured bytes"):
        list(read_capture(path))


def test_mergecap_raw_and_ethernet(tmp_path: Path) -> None:
    """The auditor's case: mergecap of a raw-IPv4 and an Ethernet capture is a pcapng with
    two interfaces; every packet of both comes out."""
    mergecap = require_tool("mergecap")
    raw, eth, merged = tmp_path / "raw.pcap", tmp_path / "eth.pcap", tmp_path / "m.pcapng"
    write_pcap(raw, [(1.0, packet(1)), (3.0, packet(3))])
    write_pcap(eth, [(2.0, packet(2))], ethernet=True, source_mac=MAC_A, destination_mac=MAC_B)
    subprocess.run([mergecap, "-F", "pcapng", "-w", str(merged), str(raw), str(eth)], check=True)
    frames = list(read_capture(merged))
    assert [f.ip for f in frames] == [packet(1), packet(2), packet(3)]
    assert {f.linktype for f in frames} == {LINKTYPE_RAW, LINKTYPE_ETHERNET}
    assert len({f.interface for f in frames}) == 2
    assert [f.time for f in frames] == [1.0, 2.0, 3.0]
