"""``mip4 compare``: every available method on one scenario, with the same seed.

:func:`compare` runs the methods one after another (each run keeps the control records of
the whole world and the data records of MN1 in memory, see :class:`~.focus.FocusSink`) and
returns a :class:`Comparison`; :func:`compare_json` is the ``compare --json`` object of
design.md; :func:`table` is the rich table the command prints; :mod:`.report` writes the
report from the same object.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from mip4.experiments.focus import (
    Event,
    FocusSink,
    Window,
    handoff_window,
    participants,
    window_events,
)
from mip4.experiments.library import featured_methods
from mip4.experiments.plots import TimelineData
from mip4.sim.runner import World
from mip4.sim.scenario import Scenario
from mip4.sim.trace import TraceRecord

FOCUS_MN = "MN1"
# which methods ``compare`` also runs with protocol.smooth_handoff (buffering beyond RFC 4881)
SMOOTH_MODES = ("low-latency", "all", "none")
TIMELINE_MAX_S = 3.0  # the timeline ends at most this long after L2-LD


def smooth_applies(method: str) -> bool:
    """Whether smooth handoff is about ``method``: the low-latency methods of RFC 4881,
    whose oFA knows the nFA to forward to and whose nFA can hold the MN's packets
    (PRE-REGISTRATION, POST-REGISTRATION and combined; design.md, "Smooth handoff")."""
    return method.startswith(("pre-", "post-")) or method == "combined"


@dataclass(slots=True)
class MethodRun:
    """One method's run: its result, the focused trace and the handoff the charts show."""

    method: str
    result: dict[str, Any]
    records: list[TraceRecord] = field(default_factory=list)
    window: Window | None = None
    names: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    smooth: bool = False  # protocol.smooth_handoff of the run

    @property
    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = self.result["summary"]
        return summary

    @property
    def label(self) -> str:
        """The method, with ``(smooth)`` for the smooth-handoff variant."""
        return f"{self.method} (smooth)" if self.smooth else self.method

    @property
    def slug(self) -> str:
        """The label as a file name: ``pre-source`` or ``pre-source-smooth``."""
        return f"{self.method}-smooth" if self.smooth else self.method


@dataclass(slots=True)
class Comparison:
    scenario: Scenario
    seed: int
    overrides: list[str]
    runs: list[MethodRun]
    source: str = ""  # the SCENARIO argument (a built-in name or a file)
    smooth: str = "low-latency"  # one of SMOOTH_MODES

    def command_line(self) -> str:
        """The ``mip4 compare`` command that reproduces these runs."""
        words = ["mip4", "compare", self.source or self.scenario.name]
        for assignment in self.overrides:
            words += ["--set", assignment]
        words += ["--seed", str(self.seed)]
        methods = list(dict.fromkeys(r.method for r in self.runs))
        words += ["--methods", ",".join(methods)]
        if self.smooth == "all":
            words.append("--smooth-both")
        elif self.smooth == "none":
            words.append("--no-smooth")
        return shlex.join(words)

    @property
    def featured(self) -> list[str]:
        return featured_methods(self.scenario)

    def featured_text(self) -> str:
        """The scenario's own methods, those not run (``--methods``) marked."""
        ran = {r.method for r in self.runs}
        return ", ".join(m if m in ran else f"{m} (not run)" for m in self.featured)


def shown_handoff(
    result: dict[str, Any], mn: str = FOCUS_MN, number: int | None = None
) -> dict[str, Any] | None:
    """The handoff of ``mn`` the charts show: its ``number``-th (from 1), else the first whose
    disruption could be measured (else its first)."""
    mine = [h for h in result["handoffs"] if h["mn"] == mn]
    if number is not None:
        return mine[number - 1] if 0 < number <= len(mine) else None
    measured = [h for h in mine if h.get("disruption_ms") is not None]
    chosen: dict[str, Any] | None = (measured or mine or [None])[0]
    return chosen


