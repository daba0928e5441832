"""Wired links: what bandwidth, jitter and loss do to packets (issue 3 §2, ``topology.*``).

Two levels: one :class:`~mip4.sim.network.Link` between two bare nodes (exact arrival times,
many packets), and the whole corridor world through the scenario keys
(``topology.bandwidth_mbps``, ``topology.jitter_ms``, ``topology.loss``), measured on the
call's data packets from the trace (no handoff: the MN stays in its first cell).
"""

from __future__ import annotations

import random
import statistics
from ipaddress import IPv4Address

import pytest

from mip4.sim.engine import Engine
from mip4.sim.network import Network, WiredNode
from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink, Trace

IP_UDP = 20 + 8  # the call's packets: IPv4 and UDP headers before the payload
IPIP = 20  # the HA-FA tunnel's outer header (RFC 2003)


class Sink(WiredNode):
    """A wired node that records when each packet arrives (its first byte is its number)."""

    __slots__ = ("arrivals",)

    def __init__(self, net: Network, name: str, address: str, mac: bytes) -> None:
        super().__init__(net, name, IPv4Address(address), mac)
        self.arrivals: dict[int, float] = {}

    def ip_input(self, packet: bytes, meta: str | None, interface: str, link_source: bytes) -> None:
        number = int.from_bytes(packet[:4], "big")
        self.arrivals[number] = self.net.engine.now


def one_link(**link: float) -> tuple[Engine, Network, Sink]:
    """Node A connected to node B by one link (``delay``, ``jitter``, ``loss``, ``rate``),
    the link's draws seeded by ``seed`` (default 1)."""
    engine = Engine()
    net = Network(engine, Trace())
    a = Sink(net, "A", "198.18.0.1", b"\x02\x00\x00\x00\x00\x01")
    b = Sink(net, "B", "198.18.0.2", b"\x02\x00\x00\x00\x00\x02")
    net.add(a)
    net.add(b)
    seed = link.pop("seed", 1)
    net.connect(
        a,
        b,
        delay_s=link.get("delay", 0.010),
        jitter_s=link.get("jitter", 0.0),
        loss=link.get("loss", 0.0),
        rate_bytes_per_s=link.get("rate", 0.0),
        rng=random.Random(seed),
    )
    return engine, net, b


def send(engine: Engine, net: Network, number: int, size: int, at: float) -> None:
    link = net.links[0]  # A -> B
    engine.at(at, link.send, number.to_bytes(4, "big") + bytes(size - 4), None)


# ---------------------------------------------------------------------------- one link


def test_bandwidth_serializes_each_packet_and_queues_back_to_back_ones() -> None:
    rate = 1_000_000.0  # bytes per second: 1000 bytes take 1 ms
    engine, net, b = one_link(delay=0.010, rate=rate)
    for number in range(3):
        send(engine, net, number, 1000, 0.0)  # a burst: each waits for the one before
    send(engine, net, 3, 500, 0.1)  # the link is idle again
    engine.run(1.0)
    assert b.arrivals[0] == pytest.approx(0.011, abs=1e-12)
    assert b.arrivals[1] == pytest.approx(0.012, abs=1e-12)
    assert b.arrivals[2] == pytest.approx(0.013, abs=1e-12)
    assert b.arrivals[3] == pytest.approx(0.1 + 0.0005 + 0.010, abs=1e-12)


def test_jitter_adds_a_uniform_delay_in_zero_to_j_reproducible_by_seed() -> None:
    delay, jitter, n = 0.010, 0.004, 4000

    def delays(seed: int) -> list[float]:
        engine, net, b = one_link(delay=delay, jitter=jitter, seed=seed)
        for number in range(n):
            send(engine, net, number, 100, number * 0.001)
        engine.run(n * 0.001 + 1.0)
        return [b.arrivals[k] - k * 0.001 for k in range(n)]

    first = delays(1)
    assert all(delay <= d < delay + jitter for d in first)
    # uniform over [d, d+j): mean d + j/2 (4 standard errors), and both ends are reached
    assert abs(statistics.fmean(first) - (delay + jitter / 2)) <= 4 * jitter / (12 * n) ** 0.5
    assert min(first) < delay + 0.01 * jitter and max(first) > delay + 0.99 * jitter
    assert delays(1) == first  # the same seed, the same delays
    assert delays(2) != first


