"""The ``mip4`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the option, with exit code 2.

    argparse's own :meth:`~argparse.ArgumentParser.error` prints the whole usage first (five
    lines for ``mip4 simulate``), burying the message; sub-command parsers inherit this class
    (``add_subparsers`` makes them of the parent's type), so the rule holds for all of ``mip4``.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _decode(args: argparse.Namespace) -> int:
    from mip4.decode import run

    return run(args)


def _bench(args: argparse.Namespace) -> int:
    from mip4.bench import run

    return run(args)


def _simulate(args: argparse.Namespace) -> int:
    # --msc needs mip4.experiments (sim/ cannot import it): handled there
    from mip4.experiments.command import run_simulate

    return run_simulate(args)


def _add_simulate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from mip4.sim.command import add_arguments

    simulate = commands.add_parser(
        "simulate",
        help="run one scenario in the discrete-event simulator with one handoff method",
        description="Simulate a scenario (built-in name or TOML file) with a handoff method "
        "and report per-handoff disruption, L3 extra delay, losses and signalling.",
    )
    add_arguments(simulate)
    from mip4.experiments.command import add_simulate_msc_arguments

    add_simulate_msc_arguments(simulate)
    simulate.set_defaults(handler=_simulate)


def _add_daemon(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from mip4.daemon import command

    agent = commands.add_parser(
        "agent",
        help="run one agent (HA, FA, MN or GFA) as a daemon on the real network",
        description="Run a Mobile IPv4 agent from a TOML configuration: UDP 434, raw ICMP "
        "and ESP sockets, a user-space data plane (TUN + raw tunnels), a control socket. "
        "--check validates the file and exits 0, or 2 with one line per problem.",
    )
    command.add_agent_arguments(agent)
    agent.set_defaults(handler=command.run_agent)
    trigger = commands.add_parser(
        "trigger",
        help="send an L2 trigger (L2-MT/ST/TT/LU/LD) to a running daemon",
        description="Send one L2 trigger with key=value parameters to a daemon's control "
        "socket, e.g. 'mip4 trigger --socket S L2-LU interface=mn-radio'.",
    )
    command.add_trigger_arguments(trigger)
    trigger.set_defaults(handler=command.run_trigger)
    status = commands.add_parser(
        "status",
        help="show a running daemon's bindings, visitors, tunnels and drop counters",
        description="Print a daemon's state like an operator's show command (--json for scripts).",
    )
    command.add_status_arguments(status)
    status.set_defaults(handler=command.run_status)


def _add_experiments(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from mip4.experiments import command

    compare = commands.add_parser(
        "compare",
        help="run every handoff method on a scenario: table, report with plots, MSCs, pcaps",
        description="Run every available handoff method on one scenario with the same seed "
        "and print a table; with --out write report.html, report.md, charts, sequence "
        "charts, traces, pcaps and results.json.",
    )
    command.add_compare_arguments(compare)
    compare.set_defaults(handler=command.run_compare)
    sweep = commands.add_parser(
        "sweep",
        help="a grid over scenario keys, methods and seeds: tidy CSV and plots with 95%% CIs",
        description="Run a grid of simulations (--param key=v1,v2,... repeatable) in parallel "
        "on local processes or a Dask cluster; write a tidy CSV (one row per run and "
        "handoff), resumable, and line plots with 95% confidence intervals.",
    )
    command.add_sweep_arguments(sweep)
    sweep.set_defaults(handler=command.run_sweep)
    scenarios = commands.add_parser(
        "scenarios",
        help="list the built-in scenarios and radio profiles",
        description="List the built-in scenarios with one line each, and the radio profiles.",
    )
    command.add_scenarios_arguments(scenarios)
    scenarios.set_defaults(handler=command.run_scenarios)
    validate = commands.add_parser(
        "validate",
        help="the analytical model against the simulator, every method",
        description="Run the analytical model of design.md against the simulator over a grid "
        "of T_L2, d_FH, T_adv and trigger lead for every available method; print a table "
        "and, with --out, write it as CSV and Markdown with a plot.",
    )
    command.add_validate_arguments(validate)
    validate.set_defaults(handler=command.run_validate)


def _add_lab(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from mip4.lab import command

    lab = commands.add_parser(
        "lab",
        help="network-namespace lab: real daemons, real CBR traffic, measured handoffs",
        description="'up' builds namespaces (CN, core, HA, FAs, MN; 198.18.0.0/15 only), "
        "'run' runs a scenario with a method on them and prints the same JSON as simulate, "
        "'down' removes everything. Needs root.",
    )
    command.add_arguments(lab)
    lab.set_defaults(handler=command.run)


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = Parser(  # sub-command parsers are Parsers too
        prog="mip4",
        description="Mobile IPv4 with RFC 4881 low-latency handoffs: codecs, simulator, daemons.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from mip4.decode import add_arguments as add_decode_arguments

    decode = commands.add_parser(
        "decode",
        help="decode Mobile IPv4 messages from hex or a capture (JSON lines or a table)",
        description="Decode every Mobile IPv4 message in HEX arguments or a pcap/pcapng "
        "capture: one JSON object per message on stdout; a malformed message prints one "
        "line on stderr naming the frame, field and byte offset, and the exit code is 2.",
    )
    add_decode_arguments(decode)
    decode.set_defaults(handler=_decode)

    from mip4.bench import add_arguments as add_bench_arguments

    bench = commands.add_parser(
        "bench",
        help="measure speed: codec, simulator and daemons (figures and ratios)",
        description="Benchmarks. 'codec': encode and decode-with-verification rates of "
        "the control-message codecs, with scapy's decode rate as the in-process baseline. "
        "'sim': the simulator's events per second and cost per MN-second on the grid with "
        "1 to 1000 MNs moving and calling. 'daemon': real daemons in network namespaces "
        "(root): HA registrations and FA relays per second against a bare asyncio UDP echo "
        "server, and the user-space tunnel's packets per second.",
    )
    add_bench_arguments(bench)
    bench.set_defaults(handler=_bench)
    _add_simulate(commands)
    _add_experiments(commands)
    _add_daemon(commands)
    _add_lab(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mip4`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
