"""matplotlib figures of the reports, returned as SVG (or PNG) bytes.

matplotlib runs headless (the Agg backend); SVG text stays text (``svg.fonttype = none``)
and element ids are salted with a fixed string, so the same results give the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#393b79",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
SIGNALLING_SKIP = frozenset({"agent_advertisement", "inter_fa_solicitation"})


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend with the report's settings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update(
        {"svg.fonttype": "none", "svg.hashsalt": "mip4", "font.size": 9, "axes.grid": True}
    )
    return plt


def figure_bytes(fig: Figure, fmt: str = "svg") -> bytes:
    """``fig`` rendered as ``fmt`` bytes (the figure is closed)."""
    plt = pyplot()
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else None
    fig.savefig(buffer, format=fmt, dpi=110, metadata=metadata)
    plt.close(fig)
    return buffer.getvalue()


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def bar_chart(
    methods: Sequence[str], summaries: Sequence[dict[str, Any]], *, title: str = ""
) -> bytes:
    """:func:`bar_chart_figure` as SVG bytes."""
    return figure_bytes(bar_chart_figure(methods, summaries, title=title))


def bar_chart_figure(
    methods: Sequence[str], summaries: Sequence[dict[str, Any]], *, title: str = ""
) -> Figure:
    """Disruption (mean bar, p95 and max marks) and loss per method. Each method's own mean
    L2 gap is drawn across its bar as its physical floor (gid ``l2-floor``): the methods need
    not have the same one (on ``two-radios`` the single-radio methods have the radio's gap,
    ``multi-interface`` none, RFC 4881 Appendix B), so one line across the panel would sit
    above a method that legitimately beats it."""
    plt = pyplot()
    if len(methods) <= 8:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 4.2))
    else:  # one panel above the other, so that each bar keeps room for its label
        fig, (left, right) = plt.subplots(2, 1, figsize=(max(10.5, 0.6 * len(methods)), 8.4))
    xs = list(range(len(methods)))
    means = [_num(s["disruption_ms"]["mean"]) for s in summaries]
    p95 = [_num(s["disruption_ms"]["p95"]) for s in summaries]
    peak = [_num(s["disruption_ms"]["max"]) for s in summaries]
    left.bar(xs, means, color=[color(i) for i in xs], label="mean disruption")
    left.scatter(xs, p95, marker="_", s=300, color="black", zorder=3, label="p95")
    left.scatter(xs, peak, marker="v", s=25, color="black", zorder=3, label="max")
    gaps = [_num(s["l2_gap_ms"]["mean"]) for s in summaries]
    floored = [(x, g) for x, g in zip(xs, gaps, strict=True) if not math.isnan(g)]
    if floored:
        floor = left.hlines(
            [g for _, g in floored],
            [x - 0.45 for x, _ in floored],
            [x + 0.45 for x, _ in floored],
            colors="#c0392b",
            linestyles="--",
            linewidth=1.6,
            zorder=4,
            label="its L2 gap: physical floor",
        )
        floor.set_gid("l2-floor")
    left.set_xticks(xs, methods, rotation=30, ha="right")
    left.set_ylabel("downlink disruption per handoff (ms)")
    cut = _axis_cut(means, peak, gaps)
    if cut is None:
        left.set_title("Disruption per handoff")
    else:
        # One slow method (standard waiting for an advertisement) would flatten every other
        # bar onto the floor: cut the axis and label what goes past it with its mean.
        left.set_ylim(0, cut)
        for x, mean, top in zip(xs, means, peak, strict=True):
            if max(mean, top) > cut:
                label = left.text(
                    x,
                    cut * 0.98,
                    f"mean {mean:.0f}",
                    ha="center",
                    va="top",
                    fontsize=7,
                    fontweight="bold",
                    color="white",
                    rotation=90,
                )
                label.set_gid("clipped")
        left.set_title(f"Disruption per handoff (axis cut at {cut:.0f} ms)")
    left.legend(loc="upper right", fontsize=7)
    lost = [int(s["lost"]) for s in summaries]
    dups = [int(s["duplicates"]) for s in summaries]
    width = 0.4
    right.bar([x - width / 2 for x in xs], lost, width, color="#c0392b", label="lost")
    right.bar([x + width / 2 for x in xs], dups, width, color="#7f8c8d", label="duplicates")
    for x, value in zip(xs, lost, strict=True):
        right.text(x - width / 2, value, str(value), ha="center", va="bottom", fontsize=7)
    right.set_xticks(xs, methods, rotation=30, ha="right")
    right.set_ylabel("packets, both directions, whole run")
    right.set_title("Loss and duplicates")
    right.legend(loc="upper right", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    figure: Figure = fig
    return figure


def _axis_cut(means: list[float], peaks: list[float], gaps: list[float]) -> float | None:
    """Where to cut the disruption axis, or None to show it whole: when the highest mark is
    more than four times the typical (median) mean, cut at 2.5 typical means, and never
    below 1.5 times the highest L2 floor (which must stay visible)."""
    finite = sorted(m for m in means if not math.isnan(m))
    tops = [v for v in (*means, *peaks) if not math.isnan(v)]
    if not finite or not tops:
        return None
    typical = finite[len(finite) // 2]
    floors = [g for g in gaps if not math.isnan(g)]
    if typical <= 0 or max(tops) <= 4 * typical:
        return None
    return max(2.5 * typical, 1.5 * max(floors, default=0.0))


@dataclass(slots=True)
class TimelineData:
    """What one method's timeline panel shows, times relative to L2-LD (seconds)."""

    method: str
    sent: list[tuple[float, int]] = field(default_factory=list)  # (send time, seq), downlink
    arrived: list[tuple[float, int]] = field(default_factory=list)  # (arrival at the MN, seq)
    lost: list[tuple[float, int]] = field(default_factory=list)  # (send time, seq) never arrived
    l2_gap: tuple[float, float] | None = None  # (L2-LD, L2-LU)
    trigger: tuple[str, float] | None = None
    signalling: list[tuple[float, str, str]] = field(default_factory=list)  # (t, node, label)
    disruption_ms: float | None = None
    l3_extra_ms: float | None = None