def run_method(
    scenario: Scenario,
    method: str,
    seed: int,
    *,
    pcap_dir: Path | None = None,
    trace_path: Path | None = None,
    handoff: int | None = None,
    smooth: bool | None = None,
) -> MethodRun:
    """Run one method with a focused trace; find the window of MN1's ``handoff``-th handoff
    (default: its first measurable one) and its events. ``smooth`` (when not None) sets
    ``protocol.smooth_handoff`` (None: the scenario's)."""
    if smooth is not None:
        protocol = scenario.protocol.model_copy(update={"smooth_handoff": smooth})
        scenario = scenario.model_copy(update={"protocol": protocol})
    sink = FocusSink(FOCUS_MN)
    world = World(scenario, method, seed=seed, sinks=[sink], pcap_dir=pcap_dir)
    result = world.run()
    if trace_path is not None:
        sink.write_jsonl(trace_path)
    assert scenario.radio.trigger_lead_ms is not None
    run = MethodRun(method, result, sink.records, smooth=scenario.protocol.smooth_handoff)
    run.window = handoff_window(
        sink.records,
        shown_handoff(result, number=handoff),
        lead_s=scenario.radio.trigger_lead_ms / 1000.0,
    )
    if run.window is not None:
        run.names = participants(run.window, sink.records)
        run.events = window_events(sink.records, run.window)
    return run


