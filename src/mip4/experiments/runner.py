"""One run, described by plain data so that it pickles (local processes, Dask workers).

A :class:`RunSpec` names a scenario (built-in name or file), ``--set`` overrides, a method and
a seed; :func:`run_spec` loads the scenario, runs the simulator and returns the
``mip4 simulate --json`` object. :func:`handoff_rows` flattens a result into the tidy rows of
``mip4 sweep`` (one per handoff; one with empty handoff columns when the run had none).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from mip4.sim.runner import simulate
from mip4.sim.scenario import load_scenario

HANDOFF_COLUMNS = (
    "handoff",
    "mn",
    "from",
    "to",
    "l2_ld",
    "l2_gap_ms",
    "disruption_ms",
    "ideal_disruption_ms",
    "l3_extra_ms",
    "uplink_disruption_ms",
    "lost",
    "duplicates",
    "reordered",
)
RUN_COLUMNS = (
    "run_id",
    "scenario",
    "method",
    "seed",
    "handoffs_in_run",
    "sent",
    "delivered",
    "lost_total",
    "air_messages",
    "air_bytes",
    "wired_messages",
    "wired_bytes",
)


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One simulation: scenario source, overrides (``key=value``), method and seed."""

    scenario: str
    method: str
    seed: int
    overrides: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = field(default=())  # the swept values, for the CSV

    @property
    def run_id(self) -> str:
        """A stable identifier (resuming a sweep skips the ids already in the CSV)."""
        text = json.dumps(
            [self.scenario, self.method, self.seed, list(self.overrides)], separators=(",", ":")
        )
        return hashlib.sha1(text.encode()).hexdigest()[:16]


def run_spec(spec: RunSpec) -> dict[str, Any]:
    """Run ``spec``; the ``mip4 simulate --json`` object."""
    scenario = load_scenario(spec.scenario, list(spec.overrides))
    return simulate(scenario, spec.method, seed=spec.seed)


def run_rows(spec: RunSpec) -> list[dict[str, object]]:
    """Run ``spec`` and return its tidy rows (what a sweep worker computes)."""
    return handoff_rows(spec, run_spec(spec))


def handoff_rows(spec: RunSpec, result: dict[str, Any]) -> list[dict[str, object]]:
    summary = result["summary"]
    signalling = summary["signalling"]
    handoffs: list[dict[str, Any]] = result["handoffs"]
    base: dict[str, object] = {
        "run_id": spec.run_id,
        "scenario": spec.scenario,
        "method": spec.method,
        "seed": spec.seed,
        "handoffs_in_run": len(handoffs),
        "sent": summary["sent"],
        "delivered": summary["delivered"],
        "lost_total": summary["lost"],
        "air_messages": signalling["air"]["messages"],
        "air_bytes": signalling["air"]["bytes"],
        "wired_messages": signalling["wired"]["messages"],
        "wired_bytes": signalling["wired"]["bytes"],
    }
    base.update(dict(spec.params))
    if not handoffs:
        return [{**base, **dict.fromkeys(HANDOFF_COLUMNS)}]
    rows = []
    for index, h in enumerate(handoffs):
        row = dict(base)
        row["handoff"] = index
        for column in HANDOFF_COLUMNS[1:]:
            row[column] = h.get(column)
        rows.append(row)
    return rows