def timeline(panels: Sequence[TimelineData], *, span: tuple[float, float]) -> bytes:
    """:func:`timeline_figure` as SVG bytes."""
    return figure_bytes(timeline_figure(panels, span=span))


def timeline_figure(panels: Sequence[TimelineData], *, span: tuple[float, float]) -> Figure:
    """One panel per method: each downlink packet's sequence number against time (sent, grey;
    arrived at the MN, coloured; lost, red), the L2 gap shaded between the L2-LD and L2-LU
    marks, the anticipatory trigger, and the signalling messages as ticks along the top."""
    from mip4.experiments.msc import short_name

    plt = pyplot()
    n = max(1, len(panels))
    # Fixed margins in inches: above each panel stand its signalling labels (about 0.9 in of
    # rotated text that no layout engine accounts for), so the gap between panels is half a
    # panel; the method's summary goes inside its panel, where nothing can overlap it.
    height = 3.0 * n + 0.6
    fig, axes = plt.subplots(n, 1, figsize=(10.5, height), sharex=True, squeeze=False)
    fig.subplots_adjust(
        left=0.07, right=0.98, top=1 - 1.0 / height, bottom=0.6 / height, hspace=0.5
    )
    for i, (ax, data) in enumerate(zip(axes[:, 0], panels, strict=False)):
        ms = 1000.0
        if data.sent:
            ax.scatter(
                [t * ms for t, _ in data.sent],
                [s for _, s in data.sent],
                s=6,
                color="#bbbbbb",
                label="sent by CN",
            )
        if data.arrived:
            ax.scatter(
                [t * ms for t, _ in data.arrived],
                [s for _, s in data.arrived],
                s=8,
                color=color(i),
                label="arrived at MN",
            )
        if data.lost:
            ax.scatter(
                [t * ms for t, _ in data.lost],
                [s for _, s in data.lost],
                s=14,
                marker="x",
                color="#c0392b",
                label="lost (at send time)",
            )
        if data.l2_gap is not None:
            ld, lu = data.l2_gap
            ax.axvspan(ld * ms, lu * ms, color="#f5b7b1", alpha=0.5, lw=0)
            ax.axvline(ld * ms, color="#c0392b", linewidth=1)
            ax.axvline(lu * ms, color="#27ae60", linewidth=1)
            ymin, ymax = ax.get_ylim()
            ax.text(ld * ms, ymin, " L2-LD", color="#c0392b", fontsize=7, va="bottom")
            ax.text(lu * ms, ymin, " L2-LU", color="#27ae60", fontsize=7, va="bottom")
        if data.trigger is not None:
            name, t = data.trigger
            ax.axvline(t * ms, color="#b7950b", linestyle=":", linewidth=1.2)
            ax.text(t * ms, ax.get_ylim()[0], f" {name}", color="#b7950b", fontsize=7)
        ymin, ymax = ax.get_ylim()
        band = ymax + (ymax - ymin) * 0.02
        for t, _node, _label in data.signalling:
            ax.plot([t * ms, t * ms], [ymax, band], color="#1f4e79", linewidth=0.8)
        texts = _spread(data.signalling, span)
        for x, (_t, node, label) in texts:
            ax.text(
                x * ms,
                band,
                f"{short_name(label)} ({node})",
                rotation=90,
                fontsize=6,
                va="bottom",
                ha="center",
                color="#1f4e79",
            )
        ax.set_ylim(ymin, band)
        summary = (
            f"{data.method}: disruption {_fmt(data.disruption_ms)} ms, "
            f"L3 extra {_fmt(data.l3_extra_ms)} ms"
        )
        title = ax.text(
            0.005,
            0.97,
            summary,
            transform=ax.transAxes,
            fontsize=9,
            va="top",
            ha="left",
            bbox={"facecolor": "white", "edgecolor": "#999999", "alpha": 0.9},
        )
        title.set_gid("panel-title")
        ax.set_ylabel("seq")
        ax.set_xlim(span[0] * ms, span[1] * ms)
        if i == 0:
            ax.legend(loc="lower right", fontsize=7)
    axes[-1, 0].set_xlabel("time relative to L2-LD (ms)")
    figure: Figure = fig
    return figure


