"""Metrics from hand-made trace records: design.md's definitions, number by number."""

from __future__ import annotations

from mip4.sim.metrics import Metrics, percentile
from mip4.sim.trace import TraceRecord

INTERVAL = 0.020  # packet interval


def l2(metrics: Metrics, time: float, message: str, src: str, dst: str) -> None:
    metrics.record(
        TraceRecord(time, "MN1", "l2", message, fields={"mn": "MN1", "from": src, "to": dst})
    )


def stream(
    metrics: Metrics, *, delay: float, gap: tuple[float, float], extra: float, n: int
) -> None:
    """Downlink every 20 ms from t=0.005; packets whose arrival falls in the gap plus
    ``extra`` after it are lost; everything else arrives after ``delay``."""
    for seq in range(n):
        sent = 0.005 + seq * INTERVAL
        metrics.data(sent, "CN", "eth0", "wired", "tx", "down", "MN1", seq, sent, 188)
        arrive = sent + delay
        if gap[0] < arrive < gap[1] + extra:
            continue
        metrics.data(arrive, "MN1", "wlan0", "air", "rx", "down", "MN1", seq, sent, 188)


def test_ideal_disruption_of_a_100ms_gap_with_a_20ms_stream_is_120ms() -> None:
    m = Metrics()
    l2(m, 1.0, "L2-LD", "FA1", "FA2")
    l2(m, 1.1, "L2-LU", "FA1", "FA2")
    stream(m, delay=0.029, gap=(1.0, 1.1), extra=0.0, n=100)
    (h,), summary = m.result()
    assert h["l2_gap_ms"] == 100.0
    assert h["ideal_disruption_ms"] == 120.0
    assert h["disruption_ms"] == 120.0
    assert h["l3_extra_ms"] == 0.0
    assert h["lost"] == 5  # arrivals at 1.004 .. 1.084 fall in the gap
    assert summary["handoffs"] == 1 and summary["lost"] == 5 and summary["sent"] == 100


def test_layer3_extra_is_the_additional_outage() -> None:
    m = Metrics()
    l2(m, 1.0, "L2-LD", "FA1", "FA2")
    l2(m, 1.1, "L2-LU", "FA1", "FA2")
    stream(m, delay=0.029, gap=(1.0, 1.1), extra=0.150, n=100)
    (h,), _ = m.result()
    assert h["disruption_ms"] == 260.0
    assert h["ideal_disruption_ms"] == 120.0
    assert h["l3_extra_ms"] == 140.0
    assert h["lost"] == 12  # (260 - 20) / 20: everything between the two arrivals
    assert h["duplicates"] == 0 and h["reordered"] == 0


def test_duplicates_reordering_and_uplink() -> None:
    m = Metrics()
    l2(m, 1.0, "L2-LD", "FA1", "FA2")
    l2(m, 1.1, "L2-LU", "FA1", "FA2")
    for seq, arrive in [(0, 0.9), (1, 0.92), (3, 1.2), (2, 1.21), (3, 1.22)]:
        sent = seq * INTERVAL + 0.85
        m.data(sent, "CN", "eth0", "wired", "tx", "down", "MN1", seq, sent, 188)
        m.data(arrive, "MN1", "wlan0", "air", "rx", "down", "MN1", seq, sent, 188)
    for seq in range(30):
        sent = 0.9 + seq * INTERVAL
        m.data(sent, "MN1", "wlan0", "air", "tx", "up", "MN1", seq, sent, 188)
        if not 0.99 < sent < 1.29:
            m.data(sent + 0.03, "CN", "eth0", "wired", "rx", "up", "MN1", seq, sent, 188)
    (h,), summary = m.result()
    assert h["disruption_ms"] == 280.0
    assert h["duplicates"] == 1 and h["reordered"] == 1
    assert h["lost"] == 0  # seq 2 arrived late, it is not lost
    # last uplink sent at or before L2-LD: 0.98 (arrives 1.01); first after: 1.30 (1.33)
    assert h["uplink_disruption_ms"] == 320.0
    assert summary["duplicates"] == 1


def test_incomplete_handoff_is_left_out_and_signalling_counted() -> None:
    m = Metrics()
    l2(m, 1.0, "L2-LD", "FA1", "FA2")
    m.record(TraceRecord(0.5, "MN1", "packet", "rrq", direction="tx", medium="air", bytes=74))
    m.record(TraceRecord(0.5, "FA1", "packet", "rrq", direction="tx", medium="wired", bytes=74))
    m.record(TraceRecord(0.5, "FA1", "packet", "rrq", direction="rx", medium="wired", bytes=74))
    handoffs, summary = m.result()
    assert handoffs == [] and summary["handoffs"] == 0
    assert summary["signalling"] == {
        "air": {"messages": 1, "bytes": 74},
        "wired": {"messages": 1, "bytes": 74},
    }
    assert summary["disruption_ms"] == {"mean": None, "p50": None, "p95": None, "max": None}


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 95) == 5.0
    assert percentile([0.0, 10.0], 95) == 9.5
