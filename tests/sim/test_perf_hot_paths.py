"""The hot paths' inline shortcuts give exactly what the general code gives: a CBR
datagram packed in one ``struct.pack``, and the metrics' inline common cases of
:meth:`FlowLog.on_sent` and :meth:`FlowLog.on_arrival`."""

from __future__ import annotations

import random
from ipaddress import IPv4Address

import pytest

from mip4.sim.dataplane import ipv4_header
from mip4.sim.engine import Engine
from mip4.sim.metrics import FlowLog, Metrics
from mip4.sim.network import TRAFFIC_PORT, CorrespondentNode, MobileNodeHost, Network
from mip4.sim.trace import Trace
from mip4.sim.traffic import _UDP, MIN_PAYLOAD, PAYLOAD_HEADER, Flow
from mip4.wire.ip import PROTO_UDP

CN_ADDRESS = IPv4Address("198.18.0.1")
MN_ADDRESS = IPv4Address("198.18.16.16")


def _cbr_flow(engine: Engine, trace: Trace, payload_bytes: int, **timing: float) -> Flow:
    """A downlink CBR flow from a CN to one MN, every 20 ms (``start`` and ``stop`` given)."""
    net = Network(engine, Trace())
    cn = CorrespondentNode(net, "CN", CN_ADDRESS, b"\x02\x00\x00\x00\x00\x01")
    mn = MobileNodeHost(net, "MN1", MN_ADDRESS, b"\x02\x00\x00\x00\x00\x02")
    return Flow(
        engine,
        trace,
        flow="down",
        node=cn,
        mn=mn,
        index=3,
        source=CN_ADDRESS,
        destination=MN_ADDRESS,
        interval=0.02,
        payload_bytes=payload_bytes,
        start=timing["start"],
        stop=timing["stop"],
    )


@pytest.mark.parametrize("payload_bytes", [MIN_PAYLOAD, 160, 1400])
def test_a_cbr_datagram_is_its_headers_payload_header_and_zeros(payload_bytes: int) -> None:
    engine = Engine()
    sent: list[bytes] = []
    flow = _cbr_flow(engine, Trace([Metrics()]), payload_bytes, start=0.5, stop=0.58)
    flow.send = sent.append
    flow.begin()
    engine.run(1.0)
    size = 20 + 8 + payload_bytes
    header = ipv4_header(CN_ADDRESS.packed, MN_ADDRESS.packed, PROTO_UDP, size) + _UDP.pack(
        TRAFFIC_PORT, TRAFFIC_PORT, 8 + payload_bytes, 0
    )
    expected = [
        header
        + PAYLOAD_HEADER.pack(3, seq, round((0.5 + seq * 0.02) * 1e9))
        + bytes(payload_bytes - MIN_PAYLOAD)
        for seq in range(4)
    ]
    assert sent == expected


def test_a_payload_too_small_for_its_header_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        _cbr_flow(Engine(), Trace(), MIN_PAYLOAD - 1, start=0.0, stop=1.0)


def test_the_metrics_inline_paths_record_what_the_flow_log_methods_record() -> None:
    rng = random.Random(3)
    for _ in range(100):
        metrics = Metrics()
        reference = {"tx": FlowLog(), "rx": FlowLog()}
        for k in range(rng.randrange(1, 80)):
            direction = rng.choice(["tx", "rx"])
            # mostly the next number, sometimes a gap, a repeat or a late one
            log = reference[direction]
            last = len(log.sent) - 1 if direction == "tx" else log.max_seq
            seq = max(0, last + rng.choice([1, 1, 1, 2, 5, 0, -1, -3]))
            time = k * 0.01
            flow = "down" if direction == "tx" else "up"
            metrics.data(time, "n", "i", "m", direction, flow, "MN1", seq, 0.0, 1)
            if direction == "tx":
                log.on_sent(seq, time)
            else:
                log.on_arrival(seq, time)
        for direction, flow in (("tx", "down"), ("rx", "up")):
            got, want = metrics.flows.get(("MN1", flow)), reference[direction]
            if got is None:
                assert not want.sent and not want.rx
                continue
            assert got.sent.tobytes() == want.sent.tobytes()  # NaN gaps too
            assert got.rx.tobytes() == want.rx.tobytes()
            assert (got.max_seq, got.received, got.missing) == (
                want.max_seq,
                want.received,
                want.missing,
            )


def test_a_flow_recorder_records_what_trace_data_records_in_every_sink() -> None:
    import io

    from mip4.sim.trace import JsonLinesSink, ListSink

    def fill(record: object) -> None:
        for k, (direction, seq) in enumerate([("tx", 0), ("tx", 1), ("rx", 1), ("rx", 0)]):
            args = (k * 0.5, "CN", "eth0", "wired", direction)
            if record is None:
                trace.data(*args, "down", "MN7", seq, k * 0.25, 188)
            else:
                record.record(*args, seq, k * 0.25, 188)  # type: ignore[attr-defined]

    outputs = []
    for through_recorder in (False, True):
        metrics, listed, stream = Metrics(), ListSink(), io.StringIO()
        trace = Trace([metrics, listed, JsonLinesSink(stream)])
        fill(trace.recorder("down", "MN7") if through_recorder else None)
        log = metrics.flows[("MN7", "down")]
        outputs.append(
            (
                stream.getvalue(),
                [r.to_json() for r in listed.records],
                log.sent.tobytes(),
                log.rx.tobytes(),
            )
        )
    assert outputs[0] == outputs[1]
    assert outputs[0][0].count("\n") == 4


def test_the_metrics_recorder_is_the_log_data_uses_and_sinks_are_fixed_once_handed_out() -> None:
    metrics = Metrics()
    trace = Trace([metrics])
    recorder = trace.recorder("up", "MN1")
    assert recorder is metrics.flows[("MN1", "up")] is metrics.recorder("up", "MN1")
    metrics.data(1.0, "MN1", "wlan0", "air", "tx", "up", "MN1", 0, 1.0, 188)
    assert list(metrics.flows[("MN1", "up")].sent) == [1.0]
    with pytest.raises(RuntimeError, match="recorders"):
        trace.add_sink(Metrics())
