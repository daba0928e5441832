"""Smooth handoff (``protocol.smooth_handoff``, beyond RFC 4881 §3.1, §4.1, §6: buffering is
"outside the scope"; docs/decisions.md, "Smooth handoff").

With it the oFA forwards what still arrives for an MN that left (L2-LD) to the nFA it knows
(PRE-REGISTRATION: the nFA it proxied an advertisement for; POST-REGISTRATION: the BET), and
the nFA holds the MN's packets (at most ``protocol.buffer_limit``) until L2-LU, then delivers
them in order; the MN holds its own uplink while it has no router. On ``corridor``
(triggers 200 ms ahead) no low-latency method loses a packet in either direction; without it
each handoff loses the packets of the L2 gap.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink, TraceRecord

SMOOTH = "protocol.smooth_handoff=true"
PRE_FAMILY = ("pre-mobile", "pre-source", "pre-target", "combined")
POST_FAMILY = ("post-source", "post-target")


def run(method: str, *sets: str) -> tuple[World, dict[str, Any], list[TraceRecord]]:
    sink = ListSink()
    world = World(load_scenario("corridor", sets), method, sinks=[sink])
    return world, world.run(), sink.records


def drops(records: list[TraceRecord], reason: str) -> Counter[str]:
    return Counter(r.node for r in records if r.kind == "drop" and r.message == reason)


@pytest.mark.parametrize("method", PRE_FAMILY + POST_FAMILY)
def test_no_downlink_packet_is_lost_with_smooth_handoff(method: str) -> None:
    _, without, _ = run(method)
    world, with_smooth, records = run(method, SMOOTH)
    assert len(without["handoffs"]) == len(with_smooth["handoffs"]) == 2
    for h in without["handoffs"]:
        assert h["lost"] > 0  # the L2 gap: packets delivered on a cell the MN has left
    for h in with_smooth["handoffs"]:
        assert h["lost"] == 0
        assert h["reordered"] == 0  # the flush is in order and comes before the live ones
        # what the buffer delivered arrives at L2-LU: less disruption than the ideal
        assert h["l3_extra_ms"] < 0
    down = world.metrics.flows[("MN1", "down")]
    if method in POST_FAMILY:
        # the BET carries only what the oFA received after L2-LD: nothing twice
        for h in with_smooth["handoffs"]:
            assert h["duplicates"] == 0
    else:
        # With the S bit the HA bicasts from the registration on; the nFA holds the copies
        # of what the oFA still delivered before L2-LD, so those come twice (and only those).
        handoffs = with_smooth["handoffs"]
        ends = [h["l2_ld"] for h in handoffs[1:]] + [float("inf")]
        for h, end in zip(handoffs, ends, strict=True):
            repeated = [
                seq
                for t, seq, dup in zip(down.arrivals, down.seqs, down.dup, strict=True)
                if dup and h["l2_ld"] <= t < end
            ]
            assert len(repeated) == h["duplicates"] > 0
            assert all(down.first_arrival[seq] <= h["l2_ld"] for seq in repeated)
        # the oFA's forwarded copies of the bicast never reach the MN: the nFA drops them
        assert drops(records, "duplicate")["FA2"] > 0
    # The MN holds its own uplink across the L2 gap (it has no router then) and sends it
    # once it has one again: nothing lost in either direction over the whole run.
    assert without["summary"]["lost"] > sum(h["lost"] for h in without["handoffs"])
    assert with_smooth["summary"]["lost"] == 0
    held = [r for r in records if r.node == "MN1" and r.message == "StartBuffering"]
    assert len(held) == 2  # one per L2-LD
    assert not drops(records, "no-default-router")


def test_without_the_s_bit_nothing_lost_and_nothing_twice() -> None:
    """No bicast: no copies to drop, every packet once, none lost (delivered late)."""
    _, result, records = run("pre-mobile", SMOOTH, "protocol.low_latency_s_bit=false")
    for h in result["handoffs"]:
        assert (h["lost"], h["duplicates"], h["reordered"]) == (0, 0, 0)
    assert not drops(records, "duplicate")


def test_the_ofa_forwards_to_the_nfa_after_l2_ld() -> None:
    """A trigger only 10 ms ahead: the registration reaches the HA after L2-LD, so the HA
    still sends to the oFA after the MN left. Without smooth handoff those are lost; with
    it the oFA forwards them to the nFA (``SetForwardTunnel`` at L2-LD), which holds them
    and drops the HA's bicast copies once the registration is in place."""
    late = "radio.trigger_lead_ms=10"
    _, without, _ = run("pre-source", late)
    _, result, records = run("pre-source", late, SMOOTH)
    assert all(h["lost"] > 0 for h in without["handoffs"])
    for h in result["handoffs"]:
        assert (h["lost"], h["duplicates"], h["reordered"]) == (0, 0, 0)
    forwarding = [
        r
        for r in records
        if r.kind == "dataplane" and r.message == "SetForwardTunnel" and r.node == "FA1"
    ]
    l2_ld = next(r for r in records if r.kind == "l2" and r.node == "FA1" and r.message == "L2-LD")
    assert forwarding and forwarding[0].time == l2_ld.time
    assert forwarding[0].fields["peer"] == "198.18.2.2"
    assert drops(records, "duplicate")["FA2"] > 0


@pytest.mark.parametrize(
    ("method", "sets"),
    [("post-source", ()), ("pre-target", ("protocol.low_latency_s_bit=false",))],
)
def test_the_buffer_limit_loses_exactly_the_excess(method: str, sets: tuple[str, ...]) -> None:
    """``protocol.buffer_limit``: the nFA holds at most that many packets per MN; each
    packet beyond it is dropped (``buffer-full``) and lost, and nothing else is.

    The buffer drops its tail, so the packets it keeps are the oldest: the per-handoff
    ``lost`` of design.md (only the packets before the first one received after L2-LD)
    does not see the dropped ones; the run's ``summary.lost`` (sent - delivered) does."""
    _, full, _ = run(method, SMOOTH, *sets)
    _, none_kept, _ = run(method, SMOOTH, *sets, "protocol.buffer_limit=0")
    held = [h["lost"] for h in none_kept["handoffs"]]  # everything the nFA would hold
    assert all(n > 3 for n in held)
    _, result, records = run(method, SMOOTH, *sets, "protocol.buffer_limit=3")
    excess = sum(held) - 3 * len(held)
    full_buffers = drops(records, "buffer-full")
    assert full_buffers["FA2"] + full_buffers["FA3"] == excess  # the nFAs: downlink
    # the MN holds its uplink with the same limit: 5 packets in each 100 ms gap, 3 kept
    assert full_buffers["MN1"] == 2 * len(held)
    # (without the S bit the HA refuses the uplink the oFA still reverse-tunnels after the
    # early switch, RFC 3024 §4.2.2: lost with any buffer, so compared with the full buffer)
    assert result["summary"]["lost"] - full["summary"]["lost"] == sum(full_buffers.values())
    for h in result["handoffs"]:
        assert (h["lost"], h["duplicates"], h["reordered"]) == (0, 0, 0)


def test_off_by_default_and_a_scenario_key() -> None:
    scenario = load_scenario("corridor")
    assert scenario.protocol.smooth_handoff is False
    assert scenario.protocol.buffer_limit == 64
    _, result, records = run("post-source")
    kinds = {r.message for r in records if r.kind == "dataplane"}
    assert not kinds & {"StartBuffering", "FlushBuffer", "SetDuplicateFilter"}
    assert all(h["lost"] > 0 for h in result["handoffs"])
