"""``mip4 simulate --msc FILE`` (design.md, "Command line"): the Mermaid sequence chart of
MN1's handoff, written from the run's own trace by :mod:`mip4.experiments.msc`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mip4.cli import main


def test_msc_of_a_pre_source_handoff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chart = tmp_path / "pre-source.mmd"
    assert main(["simulate", "--method", "pre-source", "--msc", str(chart), "--json", "-"]) == 0
    with_msc = json.loads(capsys.readouterr().out)
    assert main(["simulate", "--method", "pre-source", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out) == with_msc  # the chart changes nothing
    text = chart.read_text("utf-8")
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert "    participant FA1 as FA1 (oFA)" in lines
    assert "    participant FA2 as FA2 (nFA)" in lines
    body = "\n".join(lines)
    # RFC 4881 Figure 2, in order: L2-ST, PrRtAdv, RegRqst (MN -> nFA, then nFA -> HA)
    order = [
        body.index("Note over FA1: -200.0 ms L2-ST"),
        body.index("FA1-)MN1: -200.0 ms PrRtAdv"),
        body.index("MN1-)FA2: -198.0 ms RegRqst"),
        body.index("FA2->>HA: -194.0 ms RegRqst"),
        body.index("Note over MN1: +0.0 ms L2-LD"),
        body.index("Note over MN1: +100.0 ms L2-LU"),
    ]
    assert order == sorted(order)


def test_msc_to_stdout_and_of_the_nth_handoff(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--method", "post-source", "--msc", "-", "--msc-handoff", "2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("sequenceDiagram\n")
    assert "title post-source  MN1 FA2 -> FA3" in text
    assert "HRqst(s)" in text and "HRply(s)" in text


def test_msc_with_a_trace_file(tmp_path: Path) -> None:
    trace, chart = tmp_path / "t.jsonl", tmp_path / "c.mmd"
    assert main(["simulate", "--method", "standard", "--trace", str(trace)]) == 0
    plain = trace.read_text("utf-8")
    assert (
        main(["simulate", "--method", "standard", "--trace", str(trace), "--msc", str(chart)]) == 0
    )
    assert trace.read_text("utf-8") == plain  # the full trace, as without --msc
    assert chart.read_text("utf-8").startswith("sequenceDiagram\n")


def test_msc_bad_method_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--method", "nope", "--msc", str(tmp_path / "x.mmd")]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x.mmd").exists()
