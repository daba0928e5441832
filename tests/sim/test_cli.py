"""``mip4 simulate`` and ``mip4 bench sim`` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mip4.cli import main
from mip4.sim import command as sim_command
from mip4.sim.runner import METHODS_AVAILABLE
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
        assert {"mns", "sim_s", "wall_s", "events", "events_per_second"} <= set(r)
        assert r["events"] > 0 and r["wall_s"] > 0 and r["cpu_s"] >= 0
        assert r["sim_s"] == 1.0  # the same calling window for every MN count


def test_bench_sim_times_the_same_calling_window_and_every_mn_moves() -> None:
    from mip4.bench import sim as bench_sim

    small, large = (bench_sim.measure(mns, 6.0) for mns in (2, 20))  # a shorter window
    assert small["sim_s"] == large["sim_s"] == 6.0  # warm-up and drain excluded
    # every MN changes cell at least twice while it calls (the full bench: at least 3)
    assert small["moves_per_mn"] >= 2 and large["moves_per_mn"] >= 2
    # the events per MN-second are the same: a fair base for the cost per MN-second
    per_mn = [r["events"] / (r["mns"] * r["sim_s"]) for r in (small, large)]
    assert per_mn[1] == pytest.approx(per_mn[0], rel=0.1)
    assert per_mn[0] > 2 * 50  # at least one event per packet, 50 packets a second each way


def test_simulate_json_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "result.json"
    assert main(["simulate", "--set", "mobility.dwell_s=2", "--json", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert json.loads(out.read_text())["summary"]["handoffs"] == 2


def test_unwritable_json_path_fails_before_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    runs: list[object] = []
    monkeypatch.setattr(sim_command, "simulate", lambda *a, **k: runs.append(a))
    target = tmp_path / "missing" / "x.json"
    assert main(["simulate", "--json", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mip4 simulate: error: ") and str(target) in err
    assert err.count("\n") == 1
    assert runs == []  # the path was checked before the simulation, not after it


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["simulate", "--seed", "abc"], ["mip4 simulate: error:", "--seed", "'abc'"]),
        (["simulate", "--bogus"], ["mip4: error:", "--bogus"]),
        (["simulate", "--set"], ["mip4 simulate: error:", "--set"]),
        (["bench", "sim", "--profile", "x"], ["mip4 bench sim: error:", "--profile"]),
        (["bench"], ["mip4 bench: error:", "BENCH"]),
        ([], ["mip4: error:", "COMMAND"]),
    ],
)
def test_argument_errors_are_one_line_naming_the_option_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err, err
    for word in words:
        assert word in err


def test_method_help_names_every_available_method(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"{' | '.join(METHODS_AVAILABLE)} (default: standard)" in help_text
    assert "later" not in help_text


def test_help_of_the_command_and_of_every_subcommand_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """argparse formats help text with %: a stray one (as in "95% CIs") crashed ``mip4 --help``."""
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    top = capsys.readouterr().out
    commands = ("decode", "bench", "simulate", "compare", "sweep", "scenarios", "validate")
    commands += ("agent", "trigger", "status", "lab")
    for command in commands:
        assert command in top
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0, command
        assert capsys.readouterr().out.startswith(f"usage: mip4 {command}")


def test_bench_help_describes_every_bench(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    description = " ".join(capsys.readouterr().out.split()).split("positional arguments")[0]
    for bench in ("'codec'", "'sim'", "'daemon'"):
        assert bench in description


def test_trace_is_byte_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    """The same scenario and seed give the same trace in fresh interpreters whose str hashes
    differ (PYTHONHASHSEED): no set or dict order leaks into the event order."""
    traces = []
    for hash_seed in ("1", "4242"):
        trace = tmp_path / f"trace-{hash_seed}.jsonl"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mip4.cli",
                "simulate",
                "grid",
                "--set",
                "mobility.mns=4",
                "--set",
                "duration_s=6",
                "--set",
                "topology.loss=0.01",
                "--set",
                "topology.jitter_ms=1",
                "--seed",
                "7",
                "--trace",
                str(trace),
                "--json",
                str(tmp_path / f"result-{hash_seed}.json"),
            ],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            check=True,
            capture_output=True,
        )
        traces.append(trace.read_bytes())
    assert len(traces[0]) > 100_000
    assert traces[0] == traces[1]


def test_bench_sim_repeats_short_runs_and_reports_the_median_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mip4.bench import sim as bench_sim

    cpu = iter([0.3, 0.1, 0.5, 0.2, 9.0])
    calls: list[int] = []

    def fake(mns: int, call_s: float) -> dict[str, object]:
        calls.append(mns)
        return {"mns": mns, "cpu_s": next(cpu), "events": 7}

    monkeypatch.setattr(bench_sim, "measure", fake)
    # 0.3 + 0.1 + 0.5 + 0.2 reaches 1 s of CPU: four runs, the median one (upper of two)
    median = bench_sim.measure_median(10, 1.0, min_cpu_s=1.0, max_repeats=9)
    assert len(calls) == 4 and median["cpu_s"] == 0.3 and median["repeats"] == 4
    assert bench_sim.measure_median(10, 1.0, max_repeats=1)["repeats"] == 1  # long enough
    cpu = iter([0.01] * 20)
    calls.clear()
    assert bench_sim.measure_median(1, 1.0, min_cpu_s=1.0, max_repeats=5)["repeats"] == 5
    assert len(calls) == 5


def test_bench_sim_rounds_run_the_series_in_turn_and_report_the_median_of_all(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mip4.bench import sim as bench_sim

    calls: list[int] = []
    cpu = {1: iter([0.5, 0.6, 0.9, 0.8, 1.2]), 1000: iter([30.0, 20.0, 10.0])}

    def fake(mns: int, call_s: float) -> dict[str, object]:
        calls.append(mns)
        return {
            "mns": mns,
            "sim_s": call_s,
            "wall_s": 1.0,
            "cpu_s": next(cpu[mns]),
            "events": 7,
            "events_per_second": 7.0,
            "moves_per_mn": 3,
        }

    monkeypatch.setattr(bench_sim, "measure", fake)
    monkeypatch.setattr(bench_sim, "FULL", (1, 1000))
    assert main(["bench", "sim", "--json", "-"]) == 0  # three rounds by default
    # Round by round, the whole series each time; within a round a short size repeats until
    # its runs reach 1 s of CPU (0.5 + 0.6, then 0.9 + 0.8, then 1.2 alone).
    assert calls == [1, 1, 1000, 1, 1, 1000, 1, 1000]
    runs = json.loads(capsys.readouterr().out)["runs"]
    # The median of all five 1-MN runs and of the three 1000-MN runs.
    assert [(r["mns"], r["cpu_s"], r["repeats"]) for r in runs] == [(1, 0.8, 5), (1000, 20.0, 3)]


@pytest.mark.parametrize("value", ["0", "-2", "x"])
def test_bench_sim_rounds_must_be_a_positive_whole_number(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "sim", "--rounds", value])
    assert exit_info.value.code == 2
    assert "--rounds" in capsys.readouterr().err
