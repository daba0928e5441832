"""The analytical model and `mip4 validate`."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mip4.cli import main
from mip4.experiments import validate
from mip4.experiments.model import Parameters, predict
from mip4.sim import runner as sim_runner


def test_model_values_of_design_md() -> None:
    p = Parameters()  # corridor: d_w 2, d_FH 20, d_FF 2, T_L2 100, T_adv 1000, lead 200
    assert predict("standard", p) == 500 + 2 * (2 + 20)
    assert predict("standard-solicit", p) == 2 * 2 + 2 * (2 + 20)
    for method in ("pre-mobile", "pre-source", "pre-target", "combined"):
        assert predict(method, p) == 0.0
    assert predict("post-source", p) == predict("post-target", p) == 2.0
    assert predict("multi-interface", p) == 0.0  # RFC 4881 Appendix B: no L2 gap
    assert predict("no-such-method", p) is None


def test_pre_registration_shortfall_and_fallback() -> None:
    short = Parameters(t_l2=20.0, lead=10.0)
    # pre-source: S = 2 d_w + d_FF + d_FH = 26; l3 = 26 - 10 - 20 + 22
    assert predict("pre-source", short) == 18.0
    # pre-mobile needs 2 d_w for PrRtSol/PrRtAdv and d_w more to reach the oFA
    assert predict("pre-mobile", Parameters(lead=5.0)) == predict("standard-solicit", Parameters())
    assert predict("post-source", Parameters(lead=0.0)) == 2.0 + 4.0


def test_validate_quick_writes_table_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["validate", "--quick", "--seeds", "1", "--methods", "standard-solicit,standard"]
    assert main([*argv, "--out", str(tmp_path), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "points agree with the model" in out
    with open(tmp_path / "validate.csv", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert {r["method"] for r in rows} == {"standard", "standard-solicit"}
    solicit = [r for r in rows if r["method"] == "standard-solicit"]
    assert solicit and all(r["agrees"] == "True" for r in solicit)
    assert (tmp_path / "validate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "validate.svg").read_bytes()
    assert "| parameter | value |" in (tmp_path / "validate.md").read_text()


def test_every_method_agrees_with_the_model_on_a_small_grid() -> None:
    # the quick grid: d_FH 10 and 40 ms; lead 0 and 10 ms with T_L2 20 ms (PRE late, and the
    # fallbacks of pre-mobile and combined)
    methods = [m for m in sim_runner.METHODS_AVAILABLE if m != "standard"]
    points = validate.validate(methods, seeds=1, quick=True, workers=2)
    assert {p.method for p in points} == set(methods) and len(points) == 4 * len(methods)
    for p in points:  # each a real comparison: a model value, samples, a tight interval
        assert p.model is not None and p.samples > 0 and p.sim_ci <= validate.INTERVAL_MS, p
        assert p.agrees, p
    # standard waits a random part of an advertisement interval: enough seeds that the
    # interval is narrower than that wait, so agreeing says something
    standard = validate.validate(["standard"], seeds=10, quick=True, workers=2)
    assert len(standard) == 4
    for p in standard:
        assert p.model is not None and p.sim_ci < 250.0 and p.agrees, p


def test_validate_bad_method(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--methods", "warp"]) == 2
    assert "unknown method 'warp'" in capsys.readouterr().err
