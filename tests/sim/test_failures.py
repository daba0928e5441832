"""Failure cases in the simulated world with the real agents (issue 3 §4): a lost
Registration Reply (the MN's retransmission recovers), an HA refusing a bad authenticator
(no binding), and a replayed request (code 133, no state change)."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import dpkt
import pytest

from mip4.core.actions import SendPacket
from mip4.core.mobile_node import MobileNode
from mip4.core.security import SecurityAssociation
from mip4.sim.agents import make_agent
from mip4.sim.network import AIR, Node
from mip4.sim.runner import NodePlan, World, WorldPlan
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink, TraceRecord


def world(sink: ListSink, factory: object = make_agent, overrides: tuple[str, ...] = ()) -> World:
    return World(
        load_scenario("corridor", ["mobility.dwell_s=4", *overrides]),
        "standard",
        sinks=[sink],
        agent_factory=factory,  # type: ignore[arg-type]
    )


def sent(records: list[TraceRecord], node: str, word: str) -> list[TraceRecord]:
    return [
        r
        for r in records
        if r.node == node and r.kind == "packet" and r.direction == "tx" and word in r.message
    ]


def test_lost_registration_reply_is_recovered_by_retransmission() -> None:
    sink = ListSink()
    w = world(sink)
    lost: list[float] = []

    def lose_first_reply_on_air(node: Node, action: SendPacket) -> bool:
        if (
            node.name == "FA1"
            and action.interface == AIR
            and "reply" in action.message
            and not lost
        ):
            lost.append(w.engine.now)
            return True
        return False

    w.net.loss_rules.append(lose_first_reply_on_air)
    result = w.run()
    assert lost, "the first reply was lost"
    accepted = [r for r in sink.records if r.node == "MN1" and r.message == "registration-accepted"]
    requests = [r.time for r in sent(sink.records, "MN1", "registration_request")]
    assert accepted
    before = [t for t in requests if t < accepted[0].time]
    assert len(before) >= 2  # the original and at least one retransmission
    assert before[1] - before[0] >= 1.0 - 1e-9  # RFC 5944 §3.6.3: not faster than once a second
    assert result["summary"]["handoffs"] == 2  # type: ignore[index]
    assert [h["l3_extra_ms"] is not None for h in result["handoffs"]] == [True, True]  # type: ignore[attr-defined]


def test_ha_refuses_a_bad_authenticator_and_binds_nothing() -> None:
    def wrong_key(node: NodePlan, plan: WorldPlan, rng: random.Random) -> object:
        agent = make_agent(node, plan, rng)
        if node.role != "MN":
            return agent
        assert isinstance(agent, MobileNode)
        bad = SecurityAssociation(spi=agent.config.mn_ha.spi, key=b"not the HA's key")
        return MobileNode(dataclasses.replace(agent.config, mn_ha=bad), random=rng)

    sink = ListSink()
    w = world(sink, wrong_key, ("duration_s=4",))
    result = w.run()
    assert sent(sink.records, "MN1", "registration_request")
    ha_changes = [r for r in sink.records if r.node == "HA" and r.kind == "dataplane"]
    assert ha_changes == []
    assert w.ha.dataplane.bindings == {}
    assert w.ha.agent.snapshot(w.engine.now)["bindings"] == {}
    requests = [
        r for r in sink.records if r.node == "HA" and r.kind == "packet" and r.direction == "rx"
    ]
    requests = [r for r in requests if "registration_request" in r.message]
    replies = sent(sink.records, "HA", "reply")
    # RFC 5944 §3.8.2.1 (a): every request is refused with 131, failed authentication ...
    assert replies and {r.fields.get("code") for r in replies} == {131}
    assert len(replies) == len(requests)
    # ... and counted as a drop, by reason
    drops = w.ha.agent.snapshot(w.engine.now)["drops"]
    assert drops.get("bad-authenticator") == len(requests), drops
    assert result["summary"]["delivered"] == 0  # type: ignore[index]


def test_replayed_request_gets_code_133_and_changes_nothing() -> None:
    sink = ListSink()
    w = world(sink, overrides=("duration_s=6",))
    captured: list[bytes] = []

    def capture_relayed_request(node: Node, action: SendPacket) -> bool:
        if node.name == "FA1" and action.interface != AIR and "request" in action.message:
            captured.append(action.ip_packet())
        return False

    w.net.loss_rules.append(capture_relayed_request)
    fa1 = w.fas[0]
    replay_at = 4.0
    w.engine.at(replay_at, lambda: fa1.route(captured[0], "registration_request"))
    w.run()
    assert captured
    before = [
        r for r in sink.records if r.node == "HA" and r.kind == "dataplane" and r.time < replay_at
    ]
    after = [
        r for r in sink.records if r.node == "HA" and r.kind == "dataplane" and r.time >= replay_at
    ]
    assert before and not [r for r in after if r.time < 5.0]  # the replay changed nothing
    replies = [r for r in sent(sink.records, "HA", "reply") if r.time >= replay_at]
    assert replies and replies[0].fields.get("code") == 133  # RFC 5944 §3.8.3.1


def test_regional_registration_through_a_gfa_carries_the_call() -> None:
    sink = ListSink()
    w = world(sink, overrides=("topology.gfa=true",))
    result = w.run()
    gfa_bindings = [
        r for r in sink.records if r.node == "GFA" and r.message == "SetMobilityBinding"
    ]
    assert gfa_bindings  # the GFA re-tunnels the HA's packets to the FA (RFC 4857)
    ha_bindings = [r for r in sink.records if r.node == "HA" and r.message == "SetMobilityBinding"]
    assert {tuple(r.fields["care_of_addresses"]) for r in ha_bindings} == {("198.18.4.1",)}  # type: ignore[arg-type]
    summary = result["summary"]
    assert summary["handoffs"] == 2  # type: ignore[index]
    assert summary["delivered"] > 0.85 * summary["sent"]  # type: ignore[index]
    assert all(h["l3_extra_ms"] is not None for h in result["handoffs"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(("encapsulation", "protocol"), [("minimal", 55), ("gre", 47)])
def test_negotiated_encapsulation_carries_the_call(
    encapsulation: str, protocol: int, tmp_path: Path
) -> None:
    sink = ListSink()
    w = World(
        load_scenario("corridor", [f"protocol.encapsulation={encapsulation}"]),
        "standard",
        sinks=[sink],
        pcap_dir=tmp_path,
    )
    result = w.run()
    assert result["summary"]["delivered"] > 0.85 * result["summary"]["sent"]  # type: ignore[index]
    with open(tmp_path / "FA2-wired.pcap", "rb") as stream:
        seen = {dpkt.ethernet.Ethernet(frame).data.p for _, frame in dpkt.pcap.Reader(stream)}
    assert protocol in seen  # both directions tunnelled with the negotiated encapsulation
