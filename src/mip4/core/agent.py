"""What every agent shares: the decode boundary, drop counting, keyed timers, dispatch.

An agent subclass registers handlers instead of overriding ``receive``:

- ``_control_handlers``: message class -> handler for UDP 434 messages;
- ``_icmp_handlers``: message class -> handler for ICMP messages;
- ``_timer_handlers``: timer purpose (``key[0]``) -> handler.

The RFC 4881 procedures of later issues add entries to these tables (Handoff Request and
Reply, PrRtSol, the BET timers) without touching the base.

The boundary (style guide §2.9): ``receive`` never raises for anything the network sends.
Bytes that do not decode become a :class:`~mip4.core.actions.Dropped` with the reason, and
every ``Dropped`` an agent returns is also counted in :attr:`Agent.drops`.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from mip4.core.actions import Action, CancelTimer, Dropped, DropReason, StartTimer, TimerKey
from mip4.core.packets import ReceivedPacket
from mip4.core.security import RandomSource
from mip4.core.triggers import (
    L2Trigger,
    LinkDown,
    LinkUp,
    MobileTrigger,
    SourceTrigger,
    TargetTrigger,
)
from mip4.errors import LocalUsageError
from mip4.wire.errors import (
    ChecksumError,
    DecodeError,
    ReservedValueError,
    UnknownMandatoryExtension,
)
from mip4.wire.icmp import decode_icmp
from mip4.wire.ip import PROTO_ICMP, PROTO_UDP
from mip4.wire.messages import MOBILE_IP_PORT, decode_control_message

ControlHandler = Callable[[Any, ReceivedPacket, float], list[Action]]
TimerHandler = Callable[[TimerKey, float], list[Action]]
TriggerHandler = Callable[[Any, float], list[Action]]

_TRIGGER_TYPES = (MobileTrigger, SourceTrigger, TargetTrigger, LinkUp, LinkDown)


class Agent:
    """Base of :class:`HomeAgent`, :class:`ForeignAgent`, :class:`MobileNode` and
    :class:`GatewayForeignAgent`: the driver-facing API of design.md's core contract."""

    role: str = "agent"

    def __init__(self, name: str, random: RandomSource) -> None:
        self.name = name
        self.drops: collections.Counter[DropReason] = collections.Counter()
        self._random = random
        self._deadlines: dict[TimerKey, float] = {}
        self._control_handlers: dict[type, ControlHandler] = {}
        self._icmp_handlers: dict[type, ControlHandler] = {}
        self._timer_handlers: dict[str, TimerHandler] = {}
        self._trigger_handlers: dict[type, TriggerHandler] = {}
        self._started = False

    # ------------------------------------------------------------------ driver API

    def start(self, now: float) -> list[Action]:
        """Initial actions (first advertisement, timers). Calling it twice is a bug."""
        if self._started:
            raise LocalUsageError(f"{self.name}: start() called twice")
        self._started = True
        return self._on_start(now)

    def receive(self, packet: ReceivedPacket, now: float) -> list[Action]:
        """Feed one packet for the control plane. Never raises on network input."""
        if packet.protocol == PROTO_UDP:
            if MOBILE_IP_PORT not in (packet.destination_port, packet.source_port):
                return [self._drop(DropReason.NOT_FOR_US, "UDP port is not 434", packet)]
            return self._receive_control(packet, now)
        if packet.protocol == PROTO_ICMP:
            return self._receive_icmp(packet, now)
        return [self._drop(DropReason.NOT_FOR_US, f"IP protocol {packet.protocol}", packet)]

    def l2_trigger(self, trigger: L2Trigger, now: float) -> list[Action]:
        """Feed one L2 trigger (RFC 4881 Table 1). Never raises on a bad trigger."""
        given: object = trigger
        if not isinstance(given, _TRIGGER_TYPES):
            return [self._drop(DropReason.BAD_TRIGGER, f"not an L2 trigger: {given!r}")]
        handler = self._trigger_handlers.get(type(given))
        if handler is None:
            return [
                self._drop(
                    DropReason.BAD_TRIGGER, f"{type(trigger).__name__} is not for a {self.role}"
                )
            ]
        return handler(trigger, now)

    def timer_expired(self, key: TimerKey, now: float) -> list[Action]:
        """A timer fired. A stale, cancelled or early one does nothing (style guide §2.5)."""
        deadline = self._deadlines.get(key)
        if deadline is None or now < deadline:
            return []
        del self._deadlines[key]
        handler = self._timer_handlers.get(str(key[0])) if key else None
        return [] if handler is None else handler(key, now)

    def snapshot(self, now: float) -> dict[str, object]:
        """JSON-able state for ``mip4 status`` and tests (lifetimes remaining at ``now``)."""
        out: dict[str, object] = {"name": self.name, "role": self.role}
        out.update(self._snapshot(now))
        out["drops"] = {reason.value: n for reason, n in sorted(self.drops.items(), key=_by_value)}
        out["timers"] = len(self._deadlines)
        return out

    # ------------------------------------------------------------------ for subclasses

    def _on_start(self, now: float) -> list[Action]:
        return []

    def _snapshot(self, now: float) -> dict[str, object]:
        return {}

    def _on_reserved_bits(
        self, packet: ReceivedPacket, error: ReservedValueError, now: float
    ) -> list[Action]:
        """A control message with a forbidden reserved bit; agents may answer with a code."""
        return [self._drop(DropReason.MALFORMED, str(error), packet)]

    def _drop(
        self,
        reason: DropReason,
        detail: str,
        packet: ReceivedPacket | None = None,
        *,
        source: IPv4Address | None = None,
    ) -> Dropped:
        """Build a :class:`Dropped` and count it."""
        self.drops[reason] += 1
        if source is None and packet is not None:
            source = packet.source
        return Dropped(reason=reason, detail=detail, source=source)

    def _start_timer(self, key: TimerKey, deadline: float) -> StartTimer:
        self._deadlines[key] = deadline
        return StartTimer(key, deadline)

    def _cancel_timer(self, key: TimerKey) -> list[Action]:
        if self._deadlines.pop(key, None) is None:
            return []
        return [CancelTimer(key)]

    def _timer_remaining(self, key: TimerKey, now: float) -> float | None:
        deadline = self._deadlines.get(key)
        return None if deadline is None else max(0.0, deadline - now)

    # ------------------------------------------------------------------ decode boundary

    def _receive_control(self, packet: ReceivedPacket, now: float) -> list[Action]:
        try:
            message = decode_control_message(packet.payload)
        except UnknownMandatoryExtension as exc:
            # RFC 5944 §1.8: an unrecognised extension 0-127 -> silently discard the message.
            return [self._drop(DropReason.UNKNOWN_MANDATORY_EXTENSION, str(exc), packet)]
        except ReservedValueError as exc:
            if exc.field.startswith("flags."):
                return self._on_reserved_bits(packet, exc, now)
            return [self._drop(DropReason.MALFORMED, str(exc), packet)]
        except DecodeError as exc:
            return [self._drop(DropReason.MALFORMED, str(exc), packet)]
        handler = self._control_handlers.get(type(message))
        if handler is None:
            return [self._drop(DropReason.UNEXPECTED_MESSAGE, f"{type(message).__name__}", packet)]
        return handler(message, packet, now)

    def _receive_icmp(self, packet: ReceivedPacket, now: float) -> list[Action]:
        try:
            message = decode_icmp(packet.payload)
        except ChecksumError as exc:
            return [self._drop(DropReason.BAD_CHECKSUM, str(exc), packet)]
        except UnknownMandatoryExtension as exc:
            return [self._drop(DropReason.UNKNOWN_MANDATORY_EXTENSION, str(exc), packet)]
        except DecodeError as exc:
            return [self._drop(DropReason.MALFORMED, str(exc), packet)]
        handler = self._icmp_handlers.get(type(message))
        if handler is None:
            return [self._drop(DropReason.UNEXPECTED_MESSAGE, f"{type(message).__name__}", packet)]
        return handler(message, packet, now)


def _by_value(item: tuple[DropReason, int]) -> str:
    return item[0].value


__all__ = ["Agent", "ControlHandler", "TimerHandler", "TriggerHandler"]
