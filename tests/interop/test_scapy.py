"""scapy as an independent codec for the fixed parts of RRQ and RRP (RFC 5944 §3.3-3.4).

scapy 2.8 (``scapy.layers.mobileip``) knows only the fixed parts: ``MobileIP`` holds ``type``,
``MobileIPRRQ`` holds ``flags`` ``lifetime`` ``homeaddr`` ``haaddr`` ``coaddr`` ``id`` and
``MobileIPRRP`` holds ``code`` ``lifetime`` ``homeaddr`` ``haaddr`` ``id`` (a 64-bit
``LongField``); our extensions come out as its ``Raw`` payload. In both directions, for many
values: scapy parsing our bytes gives our field values, and scapy building our field values
gives our fixed-part bytes. scapy is imported lazily inside the tests (``scapy.all`` is slow
and not needed).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mip4.wire import auth
from mip4.wire.extensions import MobileHomeAuthentication
from mip4.wire.registration import (
    RegistrationFlags,
    RegistrationReply,
    RegistrationRequest,
)
from tests.interop.frames import (
    HOME_ADDRESS,
    HOME_AGENT,
    MN_HA_KEY,
    MN_HA_SPI,
    registration_frames,
)

EXAMPLES = settings(max_examples=200, deadline=None)

# 198.18.0.0/15 only (the lab's range)
addresses = st.integers(0, 2**17 - 1).map(lambda n: IPv4Address(0xC612_0000 + n))
lifetimes = st.integers(0, 0xFFFF)
identifications = st.integers(0, 2**64 - 1)
# RFC 5944 §3.3: every flag but the reserved r (0x04) and x (0x01), which we refuse on decode
request_flags = st.integers(0, 255).map(lambda n: RegistrationFlags(n & ~0x05))


@st.composite
def requests(draw: st.DrawFn) -> RegistrationRequest:
    return RegistrationRequest(
        flags=draw(request_flags),
        lifetime=draw(lifetimes),
        home_address=draw(addresses),
        home_agent=draw(addresses),
        care_of_address=draw(addresses),
        identification=draw(identifications),
    )


@st.composite
def replies(draw: st.DrawFn) -> RegistrationReply:
    return RegistrationReply(
        code=draw(st.integers(0, 255)),
        lifetime=draw(lifetimes),
        home_address=draw(addresses),
        home_agent=draw(addresses),
        identification=draw(identifications),
    )


def _scapy_rrq(**fields: Any) -> bytes:
    from scapy.layers.mobileip import MobileIP, MobileIPRRQ

    return bytes(MobileIP(type=1) / MobileIPRRQ(**fields))


def _scapy_rrp(**fields: Any) -> bytes:
    from scapy.layers.mobileip import MobileIP, MobileIPRRP

    return bytes(MobileIP(type=3) / MobileIPRRP(**fields))


def test_scapy_field_names_are_what_these_tests_use() -> None:
    from scapy.layers.mobileip import MobileIP, MobileIPRRP, MobileIPRRQ

    assert [f.name for f in MobileIP.fields_desc] == ["type"]
    assert [f.name for f in MobileIPRRQ.fields_desc] == [
        "flags",
        "lifetime",
        "homeaddr",
        "haaddr",
        "coaddr",
        "id",
    ]
    assert [f.name for f in MobileIPRRP.fields_desc] == [
        "code",
        "lifetime",
        "homeaddr",
        "haaddr",
        "id",
    ]


@EXAMPLES
@given(requests())
def test_rrq_scapy_parses_our_encoding(rrq: RegistrationRequest) -> None:
    from scapy.layers.mobileip import MobileIP, MobileIPRRQ

    sealed = auth.seal(rrq, MobileHomeAuthentication(spi=MN_HA_SPI, authenticator=b""), MN_HA_KEY)
    raw = sealed.encode()
    parsed = MobileIP(raw)
    assert parsed.type == 1
    fixed = parsed[MobileIPRRQ]
    assert fixed.flags == int(rrq.flags)
    assert fixed.lifetime == rrq.lifetime
    assert fixed.homeaddr == str(rrq.home_address)
    assert fixed.haaddr == str(rrq.home_agent)
    assert fixed.coaddr == str(rrq.care_of_address)
    assert fixed.id == rrq.identification
    # scapy stops at the fixed part: the MN-HA extension is its raw payload, byte for byte
    assert bytes(fixed.payload) == raw[RegistrationRequest.FIXED_SIZE :]


@EXAMPLES
@given(requests())
def test_rrq_scapy_builds_our_fixed_part(rrq: RegistrationRequest) -> None:
    built = _scapy_rrq(
        flags=int(rrq.flags),
        lifetime=rrq.lifetime,
        homeaddr=str(rrq.home_address),
        haaddr=str(rrq.home_agent),
        coaddr=str(rrq.care_of_address),
        id=rrq.identification,
    )
    assert built == rrq.encode_fixed()
    assert RegistrationRequest.decode(built) == rrq


@EXAMPLES
@given(replies())
def test_rrp_scapy_parses_our_encoding(rrp: RegistrationReply) -> None:
    from scapy.layers.mobileip import MobileIP, MobileIPRRP

    sealed = auth.seal(rrp, MobileHomeAuthentication(spi=MN_HA_SPI, authenticator=b""), MN_HA_KEY)
    raw = sealed.encode()
    parsed = MobileIP(raw)
    assert parsed.type == 3
    fixed = parsed[MobileIPRRP]
    assert fixed.code == rrp.code
    assert fixed.lifetime == rrp.lifetime
    assert fixed.homeaddr == str(rrp.home_address)
    assert fixed.haaddr == str(rrp.home_agent)
    assert fixed.id == rrp.identification
    assert bytes(fixed.payload) == raw[RegistrationReply.FIXED_SIZE :]


@EXAMPLES
@given(replies())
def test_rrp_scapy_builds_our_fixed_part(rrp: RegistrationReply) -> None:
    built = _scapy_rrp(
        code=rrp.code,
        lifetime=rrp.lifetime,
        homeaddr=str(rrp.home_address),
        haaddr=str(rrp.home_agent),
        id=rrp.identification,
    )
    assert built == rrp.encode_fixed()
    assert RegistrationReply.decode(built) == rrp


def test_scapy_reads_our_whole_datagrams() -> None:
    """IPv4 + UDP + RRQ/RRP as built by mip4.wire.ip: scapy finds Mobile IP through its
    port-434 bindings, and its own rebuild of the IP and UDP headers (checksums recomputed)
    gives our bytes back."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.mobileip import MobileIPRRP, MobileIPRRQ

    for frame in registration_frames():
        packet = IP(frame.packet)
        layer = MobileIPRRQ if frame.expected["type"] == 1 else MobileIPRRP
        assert layer in packet, frame.name
        assert packet[layer].homeaddr == str(HOME_ADDRESS)
        assert packet[layer].haaddr == str(HOME_AGENT)
        assert packet[layer].id == frame.expected["identification"]
        rebuilt = packet.copy()
        del rebuilt[IP].chksum
        del rebuilt[UDP].chksum
        assert bytes(rebuilt) == frame.packet, frame.name
