"""A mobile node with two radio interfaces (RFC 4881 Appendix B: make before break).

Theory of operation
-------------------
:class:`MultiInterfaceMobileNode` runs one :class:`~mip4.core.mobile_node.MobileNode` per
interface (each with its own interface name and MAC, the same home address, HA and MN-HA
SA) and routes every input to the one it concerns: packets and L2 triggers by interface,
timers by a suffix the wrapper adds to their keys. Every registration carries the S bit
(RFC 5944 §3.6.1.2), so the HA keeps one binding per interface.

A handoff (Appendix B, Figure B.1): the MN is registered through the oFA on interface A.
The interface B comes up in the nFA's cell (L2-LU on B) while A still carries the traffic;
B's MN solicits, hears the nFA, registers through it with S: the HA now bicasts to both
care-of addresses. When that registration is accepted, B becomes the *active* interface
(its default router carries the uplink; only the active interface's ``SetDefaultRouter``
reaches the data plane), and after ``hold_time`` more — the new path proving itself —
interface A deregisters its own care-of address only (lifetime 0, S), through the oFA
while its link is still up: "once the MN is registered with nFA and is successfully
receiving and transmitting through the new network, it tears down the interface to RN1".
When A's link later goes down nothing is lost. If B's link goes down during the hold
(the new network failed), A is not released: the simultaneous bindings keep the old path
(Appendix B, last paragraph).

An interface whose link is down sends nothing: its MN's retransmissions and solicitations
are not passed to the driver, as nothing can be sent on a down link. When a link that is
not the active one goes down, that interface's MobileNode is replaced by a fresh one,
started at the interface's next L2-LU, so that in its next network (even a cell it used
before) it solicits and registers anew; the old one's timers then find nothing to do.
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass
from ipaddress import IPv4Address

from mip4.core.actions import (
    Action,
    CancelTimer,
    DropReason,
    Notify,
    SendPacket,
    SetDefaultRouter,
    StartTimer,
    TimerKey,
)
from mip4.core.config import MobileNodeConfig
from mip4.core.mobile_node import MobileNode
from mip4.core.packets import ReceivedPacket
from mip4.core.security import RandomSource
from mip4.core.triggers import L2Trigger, LinkDown, LinkUp
from mip4.errors import LocalUsageError

HOLD_TIMER = "multi-interface-hold"
DEFAULT_HOLD_TIME = 0.1  # seconds the new path must work before the old binding goes


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiInterfaceConfig:
    """Two radios: ``interfaces`` is ``((name, mac), (name, mac))``; the first is the one
    the MN starts on. ``base`` gives everything else (its ``interface``, ``mac`` and
    ``simultaneous_bindings`` are replaced per radio). ``hold_time``: how long both
    bindings are kept after the new interface's registration is accepted."""

    base: MobileNodeConfig
    interfaces: tuple[tuple[str, bytes], ...]
    hold_time: float = DEFAULT_HOLD_TIME

    def __post_init__(self) -> None:
        names = [name for name, _ in self.interfaces]
        if len(names) != 2 or len(set(names)) != 2:
            raise LocalUsageError("MultiInterfaceConfig.interfaces: two distinct interfaces")
        if len({mac for _, mac in self.interfaces}) != 2:
            raise LocalUsageError("MultiInterfaceConfig.interfaces: one MAC per interface")
        if not self.hold_time >= 0:
            raise LocalUsageError(
                f"MultiInterfaceConfig.hold_time: must be >= 0, got {self.hold_time!r}"
            )


