"""Agent discovery (RFC 5944 §2, RFC 1256): advertising agents and soliciting mobile nodes.

- :class:`Advertiser` (FA, and HA on its home link): periodic Agent Advertisements with the
  sequence-number rule of §2.3.2 and answers to Agent Solicitations (§2.3, §2.4).
- :func:`is_reboot`: the MN's reading of a sequence-number decrease (§2.4.4).
- :class:`SolicitationBackoff`: the MN's solicitation schedule (§2.4): up to three at the
  initial interval, then binary exponential backoff to a maximum.

Timers are armed through the owning agent (``start_timer``), so stale-timer handling stays
in one place (:class:`mip4.core.agent.Agent`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

from mip4.core.actions import Action, SendPacket, StartTimer, TimerKey
from mip4.core.config import AdvertisementConfig
from mip4.core.packets import ReceivedPacket
from mip4.core.security import RandomSource
from mip4.wire.icmp import (
    AdvertisementCode,
    AgentAdvertisement,
    MobilityAgentAdvertisement,
    MobilityAgentFlags,
    RouterAddress,
)
from mip4.wire.ip import PROTO_ICMP

MAX_SEQUENCE = 0xFFFF
SEQUENCE_ROLLOVER = 256  # RFC 5944 §2.3.2: 0xffff MUST be followed by 256
ADVERTISE_TIMER = "advertise"
ADVERTISEMENT_TTL = 1  # RFC 5944 §2.1: the TTL of every Agent Advertisement MUST be 1
SOLICITATION_TTL = 1  # RFC 5944 §2.2: Agent Solicitation TTL MUST be 1


def next_sequence(sequence: int) -> int:
    """The sequence number after ``sequence`` (RFC 5944 §2.3.2)."""
    return SEQUENCE_ROLLOVER if sequence >= MAX_SEQUENCE else sequence + 1


def is_reboot(previous: int, current: int) -> bool:
    """RFC 5944 §2.4.4: a decrease to a value in 0..255 means the agent rebooted (the MN
    SHOULD register again); a decrease to 256 or more is a rollover."""
    return current < previous and current < SEQUENCE_ROLLOVER


def uniform(random: RandomSource) -> float:
    """A float in [0, 1) from the injected random source (53 bits)."""
    return random.getrandbits(53) / float(1 << 53)


@dataclass(slots=True)
class Advertiser:
    """Builds and schedules one agent's Agent Advertisements on one interface.

    ``flags`` holds the MAAE flags (F/H, T, M/G, I) and ``care_of_addresses`` the CoAs
    (the FA's, then the GFA's under RFC 4857 §4.3).
    """

    config: AdvertisementConfig
    source: IPv4Address
    interface: str
    link_source: bytes | None
    flags: MobilityAgentFlags
    care_of_addresses: tuple[IPv4Address, ...]
    registration_lifetime: int
    random: RandomSource
    start_timer: Callable[[TimerKey, float], StartTimer]
    sequence: int = 0  # RFC 5944 §2.3.2: the first advertisement after booting uses 0
    sent: int = 0
    last_multicast: float | None = None

    def start(self, now: float) -> list[Action]:
        """The first advertisement now, then every interval (when periodic ones are on)."""
        if not self.config.enabled:
            return []
        return [self._send(self.config.destination, None, now), self._arm(now)]

    def on_timer(self, now: float) -> list[Action]:
        return [self._send(self.config.destination, None, now), self._arm(now)]

    def answer(self, packet: ReceivedPacket, now: float) -> list[Action] | None:
        """Answer an Agent Solicitation (RFC 5944 §2.3: all agents SHOULD respond).

        Unicast to the soliciter when its source is non-zero, with the link-layer
        destination taken from the solicitation (RFC 5944 §2.1, §4.6: no ARP for an MN);
        multicast otherwise, at most once per ``multicast_response_gap`` (RFC 5944 §2.3:
        the multicast rate MUST be limited). None means rate-limited.
        """
        if not packet.source.is_unspecified:
            return [self._send(packet.source, packet.link_source, now)]
        if (
            self.last_multicast is not None
            and now - self.last_multicast < self.config.multicast_response_gap
        ):
            return None
        return [self._send(self.config.destination, None, now)]

    def build(self) -> AgentAdvertisement:
        maae = MobilityAgentAdvertisement(
            sequence_number=self.sequence,
            registration_lifetime=self.registration_lifetime,
            flags=self.flags,
            care_of_addresses=self.care_of_addresses,
        )
        code = (
            AdvertisementCode.MOBILITY_ONLY
            if self.config.mobility_only
            else AdvertisementCode.ROUTES_COMMON_TRAFFIC
        )
        return AgentAdvertisement(
            code=int(code),
            lifetime=self.config.lifetime,
            # RFC 5944 §2.3.1: an agent SHOULD only put its own addresses in the list.
            router_addresses=(
                RouterAddress(address=self.source, preference_level=self.config.preference_level),
            ),
            extensions=(maae,),
        )

    def _send(
        self, destination: IPv4Address, link_destination: bytes | None, now: float
    ) -> SendPacket:
        advertisement = self.build()
        self.sequence = next_sequence(self.sequence)  # §2.3.2: each one uses the next number
        self.sent += 1
        if destination.is_multicast or destination == self.config.destination:
            self.last_multicast = now
        return SendPacket(
            interface=self.interface,
            source=self.source,
            destination=destination,
            protocol=PROTO_ICMP,
            payload=advertisement.encode(),
            message="agent_advertisement",
            ttl=ADVERTISEMENT_TTL,
            link_destination=link_destination,
            link_source=self.link_source,
        )

    def _arm(self, now: float) -> StartTimer:
        delay = self.config.interval
        if self.config.jitter:
            delay *= 1.0 + self.config.jitter * (2.0 * uniform(self.random) - 1.0)
        return self.start_timer((ADVERTISE_TIMER,), now + delay)


@dataclass(slots=True)
class SolicitationBackoff:
    """The MN's solicitation intervals (RFC 5944 §2.4).

    "MAY send three initial solicitations at a maximum rate of one per second ... [then]
    binary exponential backoff ... up to a maximum interval". ``next_interval`` gives the
    gap after the solicitation just sent; ``jitter`` randomises it around the nominal value
    (§2.4: "MUST randomize their solicitation times around these nominal values").
    """

    interval: float
    initial: int
    maximum: float
    jitter: float = 0.0
    sent: int = 0

    def next_interval(self, random: RandomSource) -> float:
        self.sent += 1
        if self.sent < self.initial:
            nominal = self.interval
        else:
            nominal = min(self.maximum, self.interval * 2.0 ** (self.sent - self.initial + 1))
        if self.jitter:
            nominal *= 1.0 + self.jitter * (2.0 * uniform(random) - 1.0)
        return nominal

    def reset(self) -> None:
        """After a registration or a positive sign of movement (§2.4: may revert)."""
        self.sent = 0


__all__ = [
    "ADVERTISEMENT_TTL",
    "ADVERTISE_TIMER",
    "SEQUENCE_ROLLOVER",
    "SOLICITATION_TTL",
    "Advertiser",
    "SolicitationBackoff",
    "is_reboot",
    "next_sequence",
    "uniform",
]
