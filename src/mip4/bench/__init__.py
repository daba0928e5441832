"""``mip4 bench``: speed measurements against an in-process baseline (design: "Speed is
measured by ``mip4 bench``, which prints figures and ratios against a baseline run in the
same process"). Tests run them with ``--quick`` and never assert timings.

Benchmarks: ``codec`` (:mod:`mip4.bench.codec`), ``sim`` (:mod:`mip4.bench.sim`),
``daemon`` (:mod:`mip4.bench.daemon`).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``mip4 bench`` sub-commands."""
    benches = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    codec = benches.add_parser(
        "codec",
        help="encode and decode (with authenticator verification) rates, against scapy",
        description="Messages per second to encode and to decode with authenticator "
        "verification: a Registration Request with MN-HA authentication, a Handoff Request "
        "with FA-FA authentication and an LLA, and an Agent Advertisement with an LLA; "
        "with scapy's decode rate for the same Registration Request bytes and the ratio.",
    )
    codec.add_argument(
        "--json",
        metavar="FILE",
        help="write the figures as JSON to FILE ('-' for stdout) instead of a table",
    )
    codec.add_argument(
        "--quick",
        action="store_true",
        help="a few iterations only (checks that the bench runs; the figures mean nothing)",
    )
    codec.add_argument(
        "--seconds",
        type=float,
        default=0.2,
        metavar="S",
        help="minimum duration of one timed repeat (default 0.2)",
    )
    codec.add_argument(
        "--repeats",
        type=int,
        default=5,
        metavar="N",
        help="timed repeats per measurement; the best is reported (default 5)",
    )
    _add_sim(benches)
    _add_daemon(benches)


def _add_daemon(benches: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from mip4.bench.daemon import add_arguments as add_daemon_arguments

    daemon = benches.add_parser(
        "daemon",
        help="real daemons (root): HA registrations/s, FA relays/s, data-plane packets/s",
        description="Registrations per second handled by an HA daemon and relayed by an FA "
        "daemon, a bare asyncio UDP echo server's rate in the same run and the ratios, and "
        "the user-space tunnel's packets per second (network namespaces; needs root).",
    )
    add_daemon_arguments(daemon)


def _add_sim(benches: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from mip4.bench.sim import add_arguments as add_sim_arguments

    sim = benches.add_parser(
        "sim",
        help="simulator speed: events per second on the grid with 1 to 1000 MNs",
        description="Wall and CPU time, events per second, simulated seconds per wall "
        "second and the CPU cost per MN-second for the grid scenario with 1, 10, 100 and "
        "1000 MNs moving and calling: every size runs the same timeline and only the "
        "10 s calling window is timed (warm-up and drain excluded), in which every MN "
        "changes cell at least three times.",
    )
    add_sim_arguments(sim)


def run(args: argparse.Namespace) -> int:
    """Dispatch ``mip4 bench BENCH``."""
    if args.bench == "codec":
        from mip4.bench.codec import run as run_codec

        return run_codec(args)
    if args.bench == "sim":
        from mip4.bench.sim import run as run_sim

        return run_sim(args)
    if args.bench == "daemon":
        from mip4.bench.daemon import run as run_daemon

        return run_daemon(args)
    raise AssertionError(f"unknown bench {args.bench!r}")  # argparse restricts the choices


__all__ = ["add_arguments", "run"]
