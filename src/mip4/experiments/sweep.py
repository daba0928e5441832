"""``mip4 sweep``: a grid over scenario keys, methods and seeds.

Every combination of the ``--param key=v1,v2,...`` values, of the methods and of the seeds
(the scenario's seed and the next ``N - 1``) is one :class:`~.runner.RunSpec`. Runs go to
local processes (:class:`concurrent.futures.ProcessPoolExecutor`) or, with ``--dask
ADDRESS``, to a Dask cluster; rows are appended to ``sweep.csv`` as each run finishes and
flushed, one row per run and handoff (tidy data: the run's columns, the swept keys, then the
handoff's metrics). Interrupting keeps the finished runs; running the same command with the
same ``--out`` again skips them (a run counts as done when all its rows are there). Two
sweeps cannot write into one folder at once (a lock file).

When the grid is done, ``sweep.svg`` / ``sweep.png`` plot the mean downlink disruption,
L3 extra time and packets lost per handoff against the first swept key, with 95%
confidence intervals over handoffs and seeds, one line per method (and per value of any
other swept key).
"""

from __future__ import annotations

import csv
import fcntl
import itertools
import math
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from mip4.experiments.plots import mean_ci, sweep_lines
from mip4.experiments.runner import HANDOFF_COLUMNS, RUN_COLUMNS, RunSpec, run_rows
from mip4.sim.scenario import ScenarioError, load_scenario, parse_value

CSV_NAME = "sweep.csv"
LOCK_NAME = ".sweep.lock"  # one sweep at a time per output folder
METRICS = (
    ("disruption_ms", "downlink disruption per handoff (ms)"),
    ("l3_extra_ms", "L3 extra per handoff (ms)"),
    ("lost", "downlink packets lost per handoff"),
)


