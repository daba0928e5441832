"""Mobility models: when each MN changes cell, and to which (design.md, "The simulated world").

A model yields, for every MN, the cell it starts in and its moves. A move's ``time`` is the
L2-LD of the cell change; the radio (:mod:`mip4.sim.radio`) adds the L2 gap and the
anticipatory trigger around it.

- ``corridor``: cells 0, 1, ..., n-1 in a line; one move every ``dwell_s`` (the default).
- ``ping-pong``: back and forth between cells 0 and 1, ``handoffs`` moves ``dwell_s`` apart.
- ``fast``: through cells 0, 1 and 2, staying only ``fast_dwell_ms`` in cell 1 (the MN leaves
  the nFA before it could register there: RFC 4881 §4.2's three-party handoff).
- ``grid``: cells on a square grid; each MN starts in a random cell and, every ``dwell_s``
  from a random phase, walks to a random neighbouring cell.

``dwell_jitter_s`` adds a uniform random delay in ``[0, dwell_jitter_s)`` to every move of the
line models, which spreads handoffs over the advertisement phase (W of the analytical model).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Move:
    """One cell change: L2-LD at ``time`` from cell ``source`` to cell ``target``."""

    time: float
    source: int
    target: int


@dataclass(frozen=True, slots=True)
class MobilityPlan:
    """Where one MN starts and every move it makes."""

    start_cell: int
    moves: tuple[Move, ...]


MODELS = ("corridor", "ping-pong", "fast", "grid")


def grid_columns(cells: int) -> int:
    """Columns of the square-ish grid that holds ``cells`` cells."""
    return max(1, math.isqrt(cells - 1) + 1) if cells > 1 else 1


def grid_neighbours(cell: int, cells: int) -> list[int]:
    """The cells adjacent (4-neighbourhood) to ``cell`` on the grid."""
    columns = grid_columns(cells)
    row, col = divmod(cell, columns)
    out = []
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r, c = row + dr, col + dc
        if r >= 0 and 0 <= c < columns:
            n = r * columns + c
            if n < cells:
                out.append(n)
    return out


def plan(
    model: str,
    *,
    cells: int,
    mns: int,
    dwell_s: float,
    duration_s: float,
    handoffs: int,
    fast_dwell_s: float,
    l2_handoff_s: float,
    dwell_jitter_s: float,
    rng: random.Random,
) -> list[MobilityPlan]:
    """The plan of every MN (index order). Moves whose L2-LU would fall after
    ``duration_s`` are left out."""
    plans: list[MobilityPlan] = []
    for _ in range(mns):
        if model == "corridor":
            path = list(range(cells))
            times = [k * dwell_s for k in range(1, cells)]
        elif model == "ping-pong":
            path = [k % 2 for k in range(handoffs + 1)] if cells > 1 else [0]
            times = [k * dwell_s for k in range(1, len(path))]
        elif model == "fast":
            path = list(range(min(3, cells)))
            times = [dwell_s, dwell_s + l2_handoff_s + fast_dwell_s][: len(path) - 1]
        elif model == "grid":
            path, times = _grid_walk(cells, dwell_s, duration_s, rng)
        else:
            raise ValueError(f"unknown mobility model {model!r} (known: {', '.join(MODELS)})")
        if dwell_jitter_s and model != "grid":
            times = [t + rng.uniform(0.0, dwell_jitter_s) for t in times]
        moves = tuple(
            Move(t, path[i], path[i + 1])
            for i, t in enumerate(times)
            if t + l2_handoff_s <= duration_s
        )
        plans.append(MobilityPlan(path[0], moves))
    return plans


def _grid_walk(
    cells: int, dwell_s: float, duration_s: float, rng: random.Random
) -> tuple[list[int], list[float]]:
    cell = rng.randrange(cells)
    path, times = [cell], []
    t = dwell_s * (0.5 + rng.random())  # random phase, first move after at least dwell/2
    while t < duration_s:
        neighbours = grid_neighbours(cell, cells)
        if not neighbours:
            break
        cell = rng.choice(neighbours)
        path.append(cell)
        times.append(t)
        t += dwell_s
    return path, times


def default_duration(
    model: str,
    *,
    cells: int,
    dwell_s: float,
    handoffs: int,
    fast_dwell_s: float,
    l2_handoff_s: float,
) -> float:
    """Simulated time long enough for every handoff of the model."""
    if model == "corridor":
        return max(1, cells) * dwell_s
    if model == "ping-pong":
        return (handoffs + 1) * dwell_s
    if model == "fast":
        return 2 * dwell_s + l2_handoff_s + fast_dwell_s
    return 4 * dwell_s
