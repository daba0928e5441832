"""``mip4 agent``, ``mip4 trigger`` and ``mip4 status``.

    mip4 agent --config FILE [--check] [--metrics HOST:PORT] [--log-level LEVEL]
    mip4 trigger --socket PATH KIND key=value ...
    mip4 status --socket PATH [--json]

``agent --check`` validates the configuration and exits 0, or 2 with one line per problem
naming the key. Logs are JSON lines on stderr (``ts``, ``level``, ``logger``, ``msg`` and
the event's fields).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import sys
from typing import Any

from mip4.daemon.config import ConfigError, load_config

LOG_LEVELS = ("debug", "info", "warning", "error")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("mip4")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


# ---------------------------------------------------------------------------- agent


def add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="the agent's TOML file")
    parser.add_argument(
        "--check", action="store_true", help="validate the configuration and exit (0 or 2)"
    )
    parser.add_argument(
        "--metrics", metavar="HOST:PORT", help="serve Prometheus metrics at this address"
    )
    parser.add_argument(
        "--log-level", default="info", choices=LOG_LEVELS, help="log level (default: info)"
    )


def run_agent(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{args.config}: {problem}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: ok ({config.role} {config.name})")
        return 0
    if args.metrics is not None:
        _host, sep, port = args.metrics.rpartition(":")
        if not sep or not port.isdigit():
            print(
                f"mip4 agent: error: --metrics: expected HOST:PORT, got {args.metrics!r}",
                file=sys.stderr,
            )
            return 2
    setup_logging(args.log_level)
    from mip4.daemon.control import ControlSocketError
    from mip4.daemon.runtime import run_daemon

    try:
        return asyncio.run(run_daemon(config, metrics_address=args.metrics))
    except ControlSocketError as exc:
        print(f"mip4 agent: error: {config.source}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"mip4 agent: error: {_name_the_key(config, exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _name_the_key(config: Any, exc: OSError) -> str:
    """``interfaces.access: no interface 'x'`` rather than a bare errno when we can."""
    if exc.errno == errno.ENODEV:
        for key, name in config.interfaces.items():
            if repr(name) in str(exc):
                return f"{config.source}: interfaces.{key}: no interface {name!r} here"
    return str(exc)


# ---------------------------------------------------------------------------- trigger


def add_trigger_arguments(parser: argparse.ArgumentParser) -> None:
    from mip4.daemon.control import KINDS

    parser.add_argument("--socket", required=True, metavar="PATH", help="the control socket")
    parser.add_argument("kind", metavar="KIND", help=" | ".join(KINDS))
    parser.add_argument("params", nargs="*", metavar="KEY=VALUE", help="trigger parameters")


def _request(path: str, message: dict[str, object], command: str) -> Any:
    from mip4.daemon.control import request

    try:
        return request(path, message)
    except OSError as exc:
        print(f"mip4 {command}: error: {path}: {exc.strerror or exc}", file=sys.stderr)
        return None


def run_trigger(args: argparse.Namespace) -> int:
    from mip4.daemon.control import TriggerError, parse_trigger, parse_words

    try:
        params = parse_words(args.params)
        parse_trigger(args.kind, params)  # refuse locally what the daemon would refuse
    except TriggerError as exc:
        print(f"mip4 trigger: error: {exc}", file=sys.stderr)
        return 2
    answer = _request(
        args.socket, {"command": "trigger", "kind": args.kind, "params": params}, "trigger"
    )
    if answer is None:
        return 1
    if not answer.get("ok"):
        print(f"mip4 trigger: error: {answer.get('error')}", file=sys.stderr)
        return 2
    print(f"{args.kind}: ok ({', '.join(answer.get('actions', [])) or 'no actions'})")
    return 0


# ---------------------------------------------------------------------------- status


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--socket", required=True, metavar="PATH", help="the control socket")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def run_status(args: argparse.Namespace) -> int:
    answer = _request(args.socket, {"command": "status"}, "status")
    if answer is None:
        return 1
    if not answer.get("ok"):
        print(f"mip4 status: error: {answer.get('error')}", file=sys.stderr)
        return 2
    status = answer["status"]
    if args.json:
        json.dump(status, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print_status(status)
    return 0


def _seconds(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float):
        return f"{value:.1f}s"
    return str(value)


def _remaining(entry: object, *keys: str) -> object:
    """The first remaining lifetime ``entry`` has under ``keys`` (None: no entry)."""
    if not isinstance(entry, dict):
        return None
    for key in keys:
        if entry.get(key) is not None:
            return entry[key]
    return None


def print_status(status: dict[str, Any]) -> None:
    """Print :func:`render_status` on the terminal."""
    import shutil

    sys.stdout.write(render_status(status, width=shutil.get_terminal_size().columns))


def render_status(status: dict[str, Any], *, width: int = 120) -> str:
    """An operator's ``show`` view: bindings, visitors, pending requests, the data plane's
    tunnels with their lifetimes remaining, POST-REGISTRATION tunnels (BETs), drop counters.

    A tunnel's remaining lifetime is the agent's entry behind it: the binding for an HA's or
    GFA's tunnel, the visitor for an FA's delivery and reverse tunnel, the BET for a forward
    tunnel, a BET's reverse tunnel and an nFA's delivery before registration (RFC 4881
    §4.1); ``-`` where the agent keeps none (PRE-REGISTRATION's smooth
    forwarding, the MN's default router).
    """
    import io

    from rich.console import Console
    from rich.table import Table

    stream = io.StringIO()
    console = Console(file=stream, width=max(width, 80), highlight=False)
    agent = status.get("agent", {})
    dataplane = status.get("dataplane", {})
    console.print(
        f"[bold]{status.get('name')}[/bold] ({status.get('role')}), "
        f"up {_seconds(status.get('uptime'))}, TUN {dataplane.get('tun') or '-'}"
    )
    bindings = agent.get("bindings") or {}
    if isinstance(bindings, dict) and bindings:
        table = Table(title="Mobility bindings")
        for column in ("home address", "care-of address", "lifetime", "remaining", "mode", "T"):
            table.add_column(column)
        for home, entries in bindings.items():
            for entry in entries if isinstance(entries, list) else [entries]:
                table.add_row(
                    home,
                    str(entry.get("care_of_address")),
                    str(entry.get("lifetime")),
                    _seconds(entry.get("lifetime_remaining")),
                    str(entry.get("mode")),
                    "yes" if entry.get("reverse_tunnel") else "no",
                )
        console.print(table)
    visitors = agent.get("visitors") or {}
    if isinstance(visitors, dict) and visitors:
        table = Table(title="Visitors")
        for column in ("home address", "MAC", "home agent", "remaining", "T", "mode"):
            table.add_column(column)
        for home, entry in visitors.items():
            table.add_row(
                home,
                str(entry.get("link_address") or entry.get("current_fa") or "-"),
                str(entry.get("home_agent")),
                _seconds(_remaining(entry, "lifetime_remaining", "regional_lifetime_remaining")),
                "yes" if entry.get("reverse_tunnel") else "no",
                str(entry.get("mode")),
            )
        console.print(table)
    pending = agent.get("pending") or {}
    if isinstance(pending, dict) and pending:
        table = Table(title="Pending requests")
        for column in ("home address", "home agent", "care-of address", "age"):
            table.add_column(column)
        for home, entry in pending.items():
            table.add_row(
                home,
                str(entry.get("home_agent", "-")),
                str(entry.get("care_of_address", entry.get("fa", "-"))),
                _seconds(entry.get("age")),
            )
        console.print(table)
    bets = (agent.get("post_registration") or {}).get("bets") or {}
    if bets:
        table = Table(title="POST-REGISTRATION tunnels (BETs, RFC 4881 §4)")
        for column in ("home address", "phase", "peer", "lifetime", "remaining", "T", "to HA"):
            table.add_column(column)
        for home, bet in bets.items():
            table.add_row(
                home,
                str(bet.get("phase")),
                str(bet.get("peer")),
                str(bet.get("lifetime")),
                _seconds(bet.get("lifetime_remaining")),
                "yes" if bet.get("reverse") else "no",
                "yes" if bet.get("to_home_agent") else "no",
            )
        console.print(table)
    if status.get("role") == "mn":
        table = Table(title="Mobile node")
        table.add_column("key")
        table.add_column("value")
        for key, value in agent.items():
            if key not in ("drops", "name", "role"):
                table.add_row(key, json.dumps(value, default=str))
        console.print(table)
    tunnels = Table(title="Data plane")
    for column in ("kind", "key", "value", "remaining"):
        tunnels.add_column(column)
    for home, b in (dataplane.get("bindings") or {}).items():
        entries = bindings.get(home) if isinstance(bindings, dict) else None
        if not isinstance(entries, list):  # a GFA's regional binding is its visitor
            entries = [visitors.get(home)] if isinstance(visitors, dict) else []
        for coa in b["care_of_addresses"]:
            entry = next(
                (e for e in entries if isinstance(e, dict) and e.get("care_of_address") == coa),
                entries[0] if len(entries) == 1 else None,
            )
            tunnels.add_row(
                "tunnel",
                home,
                f"-> {coa} ({b['mode']})",
                _seconds(_remaining(entry, "lifetime_remaining", "regional_lifetime_remaining")),
            )
    for home, v in (dataplane.get("visitors") or {}).items():
        tunnels.add_row(
            "deliver",
            home,
            f"{v['interface']} {v['link_address']}",
            # a POST-REGISTRATION nFA delivers under the BET before any registration
            _seconds(_remaining(visitors.get(home) or bets.get(home), "lifetime_remaining")),
        )
    for home, u in (dataplane.get("uplinks") or {}).items():
        target = u.get("tunnel_destination")
        bet = bets.get(home)
        remaining = _remaining(bet if target and bet else visitors.get(home), "lifetime_remaining")
        tunnels.add_row(
            "uplink", home, u["mode"] + (f" -> {target}" if target else ""), _seconds(remaining)
        )
    for home, peer in (dataplane.get("forward_tunnels") or {}).items():
        tunnels.add_row(
            "forward",
            home,
            f"-> {peer}",
            _seconds(_remaining(bets.get(home), "lifetime_remaining")),
        )
    for home, b in (dataplane.get("buffers") or {}).items():
        tunnels.add_row("buffer", home, f"{b['held']}/{b['limit']}", "-")
    router = dataplane.get("default_router")
    if router:
        tunnels.add_row("default", router["router"], f"{router['interface']}", "-")
    for name, count in (dataplane.get("counters") or {}).items():
        tunnels.add_row("counter", name, str(count), "")
    console.print(tunnels)
    drops = Table(title="Drops")
    drops.add_column("layer")
    drops.add_column("reason")
    drops.add_column("count", justify="right")
    for layer, counts in (
        ("agent", status.get("agent_drops") or {}),
        ("data plane", dataplane.get("drops") or {}),
        ("daemon", (status.get("daemon") or {}).get("drops") or {}),
    ):
        for reason, count in counts.items():
            drops.add_row(layer, reason, str(count))
    if drops.row_count:
        console.print(drops)
    else:
        console.print("Drops: none")
    return stream.getvalue()


__all__ = [
    "add_agent_arguments",
    "add_status_arguments",
    "add_trigger_arguments",
    "render_status",
    "run_agent",
    "run_status",
    "run_trigger",
    "setup_logging",
]
