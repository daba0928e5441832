"""``mip4 bench sim``: the simulator's speed on the ``grid`` scenario with 1 to 1000 MNs.

Every MN walks the 16-cell grid (a cell change every ``DWELL_S`` from a random phase) and
holds a G.711-like call both ways (50 packets per second each way, 160-byte payload), with
the real agents and real bytes, method ``standard``, metrics on, no trace file.

Every MN count runs the same timeline, so the runs compare: the agents settle and the MNs
attach and register (``WARMUP_S``, untimed), then the calls run for ``CALL_S`` (timed), then
the packets in flight drain (untimed). Every MN moves several times while it calls. For each
run: ``sim_s`` is the timed calling window in simulated seconds, ``wall_s`` the wall time of
that window (:func:`time.perf_counter`, building excluded), ``events`` the events executed in
it and ``events_per_second`` their rate; extra keys give the window's CPU time (``cpu_s``,
:func:`time.process_time`) and the cell changes (``handoffs``, and ``moves_per_mn`` the
fewest any MN made). The table adds simulated seconds per wall second and the cost per
MN-second, CPU time / (MNs × sim_s), with its ratio to the 10-MN run (the goal: within 1.5x
up to 1000 MNs, i.e. no superlinear growth); CPU time, because on a shared machine the wall
time also counts other processes. Before each build the collector runs, so no run pays
for collecting the cyclic garbage of the one before.

A run whose window takes less than ``MIN_CPU_S`` of CPU time (1 and 10 MNs: a tenth of a
second and less) is repeated, each time with a new world, until the runs add up to that
much or there are ``MAX_REPEATS`` of them; the figures are those of the run with the median
CPU time (``repeats`` says how many ran). One run that short is at the mercy of the
scheduler and the neighbours on a shared machine, and the 10-MN run is the base of every
cost ratio; the median of several is the honest figure (the events are the same in every
repeat: the run is deterministic).

The whole series (1, 10, 100, 1000 MNs, with the repeats above) runs ``--rounds`` times in
turn (``DEFAULT_ROUNDS``, 3: about a minute here), and each MN count reports the run with
the median CPU time of all its runs: on a shared machine the speed drifts by 10-15% over tens
of seconds, and the ratio of two single runs a minute apart takes that drift in (single
series here gave 1.02x to 1.81x for the same code); in turn, a slow spell falls on every
size alike. ``--rounds 1`` is the quick look.

``--quick`` runs 1 and 10 MNs for a short window, once each (it checks that the bench runs;
the figures mean nothing). ``--profile N`` prints the top N functions of a cProfile of an
extra run of the largest case's calling window (the timed figures come from unprofiled
runs).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import sys
import time
from collections import Counter
from typing import Any

from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario

WARMUP_S = 2.0  # settle (one advertisement interval) + the MNs' first registrations
DWELL_S = 2.5  # a cell change every 2.5 s: at least 3 per MN in the calling window
CALL_S = 10.0
FULL = (1, 10, 100, 1000)
QUICK = (1, 10)
QUICK_CALL_S = 1.0
MIN_CPU_S = 1.0  # a shorter timed window is repeated (see the module docstring)
MAX_REPEATS = 9
DEFAULT_ROUNDS = 3  # see the module docstring


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="write the figures as JSON to FILE ('-' for stdout) instead of a table",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 and 10 MNs calling for 1 s only (checks that the bench runs; the figures "
        "mean nothing)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=DEFAULT_ROUNDS,
        metavar="N",
        help="run the whole series N times in turn and report, per MN count, the run with "
        f"the median CPU time of all its runs (default {DEFAULT_ROUNDS}: steady ratios on a "
        "shared machine; 1 for a quick look)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also print the N most expensive functions of the largest run's calling window "
        "(cProfile)",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def measure(mns: int, call_s: float, profile: cProfile.Profile | None = None) -> dict[str, Any]:
    """One run of the grid with ``mns`` MNs; the calling window of ``call_s`` is timed."""
    scenario = load_scenario(
        "grid",
        [
            f"mobility.mns={mns}",
            f"mobility.dwell_s={DWELL_S}",
            f"traffic.start_s={WARMUP_S}",
            # the runner's timeline counts mobility and the calls' end from settle
            f"duration_s={WARMUP_S + call_s - 1.0}",
            "protocol.advertisement_interval_ms=1000",  # settle = 1 s
        ],
    )
    gc.collect()  # the previous run's world (agents and nodes refer to each other)
    world = World(scenario, "standard")
    stop = world.settle + world.duration  # the calls' last packet
    assert world.settle < WARMUP_S < stop
    engine = world.engine
    engine.run(WARMUP_S)
    before = engine.events
    start, cpu = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    engine.run(stop)
    if profile is not None:
        profile.disable()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    events = engine.events - before
    engine.run(world.end)  # drain: the packets in flight arrive (untimed)
    moves = Counter(h.mn for h in world.metrics.handoffs if h.l2_lu is not None)
    return {
        "mns": mns,
        "sim_s": round(stop - WARMUP_S, 6),
        "wall_s": round(wall, 6),
        "cpu_s": round(cpu, 6),
        "events": events,
        "events_per_second": round(events / wall, 1) if wall > 0 else None,
        "handoffs": sum(moves.values()),
        "moves_per_mn": min(moves[mn.name] for mn in world.mns),
    }


def measure_runs(
    mns: int, call_s: float, min_cpu_s: float = MIN_CPU_S, max_repeats: int = MAX_REPEATS
) -> list[dict[str, Any]]:
    """:func:`measure`, repeated while the runs' CPU time adds up to less than
    ``min_cpu_s`` (at most ``max_repeats`` runs)."""
    runs = [measure(mns, call_s)]
    while sum(r["cpu_s"] for r in runs) < min_cpu_s and len(runs) < max_repeats:
        runs.append(measure(mns, call_s))
    return runs


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median CPU time (the upper one of an even count), with ``repeats``,
    the number of runs it was chosen from."""
    assert len({r["events"] for r in runs}) == 1  # deterministic: the same work every time
    median = dict(sorted(runs, key=lambda r: float(r["cpu_s"]))[len(runs) // 2])
    median["repeats"] = len(runs)
    return median


def measure_median(
    mns: int, call_s: float, min_cpu_s: float = MIN_CPU_S, max_repeats: int = MAX_REPEATS
) -> dict[str, Any]:
    """:func:`median_run` of :func:`measure_runs`."""
    return median_run(measure_runs(mns, call_s, min_cpu_s, max_repeats))


def run(args: argparse.Namespace) -> int:
    sizes, call_s = (QUICK, QUICK_CALL_S) if args.quick else (FULL, CALL_S)
    repeats = 1 if args.quick else MAX_REPEATS  # the quick figures mean nothing anyway
    collected: dict[int, list[dict[str, Any]]] = {mns: [] for mns in sizes}
    rounds = 1 if args.quick else args.rounds
    for _ in range(rounds):  # whole series in turn: a slow spell hits every size
        for mns in sizes:
            collected[mns] += measure_runs(mns, call_s, max_repeats=repeats)
    runs = [median_run(collected[mns]) for mns in sizes]
    profile = None
    if args.profile:  # a separate run: profiling must not distort the timed figures
        profile = cProfile.Profile()
        measure(sizes[-1], call_s, profile=profile)
    result = {"runs": runs}
    if args.json == "-":
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(result, stream, indent=2)
            stream.write("\n")
    else:
        print(format_table(runs))
    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.profile)
        print(out.getvalue(), file=sys.stderr if args.json == "-" else sys.stdout)
    return 0


def format_table(runs: list[dict[str, Any]]) -> str:
    """Figures per run, with simulated seconds per wall second and the CPU cost per
    MN-second."""
    base = next((r for r in runs if r["mns"] == 10), runs[0])

    def cost(r: dict[str, Any]) -> float:
        return float(r["cpu_s"]) / (int(r["mns"]) * float(r["sim_s"]))

    lines = [
        f"{'MNs':>6}{'sim s':>9}{'wall s':>9}{'CPU s':>9}{'events':>11}{'events/s':>11}"
        f"{'sim s/wall s':>14}{'CPU us/MN-s':>13}{'vs 10 MNs':>11}{'moves/MN':>10}"
        f"{'runs':>6}"
    ]
    for r in runs:
        lines.append(
            f"{r['mns']:>6}{r['sim_s']:>9.1f}{r['wall_s']:>9.2f}{r['cpu_s']:>9.2f}{r['events']:>11}"
            f"{r['events_per_second']:>11.0f}{r['sim_s'] / r['wall_s']:>14.2f}"
            f"{cost(r) * 1e6:>13.1f}{cost(r) / cost(base):>10.2f}x{r['moves_per_mn']:>10}"
            f"{r.get('repeats', 1):>6}"
        )
    return "\n".join(lines)