def parse_params(texts: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``key=v1,v2,...`` (repeatable) into ``[(key, [v1, v2, ...]), ...]``."""
    params: list[tuple[str, list[str]]] = []
    for text in texts:
        key, sep, values = text.partition("=")
        key = key.strip()
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key or not items:
            raise ScenarioError(
                f"--param {text!r}: expected key=v1,v2,..., e.g. radio.trigger_lead_ms=0,50,100"
            )
        if any(key == k for k, _ in params):
            raise ScenarioError(f"--param {key}: given twice")
        params.append((key, items))
    return params


def plan_runs(
    scenario: str,
    overrides: Sequence[str],
    params: Sequence[tuple[str, list[str]]],
    methods: Sequence[str],
    seeds: int,
) -> list[RunSpec]:
    """Every run of the grid; each combination of values is checked before anything runs."""
    if seeds < 1:
        raise ScenarioError("--seeds must be at least 1")
    base = load_scenario(scenario, list(overrides)).seed
    specs = []
    keys = [k for k, _ in params]
    for values in itertools.product(*(v for _, v in params)):
        assignments = [f"{k}={v}" for k, v in zip(keys, values, strict=True)]
        load_scenario(scenario, [*overrides, *assignments])  # fail fast, one clear line
        for method in methods:
            for seed in range(base, base + seeds):
                specs.append(
                    RunSpec(
                        scenario=scenario,
                        method=method,
                        seed=seed,
                        overrides=(*overrides, *assignments),
                        params=tuple(zip(keys, values, strict=True)),
                    )
                )
    return specs


def columns(params: Sequence[tuple[str, list[str]]]) -> list[str]:
    return [*RUN_COLUMNS, *(k for k, _ in params), *HANDOFF_COLUMNS]


def _other_columns(path: Path) -> ScenarioError:
    return ScenarioError(
        f"{path} holds a sweep with other columns; use another --out to start a new one"
    )


def check_columns(path: Path, header: list[str]) -> None:
    """Refuse a ``path`` that holds a sweep with other columns, without changing it (the
    command checks before it starts; another sweep may hold the folder's lock)."""
    if not path.exists():
        return
    with open(path, newline="", encoding="utf-8") as stream:
        first = stream.readline()
    if first.endswith("\n") and next(csv.reader([first])) != header:
        raise _other_columns(path)


def read_done(path: Path, header: list[str]) -> set[str]:
    """Run ids whose rows are all in ``path``; rows of incomplete runs (an interrupted write)
    are removed from the file, and a half-written last line is cut off. It rewrites the
    file: call it only with the folder's lock held (:func:`sweep`)."""
    if not path.exists():
        return set()
    original = path.read_text("utf-8")
    text = original if original.endswith("\n") else original[: original.rfind("\n") + 1]
    lines = text.splitlines()
    if not lines:
        _write_rows(path, header, [], mode="w")
        return set()
    if next(csv.reader([lines[0]])) != header:
        raise _other_columns(path)
    rows = list(csv.DictReader(lines))
    counts: dict[str, int] = {}
    expected: dict[str, int] = {}
    for row in rows:
        run = row["run_id"]
        counts[run] = counts.get(run, 0) + 1
        expected[run] = max(1, int(row["handoffs_in_run"] or 0))
    done = {run for run, n in counts.items() if n == expected[run]}
    kept = [row for row in rows if row["run_id"] in done]
    if len(kept) != len(rows) or text != original:
        _write_rows(path, header, kept, mode="w")
    return done


def _write_rows(
    path: Path, header: list[str], rows: Iterable[dict[str, object]], mode: str
) -> None:
    with open(path, mode, newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=header, extrasaction="ignore")
        if mode == "w":
            writer.writeheader()
        writer.writerows(rows)


@dataclass(slots=True)
class SweepOutcome:
    total: int
    skipped: int
    finished: int = 0
    failed: list[tuple[RunSpec, str]] = field(default_factory=list)
    interrupted: bool = False


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and keeps the rows


def _local(specs: Sequence[RunSpec], workers: int | None) -> Iterator[tuple[RunSpec, object]]:
    with ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint) as pool:
        pending: dict[Future[list[dict[str, object]]], RunSpec] = {
            pool.submit(run_rows, spec): spec for spec in specs
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    spec = pending.pop(future)
                    error = future.exception()
                    yield spec, (error if error is not None else future.result())
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)


def _dask(specs: Sequence[RunSpec], address: str) -> Iterator[tuple[RunSpec, object]]:
    from distributed import Client, as_completed

    client = Client(address)  # type: ignore[no-untyped-call]
    try:
        futures = client.map(run_rows, list(specs), pure=False)
        owner = {future.key: spec for future, spec in zip(futures, specs, strict=True)}
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            spec = owner[future.key]
            if future.status == "error":
                yield spec, future.exception()
            else:
                yield spec, future.result()
    finally:
        client.close()  # type: ignore[no-untyped-call]


def sweep(
    specs: Sequence[RunSpec],
    params: Sequence[tuple[str, list[str]]],
    out: Path,
    *,
    dask: str | None = None,
    workers: int | None = None,
    advance: Callable[[int, int], None] | None = None,
) -> SweepOutcome:
    """Run the runs of ``specs`` not yet in ``out/sweep.csv``; append their rows as they
    finish. ``advance(done, total)`` reports progress."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_NAME, "w", encoding="utf-8") as lock:
        try:  # a POSIX record lock: the forked workers do not inherit it
            fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ScenarioError(f"another sweep is writing into {out}; wait for it") from None
        return _sweep(specs, params, out, dask=dask, workers=workers, advance=advance)


def _sweep(
    specs: Sequence[RunSpec],
    params: Sequence[tuple[str, list[str]]],
    out: Path,
    *,
    dask: str | None,
    workers: int | None,
    advance: Callable[[int, int], None] | None,
) -> SweepOutcome:
    path = out / CSV_NAME
    header = columns(params)
    done = read_done(path, header)
    if not path.exists():
        _write_rows(path, header, [], mode="w")
    todo = [s for s in specs if s.run_id not in done]
    outcome = SweepOutcome(total=len(specs), skipped=len(specs) - len(todo))
    if advance is not None:
        advance(outcome.skipped, outcome.total)
    if not todo:
        return outcome
    source = _dask(todo, dask) if dask else _local(todo, workers)
    with open(path, "a", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=header, extrasaction="ignore")
        try:
            for spec, rows in source:
                if isinstance(rows, BaseException):
                    outcome.failed.append((spec, f"{type(rows).__name__}: {rows}"))
                else:
                    writer.writerows(rows)  # type: ignore[arg-type]
                    stream.flush()
                    outcome.finished += 1
                if advance is not None:
                    advance(outcome.skipped + outcome.finished + len(outcome.failed), outcome.total)
        except KeyboardInterrupt:
            outcome.interrupted = True
    return outcome


def load_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def aggregate(
    rows: Sequence[dict[str, str]],
    params: Sequence[tuple[str, list[str]]],
    methods: Sequence[str],
) -> tuple[list[object], dict[str, dict[str, list[tuple[float, float]]]]]:
    """Per metric, per line (method, and the other swept keys), the mean and 95% CI
    half-width at each value of the first swept key."""
    first, values = params[0]
    others = [k for k, _ in params[1:]]
    xs = [parse_value(v) for v in values]
    series: dict[str, dict[str, list[tuple[float, float]]]] = {m: {} for m, _ in METRICS}
    combos = list(itertools.product(*(v for _, v in params[1:]))) or [()]
    for method in methods:
        for combo in combos:
            label = method + "".join(f", {k}={v}" for k, v in zip(others, combo, strict=True))
            for metric, _ in METRICS:
                points = []
                for x in values:
                    sample = [
                        v
                        for row in rows
                        if row["method"] == method
                        and row[first] == x
                        and all(row[k] == c for k, c in zip(others, combo, strict=True))
                        and (v := _number(row.get(metric))) is not None
                    ]
                    points.append(mean_ci(sample))
                series[metric][label] = points
    return xs, series


def plot(out: Path, params: Sequence[tuple[str, list[str]]], methods: Sequence[str]) -> list[Path]:
    """``sweep.svg`` and ``sweep.png`` from the CSV in ``out``."""
    rows = load_rows(out / CSV_NAME)
    xs, series = aggregate(rows, params, methods)
    written = []
    for fmt in ("svg", "png"):
        path = out / f"sweep.{fmt}"
        path.write_bytes(sweep_lines(params[0][0], xs, series, METRICS, fmt=fmt))
        written.append(path)
    return written
