"""ESP, NULL encryption + HMAC-SHA1-96 (RFC 4303, RFC 2410, RFC 2404), and the anti-replay
window (RFC 4303 §3.4.3), as RFC 4881 §3.4 uses them between FAs."""

from __future__ import annotations

import hashlib
import hmac
from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip4.errors import LocalUsageError
from mip4.wire.errors import DecodeError, LengthError, TruncatedError, ValueDecodeError
from mip4.wire.esp import (
    ICV_LENGTH,
    AuthenticationError,
    EspMode,
    EspPacket,
    EspPayload,
    EspSecurityAssociation,
    ReplayedPacketError,
    ReplayWindow,
    SecurityAssociation,
    esp_protect,
    esp_receive,
    esp_unprotect,
    minimum_padding,
    peek_spi_and_sequence,
    protect_ipv4_transport,
    protect_ipv4_tunnel,
    unprotect_ipv4_transport,
    unprotect_ipv4_tunnel,
)
from mip4.wire.ip import PROTO_ESP, IPv4Header, build_ipv4
from tests.vectors import Vector, load, parse_hex, subset_matches

VECTORS = load("esp")
BY_NAME = {v.name: v for v in VECTORS}
ESP_VECTORS = [v for v in VECTORS if v.codec == "esp"]
A = IPv4Address
K1 = b"\x0b" * 20
TRANSPORT = EspSecurityAssociation(spi=0x1000, auth_key=K1)
TUNNEL = EspSecurityAssociation(spi=0x2000, auth_key=b"fa-fa-esp-sha1-key!!", mode=EspMode.TUNNEL)


def sa_of(vector: Vector) -> EspSecurityAssociation:
    return EspSecurityAssociation(
        spi=vector.extra["spi"],
        auth_key=bytes.fromhex(vector.extra["key"]),
        mode=EspMode(vector.extra["mode"]),
    )


def resign(signed: bytes, sa: EspSecurityAssociation = TRANSPORT) -> bytes:
    """``signed`` (SPI through Next Header) with a correct HMAC-SHA1-96 appended."""
    return signed + hmac.digest(sa.auth_key, signed, hashlib.sha1)[:12]


# ------------------------------------------------------------------------------------------
# golden vectors, both ways


def test_hmac_sha1_96_matches_rfc_2202_case_1() -> None:
    """RFC 2404 §2: HMAC-SHA1 truncated to 96 bits; RFC 2202 test case 1 for the HMAC."""
    assert TRANSPORT.icv(b"Hi There") == bytes.fromhex("b617318655057264e28bc0b6")
    assert len(TRANSPORT.icv(b"")) == ICV_LENGTH


@pytest.mark.parametrize("vector", ESP_VECTORS, ids=str)
def test_vector_protect(vector: Vector) -> None:
    options: dict[str, Any] = {}
    if "pad_length" in vector.extra:
        options["pad_length"] = vector.extra["pad_length"]
    wire = esp_protect(
        sa_of(vector),
        vector.extra["sequence_number"],
        parse_hex(vector.extra["payload"]),
        vector.extra["next_header"],
        **options,
    )
    assert wire == vector.data


@pytest.mark.parametrize("vector", ESP_VECTORS, ids=str)
def test_vector_unprotect(vector: Vector) -> None:
    result = esp_unprotect(sa_of(vector), vector.data)
    assert result == EspPayload(
        sequence_number=vector.extra["sequence_number"],
        next_header=vector.extra["next_header"],
        payload=parse_hex(vector.extra["payload"]),
    )
    packet = EspPacket.decode(vector.data)
    assert subset_matches(vector.fields, packet.to_dict()) == []
    assert packet.encode() == vector.data
    assert peek_spi_and_sequence(vector.data) == (
        vector.extra["spi"],
        vector.extra["sequence_number"],
    )


def test_vector_ipv4_transport() -> None:
    vector = BY_NAME["ipv4-transport-inter-fa-solicitation"]
    datagram = parse_hex(vector.extra["datagram"])
    sa = sa_of(vector)
    assert protect_ipv4_transport(sa, vector.extra["sequence_number"], datagram) == vector.data
    assert unprotect_ipv4_transport(sa, vector.data) == (vector.extra["sequence_number"], datagram)
    header = IPv4Header.decode(vector.data)
    assert header.protocol == PROTO_ESP and header.ttl == 64


