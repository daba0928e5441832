"""Reverse tunnelling in every variant, from simulator runs (RFC 4881 §7, §4.1 step 4b).

For every method and both ``protocol.reverse_tunnel`` values: the uplink comes back after
each handoff (``uplink_disruption_ms`` is bounded), the serving FA's uplink (SetUplink) is
what §7 asks (with reverse tunnelling, tunnelled to the anchor, or to the HA after the MN
registered; without it, routed), and no HA ever drops a reverse-tunnelled packet for a
care-of address it does not hold (RFC 3024 §4.2.2).
"""

from __future__ import annotations

import pytest

from mip4.core.methods import HANDOFF_METHODS
from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink

FAS = {"198.18.2.1", "198.18.2.2", "198.18.2.3"}
HA = "198.18.16.1"
METHODS = [m for m in HANDOFF_METHODS if m != "multi-interface"]  # the single-radio ones


@pytest.mark.parametrize("reverse", [True, False])
@pytest.mark.parametrize("method", METHODS)
def test_reverse_tunnelling_in_every_variant(method: str, reverse: bool) -> None:
    sink = ListSink()
    w = World(
        load_scenario("corridor", [f"protocol.reverse_tunnel={str(reverse).lower()}"]),
        method,
        sinks=[sink],
    )
    result = w.run()
    handoffs = result["handoffs"]
    assert handoffs
    # the uplink is back within the L2 gap (100 ms) and a registration round trip (48 ms),
    # plus, for the standard method, the wait for an advertisement (up to 1 s)
    bound = 100 + 1000 + 60 if method == "standard" else 400
    for h in handoffs:
        assert h["uplink_disruption_ms"] is not None and h["uplink_disruption_ms"] < bound
    uplinks = [r for r in sink.records if r.message == "SetUplink" and r.node.startswith("FA")]
    assert uplinks
    for r in uplinks:
        destination = r.fields.get("tunnel_destination")
        if not reverse:
            # §7: the MN asked no reverse tunnel: no FA tunnels its uplink anywhere
            assert r.fields["mode"] == "route", r
        elif r.fields["mode"] == "reverse-tunnel":
            assert destination in FAS | {HA}, r
    if reverse:
        assert any(r.fields["mode"] == "reverse-tunnel" for r in uplinks)
        if method.startswith("post"):
            # §4.1 step 4b: the nFA's uplink goes through the BET to the anchor first
            assert any(r.fields.get("tunnel_destination") in FAS for r in uplinks)
    drops = [
        r
        for r in sink.records
        if r.node == "HA" and r.message in ("reverse-tunnel-check", "not-a-visitor")
    ]
    assert drops == []
