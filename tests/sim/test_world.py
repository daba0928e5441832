"""The simulated world with stub agents: determinism, trace, metrics, pcap, radio, mobility."""

from __future__ import annotations

import io
import random
from pathlib import Path

import dpkt
import pytest

from mip4.sim.metrics import Metrics
from mip4.sim.mobility import grid_neighbours, plan
from mip4.sim.runner import World, simulate
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import JsonLinesSink, ListSink, read_jsonl, replay
from tests.sim.stubs import stub_factory


def trace_text(overrides: list[str], seed: int | None = None, method: str = "standard") -> str:
    stream = io.StringIO()
    world = World(
        load_scenario("corridor", overrides),
        method,
        seed=seed,
        sinks=[JsonLinesSink(stream)],
        agent_factory=stub_factory,
    )
    world.run()
    return stream.getvalue()


LOSSY = ["radio.air_loss=0.05", "topology.jitter_ms=1", "topology.loss=0.01"]


def test_same_scenario_and_seed_give_the_same_trace_byte_for_byte() -> None:
    first = trace_text(LOSSY, seed=7)
    assert first == trace_text(LOSSY, seed=7)
    assert first != trace_text(LOSSY, seed=8)
    assert (
        '"kind":"drop","interface":null,"direction":null,"medium":null,"message":"air-loss"'
        in first
    )


def test_metrics_from_the_trace_file_equal_the_live_ones(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    live = simulate(
        load_scenario("ping-pong", ["mobility.handoffs=4"]),
        "standard",
        trace_path=path,
        agent_factory=stub_factory,
    )
    metrics = Metrics()
    replay(read_jsonl(path), metrics)
    handoffs, summary = metrics.result()
    assert handoffs == live["handoffs"]
    assert summary == live["summary"]
    assert len(handoffs) == 4


def test_trace_records_have_the_nine_keys_in_order() -> None:
    import json

    line = trace_text([]).splitlines()[0]
    assert list(json.loads(line)) == [
        "time",
        "node",
        "kind",
        "interface",
        "direction",
        "medium",
        "message",
        "fields",
        "bytes",
    ]


def test_json_result_shape() -> None:
    result = simulate(load_scenario("corridor"), "standard", agent_factory=stub_factory)
    assert list(result) == ["scenario", "method", "seed", "params", "handoffs", "summary"]
    assert result["scenario"] == "corridor" and result["seed"] == 1
    (first, second) = result["handoffs"]  # type: ignore[misc]
    assert (first["from"], first["to"], second["from"], second["to"]) == (
        "FA1",
        "FA2",
        "FA2",
        "FA3",
    )
    assert list(first) == [
        "mn",
        "from",
        "to",
        "l2_ld",
        "l2_lu",
        "l2_gap_ms",
        "disruption_ms",
        "ideal_disruption_ms",
        "l3_extra_ms",
        "uplink_disruption_ms",
        "lost",
        "duplicates",
        "reordered",
    ]
    summary = result["summary"]
    assert list(summary) == [  # type: ignore[arg-type]
        "handoffs",
        "sent",
        "delivered",
        "lost",
        "duplicates",
        "disruption_ms",
        "l2_gap_ms",
        "l3_extra_ms",
        "signalling",
    ]
    assert summary["l2_gap_ms"] == {"mean": 100.0, "p50": 100.0, "p95": 100.0, "max": 100.0}  # type: ignore[index]


def test_the_mn_neither_sends_nor_receives_during_the_l2_gap() -> None:
    sink = ListSink()
    world = World(load_scenario("corridor"), "standard", sinks=[sink], agent_factory=stub_factory)
    world.run()
    lds = [
        r.time for r in sink.records if r.kind == "l2" and r.node == "MN1" and r.message == "L2-LD"
    ]
    lus = [
        r.time for r in sink.records if r.kind == "l2" and r.node == "MN1" and r.message == "L2-LU"
    ]
    gaps = list(zip(lds, lus[1:], strict=True))
    assert [round(b - a, 9) for a, b in gaps] == [0.1, 0.1]
    for rec in sink.records:
        if rec.node == "MN1" and rec.direction == "rx":
            assert not any(a < rec.time < b for a, b in gaps), rec
    radio_down = [
        r
        for r in sink.records
        if r.kind == "drop" and r.message in ("radio-down", "no-default-router")
    ]
    assert radio_down


def test_pcap_taps_hold_real_tunnelled_bytes(tmp_path: Path) -> None:
    simulate(load_scenario("corridor"), "standard", pcap_dir=tmp_path, agent_factory=stub_factory)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "FA1-wired.pcap",
        "FA2-wired.pcap",
        "FA3-wired.pcap",
        "HA-wired.pcap",
        "MN1-air.pcap",
    ]
    with open(tmp_path / "FA2-wired.pcap", "rb") as stream:
        frames = list(dpkt.pcap.Reader(stream))
    protocols = set()
    for _, frame in frames:
        ip = dpkt.ethernet.Ethernet(frame).data
        assert isinstance(ip, dpkt.ip.IP)
        protocols.add(ip.p)
    assert {4, 17} <= protocols  # IP-in-IP data and UDP 434 control
    with open(tmp_path / "MN1-air.pcap", "rb") as stream:
        air = [dpkt.ethernet.Ethernet(f).data for _, f in dpkt.pcap.Reader(stream)]
    assert any(isinstance(ip.data, dpkt.udp.UDP) and ip.data.dport == 5004 for ip in air)


