"""POST-REGISTRATION under loss in the simulator (RFC 4881 §8.2).

Each handoff message of the first handoff is dropped (once, or every time); the RFC's
recovery follows: no tunnel built on a lost HRqst, the oFA's lifetime-0 HRqst(r) after a
lost HRply(s) (retransmitted with exponential backoff for CONFIG-HFAIL), the nFA's ICMP
Destination Unreachable after a lost HRply(t), and an advertisement to the MN whenever the
tunnel fails, so that the MN registers with the nFA right after L2-LU. Afterwards no BET,
BET timer, tunnel or proxy ARP is left (that nothing outlives its lifetime under stress is
shown in test_post_lifetimes.py, with short lifetimes and a quiet period after them).
"""

from __future__ import annotations

import itertools

import pytest

from mip4.core.actions import SendPacket
from mip4.sim.network import Node
from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink, TraceRecord

FA2 = "198.18.2.2"
L2_LU = 6.1
# Recovery: the nFA's advertisement at L2-LU (d_w), the registration round trip
# 2 (d_w + d_FH) = 44 ms, and the reply to the MN (d_w); with a margin.
BOUND_S = 0.002 + 2 * (0.002 + 0.020) + 0.002 + 0.01

CASES = [
    ("post-source", "FA1", "handoff_request_s", "§8.2.1"),
    ("post-source", "FA2", "handoff_reply_s", "§8.2.2 source"),
    ("post-target", "FA2", "handoff_request_t", "§8.2.1"),
    ("post-target", "FA1", "handoff_reply_t", "§8.2.2 target"),
]


def world(method: str, *overrides: str) -> tuple[World, ListSink]:
    sink = ListSink()
    return World(load_scenario("corridor", list(overrides)), method, sinks=[sink]), sink


def lose(
    w: World,
    node_name: str,
    message: str,
    *,
    times: int = 1,
    before: float = 7.0,
    to: str | None = None,
) -> list[float]:
    """Drop ``message`` from ``node_name`` (at most ``times``, only during the first
    handoff: before ``before``)."""
    lost: list[float] = []

    def rule(node: Node, action: SendPacket) -> bool:
        if (
            node.name == node_name
            and action.message == message
            and len(lost) < times
            and w.engine.now < before
            and (to is None or str(action.destination) == to)
        ):
            lost.append(w.engine.now)
            return True
        return False

    w.net.loss_rules.append(rule)
    return lost


def accepted_at_nfa(records: list[TraceRecord]) -> float:
    return next(
        r.time
        for r in records
        if r.node == "MN1" and r.message == "registration-accepted" and r.time > L2_LU - 0.5
    )


def assert_nothing_left(w: World) -> None:
    end = w.engine.now
    for fa in w.fas:
        assert fa.agent.snapshot(end)["post_registration"] == {"bets": {}, "cancelling": []}
        assert fa.dataplane.forward_tunnels == {}
        assert not fa.dataplane.proxy_arp
        assert not [key for key in fa.armed if str(key[0]).startswith("bet-")]


@pytest.mark.parametrize(("method", "node", "message", "section"), CASES)
def test_a_lost_handoff_message_is_recovered(
    method: str, node: str, message: str, section: str
) -> None:
    w, sink = world(method)
    lost = lose(w, node, message)
    result = w.run()
    records = sink.records
    assert lost and lost[0] < 6.0
    # The nFA advertises to the MN at L2-LU, and the MN registers with it at once.
    advert = next(
        r
        for r in records
        if r.node == "FA2" and r.message == "post-advertisement" and L2_LU <= r.time < L2_LU + 0.001
    )
    assert advert.fields["mn"] == "198.18.16.16"
    assert accepted_at_nfa(records) - L2_LU <= BOUND_S
    # No BET tunnel carried anything of this handoff at the oFA, or it was stopped.
    forward = [
        r
        for r in records
        if r.node == "FA1" and r.message == "SetForwardTunnel" and 5.5 < r.time < 7.0
    ]
    if message in ("handoff_request_s", "handoff_reply_s", "handoff_request_t"):
        assert forward == []  # §8.2.1, §8.2.2: no forward tunnel without confirmation
    else:
        # §8.2.2 target: the oFA tunnels from L2-LD until the nFA's ICMP error stops it.
        assert [f.fields["peer"] for f in forward] == [FA2, None]
        icmp = next(r for r in records if r.message == "icmp_destination_unreachable")
        assert icmp.node == "FA2" and icmp.time == pytest.approx(L2_LU)
    # The second handoff is a clean POST-REGISTRATION one again.
    assert result["handoffs"][1]["l3_extra_ms"] <= 3.0
    assert_nothing_left(w)


def test_config_hfail_bounds_the_cancel_retransmissions() -> None:
    """§8.2.2: HRply(s) lost and every answer to the cancel too: the oFA sends its
    lifetime-0 HRqst at L2-LD, then retransmits with exponential backoff, for CONFIG-HFAIL
    (10 s) and no longer."""
    w, sink = world("post-source")
    lose(w, "FA2", "handoff_reply_s")
    lose(w, "FA2", "handoff_reply_r", times=100, before=20.0, to="198.18.2.1")
    w.run()
    sent = [
        r.time
        for r in sink.records
        if r.node == "FA1"
        and r.message == "handoff_request_r"
        and r.direction == "tx"
        and r.time < 16.5
    ]
    ld = 6.0
    assert sent[0] == pytest.approx(ld)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(sent)]
    assert gaps == [0.5, 1.0, 2.0, 4.0]
    assert sent[-1] - ld < 10.0
    abandoned = next(r for r in sink.records if r.message == "bet-cancel-abandoned")
    assert abandoned.time == pytest.approx(ld + 10.0)
    assert_nothing_left(w)


def test_the_anchor_drops_nothing_it_should_keep_when_all_goes_well() -> None:
    """Sanity for the cases above: without loss nothing is advertised at L2-LU."""
    w, sink = world("post-source")
    w.run()
    assert not [r for r in sink.records if r.message == "post-advertisement" and r.time > 5.5]
    assert_nothing_left(w)


def test_the_ofa_drops_what_an_unconfirmed_nfa_reverse_tunnels() -> None:
    """§8.2.2: HRply(s) lost, and the first lifetime-0 HRqst(r) too: the nFA delivers from
    L2-LU and reverse-tunnels the MN's uplink to the oFA until the retransmission cancels
    it; the oFA MUST drop those packets, and stops refusing once the cancel is answered."""
    w, sink = world("post-source")
    lose(w, "FA2", "handoff_reply_s")
    lose(w, "FA1", "handoff_request_r")
    w.run()
    refused = [r for r in sink.records if r.node == "FA1" and r.message == "reverse-tunnel-refused"]
    assert refused and all(L2_LU < r.time < 6.6 for r in refused)
    states = [
        r.fields["enabled"]
        for r in sink.records
        if r.node == "FA1" and r.message == "RefuseReverseTunnel"
    ]
    assert states == [True, False]
    assert not [r for r in sink.records if r.message == "reverse-tunnel-check"]
    assert all(not fa.dataplane.refused for fa in w.fas)
    assert_nothing_left(w)
