"""Tiny stand-in agents that speak the core contract, to test the simulator on its own.

They do a caricature of RFC 5944: FAs advertise every ``interval`` seconds (and answer a
solicitation at once), the MN registers through the first FA it hears that is not its
current one, the FA relays to the HA, the HA binds and replies, the FA installs the visitor
and the reverse tunnel. Payloads are short tags, not real messages.
"""

from __future__ import annotations

import random
from collections import Counter
from ipaddress import IPv4Address
from typing import Any

from mip4.core.actions import (
    Action,
    DropReason,
    Notify,
    RemoveVisitor,
    SendPacket,
    SetDefaultRouter,
    SetMobilityBinding,
    SetUplink,
    SetVisitor,
    StartTimer,
    TimerKey,
    UplinkMode,
)
from mip4.core.packets import ALL_MOBILITY_AGENTS, ALL_SYSTEMS, ReceivedPacket
from mip4.core.triggers import L2Trigger, LinkDown, LinkUp
from mip4.sim.network import AIR, WIRED
from mip4.sim.runner import NodePlan, WorldPlan
from mip4.wire.ip import PROTO_ICMP, PROTO_UDP

PORT = 434


def _udp(
    iface: str, src: IPv4Address, dst: IPv4Address, payload: bytes, name: str, **kw: Any
) -> SendPacket:
    return SendPacket(
        interface=iface,
        source=src,
        destination=dst,
        protocol=PROTO_UDP,
        payload=payload,
        message=name,
        source_port=PORT,
        destination_port=PORT,
        **kw,
    )


class StubAgent:
    def __init__(self, name: str) -> None:
        self.name = name
        self.drops: Counter[DropReason] = Counter()

    def start(self, now: float) -> list[Action]:
        return []

    def receive(self, packet: ReceivedPacket, now: float) -> list[Action]:
        return []

    def l2_trigger(self, trigger: L2Trigger, now: float) -> list[Action]:
        return []

    def timer_expired(self, key: TimerKey, now: float) -> list[Action]:
        return []

    def snapshot(self, now: float) -> dict[str, Any]:
        return {"name": self.name}


class StubHA(StubAgent):
    def __init__(self, name: str, address: IPv4Address) -> None:
        super().__init__(name)
        self.address = address
        self.bindings: dict[IPv4Address, IPv4Address] = {}

    def receive(self, packet: ReceivedPacket, now: float) -> list[Action]:
        if not packet.payload.startswith(b"rrq"):
            return []
        home = IPv4Address(packet.payload[3:7])
        coa = IPv4Address(packet.payload[7:11])
        self.bindings[home] = coa
        return [
            SetMobilityBinding(
                home_address=home, care_of_addresses=(coa,), tunnel_source=self.address
            ),
            _udp(WIRED, self.address, packet.source, b"rrp" + home.packed, "registration-reply"),
        ]


class StubFA(StubAgent):
    def __init__(self, name: str, address: IPv4Address, ha: IPv4Address, interval: float) -> None:
        super().__init__(name)
        self.address = address
        self.ha = ha
        self.interval = interval
        self.pending: dict[IPv4Address, bytes] = {}

    def _advert(
        self, destination: IPv4Address = ALL_SYSTEMS, mac: bytes | None = None
    ) -> SendPacket:
        return SendPacket(
            interface=AIR,
            source=self.address,
            destination=destination,
            protocol=PROTO_ICMP,
            payload=b"adv",
            message="agent-advertisement",
            ttl=1,
            link_destination=mac,
        )

    def start(self, now: float) -> list[Action]:
        return [self._advert(), StartTimer(("advertise",), now + self.interval)]

    def timer_expired(self, key: TimerKey, now: float) -> list[Action]:
        return [self._advert(), StartTimer(("advertise",), now + self.interval)]

    def receive(self, packet: ReceivedPacket, now: float) -> list[Action]:
        if packet.protocol == PROTO_ICMP and packet.payload == b"sol":
            return [self._advert(packet.source, packet.link_source)]
        if packet.payload.startswith(b"rrq"):
            home = IPv4Address(packet.payload[3:7])
            assert packet.link_source is not None
            self.pending[home] = packet.link_source
            return [_udp(WIRED, self.address, self.ha, packet.payload, "registration-request")]
        if packet.payload.startswith(b"rrp"):
            home = IPv4Address(packet.payload[3:7])
            mac = self.pending.pop(home, None)
            if mac is None:
                return []
            return [
                SetVisitor(home_address=home, interface=AIR, link_address=mac),
                SetUplink(
                    home_address=home,
                    mode=UplinkMode.REVERSE_TUNNEL,
                    tunnel_source=self.address,
                    tunnel_destination=self.ha,
                ),
                _udp(
                    AIR,
                    self.address,
                    home,
                    packet.payload,
                    "registration-reply",
                    link_destination=mac,
                ),
            ]
        return []

    def l2_trigger(self, trigger: L2Trigger, now: float) -> list[Action]:
        if isinstance(trigger, LinkDown) and trigger.mn is not None and trigger.mn.home_address:
            return [RemoveVisitor(trigger.mn.home_address)]
        return []


class StubMN(StubAgent):
    def __init__(self, name: str, home: IPv4Address, solicit: bool) -> None:
        super().__init__(name)
        self.home = home
        self.solicit = solicit
        self.current: IPv4Address | None = None

    def receive(self, packet: ReceivedPacket, now: float) -> list[Action]:
        if packet.protocol == PROTO_ICMP and packet.payload == b"adv":
            if packet.source == self.current:
                return []
            self.current = packet.source
            return [
                SetDefaultRouter(
                    router=packet.source, interface=AIR, link_address=packet.link_source
                ),
                _udp(
                    AIR,
                    self.home,
                    packet.source,
                    b"rrq" + self.home.packed + packet.source.packed,
                    "registration-request",
                    link_destination=packet.link_source,
                ),
            ]
        if packet.payload.startswith(b"rrp"):
            return [Notify(event="registration-accepted", fields={"fa": packet.source})]
        return []

    def l2_trigger(self, trigger: L2Trigger, now: float) -> list[Action]:
        if isinstance(trigger, LinkDown):
            return [SetDefaultRouter(router=None)]
        if isinstance(trigger, LinkUp) and self.solicit:
            return [
                SendPacket(
                    interface=AIR,
                    source=self.home,
                    destination=ALL_MOBILITY_AGENTS,
                    protocol=PROTO_ICMP,
                    payload=b"sol",
                    message="agent-solicitation",
                    ttl=1,
                )
            ]
        return []


def stub_factory(node: NodePlan, world: WorldPlan, rng: random.Random) -> StubAgent:
    interval = world.scenario.protocol.advertisement_interval_ms / 1000.0
    if node.role == "HA":
        return StubHA(node.name, node.address)
    if node.role == "FA":
        return StubFA(node.name, node.address, world.ha.address, interval)
    if node.role == "MN":
        return StubMN(node.name, node.address, world.method == "standard-solicit")
    return StubAgent(node.name)