def test_air_delay_and_paths_are_what_the_scenario_says() -> None:
    world = World(load_scenario("corridor"), "standard", agent_factory=stub_factory)
    assert world.net.path_delay(world.cn, world.fas[0]) == pytest.approx(0.025)
    assert world.net.path_delay(world.fas[0], world.fas[2]) == pytest.approx(0.004)
    gfa = World(
        load_scenario("corridor", ["topology.gfa=true"]), "standard", agent_factory=stub_factory
    )
    assert gfa.net.path_delay(gfa.fas[0], gfa.ha) == pytest.approx(0.022)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("corridor", [(0, 1), (1, 2)]),
        ("ping-pong", [(0, 1), (1, 0), (0, 1)]),
        ("fast", [(0, 1), (1, 2)]),
    ],
)
def test_line_mobility_models(model: str, expected: list[tuple[int, int]]) -> None:
    (p,) = plan(
        model,
        cells=3,
        mns=1,
        dwell_s=5.0,
        duration_s=100.0,
        handoffs=3 if model == "ping-pong" else None,  # None: a line model's one walk
        fast_dwell_s=0.3,
        l2_handoff_s=0.1,
        dwell_jitter_s=0.0,
        rng=random.Random(1),
    )
    assert [(m.source, m.target) for m in p.moves] == expected
    if model == "fast":
        assert [m.time for m in p.moves] == [5.0, pytest.approx(5.4)]


def test_grid_walks_to_neighbours() -> None:
    plans = plan(
        "grid",
        cells=16,
        mns=20,
        dwell_s=2.0,
        duration_s=20.0,
        handoffs=0,
        fast_dwell_s=0.3,
        l2_handoff_s=0.1,
        dwell_jitter_s=0.0,
        rng=random.Random(3),
    )
    assert len({p.start_cell for p in plans}) > 1
    for p in plans:
        cell = p.start_cell
        for move in p.moves:
            assert move.source == cell and move.target in grid_neighbours(cell, 16)
            cell = move.target
    assert grid_neighbours(0, 16) == [4, 1]
    assert sorted(grid_neighbours(5, 16)) == [1, 4, 6, 9]


def test_grid_world_with_many_mns_runs() -> None:
    result = simulate(
        load_scenario("grid", ["mobility.mns=20", "duration_s=8", "mobility.dwell_s=2"]),
        "standard-solicit",
        agent_factory=stub_factory,
    )
    summary = result["summary"]
    assert summary["handoffs"] > 20  # type: ignore[index,operator]
    assert summary["delivered"] > 0.8 * summary["sent"]  # type: ignore[index,operator]


@pytest.mark.parametrize(
    ("method", "node", "trigger"),
    [
        ("pre-mobile", "MN1", "L2-MT"),
        ("pre-source", "FA1", "L2-ST"),
        ("post-target", "FA2", "L2-TT"),
    ],
)
def test_anticipatory_trigger_fires_lead_before_l2_ld(method: str, node: str, trigger: str) -> None:
    from mip4.sim.mobility import Move
    from mip4.sim.radio import Radio

    sink = ListSink()
    world = World(load_scenario("corridor"), "standard", sinks=[sink], agent_factory=stub_factory)
    radio = Radio(world.net, world.engine, method=method, l2_handoff_s=0.05, trigger_lead_s=0.2)
    radio.schedule_move(world.mns[0], Move(3.0, 0, 1))
    world.run()
    l2 = [
        (round(r.time, 9), r.node, r.message) for r in sink.records if r.kind == "l2" and r.time < 4
    ]
    assert l2[2:] == [
        (2.8, node, trigger),
        (3.0, "MN1", "L2-LD"),
        (3.0, "FA1", "L2-LD"),
        (3.05, "MN1", "L2-LU"),
        (3.05, "FA2", "L2-LU"),
    ]
    (st,) = [r for r in sink.records if r.message == trigger]
    assert st.fields == {"mn": "MN1", "from": "FA1", "to": "FA2"}


def test_real_agents_are_deterministic_too() -> None:
    def text(seed: int) -> str:
        stream = io.StringIO()
        World(
            load_scenario("ping-pong", ["mobility.handoffs=3", "radio.air_loss=0.02"]),
            "standard-solicit",
            seed=seed,
            sinks=[JsonLinesSink(stream)],
        ).run()
        return stream.getvalue()

    assert text(5) == text(5)
    assert text(5) != text(6)