def test_vector_ipv4_tunnel() -> None:
    vector = BY_NAME["ipv4-tunnel-prrtadv"]
    datagram = parse_hex(vector.extra["datagram"])
    sa = sa_of(vector)
    wire = protect_ipv4_tunnel(
        sa,
        vector.extra["sequence_number"],
        A(vector.extra["source"]),
        A(vector.extra["destination"]),
        datagram,
        ttl=vector.extra["ttl"],
        identification=vector.extra["identification"],
    )
    assert wire == vector.data
    outer, sequence, inner = unprotect_ipv4_tunnel(sa, vector.data)
    assert (sequence, inner) == (1, datagram)
    assert (outer.source, outer.destination, outer.protocol) == (
        A("198.51.100.7"),
        A("198.51.100.1"),
        PROTO_ESP,
    )
    # The ESP payload is the tunnel-prrtadv ESP vector.
    assert vector.data[20:] == BY_NAME["tunnel-prrtadv"].data


# ------------------------------------------------------------------------------------------
# authentication: a one-bit flip anywhere fails and changes nothing


@pytest.mark.parametrize("vector", ESP_VECTORS, ids=str)
def test_every_bit_flip_is_rejected(vector: Vector) -> None:
    sa = sa_of(vector)
    window = ReplayWindow()
    before = esp_unprotect(sa, vector.data)
    for index in range(len(vector.data)):
        for bit in range(8):
            data = bytearray(vector.data)
            data[index] ^= 1 << bit
            with pytest.raises(DecodeError) as info:
                esp_receive(sa, window, bytes(data))
            err = info.value
            if index < 4:
                assert (type(err), err.field, err.offset) == (ValueDecodeError, "esp.spi", 0)
            elif index < 8 and isinstance(err, ReplayedPacketError):
                assert int.from_bytes(data[4:8], "big") == 0  # flipped to the never-valid 0
            else:
                assert isinstance(err, AuthenticationError), (index, bit)
                assert (err.field, err.offset) == ("esp.icv", len(data) - 12)
            if index >= 4:  # the SA matches: the ICV check itself must fail
                with pytest.raises(AuthenticationError):
                    esp_unprotect(sa, bytes(data))
    # Nothing changed: the window is a value, the SA is frozen, the packet still verifies.
    assert window == ReplayWindow()
    assert esp_unprotect(sa, vector.data) == before
    payload, after = esp_receive(sa, window, vector.data)
    assert payload == before
    assert after.highest == vector.extra["sequence_number"]


def test_wrong_key_and_wrong_spi() -> None:
    data = BY_NAME["transport-agent-solicitation"].data
    other_key = EspSecurityAssociation(spi=0x1000, auth_key=b"\x0c" * 20)
    with pytest.raises(AuthenticationError) as info:
        esp_unprotect(other_key, data)
    assert (info.value.field, info.value.offset) == ("esp.icv", 20)
    other_spi = EspSecurityAssociation(spi=0x1001, auth_key=K1)
    with pytest.raises(ValueDecodeError) as info2:
        esp_unprotect(other_spi, data)
    assert (info2.value.field, info2.value.offset) == ("esp.spi", 0)


def test_truncated_at_every_length() -> None:
    data = BY_NAME["transport-agent-solicitation"].data
    for n in range(len(data)):
        with pytest.raises(DecodeError) as info:
            esp_unprotect(TRANSPORT, data[:n])
        err = info.value
        if n < 4:
            expected: tuple[type[DecodeError], str, int] = (TruncatedError, "esp.spi", 0)
        elif n < 8:
            expected = (TruncatedError, "esp.sequence_number", 4)
        elif n < 22:
            expected = (TruncatedError, "esp.trailer", 8)
        else:
            expected = (AuthenticationError, "esp.icv", n - 12)
        assert (type(err), err.field, err.offset) == expected, n
        try:  # structure only, no ICV: a cut may still parse, and then re-encodes exactly
            assert EspPacket.decode(data[:n]).encode() == data[:n]
        except DecodeError as exc:
            assert n >= 22 or (exc.field, exc.offset) == expected[1:]


def test_pad_length_beyond_payload() -> None:
    signed = bytes.fromhex("00001000 00000001 01020304") + bytes((5, 1))
    with pytest.raises(LengthError) as info:
        esp_unprotect(TRANSPORT, resign(signed))
    assert (info.value.field, info.value.offset) == ("esp.pad_length", 12)


def test_padding_must_be_monotonic() -> None:
    """RFC 4303 §2.4: the receiver SHOULD inspect the 1, 2, 3, ... padding."""
    signed = bytes.fromhex("00001000 00000001 aabbcc 01 03 02 2a".replace(" ", ""))
    with pytest.raises(ValueDecodeError) as info:
        esp_unprotect(TRANSPORT, resign(signed))
    assert (info.value.field, info.value.offset) == ("esp.padding", 12)
    signed = bytes.fromhex("00001000 00000001 aabbcc 00 01 02 03 04 2a".replace(" ", ""))
    with pytest.raises(ValueDecodeError) as info:
        esp_unprotect(TRANSPORT, resign(signed))
    assert (info.value.field, info.value.offset) == ("esp.padding", 11)


