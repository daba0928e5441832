"""``decoded_builder``: the decoders' fast constructor builds what ``__init__`` builds."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip4 import samples
from mip4.wire._util import decoded_builder
from mip4.wire.extensions import (
    ForeignHomeAuthentication,
    GeneralizedAuthentication,
    MobileForeignAuthentication,
    MobileHomeAuthentication,
)
from mip4.wire.handoff import HandoffReply, HandoffRequest
from mip4.wire.messages import decode_control_message
from mip4.wire.registration import (
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationReply,
    RegistrationRequest,
)


@pytest.mark.parametrize(
    "cls",
    [
        RegistrationRequest,
        RegistrationReply,
        RegionalRegistrationRequest,
        RegionalRegistrationReply,
        HandoffRequest,
        HandoffReply,
        MobileHomeAuthentication,
        GeneralizedAuthentication,
    ],
)
def test_decoded_messages_equal_init_built_ones(cls: type) -> None:
    """Every decoded sample equals the same message rebuilt by ``__init__`` from its init
    fields, hashes alike, and keeps its non-init fields (``_wire``) set."""
    seen = 0
    for frame in samples.control_frames():
        message = decode_control_message(frame.message.encode())  # type: ignore[attr-defined]
        for candidate in (message, *getattr(message, "extensions", ())):
            if type(candidate) is not cls:
                continue
            init = {f.name: getattr(candidate, f.name) for f in dataclasses.fields(cls) if f.init}
            rebuilt = cls(**init)
            assert candidate == rebuilt and hash(candidate) == hash(rebuilt)
            for f in dataclasses.fields(cls):
                getattr(candidate, f.name)  # every slot is set
            seen += 1
    assert seen, f"no {cls.__name__} among the samples"


def test_the_builder_sets_every_field_in_order_and_refuses_other_classes() -> None:
    build = decoded_builder(RegistrationRequest)
    a, b, c = (IPv4Address(f"198.18.0.{i}") for i in (1, 2, 3))
    message = build(0, 30, a, b, c, 7, (), b"raw")
    assert message == RegistrationRequest(
        lifetime=30, home_address=a, home_agent=b, care_of_address=c, identification=7
    )
    assert message._wire == b"raw"
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.lifetime = 1  # type: ignore[misc]

    class Plain:
        pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    with pytest.raises(TypeError, match="not a dataclass"):
        decoded_builder(Plain)
    with pytest.raises(TypeError, match="__post_init__"):
        decoded_builder(Checked)


# --- the decoders' caches ------------------------------------------------------------------


def test_ipv4_cache_gives_the_address_and_stays_bounded() -> None:
    from mip4.wire import _util

    for n in range(_util._IPV4_CACHE_SIZE + 100):  # a flood of distinct source addresses
        raw = n.to_bytes(4, "big")
        assert (_util.cached_ipv4(raw) or _util.ipv4(raw)) == IPv4Address(raw)
        assert len(_util._IPV4_CACHE) <= _util._IPV4_CACHE_SIZE
    raw = bytes([198, 18, 0, 1])
    assert _util.ipv4(raw) is _util.cached_ipv4(raw)  # made once, then looked up


def test_hmac_pads_stay_bounded_and_take_any_key_type() -> None:
    import hashlib
    import hmac

    from mip4.wire import auth

    for n in range(auth._PADS_MAX + 10):
        key = n.to_bytes(4, "big")
        assert auth.hmac_md5(key, b"data") == hmac.new(key, b"data", hashlib.md5).digest()
        assert len(auth._PADS) <= auth._PADS_MAX
    key = bytearray(b"a bytearray key")  # not hashable: no cache lookup, same MAC
    assert auth.hmac_md5(key, b"x") == hmac.new(bytes(key), b"x", hashlib.md5).digest()
    long_key = b"k" * 100  # longer than the MD5 block: hashed first (RFC 2104 §2)
    assert auth.hmac_md5(long_key, b"x") == hmac.new(long_key, b"x", hashlib.md5).digest()


@pytest.mark.parametrize("ext_type", [32, 33, 34])
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (bytes([20]) + bytes(19), "TruncatedError"),  # Length 20, one byte short
        (bytes([3, 0, 0, 1]), "AuthenticatorLengthError"),  # Length 3: no room for the SPI
        (bytes([21]) + bytes(20), "TruncatedError"),
    ],
)
def test_the_single_authenticator_fast_path_leaves_errors_to_the_full_decoder(
    ext_type: int, body: bytes, error: str
) -> None:
    """``decode_extensions`` takes a short cut for a lone MN-HA/MN-FA/FA-HA extension that
    fills the rest of the message exactly; anything else, malformed or not, gets the full
    decoder and its specific error (field and offset)."""
    from mip4.wire import errors
    from mip4.wire.extensions import decode_extensions

    data = bytes(24) + bytes([ext_type]) + body
    with pytest.raises(getattr(errors, error)) as caught:
        decode_extensions(data, 24)
    assert caught.value.offset == 25  # the Length byte


_AUTH_CLASSES = {
    32: MobileHomeAuthentication,
    33: MobileForeignAuthentication,
    34: ForeignHomeAuthentication,
}


@pytest.mark.parametrize("ext_type", [32, 33, 34])
def test_authenticators_decode_alike_alone_and_among_others(ext_type: int) -> None:
    from mip4.wire.extensions import decode_extensions

    auth_bytes = bytes([ext_type, 20, 0, 0, 1, 0]) + bytes(range(16))
    lone = decode_extensions(auth_bytes, 0)  # the fast path
    padded = decode_extensions(b"\x00" + auth_bytes, 0)  # the loop
    assert lone == padded[1:]
    assert isinstance(lone[0], _AUTH_CLASSES[ext_type])
    assert (lone[0].spi, lone[0].authenticator) == (0x100, bytes(range(16)))  # type: ignore[union-attr]


# --- the twin: a plain class of the same layout, filled, then given the real class --------


def test_decoded_objects_have_the_real_class_and_stay_frozen() -> None:
    from mip4.bench.codec import registration_request_case
    from mip4.wire.extensions import decode_extensions

    message = decode_control_message(registration_request_case().data)
    assert type(message) is RegistrationRequest
    (ext,) = decode_extensions(bytes([32, 20, 0, 0, 1, 0]) + bytes(16), 0)
    assert type(ext) is MobileHomeAuthentication
    regional = decoded_builder(RegionalRegistrationRequest)(
        0, 1, *(IPv4Address("198.18.0.1"),) * 3, 2, (), None
    )
    assert type(regional) is RegionalRegistrationRequest  # a subclass shares its base's twin
    for obj, name in ((message, "lifetime"), (ext, "spi"), (regional, "lifetime")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, name, 0)


def test_a_layout_without_a_twin_is_built_through_the_descriptors() -> None:
    """Slots defined at two levels of the hierarchy have no twin (CPython would refuse the
    ``__class__`` assignment): the Python builder falls back to the slot descriptors."""
    from mip4.wire import _util

    @dataclasses.dataclass(frozen=True, slots=True)
    class Base:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived(Base):
        b: int

    assert _util._twin(Derived) is None
    assert _util._twin(Base) is not None
    for accelerated in (True, False):
        built = _util._make_builder(Derived, accelerated=accelerated)(1, 2)
        assert type(built) is Derived and built == Derived(1, 2)


@pytest.mark.parametrize(
    "cls",
    [
        RegistrationRequest,
        RegistrationReply,
        RegionalRegistrationRequest,
        HandoffRequest,
        HandoffReply,
        MobileHomeAuthentication,
        GeneralizedAuthentication,
    ],
)
def test_the_python_builder_builds_what_the_c_one_builds(cls: type) -> None:
    """Where mip4.wire._accel is built, decoders use its SlotBuilder; the Python builder (a
    twin, else descriptors) is the fallback. Both give equal objects of the real class, with
    every slot, ``_wire`` included, holding the same value."""
    from mip4.wire import _util

    names = [f.name for f in dataclasses.fields(cls)]
    for frame in samples.control_frames():
        message = decode_control_message(frame.message.encode())  # type: ignore[attr-defined]
        for candidate in (message, *getattr(message, "extensions", ())):
            if type(candidate) is not cls:
                continue
            values = [getattr(candidate, name) for name in names]
            for accelerated in (True, False):
                built = _util._make_builder(cls, accelerated=accelerated)(*values)
                assert type(built) is cls and built == candidate
                assert [getattr(built, name) for name in names] == values
            return
    raise AssertionError(f"no {cls.__name__} among the samples")


@given(
    fixed=st.binary(min_size=23, max_size=23),
    ext_type=st.sampled_from([32, 33, 34, 36, 0, 130]),
    length=st.integers(0, 40),
    body=st.binary(max_size=44),
)
def test_the_request_fast_path_decodes_as_the_general_extension_decoder(
    fixed: bytes, ext_type: int, length: int, body: bytes
) -> None:
    """A Registration Request's fixed part and a lone authenticator's header are read in one
    unpack; whatever follows the fixed part, the extensions (or the error) are exactly
    those of decode_extensions on the same bytes."""
    from mip4.wire.errors import DecodeError
    from mip4.wire.extensions import decode_extensions

    data = bytes([1, fixed[0] & ~0x05]) + fixed[1:] + bytes([ext_type, length]) + body
    try:
        expected = decode_extensions(data, 24)
    except DecodeError as exc:
        with pytest.raises(type(exc)) as caught:
            RegistrationRequest.decode(data)
        assert (caught.value.field, caught.value.offset) == (exc.field, exc.offset)
        return
    message = RegistrationRequest.decode(data)
    assert message.extensions == expected
    assert [type(e) for e in message.extensions] == [type(e) for e in expected]
    assert message.encode() == data and message._wire == data


def test_a_reserved_flag_is_reported_before_a_bad_extension() -> None:
    """The order of checks is the fixed part's first: an FA answers a reserved flag with 70
    (RFC 5944 §3.7.2.1), whatever follows it."""
    from mip4.wire.errors import ReservedValueError

    for tail in (bytes([5]), bytes([32, 20, 0, 0, 1, 0]) + bytes(10), bytes([32, 20]) + bytes(20)):
        data = bytes([1, 0x04]) + bytes(22) + tail
        with pytest.raises(ReservedValueError) as caught:
            RegistrationRequest.decode(data)
        assert caught.value.field == "flags.r"
