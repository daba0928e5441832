"""`mip4 compare`: the table, the compare JSON, the report files, the sequence charts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mip4.cli import main
from mip4.experiments.compare import compare, compare_json
from mip4.experiments.focus import handoff_window, window_events
from mip4.experiments.msc import mermaid
from mip4.sim import runner as sim_runner
from mip4.sim.scenario import load_scenario
from tests.experiments.conftest import SMALL


def test_compare_json_format_and_every_available_method(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compare", *SMALL, "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"scenario", "results"} and data["scenario"] == "corridor"
    assert [r["method"] for r in data["results"]] == list(sim_runner.METHODS_AVAILABLE)
    for result in data["results"]:
        assert set(result) == {"method", "summary"}
        summary = result["summary"]
        assert summary["handoffs"] == 1
        assert set(summary["disruption_ms"]) == {"mean", "p50", "p95", "max"}
        assert summary["signalling"]["air"]["messages"] > 0
        # the L2 gap is the floor of every method's disruption
        assert summary["disruption_ms"]["mean"] >= summary["l2_gap_ms"]["mean"]


def test_compare_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *SMALL, "--methods", "standard,standard-solicit"]) == 0
    out = capsys.readouterr().out
    assert "mip4 compare: corridor" in out
    for column in ("disruption mean", "p95", "L3 extra mean", "lost", "air bytes", "core msgs"):
        assert column in out
    assert "standard-solicit" in out


def test_report_files(small_report: Path) -> None:
    report = small_report
    methods = list(sim_runner.METHODS_AVAILABLE)
    results = json.loads((report / "results.json").read_text())
    assert [r["method"] for r in results["results"]] == methods
    for name in ("report.html", "report.md", "disruption-loss.svg", "timeline.svg"):
        assert (report / name).stat().st_size > 0
    for method in methods:
        assert b"<svg" in (report / f"msc-{method}.svg").read_bytes()
        assert (report / f"msc-{method}.mmd").read_text().startswith("sequenceDiagram")
        assert (report / "pcap" / method / "MN1-air.pcap").stat().st_size > 24
        assert (report / "traces" / f"{method}.jsonl").stat().st_size > 0
        run = json.loads((report / "runs" / f"{method}.json").read_text())
        assert run["method"] == method and len(run["handoffs"]) == 1
    md = (report / "report.md").read_text()
    assert "```mermaid" in md and "How to read the figures" in md
    assert (
        "| reproduce | mip4 compare corridor --set topology.fas=2 --set mobility.dwell_s=2 " in md
    )
    assert "](timeline.svg)" in md and "| standard |" in md
    page = (report / "report.html").read_text()
    assert "https://" not in page and "http://" not in page  # nothing from the network
    assert page.count('<pre class="mermaid">') == len(methods)


def test_msc_of_standard_solicit_follows_rfc_5944() -> None:
    scenario = load_scenario("corridor", ["topology.fas=2", "mobility.dwell_s=2"])
    run = compare(scenario, ["standard-solicit"]).runs[0]
    assert run.window is not None
    assert (run.window.source, run.window.target) == ("FA1", "FA2")
    assert run.names == ["MN1", "FA1", "FA2", "HA"]
    flow = [(e.source, e.target, e.label) for e in run.events if e.kind == "message"]
    after_lu = flow[flow.index(("MN1", "FA2", "agent_solicitation")) :]
    assert after_lu[:5] == [
        ("MN1", "FA2", "agent_solicitation"),
        ("FA2", "MN1", "agent_advertisement"),
        ("MN1", "FA2", "registration_request"),
        ("FA2", "HA", "registration_request"),
        ("HA", "FA2", "registration_reply"),
    ]
    notes = [e.label for e in run.events if e.kind == "note" and e.source == "MN1"]
    assert notes.index("L2-LD") < notes.index("L2-LU")
    text = mermaid(run.window, run.names, run.events)
    assert "participant FA2 as FA2 (nFA)" in text
    assert "MN1-)FA2: +100.0 ms Agent Sol" in text
    assert "Note over MN1: +0.0 ms L2-LD" in text
    # the same events again from the records: the pairing is deterministic
    again = handoff_window(run.records, run.result["handoffs"][0])
    assert again is not None and window_events(run.records, again) == run.events


def test_compare_bad_input_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--set", "radio.nope=1"]) == 2
    assert "unknown key 'radio.nope'" in capsys.readouterr().err
    assert main(["compare", "--methods", "teleport"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown method 'teleport'" in err


def test_methods_in_processes_give_the_same_results() -> None:
    scenario = load_scenario("corridor", ["topology.fas=2", "mobility.dwell_s=2"])
    methods = ["standard", "standard-solicit"]
    serial = compare(scenario, methods, workers=1)
    parallel = compare(scenario, methods, workers=2)
    assert compare_json(serial) == compare_json(parallel)
    assert [r.events for r in serial.runs] == [r.events for r in parallel.runs]


def test_charts_show_the_chosen_handoff() -> None:
    scenario = load_scenario("ping-pong", ["mobility.handoffs=3", "mobility.dwell_s=2"])
    run = compare(scenario, ["standard-solicit"], handoff=2).runs[0]
    assert run.window is not None
    assert (run.window.source, run.window.target) == ("FA2", "FA1")
    assert run.window.l2_ld == run.result["handoffs"][1]["l2_ld"]
    assert compare(scenario, ["standard-solicit"], handoff=9).runs[0].window is None


def test_smooth_both_runs_each_method_twice(tmp_path: Path) -> None:
    argv = ["compare", *SMALL, "--methods", "standard-solicit", "--smooth-both", "--no-pcap"]
    assert main([*argv, "--out", str(tmp_path), "--workers", "1"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert [(r["method"], r["smooth_handoff"]) for r in results] == [
        ("standard-solicit", False),
        ("standard-solicit", True),
    ]
    run = json.loads((tmp_path / "runs" / "standard-solicit-smooth.json").read_text())
    assert run["params"]["protocol"]["smooth_handoff"] is True
    assert (tmp_path / "msc-standard-solicit-smooth.mmd").exists()
    assert "standard-solicit (smooth)" in (tmp_path / "report.md").read_text()