def test_unaligned_but_authentic_packet_is_accepted_and_kept() -> None:
    """Alignment binds the sender (RFC 4303 §2.4); a receiver takes what authenticates."""
    signed = bytes.fromhex("00001000 00000009 aabbcc 01 01 11".replace(" ", ""))
    wire = resign(signed)
    assert esp_unprotect(TRANSPORT, wire) == EspPayload(
        sequence_number=9, next_header=17, payload=b"\xaa\xbb\xcc"
    )
    assert EspPacket.decode(wire).encode() == wire


# ------------------------------------------------------------------------------------------
# sender and SA rules


@pytest.mark.parametrize("sequence", [0, -1, 2**32])
def test_sequence_number_range(sequence: int) -> None:
    with pytest.raises(LocalUsageError):
        esp_protect(TRANSPORT, sequence, b"", 1)


@pytest.mark.parametrize("pad", [1, 3, 256, -2])
def test_pad_length_must_keep_alignment(pad: int) -> None:
    with pytest.raises(LocalUsageError):
        esp_protect(TRANSPORT, 1, b"12345678", 1, pad_length=pad)


def test_minimum_padding() -> None:
    assert [minimum_padding(n) for n in range(6)] == [2, 1, 0, 3, 2, 1]
    for n in range(40):
        wire = esp_protect(TRANSPORT, 1, bytes(n), 1)
        assert (len(wire) - 8 - 12) % 4 == 0


@pytest.mark.parametrize("spi", [0, 1, 255, 2**32])
def test_reserved_spi(spi: int) -> None:
    with pytest.raises(LocalUsageError):
        EspSecurityAssociation(spi=spi, auth_key=K1)


@pytest.mark.parametrize("length", [0, 16, 19, 21, 32])
def test_key_must_be_160_bits(length: int) -> None:
    with pytest.raises(LocalUsageError):
        EspSecurityAssociation(spi=256, auth_key=bytes(length))


def test_key_not_in_repr_and_alias() -> None:
    assert K1.hex() not in repr(TRANSPORT) and repr(K1) not in repr(TRANSPORT)
    assert SecurityAssociation is EspSecurityAssociation


def test_mode_mismatch() -> None:
    datagram = parse_hex(BY_NAME["ipv4-transport-inter-fa-solicitation"].extra["datagram"])
    with pytest.raises(LocalUsageError):
        protect_ipv4_tunnel(TRANSPORT, 1, A("192.0.2.1"), A("192.0.2.2"), datagram)
    with pytest.raises(LocalUsageError):
        protect_ipv4_transport(TUNNEL, 1, datagram)
    with pytest.raises(LocalUsageError):
        unprotect_ipv4_transport(TUNNEL, BY_NAME["ipv4-tunnel-prrtadv"].data)


def test_tunnel_next_header_and_inner_checks() -> None:
    src, dst = A("198.51.100.7"), A("198.51.100.1")
    not_ip = build_ipv4(src, dst, PROTO_ESP, esp_protect(TUNNEL, 1, b"\x0a" + bytes(7), 1))
    with pytest.raises(ValueDecodeError) as info:
        unprotect_ipv4_tunnel(TUNNEL, not_ip)
    assert (info.value.field, info.value.offset) == ("esp.next_header", 20 + 8 + 8 + 2 + 1)
    bad_inner = build_ipv4(src, dst, PROTO_ESP, esp_protect(TUNNEL, 1, b"\x65" + bytes(19), 4))
    with pytest.raises(ValueDecodeError) as info:
        unprotect_ipv4_tunnel(TUNNEL, bad_inner)
    assert (info.value.field, info.value.offset) == ("inner.ipv4.version", 28)
    with pytest.raises(ValueDecodeError) as info:
        unprotect_ipv4_tunnel(TUNNEL, build_ipv4(src, dst, 17, bytes(30)))
    assert (info.value.field, info.value.offset) == ("ipv4.protocol", 9)


def test_ipv4_errors_are_offset_past_the_ip_header() -> None:
    wire = bytearray(BY_NAME["ipv4-transport-inter-fa-solicitation"].data)
    wire[-1] ^= 1
    with pytest.raises(AuthenticationError) as info:
        unprotect_ipv4_transport(TRANSPORT, bytes(wire))
    assert info.value.offset == len(wire) - 12


# ------------------------------------------------------------------------------------------
# anti-replay window (RFC 4303 §3.4.3)


def _accept(window: ReplayWindow, seq: int) -> ReplayWindow:
    assert window.check(seq), seq
    return window.update(seq)


def test_replay_in_order_and_duplicates() -> None:
    window = ReplayWindow()
    for seq in range(1, 200):
        window = _accept(window, seq)
        assert not window.check(seq)  # duplicate
    assert window.highest == 199
    assert not window.check(0)  # never valid


