"""Every address-keyed table of a run holds the network's one object per address or MAC
(:meth:`mip4.sim.network.Network.canonical`), so a packet's look-ups in them touch one key
object per address, not a copy per table."""

from __future__ import annotations

from mip4.sim.network import Network
from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario


def test_canonical_returns_the_first_object_seen_with_those_bytes() -> None:
    net = Network.__new__(Network)
    net._canonical = {}
    first = bytes([198, 18, 16, 16])
    again = bytes([198, 18, 16, 16])
    assert first is not again
    assert net.canonical(first) is first and net.canonical(again) is first


def test_the_tables_of_a_run_share_one_object_per_address() -> None:
    world = World(load_scenario("grid", ["mobility.mns=4", "duration_s=4"]), "standard")
    world.run()
    net = world.net
    owner_keys = {key: key for key in net.owner}
    ha = world.ha.dataplane
    assert ha.bindings  # the MNs registered
    for mn in world.mns:
        assert owner_keys[mn.address] is mn.address
        assert next(iter(mn.addresses)) is mn.address
    for home, binding in ha.bindings.items():
        assert home is owner_keys[home]
        for coa in binding.care_of_addresses:
            assert coa is owner_keys[coa]  # the FA's own address object
    by_mac = {mn.mac: mn for mn in world.mns}
    visitors = 0
    for fa in world.fas:
        for home, mac in fa.dataplane.visitors.items():
            visitors += 1
            assert home is owner_keys[home]
            assert mac is by_mac[mac].mac  # found among a cell's stations by identity
        for home in fa.dataplane.uplinks:
            assert home is owner_keys[home]
    assert visitors >= len(world.mns)
