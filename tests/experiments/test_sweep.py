"""`mip4 sweep`: the grid, the tidy CSV, resuming, local processes and Dask."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mip4.cli import main
from mip4.experiments import sweep
from mip4.experiments.runner import RunSpec, run_rows
from mip4.sim.scenario import ScenarioError

SMALL = ["--set", "topology.fas=2", "--set", "mobility.dwell_s=2"]
OVERRIDES = ["topology.fas=2", "mobility.dwell_s=2"]


def rows(out: Path) -> list[dict[str, str]]:
    with open(out / "sweep.csv", newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_sweep_grid_csv_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sweep", *SMALL, "--param", "radio.trigger_lead_ms=0,100"]
    argv += ["--param", "topology.ha_delay_ms=10,30", "--methods", "standard-solicit"]
    assert main([*argv, "--seeds", "2", "--out", str(tmp_path), "--workers", "2"]) == 0
    table = rows(tmp_path)
    assert len(table) == 2 * 2 * 2  # leads x delays x seeds, one handoff each
    assert {r["radio.trigger_lead_ms"] for r in table} == {"0", "100"}
    assert {r["seed"] for r in table} == {"1", "2"}
    assert all(r["from"] == "FA1" and r["to"] == "FA2" for r in table)
    slow = [float(r["disruption_ms"]) for r in table if r["topology.ha_delay_ms"] == "30"]
    fast = [float(r["disruption_ms"]) for r in table if r["topology.ha_delay_ms"] == "10"]
    assert min(slow) > max(fast)  # d_FH adds twice to standard-solicit's disruption
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert b"95% confidence interval" in (tmp_path / "sweep.svg").read_bytes()
    capsys.readouterr()
    # the same command again resumes: nothing left to run
    assert main([*argv, "--seeds", "2", "--out", str(tmp_path), "--workers", "2"]) == 0
    assert "0 runs done, 8 already there" in capsys.readouterr().err.replace("\n", " ")
    assert len(rows(tmp_path)) == 8


def test_resume_after_an_interrupted_write(tmp_path: Path) -> None:
    params = sweep.parse_params(["radio.l2_handoff_ms=50,100,150"])
    specs = sweep.plan_runs("corridor", OVERRIDES, params, ["standard-solicit"], 1)
    assert len(specs) == 3
    outcome = sweep.sweep(specs[:2], params, tmp_path, workers=1)
    assert (outcome.finished, outcome.skipped) == (2, 0)
    # an interrupted write: the last line cut in half
    path = tmp_path / "sweep.csv"
    text = path.read_text()
    path.write_text(text[: len(text) - 25])
    outcome = sweep.sweep(specs, params, tmp_path, workers=1)
    assert (outcome.finished, outcome.skipped) == (2, 1)
    table = rows(tmp_path)
    assert sorted(r["radio.l2_handoff_ms"] for r in table) == ["100", "150", "50"]
    assert len({r["run_id"] for r in table}) == 3


def test_rows_of_a_run(tmp_path: Path) -> None:
    spec = RunSpec("corridor", "standard", 1, ("mobility.dwell_s=2",), (("x", "1"),))
    out = run_rows(spec)
    assert len(out) == 2 and out[0]["x"] == "1" and out[1]["handoff"] == 1
    assert out[0]["handoffs_in_run"] == 2 and out[0]["run_id"] == spec.run_id


def test_dask_local_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    argv = ["sweep", *SMALL, "--param", "radio.l2_handoff_ms=50,100"]
    argv += ["--methods", "standard-solicit", "--seeds", "1", "--out", str(tmp_path)]
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        assert main([*argv, "--dask", cluster.scheduler_address]) == 0
    assert sorted(r["radio.l2_handoff_ms"] for r in rows(tmp_path)) == ["100", "50"]
    assert (tmp_path / "sweep.png").exists()


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("radio.l2_handoff_ms", "expected key=v1,v2,..."),
        ("radio.nope=1,2", "unknown key 'radio.nope'"),
        ("radio.l2_handoff_ms=fast", "radio.l2_handoff_ms: Input should be a valid number"),
    ],
)
def test_bad_param_exit_2(param: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--param", param, "--out", "unused"]) == 2
    assert message in capsys.readouterr().err


def test_other_columns_refused(tmp_path: Path) -> None:
    (tmp_path / "sweep.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ScenarioError, match="other columns"):
        sweep.read_done(tmp_path / "sweep.csv", sweep.columns([("k", ["1"])]))


def test_interrupt_keeps_finished_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = sweep.parse_params(["radio.l2_handoff_ms=50,100,150"])
    specs = sweep.plan_runs("corridor", OVERRIDES, params, ["standard-solicit"], 1)

    def first_then_interrupt(
        todo: list[RunSpec], workers: int | None
    ) -> Iterator[tuple[RunSpec, object]]:
        yield todo[0], run_rows(todo[0])
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "_local", first_then_interrupt)
    outcome = sweep.sweep(specs, params, tmp_path)
    assert outcome.interrupted and outcome.finished == 1
    assert [r["radio.l2_handoff_ms"] for r in rows(tmp_path)] == ["50"]
    monkeypatch.undo()
    outcome = sweep.sweep(specs, params, tmp_path, workers=1)
    assert (outcome.finished, outcome.skipped, outcome.interrupted) == (2, 1, False)
    assert sorted(r["radio.l2_handoff_ms"] for r in rows(tmp_path)) == ["100", "150", "50"]


def test_one_sweep_at_a_time_per_folder(tmp_path: Path) -> None:
    params = sweep.parse_params(["radio.l2_handoff_ms=50"])
    specs = sweep.plan_runs("corridor", OVERRIDES, params, ["standard-solicit"], 1)
    hold = (
        "import fcntl, sys, time\n"
        "f = open(sys.argv[1], 'w')\n"
        "fcntl.lockf(f, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(tmp_path / sweep.LOCK_NAME)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(ScenarioError, match="another sweep is writing"):
            sweep.sweep(specs, params, tmp_path, workers=1)
    finally:
        holder.kill()
        holder.wait()
    assert sweep.sweep(specs, params, tmp_path, workers=1).finished == 1
