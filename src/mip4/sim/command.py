"""``mip4 simulate``: run one scenario with one method and report (design.md, "Command line").

    mip4 simulate [SCENARIO] --method NAME [--set key=value ...] [--seed N]
                  [--json FILE|-] [--pcap DIR] [--trace FILE]

SCENARIO is a built-in name (default ``corridor``) or a TOML file. Without ``--json`` a short
table is printed. Bad input (unknown or unavailable method, unknown key, wrong type, bad
file) prints one line on stderr naming the key and what it accepts, and exits with 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any, TextIO

from mip4.errors import LocalUsageError
from mip4.sim.runner import METHODS_AVAILABLE, check_method, simulate
from mip4.sim.scenario import builtin_names, load_scenario


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario",
        nargs="?",
        default="corridor",
        metavar="SCENARIO",
        help=f"built-in ({', '.join(builtin_names())}) or a TOML file (default: corridor)",
    )
    parser.add_argument(
        "--method",
        default="standard",
        metavar="NAME",
        help=f"handoff method: {' | '.join(METHODS_AVAILABLE)} (default: standard)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set radio.l2_handoff_ms=50 (repeatable)",
    )
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="random seed")
    parser.add_argument(
        "--json", metavar="FILE", help="write the result as JSON to FILE ('-': stdout)"
    )
    parser.add_argument("--pcap", metavar="DIR", help="write pcap taps into DIR")
    parser.add_argument("--trace", metavar="FILE", help="write the trace as JSON lines to FILE")


def run(args: argparse.Namespace) -> int:
    try:
        check_method(args.method)
        scenario = load_scenario(args.scenario, args.overrides)
    except LocalUsageError as exc:
        print(f"mip4 simulate: error: {exc}", file=sys.stderr)
        return 2
    try:
        with contextlib.ExitStack() as stack:
            # the output file is opened before the run: a bad path fails at once, not after it
            output: TextIO | None = None
            if args.json and args.json != "-":
                output = stack.enter_context(open(args.json, "w", encoding="utf-8"))
            result = simulate(
                scenario, args.method, seed=args.seed, trace_path=args.trace, pcap_dir=args.pcap
            )
            if output is not None:
                json.dump(result, output, indent=2)
                output.write("\n")
    except OSError as exc:
        print(f"mip4 simulate: error: {exc}", file=sys.stderr)
        return 2
    if args.json == "-":
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not args.json:
        print(format_table(result))
    return 0


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def format_table(result: dict[str, Any]) -> str:
    """A plain-text summary of one result."""
    lines = [
        f"scenario {result['scenario']}  method {result['method']}  seed {result['seed']}",
        "",
        f"{'mn':<6}{'from':<6}{'to':<6}{'L2-LD s':>9}{'gap ms':>9}{'disr ms':>9}"
        f"{'ideal':>8}{'L3 ms':>8}{'up ms':>8}{'lost':>6}{'dup':>5}",
    ]
    for h in result["handoffs"]:
        lines.append(
            f"{h['mn']:<6}{h['from']:<6}{h['to']:<6}{h['l2_ld']:>9.3f}{_fmt(h['l2_gap_ms']):>9}"
            f"{_fmt(h['disruption_ms']):>9}{_fmt(h['ideal_disruption_ms']):>8}"
            f"{_fmt(h['l3_extra_ms']):>8}{_fmt(h['uplink_disruption_ms']):>8}"
            f"{h['lost']:>6}{h['duplicates']:>5}"
        )
    s = result["summary"]
    sig = s["signalling"]
    lines += [
        "",
        f"handoffs {s['handoffs']}  sent {s['sent']}  delivered {s['delivered']}  "
        f"lost {s['lost']}  duplicates {s['duplicates']}",
        f"disruption ms mean {_fmt(s['disruption_ms']['mean'])}  "
        f"p95 {_fmt(s['disruption_ms']['p95'])}  "
        f"l3_extra ms mean {_fmt(s['l3_extra_ms']['mean'])}  "
        f"p95 {_fmt(s['l3_extra_ms']['p95'])}",
        f"signalling air {sig['air']['messages']} msgs / {sig['air']['bytes']} B  "
        f"wired {sig['wired']['messages']} msgs / {sig['wired']['bytes']} B",
    ]
    return "\n".join(lines)