def compare(
    scenario: Scenario,
    methods: Sequence[str],
    *,
    seed: int | None = None,
    out: Path | None = None,
    pcaps: bool = True,
    workers: int = 1,
    handoff: int | None = None,
    smooth: str = "low-latency",
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """Run every method in ``methods`` on ``scenario`` with the same seed; with ``workers``
    above 1 the methods run in that many processes (the results are the same).

    ``smooth`` (one of :data:`SMOOTH_MODES`) says which methods run twice, right after one
    another: without and with ``protocol.smooth_handoff`` (issue: "compare shows both").
    ``"low-latency"`` (the default): the methods :func:`smooth_applies` to; ``"all"``: every
    method; ``"none"``: none. A method run once keeps the scenario's own setting."""
    if smooth not in SMOOTH_MODES:
        raise ValueError(f"smooth: {smooth!r}, expected one of {', '.join(SMOOTH_MODES)}")
    seed = scenario.seed if seed is None else seed
    jobs: list[tuple[str, bool | None, Path | None, Path | None]] = []
    for method in methods:
        both = smooth == "all" or (smooth == "low-latency" and smooth_applies(method))
        variants: tuple[bool | None, ...] = (False, True) if both else (None,)
        for variant in variants:
            on = scenario.protocol.smooth_handoff if variant is None else variant
            slug = f"{method}-smooth" if on else method
            pcap_dir = trace_path = None
            if out is not None:
                (out / "traces").mkdir(parents=True, exist_ok=True)
                trace_path = out / "traces" / f"{slug}.jsonl"
                if pcaps:
                    pcap_dir = out / "pcap" / slug
            jobs.append((method, variant, pcap_dir, trace_path))
    runs = []
    if workers <= 1 or len(jobs) <= 1:
        for method, variant, pcap_dir, trace_path in jobs:
            if progress is not None:
                progress(f"simulating {scenario.name} with {method}")
            run = run_method(
                scenario,
                method,
                seed,
                pcap_dir=pcap_dir,
                trace_path=trace_path,
                handoff=handoff,
                smooth=variant,
            )
            runs.append(run)
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            futures = [
                pool.submit(
                    run_method,
                    scenario,
                    m,
                    seed,
                    pcap_dir=p,
                    trace_path=t,
                    handoff=handoff,
                    smooth=variant,
                )
                for m, variant, p, t in jobs
            ]
            for done, future in enumerate(futures, start=1):
                if progress is not None:
                    progress(f"simulating {scenario.name}: {done} of {len(jobs)} methods")
                runs.append(future.result())
    return Comparison(scenario, seed, [], runs, smooth=smooth)


def compare_json(comparison: Comparison) -> dict[str, Any]:
    """``{"scenario": str, "results": [{"method": str, "summary": {...}}, ...]}`` (design.md);
    a run with smooth handoff is named by its label, ``METHOD (smooth)``."""
    return {
        "scenario": comparison.scenario.name,
        "results": [{"method": r.label, "summary": r.summary} for r in comparison.runs],
    }


def write_json(data: dict[str, Any], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=2)
        stream.write("\n")


def _ms(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.1f}"


TABLE_COLUMNS = (
    "method",
    "handoffs",
    "disruption mean",
    "p95",
    "max",
    "L3 extra mean",
    "lost",
    "dup",
    "air msgs",
    "air bytes",
    "core msgs",
    "core bytes",
)


def table_rows(comparison: Comparison) -> list[list[str]]:
    """The table's cells, one row per method (milliseconds with one decimal)."""
    rows = []
    for run in comparison.runs:
        s = run.summary
        d = s["disruption_ms"]
        sig = s["signalling"]
        marker = " *" if run.method in comparison.featured else ""
        rows.append(
            [
                run.label + marker,
                str(s["handoffs"]),
                _ms(d["mean"]),
                _ms(d["p95"]),
                _ms(d["max"]),
                _ms(s["l3_extra_ms"]["mean"]),
                str(s["lost"]),
                str(s["duplicates"]),
                str(sig["air"]["messages"]),
                str(sig["air"]["bytes"]),
                str(sig["wired"]["messages"]),
                str(sig["wired"]["bytes"]),
            ]
        )
    return rows


def table(comparison: Comparison) -> Table:
    s = comparison.scenario
    radio = s.radio
    caption = (
        f"seed {comparison.seed}; times in ms; lost/dup: packets of both directions over the "
        f"whole run; signalling on the air and on the wired core. L2 gap {radio.l2_handoff_ms:g}"
        f" ms, trigger lead {radio.trigger_lead_ms:g} ms, d_FH {s.topology.ha_delay_ms:g} ms."
    )
    if comparison.featured:
        caption += f" * the method this scenario shows: {comparison.featured_text()}."
    out = Table(title=f"mip4 compare: {s.name}", caption=caption)
    for i, column in enumerate(TABLE_COLUMNS):
        out.add_column(column, justify="left" if i == 0 else "right")
    for row in table_rows(comparison):
        out.add_row(*row)
    return out


def timeline_span(runs: Sequence[MethodRun]) -> tuple[float, float] | None:
    """The span every timeline panel shows, relative to each run's L2-LD (seconds): the
    data around the gap (a sequence chart may go on to a much later registration), at most
    :data:`TIMELINE_MAX_S` after L2-LD, so that a method that waits a long advertisement
    interval (``standard`` on ``rfc-fig12``) does not squeeze the others' gaps to nothing;
    its panel's title gives its disruption."""
    spans = [
        (r.window.start - r.window.l2_ld, (r.window.data_end or r.window.end) - r.window.l2_ld)
        for r in runs
        if r.window is not None
    ]
    if not spans:
        return None
    return min(a for a, _ in spans), min(TIMELINE_MAX_S, max(b for _, b in spans))


def timeline_data(run: MethodRun, span: tuple[float, float]) -> TimelineData:
    """What the timeline draws for ``run`` (times relative to L2-LD) within ``span``."""
    data = TimelineData(run.label)
    window = run.window
    if window is None:
        return data
    t0 = window.l2_ld
    start, end = t0 + span[0], t0 + span[1]
    data.l2_gap = (0.0, window.l2_lu - t0)
    if window.trigger is not None:
        data.trigger = (window.trigger[0], window.trigger[1] - t0)
    arrived_seqs: set[int] = set()
    sent: list[tuple[float, int]] = []
    for rec in run.records:
        if rec.kind != "data" or rec.fields.get("flow") != "down":
            continue
        seq = int(rec.fields["seq"])  # type: ignore[call-overload]
        if rec.direction == "rx":
            arrived_seqs.add(seq)
            if start <= rec.time <= end:
                data.arrived.append((rec.time - t0, seq))
        elif rec.direction == "tx" and start - 0.2 <= rec.time <= end:
            sent.append((rec.time - t0, seq))
    data.sent = sent
    data.lost = [(t, s) for t, s in sent if s not in arrived_seqs]
    data.signalling = [(e.time - t0, e.source, e.label) for e in run.events if e.kind == "message"]
    shown = [
        h for h in run.result["handoffs"] if h["mn"] == window.mn and h["l2_ld"] == round(t0, 6)
    ]
    if shown:
        data.disruption_ms = shown[0].get("disruption_ms")
        data.l3_extra_ms = shown[0].get("l3_extra_ms")
    return data
