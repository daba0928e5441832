"""Building the real agents of :mod:`mip4.core` for a simulated world.

:func:`make_agent` turns a node of the :class:`~mip4.sim.runner.WorldPlan` into a configured
agent: addresses, MACs and interface names from the plan, timers and options from the
scenario, one MN-HA security association per MN (HMAC-MD5, RFC 5944 §3.5), FA-GFA and MN-GFA
associations when the scenario has a GFA (RFC 4857 §11), and the method's options
(``standard-solicit``: the MN solicits on L2-LU; ``pre-*``: PRE-REGISTRATION, RFC 4881 §3,
with each FA's neighbours being the FAs it shares a wired link with, one ESP HMAC-SHA1-96 SA
per direction and mode between neighbours, and each cell's access point id, see
:func:`pre_registration`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from mip4.core.actions import TunnelMode
from mip4.core.config import (
    MnPreRegistrationConfig,
    MobileNodeConfig,
    NeighbourFa,
    PostRegistrationConfig,
    PreRegistrationConfig,
)
from mip4.core.security import RandomSource, SecurityAssociation
from mip4.sim.network import AIR, WIRED, Agent
from mip4.wire.esp import EspMode, EspSecurityAssociation

if TYPE_CHECKING:
    from mip4.sim.runner import NodePlan, WorldPlan

_ENCAPSULATION = {
    "ipip": TunnelMode.IP_IN_IP,
    "minimal": TunnelMode.MINIMAL,
    "gre": TunnelMode.GRE,
}


def security_association(spi: int, label: str) -> SecurityAssociation:
    """A deterministic HMAC-MD5 association (the key is derived from ``label``)."""
    return SecurityAssociation(spi=spi, key=hashlib.sha256(label.encode()).digest()[:16])


PRE_METHODS = frozenset({"pre-mobile", "pre-source", "pre-target"})
POST_METHODS = frozenset({"post-source", "post-target"})
COMBINED = "combined"  # RFC 4881 §5: PRE-REGISTRATION with the nFA's POST fallback
MULTI_INTERFACE = "multi-interface"  # RFC 4881 Appendix B: two radios


def multi_interface(
    node: NodePlan, world: WorldPlan, base: MobileNodeConfig, random: RandomSource
) -> Agent:
    """The two-radio MN of method ``multi-interface`` (RFC 4881 Appendix B): one
    MobileNode per radio (``wlan0`` with the MN's MAC, ``wlan1`` with
    :func:`~mip4.sim.multi_radio.second_mac`), each soliciting on L2-LU."""
    from mip4.core.mn_multi_interface import MultiInterfaceConfig, MultiInterfaceMobileNode
    from mip4.sim.multi_radio import SECOND_AIR, second_mac

    return MultiInterfaceMobileNode(
        MultiInterfaceConfig(
            # one care-of address per interface: FA CoAs, no regional registration (a GFA
            # CoA would be the same for both interfaces)
            base=dataclasses.replace(base, solicit_on_link_up=True, regional_registration=False),
            interfaces=((AIR, node.mac), (SECOND_AIR, second_mac(node.mac))),
            hold_time=world.scenario.protocol.multi_interface_hold_ms / 1000.0,
        ),
        random=random,
    )


def post_registration(
    node: NodePlan, world: WorldPlan, *, combined: bool = False
) -> PostRegistrationConfig:
    """An FA's POST-REGISTRATION configuration (RFC 4881 §4, §5): one FA-FA HMAC-MD5 SA
    (Generalized Authentication sub-type 2, RFC 4857 §11) with every FA up to two wired hops
    away (a three-party handoff reaches the anchor, the neighbour of a neighbour)."""
    me = node.index - 1
    near = set(neighbour_indices(world, me))
    for j in list(near):
        near.update(neighbour_indices(world, j))
    near.discard(me)
    neighbours = {}
    for j in sorted(near):
        other = world.fas[j]
        low, high = sorted((node.index, other.index))
        neighbours[other.address] = security_association(
            5000 + low * 1024 + high, f"fa-fa:{low}-{high}"
        )
    protocol = world.scenario.protocol
    return PostRegistrationConfig(
        neighbours=neighbours,
        combined=combined,
        # protocol.smooth_handoff: the serving FA holds what the BET brings until L2-LU
        buffer_data=protocol.smooth_handoff,
        buffer_limit=protocol.buffer_limit,
        tunnel_lifetime=protocol.tunnel_lifetime_s,
        anchor_policy=protocol.anchor_policy,
        combined_timer=protocol.combined_timer_ms / 1000.0,
    )


def esp_association(
    source: NodePlan, destination: NodePlan, tunnel: bool
) -> EspSecurityAssociation:
    """A deterministic inter-FA ESP SA (RFC 4881 §3.4, §11: HMAC-SHA1-96) from ``source`` to
    ``destination``; the SPI names the pair and the mode."""
    label = f"esp:{source.name}->{destination.name}:{'tunnel' if tunnel else 'transport'}"
    return EspSecurityAssociation(
        spi=0x10000 + ((source.index << 12) | destination.index) * 2 + int(tunnel),
        auth_key=hashlib.sha256(label.encode()).digest()[:20],
        mode=EspMode.TUNNEL if tunnel else EspMode.TRANSPORT,
    )


def neighbour_indices(world: WorldPlan, index: int) -> list[int]:
    """0-based indices of the FAs next to FA ``index`` (0-based): the wired FA-FA links of
    :class:`~mip4.sim.runner.World` (a line, or the grid's 4-neighbourhood)."""
    n = len(world.fas)
    if world.scenario.mobility.model == "grid":
        from mip4.sim.mobility import grid_neighbours

        return sorted(grid_neighbours(index, n))
    return [j for j in (index - 1, index + 1) if 0 <= j < n]


def pre_registration(node: NodePlan, world: WorldPlan) -> PreRegistrationConfig:
    """An FA's PRE-REGISTRATION configuration (RFC 4881 §3.4.1, §3.5): its neighbours with
    their ESP SAs and access point ids (FA k serves the cell whose access point id is k)."""
    me = node.index - 1
    neighbours = []
    for j in neighbour_indices(world, me):
        other = world.fas[j]
        neighbours.append(
            NeighbourFa(
                address=other.address,
                esp_out=esp_association(node, other, False),
                esp_in=esp_association(other, node, False),
                tunnel_out=esp_association(node, other, True),
                tunnel_in=esp_association(other, node, True),
                access_point_ids=(other.index,),
            )
        )
    # §8.1.1: several copies of each PrRtAdv on a lossy air link.
    copies = 2 if world.scenario.radio.air_loss > 0 else 1
    protocol = world.scenario.protocol
    return PreRegistrationConfig(
        neighbours=tuple(neighbours),
        access_point_ids=(node.index,),
        advertisement_copies=copies,
        # protocol.smooth_handoff: buffering beyond RFC 4881 (design.md)
        buffer_data=protocol.smooth_handoff,
        buffer_limit=protocol.buffer_limit,
        use_challenge=protocol.fa_challenge,  # RFC 4721 (§3.5)
    )


def mn_fa_association(fa: NodePlan, mn: NodePlan) -> SecurityAssociation:
    """The MN-FA SA of ``mn`` and ``fa`` (RFC 5944 §3.5), for RFC 4721 challenges."""
    return security_association(0x10000 + (fa.index << 12) + mn.index, f"mn-fa:{fa.name}:{mn.name}")


def mn_fa_associations(node: NodePlan, world: WorldPlan) -> dict[IPv4Address, SecurityAssociation]:
    """An FA's MN-FA SAs by home address, or an MN's by FA address (only with
    ``protocol.fa_challenge`` under a PRE method)."""
    if world.method not in PRE_METHODS or not world.scenario.protocol.fa_challenge:
        return {}
    if node.role == "FA":
        return {mn.address: mn_fa_association(node, mn) for mn in world.mns}
    return {fa.address: mn_fa_association(fa, node) for fa in world.fas}


def make_agent(node: NodePlan, world: WorldPlan, random: RandomSource) -> Agent:
    """The real agent for ``node`` (lazy imports: the simulator does not need them to load)."""
    from mip4.core.config import (
        AdvertisementConfig,
        ForeignAgentConfig,
        GatewayForeignAgentConfig,
        GfaOption,
        HomeAgentConfig,
        MobileNodeConfig,
    )

    scenario = world.scenario
    protocol = scenario.protocol
    lifetime = protocol.registration_lifetime_s
    gfa = world.gfa
    if "mn_ha" not in world.cache:  # built once per world, shared by every agent
        world.cache["mn_ha"] = {
            mn.address: security_association(1000 + i, f"mn-ha:{mn.name}")
            for i, mn in enumerate(world.mns)
        }
        world.cache["mn_gfa"] = (
            {
                mn.address: security_association(3000 + i, f"mn-gfa:{mn.name}")
                for i, mn in enumerate(world.mns)
            }
            if gfa is not None
            else {}
        )
    mn_ha: dict[IPv4Address, SecurityAssociation] = world.cache["mn_ha"]
    mn_gfa: dict[IPv4Address, SecurityAssociation] = world.cache["mn_gfa"]
    if node.role == "HA":
        from mip4.core.home_agent import HomeAgent

        return HomeAgent(
            HomeAgentConfig(
                name=node.name,
                address=node.address,
                home_interface=WIRED,
                mac=node.mac,
                mn_ha=mn_ha,
                max_lifetime=max(1800, lifetime),
                simultaneous_bindings=True,
                reverse_tunnel_offered=True,
            ),
            random=random,
        )
    if node.role == "FA":
        from mip4.core.foreign_agent import ForeignAgent

        gfa_option = (
            GfaOption(
                address=gfa.address,
                security=security_association(2000 + node.index, f"fa-gfa:{node.name}"),
            )
            if gfa is not None
            else None
        )
        return ForeignAgent(
            ForeignAgentConfig(
                name=node.name,
                address=node.address,
                access_interface=AIR,
                wired_interface=WIRED,
                mac=node.mac,
                advertisement=AdvertisementConfig(
                    interval=protocol.advertisement_interval_ms / 1000.0,
                    jitter=protocol.advertisement_jitter,
                ),
                registration_lifetime=max(1800, lifetime),
                reverse_tunnel_offered=True,
                gfa=gfa_option,
                mn_fa=mn_fa_associations(node, world),
                pre_registration=pre_registration(node, world)
                if world.method in PRE_METHODS or world.method == COMBINED
                else None,
                post_registration=post_registration(node, world, combined=world.method == COMBINED)
                if world.method in POST_METHODS or world.method == COMBINED
                else None,
            ),
            random=random,
        )
    if node.role == "GFA":
        from mip4.core.gateway_foreign_agent import GatewayForeignAgent

        return GatewayForeignAgent(
            GatewayForeignAgentConfig(
                name=node.name,
                address=node.address,
                interface=WIRED,
                fa_gfa={
                    fa.address: security_association(2000 + fa.index, f"fa-gfa:{fa.name}")
                    for fa in world.fas
                },
                mn_gfa=mn_gfa,
                max_lifetime=max(1800, lifetime),
            ),
            random=random,
        )
    if node.role == "MN":
        from mip4.core.mobile_node import MobileNode

        config = MobileNodeConfig(
            name=node.name,
            home_address=node.address,
            home_agent=world.ha.address,
            mn_ha=mn_ha[node.address],
            mn_fa=mn_fa_associations(node, world),
            interface=AIR,
            mac=node.mac,
            mn_gfa={gfa.address: mn_gfa[node.address]} if gfa is not None else {},
            registration_lifetime=lifetime,
            reverse_tunnel=protocol.reverse_tunnel,
            encapsulation=_ENCAPSULATION[protocol.encapsulation],
            simultaneous_bindings=protocol.simultaneous_bindings,
            solicit_on_link_up=world.method == "standard-solicit"
            or world.method in PRE_METHODS
            or world.method == COMBINED,
            regional_registration=gfa is not None,
            deferred_registration=world.method in POST_METHODS or world.method == COMBINED,
            combined_method=world.method == COMBINED,
            # protocol.smooth_handoff: the uplink is held across the L2 gap too
            uplink_buffer=protocol.buffer_limit if protocol.smooth_handoff else 0,
            pre_registration=MnPreRegistrationConfig(
                simultaneous_bindings=protocol.low_latency_s_bit,
                copies=protocol.low_latency_copies or (2 if scenario.radio.air_loss > 0 else 1),
                prrtsol_copies=2 if scenario.radio.air_loss > 0 else 1,
            )
            if world.method in PRE_METHODS or world.method == COMBINED
            else None,
        )
        if world.method == MULTI_INTERFACE:
            return multi_interface(node, world, config, random)
        return MobileNode(config, random=random)
    raise ValueError(f"no agent for role {node.role!r}")
