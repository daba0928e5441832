"""`mip4 compare`: the table, the compare JSON, the report files, the sequence charts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from mip4.cli import main
from mip4.experiments.compare import TIMELINE_MAX_S, compare, compare_json, timeline_span
from mip4.experiments.focus import handoff_window, window_events
from mip4.experiments.msc import mermaid
from mip4.experiments.plots import bar_chart_figure, pyplot
from mip4.sim.scenario import load_scenario
from tests.experiments.conftest import SMALL, default_runs


def test_compare_json_format_and_every_available_method(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compare", *SMALL, "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"scenario", "results"} and data["scenario"] == "corridor"
    # every method, and right after each low-latency one its smooth-handoff variant
    assert [r["method"] for r in data["results"]] == [label for label, _ in default_runs()]
    assert "pre-source (smooth)" in {r["method"] for r in data["results"]}
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
    runs = default_runs()
    results = json.loads((report / "results.json").read_text())
    assert [r["method"] for r in results["results"]] == [label for label, _ in runs]
    for name in ("report.html", "report.md", "disruption-loss.svg", "timeline.svg"):
        assert (report / name).stat().st_size > 0
    for label, slug in runs:
        assert b"<svg" in (report / f"msc-{slug}.svg").read_bytes()
        assert (report / f"msc-{slug}.mmd").read_text().startswith("sequenceDiagram")
        assert (report / "pcap" / slug / "MN1-air.pcap").stat().st_size > 24
        assert (report / "traces" / f"{slug}.jsonl").stat().st_size > 0
        run = json.loads((report / "runs" / f"{slug}.json").read_text())
        assert run["method"] == label.removesuffix(" (smooth)") and len(run["handoffs"]) == 1
        assert run["params"]["protocol"]["smooth_handoff"] is label.endswith("(smooth)")
    md = (report / "report.md").read_text()
    assert "```mermaid" in md and "How to read the figures" in md
    assert (
        "| reproduce | mip4 compare corridor --set topology.fas=2 --set mobility.dwell_s=2 " in md
    )
    assert "](timeline.svg)" in md and "| standard |" in md and "| pre-source (smooth) |" in md
    page = (report / "report.html").read_text()
    assert "https://" not in page and "http://" not in page  # nothing from the network
    assert page.count('<pre class="mermaid">') == len(runs)
    assert "<td>pre-source (smooth)</td>" in page


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


def lost_by_label(tmp_path: Path) -> dict[str, int]:
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert all(set(r) == {"method", "summary"} for r in results)  # design.md's shape
    return {r["method"]: r["summary"]["lost"] for r in results}


def test_default_compare_shows_low_latency_methods_with_and_without_smooth(
    tmp_path: Path,
) -> None:
    argv = ["compare", *SMALL, "--methods", "standard-solicit,pre-source,post-source"]
    assert main([*argv, "--no-pcap", "--out", str(tmp_path), "--workers", "1"]) == 0
    lost = lost_by_label(tmp_path)
    # standard-solicit once (no oFA knows an nFA to forward to), the low-latency ones twice
    assert list(lost) == [
        "standard-solicit",
        "pre-source",
        "pre-source (smooth)",
        "post-source",
        "post-source (smooth)",
    ]
    # smooth handoff changes what matters: no packet lost with it, some without
    assert lost["pre-source"] > 0 and lost["pre-source (smooth)"] == 0
    assert lost["post-source"] > 0 and lost["post-source (smooth)"] == 0
    run = json.loads((tmp_path / "runs" / "pre-source-smooth.json").read_text())
    assert run["params"]["protocol"]["smooth_handoff"] is True
    assert (tmp_path / "msc-pre-source-smooth.mmd").exists()
    assert b"pre-source (smooth)" in (tmp_path / "disruption-loss.svg").read_bytes()
    assert b"pre-source (smooth)" in (tmp_path / "timeline.svg").read_bytes()
    md = (tmp_path / "report.md").read_text()
    assert "| pre-source (smooth) |" in md and "--no-smooth" in md
    assert "--smooth-both" not in md and "| reproduce | mip4 compare corridor" in md


def test_no_smooth_runs_each_method_once(tmp_path: Path) -> None:
    argv = ["compare", *SMALL, "--methods", "pre-source,post-source", "--no-smooth"]
    assert main([*argv, "--no-pcap", "--out", str(tmp_path), "--workers", "1"]) == 0
    assert list(lost_by_label(tmp_path)) == ["pre-source", "post-source"]
    assert "--no-smooth" in (tmp_path / "report.md").read_text().split("| reproduce |")[1]


def test_smooth_both_runs_each_method_twice(tmp_path: Path) -> None:
    argv = ["compare", *SMALL, "--methods", "standard-solicit,pre-source", "--smooth-both"]
    assert main([*argv, "--no-pcap", "--out", str(tmp_path), "--workers", "1"]) == 0
    lost = lost_by_label(tmp_path)
    assert list(lost) == [
        "standard-solicit",
        "standard-solicit (smooth)",
        "pre-source",
        "pre-source (smooth)",
    ]
    assert lost["pre-source"] > 0 and lost["pre-source (smooth)"] == 0
    run = json.loads((tmp_path / "runs" / "standard-solicit-smooth.json").read_text())
    assert run["params"]["protocol"]["smooth_handoff"] is True
    assert "--smooth-both" in (tmp_path / "report.md").read_text()


def test_smooth_flags_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--smooth-both", "--no-smooth"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_scenario_with_smooth_handoff_is_labelled_so(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["compare", *SMALL, "--set", "protocol.smooth_handoff=true", "--no-smooth"]
    assert main([*argv, "--methods", "standard-solicit,pre-source", "--json", "-"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["method"] for r in results] == ["standard-solicit (smooth)", "pre-source (smooth)"]


def test_bar_chart_marks_each_methods_own_l2_gap_as_its_floor() -> None:
    # two-radios: the single-radio methods have the radio's 50 ms L2 gap, multi-interface
    # (RFC 4881 Appendix B) none, and beats that gap legitimately
    scenario = load_scenario("two-radios", ["mobility.dwell_s=2"])
    runs = compare(scenario, ["pre-source", "multi-interface"], smooth="none").runs
    summaries = [r.summary for r in runs]
    gaps = [s["l2_gap_ms"]["mean"] for s in summaries]
    means = [s["disruption_ms"]["mean"] for s in summaries]
    assert gaps == [50.0, 0.0] and means[1] < gaps[0]
    fig = bar_chart_figure([r.label for r in runs], summaries)
    try:
        disruption = fig.axes[0]
        (floor,) = [c for c in disruption.collections if c.get_gid() == "l2-floor"]
        segments = floor.get_segments()
        assert len(segments) == 2
        bars = disruption.patches
        for x, (segment, gap) in enumerate(zip(segments, gaps, strict=True)):
            (x0, y0), (x1, y1) = segment
            assert y0 == y1 == gap and x0 < x < x1  # across its own bar, at its own gap
            assert bars[x].get_height() == means[x] >= gap  # never above the bar
        # no line across the whole panel (the highest gap over every method)
        assert not [line for line in disruption.lines if set(line.get_ydata()) == {50.0}]
    finally:
        pyplot().close(fig)


def test_timeline_keeps_to_the_gap_while_the_chart_goes_on_to_the_registration() -> None:
    # rfc-fig12: advertisements every 150 s; standard waits 76 s for one, post-source defers
    # its registration as long (RFC 4881 §4.4)
    comparison = compare(load_scenario("rfc-fig12"), ["standard", "post-source"], smooth="none")
    standard, post = comparison.runs
    assert standard.window is not None and post.window is not None
    assert standard.summary["disruption_ms"]["mean"] > 60_000
    # the sequence chart of post-source ends with the deferred registration, a minute later
    assert post.window.end - post.window.l2_ld > 60
    labels = [e.label for e in post.events if e.kind == "message"]
    assert labels[-3:] == ["registration_reply", "handoff_request_r", "handoff_reply_r"]
    # the timeline shows the data around the gap, not the minute
    span = timeline_span(comparison.runs)
    assert span is not None and span[1] == TIMELINE_MAX_S
    assert timeline_span([post]) == (
        post.window.start - post.window.l2_ld,
        post.window.data_end - post.window.l2_ld,
    )
    assert post.window.data_end - post.window.l2_ld < 1.0


def test_bar_chart_cuts_its_axis_when_one_method_dwarfs_the_others() -> None:
    """standard's wait for an advertisement (hundreds of ms) would flatten the low-latency
    bars onto the L2 floor: the axis is cut and the clipped bar labelled with its mean."""
    runs = compare(
        load_scenario("corridor", ["topology.fas=2", "mobility.dwell_s=2"]),
        ["standard", "pre-source", "post-source"],
        smooth="none",
    ).runs
    summaries = [r.summary for r in runs]
    fig = bar_chart_figure([r.label for r in runs], summaries)
    try:
        disruption = fig.axes[0]
        _, high = disruption.get_ylim()
        means = [s["disruption_ms"]["mean"] for s in summaries]
        assert means[0] > high > max(means[1:]) * 2  # cut between the slow and the fast
        assert high >= 1.5 * summaries[1]["l2_gap_ms"]["mean"]  # the floor stays visible
        (label,) = [t for t in disruption.texts if t.get_gid() == "clipped"]
        assert label.get_text() == f"mean {means[0]:.0f}" and label.get_position()[0] == 0
        assert "axis cut" in disruption.get_title()
        # without a dwarfing method the axis is whole
        fig2 = bar_chart_figure([r.label for r in runs[1:]], summaries[1:])
        assert "axis cut" not in fig2.axes[0].get_title()
        pyplot().close(fig2)
    finally:
        pyplot().close(fig)


def test_timeline_panels_keep_their_labels_out_of_the_panel_above() -> None:
    """Each panel's summary is inside it, and its signalling labels (rotated text above it)
    end below the panel above: with many methods the titles used to run into it."""
    from mip4.experiments.plots import TimelineData, timeline_figure

    signalling = [(0.05 + 0.01 * k, "FA2", "registration_request") for k in range(4)]
    panels = [
        TimelineData(
            method=f"method-{i}",
            sent=[(0.01 * k, k) for k in range(50)],
            arrived=[(0.01 * k, k) for k in range(50)],
            l2_gap=(0.1, 0.2),
            signalling=signalling,
            disruption_ms=120.0,
            l3_extra_ms=0.0,
        )
        for i in range(15)
    ]
    fig = timeline_figure(panels, span=(0.0, 0.5))
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        axes = fig.axes
        for above, below in itertools.pairwise(axes):
            floor = above.get_window_extent(renderer).y0
            for text in below.texts:
                box = text.get_window_extent(renderer)
                assert box.y1 <= floor, text.get_text()
        for ax, data in zip(axes, panels, strict=True):
            (title,) = [t for t in ax.texts if t.get_gid() == "panel-title"]
            assert title.get_text().startswith(f"{data.method}: disruption 120")
            inside = ax.get_window_extent(renderer)
            box = title.get_window_extent(renderer)
            assert inside.y0 <= box.y0 and box.y1 <= inside.y1
    finally:
        pyplot().close(fig)