def _spread(
    items: Sequence[tuple[float, str, str]], span: tuple[float, float]
) -> list[tuple[float, tuple[float, str, str]]]:
    """Label positions (seconds) pushed apart so rotated labels do not overlap."""
    gap = (span[1] - span[0]) / 70.0
    out: list[tuple[float, tuple[float, str, str]]] = []
    last = -math.inf
    for item in sorted(items):
        x = max(item[0], last + gap)
        out.append((x, item))
        last = x
    return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def t_quantile(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (95% two-sided CI)."""
    table = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
    if df <= 0:
        return math.nan
    if df <= len(table):
        return table[df - 1]
    if df < 30:
        return 2.045 + (2.228 - 2.045) * (30 - df) / 20
    return 1.96


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (0 for a single value)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, t_quantile(n - 1) * math.sqrt(variance / n)


def sweep_lines(
    param: str,
    xs: Sequence[object],
    series: dict[str, dict[str, list[tuple[float, float]]]],
    metrics: Sequence[tuple[str, str]],
    fmt: str = "svg",
) -> bytes:
    """:func:`sweep_figure` rendered as ``fmt`` bytes."""
    return figure_bytes(sweep_figure(param, xs, series, metrics), fmt)


def sweep_figure(
    param: str,
    xs: Sequence[object],
    series: dict[str, dict[str, list[tuple[float, float]]]],
    metrics: Sequence[tuple[str, str]],
) -> Figure:
    """One panel per metric: mean against the swept value with a 95% CI band (a
    ``fill_between`` polygon with gid ``ci-METHOD``), one line per method.
    ``series[metric][method]`` holds ``(mean, half_width)`` per value of ``xs``."""
    plt = pyplot()
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
    positions = [float(x) for x in xs] if numeric else list(range(len(xs)))  # type: ignore[arg-type]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.0 * len(metrics), 3.8), squeeze=False)
    for ax, (metric, label) in zip(axes[0], metrics, strict=True):
        for i, (method, points) in enumerate(series[metric].items()):
            means = [p[0] for p in points]
            lo = [p[0] - p[1] for p in points]
            hi = [p[0] + p[1] for p in points]
            ax.plot(positions, means, marker="o", markersize=3, color=color(i), label=method)
            band = ax.fill_between(positions, lo, hi, color=color(i), alpha=0.15, linewidth=0)
            band.set_gid(f"ci-{method}")
        ax.set_xlabel(param)
        ax.set_ylabel(label)
        if not numeric:
            ax.set_xticks(positions, [str(x) for x in xs])
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"sweep over {param}: mean and 95% confidence interval", fontsize=10)
    fig.tight_layout()
    figure: Figure = fig
    return figure


def model_vs_simulation(
    points: Sequence[tuple[str, float, float, float]], interval_ms: float, fmt: str = "svg"
) -> bytes:
    """Simulated against predicted ``l3_extra_ms`` (method, model, sim, CI half-width), with
    the diagonal and the band of one packet interval within which they agree; the right
    panel zooms on the low-latency methods (0 to 200 ms)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 5.0))
    methods = list(dict.fromkeys(p[0] for p in points))
    top = max([p[1] for p in points] + [p[2] for p in points] + [interval_ms]) * 1.08
    for ax, limit in zip(axes, (top, min(top, 200.0)), strict=True):
        ax.fill_between(
            [-interval_ms, limit],
            [-2 * interval_ms, limit - interval_ms],
            [0, limit + interval_ms],
            color="#d5f5e3",
            label=f"agreement (within I = {interval_ms:.0f} ms)",
        )
        ax.plot([-interval_ms, limit], [-interval_ms, limit], color="#27ae60", linewidth=1)
        for i, method in enumerate(methods):
            mine = [p for p in points if p[0] == method]
            ax.errorbar(
                [p[1] for p in mine],
                [p[2] for p in mine],
                yerr=[p[3] for p in mine],
                fmt="o",
                markersize=4,
                color=color(i),
                label=method,
                capsize=2,
                alpha=0.85,
            )
        ax.set_xlim(-interval_ms, limit)
        ax.set_ylim(-interval_ms, limit)
        ax.set_xlabel("analytical model: L3 extra (ms)")
    axes[0].set_ylabel("simulator: mean L3 extra (ms), 95% CI")
    axes[0].set_title("Model against simulation, every method")
    axes[1].set_title("Zoom: 0 to 200 ms")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return figure_bytes(fig, fmt)
