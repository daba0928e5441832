"""Nothing outlives its lifetime (issue 5: "after every scenario no tunnel, timer or
visitor entry outlives its lifetime").

Every run uses short lifetimes (a 2 s BET, 4 s registrations) and goes on, quiet, for
longer than the longest of them plus CONFIG-HFAIL (RFC 4881 §8.2.2, 10 s) after the last
handoff. Then no BET, cancel, combined-method timer, forward tunnel, BET reverse tunnel,
proxy ARP, refused tunnel or buffer may be left at any FA, no FA may hold a visitor entry
(in the agent or the data plane) for an MN that is not on its link, and no agent may have a
handoff timer armed. The lifetimes are what ends the state here: the lifetime-0 HRqst(r)
that would end a BET early is lost every time in the first test, so without the BET's own
expiry (``_arm_expiry``) the anchor's tunnel would stay.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import pytest

from mip4.core.actions import SendPacket, UplinkMode
from mip4.sim.network import Node
from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink

BET_S = 2
REGISTRATION_S = 4
CONFIG_HFAIL_S = 10.0
QUIET_S = max(BET_S, REGISTRATION_S) + CONFIG_HFAIL_S + 5.0
SHORT = [
    f"protocol.tunnel_lifetime_s={BET_S}",
    f"protocol.registration_lifetime_s={REGISTRATION_S}",
]
# timers that run for as long as an agent lives (advertising, PRE-REGISTRATION's neighbour
# solicitations, the HA's bindings and the MN's registration of its current FA)
STEADY = {
    "FA": {"advertise", "pre-solicit", "visitor"},
    "HA": {"binding"},
    "MN": {"agent-lifetime", "registration-expiry", "reregister"},
}


def world(method: str, *overrides: str) -> tuple[World, ListSink]:
    sink = ListSink()
    return World(load_scenario("corridor", [*SHORT, *overrides]), method, sinks=[sink]), sink


def run_then_wait(w: World) -> None:
    """Run every handoff of the scenario (traffic stops with the last), then stay quiet for
    longer than every lifetime plus CONFIG-HFAIL."""
    w.run()
    w.engine.run(w.engine.now + QUIET_S)


def deadlines(w: World, node: Any) -> dict[Any, float]:
    """The deadline of every timer ``node`` has armed (read from the engine's queue)."""
    out = {}
    for _, _, callback, args in w.engine.queue:
        if getattr(callback, "__self__", None) is node and len(args) == 3:
            key, token, deadline = args
            if node.armed.get(key) == token:
                out[key] = deadline
    return out


def assert_nothing_outlives(w: World) -> None:
    now = w.engine.now
    fa_addresses = {IPv4Address(fa.address).packed for fa in w.fas}
    for fa in w.fas:
        agent: Any = fa.agent
        assert agent._bets == {}, fa.name
        assert agent._cancels == {}, fa.name
        assert getattr(agent, "_fallbacks", {}) == {}, fa.name
        dp = fa.dataplane
        assert dp.forward_tunnels == {}, fa.name
        assert not dp.proxy_arp, fa.name
        assert not dp.refused, fa.name
        assert not dp.buffers, fa.name
        here = {IPv4Address(mn.address) for mn in w.mns if mn.cell is not None and mn.cell.fa is fa}
        for home in {IPv4Address(h) for h in dp.visitors} | {
            h for h in agent._records if agent.visitor(h) is not None
        }:
            assert home in here, f"{fa.name}: visitor {home} not on its link"
            entry = agent.visitor(home)
            assert entry is not None, f"{fa.name}: data-plane visitor {home} without an entry"
            assert entry.expires_at is None or entry.expires_at >= now
        for home, uplink in dp.uplinks.items():
            # a BET's reverse end (the uplink tunnelled to another FA) without its BET
            assert not (
                uplink.mode is UplinkMode.REVERSE_TUNNEL and uplink.destination in fa_addresses
            ), f"{fa.name}: uplink of {IPv4Address(home)} still tunnelled to an FA"
            # no uplink at all (routed or tunnelled to the HA) for an MN that left the link:
            # RemoveVisitor ends it
            assert IPv4Address(home) in here, (
                f"{fa.name}: uplink of {IPv4Address(home)} ({uplink.mode.value}) kept for an "
                "MN not on its link"
            )
    for node in [w.ha, *w.fas, *w.mns]:
        role = "MN" if node in w.mns else ("HA" if node is w.ha else "FA")
        timers = deadlines(w, node)
        assert set(timers) == set(node.armed), node.name
        left = sorted({str(key[0]) for key in timers} - STEADY[role])
        assert left == [], f"{node.name}: handoff timers still armed: {left}"
        for key, deadline in timers.items():
            # nothing is armed further out than the longest lifetime in play
            assert deadline <= now + max(REGISTRATION_S, 1800), (node.name, key)
        if role == "FA":
            visitor_timers = {key[1] for key in timers if key[0] == "visitor"}
            assert visitor_timers <= {
                IPv4Address(mn.address)
                for mn in w.mns
                if mn.cell is not None and mn.cell.fa is node
            }, node.name


def lose_always(w: World, message: str) -> list[float]:
    lost: list[float] = []

    def rule(node: Node, action: SendPacket) -> bool:
        if action.message == message:
            lost.append(w.engine.now)
            return True
        return False

    w.net.loss_rules.append(rule)
    return lost


@pytest.mark.parametrize("method", ["post-source", "post-target"])
def test_a_bet_nobody_cancels_ends_at_its_lifetime(method: str) -> None:
    """§4.3: every lifetime-0 HRqst(r) is lost, so the anchor hears neither the nFA's
    cancel after the MN registers nor any renewal: its BET, and the forward tunnel, end
    when the lifetime runs out, and nothing else is left after the quiet period."""
    w, sink = world(method)
    lost = lose_always(w, "handoff_request_r")
    run_then_wait(w)
    assert lost
    ended = [
        r
        for r in sink.records
        if r.message == "bet-ended" and r.fields.get("why") == "expired" and r.node == "FA1"
    ]
    agreed = next(r for r in sink.records if r.node == "FA1" and r.message == "bet-agreed")
    assert ended and ended[0].time == pytest.approx(agreed.time + BET_S)
    assert_nothing_outlives(w)


STRESS = {
    "plain": [],
    "fast-ping-pong": ["mobility.model=ping-pong", "mobility.dwell_s=0.2", "mobility.handoffs=20"],
    "lossy": ["radio.air_loss=0.2", "topology.loss=0.1"],
    "lossy-fast": ["topology.loss=0.3", "mobility.model=fast"],
    "grid": ["mobility.model=grid", "mobility.mns=10"],
}


@pytest.mark.parametrize("method", ["post-source", "post-target", "combined"])
@pytest.mark.parametrize("case", sorted(STRESS))
def test_under_stress_nothing_outlives_its_lifetime(method: str, case: str) -> None:
    """Random loss of any message, handoffs every 0.3 s, many MNs; then a quiet period
    longer than every lifetime plus CONFIG-HFAIL: nothing of the handoffs is left."""
    w, _ = world(method, *STRESS[case])
    run_then_wait(w)
    assert_nothing_outlives(w)
