"""``mip4 lab up | run | down``.

    mip4 lab up [--fas N] [--prefix NAME]
    mip4 lab run [SCENARIO] --method NAME [--handoffs N] [--set KEY=VALUE ...] [--json FILE|-]
    mip4 lab down [--prefix NAME]

``up`` refuses to build over an existing (or half-built) lab and says how to remove it;
``run`` needs a lab that is up, and removes its daemons, processes, emulation rules and
files when it ends, on failure, on Ctrl-C and on SIGTERM (handled as Ctrl-C); ``down``
removes every namespace (veths, bridges, TUN devices) of the prefix, whatever a killed run
left in them, and the runs' files. Errors print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from types import FrameType

from mip4.errors import LocalUsageError
from mip4.lab.topology import DEFAULT_PREFIX, Lab


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="lab_action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="build the namespaces (CN, core, HA, FAs, MN)")
    up.add_argument("--fas", type=int, default=3, metavar="N", help="number of FAs (default 3)")
    up.add_argument("--prefix", default=DEFAULT_PREFIX, help="namespace name prefix")
    up.add_argument("--gfa", action="store_true", help="add a GFA (scenarios with topology.gfa)")
    run = actions.add_parser("run", help="run a scenario with a method on the lab")
    run.add_argument("scenario", nargs="?", default="corridor", metavar="SCENARIO")
    run.add_argument("--method", default="standard", metavar="NAME")
    run.add_argument(
        "--handoffs",
        type=int,
        metavar="N",
        help="number of handoffs (sets mobility.handoffs: corridor and fast walk the line "
        "back and forth; refused for grid)",
    )
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--seed", type=int, default=None, metavar="N")
    run.add_argument("--json", metavar="FILE", help="write the result as JSON ('-': stdout)")
    run.add_argument("--prefix", default=DEFAULT_PREFIX, help="namespace name prefix")
    down = actions.add_parser("down", help="remove every namespace the lab made")
    down.add_argument("--prefix", default=DEFAULT_PREFIX, help="namespace name prefix")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: every finally block cleans up


def run(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("mip4 lab: error: needs root (network namespaces)", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.lab_action == "up":
            lab = Lab(args.prefix, args.fas, args.gfa)
            lab.up()
            print(f"lab up: {', '.join(lab.ns(r) for r in lab.roles)}")
            return 0
        if args.lab_action == "down":
            removed = Lab(args.prefix).down()
            print(f"lab down: removed {len(removed)} namespaces")
            return 0
        from mip4.lab.runner import run_lab
        from mip4.sim.scenario import load_scenario

        overrides = list(args.overrides)
        if args.handoffs is not None:
            overrides.append(f"mobility.handoffs={args.handoffs}")
        scenario = load_scenario(args.scenario, overrides)
        lab = Lab.detect(args.prefix)
        result = run_lab(scenario, args.method, lab=lab, seed=args.seed)
    except LocalUsageError as exc:
        print(f"mip4 lab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the run has already stopped its daemons and processes
        print("mip4 lab: interrupted", file=sys.stderr)
        return 130
    if args.json == "-":
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(result, stream, indent=2)
            stream.write("\n")
    else:
        from mip4.sim.command import format_table

        print(format_table(result))
    return 0


__all__ = ["add_arguments", "run"]