def test_loss_drops_a_fraction_p_counted_and_reproducible_by_seed() -> None:
    p, n = 0.2, 5000

    def received(seed: int) -> tuple[set[int], int]:
        engine, net, b = one_link(loss=p, seed=seed)
        for number in range(n):
            send(engine, net, number, 100, number * 0.001)
        engine.run(n * 0.001 + 1.0)
        return set(b.arrivals), net.drops[("A", "link-loss")]

    got, dropped = received(1)
    assert dropped == n - len(got)  # every lost packet is counted, at the sending node
    assert abs(dropped / n - p) <= 4 * (p * (1 - p) / n) ** 0.5
    assert received(1) == (got, dropped)
    assert received(2)[0] != got


# ---------------------------------------------------------------------------- the world


def downlink_delays(overrides: list[str], seed: int = 1) -> tuple[list[float], World]:
    """One-way delays of the delivered downlink packets of a corridor run without handoffs."""
    sink = ListSink()
    world = World(
        load_scenario("corridor", ["duration_s=4", *overrides]), "standard", seed=seed, sinks=[sink]
    )
    result = world.run()
    assert result["handoffs"] == []
    delays = [
        r.time - float(r.fields["sent"])  # type: ignore[arg-type]
        for r in sink.records
        if r.kind == "data" and r.direction == "rx" and r.fields["flow"] == "down"
    ]
    assert len(delays) > 50
    return delays, world


def base_delay_s(world: World) -> float:
    """CN-HA, HA-FA and the air: the downlink's propagation delay."""
    topo, radio = world.scenario.topology, world.scenario.radio
    assert radio.air_delay_ms is not None
    return (topo.cn_delay_ms + topo.ha_delay_ms + radio.air_delay_ms) / 1000.0


def test_bandwidth_key_adds_the_serialization_of_each_wired_hop() -> None:
    plain, world = downlink_delays([])
    assert plain == pytest.approx([base_delay_s(world)] * len(plain), abs=1e-9)
    delays, world = downlink_delays(["topology.bandwidth_mbps=1"])
    payload = world.scenario.traffic.payload_bytes
    rate = 1e6 / 8
    # CN-HA carries the call's packet, HA-FA the same inside IP-in-IP; the air has no rate
    serialization = (payload + IP_UDP) / rate + (payload + IP_UDP + IPIP) / rate
    expected = base_delay_s(world) + serialization
    assert delays == pytest.approx([expected] * len(delays), abs=1e-9)


def test_jitter_key_spreads_delays_over_both_hops_reproducibly() -> None:
    jitter = 0.005
    delays, world = downlink_delays(["topology.jitter_ms=5"])
    base = base_delay_s(world)
    assert all(base <= d < base + 2 * jitter for d in delays)  # two wired hops
    assert max(delays) - min(delays) > jitter
    assert downlink_delays(["topology.jitter_ms=5"])[0] == delays
    assert downlink_delays(["topology.jitter_ms=5"], seed=2)[0] != delays


def test_loss_key_loses_the_call_packets_at_each_hop() -> None:
    p = 0.1
    sink = ListSink()
    world = World(
        load_scenario("corridor", ["duration_s=30", "mobility.dwell_s=60", f"topology.loss={p}"]),
        "standard",
        sinks=[sink],
    )
    assert world.run()["handoffs"] == []
    data = [r for r in sink.records if r.kind == "data" and r.fields["flow"] == "down"]
    # from the first delivered packet on (the registration itself may need a retransmission)
    seqs = [(r.direction, int(r.fields["seq"])) for r in data]  # type: ignore[call-overload]
    first = min(seq for direction, seq in seqs if direction == "rx")
    sent = {seq for direction, seq in seqs if direction == "tx" and seq >= first}
    got = {seq for direction, seq in seqs if direction == "rx"}
    assert len(sent) > 1000
    delivered = len(got & sent) / len(sent)
    expected = (1 - p) ** 2  # CN-HA, then HA-FA
    assert abs(delivered - expected) <= 4 * (expected * (1 - expected) / len(sent)) ** 0.5
    link_drops = sum(n for (_, reason), n in world.net.drops.items() if reason == "link-loss")
    assert link_drops >= len(sent) - len(got & sent)
