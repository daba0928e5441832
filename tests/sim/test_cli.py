"""``mip4 simulate`` and ``mip4 bench sim`` from the command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mip4.cli import main
from tests.conftest import require_tool


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["simulate", *argv, "--json", "-"]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_simulate_corridor_standard_solicit_json(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json(capsys, "--method", "standard-solicit", "--seed", "3")
    assert (result["scenario"], result["method"], result["seed"]) == (
        "corridor",
        "standard-solicit",
        3,
    )
    handoffs = result["handoffs"]
    assert [(h["from"], h["to"]) for h in handoffs] == [("FA1", "FA2"), ("FA2", "FA3")]  # type: ignore[attr-defined]
    summary = result["summary"]
    assert summary["handoffs"] == 2  # type: ignore[index]
    assert summary["signalling"]["air"]["messages"] > 0  # type: ignore[index]
    assert result["params"]["seed"] == 3  # type: ignore[index]


def test_simulate_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--set", "mobility.dwell_s=2"]) == 0
    out = capsys.readouterr().out
    assert "method standard" in out and "FA1   FA2" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--method", "teleport"],
            "unknown method 'teleport'; available: standard, standard-solicit, pre-mobile",
        ),
        (["--set", "radio.bogus=1"], "unknown key 'radio.bogus'; [radio] accepts:"),
        (
            ["--set", "topology.ha_delay_ms=far"],
            "topology.ha_delay_ms: Input should be a valid number",
        ),
        (["nowhere.toml"], "neither a built-in"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_trace_and_pcap_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.jsonl"
    pcaps = tmp_path / "pcap"
    result = run_json(capsys, "--trace", str(trace), "--pcap", str(pcaps))
    lines = trace.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    kinds = {r["kind"] for r in records}
    assert {"packet", "data", "l2", "timer", "dataplane"} <= kinds
    assert any(r["message"] == "registration_request" and r["node"] == "HA" for r in records)
    assert (
        sum(1 for r in records if r["kind"] == "l2" and r["node"] == "MN1") == 5
    )  # LU, 2x(LD, LU)
    assert result["summary"]["handoffs"] == 2  # type: ignore[index]
    assert (pcaps / "MN1-air.pcap").stat().st_size > 1000
    assert (pcaps / "FA2-wired.pcap").stat().st_size > 1000


@pytest.mark.tshark
def test_tshark_reads_the_taps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tshark = require_tool("tshark")
    run_json(capsys, "--pcap", str(tmp_path))
    out = subprocess.run(
        [
            tshark,
            "-r",
            str(tmp_path / "MN1-air.pcap"),
            "-T",
            "fields",
            "-e",
            "mip.type",
            "-e",
            "icmp.type",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = [line.split("\t") for line in out.splitlines()]
    assert ["1", ""] in fields  # Registration Request
    assert ["3", ""] in fields  # Registration Reply
    assert ["", "9"] in fields  # Agent Advertisement
    out = subprocess.run(
        [
            tshark,
            "-r",
            str(tmp_path / "FA2-wired.pcap"),
            "-T",
            "fields",
            "-e",
            "ip.proto",
            "-e",
            "ip.dst",
            "-e",
            "_ws.malformed",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    assert any(row[0].startswith("4") for row in rows)  # IP-in-IP: outer and inner protocols
    assert not any(row[2] for row in rows if len(row) > 2)


def test_bench_sim_quick_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "sim", "--quick", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["mns"] for r in data["runs"]] == [1, 10]
    for r in data["runs"]:
        assert set(r) == {"mns", "sim_s", "wall_s", "events", "events_per_second"}
        assert r["events"] > 0 and r["sim_s"] > 0