class MultiInterfaceMobileNode:
    """RFC 4881 Appendix B (see the module docstring)."""

    role = "mobile-node"

    def __init__(self, config: MultiInterfaceConfig, *, random: RandomSource) -> None:
        self.config = config
        self._random = random
        self.radios: dict[str, MobileNode] = {}
        for name, _ in config.interfaces:
            self.radios[name] = self._new_radio(name)
        self.order = tuple(name for name, _ in config.interfaces)
        self.active = self.order[0]
        self.started: set[str] = set()
        self.link_up: dict[str, bool] = {name: False for name in self.order}
        self.released: set[str] = set()  # interfaces whose binding was (being) given up

    def _new_radio(self, name: str) -> MobileNode:
        mac = dict(self.config.interfaces)[name]
        radio_config = dataclasses.replace(
            self.config.base, interface=name, mac=mac, simultaneous_bindings=True
        )
        return MobileNode(radio_config, random=self._random)

    @property
    def name(self) -> str:
        return self.config.base.name

    @property
    def home_address(self) -> IPv4Address:
        return self.config.base.home_address

    @property
    def drops(self) -> collections.Counter[DropReason]:
        """Both radios' drop counters (a driver's ``agent.drops``)."""
        total: collections.Counter[DropReason] = collections.Counter()
        for radio in self.radios.values():
            total.update(radio.drops)
        return total

    # ------------------------------------------------------------------ inputs

    def start(self, now: float) -> list[Action]:
        """The first interface starts (its link is up when the MN powers on); the other
        starts at its first L2-LU."""
        first = self.order[0]
        self.link_up[first] = True
        self.started.add(first)
        return self._from(first, self.radios[first].start(now), now)

    def receive(self, packet: ReceivedPacket, now: float) -> list[Action]:
        radio = self.radios.get(packet.interface)
        if radio is None or packet.interface not in self.started:
            return [
                Notify(
                    event="multi-interface-unknown-interface",
                    fields={"interface": packet.interface},
                )
            ]
        return self._from(packet.interface, radio.receive(packet, now), now)

    def l2_trigger(self, trigger: L2Trigger, now: float) -> list[Action]:
        name = getattr(trigger, "interface", "") or self.active
        radio = self.radios.get(name)
        if radio is None:
            return [Notify(event="multi-interface-unknown-interface", fields={"interface": name})]
        out: list[Action] = []
        if isinstance(trigger, LinkUp):
            self.link_up[name] = True
            self.released.discard(name)
            if name not in self.started:
                self.started.add(name)
                out += self._from(name, radio.start(now), now)
        elif isinstance(trigger, LinkDown):
            self.link_up[name] = False
            other = self._other(name)
            # The new network failed during the hold: keep the old binding (Appendix B).
            if self.active == name and self.link_up[other] and other not in self.released:
                self.active = other
                out += self._cancel((HOLD_TIMER, other))
                router = self.radios[other].current_agent
                if router is not None and self.radios[other].registration is not None:
                    out.append(
                        SetDefaultRouter(
                            router=router.address, interface=other, link_address=router.link_address
                        )
                    )
        if name in self.started:
            out += self._from(name, radio.l2_trigger(trigger, now), now)
        if isinstance(trigger, LinkDown) and name != self.active:
            # The interface left its network: it starts afresh in the next one (its
            # binding is released, or kept by the HA until it expires if the release could
            # not be sent); its old timers find nothing and do nothing.
            self.radios[name] = self._new_radio(name)
            self.started.discard(name)
            self.released.discard(name)
            out += self._cancel((HOLD_TIMER, name))
        return out

    def timer_expired(self, key: TimerKey, now: float) -> list[Action]:
        if key and key[0] == HOLD_TIMER:
            name = str(key[1])
            if self.active == name or not self.link_up[name] or name in self.released:
                return []
            self.released.add(name)
            out: list[Action] = [
                Notify(
                    event="old-interface-released",
                    fields={"interface": name, "active": self.active},
                )
            ]
            return out + self._from(name, self.radios[name].release_care_of_address(now), now)
        if len(key) < 2:
            return []
        name = str(key[-1])
        radio = self.radios.get(name)
        if radio is None:
            return []
        return self._from(name, radio.timer_expired(key[:-1], now), now)

    def snapshot(self, now: float) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "active": self.active,
            "released": sorted(self.released),
            "interfaces": {name: radio.snapshot(now) for name, radio in self.radios.items()},
        }

    # ------------------------------------------------------------------ plumbing

    def _other(self, name: str) -> str:
        return self.order[1] if name == self.order[0] else self.order[0]

    def _cancel(self, key: TimerKey) -> list[Action]:
        return [CancelTimer(key)]

    def _from(self, name: str, actions: list[Action], now: float) -> list[Action]:
        """One radio's actions as the driver sees them: timer keys tagged with the
        interface; only the active interface's default router; nothing sent on a down
        link; a registration accepted on the other interface makes it active and starts
        the hold."""
        out: list[Action] = []
        for action in actions:
            match action:
                case StartTimer(key=key, deadline=deadline):
                    out.append(StartTimer((*key, name), deadline))
                case CancelTimer(key=key):
                    out.append(CancelTimer((*key, name)))
                case SendPacket():
                    if self.link_up[name]:
                        out.append(action)
                case SetDefaultRouter():
                    if name == self.active:
                        out.append(action)
                case Notify(event="registration-accepted"):
                    out.append(action)
                    out += self._accepted(name, now)
                case _:
                    out.append(action)
        return out

    def _accepted(self, name: str, now: float) -> list[Action]:
        """A registration through interface ``name`` was accepted: if the other interface
        is registered, ``name`` takes over and the other is released after the hold."""
        if name == self.active:
            return []
        radio = self.radios[name]
        other = self.active
        self.active = name
        out: list[Action] = []
        agent = radio.current_agent
        if agent is not None:
            out.append(
                SetDefaultRouter(
                    router=agent.address, interface=name, link_address=agent.link_address
                )
            )
        out.append(Notify(event="interface-active", fields={"interface": name, "previous": other}))
        if self.radios[other].registration is not None and other not in self.released:
            out.append(StartTimer((HOLD_TIMER, other), now + self.config.hold_time))
        return out


__all__ = ["DEFAULT_HOLD_TIME", "HOLD_TIMER", "MultiInterfaceConfig", "MultiInterfaceMobileNode"]
