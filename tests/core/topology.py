"""A standard test network: HA, FA1/FA2 (optionally a GFA), one MN, wired by hand.

```
            core link (wired)
   HA ------+------------+------------+----- GFA (optional)
            |            |
           FA1          FA2
            | cell1      | cell2
            MN (starts in cell1)
```
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from mip4.core.config import (
    AdvertisementConfig,
    ForeignAgentConfig,
    GatewayForeignAgentConfig,
    GfaOption,
    HomeAgentConfig,
    MobileNodeConfig,
)
from mip4.core.foreign_agent import ForeignAgent
from mip4.core.home_agent import HomeAgent
from mip4.core.mobile_node import MobileNode
from mip4.core.security import ReplayProtection, SecurityAssociation
from tests.core.harness import Wire

HA_ADDR = IPv4Address("198.18.0.1")
HOME = IPv4Address("198.18.0.10")
FA1_ADDR = IPv4Address("198.19.1.1")
FA2_ADDR = IPv4Address("198.19.2.1")
GFA_ADDR = IPv4Address("198.19.0.1")
MN_MAC = bytes.fromhex("02000000a001")
FA1_MAC = bytes.fromhex("02000000f101")
FA2_MAC = bytes.fromhex("02000000f201")
WIRED_MAC = bytes.fromhex("02000000c000")
HA_MAC = bytes.fromhex("02000000a000")

MN_HA_KEY = b"mn-ha-shared-key"
MN_FA_KEY = b"mn-fa-shared-key"
FA_HA_KEY = b"fa-ha-shared-key"
FA_GFA_KEY = b"fa-gfa-shared-key"
MN_GFA_KEY = b"mn-gfa-shared-key"


def sa(
    spi: int, key: bytes, replay: ReplayProtection = ReplayProtection.TIMESTAMP
) -> SecurityAssociation:
    return SecurityAssociation(spi=spi, key=key, replay=replay)


def mn_config(**overrides: Any) -> MobileNodeConfig:
    values: dict[str, Any] = {
        "name": "mn",
        "home_address": HOME,
        "home_agent": HA_ADDR,
        "mn_ha": sa(0x100, MN_HA_KEY),
        "mac": MN_MAC,
        "registration_lifetime": 600,
    }
    values.update(overrides)
    return MobileNodeConfig(**values)


def ha_config(**overrides: Any) -> HomeAgentConfig:
    values: dict[str, Any] = {
        "name": "ha",
        "address": HA_ADDR,
        "mn_ha": {HOME: sa(0x100, MN_HA_KEY)},
    }
    values.update(overrides)
    return HomeAgentConfig(**values)


def fa_config(index: int = 1, **overrides: Any) -> ForeignAgentConfig:
    values: dict[str, Any] = {
        "name": f"fa{index}",
        "address": FA1_ADDR if index == 1 else FA2_ADDR,
        "mac": FA1_MAC if index == 1 else FA2_MAC,
        "advertisement": AdvertisementConfig(interval=1.0),
    }
    values.update(overrides)
    return ForeignAgentConfig(**values)


def gfa_config(**overrides: Any) -> GatewayForeignAgentConfig:
    values: dict[str, Any] = {
        "name": "gfa",
        "address": GFA_ADDR,
        "fa_gfa": {FA1_ADDR: sa(0x300, FA_GFA_KEY), FA2_ADDR: sa(0x300, FA_GFA_KEY)},
        "mn_gfa": {HOME: sa(0x400, MN_GFA_KEY)},
    }
    values.update(overrides)
    return GatewayForeignAgentConfig(**values)


@dataclass
class Net:
    wire: Wire
    mn: MobileNode
    ha: HomeAgent
    fa1: ForeignAgent
    fa2: ForeignAgent
    gfa: Any = None

    def move_to(self, cell: str) -> None:
        self.wire.move("mn", self.mn.config.interface, cell)


def build(
    *,
    mn: MobileNodeConfig | None = None,
    ha: HomeAgentConfig | None = None,
    fa1: ForeignAgentConfig | None = None,
    fa2: ForeignAgentConfig | None = None,
    gfa: GatewayForeignAgentConfig | None = None,
    seed: int = 1,
    delay: float = 0.001,
    start: bool = True,
) -> Net:
    rng = random.Random(seed)
    wire = Wire(delay=delay)
    mn_agent = MobileNode(mn or mn_config(), random=rng)
    ha_agent = HomeAgent(ha or ha_config(), random=rng)
    fa1_agent = ForeignAgent(fa1 or fa_config(1), random=rng)
    fa2_agent = ForeignAgent(fa2 or fa_config(2), random=rng)
    wire.add(mn_agent, (mn_agent.config.interface, "cell1", MN_MAC, None))
    wire.add(ha_agent, (ha_agent.config.home_interface, "home", HA_MAC, HA_ADDR))
    for agent, cell, mac in ((fa1_agent, "cell1", FA1_MAC), (fa2_agent, "cell2", FA2_MAC)):
        wire.add(
            agent,
            (agent.config.access_interface, cell, mac, None),
            (agent.config.wired_interface, "core", WIRED_MAC, agent.config.address),
        )
    gfa_agent = None
    if gfa is not None:
        from mip4.core.gateway_foreign_agent import GatewayForeignAgent

        gfa_agent = GatewayForeignAgent(gfa, random=rng)
        wire.add(gfa_agent, (gfa.interface, "core", WIRED_MAC, gfa.address))
    net = Net(wire, mn_agent, ha_agent, fa1_agent, fa2_agent, gfa_agent)
    if start:
        wire.start()
    return net


def with_gfa_option(index: int, **overrides: Any) -> ForeignAgentConfig:
    return fa_config(
        index, gfa=GfaOption(address=GFA_ADDR, security=sa(0x300, FA_GFA_KEY)), **overrides
    )
