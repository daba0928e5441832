"""Mobility models: when each MN changes cell, and to which (design.md, "The simulated world").

A model yields, for every MN, the cell it starts in and its moves. A move's ``time`` is the
L2-LD of the cell change; the radio (:mod:`mip4.sim.radio`) adds the L2 gap and the
anticipatory trigger around it.

- ``corridor``: cells 0, 1, ..., n-1 in a line; one move every ``dwell_s`` (the default).
  With ``mobility.handoffs`` set, that many moves, walking the line back and forth
  (0, 1, ..., n-1, n-2, ..., 0, 1, ...); unset, the n-1 moves of one walk.
- ``ping-pong``: back and forth between cells 0 and 1, ``handoffs`` moves ``dwell_s`` apart.
- ``fast``: through cells 0, 1 and 2, staying only ``fast_dwell_ms`` in cell 1 (the MN leaves
  the nFA before it could register there: RFC 4881 §4.2's three-party handoff). With
  ``mobility.handoffs`` set, that many moves back and forth along the line, every other
  stay a fast one (each pair of moves is a three-party handoff); unset, the two of 0-1-2.
- ``grid``: cells on a square grid; each MN starts in a random cell and, every ``dwell_s``
  from a random phase, walks to a random neighbouring cell (``duration_s`` bounds it:
  ``mobility.handoffs`` does not apply and is refused).

``dwell_jitter_s`` adds a uniform random delay in ``[0, dwell_jitter_s)`` to every move of the
line models, which spreads handoffs over the advertisement phase (W of the analytical model).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from mip4.errors import LocalUsageError


class MobilityError(LocalUsageError):
    """A mobility setting the model cannot honour (named by its key)."""


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
LINE_MODELS = ("corridor", "fast")  # the models whose count of moves follows the cells


def requested_handoffs(mobility: Any) -> int | None:
    """The number of moves a scenario's ``mobility`` section asks for: ``handoffs`` when the
    scenario sets it (ping-pong always has it: its default), else None (a line model's own
    count). ``handoffs`` set for ``grid`` is refused: that walk is bounded by time."""
    explicit = "handoffs" in mobility.model_fields_set
    if mobility.model == "grid":
        if explicit:
            raise MobilityError(
                "mobility.handoffs: does not apply to model 'grid' (it moves every dwell_s "
                "until duration_s); set duration_s instead"
            )
        return None
    if explicit or mobility.model == "ping-pong":
        return int(mobility.handoffs)
    return None


def _bounce(cells: int, moves: int) -> list[int]:
    """Cells visited walking a line of ``cells`` back and forth, ``moves`` moves."""
    if cells < 2:
        return [0]
    period = 2 * (cells - 1)
    return [min(k % period, period - k % period) for k in range(moves + 1)]


def _line_moves(model: str, cells: int, handoffs: int | None) -> int:
    if handoffs is None:  # one walk: corridor all the cells, fast the first three
        return max(0, (cells if model == "corridor" else min(3, cells)) - 1)
    if handoffs > 0 and cells < 2:
        raise MobilityError(f"mobility.handoffs: {handoffs} moves need at least 2 cells")
    return handoffs


def _line_times(
    model: str, moves: int, dwell_s: float, fast_dwell_s: float, l2_handoff_s: float
) -> list[float]:
    """Move times of a line model: ``dwell_s`` apart; ``fast`` stays only ``fast_dwell_s``
    (after the L2 gap) in the cell each odd move enters."""
    times: list[float] = []
    t = dwell_s
    for k in range(1, moves + 1):
        times.append(t)
        fast_stay = model == "fast" and k % 2 == 1
        t += l2_handoff_s + fast_dwell_s if fast_stay else dwell_s
    return times


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
    handoffs: int | None,
    fast_dwell_s: float,
    l2_handoff_s: float,
    dwell_jitter_s: float,
    rng: random.Random,
) -> list[MobilityPlan]:
    """The plan of every MN (index order). ``handoffs`` is the number of moves
    (:func:`requested_handoffs`; None: a line model's one walk, required for ping-pong).
    Moves whose L2-LU would fall after ``duration_s`` are left out."""
    plans: list[MobilityPlan] = []
    for _ in range(mns):
        if model in LINE_MODELS:
            path = _bounce(cells, _line_moves(model, cells, handoffs))
            times = _line_times(model, len(path) - 1, dwell_s, fast_dwell_s, l2_handoff_s)
        elif model == "ping-pong":
            if handoffs is None:
                raise MobilityError("mobility.handoffs: model 'ping-pong' needs a count")
            path = [k % 2 for k in range(handoffs + 1)] if cells > 1 else [0]
            times = [k * dwell_s for k in range(1, len(path))]
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
    handoffs: int | None,
    fast_dwell_s: float,
    l2_handoff_s: float,
) -> float:
    """Simulated time long enough for every handoff of the model (``handoffs`` as for
    :func:`plan`): the last move, then one ``dwell_s`` in the last cell."""
    if model == "fast" and handoffs is None:  # 0-1-2, whatever the cells (as it always was)
        return 2 * dwell_s + l2_handoff_s + fast_dwell_s
    if model in LINE_MODELS:
        moves = _line_moves(model, cells, handoffs)
        times = _line_times(model, moves, dwell_s, fast_dwell_s, l2_handoff_s)
        return (times[-1] if times else 0.0) + dwell_s
    if model == "ping-pong":
        return ((handoffs or 0) + 1) * dwell_s
    return 4 * dwell_s
