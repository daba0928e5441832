"""Build a simulated world from a scenario, a method and a seed; run it; report.

:func:`simulate` is what ``mip4 simulate`` calls: it returns the JSON object of design.md
(``scenario``, ``method``, ``seed``, ``params``, ``handoffs``, ``summary``).

Addresses come from 198.18.0.0/15 (the benchmarking range): CN 198.18.0.1, FAk 198.18.2.k,
GFA 198.18.4.1, HA 198.18.16.1 on the home network 198.18.16.0/20 whose MNs are
198.18.16.16 onwards. Wired core: CN-HA (``topology.cn_delay_ms``), HA-FAk (d_FH), FA-FA
between neighbouring cells (d_FF); with a GFA, FA-GFA (``topology.gfa_delay_ms``) and GFA-HA
(d_FH) replace the HA-FA links.

Timeline: the HA and GFA start at 0, each FA at a random phase within one advertisement
interval; at ``settle`` = one advertisement interval the MNs start and attach to their first
cell; mobility times count from ``settle``; the calls start at ``traffic.start_s`` (default
``settle`` + 1 s, each MN with a random phase within one packet interval) and stop at the end
of the scenario's duration; the run goes on one more second so packets in flight arrive.

Randomness: one ``random.Random`` per concern, seeded from ``"<seed>:<concern>"`` (links,
cells, mobility, phases, each agent), so adding a node or a flow never shifts another
concern's draws, and the same scenario and seed give the same trace byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from mip4.core.methods import HANDOFF_METHODS
from mip4.errors import LocalUsageError
from mip4.sim.engine import Engine
from mip4.sim.metrics import Metrics
from mip4.sim.mobility import default_duration, plan, requested_handoffs
from mip4.sim.network import (
    AgentNode,
    CorrespondentNode,
    MobileNodeHost,
    Network,
    WiredNode,
)
from mip4.sim.radio import Radio
from mip4.sim.scenario import Scenario
from mip4.sim.trace import JsonLinesSink, Trace, TraceSink
from mip4.sim.traffic import Traffic

METHODS_AVAILABLE = HANDOFF_METHODS  # the daemon's [daemon] method takes the same names
DRAIN_S = 1.0
MAX_MN_TAPS = 16  # pcap: the air interface of the first MNs only (file handles)


class MethodError(LocalUsageError):
    """An unknown method."""


def check_method(method: str) -> None:
    available = ", ".join(METHODS_AVAILABLE)
    if method not in METHODS_AVAILABLE:
        raise MethodError(f"unknown method {method!r}; available: {available}")


def mac_of(index: int) -> bytes:
    """A locally administered unicast MAC, unique per node index."""
    return b"\x02\x00" + index.to_bytes(4, "big")


@dataclass(frozen=True, slots=True)
class NodePlan:
    """One node of the world before it is built: what its agent's configuration needs."""

    name: str
    role: str  # CN, HA, GFA, FA, MN
    index: int  # within its role, from 1
    address: IPv4Address
    mac: bytes


@dataclass(slots=True)
class WorldPlan:
    """Every node's name, address and MAC, with the scenario and method."""

    scenario: Scenario
    method: str
    seed: int
    cn: NodePlan
    ha: NodePlan
    gfa: NodePlan | None
    fas: list[NodePlan] = field(default_factory=list)
    mns: list[NodePlan] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)  # shared by the agent factory

    @classmethod
    def of(cls, scenario: Scenario, method: str, seed: int) -> WorldPlan:
        count = 0

        def node(name: str, role: str, index: int, address: str | IPv4Address) -> NodePlan:
            nonlocal count
            count += 1
            return NodePlan(name, role, index, IPv4Address(address), mac_of(count))

        base = IPv4Address("198.18.2.0")
        home = IPv4Address("198.18.16.16")
        world = cls(
            scenario=scenario,
            method=method,
            seed=seed,
            cn=node("CN", "CN", 1, "198.18.0.1"),
            ha=node("HA", "HA", 1, "198.18.16.1"),
            gfa=node("GFA", "GFA", 1, "198.18.4.1") if scenario.topology.gfa else None,
        )
        world.fas = [node(f"FA{k}", "FA", k, base + k) for k in range(1, scenario.topology.fas + 1)]
        world.mns = [
            node(f"MN{k}", "MN", k, home + (k - 1)) for k in range(1, scenario.mobility.mns + 1)
        ]
        return world


AgentFactory = Callable[[NodePlan, WorldPlan, random.Random], Any]


