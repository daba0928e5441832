"""Authenticators: HMAC-MD5 over exactly the bytes RFC 5944 §3.5.1 and RFC 4721 §6 define.

The MAC inputs here are written out by hand (fixed part, earlier extensions, then the
authentication extension's own header) and compared with what :mod:`mip4.wire.auth` computes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip4.errors import LocalUsageError
from mip4.wire import auth
from mip4.wire.errors import DecodeError
from mip4.wire.extensions import (
    AuthenticationExtension,
    ForeignHomeAuthentication,
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    LinkLayerAddress,
    MobileForeignAuthentication,
    MobileHomeAuthentication,
)
from mip4.wire.handoff import HandoffFlags, HandoffReply, HandoffRequest
from mip4.wire.lla import EthernetMac, SolicitedIpv4Address
from mip4.wire.messages import ControlMessage, decode_control_message
from mip4.wire.registration import (
    RegionalRegistrationRequest,
    RegistrationFlags,
    RegistrationReply,
    RegistrationRequest,
)
from tests.vectors import parse_hex

HOME = IPv4Address("10.0.0.10")
HA = IPv4Address("10.0.0.1")
COA = IPv4Address("192.0.2.1")
GFA = IPv4Address("198.51.100.1")
IDENT = 0xE8A1B2C3_00000001
MN_MAC = LinkLayerAddress(value=EthernetMac(mac=bytes.fromhex("020000000001")))
MN_HA_KEY = b"0123456789abcdef"
OTHER_KEY = b"fedcba9876543210"

# Fixed parts written by hand from the RFC figures.
RRQ_FIXED = parse_hex("01 02 07 08  0a00000a 0a000001 c0000201  e8a1b2c3 00000001")
RRP_FIXED = parse_hex("03 00 07 08  0a00000a 0a000001  e8a1b2c3 00000001")
REGIONAL_FIXED = parse_hex("12 00 00 3c  0a00000a c6336401 c0000201  e8a1b2c3 00000001")
HRQST_FIXED = parse_hex("10 84 0000  000a 0000  0a00000a 0a000001  e8a1b2c3 00000002")
HRPLY_FIXED = parse_hex("11 84 00 00  000a 0000  00000000 00000000  e8a1b2c3 00000002")
LLA_BYTES = parse_hex("8a 07 03 020000000001")


def rrq(*extensions: object) -> RegistrationRequest:
    return RegistrationRequest(
        flags=RegistrationFlags.T,
        lifetime=1800,
        home_address=HOME,
        home_agent=HA,
        care_of_address=COA,
        identification=IDENT,
        extensions=extensions,  # type: ignore[arg-type]
    )


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.md5).digest()


# --- RFC 2104 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "data", "digest"),
    [
        # RFC 2104 Appendix "Sample Code" test vectors (also digest §10).
        (b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
        (b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"),
        (b"\xaa" * 16, b"\xdd" * 50, "56be34521d144c88dbb8c733f0e8b3f6"),
    ],
)
def test_hmac_md5_rfc2104_vectors(key: bytes, data: bytes, digest: str) -> None:
    assert auth.hmac_md5(key, data).hex() == digest
    assert auth.HMAC_MD5_LENGTH == 16


# --- seal and verify over the bytes the RFCs define ----------------------------------------


@dataclass(frozen=True)
class Case:
    """A message to seal, the template, the key, and the MAC input written by hand."""

    name: str
    message: ControlMessage
    template: AuthenticationExtension
    key: bytes
    mac_input: bytes

    def __str__(self) -> str:
        return self.name


def _cases() -> list[Case]:
    mn_ha_ext = MobileHomeAuthentication(
        spi=0x100, authenticator=bytes.fromhex("63b0b06ddd213e28b0bcaeea77111533")
    )
    mn_ha_bytes = parse_hex("20 14 00000100  63b0b06ddd213e28b0bcaeea77111533")
    return [
        Case(  # RFC 5944 §3.5.1-3.5.2: fixed part + Type, Length, SPI
            "mn-ha-in-rrq",
            rrq(),
            MobileHomeAuthentication(spi=0x100, authenticator=b""),
            MN_HA_KEY,
            RRQ_FIXED + parse_hex("20 14 00000100"),
        ),
        Case(  # §3.5.3: MN-FA covers the MN-HA extension and the FA-only LLA before it
            "mn-fa-in-rrq",
            rrq(mn_ha_ext, MN_MAC),
            MobileForeignAuthentication(spi=0x101, authenticator=b""),
            b"mn-fa-shared-key",
            RRQ_FIXED + mn_ha_bytes + LLA_BYTES + parse_hex("21 14 00000101"),
        ),
        Case(  # §3.5.4: FA-HA appended by the relaying FA
            "fa-ha-in-rrq",
            rrq(mn_ha_ext),
            ForeignHomeAuthentication(spi=0x102, authenticator=b""),
            b"fa-ha-shared-key",
            RRQ_FIXED + mn_ha_bytes + parse_hex("22 14 00000102"),
        ),
        Case(  # §3.4: the reply's 20-byte fixed part
            "mn-ha-in-rrp",
            RegistrationReply(
                code=0,
                lifetime=1800,
                home_address=HOME,
                home_agent=HA,
                identification=IDENT,
            ),
            MobileHomeAuthentication(spi=0x100, authenticator=b""),
            MN_HA_KEY,
            RRP_FIXED + parse_hex("20 14 00000100"),
        ),
        Case(  # RFC 4721 §6: preceding data + Type, Subtype, Length(16), SPI
            "mn-aaa-in-rrq",
            rrq(mn_ha_ext),
            GeneralizedAuthentication(subtype=1, spi=0x400, authenticator=b""),
            b"mn-aaa-sharedkey",
            RRQ_FIXED + mn_ha_bytes + parse_hex("24 01 0014 00000400"),
        ),
        Case(  # RFC 4857 §11, RFC 4881 §4.5: FA-FA over HRqst + LLA + 8-byte header
            "fa-fa-in-hrqst",
            HandoffRequest(
                flags=HandoffFlags.H | HandoffFlags.T,
                lifetime=10,
                mn_home_address=HOME,
                ha_address=HA,
                identification=0xE8A1B2C3_00000002,
                extensions=(MN_MAC,),
            ),
            GeneralizedAuthentication(subtype=2, spi=0x200, authenticator=b""),
            b"fa-fa-shared-key",
            HRQST_FIXED + LLA_BYTES + parse_hex("24 02 0014 00000200"),
        ),
        Case(  # RFC 4881 §4.6
            "fa-fa-in-hrply",
            HandoffReply(
                flags=HandoffFlags.H | HandoffFlags.T,
                lifetime=10,
                mn_home_address=IPv4Address(0),
                ha_address=IPv4Address(0),
                identification=0xE8A1B2C3_00000002,
            ),
            GeneralizedAuthentication(subtype=2, spi=0x200, authenticator=b""),
            b"fa-fa-shared-key",
            HRPLY_FIXED + parse_hex("24 02 0014 00000200"),
        ),
        Case(  # RFC 4857 §10.1, §11: MN-GFA in a Regional Registration Request
            "mn-gfa-in-regional-rrq",
            RegionalRegistrationRequest(
                lifetime=60,
                home_address=HOME,
                home_agent=GFA,
                care_of_address=COA,
                identification=IDENT,
            ),
            GeneralizedAuthentication(subtype=3, spi=0x300, authenticator=b""),
            b"mn-gfa-sharedkey",
            REGIONAL_FIXED + parse_hex("24 03 0014 00000300"),
        ),
    ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_seal_covers_exactly_the_rfc_bytes(case: Case) -> None:
    sealed = auth.seal(case.message, case.template, case.key)
    index = len(sealed.extensions) - 1
    expected = _hmac(case.key, case.mac_input)
    assert sealed.extensions[index].authenticator == expected  # type: ignore[union-attr]
    assert auth.mac_input(sealed, index) == case.mac_input
    # The wire form is the MAC input followed by the authenticator, nothing else.
    assert sealed.encode() == case.mac_input + expected
    # seal() returns a new message and leaves the original alone.
    assert case.message.extensions == sealed.extensions[:-1]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_sealed_message_verifies_after_decoding(case: Case) -> None:
    wire = auth.seal(case.message, case.template, case.key).encode()
    decoded = decode_control_message(wire)
    index = len(decoded.extensions) - 1
    assert auth.verify(decoded, index, case.key) is True
    assert auth.verify(decoded, index, OTHER_KEY) is False
    assert auth.verify(decoded, index, case.key + b"!") is False
    # HMAC pads short keys with zeros (RFC 2104 §2), so a trailing zero byte is the same key.
    assert auth.verify(decoded, index, case.key + b"\x00") is True
    assert auth.verify(decoded, index, b"") is False


@pytest.mark.parametrize("case", CASES, ids=str)
def test_one_bit_flip_anywhere_breaks_verification(case: Case) -> None:
    wire = auth.seal(case.message, case.template, case.key).encode()
    index = len(case.message.extensions)
    for bit in range(len(wire) * 8):
        flipped = bytearray(wire)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        try:
            decoded = decode_control_message(bytes(flipped))
        except DecodeError:
            continue  # refused before verification: also safe
        if index < len(decoded.extensions):
            assert auth.verify(decoded, index, case.key) is False, f"bit {bit}"


def test_seal_ignores_the_template_authenticator() -> None:
    a = auth.seal(rrq(), MobileHomeAuthentication(spi=0x100, authenticator=b""), MN_HA_KEY)
    b = auth.seal(rrq(), MobileHomeAuthentication(spi=0x100, authenticator=b"x" * 40), MN_HA_KEY)
    assert a == b
    assert len(a.extensions[0].authenticator) == auth.HMAC_MD5_LENGTH  # type: ignore[union-attr]


def test_extensions_after_the_authenticator_are_not_covered() -> None:
    """RFC 5944 §3.5.1 / §3.7.2.2: an FA may strip or add what follows MN-HA auth."""
    sealed = auth.seal(rrq(), MobileHomeAuthentication(spi=0x100, authenticator=b""), MN_HA_KEY)
    relayed = dataclasses.replace(sealed, extensions=(*sealed.extensions, MN_MAC))
    assert auth.verify(decode_control_message(relayed.encode()), 0, MN_HA_KEY) is True


def test_extension_before_the_authenticator_is_covered() -> None:
    sealed = auth.seal(
        rrq(MN_MAC), MobileHomeAuthentication(spi=0x100, authenticator=b""), MN_HA_KEY
    )
    other_lla = LinkLayerAddress(value=SolicitedIpv4Address(address=COA))
    swapped = dataclasses.replace(sealed, extensions=(other_lla, sealed.extensions[1]))
    assert auth.verify(swapped, 1, MN_HA_KEY) is False


def test_spi_is_covered() -> None:
    sealed = auth.seal(rrq(), MobileHomeAuthentication(spi=0x100, authenticator=b""), MN_HA_KEY)
    ext = sealed.extensions[0]
    assert isinstance(ext, MobileHomeAuthentication)
    moved = dataclasses.replace(sealed, extensions=(dataclasses.replace(ext, spi=0x101),))
    assert auth.verify(moved, 0, MN_HA_KEY) is False


# --- authenticator length, reserved SPIs, misuse ---------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 15, 17, 20, 32])
def test_wrong_authenticator_length_is_false(length: int) -> None:
    sealed = auth.seal(rrq(), MobileHomeAuthentication(spi=0x100, authenticator=b""), MN_HA_KEY)
    good = sealed.extensions[0].authenticator  # type: ignore[union-attr]
    wrong = (good * 3)[:length]
    bad = dataclasses.replace(
        sealed, extensions=(MobileHomeAuthentication(spi=0x100, authenticator=wrong),)
    )
    assert auth.verify(bad, 0, MN_HA_KEY) is False
    # The same through the wire: Length = 4 + length decodes, and verification says no.
    assert auth.verify(decode_control_message(bad.encode()), 0, MN_HA_KEY) is False


def test_generalized_authenticator_longer_than_hmac_md5_is_false() -> None:
    case = next(c for c in CASES if c.name == "fa-fa-in-hrqst")
    sealed = auth.seal(case.message, case.template, case.key)
    ext = sealed.extensions[-1]
    assert isinstance(ext, GeneralizedAuthentication)
    longer = dataclasses.replace(ext, authenticator=ext.authenticator + b"\x00" * 4)
    bad = dataclasses.replace(sealed, extensions=(*sealed.extensions[:-1], longer))
    assert auth.verify(decode_control_message(bad.encode()), 1, case.key) is False


@pytest.mark.parametrize("spi", [0, 1, 2, 255])
@pytest.mark.parametrize(
    "make",
    [
        lambda spi: MobileHomeAuthentication(spi=spi, authenticator=b""),
        lambda spi: MobileForeignAuthentication(spi=spi, authenticator=b""),
        lambda spi: ForeignHomeAuthentication(spi=spi, authenticator=b""),
        lambda spi: GeneralizedAuthentication(subtype=2, spi=spi, authenticator=b""),
    ],
    ids=["mn-ha", "mn-fa", "fa-ha", "fa-fa"],
)
def test_seal_refuses_reserved_spi(
    spi: int, make: Callable[[int], AuthenticationExtension]
) -> None:
    """RFC 5944 §1.6, RFC 4721 §7: SPIs 0-255 are reserved."""
    with pytest.raises(LocalUsageError, match="reserved"):
        auth.seal(rrq(), make(spi), MN_HA_KEY)


def test_seal_accepts_the_first_unreserved_spi() -> None:
    sealed = auth.seal(rrq(), MobileHomeAuthentication(spi=256, authenticator=b""), MN_HA_KEY)
    assert sealed.extensions[0].spi == 256  # type: ignore[union-attr]


def test_verify_on_a_non_authentication_extension_is_false() -> None:
    message = rrq(MN_MAC)
    assert auth.verify(message, 0, MN_HA_KEY) is False
    with pytest.raises(LocalUsageError):
        auth.mac_input(message, 0)


def test_verify_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """verify() hands both digests to hmac.compare_digest (never ``==``)."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    sealed = auth.seal(rrq(), MobileHomeAuthentication(spi=0x100, authenticator=b""), MN_HA_KEY)
    digest = sealed.extensions[0].authenticator  # type: ignore[union-attr]
    assert auth.verify(sealed, 0, MN_HA_KEY) is True
    assert auth.verify(sealed, 0, OTHER_KEY) is False
    assert calls == [(digest, digest), (_hmac(OTHER_KEY, auth.mac_input(sealed, 0)), digest)]


