"""The ``compare``, ``sweep``, ``scenarios`` and ``validate`` sub-commands (design.md,
"Command line"). Bad input (unknown scenario, key, value or method) prints one line on stderr
naming it and what is accepted, and exits with 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from rich.console import Console

from mip4.errors import LocalUsageError


def _console(stderr: bool = False) -> Console:
    """A console; wide when it is not a terminal (tables in logs and pipes stay readable)."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=160)
    return console


def _scenario_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario",
        nargs="?",
        default="corridor",
        metavar="SCENARIO",
        help="a built-in scenario (see `mip4 scenarios`) or a TOML file (default: corridor)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set radio.profile=cellular (repeatable)",
    )


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    _scenario_arguments(parser)
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="random seed")
    parser.add_argument(
        "--methods",
        metavar="A,B",
        help="compare only these methods (default: every available method)",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="write the report (report.html, report.md, ...) into DIR"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="write the compare JSON to FILE ('-': stdout)"
    )
    parser.add_argument(
        "--no-pcap", action="store_true", help="with --out: do not write the pcap taps"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="run the methods in N processes (default: one per CPU; 1: in this process)",
    )
    smooth = parser.add_mutually_exclusive_group()
    smooth.add_argument(
        "--smooth-both",
        dest="smooth",
        action="store_const",
        const="all",
        default="low-latency",
        help="run every method twice: without and with protocol.smooth_handoff (buffering "
        "beyond RFC 4881; by default only PRE-, POST-REGISTRATION and combined run twice)",
    )
    smooth.add_argument(
        "--no-smooth",
        dest="smooth",
        action="store_const",
        const="none",
        help="run each method once, with the scenario's protocol.smooth_handoff (default: "
        "PRE-, POST-REGISTRATION and combined also run with it, as 'METHOD (smooth)')",
    )
    parser.add_argument(
        "--handoff",
        type=int,
        default=None,
        metavar="K",
        help="the charts show MN1's K-th handoff (default: its first)",
    )


def run_compare(args: argparse.Namespace) -> int:
    from mip4.experiments.compare import compare, compare_json, table, write_json
    from mip4.experiments.library import select_methods
    from mip4.sim.scenario import load_scenario

    try:
        methods = select_methods(args.methods)
        scenario = load_scenario(args.scenario, args.overrides)
        if args.handoff is not None and args.handoff < 1:
            raise LocalUsageError(f"--handoff {args.handoff}: handoffs count from 1")
    except LocalUsageError as exc:
        print(f"mip4 compare: error: {exc}", file=sys.stderr)
        return 2
    to_stdout = args.json == "-"
    console = _console(stderr=to_stdout)
    out = Path(args.out) if args.out else None
    try:
        with console.status("running") as status:
            comparison = compare(
                scenario,
                methods,
                seed=args.seed,
                out=out,
                pcaps=not args.no_pcap,
                workers=args.workers or os.cpu_count() or 1,
                handoff=args.handoff,
                smooth=args.smooth,
                progress=status.update,
            )
            comparison.overrides = list(args.overrides)
            comparison.source = args.scenario
            if out is not None:
                from mip4.experiments.report import write_report

                status.update("drawing the report")
                write_report(comparison, out)
    except OSError as exc:
        print(f"mip4 compare: error: {exc}", file=sys.stderr)
        return 2
    data = compare_json(comparison)
    if to_stdout:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        if args.json:
            write_json(data, Path(args.json))
        console.print(table(comparison))
        if out is not None:
            console.print(f"report: {out / 'report.html'} (and report.md, results.json)")
    return 0


def add_scenarios_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario")


