"""``mip4 bench sim``: the simulator's speed on the ``grid`` scenario with 1 to 1000 MNs.

Every MN walks the 16-cell grid (a cell change every 5 s) and holds a G.711-like call both
ways (50 packets per second each way, 160-byte payload), with the real agents and real bytes,
method ``standard``, metrics on, no trace file. For each MN count the run reports the
simulated seconds (``sim_s``), the wall time (``wall_s``, :func:`time.perf_counter` around
the run, building excluded), the events executed and events per second; the table adds
simulated seconds per wall second and the cost per MN-second, with its ratio to the 10-MN
run (the goal: within 1.5x up to 1000 MNs, i.e. no superlinear growth).

``--quick`` runs 1 and 10 MNs for a short time (it checks that the bench runs; the figures
mean nothing). ``--profile N`` prints the top N functions of a cProfile of an extra run of
the largest case (the timed figures come from unprofiled runs).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from typing import Any

from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario

FULL = ((1, 60.0), (10, 30.0), (100, 10.0), (1000, 6.0))  # (MNs, scenario duration s)
QUICK = ((1, 2.0), (10, 2.0))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="write the figures as JSON to FILE ('-' for stdout) instead of a table",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 and 10 MNs for 2 s only (checks that the bench runs; the figures mean nothing)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also print the N most expensive functions of the largest run (cProfile)",
    )


def measure(mns: int, duration_s: float, profile: cProfile.Profile | None = None) -> dict[str, Any]:
    """One run of the grid with ``mns`` MNs."""
    scenario = load_scenario("grid", [f"mobility.mns={mns}", f"duration_s={duration_s}"])
    world = World(scenario, "standard")
    start = time.perf_counter()
    if profile is not None:
        profile.enable()
    world.run()
    if profile is not None:
        profile.disable()
    wall = time.perf_counter() - start
    events = world.engine.events
    return {
        "mns": mns,
        "sim_s": round(world.end, 6),
        "wall_s": round(wall, 6),
        "events": events,
        "events_per_second": round(events / wall, 1) if wall > 0 else None,
    }


def run(args: argparse.Namespace) -> int:
    cases = QUICK if args.quick else FULL
    runs = [measure(mns, duration) for mns, duration in cases]
    profile = None
    if args.profile:  # a separate run: profiling must not distort the timed figures
        profile = cProfile.Profile()
        measure(*cases[-1], profile=profile)
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
    """Figures per run, with simulated seconds per wall second and the cost per MN-second."""
    base = next((r for r in runs if r["mns"] == 10), runs[0])

    def cost(r: dict[str, Any]) -> float:
        return float(r["wall_s"]) / (int(r["mns"]) * float(r["sim_s"]))

    lines = [
        f"{'MNs':>6}{'sim s':>9}{'wall s':>9}{'events':>11}{'events/s':>11}"
        f"{'sim s/wall s':>14}{'us/MN-s':>10}{'vs 10 MNs':>11}"
    ]
    for r in runs:
        lines.append(
            f"{r['mns']:>6}{r['sim_s']:>9.1f}{r['wall_s']:>9.2f}{r['events']:>11}"
            f"{r['events_per_second']:>11.0f}{r['sim_s'] / r['wall_s']:>14.2f}"
            f"{cost(r) * 1e6:>10.1f}{cost(r) / cost(base):>10.2f}x"
        )
    return "\n".join(lines)
