"""Fidelity: the simulated ``l3_extra_ms`` of the standard methods against design.md's model.

Model (one-way delays d_w radio, d_FH FA-HA; packet interval I):

- ``standard``: l3_extra ≈ W + 2·(d_w + d_FH), W the time from L2-LU until the next periodic
  advertisement reaches the MN (uniform over one advertisement interval, mean T_adv/2; in the
  simulator d_w more, since an advertisement sent during the L2 gap is not heard);
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
    # (T_L2 ms, d_FH ms, T_adv ms, I ms): the model has no T_adv (the MN solicits at L2-LU)
    (20, 5, 300, 1),
    (100, 20, 1000, 1),
    (200, 50, 3000, 1),
    (100, 5, 3000, 20),
    (50, 50, 300, 20),
]


@pytest.mark.parametrize(("t_l2", "d_fh", "t_adv", "interval"), SOLICIT_GRID)
def test_standard_solicit_matches_the_model(
    t_l2: float, d_fh: float, t_adv: float, interval: float
) -> None:
    result, _, _ = run(
        [
            f"radio.l2_handoff_ms={t_l2}",
            f"topology.ha_delay_ms={d_fh}",
            f"protocol.advertisement_interval_ms={t_adv}",
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


MEAN_GRID = [
    # (T_L2 ms, d_FH ms, T_adv ms, I ms, handoffs): T_adv / handoffs <= I / 2, so the
    # phase grid's bias stays inside the tolerance I
    (100, 20, 1000, 20, 200),
    (20, 50, 1000, 20, 100),
    (50, 5, 300, 20, 60),
    (150, 40, 300, 20, 60),
    (200, 5, 500, 20, 100),
    (50, 10, 100, 1, 200),
]


@pytest.mark.parametrize(("t_l2", "d_fh", "t_adv", "interval", "n"), MEAN_GRID)
def test_standard_mean_over_many_handoffs_with_w_averaging_half_the_interval(
    t_l2: float, d_fh: float, t_adv: float, interval: float, n: int
) -> None:
    """The mean l3_extra of ``n`` handoffs against the model with W's mean, not a measured W.

    Handoffs are spread evenly over the advertisement phase instead of at random: the dwell
    is whole advertisement intervals plus T_adv/n, and the moves alternate between two FAs,
    so each FA sees its n/2 L2-LUs at steps of 2·T_adv/n over exactly one interval, and the
    mean of W is T_adv/2 up to half a step (T_adv/n). Random dwell jitter would leave a
    standard error of T_adv/sqrt(12·n), larger than I for any affordable n.

    The advertisement that ends W is the first one the nFA *sends* after L2-LU (one sent
    while the MN was away is not heard), so W is d_w + U[0, T_adv): mean T_adv/2 + d_w.
    design.md's model leaves the d_w out; it is inside the tolerance when I = 20 ms and is
    checked explicitly with I = 1 ms.
    """
    whole = 2 if t_adv >= 1000 else 3  # L2 gap, W and the registration fit in the dwell
    result, _, _ = run(
        [
            f"radio.l2_handoff_ms={t_l2}",
            f"topology.ha_delay_ms={d_fh}",
            f"protocol.advertisement_interval_ms={t_adv}",
            f"traffic.interval_ms={interval}",
            "traffic.uplink=false",  # the model is about the downlink; halves the run time
            f"traffic.start_s={t_adv / 1000}",  # from the MN's first attachment (settle)
            f"mobility.handoffs={n}",
            f"mobility.dwell_s={(whole * t_adv + t_adv / n) / 1000}",
            "mobility.dwell_jitter_s=0",
        ],
        "standard",
    )
    handoffs = result["handoffs"]
    assert len(handoffs) == n  # type: ignore[arg-type]
    extras = [h["l3_extra_ms"] for h in handoffs]  # type: ignore[attr-defined]
    assert None not in extras
    extra = statistics.fmean(extras)
    signalling = 2 * (D_W + d_fh)
    assert abs(extra - (t_adv / 2 + D_W + signalling)) <= interval
    if interval >= 10 * D_W:
        assert abs(extra - (t_adv / 2 + signalling)) <= interval  # design.md's form
    # W really spreads over the whole interval: the extremes are about T_adv apart
    assert max(extras) - min(extras) >= t_adv - 2 * t_adv / n - 2 * interval
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
