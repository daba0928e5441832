"""A tiny in-test "wire" that routes the agents' actions to each other (style guide §2.12).

Not the simulator: no data plane, no radio model, no bytes on a link beyond the control
messages. Agents sit on named links (one per access cell, one ``core`` link for the wired
side); a :class:`~mip4.core.actions.SendPacket` is delivered

- to the agent whose MAC is its ``link_destination``, on the sender's link;
- to every other agent on the sender's link, when multicast or broadcast;
- to the agent owning the destination address (routed: TTL decremented), otherwise.

Every delivery takes ``delay`` seconds; timers fire in deadline order; everything runs on
an explicit virtual clock, so a run is deterministic.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from mip4.core.actions import (
    Action,
    CancelTimer,
    Dropped,
    Notify,
    SendPacket,
    StartTimer,
    TimerKey,
)
from mip4.core.packets import LIMITED_BROADCAST, ReceivedPacket
from mip4.wire.icmp import decode_icmp
from mip4.wire.ip import PROTO_ICMP
from mip4.wire.messages import decode_control_message


@dataclass(frozen=True)
class Delivery:
    """One packet delivered: when, from whom, to whom, what."""

    time: float
    sender: str
    receiver: str
    message: str
    send: SendPacket
    packet: ReceivedPacket

    def decoded(self) -> Any:
        if self.send.protocol == PROTO_ICMP:
            return decode_icmp(self.send.payload)
        return decode_control_message(self.send.payload)


@dataclass
class Attachment:
    link: str
    mac: bytes


@dataclass
class Wire:
    delay: float = 0.001
    now: float = 0.0
    agents: dict[str, Any] = field(default_factory=dict)
    attachments: dict[tuple[str, str], Attachment] = field(default_factory=dict)
    addresses: dict[IPv4Address, tuple[str, str]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    actions: list[tuple[float, str, Action]] = field(default_factory=list)
    lose: Callable[[str, SendPacket], bool] = lambda sender, send: False
    _events: list[tuple[float, int, str, Any]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _timers: dict[tuple[str, TimerKey], float] = field(default_factory=dict)

    # ------------------------------------------------------------------ topology

    def add(self, agent: Any, *interfaces: tuple[str, str, bytes, IPv4Address | None]) -> None:
        """Attach ``agent``: each interface is (name, link, MAC, routed address or None)."""
        self.agents[agent.name] = agent
        for name, link, mac, address in interfaces:
            self.attachments[(agent.name, name)] = Attachment(link, mac)
            if address is not None:
                self.addresses[address] = (agent.name, name)

    def move(self, agent: str, interface: str, link: str) -> None:
        self.attachments[(agent, interface)].link = link

    def start(self) -> None:
        for name, agent in self.agents.items():
            self.apply(name, agent.start(self.now))

    # ------------------------------------------------------------------ actions

    def apply(self, name: str, actions: list[Action]) -> list[Action]:
        for action in actions:
            self.actions.append((self.now, name, action))
            match action:
                case SendPacket():
                    self._route(name, action)
                case StartTimer(key=key, deadline=deadline):
                    self._timers[(name, key)] = deadline
                    heapq.heappush(self._events, (deadline, next(self._seq), "timer", (name, key)))
                case CancelTimer(key=key):
                    self._timers.pop((name, key), None)
                case _:
                    pass
        return actions

    def _route(self, sender: str, send: SendPacket) -> None:
        if self.lose(sender, send):
            return
        src = self.attachments.get((sender, send.interface))
        if src is None:
            raise AssertionError(f"{sender} sent on unknown interface {send.interface}")
        targets: list[tuple[str, str, bool]] = []
        if send.link_destination is not None:
            for (name, iface), att in self.attachments.items():
                if att.link == src.link and att.mac == send.link_destination and name != sender:
                    targets.append((name, iface, False))
        elif send.destination.is_multicast or send.destination == LIMITED_BROADCAST:
            for (name, iface), att in self.attachments.items():
                if att.link == src.link and name != sender:
                    targets.append((name, iface, False))
        elif send.destination in self.addresses:
            name, iface = self.addresses[send.destination]
            same = self.attachments[(name, iface)].link == src.link
            targets.append((name, iface, not same))
        for name, iface, routed in targets:
            packet = ReceivedPacket(
                interface=iface,
                source=send.source,
                destination=send.destination,
                protocol=send.protocol,
                payload=send.payload,
                ttl=send.ttl - 1 if routed else send.ttl,
                source_port=send.source_port,
                destination_port=send.destination_port,
                link_source=None if routed else src.mac,
            )
            event = (sender, name, send, packet)
            heapq.heappush(self._events, (self.now + self.delay, next(self._seq), "packet", event))

    # ------------------------------------------------------------------ running

    def deliver(self, receiver: str, packet: ReceivedPacket) -> list[Action]:
        """Hand ``packet`` to ``receiver`` now (for tests that inject packets)."""
        return self.apply(receiver, self.agents[receiver].receive(packet, self.now))

    def trigger(self, receiver: str, trigger: Any) -> list[Action]:
        return self.apply(receiver, self.agents[receiver].l2_trigger(trigger, self.now))

    def run(self, until: float) -> None:
        while self._events and self._events[0][0] <= until:
            time, _, kind, payload = heapq.heappop(self._events)
            if kind == "timer":
                name, key = payload
                if self._timers.get((name, key)) != time:
                    continue  # cancelled or re-armed
                self.now = time
                del self._timers[(name, key)]
                self.apply(name, self.agents[name].timer_expired(key, time))
            else:
                sender, name, send, packet = payload
                self.now = time
                self.deliveries.append(Delivery(time, sender, name, send.message, send, packet))
                self.apply(name, self.agents[name].receive(packet, time))
        self.now = max(self.now, until)

    # ------------------------------------------------------------------ queries

    def messages(self, *, since: float = 0.0, icmp: bool = False) -> list[tuple[str, str, str]]:
        """(sender, receiver, message) in delivery order; advertisements and solicitations
        only with ``icmp``."""
        return [
            (d.sender, d.receiver, d.message)
            for d in self.deliveries
            if d.time >= since and (icmp or d.send.protocol != PROTO_ICMP)
        ]

    def of(self, name: str, cls: type, *, since: float = 0.0) -> list[Any]:
        return [a for t, n, a in self.actions if n == name and isinstance(a, cls) and t >= since]

    def events(self, name: str, event: str) -> list[Notify]:
        return [a for a in self.of(name, Notify) if a.event == event]

    def drops(self, name: str) -> list[Dropped]:
        return self.of(name, Dropped)

    def pending_timers(self, name: str) -> dict[TimerKey, float]:
        return {key: t for (n, key), t in self._timers.items() if n == name}
