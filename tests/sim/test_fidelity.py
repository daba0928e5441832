"""Fidelity: the simulated ``l3_extra_ms`` of the standard methods against design.md's model.

Model (one-way delays d_w radio, d_FH FA-HA; packet interval I):

- ``standard``: l3_extra ≈ W + 2·(d_w + d_FH), W the time from L2-LU until the next periodic
  advertisement reaches the MN (uniform over one advertisement interval, mean T_adv/2);
- ``standard-solicit``: l3_extra ≈ 2·d_w + 2·(d_w + d_FH).

The simulator sees whole packets, so agreement means within one packet interval; a 1 ms
interval makes it tight. Real agents (mip4.core), real bytes.
"""

from __future__ import annotations

import statistics
from ipaddress import IPv4Address

import pytest

from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink, TraceRecord

D_W = 2.0  # ms, the corridor's air delay


def run(overrides: list[str], method: str) -> tuple[dict[str, object], list[TraceRecord], World]:
    sink = ListSink()
    world = World(load_scenario("ping-pong", overrides), method, sinks=[sink])
    result = world.run()
    return result, sink.records, world


def advert_wait_ms(records: list[TraceRecord], handoff: dict[str, object], world: World) -> float:
    """W of one handoff, read from the trace: L2-LU to the first advertisement from the nFA."""
    nfa = next(fa for fa in world.fas if fa.name == handoff["to"])
    address = str(IPv4Address(nfa.address))
    lu = float(handoff["l2_lu"])  # type: ignore[arg-type]
    first = min(
        r.time
        for r in records
        if r.node == handoff["mn"]
        and r.kind == "packet"
        and r.direction == "rx"
        and "advertisement" in r.message
        and r.fields.get("source") == address
        and r.time >= lu - 1e-9
    )
    return (first - lu) * 1000.0


SOLICIT_GRID = [
    # (T_L2 ms, d_FH ms, I ms)
    (20, 5, 1),
    (100, 20, 1),
    (200, 50, 1),
    (100, 5, 20),
    (50, 50, 20),
]


@pytest.mark.parametrize(("t_l2", "d_fh", "interval"), SOLICIT_GRID)
def test_standard_solicit_matches_the_model(t_l2: float, d_fh: float, interval: float) -> None:
    result, _, _ = run(
        [
            f"radio.l2_handoff_ms={t_l2}",
            f"topology.ha_delay_ms={d_fh}",
            f"traffic.interval_ms={interval}",
            "mobility.handoffs=4",
            "mobility.dwell_s=1.5",
        ],
        "standard-solicit",
    )
    model = 2 * D_W + 2 * (D_W + d_fh)
    handoffs = result["handoffs"]
    assert len(handoffs) == 4  # type: ignore[arg-type]
    for h in handoffs:  # type: ignore[attr-defined]
        assert h["l2_gap_ms"] == pytest.approx(t_l2)
        assert abs(h["l3_extra_ms"] - model) <= interval, h


STANDARD_GRID = [
    # (T_L2 ms, d_FH ms, T_adv ms, I ms)
    (50, 5, 300, 1),
    (150, 40, 300, 20),
    (50, 40, 1000, 1),
    (150, 5, 1000, 20),
]


@pytest.mark.parametrize(("t_l2", "d_fh", "t_adv", "interval"), STANDARD_GRID)
def test_standard_matches_the_model_handoff_by_handoff(
    t_l2: float, d_fh: float, t_adv: float, interval: float
) -> None:
    result, records, world = run(
        [
            f"radio.l2_handoff_ms={t_l2}",
            f"topology.ha_delay_ms={d_fh}",
            f"protocol.advertisement_interval_ms={t_adv}",
            f"traffic.interval_ms={interval}",
            "mobility.handoffs=6",
            "mobility.dwell_s=3",
            "mobility.dwell_jitter_s=1",
        ],
        "standard",
    )
    handoffs = result["handoffs"]
    assert len(handoffs) == 6  # type: ignore[arg-type]
    for h in handoffs:  # type: ignore[attr-defined]
        wait = advert_wait_ms(records, h, world)
        assert 0 <= wait <= t_adv + D_W
        assert abs(h["l3_extra_ms"] - (wait + 2 * (D_W + d_fh))) <= interval, (h, wait)


def test_standard_mean_over_many_handoffs_with_w_averaging_half_the_interval() -> None:
    t_adv, d_fh, interval, n = 1000.0, 20.0, 20.0, 60
    result, records, world = run(
        [
            f"mobility.handoffs={n}",
            "mobility.dwell_s=2",
            "mobility.dwell_jitter_s=1",
            f"topology.ha_delay_ms={d_fh}",
        ],
        "standard",
    )
    handoffs = result["handoffs"]
    assert len(handoffs) == n  # type: ignore[arg-type]
    waits = [advert_wait_ms(records, h, world) for h in handoffs]  # type: ignore[attr-defined]
    extra = statistics.fmean(h["l3_extra_ms"] for h in handoffs)  # type: ignore[attr-defined]
    mean_wait = statistics.fmean(waits)
    # the simulated mean agrees with the model at the measured mean W within one interval
    assert abs(extra - (mean_wait + 2 * (D_W + d_fh))) <= interval
    # and W is uniform over one advertisement interval: its mean is T_adv/2 (4 standard errors)
    assert abs(mean_wait - t_adv / 2) <= 4 * t_adv / (12 * n) ** 0.5
    assert result["summary"]["l3_extra_ms"]["mean"] == pytest.approx(extra, abs=0.001)  # type: ignore[index]


@pytest.mark.parametrize("method", ["standard", "standard-solicit"])
def test_lost_packets_are_what_the_disruption_implies(method: str) -> None:
    result, _, _ = run(["mobility.handoffs=6", "mobility.dwell_s=2.5"], method)
    for h in result["handoffs"]:  # type: ignore[attr-defined]
        # same path delay before and after, no loss on the links: every packet between the
        # last one before L2-LD and the first one after it is lost
        assert h["lost"] == round(h["disruption_ms"] / 20.0) - 1, h
        assert h["duplicates"] == 0 and h["reordered"] == 0
    summary = result["summary"]
    assert summary["lost"] >= sum(h["lost"] for h in result["handoffs"])  # type: ignore[index,attr-defined]