def run_scenarios(args: argparse.Namespace) -> int:
    from mip4.experiments.library import radio_profiles, scenario_infos

    infos = scenario_infos()
    if args.json:
        for info in infos:
            print(json.dumps(info.to_dict()))
        return 0
    width = max(len(i.name) for i in infos)
    for info in infos:
        shows = f" [shows {'; '.join(info.methods)}]" if info.methods else ""
        print(f"{info.name:<{width}}  {info.description}{shows}")
    profiles = "; ".join(
        f"{name} (" + ", ".join(f"{k} {v:g}" for k, v in values.items()) + ")"
        for name, values in radio_profiles().items()
    )
    print(f"\nradio profiles (--set radio.profile=NAME; every key overridable): {profiles}")
    return 0


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    _scenario_arguments(parser)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        required=True,
        metavar="KEY=V1,V2,...",
        help="a scenario key and its values, e.g. radio.trigger_lead_ms=0,20,50 (repeatable: "
        "the grid is the product; the first key is the plots' x axis)",
    )
    parser.add_argument(
        "--methods", metavar="A,B", help="methods to run (default: every available method)"
    )
    parser.add_argument(
        "--seeds", type=int, default=3, metavar="N", help="seeds per point (default: 3)"
    )
    parser.add_argument(
        "--out", default="out/sweep", metavar="DIR", help="output folder (default: out/sweep)"
    )
    parser.add_argument(
        "--dask", metavar="ADDRESS", help="run on this Dask scheduler instead of local processes"
    )
    parser.add_argument(
        "--workers", type=int, default=None, metavar="N", help="local processes (default: CPUs)"
    )


def run_sweep(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from mip4.experiments import sweep
    from mip4.experiments.library import select_methods

    try:
        params = sweep.parse_params(args.param)
        methods = select_methods(args.methods)
        specs = sweep.plan_runs(args.scenario, args.overrides, params, methods, args.seeds)
        out = Path(args.out)
        # read only: the CSV is repaired (read_done) under the folder's lock, in sweep.sweep
        sweep.check_columns(out / sweep.CSV_NAME, sweep.columns(params))
    except LocalUsageError as exc:
        print(f"mip4 sweep: error: {exc}", file=sys.stderr)
        return 2
    console = _console(stderr=True)
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("runs", total=len(specs))

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            outcome = sweep.sweep(
                specs, params, out, dask=args.dask, workers=args.workers, advance=advance
            )
        except (OSError, LocalUsageError) as exc:
            print(f"mip4 sweep: error: {exc}", file=sys.stderr)
            return 2
    csv_path = out / sweep.CSV_NAME
    if outcome.interrupted:
        console.print(
            f"interrupted: {outcome.skipped + outcome.finished} of {outcome.total} runs are in "
            f"{csv_path}; run the same command again to resume"
        )
        return 130
    for spec, error in outcome.failed[:5]:
        console.print(
            f"[red]run failed[/red] {spec.method} seed {spec.seed} {spec.params}: {error}"
        )
    plots = sweep.plot(out, params, methods)
    console.print(
        f"{outcome.finished} runs done, {outcome.skipped} already there, "
        f"{len(outcome.failed)} failed; rows in {csv_path}; plots {', '.join(map(str, plots))}"
    )
    return 1 if outcome.failed else 0


def add_validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", metavar="DIR", help="write validate.csv, validate.md and the plot into DIR"
    )
    parser.add_argument(
        "--seeds", type=int, default=4, metavar="N", help="seeds per point (default: 4)"
    )
    parser.add_argument(
        "--methods", metavar="A,B", help="methods to check (default: every available method)"
    )
    parser.add_argument("--quick", action="store_true", help="a small grid (checks that it runs)")
    parser.add_argument(
        "--workers", type=int, default=None, metavar="N", help="local processes (default: CPUs)"
    )


