"""The nFA's unicast proxy ARP Reply in the simulator (RFC 4881 §4.1 step 4b, RFC 826).

The deferring MN keeps the oFA as default router and its ARP entry for it (§4.4); the nFA's
reply, sent over the air at L2-LU, points that entry at the nFA's MAC, so the uplink reaches
the nFA. Without the reply the MN keeps sending to the oFA's MAC, which nobody on the new
link answers to: the test that removes it proves the redirection comes from the reply.
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from mip4.core.actions import SetDefaultRouter, StartBuffering
from mip4.sim.dataplane import MobileDataPlane
from mip4.sim.network import AgentNode, MobileNodeHost
from mip4.sim.runner import World
from mip4.sim.scenario import load_scenario

METHODS = ("post-source", "post-target")
FA1 = IPv4Address("198.18.2.1")
FA1_MAC = b"\x02\x00\x00\x00\x01\x01"
FA2_MAC = b"\x02\x00\x00\x00\x01\x02"


def world(method: str, *overrides: str) -> World:
    return World(load_scenario("corridor", list(overrides)), method)


def drops(w: World, reason: str) -> int:
    return sum(n for (_, r), n in w.net.drops.items() if r == reason)


@pytest.mark.parametrize("method", METHODS)
def test_the_reply_points_the_deferring_mns_entry_for_the_ofa_at_the_nfa(method: str) -> None:
    w = world(method)
    result = w.run()
    mn = w.net.by_name["MN1"]
    fa2 = w.net.by_name["FA2"]
    assert isinstance(mn, MobileNodeHost) and isinstance(fa2, AgentNode)
    # The MN deferred at FA2 with FA1 as router; its entry for FA1 now names FA2's MAC.
    assert mn.dataplane.arp[FA1.packed] == fa2.mac
    # No uplink frame went to a MAC the cell does not answer to, none needed resolving.
    assert drops(w, "wrong-link-destination") == 0 and drops(w, "arp-unresolved") == 0
    # Figures unchanged by the real ARP exchange (the L2 gaps only; the extra d_FF hop).
    assert result["summary"]["lost"] == 4 * 5
    assert result["summary"]["l3_extra_ms"]["max"] == pytest.approx(2.0)


@pytest.mark.parametrize("method", METHODS)
def test_without_the_reply_the_uplink_goes_to_the_ofas_mac(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AgentNode, "air_arp", lambda self, action: None)
    w = world(method)
    result = w.run()
    mn = w.net.by_name["MN1"]
    assert isinstance(mn, MobileNodeHost)
    # The answering proxy does not help an MN that keeps its entry: FA2 refuses the
    # frames for FA1's MAC until the MN registers with it (on its advertisement).
    assert drops(w, "wrong-link-destination") > 0
    assert result["summary"]["lost"] > 4 * 5


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "overrides",
    [(), ("topology.fas=2", "mobility.dwell_s=2")],  # the second: an uplink packet is sent
    ids=["corridor", "packet-before-the-reply"],  # between L2-LU and the reply's arrival
)
def test_the_held_uplink_waits_for_the_reply_with_smooth_handoff(
    method: str, overrides: tuple[str, ...]
) -> None:
    """What the MN sends while its router entry still waits for the reply joins the held
    packets (in order) instead of going to the oFA's MAC."""
    w = world(method, "protocol.smooth_handoff=true", *overrides)
    result = w.run()
    assert result["summary"]["lost"] == 0
    assert drops(w, "wrong-link-destination") == 0


def test_mobile_data_plane_arp_entries_follow_rfc_826() -> None:
    dp = MobileDataPlane()
    dp.apply(SetDefaultRouter(router=FA1, interface="wlan0", link_address=FA1_MAC))
    assert dp.link_address == FA1_MAC
    dp.apply(SetDefaultRouter(router=None, interface="wlan0"))
    assert dp.link_address is None and dp.arp == {FA1.packed: FA1_MAC}  # kept over the gap
    dp.apply(StartBuffering(home_address=FA1, limit=4))
    assert dp.held == []
    dp.held.append(b"packet")
    # The deferring MN: no MAC given, the kept entry used; the held uplink waits.
    dp.apply(SetDefaultRouter(router=FA1, interface="wlan0"))
    assert dp.link_address == FA1_MAC and dp.release() == [] and dp.held == [b"packet"]
    # No entry is created for an address the MN has none for (RFC 826 merge only).
    assert not dp.arp_update(IPv4Address("198.18.2.9").packed, FA2_MAC)
    assert IPv4Address("198.18.2.9").packed not in dp.arp
    assert dp.arp_update(FA1.packed, FA2_MAC)
    assert dp.link_address == FA2_MAC and dp.release() == [b"packet"] and dp.held is None
    # An explicit MAC (a new registration with FA1's advertisement) rewrites the entry.
    dp.apply(SetDefaultRouter(router=FA1, interface="wlan0", link_address=FA1_MAC))
    assert dp.link_address == FA1_MAC and not dp.awaiting_arp
