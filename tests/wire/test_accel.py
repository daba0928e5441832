"""HMAC-MD5 with precomputed pads: the C module (``mip4.wire._accel``) and its Python twin
(:class:`mip4.wire.hmac_md5.PyHmacMd5`) give the RFC 2104 MACs and the same verdicts."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip4.wire import hmac_md5
from mip4.wire.hmac_md5 import MAC_LENGTH, PyHmacMd5
from tests.conftest import skip_or_fail


def _accelerated() -> type[Any]:
    try:
        from mip4.wire._accel import HmacMd5
    except ImportError as exc:
        skip_or_fail(f"mip4.wire._accel was not built ({exc}): needs gcc and libssl-dev")
    return HmacMd5


IMPLEMENTATIONS = [pytest.param(lambda: PyHmacMd5, id="python"), pytest.param(_accelerated, id="c")]


def test_the_c_module_is_the_one_in_use_when_built() -> None:
    cls = _accelerated()
    assert hmac_md5.HmacMd5 is cls and hmac_md5.ACCELERATED


# RFC 2104 Appendix / RFC 2202 §2 test cases 1-7 for HMAC-MD5 (key, data, digest).
RFC_2202_MD5 = [
    (b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
    (b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"),
    (b"\xaa" * 16, b"\xdd" * 50, "56be34521d144c88dbb8c733f0e8b3f6"),
    (bytes(range(1, 26)), b"\xcd" * 50, "697eaf0aca3a3aea3a75164746ffaa79"),
    (b"\x0c" * 16, b"Test With Truncation", "56461ef2342edc00f9bab995690efd4c"),
    (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
    ),
    (
        b"\xaa" * 80,
        b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
        "6f630fad67cda0ee1fb1f562db3aa53e",
    ),
]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize(("key", "data", "expected"), RFC_2202_MD5)
def test_rfc_2202_vectors(implementation: Any, key: bytes, data: bytes, expected: str) -> None:
    mac = implementation()(key)
    assert mac.digest(data).hex() == expected
    assert mac.verify_trailing(data + bytes.fromhex(expected)) is True


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_any_buffer_is_accepted_and_short_input_is_refused(implementation: Any) -> None:
    mac = implementation()(bytearray(b"Jefe"))
    data = b"what do ya want for nothing?"
    expected = bytes.fromhex("750c783e6ab0b503eaa86e310a5db738")
    assert mac.digest(bytearray(data)) == mac.digest(memoryview(data)) == expected
    assert mac.verify_trailing(bytearray(data + expected)) is True
    assert mac.verify_trailing(expected) is False  # the MAC of nothing is not this one
    with pytest.raises(ValueError, match="cannot end with a 16-byte MAC"):
        mac.verify_trailing(bytes(MAC_LENGTH - 1))
    with pytest.raises(TypeError):
        mac.digest("text")


@given(key=st.binary(max_size=150), data=st.binary(max_size=300), flip=st.integers(0, 4000))
def test_c_and_python_agree(key: bytes, data: bytes, flip: int) -> None:
    """Same MAC as the standard library for any key and data; verify_trailing accepts the
    message with its MAC appended and refuses it with any one bit flipped."""
    c_mac, py_mac = _accelerated()(key), PyHmacMd5(key)
    expected = hmac.new(key, data, hashlib.md5).digest()
    assert c_mac.digest(data) == py_mac.digest(data) == expected
    sealed = data + expected
    assert c_mac.verify_trailing(sealed) is py_mac.verify_trailing(sealed) is True
    bit = flip % (8 * len(sealed))
    broken = bytearray(sealed)
    broken[bit // 8] ^= 1 << (bit % 8)
    assert c_mac.verify_trailing(bytes(broken)) is py_mac.verify_trailing(bytes(broken)) is False


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_verify_of_decoded_messages_is_the_same_on_either(
    monkeypatch: pytest.MonkeyPatch, implementation: Any
) -> None:
    """auth.verify on decoded messages (the path that reads the MAC off the message's own
    bytes) accepts the sealed bytes and refuses every one-bit change, in C and in Python."""
    from mip4 import samples
    from mip4.wire import auth
    from mip4.wire.errors import DecodeError
    from mip4.wire.extensions import GeneralizedAuthentication, MobileHomeAuthentication
    from mip4.wire.messages import decode_control_message

    monkeypatch.setattr(auth, "HmacMd5", implementation())
    monkeypatch.setattr(auth, "_PADS", {})
    from mip4.bench.codec import handoff_request_case, registration_request_case

    for case, cls, key in (
        (registration_request_case(), MobileHomeAuthentication, samples.MN_HA_KEY.key),
        (handoff_request_case(), GeneralizedAuthentication, samples.FA_FA_KEY.key),
    ):
        message = decode_control_message(case.data)
        index = len(message.extensions) - 1
        assert isinstance(message.extensions[index], cls)
        assert auth.verify(message, index, key) is True
        assert auth.verify(message, index, key + b"x") is False
        for bit in range(8 * len(case.data)):
            broken = bytearray(case.data)
            broken[bit // 8] ^= 1 << (bit % 8)
            try:
                other = decode_control_message(bytes(broken))
            except DecodeError:  # the flip broke the framing: nothing to verify
                continue
            last = len(other.extensions) - 1
            if last >= 0 and isinstance(other.extensions[last], cls):
                assert auth.verify(other, last, key) is False, f"bit {bit}"
    assert all(type(mac) is implementation() for mac in auth._PADS.values())


def _slot_builder() -> type[Any]:
    _accelerated()  # skips (or fails in CI) the same way when the module is missing
    from mip4.wire._accel import SlotBuilder

    return SlotBuilder


def test_decoders_build_through_the_c_slot_builder_when_built() -> None:
    from mip4.wire import _util
    from mip4.wire.registration import RegistrationRequest

    cls = _slot_builder()
    assert _util._SlotBuilder is cls
    assert type(_util.decoded_builder(RegistrationRequest)) is cls


def test_the_slot_builder_fills_slots_by_name_and_refuses_what_it_cannot_build() -> None:
    import dataclasses

    slot_builder = _slot_builder()

    @dataclasses.dataclass(frozen=True, slots=True)
    class Pair:
        left: object
        right: object

    build = slot_builder(Pair, ("right", "left"))  # the order of the names, not of the class
    pair = build(1, [2])
    assert type(pair) is Pair and pair == Pair(left=[2], right=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.left = 0  # type: ignore[misc]
    with pytest.raises(TypeError, match="needs 2 values, got 1"):
        build(1)
    with pytest.raises(TypeError, match="positional values only"):
        build(1, right=2)
    with pytest.raises(TypeError, match="'middle' is not an object slot of"):
        slot_builder(Pair, ("left", "middle"))
    with pytest.raises(TypeError, match="'left' named twice"):
        slot_builder(Pair, ("left", "left"))
    with pytest.raises(TypeError, match="is not an object slot"):
        slot_builder(Pair, ("__init__",))  # a class attribute, not a slot
    for builtin in (int, dict, object, type("SubDict", (dict,), {})):
        with pytest.raises(TypeError, match="cannot be built slot by slot"):
            slot_builder(builtin, ())
    # Nothing leaks: a builder keeps its class alive, and lets it go with itself.
    import gc
    import weakref

    @dataclasses.dataclass(frozen=True, slots=True, weakref_slot=True)
    class Lone:
        value: object

    ref = weakref.ref(Lone)
    made = slot_builder(Lone, ("value",))
    assert made(5).value == 5
    del Lone, made
    gc.collect()
    assert ref() is None