def run_validate(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress
    from rich.table import Table

    from mip4.experiments import validate
    from mip4.experiments.library import select_methods

    try:
        methods = select_methods(args.methods)
        if args.seeds < 1:
            raise LocalUsageError("--seeds must be at least 1")
    except LocalUsageError as exc:
        print(f"mip4 validate: error: {exc}", file=sys.stderr)
        return 2
    console = _console()
    with Progress(
        "{task.description}", BarColumn(), MofNCompleteColumn(), console=_console(stderr=True)
    ) as progress:
        task = progress.add_task("runs", total=None)
        points = validate.validate(
            methods,
            seeds=args.seeds,
            quick=args.quick,
            workers=args.workers,
            advance=lambda done, total: progress.update(task, completed=done, total=total),
        )
    out = Table(
        title="analytical model against the simulator: L3 extra (ms)",
        caption=f"agrees: within one packet interval ({validate.INTERVAL_MS:g} ms) plus the "
        "95% confidence interval of the simulated mean",
    )
    for column in ("parameter", "value", "method", "model", "simulated", "95% CI", "n", "agrees"):
        out.add_column(column, justify="left" if column in ("parameter", "method") else "right")
    for p in points:
        out.add_row(
            p.parameter,
            f"{p.value:g}",
            p.method,
            "-" if p.model is None else f"{p.model:.1f}",
            f"{p.sim_mean:.1f}",
            f"±{p.sim_ci:.1f}",
            str(p.samples),
            {True: "yes", False: "[red]no[/red]", None: "-"}[p.agrees],
        )
    console.print(out)
    agreed = sum(1 for p in points if p.agrees)
    judged = sum(1 for p in points if p.agrees is not None)
    console.print(f"{agreed} of {judged} points agree with the model")
    if args.out:
        paths = validate.write(points, Path(args.out))
        console.print(f"written: {', '.join(str(p) for p in paths)}")
    return 0


# ---------------------------------------------------------------------------- simulate --msc


def add_simulate_msc_arguments(parser: argparse.ArgumentParser) -> None:
    """``mip4 simulate --msc FILE`` (design.md): the chart needs this package, which
    :mod:`mip4.sim` cannot import, so the option and its handler live here."""
    parser.add_argument(
        "--msc",
        metavar="FILE",
        help="write the Mermaid sequence chart of MN1's handoff (the first measurable one, "
        "or --msc-handoff N) from the run's trace to FILE ('-': stdout)",
    )
    parser.add_argument(
        "--msc-handoff",
        type=int,
        default=None,
        metavar="N",
        help="with --msc: chart MN1's N-th handoff (from 1)",
    )


def run_simulate(args: argparse.Namespace) -> int:
    """``mip4 simulate``; with ``--msc`` the run also keeps a focused trace (every control
    record, MN1's data) and writes the chart of one handoff with
    :func:`mip4.experiments.msc.mermaid`."""
    from mip4.sim import command as sim_command

    if not getattr(args, "msc", None):
        return sim_command.run(args)
    from mip4.experiments.compare import FOCUS_MN, shown_handoff
    from mip4.experiments.focus import FocusSink, handoff_window, participants, window_events
    from mip4.experiments.msc import mermaid
    from mip4.sim.runner import World, check_method
    from mip4.sim.scenario import load_scenario
    from mip4.sim.trace import JsonLinesSink, TraceSink

    try:
        check_method(args.method)
        scenario = load_scenario(args.scenario, args.overrides)
    except LocalUsageError as exc:
        print(f"mip4 simulate: error: {exc}", file=sys.stderr)
        return 2
    focus = FocusSink(FOCUS_MN)
    try:
        with contextlib.ExitStack() as stack:
            sinks: list[TraceSink] = [focus]
            if args.trace:
                stream = stack.enter_context(open(args.trace, "w", encoding="utf-8"))
                sinks.append(JsonLinesSink(stream))
            world = World(scenario, args.method, seed=args.seed, sinks=sinks, pcap_dir=args.pcap)
            result = world.run()
    except OSError as exc:
        print(f"mip4 simulate: error: {exc}", file=sys.stderr)
        return 2
    assert scenario.radio.trigger_lead_ms is not None
    handoff = shown_handoff(result, number=args.msc_handoff)
    window = handoff_window(focus.records, handoff, lead_s=scenario.radio.trigger_lead_ms / 1000.0)
    if window is None:
        text = f"sequenceDiagram\n    Note over {FOCUS_MN}: no handoff to chart\n"
    else:
        title = f"{args.method}: {window.mn} {window.source} -> {window.target}"
        text = mermaid(
            window,
            participants(window, focus.records),
            window_events(focus.records, window),
            title=title,
        )
    try:
        if args.msc == "-":
            sys.stdout.write(text)
        else:
            Path(args.msc).write_text(text, encoding="utf-8")
        if args.json == "-":
            json.dump(result, sys.stdout, indent=2)
            sys.stdout.write("\n")
        elif args.json:
            with open(args.json, "w", encoding="utf-8") as out:
                json.dump(result, out, indent=2)
                out.write("\n")
        elif args.msc != "-":
            print(sim_command.format_table(result))
    except OSError as exc:
        print(f"mip4 simulate: error: {exc}", file=sys.stderr)
        return 2
    return 0
