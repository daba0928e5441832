"""``mip4 bench codec``: runs, prints the documented JSON shape; timings are never asserted.

Also guards the fast decode+verify path the bench measures: the MAC input read from the
decoded bytes must be exactly what re-encoding gives, and must not survive a change.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from mip4.bench import codec
from mip4.cli import main
from mip4.samples import MN_HA_KEY, sample_frames
from mip4.wire.auth import hmac_md5, mac_input, verify
from mip4.wire.extensions import AuthenticationExtension, MobileHomeAuthentication
from mip4.wire.hmac_md5 import ACCELERATED
from mip4.wire.messages import decode_control_message
from mip4.wire.registration import RegistrationRequest

NAMES = ["registration_request_mn_ha", "handoff_request_fa_fa_lla", "agent_advertisement_lla"]


def check_shape(result: dict[str, object]) -> None:
    # The documented keys, in order, then the like-for-like parse figures and which HMAC ran.
    assert list(result) == [
        "messages",
        "scapy_decode_per_second",
        "decode_ratio_vs_scapy",
        "registration_request_parse_per_second",
        "parse_ratio_vs_scapy",
        "hmac_md5",
    ]
    assert result["hmac_md5"] == ("c" if ACCELERATED else "python")
    messages = result["messages"]
    assert isinstance(messages, list)
    assert [m["name"] for m in messages] == NAMES
    for row in messages:
        assert list(row) == ["name", "encode_per_second", "decode_per_second"]
        assert isinstance(row["encode_per_second"], float) and row["encode_per_second"] > 0
        assert isinstance(row["decode_per_second"], float) and row["decode_per_second"] > 0
    scapy_rate = result["scapy_decode_per_second"]
    ratio = result["decode_ratio_vs_scapy"]
    assert isinstance(scapy_rate, float) and scapy_rate > 0
    assert isinstance(ratio, float) and ratio > 0
    parse_rate = result["registration_request_parse_per_second"]
    assert isinstance(parse_rate, float)
    assert result["parse_ratio_vs_scapy"] == round(parse_rate / scapy_rate, 2)


def test_json_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "codec", "--quick", "--json", "-"]) == 0
    captured = capsys.readouterr()
    check_shape(json.loads(captured.out))


def test_json_to_file_and_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    assert main(["bench", "codec", "--quick", "--json", str(path)]) == 0
    check_shape(json.loads(path.read_text()))
    assert capsys.readouterr().out == ""
    assert main(["bench", "codec", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "scapy MobileIP (same RRQ bytes)" in out and "registration_request_mn_ha" in out
    assert "goal: 20x" in out


def test_calibrated_rate_runs() -> None:
    calls = 0

    def function() -> None:
        nonlocal calls
        calls += 1

    rate = codec.rate(function, codec.Timing(seconds=0.01, repeats=2))
    assert rate > 0 and calls > 2


def test_scapy_missing_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "scapy.layers.mobileip", None)  # import raises
    assert main(["bench", "codec", "--quick", "--json", "-"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("mip4 bench codec: error: scapy is not installed")
    assert "pip install -e '.[test]'" in captured.err


def test_cases_verify_what_they_decode() -> None:
    for case in codec.cases():
        message = case.decode(case.data)
        assert message.encode() == case.data  # type: ignore[attr-defined]
        assert case.encode() == case.data
    rrq, handoff, _ = codec.cases()
    for case in (rrq, handoff):
        tampered = case.data[:-1] + bytes([case.data[-1] ^ 1])
        with pytest.raises(AssertionError, match="does not verify"):
            case.decode(tampered)


def test_mac_input_from_decoded_bytes_equals_reencoding() -> None:
    checked = 0
    for frame in sample_frames():
        message = frame.message
        if not hasattr(message, "encode_fixed"):
            continue
        decoded = decode_control_message(message.encode())  # type: ignore[attr-defined]
        fresh = dataclasses.replace(decoded)  # not decoded: its MAC input is re-encoded
        for index, ext in enumerate(decoded.extensions):
            if isinstance(ext, AuthenticationExtension):
                assert mac_input(decoded, index) == mac_input(fresh, index)
                assert mac_input(decoded, index) == mac_input(message, index)  # type: ignore[arg-type]
                checked += 1
    assert checked == 12


def test_a_changed_message_is_not_verified_from_its_old_bytes() -> None:
    rrq = next(f.message for f in sample_frames() if f.name == "registration_request")
    assert isinstance(rrq, RegistrationRequest)
    decoded = decode_control_message(rrq.encode())
    assert verify(decoded, 0, MN_HA_KEY.key)
    changed = dataclasses.replace(decoded, lifetime=1)
    assert not verify(changed, 0, MN_HA_KEY.key)
    # Neither equality nor the repr sees the cached bytes.
    assert decoded == rrq and repr(decoded) == repr(rrq)
    # A decode from a mutable buffer keeps no reference to it.
    from_bytearray = RegistrationRequest.decode(bytearray(rrq.encode()))  # type: ignore[arg-type]
    assert verify(from_bytearray, 0, MN_HA_KEY.key)


@pytest.mark.parametrize("key_length", [0, 16, 64, 65, 200])
def test_hmac_md5_matches_the_standard_library(key_length: int) -> None:
    import hashlib
    import hmac

    key = bytes(range(key_length % 256)) * (key_length // 256 + 1)
    key = key[:key_length]
    for data in (b"", b"Hi There", bytes(1000)):
        assert hmac_md5(key, data) == hmac.new(key, data, hashlib.md5).digest()
    assert isinstance(MobileHomeAuthentication(spi=300, authenticator=b""), AuthenticationExtension)


def test_seal_of_a_decoded_message_equals_seal_of_a_built_one() -> None:
    from mip4.wire.auth import seal
    from mip4.wire.extensions import ForeignHomeAuthentication

    rrq = next(f.message for f in sample_frames() if f.name == "registration_request")
    assert isinstance(rrq, RegistrationRequest)
    decoded = decode_control_message(rrq.encode())
    template = ForeignHomeAuthentication(spi=0x5005, authenticator=b"")
    relayed = seal(decoded, template, b"fa-ha-key")
    built = seal(dataclasses.replace(decoded), template, b"fa-ha-key")
    assert relayed == built and relayed.encode() == built.encode()
    assert verify(relayed, len(relayed.extensions) - 1, b"fa-ha-key")


def test_baseline_must_read_the_same_fields() -> None:
    """scapy's ``MobileIPRRQ`` alone has no Type field and misreads every field after it: the
    bench refuses such a baseline instead of timing it."""
    from scapy.layers.mobileip import MobileIP, MobileIPRRQ

    data = codec.registration_request_case().data
    codec._check_scapy_reading(MobileIP(data), data)  # the right parse passes
    with pytest.raises(codec.BenchError, match="reads the Registration Request as"):
        codec._check_scapy_reading(MobileIP(type=1) / MobileIPRRQ(data), data)
