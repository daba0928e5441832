"""``mip4 bench codec``: encode and decode-with-verification rates of the codecs.

Three messages, each measured both ways:

- a Registration Request with MN-HA authentication (RFC 5944 §3.3, §3.5.2);
- a Handoff Request (s) with an LLA (138) and FA-FA authentication (RFC 4881 §4.5);
- an Agent Advertisement with the Mobility Agent Advertisement extension and an LLA (140),
  i.e. a PrRtAdv (RFC 4881 §3.3).

*Encode* builds the wire bytes from the message object, computing the authenticator (a
sender seals every message) or the ICMP checksum. *Decode* parses the bytes into the message
object and verifies the authenticator (or the ICMP checksum), as a receiver must before it
acts. The baseline, in the same process, is scapy parsing the same Registration Request bytes
with ``MobileIP`` (the Type byte, then its ``MobileIPRRQ`` layer for the fixed part; the
extensions stay raw bytes and nothing is verified). ``decode_ratio_vs_scapy`` is the issue's
figure: our decode *with* verification against scapy's parse. Two keys after the documented
ones give the like-for-like comparison: ``registration_request_parse_per_second``, our decode
of the same bytes without verification, and ``parse_ratio_vs_scapy``; ``hmac_md5`` says
whether HMAC-MD5 ran in C (``mip4.wire._accel``, built at install time) or in Python. The
bench checks that scapy read the right fields before timing it: ``MobileIPRRQ`` alone has no
Type field and would misread every field after it, at a different speed.

Timing: :func:`time.perf_counter` around a fixed-count loop; the count is calibrated after a
warm-up so one repeat lasts at least ``--seconds``; the best of ``--repeats`` is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mip4 import samples
from mip4.wire import hmac_md5
from mip4.wire.auth import find_authenticator, seal, verify
from mip4.wire.extensions import (
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    LinkLayerAddress,
    MobileHomeAuthentication,
)
from mip4.wire.handoff import HandoffFlags, HandoffRequest
from mip4.wire.icmp import AgentAdvertisement, decode_icmp
from mip4.wire.lla import EthernetMac
from mip4.wire.messages import decode_control_message
from mip4.wire.registration import RegistrationFlags, RegistrationRequest

QUICK_ITERATIONS = 20


@dataclass(frozen=True, slots=True)
class Case:
    """One benchmarked message: how to encode it and how to decode-and-verify its bytes."""

    name: str
    encode: Callable[[], bytes]
    decode: Callable[[bytes], object]
    data: bytes


@dataclass(frozen=True, slots=True)
class Timing:
    """How a measurement loop runs: a minimum duration per repeat and the repeat count."""

    seconds: float
    repeats: int
    quick: bool = False


class BenchError(Exception):
    """The bench cannot run (e.g. the baseline's library is missing)."""


def registration_request_case() -> Case:
    key = samples.MN_HA_KEY
    unsealed = RegistrationRequest(
        flags=RegistrationFlags.T,
        lifetime=1800,
        home_address=samples.MN_HOME,
        home_agent=samples.HA,
        care_of_address=samples.NFA,
        identification=0xE93C0E0000010000,
    )
    template = MobileHomeAuthentication(spi=key.spi, authenticator=b"")

    def encode() -> bytes:
        return seal(unsealed, template, key.key).encode()

    def decode(data: bytes) -> object:
        message = decode_control_message(data)
        index = find_authenticator(message, MobileHomeAuthentication)
        if index is None or not verify(message, index, key.key):
            raise AssertionError("MN-HA authenticator does not verify")
        return message

    return Case("registration_request_mn_ha", encode, decode, encode())


def handoff_request_case() -> Case:
    key = samples.FA_FA_KEY
    unsealed = HandoffRequest(
        flags=HandoffFlags.H | HandoffFlags.T,
        lifetime=10,
        mn_home_address=samples.MN_HOME,
        ha_address=samples.HA,
        identification=0xE93C0E0000030000,
        extensions=(LinkLayerAddress(value=EthernetMac(mac=samples.MN_MAC)),),
    )
    template = GeneralizedAuthentication(
        subtype=GeneralizedAuthSubtype.FA_FA, spi=key.spi, authenticator=b""
    )

    def encode() -> bytes:
        return seal(unsealed, template, key.key).encode()

    def decode(data: bytes) -> object:
        message = decode_control_message(data)
        index = find_authenticator(message, GeneralizedAuthentication, GeneralizedAuthSubtype.FA_FA)
        if index is None or not verify(message, index, key.key):
            raise AssertionError("FA-FA authenticator does not verify")
        return message

    return Case("handoff_request_fa_fa_lla", encode, decode, encode())


def agent_advertisement_case() -> Case:
    advertisement = samples.agent_advertisement(samples.NFA, 512, lla_mac=samples.NFA_MAC)

    def encode() -> bytes:
        return advertisement.encode()  # checksum computed (checksum=None)

    def decode(data: bytes) -> object:
        message = decode_icmp(data)  # verifies the ICMP checksum
        if not isinstance(message, AgentAdvertisement) or message.lla is None:
            raise AssertionError("not a PrRtAdv")
        return message

    return Case("agent_advertisement_lla", encode, decode, encode())


def cases() -> list[Case]:
    return [registration_request_case(), handoff_request_case(), agent_advertisement_case()]


def _loop(function: Callable[[], object], count: int) -> float:
    iterations = range(count)
    start = time.perf_counter()
    for _ in iterations:
        function()
    return time.perf_counter() - start


def rate(function: Callable[[], object], timing: Timing) -> float:
    """Calls per second of ``function``: warm-up, calibration, best of the repeats."""
    if timing.quick:
        function()
        return QUICK_ITERATIONS / max(_loop(function, QUICK_ITERATIONS), 1e-9)
    count = 1
    while True:  # warm-up doubles as calibration
        elapsed = _loop(function, count)
        if elapsed >= timing.seconds / 4:
            break
        count *= 2 if elapsed == 0 else max(2, min(16, int(timing.seconds / 2 / elapsed)))
    count = max(count, int(count * timing.seconds / max(elapsed, 1e-9)))
    best = min(_loop(function, count) for _ in range(max(1, timing.repeats)))
    return count / max(best, 1e-9)


def _scapy_decoder() -> Callable[[bytes], object]:
    try:
        from scapy.layers.mobileip import MobileIP
    except ImportError as exc:
        raise BenchError(
            f"scapy is not installed ({exc}); it is the baseline of this bench: "
            "install the test extra with `pip install -e '.[test]'`"
        ) from None
    decoder: Callable[[bytes], object] = MobileIP
    return decoder


def _check_scapy_reading(parsed: Any, rrq_bytes: bytes) -> None:
    """The baseline must parse what we parse: the same fixed-part fields, the same bytes."""
    ours = decode_control_message(rrq_bytes)
    assert isinstance(ours, RegistrationRequest)
    seen = (
        parsed.type,
        parsed.payload.flags,
        parsed.payload.lifetime,
        parsed.payload.homeaddr,
        parsed.payload.haaddr,
        parsed.payload.coaddr,
        parsed.payload.id,
    )
    expected = (
        int(ours.TYPE),
        int(ours.flags),
        ours.lifetime,
        str(ours.home_address),
        str(ours.home_agent),
        str(ours.care_of_address),
        ours.identification,
    )
    if seen != expected:
        raise BenchError(f"scapy reads the Registration Request as {seen}, not {expected}")
    if bytes(parsed) != rrq_bytes:
        raise BenchError("scapy does not reproduce the Registration Request bytes")


def measure(timing: Timing) -> dict[str, Any]:
    """Run the bench; the result has exactly the documented JSON shape."""
    scapy_decode = _scapy_decoder()
    messages: list[dict[str, Any]] = []
    rrq_decode_rate = 0.0
    rrq_bytes = b""
    for case in cases():
        case.decode(case.data)  # a wrong setup fails here, not as a silly figure
        encode_rate = rate(case.encode, timing)
        data = case.data
        decode = case.decode
        decode_rate = rate(lambda: decode(data), timing)  # noqa: B023 (called in this turn)
        if not rrq_bytes:
            rrq_decode_rate, rrq_bytes = decode_rate, case.data
        messages.append(
            {
                "name": case.name,
                "encode_per_second": round(encode_rate, 1),
                "decode_per_second": round(decode_rate, 1),
            }
        )
    _check_scapy_reading(scapy_decode(rrq_bytes), rrq_bytes)
    scapy_rate = rate(lambda: scapy_decode(rrq_bytes), timing)
    # Like for like: scapy only parses, so also time our parse alone (no verification).
    parse_rate = rate(lambda: decode_control_message(rrq_bytes), timing)
    return {
        "messages": messages,
        "scapy_decode_per_second": round(scapy_rate, 1),
        "decode_ratio_vs_scapy": round(rrq_decode_rate / scapy_rate, 2),
        "registration_request_parse_per_second": round(parse_rate, 1),
        "parse_ratio_vs_scapy": round(parse_rate / scapy_rate, 2),
        # Which HMAC-MD5 ran: "c" (mip4.wire._accel, built at install) or "python".
        "hmac_md5": "c" if hmac_md5.ACCELERATED else "python",
    }


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="mip4 bench codec (messages per second, best of the repeats)")
    table.add_column("message")
    table.add_column("encode /s", justify="right")
    table.add_column("decode + verify /s", justify="right")
    for row in result["messages"]:
        table.add_row(
            row["name"], f"{row['encode_per_second']:,.0f}", f"{row['decode_per_second']:,.0f}"
        )
    table.add_row(
        "scapy MobileIP (same RRQ bytes)", "", f"{result['scapy_decode_per_second']:,.0f}"
    )
    console = Console(file=sys.stdout, highlight=False)
    console.print(table)
    ratio = result["decode_ratio_vs_scapy"]
    console.print(f"Registration Request decode+verify vs scapy decode: {ratio:.1f}x (goal: 20x)")
    parse = result["parse_ratio_vs_scapy"]
    console.print(f"Registration Request decode alone (no verification) vs scapy: {parse:.1f}x")
    console.print(f"HMAC-MD5: {'C (mip4.wire._accel)' if result['hmac_md5'] == 'c' else 'Python'}")


def run(args: argparse.Namespace) -> int:
    """``mip4 bench codec``."""
    timing = Timing(seconds=args.seconds, repeats=args.repeats, quick=args.quick)
    try:
        result = measure(timing)
    except BenchError as exc:
        print(f"mip4 bench codec: error: {exc}", file=sys.stderr)
        return 2
    if args.json is None:
        print_table(result)
    elif args.json == "-":
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(result, indent=2) + "\n")
    return 0


__all__ = ["Case", "Timing", "cases", "measure", "rate", "run"]
