"""The daemon's fast paths give exactly what the wire module's general code gives.

``udp_ip_packet`` (every reply an FA sends to a visitor's MAC) must be byte for byte
``SendPacket.ip_packet``; ``Runtime._from_ip_fast`` (every request an FA relays) must deliver
the same packet as the full decoders, and leave everything else to them (the drop reasons
stay theirs).
"""

from __future__ import annotations

import asyncio
import random
import tomllib
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest

from mip4.bench import daemon as bench
from mip4.core.actions import Action, SendPacket
from mip4.core.packets import ReceivedPacket
from mip4.daemon.config import parse_config
from mip4.daemon.runtime import Runtime, _checksum, udp_ip_packet
from mip4.wire.ip import build_udp_ipv4, internet_checksum

MN = IPv4Address("198.18.4.7")
FA = IPv4Address(bench.FA)


def _action(rng: random.Random, payload: bytes) -> SendPacket:
    return SendPacket(
        interface="fa-ap",
        source=IPv4Address(rng.getrandbits(32)),
        destination=IPv4Address(rng.getrandbits(32)),
        protocol=17,
        payload=payload,
        message="registration_reply",
        ttl=rng.choice((1, 64, 255)),
        source_port=rng.choice((0, 434, rng.getrandbits(16))),
        destination_port=rng.choice((0, 434, rng.getrandbits(16))),
        link_destination=b"\x02\0\0\0\0\x09",
    )


def test_checksum_is_internet_checksum() -> None:
    rng = random.Random(7)
    cases = [b"", b"\0", b"\0\0\0", b"\xff\xff", b"\xff\xff\xff\xff", b"\x00\x01\xff\xfe"]
    cases += [rng.randbytes(rng.randrange(64)) for _ in range(2000)]
    for data in cases:
        assert _checksum(data) == internet_checksum(data), data.hex()


def test_udp_ip_packet_matches_ip_packet() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        action = _action(rng, rng.randbytes(rng.choice((0, 1, 27, 28, rng.randrange(600)))))
        assert udp_ip_packet(action) == action.ip_packet()


def test_udp_ip_packet_when_the_udp_sum_is_zero() -> None:
    """A UDP checksum computing to 0 goes out as 0xFFFF (RFC 768): force that case by
    choosing the payload's last word."""
    rng = random.Random(3)
    for _ in range(200):
        action = _action(rng, rng.randbytes(2 * rng.randrange(1, 40)))
        packet = action.ip_packet()
        # Replace the last payload word so that the one's-complement sum is 0xFFFF.
        body = bytearray(packet[20:])
        body[6:8] = b"\0\0"
        body[-2:] = b"\0\0"
        pseudo = packet[12:20] + bytes((0, 17)) + len(body).to_bytes(2, "big")
        word = internet_checksum(pseudo + bytes(body))  # the word making the sum 0xFFFF
        body[-2:] = word.to_bytes(2, "big")
        forced = SendPacket(**{**_fields(action), "payload": bytes(body[8:])})
        expected = forced.ip_packet()
        assert expected[26:28] == b"\xff\xff"
        assert udp_ip_packet(forced) == expected


def _fields(action: SendPacket) -> dict[str, object]:
    return {name: getattr(action, name) for name in SendPacket.__slots__}


class _Recorder:
    """Stands in for the agent: records what it is given."""

    def __init__(self) -> None:
        self.packets: list[ReceivedPacket] = []

    def receive(self, packet: ReceivedPacket, now: float) -> list[Action]:
        self.packets.append(packet)
        return []


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    config = parse_config(
        tomllib.loads(bench._fa_config() + '\n[daemon]\ncontrol_socket = "/tmp/x"\ntun = "x"\n')
    )
    rt = Runtime(config, use_netlink=False)
    rt.loop = asyncio.new_event_loop()
    rt.agent = _Recorder()  # type: ignore[assignment]
    yield rt
    rt.loop.close()


def _outcome(rt: Runtime, frame: bytes, verify: bool, fast: bool) -> object:
    recorder = rt.agent
    assert isinstance(recorder, _Recorder)
    recorder.packets.clear()
    rt.drops.clear()
    if not fast:
        rt._from_ip_fast = lambda *args: False  # type: ignore[method-assign]
    try:
        rt._from_ip(frame, "fa-ap", b"\x02\0\0\0\0\x09", verify)
    finally:
        rt.__dict__.pop("_from_ip_fast", None)
    return (list(recorder.packets), dict(rt.drops))


def _frames(rng: random.Random) -> Iterator[bytes]:
    for _ in range(3000):
        payload = rng.randbytes(rng.randrange(0, 80))
        frame = bytearray(
            build_udp_ipv4(MN, FA, 40434, rng.choice((434, 434, 434, 435)), payload, ttl=255)
        )
        kind = rng.randrange(6)
        if kind == 1:  # one byte changed anywhere
            frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
        elif kind == 2:  # truncated
            del frame[rng.randrange(len(frame)) :]
        elif kind == 3:  # link padding after Total Length
            frame += rng.randbytes(rng.randrange(1, 20))
        elif kind == 4:  # no UDP checksum (RFC 768: zero, not computed)
            frame[26:28] = b"\0\0"
        elif kind == 5:  # a UDP length other than what the IP header leaves
            frame[24:26] = rng.randrange(0, 120).to_bytes(2, "big")
        yield bytes(frame)


@pytest.mark.parametrize("verify", [True, False])
def test_from_ip_fast_path_delivers_what_the_decoders_deliver(
    runtime: Runtime, verify: bool
) -> None:
    delivered = 0
    for frame in _frames(random.Random(5 + verify)):
        slow = _outcome(runtime, frame, verify, fast=False)
        assert _outcome(runtime, frame, verify, fast=True) == slow, frame.hex()
        delivered += bool(slow[0])  # type: ignore[index]
    assert delivered > 1000  # the valid frames do take the fast path's way


def test_from_ip_fast_path_is_taken_for_a_valid_request(runtime: Runtime) -> None:
    frame = build_udp_ipv4(MN, FA, 40434, 434, b"\x01" + bytes(23), ttl=255)
    assert runtime._from_ip_fast(frame, "fa-ap", None, True)
    recorder = runtime.agent
    assert isinstance(recorder, _Recorder)
    (packet,) = recorder.packets
    assert packet == ReceivedPacket(
        interface="fa-ap",
        source=MN,
        destination=FA,
        protocol=17,
        payload=b"\x01" + bytes(23),
        ttl=255,
        source_port=40434,
        destination_port=434,
    )