def test_replay_old_beyond_window() -> None:
    window = _accept(ReplayWindow(), 100)
    assert window.check(37)  # 100 - 63: the left edge of a 64-wide window
    assert not window.check(36)  # left of the window
    assert not window.check(1)


def test_replay_out_of_order_within_window_accepted_once() -> None:
    window = ReplayWindow()
    for seq in (10, 5, 8, 9, 6, 7, 1, 2):
        window = _accept(window, seq)
    for seq in (1, 2, 5, 6, 7, 8, 9, 10):
        assert not window.check(seq)
    assert window.check(3) and window.check(4) and window.check(11)
    assert window.highest == 10


def test_replay_large_jump() -> None:
    window = _accept(_accept(ReplayWindow(), 1), 2)
    window = _accept(window, 1_000_000)
    assert window.bitmap == 1
    assert not window.check(2) and not window.check(1_000_000 - 64)
    assert window.check(1_000_000 - 63)
    window = _accept(window, 2**32 - 1)
    assert not window.check(2**32 - 1) and window.check(2**32 - 2)
    assert not window.check(2**32)


@pytest.mark.parametrize("size", [1, 32, 64, 128, 1000])
def test_replay_window_size_configurable(size: int) -> None:
    window = _accept(ReplayWindow(size=size), 5000)
    assert window.check(5000 - size + 1) == (size > 1)  # the left edge (5000 itself if size 1)
    assert not window.check(5000 - size)


def test_replay_window_is_a_value() -> None:
    window = ReplayWindow()
    updated = window.update(7)
    assert window == ReplayWindow() and updated != window  # the original is untouched
    with pytest.raises(LocalUsageError):
        updated.update(7)  # update() only after check() passed
    with pytest.raises(LocalUsageError):
        ReplayWindow(size=0)


def test_receive_rejects_replays() -> None:
    data = BY_NAME["transport-agent-solicitation"].data
    payload, window = esp_receive(TRANSPORT, ReplayWindow(), data)
    assert payload.sequence_number == 1
    with pytest.raises(ReplayedPacketError) as info:
        esp_receive(TRANSPORT, window, data)
    assert (info.value.field, info.value.offset) == ("esp.sequence_number", 4)


@given(st.lists(st.integers(0, 300), max_size=120), st.sampled_from([1, 8, 32, 64]))
def test_replay_window_matches_reference(sequence: list[int], size: int) -> None:
    """Against the definition: new iff non-zero, unseen and within ``size`` of the highest."""
    window = ReplayWindow(size=size)
    seen: set[int] = set()
    for seq in sequence:
        highest = max(seen, default=0)
        expected = seq != 0 and seq not in seen and seq > highest - size
        assert window.check(seq) == expected, (seq, highest)
        if expected:
            window = window.update(seq)
            seen.add(seq)


# ------------------------------------------------------------------------------------------
# properties


@given(
    st.integers(1, 2**32 - 1),
    st.binary(max_size=300),
    st.integers(0, 255),
    st.integers(0, 60),
)
def test_round_trip(sequence: int, payload: bytes, next_header: int, extra: int) -> None:
    pad = minimum_padding(len(payload)) + 4 * extra
    wire = esp_protect(TRANSPORT, sequence, payload, next_header, pad_length=pad)
    assert esp_unprotect(TRANSPORT, wire) == EspPayload(
        sequence_number=sequence, next_header=next_header, payload=payload
    )
    assert EspPacket.decode(wire).encode() == wire


@given(st.binary(max_size=100))
def test_random_bytes_only_decode_errors(data: bytes) -> None:
    try:
        packet = EspPacket.decode(data)
    except DecodeError:
        pass
    else:
        assert packet.encode() == data
    with pytest.raises(DecodeError):
        esp_unprotect(TRANSPORT, data)  # no forgery from random bytes


@given(st.binary(min_size=1, max_size=60), st.integers(0, 255), st.binary(max_size=4))
def test_signed_garbage_only_decode_errors(body: bytes, next_header: int, pad: bytes) -> None:
    """Authentic (re-signed) packets with arbitrary trailers: accepted ones round-trip."""
    wire = resign(bytes.fromhex("00001000 00000001".replace(" ", "")) + body + pad)
    try:
        result = esp_unprotect(TRANSPORT, wire)
    except DecodeError:
        return
    assert EspPacket.decode(wire).encode() == wire
    assert wire[8 : 8 + len(result.payload)] == result.payload


@given(st.binary(min_size=0, max_size=100), st.integers(1, 2**32 - 1))
def test_ipv4_transport_round_trip(payload: bytes, sequence: int) -> None:
    datagram = build_ipv4(A("198.51.100.1"), A("198.51.100.7"), 1, payload, ttl=255)
    wire = protect_ipv4_transport(TRANSPORT, sequence, datagram)
    assert unprotect_ipv4_transport(TRANSPORT, wire) == (sequence, datagram)
