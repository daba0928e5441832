"""``mip4 validate``: the analytical model (:mod:`.model`) against the simulator.

Around the ``corridor`` baseline (d_w 2 ms, d_FF 2 ms, d_FH 20 ms, T_L2 100 ms, T_adv 1 s,
lead 200 ms, a packet every 20 ms) one key varies at a time over a grid of T_L2, d_FH, T_adv
and trigger lead; every available method runs at every point with several seeds. For each
point and method the table gives the model's ``l3_extra_ms``, the simulator's mean over
every handoff and seed with its 95% confidence interval, and whether they agree: within one
packet interval, widened by the confidence interval where the method is random (the
``standard`` method waits a random part of an advertisement interval).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mip4.experiments.model import Parameters, predict
from mip4.experiments.plots import mean_ci, model_vs_simulation
from mip4.experiments.runner import RunSpec, run_spec

SCENARIO = "corridor"
INTERVAL_MS = 20.0
Grid = dict[str, tuple[str, str, tuple[float, ...], dict[str, float]]]
GRID: Grid = {
    # name: (scenario key, model field, values, other model fields at these points)
    "T_L2": ("radio.l2_handoff_ms", "t_l2", (50.0, 100.0, 200.0), {}),
    "d_FH": ("topology.ha_delay_ms", "d_fh", (10.0, 20.0, 40.0, 80.0), {}),
    "T_adv": ("protocol.advertisement_interval_ms", "t_adv", (500.0, 1000.0, 2000.0), {}),
    "lead": ("radio.trigger_lead_ms", "lead", (0.0, 20.0, 50.0, 100.0, 200.0), {}),
    # a short L2 gap, so that the lead, not the gap, decides whether PRE is in time
    "lead, T_L2 20": (
        "radio.trigger_lead_ms",
        "lead",
        (0.0, 5.0, 10.0, 20.0, 50.0),
        {"t_l2": 20.0},
    ),
}
QUICK_GRID: Grid = {
    "d_FH": ("topology.ha_delay_ms", "d_fh", (10.0, 40.0), {}),
    "lead, T_L2 20": ("radio.trigger_lead_ms", "lead", (0.0, 10.0), {"t_l2": 20.0}),
}
BASE = (
    "radio.profile=wlan",
    "radio.air_delay_ms=2",
    "topology.fa_delay_ms=2",
    f"traffic.interval_ms={INTERVAL_MS:g}",
)


@dataclass(slots=True)
class Point:
    """One grid point and method: model against simulation."""

    parameter: str
    value: float
    method: str
    model: float | None
    sim_mean: float
    sim_ci: float
    samples: int

    @property
    def agrees(self) -> bool | None:
        if self.model is None or self.samples == 0:
            return None
        return abs(self.sim_mean - self.model) <= INTERVAL_MS + self.sim_ci

    def row(self) -> dict[str, object]:
        return {
            "parameter": self.parameter,
            "value": self.value,
            "method": self.method,
            "model_l3_extra_ms": None if self.model is None else round(self.model, 3),
            "sim_l3_extra_ms": round(self.sim_mean, 3),
            "sim_ci95_ms": round(self.sim_ci, 3),
            "samples": self.samples,
            "agrees": self.agrees,
        }


def l3_extra_values(spec: RunSpec) -> list[float]:
    """The ``l3_extra_ms`` of every handoff of one run (a worker's job)."""
    result = run_spec(spec)
    return [float(h["l3_extra_ms"]) for h in result["handoffs"] if h["l3_extra_ms"] is not None]


def plan(
    methods: Sequence[str], seeds: int, quick: bool = False
) -> list[tuple[str, float, Parameters, RunSpec]]:
    """Every run: (parameter, value, model parameters, run) per point, method and seed."""
    grid = QUICK_GRID if quick else GRID
    out = []
    for name, (key, attr, values, fixed) in grid.items():
        for value in values:
            params = Parameters(**{**fixed, attr: value})
            overrides = (
                *BASE,
                f"topology.ha_delay_ms={params.d_fh:g}",
                f"radio.l2_handoff_ms={params.t_l2:g}",
                f"protocol.advertisement_interval_ms={params.t_adv:g}",
                f"radio.trigger_lead_ms={params.lead:g}",
            )
            for method in methods:
                for seed in range(1, seeds + 1):
                    spec = RunSpec(SCENARIO, method, seed, overrides, ((key, f"{value:g}"),))
                    out.append((name, value, params, spec))
    return out


def validate(
    methods: Sequence[str],
    *,
    seeds: int = 4,
    quick: bool = False,
    workers: int | None = None,
    advance: Callable[[int, int], None] | None = None,
) -> list[Point]:
    """Run the grid (local processes) and compare every point with the model."""
    runs = plan(methods, seeds, quick)
    samples: dict[tuple[str, float, str], list[float]] = {}
    models: dict[tuple[str, float, str], float | None] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(l3_extra_values, spec) for _, _, _, spec in runs]
        for done, ((name, value, params, spec), future) in enumerate(
            zip(runs, futures, strict=True), start=1
        ):
            key = (name, value, spec.method)
            samples.setdefault(key, []).extend(future.result())
            models[key] = predict(spec.method, params)
            if advance is not None:
                advance(done, len(runs))
    points = []
    for (name, value, method), values in samples.items():
        mean, ci = mean_ci(values)
        model = models[(name, value, method)]
        points.append(Point(name, value, method, model, mean, ci, len(values)))
    return points


def write(points: Sequence[Point], out: Path) -> list[Path]:
    """``validate.csv``, ``validate.md``, ``validate.svg`` and ``validate.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rows = [p.row() for p in points]
    csv_path = out / "validate.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    md = out / "validate.md"
    lines = [
        "# Model against simulation",
        "",
        __doc__.strip().split("\n\n", 1)[1].replace("\n", " ") if __doc__ else "",
        "",
        "![model against simulation](validate.png)",
        "",
        "| parameter | value | method | model L3 extra (ms) | simulated (ms) | 95% CI | n "
        "| agrees |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for p in points:
        model = "-" if p.model is None else f"{p.model:.1f}"
        agree = {True: "yes", False: "**no**", None: "-"}[p.agrees]
        lines.append(
            f"| {p.parameter} | {p.value:g} | {p.method} | {model} | {p.sim_mean:.1f} | "
            f"±{p.sim_ci:.1f} | {p.samples} | {agree} |"
        )
    md.write_text("\n".join(lines) + "\n", "utf-8")
    scatter = [(p.method, p.model, p.sim_mean, p.sim_ci) for p in points if p.model is not None]
    paths = [csv_path, md]
    for fmt in ("svg", "png"):
        path = out / f"validate.{fmt}"
        path.write_bytes(model_vs_simulation(scatter, INTERVAL_MS, fmt=fmt))
        paths.append(path)
    return paths
