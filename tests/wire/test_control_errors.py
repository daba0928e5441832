"""Bad input to the control-message decoders: every error is a ``DecodeError`` naming the
field (snake_case RFC name) and the absolute byte offset where it starts.

The expected fields and offsets are written out from the RFC figures (RFC 5944 §3.3-3.4,
RFC 4857 §10.1-10.2, RFC 4881 §4.5-4.6) and the extension formats (RFC 5944 §1.9-1.11).
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from mip4.errors import LocalUsageError, Mip4Error
from mip4.wire.errors import (
    AuthenticatorLengthError,
    DecodeError,
    LengthError,
    ReservedValueError,
    TruncatedError,
    UnknownMandatoryExtension,
    UnknownMessageType,
    ValueDecodeError,
)
from mip4.wire.extensions import (
    GeneralizedAuthentication,
    GfaIpAddress,
    HierarchicalForeignAgent,
    LinkLayerAddress,
    MnFaChallenge,
    MobileHomeAuthentication,
    MobileNodeNai,
    Padding,
    RegionalRegistrationLifetime,
    UnknownSkippableExtension,
)
from mip4.wire.handoff import HandoffReply, HandoffRequest
from mip4.wire.lla import UnknownLla
from mip4.wire.messages import decode_control_message
from mip4.wire.registration import (
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationReply,
    RegistrationRequest,
)
from tests.vectors import Vector, load, parse_hex

MESSAGES = [v for v in load("control") if v.codec == "control"]

# Fixed parts as (field, offset, size), from the RFC figures.
_REQUEST = [
    ("type", 0, 1),
    ("flags", 1, 1),
    ("lifetime", 2, 2),
    ("home_address", 4, 4),
    ("home_agent", 8, 4),
    ("care_of_address", 12, 4),
    ("identification", 16, 8),
]
_REPLY = [
    ("type", 0, 1),
    ("code", 1, 1),
    ("lifetime", 2, 2),
    ("home_address", 4, 4),
    ("home_agent", 8, 4),
    ("identification", 12, 8),
]
_HANDOFF_TAIL = [("mn_home_address", 8, 4), ("ha_address", 12, 4), ("identification", 16, 8)]
LAYOUTS = {
    1: _REQUEST,  # RFC 5944 §3.3
    3: _REPLY,  # RFC 5944 §3.4
    18: [(f if f != "home_agent" else "gfa_ip_address", o, s) for f, o, s in _REQUEST],
    19: [(f if f != "home_agent" else "gfa_ip_address", o, s) for f, o, s in _REPLY],
    16: [  # RFC 4881 §4.5
        ("type", 0, 1),
        ("flags", 1, 1),
        ("reserved", 2, 2),
        ("lifetime", 4, 2),
        ("reserved", 6, 2),
        *_HANDOFF_TAIL,
    ],
    17: [  # RFC 4881 §4.6
        ("type", 0, 1),
        ("flags", 1, 1),
        ("reserved", 2, 1),
        ("code", 3, 1),
        ("lifetime", 4, 2),
        ("reserved", 6, 2),
        *_HANDOFF_TAIL,
    ],
}

# Fixed parts used to carry the extensions under test.
RRQ = parse_hex("01 00 07 08 0a00000a 0a000001 c0000201 e8a1b2c3 00000001")
RRP = parse_hex("03 00 07 08 0a00000a 0a000001 e8a1b2c3 00000001")
HRQST = parse_hex("10 80 0000 000a 0000 0a00000a 0a000001 e8a1b2c3 00000002")
HRPLY = parse_hex("11 80 00 00 000a 0000 00000000 00000000 e8a1b2c3 00000002")
E = len(RRQ)  # offset of the first extension after RRQ


def expect(
    data: bytes, cls: type[DecodeError], field: str, offset: int, decoder: object = None
) -> DecodeError:
    """Decode ``data`` and check the exact error class, field and offset."""
    decode = decoder or decode_control_message
    with pytest.raises(DecodeError) as info:
        decode(data)  # type: ignore[operator]
    err = info.value
    assert type(err) is cls, f"{type(err).__name__}: {err}"
    assert (err.field, err.offset) == (field, offset), str(err)
    assert str(err).startswith(f"{field} at offset {offset}: ")
    assert isinstance(err, Mip4Error)
    return err


def _extension_starts(vector: Vector) -> list[tuple[int, int, int]]:
    """(start, end, type) of every extension in the vector, from the fixed-part size."""
    message = decode_control_message(vector.data)
    pos = message.FIXED_SIZE
    out = []
    for ext in message.extensions:
        size = len(ext.encode())
        out.append((pos, pos + size, ext.to_dict()["type"]))
        pos += size
    assert pos == len(vector.data)
    return out


def _expected_truncation(vector: Vector, n: int) -> tuple[str, int] | None:
    """The (field, offset) a cut after ``n`` bytes must name, or None if the cut falls on an
    extension boundary (the shorter message is then valid)."""
    if n == 0:
        return ("type", 0)
    layout = LAYOUTS[vector.data[0]]
    for field, offset, size in layout:
        if n < offset + size:
            return (field, offset)
    for start, end, ext_type in _extension_starts(vector):
        if n == start:
            return None
        if start < n < end:
            if ext_type == 36:  # long format: Type | Subtype | Length(16)
                return (
                    ("extension.sub_type", start + 1)
                    if n == start + 1
                    else (
                        "extension.length",
                        start + 2,
                    )
                )
            return ("extension.length", start + 1)
    raise AssertionError("n is past the end")


# --- truncation ------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", MESSAGES, ids=str)
def test_truncation_at_every_length(vector: Vector) -> None:
    for n in range(len(vector.data)):
        expected = _expected_truncation(vector, n)
        if expected is None:
            shorter = decode_control_message(vector.data[:n])
            assert shorter.encode() == vector.data[:n]
            continue
        expect(vector.data[:n], TruncatedError, *expected)


def test_empty_input() -> None:
    expect(b"", TruncatedError, "type", 0)
    for cls in (RegistrationRequest, RegistrationReply, HandoffRequest, HandoffReply):
        expect(b"", TruncatedError, "type", 0, cls.decode)


@pytest.mark.parametrize("mtype", [t for t in range(256) if t not in {1, 3, 16, 17, 18, 19}])
def test_unknown_message_type(mtype: int) -> None:
    err = expect(bytes([mtype]) + RRQ[1:], UnknownMessageType, "type", 0)
    assert str(mtype) in err.reason
    expect(bytes([mtype]), UnknownMessageType, "type", 0)


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        (RegistrationRequest, RRP),
        (RegistrationReply, RRQ),
        (RegionalRegistrationRequest, RRQ),
        (RegionalRegistrationReply, RRP),
        (HandoffRequest, HRPLY),
        (HandoffReply, HRQST),
    ],
)
def test_class_decoder_refuses_another_type(cls: type, data: bytes) -> None:
    expect(data, ValueDecodeError, "type", 0, cls.decode)
    expect(data[:1], ValueDecodeError, "type", 0, cls.decode)


# --- reserved fields and flag combinations ---------------------------------------------------


@pytest.mark.parametrize("prefix", [RRQ, bytes([18]) + RRQ[1:]], ids=["rrq", "regional-rrq"])
@pytest.mark.parametrize(
    ("flags", "field"),
    [(0x04, "flags.r"), (0x01, "flags.x"), (0x05, "flags.r"), (0xFF, "flags.r"), (0xFB, "flags.x")],
)
def test_request_reserved_flags(prefix: bytes, flags: int, field: str) -> None:
    """RFC 5944 §3.3: r and x are sent as zero; §3.7.2.1 / §3.8.2.3: reject (70 / 134)."""
    data = prefix[:1] + bytes([flags]) + prefix[2:]
    expect(data, ReservedValueError, field, 1)


@pytest.mark.parametrize("base", [HRQST, HRPLY], ids=["hrqst", "hrply"])
def test_handoff_reserved_flag_bit(base: bytes) -> None:
    """RFC 4881 §4.5-4.6: bit 15 (the low bit of the flags byte) is reserved."""
    for flags in (0x81, 0x41, 0x21, 0xC1, 0x01, 0xFF):
        expect(base[:1] + bytes([flags]) + base[2:], ReservedValueError, "flags.reserved", 1)


@pytest.mark.parametrize(("index", "offset"), [(2, 2), (3, 2), (6, 6), (7, 6)])
def test_handoff_request_reserved_bytes(index: int, offset: int) -> None:
    data = bytearray(HRQST)
    data[index] = 0x01
    expect(bytes(data), ReservedValueError, "reserved", offset)


@pytest.mark.parametrize(("index", "offset"), [(2, 2), (6, 6), (7, 6)])
def test_handoff_reply_reserved_bytes(index: int, offset: int) -> None:
    data = bytearray(HRPLY)
    data[index] = 0x80
    expect(bytes(data), ReservedValueError, "reserved", offset)


def test_handoff_reply_code_byte_is_not_reserved() -> None:
    data = HRPLY[:3] + b"\xff" + HRPLY[4:]
    assert decode_control_message(data).code == 255  # type: ignore[union-attr]


@pytest.mark.parametrize("base", [HRQST, HRPLY], ids=["hrqst", "hrply"])
@pytest.mark.parametrize(
    "flags",
    [0x00, 0xA0, 0x60, 0x1E, 0x10, 0x08, 0x04, 0x02, 0xB6],
    ids=["none", "H+R", "N+R", "MGTB", "M", "G", "T", "B", "H+R+MTB"],
)
def test_handoff_flags_naming_no_variant(base: bytes, flags: int) -> None:
    expect(base[:1] + bytes([flags]) + base[2:], ValueDecodeError, "flags", 1)


@pytest.mark.parametrize("base", [HRQST, HRPLY], ids=["hrqst", "hrply"])
def test_handoff_h_n_r_is_a_handoff_to_third(base: bytes) -> None:
    """RFC 4881 §4.7 / digest §9.2: HTT is H and N, whatever R says."""
    message = decode_control_message(base[:1] + b"\xe0" + base[2:])
    assert message.variant.value == "htt"  # type: ignore[union-attr]


def test_reserved_checked_before_variant() -> None:
    expect(HRQST[:1] + b"\x01" + HRQST[2:], ReservedValueError, "flags.reserved", 1)


# --- extensions: lengths ---------------------------------------------------------------------


@pytest.mark.parametrize("host", [RRQ, RRP, HRQST, HRPLY], ids=["rrq", "rrp", "hrqst", "hrply"])
def test_overlong_extension_length(host: bytes) -> None:
    p = len(host)
    # Simple/short formats: Length byte at p + 1 claims more than is left.
    expect(host + parse_hex("8a 09 03 020000000001"), TruncatedError, "extension.length", p + 1)
    expect(host + parse_hex("83 ff 6d6e"), TruncatedError, "extension.length", p + 1)
    expect(host + parse_hex("20 14 00000100"), TruncatedError, "extension.length", p + 1)
    # After a valid extension, the offset is still absolute.
    expect(host + parse_hex("82 00  c8 03 aabb"), TruncatedError, "extension.length", p + 2 + 1)
    # Long format (type 36): 16-bit Length at p + 2.
    auth = parse_hex("24 02 0015 00000200") + bytes(16)
    expect(host + auth, TruncatedError, "extension.length", p + 2)


@pytest.mark.parametrize("ext_type", [32, 33, 34, 46, 130, 131, 132, 138, 140, 141, 142, 200])
def test_missing_length_byte(ext_type: int) -> None:
    expect(RRQ + bytes([ext_type]), TruncatedError, "extension.length", E + 1)


def test_generalized_auth_header_cut() -> None:
    expect(RRQ + b"\x24", TruncatedError, "extension.sub_type", E + 1)
    expect(RRQ + b"\x24\x02", TruncatedError, "extension.length", E + 2)
    expect(RRQ + b"\x24\x02\x00", TruncatedError, "extension.length", E + 2)


@pytest.mark.parametrize("length", range(20))
def test_generalized_auth_length_below_20(length: int) -> None:
    """RFC 4721 §5: Length MUST be at least 20."""
    data = RRQ + bytes([36, 2]) + length.to_bytes(2, "big") + bytes(length)
    err = expect(data, AuthenticatorLengthError, "extension.length", E + 2)
    assert "20" in err.reason
    assert GeneralizedAuthentication.MIN_LENGTH == 20


@pytest.mark.parametrize("ext_type", [32, 33, 34])
@pytest.mark.parametrize("length", range(4))
def test_authentication_length_below_4(ext_type: int, length: int) -> None:
    """RFC 5944 §3.5: Length = 4 (SPI) + authenticator."""
    data = RRQ + bytes([ext_type, length]) + bytes(length)
    expect(data, AuthenticatorLengthError, "extension.length", E + 1)


@pytest.mark.parametrize(
    ("ext", "offset"),
    [
        ("82 01 00", E + 1),  # 130: Length must be 0 (RFC 3024 §3.3)
        ("2e 05 0000 c63364", E + 1),  # 46: Length must be 6 (RFC 4857 §9.1)
        ("2e 07 0000 c6336401 00", E + 1),
        ("8c 04 0000 c000", E + 1),  # 140 HFA
        ("8d 00", E + 1),  # 141: 2 or 10
        ("8d 04 0001 0000", E + 1),
        ("8d 0b 0001 0000000000000000 00", E + 1),
        ("8e 04 0000 0258", E + 1),  # 142
        ("8a 00", E + 1),  # 138 needs a Sub-Type byte
    ],
)
def test_inconsistent_extension_length(ext: str, offset: int) -> None:
    expect(RRQ + parse_hex(ext), LengthError, "extension.length", offset)


@pytest.mark.parametrize(
    ("ext", "cls", "field", "offset"),
    [
        # The LLA value does not fit its sub-type (RFC 4881 §9.3-9.7); offset = the LLA bytes.
        ("8a 06 03 0200000000", LengthError, "lla.mac", E + 3),
        ("8a 08 03 02000000000100", LengthError, "lla.mac", E + 3),
        ("8a 01 03", LengthError, "lla.mac", E + 3),
        ("8a 08 04 0200fffe000001", LengthError, "lla.eui64", E + 3),
        ("8a 04 05 c63364", LengthError, "lla.address", E + 3),
        ("8a 06 06 0a0b0c0d0e", LengthError, "lla.ap_id", E + 3),
        ("8a 03 07 c000", LengthError, "lla.address", E + 3),
        # 3GPP IMSI in TBCD (RFC 4881 §9.2, docs/decisions.md)
        ("8a 01 02", LengthError, "lla.imsi", E + 3),
        ("8a 0a 02 111111111111111111", LengthError, "lla.imsi", E + 3),
        ("8a 09 02 1111111111111111", LengthError, "lla.imsi", E + 3),  # 16 digits
        ("8a 03 02 13a0", ValueDecodeError, "lla.imsi", E + 4),  # nibble 0xa
        ("8a 03 02 1f10", ValueDecodeError, "lla.imsi", E + 3),  # filler not last
        ("8a 02 02 0f", ValueDecodeError, "lla.imsi", E + 3),  # filler in the low nibble
        # 3GPP2 "<IMSI>:<Connection Id>" in ASCII (RFC 4881 §9.1)
        ("8a 05 01 3331 ff 31", ValueDecodeError, "lla.imsi", E + 5),  # not ASCII
        ("8a 04 01 333132", ValueDecodeError, "lla.imsi", E + 3),  # no ':'
        ("8a 04 01 3a3132", ValueDecodeError, "lla.imsi", E + 3),  # no IMSI
        ("8a 04 01 31323a", ValueDecodeError, "lla.imsi", E + 3),  # no connection id
        ("8a 05 01 313a2d31", ValueDecodeError, "lla.imsi", E + 3),  # "-1"
        ("8a 05 01 31413a31", ValueDecodeError, "lla.imsi", E + 3),  # letter in the IMSI
        ("8a 05 01 313a3031", ValueDecodeError, "lla.connection_id", E + 5),  # "01"
    ],
)
def test_lla_value_errors(ext: str, cls: type[DecodeError], field: str, offset: int) -> None:
    expect(RRQ + parse_hex(ext), cls, field, offset)


@pytest.mark.parametrize(
    ("ext", "reserved"),
    [("2e 06 0100 c6336401", 0x0100), ("8c 06 0001 c0000202", 1), ("8e 06 8000 00000258", 0x8000)],
)
def test_extension_reserved_bytes_kept(ext: str, reserved: int) -> None:
    """RFC 4857 §9.1, §9.2, §9.4 only draw the two reserved bytes (no "must be zero" on
    receipt): a non-zero value is no error, is kept, and is re-encoded as received, so a
    skippable 140/142 cannot make a whole message undecodable."""
    data = RRQ + parse_hex(ext)
    message = decode_control_message(data)
    (extension,) = message.extensions
    assert extension.reserved == reserved  # type: ignore[union-attr]
    assert extension.to_dict()["reserved"] == reserved
    assert message.encode() == data


@pytest.mark.parametrize("cls", [GfaIpAddress, HierarchicalForeignAgent])
def test_extension_reserved_out_of_range_is_local_usage(cls: type[GfaIpAddress]) -> None:
    with pytest.raises(LocalUsageError, match="16 bits"):
        cls(address=IPv4Address("192.0.2.1"), reserved=0x10000).encode()
    with pytest.raises(LocalUsageError, match="16 bits"):
        RegionalRegistrationLifetime(lifetime=1, reserved=-1).encode()


# --- extensions: unknown non-skippable -------------------------------------------------------

UNKNOWN_MANDATORY = [t for t in range(1, 128) if t not in {32, 33, 34, 36, 46}]


@pytest.mark.parametrize("ext_type", UNKNOWN_MANDATORY)
def test_unknown_non_skippable_extension(ext_type: int) -> None:
    """RFC 5944 §1.8: types 0-127 not understood make the whole message invalid."""
    for tail in (b"", b"\x02\xaa\xbb", b"\xff"):
        err = expect(RRQ + bytes([ext_type]) + tail, UnknownMandatoryExtension, "extension.type", E)
        assert err.ext_type == ext_type  # type: ignore[attr-defined]


def test_unknown_non_skippable_after_other_extensions() -> None:
    data = HRQST + parse_hex("00 8a 07 03 020000000001 c8 00") + parse_hex("63 02 0000")
    err = expect(data, UnknownMandatoryExtension, "extension.type", len(HRQST) + 1 + 9 + 2)
    assert err.ext_type == 99  # type: ignore[attr-defined]


def test_skippable_types_are_kept_whatever_they_hold() -> None:
    for ext_type in range(128, 256):
        if ext_type in {130, 138, 140, 141, 142}:
            continue
        data = RRQ + bytes([ext_type, 3]) + b"\x00\xff\x10"
        message = decode_control_message(data)
        assert message.encode() == data
        assert len(message.extensions) == 1 and not isinstance(message.extensions[0], Padding)


def test_errors_are_only_the_decode_error_family() -> None:
    """Every class in the family is a DecodeError and a Mip4Error (not ValueError etc.)."""
    for cls in (
        TruncatedError,
        LengthError,
        ReservedValueError,
        ValueDecodeError,
        AuthenticatorLengthError,
        UnknownMessageType,
    ):
        assert issubclass(cls, DecodeError) and not issubclass(cls, ValueError)
    assert issubclass(UnknownMandatoryExtension, DecodeError)


# --- other input types and encoder misuse ----------------------------------------------------


@pytest.mark.parametrize("wrap", [bytearray, memoryview], ids=["bytearray", "memoryview"])
@pytest.mark.parametrize("vector", MESSAGES[::7], ids=str)
def test_bytes_like_input_decodes_like_bytes(vector: Vector, wrap: type) -> None:
    assert decode_control_message(wrap(vector.data)) == decode_control_message(vector.data)


@pytest.mark.parametrize(
    "ext",
    [
        MobileHomeAuthentication(spi=0x100, authenticator=bytes(252)),
        GeneralizedAuthentication(subtype=2, spi=0x200, authenticator=bytes(0x10000 - 4)),
        LinkLayerAddress(value=UnknownLla(sub_type=9, data=bytes(255))),
        MobileNodeNai(nai=b"n" * 256),
        MnFaChallenge(challenge=bytes(256)),
        UnknownSkippableExtension(ext_type=200, data=bytes(256)),
    ],
    ids=lambda e: type(e).__name__,
)
def test_encoding_data_too_long_for_its_length_field(ext: object) -> None:
    with pytest.raises(LocalUsageError, match="Length"):
        ext.encode()  # type: ignore[attr-defined]


def test_encoding_at_the_length_limit() -> None:
    assert len(MobileHomeAuthentication(spi=0x100, authenticator=bytes(251)).encode()) == 257
    assert len(LinkLayerAddress(value=UnknownLla(sub_type=9, data=bytes(254))).encode()) == 257
    assert len(UnknownSkippableExtension(ext_type=200, data=bytes(255)).encode()) == 257