class World:
    """A built world: engine, network, radio, traffic and metrics, ready to :meth:`run`."""

    def __init__(
        self,
        scenario: Scenario,
        method: str,
        *,
        seed: int | None = None,
        sinks: Iterable[TraceSink] = (),
        agent_factory: AgentFactory | None = None,
        pcap_dir: str | Path | None = None,
        trace_detail: bool = True,
    ) -> None:
        check_method(method)
        self.scenario = scenario
        self.method = method
        self.seed = scenario.seed if seed is None else seed
        self.engine = Engine()
        self.metrics = Metrics()
        self.trace = Trace([self.metrics, *sinks])
        self.net = Network(self.engine, self.trace, trace_detail=trace_detail and bool(sinks))
        self.plan = WorldPlan.of(scenario, method, self.seed)
        if agent_factory is None:
            from mip4.sim.agents import make_agent

            agent_factory = make_agent
        self._factory = agent_factory
        self._taps: list[Any] = []
        self._build()
        if pcap_dir is not None:
            self._add_taps(Path(pcap_dir))

    def rng(self, concern: str) -> random.Random:
        return random.Random(f"{self.seed}:{concern}")

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        s, plan_ = self.scenario, self.plan
        net, engine = self.net, self.engine
        topo, radio = s.topology, s.radio
        assert radio.air_delay_ms is not None and radio.l2_handoff_ms is not None
        assert radio.trigger_lead_ms is not None
        # every address first, one after another: the objects that all address-keyed tables
        # share (Network.canonical) then sit together in memory, a few cache lines for many
        # MNs, instead of each next to its own node's other objects
        gfa_plan = [plan_.gfa] if plan_.gfa is not None else []
        for node_plan in (plan_.cn, plan_.ha, *gfa_plan, *plan_.fas, *plan_.mns):
            net.canonical(node_plan.address.packed)
        self.cn = CorrespondentNode(net, "CN", plan_.cn.address, plan_.cn.mac)
        net.add(self.cn)
        self.ha = self._agent_node(plan_.ha)
        self.gfa = self._agent_node(plan_.gfa) if plan_.gfa is not None else None
        self.fas = [self._agent_node(fa) for fa in plan_.fas]
        self.mns: list[MobileNodeHost] = []
        host: type[MobileNodeHost] = MobileNodeHost
        if self.method == "multi-interface":
            from mip4.sim.multi_radio import MultiRadioHost

            host = MultiRadioHost
        for mn_plan in plan_.mns:
            mn = host(net, mn_plan.name, mn_plan.address, mn_plan.mac)
            mn.agent = self._factory(mn_plan, plan_, self.rng(f"agent:{mn_plan.name}"))
            net.add(mn)
            net.add_home_address(mn_plan.address, self.ha)
            self.mns.append(mn)

        def link(a: WiredNode, b: WiredNode, delay_ms: float) -> None:
            net.connect(
                a,
                b,
                delay_s=delay_ms / 1000.0,
                jitter_s=topo.jitter_ms / 1000.0,
                loss=topo.loss,
                rate_bytes_per_s=topo.bandwidth_mbps * 125_000.0,
                rng=self.rng(f"link:{a.name}-{b.name}"),
            )

        link(self.cn, self.ha, topo.cn_delay_ms)
        if self.gfa is not None:
            link(self.gfa, self.ha, topo.ha_delay_ms)
            for fa in self.fas:
                link(fa, self.gfa, topo.gfa_delay_ms)
        else:
            for fa in self.fas:
                link(fa, self.ha, topo.ha_delay_ms)
        self._fa_links(link)
        net.compute_routes()
        for fa in self.fas:
            net.add_cell(
                fa,
                delay_s=radio.air_delay_ms / 1000.0,
                loss=radio.air_loss,
                rng=self.rng(f"cell:{fa.name}"),
            )

        t_adv = s.protocol.advertisement_interval_ms / 1000.0
        self.settle = t_adv
        l2_handoff = radio.l2_handoff_ms / 1000.0
        mob = s.mobility
        duration = s.duration_s
        if duration is None:
            duration = default_duration(
                mob.model,
                cells=topo.fas,
                dwell_s=mob.dwell_s,
                handoffs=requested_handoffs(mob),
                fast_dwell_s=mob.fast_dwell_ms / 1000.0,
                l2_handoff_s=l2_handoff,
            )
        self.duration = duration
        self.end = self.settle + duration + DRAIN_S

        # agents start: HA and GFA at 0, every FA at a random phase of the advert interval
        phases = self.rng("phases")
        engine.at(0.0, self.ha.start)
        if self.gfa is not None:
            engine.at(0.0, self.gfa.start)
        for fa in self.fas:
            engine.at(phases.uniform(0.0, t_adv), fa.start)

        self.radio = Radio(
            net,
            engine,
            method=self.method,
            l2_handoff_s=l2_handoff,
            trigger_lead_s=radio.trigger_lead_ms / 1000.0,
            combined_trigger=s.protocol.combined_trigger,
        )
        plans = plan(
            mob.model,
            cells=topo.fas,
            mns=mob.mns,
            dwell_s=mob.dwell_s,
            duration_s=duration,
            handoffs=requested_handoffs(mob),
            fast_dwell_s=mob.fast_dwell_ms / 1000.0,
            l2_handoff_s=l2_handoff,
            dwell_jitter_s=mob.dwell_jitter_s,
            rng=self.rng("mobility"),
        )
        for mn, mobility in zip(self.mns, plans, strict=True):
            shifted = type(mobility)(
                mobility.start_cell,
                tuple(type(m)(m.time + self.settle, m.source, m.target) for m in mobility.moves),
            )
            self.radio.schedule(mn, shifted, start=self.settle)

        traffic = s.traffic
        interval = traffic.interval_ms / 1000.0
        start = traffic.start_s if traffic.start_s is not None else self.settle + 1.0
        self.traffic = Traffic(engine, self.trace, self.cn, self.mns)
        for mn in self.mns:
            self.traffic.add_call(
                mn,
                interval=interval,
                payload_bytes=traffic.payload_bytes,
                start=start + phases.uniform(0.0, interval),
                stop=self.settle + duration,
                downlink=traffic.downlink,
                uplink=traffic.uplink,
            )
        self.traffic.begin()

    def _fa_links(self, link: Callable[[WiredNode, WiredNode, float], None]) -> None:
        """FA-FA links between neighbouring cells (a line, or the grid's 4-neighbourhood)."""
        from mip4.sim.mobility import grid_neighbours

        d_ff = self.scenario.topology.fa_delay_ms
        n = len(self.fas)
        if self.scenario.mobility.model == "grid":
            for i in range(n):
                for j in grid_neighbours(i, n):
                    if j > i:
                        link(self.fas[i], self.fas[j], d_ff)
        else:
            for i in range(n - 1):
                link(self.fas[i], self.fas[i + 1], d_ff)

    def _agent_node(self, node_plan: Any) -> AgentNode:
        node = AgentNode(self.net, node_plan.name, node_plan.role, node_plan.address, node_plan.mac)
        node.agent = self._factory(node_plan, self.plan, self.rng(f"agent:{node_plan.name}"))
        self.net.add(node)
        return node

    def _add_taps(self, folder: Path) -> None:
        from mip4.sim.pcap import PcapTap

        folder.mkdir(parents=True, exist_ok=True)
        for mn in self.mns[:MAX_MN_TAPS]:
            mn.tap_air = tap = PcapTap(folder / f"{mn.name}-air.pcap")
            self._taps.append(tap)
        for node in [self.ha, *self.fas, *([self.gfa] if self.gfa else [])]:
            node.tap_wired = tap = PcapTap(folder / f"{node.name}-wired.pcap")
            self._taps.append(tap)

    # ------------------------------------------------------------------ running

    def run(self) -> dict[str, object]:
        """Run to the end; return the JSON result of design.md."""
        try:
            self.engine.run(self.end)
        finally:
            for tap in self._taps:
                tap.close()
        return self.result()

    def result(self) -> dict[str, object]:
        handoffs, summary = self.metrics.result()
        params = self.scenario.params()
        params["seed"] = self.seed
        params["duration_s"] = self.duration
        return {
            "scenario": self.scenario.name,
            "method": self.method,
            "seed": self.seed,
            "params": params,
            "handoffs": handoffs,
            "summary": summary,
        }


def simulate(
    scenario: Scenario,
    method: str,
    *,
    seed: int | None = None,
    trace_path: str | Path | None = None,
    pcap_dir: str | Path | None = None,
    agent_factory: AgentFactory | None = None,
) -> dict[str, object]:
    """Build and run one world; write the trace (JSON lines) and pcaps when asked."""
    if trace_path is None:
        world = World(scenario, method, seed=seed, pcap_dir=pcap_dir, agent_factory=agent_factory)
        return world.run()
    with open(trace_path, "w", encoding="utf-8") as stream:
        world = World(
            scenario,
            method,
            seed=seed,
            sinks=[JsonLinesSink(stream)],
            pcap_dir=pcap_dir,
            agent_factory=agent_factory,
        )
        return world.run()