def test_find_authenticator() -> None:
    mn_ha = auth.seal(rrq(), MobileHomeAuthentication(spi=0x100, authenticator=b""), MN_HA_KEY)
    both = auth.seal(
        dataclasses.replace(mn_ha, extensions=(*mn_ha.extensions, MN_MAC)),
        GeneralizedAuthentication(
            subtype=GeneralizedAuthSubtype.FA_FA, spi=0x200, authenticator=b""
        ),
        b"fa-fa-shared-key",
    )
    assert auth.find_authenticator(both, MobileHomeAuthentication) == 0
    assert auth.find_authenticator(both, GeneralizedAuthentication) == 2
    assert auth.find_authenticator(both, GeneralizedAuthentication, subtype=2) == 2
    assert auth.find_authenticator(both, GeneralizedAuthentication, subtype=3) is None
    assert auth.find_authenticator(both, MobileForeignAuthentication) is None


@given(
    key=st.binary(min_size=1, max_size=64),
    other=st.binary(min_size=1, max_size=64),
    spi=st.integers(min_value=256, max_value=0xFFFFFFFF),
    identification=st.integers(min_value=0, max_value=2**64 - 1),
    subtype=st.sampled_from([None, 1, 2, 3]),
)
def test_seal_verify_property(
    key: bytes, other: bytes, spi: int, identification: int, subtype: int | None
) -> None:
    template: AuthenticationExtension = (
        MobileHomeAuthentication(spi=spi, authenticator=b"")
        if subtype is None
        else GeneralizedAuthentication(subtype=subtype, spi=spi, authenticator=b"")
    )
    message = dataclasses.replace(rrq(MN_MAC), identification=identification)
    wire = auth.seal(message, template, key).encode()
    decoded = decode_control_message(wire)
    assert auth.verify(decoded, 1, key) is True
    # Keys up to the 64-byte block are zero-padded (RFC 2104 §2): equal up to trailing zeros.
    assert auth.verify(decoded, 1, other) is (other.rstrip(b"\0") == key.rstrip(b"\0"))
