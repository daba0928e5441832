"""Method ``multi-interface`` on ``two-radios`` (RFC 4881 Appendix B): an MN with two radios
registers through the nFA on its second interface while the first still carries the
traffic, keeps both bindings (S bit) for ``protocol.multi_interface_hold_ms``, then
deregisters the old care-of address through the oFA before the old link goes down."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mip4.sim.runner import METHODS_AVAILABLE, World
from mip4.sim.scenario import load_scenario
from mip4.sim.trace import ListSink, TraceRecord

FA1, FA2, FA3 = "198.18.2.1", "198.18.2.2", "198.18.2.3"
METHOD = "multi-interface"


def run(
    *sets: str, scenario: str = "two-radios"
) -> tuple[World, dict[str, Any], list[TraceRecord]]:
    sink = ListSink()
    world = World(load_scenario(scenario, sets), METHOD, sinks=[sink])
    return world, world.run(), sink.records


def at(records: list[TraceRecord], node: str, kind: str, message: str) -> list[TraceRecord]:
    return [r for r in records if r.node == node and r.kind == kind and r.message == message]


def test_listed_as_available_with_its_scenario() -> None:
    assert METHOD in METHODS_AVAILABLE
    scenario = load_scenario("two-radios")
    assert scenario.methods == [METHOD]
    assert scenario.protocol.multi_interface_hold_ms == 100


def test_make_before_break_loses_nothing_and_adds_nothing() -> None:
    world, result, _ = run()
    handoffs = result["handoffs"]
    assert [(h["from"], h["to"]) for h in handoffs] == [("FA1", "FA2"), ("FA2", "FA3")]
    for h in handoffs:
        assert h["l2_gap_ms"] == 0.0  # the MN always has a link
        assert h["lost"] == 0
        assert h["l3_extra_ms"] is not None and h["l3_extra_ms"] <= 0
        assert h["disruption_ms"] == 20.0  # one packet interval: nothing missing
        assert h["uplink_disruption_ms"] == 20.0
        assert h["reordered"] == 0
    summary = result["summary"]
    assert summary["lost"] == 0  # both directions, the whole run
    # While both bindings stand the HA bicasts and both radios receive: the duplicates are
    # the packets of the overlap, from the new registration to the release of the old CoA.
    down = world.metrics.flows[("MN1", "down")]
    for h in handoffs:
        assert h["duplicates"] > 0
    assert summary["duplicates"] == sum(h["duplicates"] for h in handoffs)
    repeated = [t for t, dup in zip(down.arrivals, down.dup, strict=True) if dup]
    for t in repeated:
        assert any(h["l2_ld"] - 0.5 <= t < h["l2_ld"] for h in handoffs)  # before the break


def test_the_sequence_of_appendix_b() -> None:
    """New interface up -> register through the nFA with S (two bindings) -> hold ->
    lifetime-0 request for the old CoA through the oFA -> one binding -> old link down."""
    _, _, records = run()
    bindings = [
        r.fields["care_of_addresses"] for r in at(records, "HA", "dataplane", "SetMobilityBinding")
    ]
    assert bindings == [[FA1], [FA1, FA2], [FA2], [FA2, FA3], [FA3]]
    ups = [r for r in at(records, "MN1", "l2", "L2-LU")]
    downs = at(records, "MN1", "l2", "L2-LD")
    assert [r.interface for r in ups] == ["wlan0", "wlan1", "wlan0"]
    assert [r.interface for r in downs] == ["wlan0", "wlan1"]
    requests = [
        r
        for r in records
        if r.node == "MN1"
        and r.kind == "packet"
        and r.direction == "tx"
        and r.message == "registration_request"
    ]
    assert [(r.interface, r.fields["lifetime"], r.fields["care_of_address"]) for r in requests] == [
        ("wlan0", 600, FA1),
        ("wlan1", 600, FA2),
        ("wlan0", 0, FA1),
        ("wlan0", 600, FA3),
        ("wlan1", 0, FA2),
    ]
    assert all("S" in r.fields["flags"] for r in requests)
    accepted = at(records, "MN1", "notify", "registration-accepted")
    released = at(records, "MN1", "notify", "old-interface-released")
    for up, accept, release, down in zip(ups[1:], accepted[1:], released, downs, strict=True):
        assert up.time < accept.time < release.time < down.time
        assert release.time == pytest.approx(accept.time + 0.1)  # the hold
    # the oFA lets the MN go when its binding is released (before the link goes down)
    removed = at(records, "FA1", "dataplane", "RemoveVisitor")
    assert removed and removed[0].time < downs[0].time


def test_the_hold_time_is_configurable() -> None:
    _, short, _ = run("protocol.multi_interface_hold_ms=0")
    _, long, long_records = run("protocol.multi_interface_hold_ms=300")
    accepted = at(long_records, "MN1", "notify", "registration-accepted")[1]
    released = at(long_records, "MN1", "notify", "old-interface-released")[0]
    assert released.time == pytest.approx(accepted.time + 0.3)
    assert long["summary"]["duplicates"] > short["summary"]["duplicates"] > 0
    assert long["summary"]["lost"] == short["summary"]["lost"] == 0


def test_single_radio_methods_on_two_radios_keep_their_gap() -> None:
    world = World(load_scenario("two-radios"), "pre-source")
    result = world.run()
    for h in result["handoffs"]:
        assert h["l2_gap_ms"] == 50.0 and h["lost"] > 0


def test_compare_shows_it_next_to_the_single_radio_methods(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mip4.cli import main

    assert main(["compare", "two-radios", "--no-smooth", "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["method"]: r["summary"] for r in data["results"]}
    assert list(rows) == list(METHODS_AVAILABLE)
    assert rows[METHOD]["lost"] == 0
    assert rows[METHOD]["l3_extra_ms"]["max"] <= 0
    for method in ("pre-source", "post-source", "standard-solicit"):
        assert rows[method]["lost"] > 0
        assert rows[method]["disruption_ms"]["mean"] > rows[METHOD]["disruption_ms"]["mean"]


@pytest.mark.parametrize("scenario", ["corridor", "ping-pong", "fast-train", "gfa", "grid"])
def test_two_radios_lose_nothing_on_the_other_scenarios(scenario: str) -> None:
    """Back to a cell an interface used before (ping-pong: each interface starts afresh
    in its next network), moves closer than the lead (fast-train: the next radio to leave
    joins the waiting cell after an L2 handoff), a GFA (one FA care-of address per
    interface: no regional registration), many MNs on a grid."""
    world = World(load_scenario(scenario), METHOD)
    result = world.run()
    assert result["summary"]["handoffs"] > 0
    assert result["summary"]["lost"] == 0
    for h in result["handoffs"]:
        assert h["lost"] == 0 and h["l3_extra_ms"] is not None and h["l3_extra_ms"] <= 0
