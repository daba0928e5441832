"""`mip4 sweep`: the grid, the tidy CSV, resuming, local processes and Dask."""

from __future__ import annotations

import csv
import itertools
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from mip4.cli import main
from mip4.experiments import sweep
from mip4.experiments.plots import pyplot, sweep_figure
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


def polygon_area(vertices: Sequence[Sequence[float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(vertices)) / 2)


def test_sweep_plot_draws_the_confidence_bands(tmp_path: Path) -> None:
    # standard waits a random part of an advertisement interval: the seeds disagree
    argv = ["sweep", *SMALL, "--param", "radio.l2_handoff_ms=50,150", "--methods", "standard"]
    assert main([*argv, "--seeds", "3", "--out", str(tmp_path), "--workers", "2"]) == 0
    params = sweep.parse_params(["radio.l2_handoff_ms=50,150"])
    xs, series = sweep.aggregate(sweep.load_rows(tmp_path / "sweep.csv"), params, ["standard"])
    assert all(half > 0 for _, half in series["disruption_ms"]["standard"])
    fig = sweep_figure("radio.l2_handoff_ms", xs, series, sweep.METRICS)
    try:
        for ax, (metric, _) in zip(fig.axes, sweep.METRICS, strict=True):
            bands = [c for c in ax.collections if c.get_gid() == "ci-standard"]
            assert len(bands) == 1, metric
            (path,) = bands[0].get_paths()
            points = series[metric]["standard"]
            if any(half > 0 for _, half in points):
                assert polygon_area(path.vertices) > 0, metric
            # the band spans mean - half .. mean + half at each swept value
            low = min(mean - half for mean, half in points)
            high = max(mean + half for mean, half in points)
            assert path.vertices[:, 1].min() == pytest.approx(low)
            assert path.vertices[:, 1].max() == pytest.approx(high)
    finally:
        pyplot().close(fig)


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
        # the runs went to the cluster, not to local processes: its scheduler handed out both
        # run_rows tasks and its worker executed them
        prefix = cluster.scheduler.task_prefixes["run_rows"]
        assert prefix.state_counts["memory"] == 2
        assert sum(w.state.executed_count for w in cluster.workers.values()) == 2
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


CLI = "import sys; from mip4.cli import main; sys.exit(main(sys.argv[1:]))"


def complete_runs(out: Path) -> int:
    """Run ids with a complete row (one handoff each here), the last line possibly cut."""
    if not (out / "sweep.csv").exists():
        return 0
    lines = (out / "sweep.csv").read_text().split("\n")[1:-1]  # the header; a partial line
    return len({line.split(",")[0] for line in lines if line})


def test_ctrl_c_keeps_finished_rows_and_the_rerun_resumes(tmp_path: Path) -> None:
    leads = ",".join(str(v) for v in range(0, 400, 10))  # 40 runs, one after another
    argv = ["sweep", *SMALL, "--param", f"radio.trigger_lead_ms={leads}"]
    argv += ["--methods", "post-source", "--seeds", "1", "--workers", "1", "--out", str(tmp_path)]
    sweeping = subprocess.Popen(
        [sys.executable, "-c", CLI, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while complete_runs(tmp_path) < 3 and sweeping.poll() is None:
            assert time.monotonic() < deadline, "no rows written"
            time.sleep(0.05)
        assert sweeping.poll() is None, "the sweep ended before the interrupt"
        sweeping.send_signal(signal.SIGINT)  # what ^C sends (to the parent; workers ignore it)
        _, err = sweeping.communicate(timeout=60)
    finally:
        sweeping.kill()
    assert sweeping.returncode == 130, err
    assert "interrupted" in err and "run the same command again to resume" in err
    text = (tmp_path / "sweep.csv").read_text()
    kept = list(csv.DictReader(text[: text.rfind("\n") + 1].splitlines()))  # whole lines
    assert 3 <= len(kept) < 40
    assert len({r["run_id"] for r in kept}) == len(kept)
    # the same command again resumes: the rows kept are not run again, nothing twice
    assert main(argv) == 0
    table = rows(tmp_path)
    assert len(table) == 40 and len({r["run_id"] for r in table}) == 40
    assert sorted(int(r["radio.trigger_lead_ms"]) for r in table) == list(range(0, 400, 10))
    assert {r["run_id"]: r for r in table}.keys() >= {r["run_id"] for r in kept}


def test_command_does_not_touch_a_csv_another_sweep_is_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sweep", *SMALL, "--param", "radio.l2_handoff_ms=50,100", "--out", str(tmp_path)]
    argv += ["--methods", "standard-solicit", "--seeds", "1", "--workers", "1"]
    assert main(argv) == 0
    # another sweep holds the lock and is half-way through writing a line
    path = tmp_path / "sweep.csv"
    path.write_text(path.read_text() + "0123456789abcdef,corridor,stand")
    before = path.read_bytes()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / sweep.LOCK_NAME)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        capsys.readouterr()
        assert main(argv) == 2
        assert "another sweep is writing" in capsys.readouterr().err
        assert path.read_bytes() == before  # its half-written line is still there
    finally:
        holder.kill()
        holder.wait()


HOLD = (
    "import fcntl, sys, time\n"
    "f = open(sys.argv[1], 'w')\n"
    "fcntl.lockf(f, fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "time.sleep(60)\n"
)


def test_one_sweep_at_a_time_per_folder(tmp_path: Path) -> None:
    params = sweep.parse_params(["radio.l2_handoff_ms=50"])
    specs = sweep.plan_runs("corridor", OVERRIDES, params, ["standard-solicit"], 1)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / sweep.LOCK_NAME)],
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
