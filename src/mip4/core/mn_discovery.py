"""Agent discovery and movement detection at the mobile node (RFC 5944 §2.4; RFC 4881 §3.6).

Recording advertisements and their lifetimes (move detection algorithm 1, §2.4.2.1),
choosing the current FA (eager or not), the reboot rule (§2.4.4), returning home (§2.4.3),
losing an agent, and soliciting with backoff (§2.4). See the theory of operation in
:mod:`mip4.core.mobile_node`.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from mip4.core.actions import (
    Action,
    DropReason,
    Notify,
    SendPacket,
    TimerKey,
)
from mip4.core.discovery import SOLICITATION_TTL, is_reboot
from mip4.core.mn_registration import MobileNodeRegistration
from mip4.core.mn_state import AGENT_TIMER, RETRY_TIMER, SOLICIT_TIMER, HeardAgent
from mip4.core.packets import ReceivedPacket
from mip4.wire.icmp import AgentAdvertisement, AgentSolicitation
from mip4.wire.ip import PROTO_ICMP


class MobileNodeDiscovery(MobileNodeRegistration):
    """The MN's discovery and movement detection."""

    # ------------------------------------------------------------------ discovery

    def _on_advertisement(
        self, message: AgentAdvertisement, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        maae = message.mobility_extension
        if maae is None:
            # RFC 5944 §2.4: only a MAAE makes a Router Advertisement an Agent Advertisement.
            return [self._drop(DropReason.UNEXPECTED_MESSAGE, "router advertisement", packet)]
        address = packet.source
        previous = self._agents.get(address)
        agent = HeardAgent(
            address=address,
            link_address=packet.link_source,
            interface=packet.interface,
            sequence=maae.sequence_number,
            registration_lifetime=maae.registration_lifetime,
            flags=maae.flags.value,
            care_of_addresses=maae.care_of_addresses,
            heard_at=now,
            expires_at=now + message.lifetime,
        )
        if message.lifetime == 0:
            # RFC 1256: Lifetime 0 -> the agent leaves service; forget it now.
            self._agents[address] = agent
            return self._lose_agent(address, now)
        self._agents[address] = agent
        out: list[Action] = [self._start_timer((AGENT_TIMER, address), agent.expires_at)]
        if agent.is_home_agent and address == self.config.home_agent:
            return out + self._returned_home(agent, now)
        if not agent.is_foreign_agent or not agent.care_of_addresses:
            return out
        current = self._current
        if current is not None and current.address == address:
            self._current = agent
            if previous is not None and is_reboot(previous.sequence, agent.sequence):
                # RFC 5944 §2.4.4: a decrease below 256 is a reboot -> register again.
                out.append(Notify(event="agent-rebooted", fields={"agent": str(address)}))
                return out + self._register(agent, now)
            if (
                self._router is None
                and self._link_up
                and self._registration is not None
                and self._registration.agent == address
            ):
                out.append(self._set_router(agent))  # back on the same FA after L2-LU
            return out
        if current is None or self.config.eager or self._at_home:
            # RFC 4881 §3.6 (eager) or no current agent: use this FA and register.
            return out + self._switch_to(agent, now)
        return out

    def _switch_to(self, agent: HeardAgent, now: float) -> list[Action]:
        old = self._current
        self._current = agent
        self._at_home = False
        out = self._stop_soliciting()
        out.append(
            Notify(
                event="agent-selected",
                fields={
                    "agent": str(agent.address),
                    "previous": None if old is None else str(old.address),
                },
            )
        )
        return out + self._register(agent, now)

    def _on_agent_expired(self, key: TimerKey, now: float) -> list[Action]:
        address = key[1]
        assert isinstance(address, IPv4Address)
        return self._lose_agent(address, now)

    def _lose_agent(self, address: IPv4Address, now: float) -> list[Action]:
        """RFC 5944 §2.4.2.1: no advertisement within its Lifetime -> contact lost."""
        self._agents.pop(address, None)
        out = self._cancel_timer((AGENT_TIMER, address))
        if self._current is None or self._current.address != address:
            return out
        self._current = None
        out.append(Notify(event="agent-lost", fields={"agent": str(address)}))
        if self._pending is not None and self._pending.agent is not None:
            self._pending = None
            out += self._cancel_timer((RETRY_TIMER,))
        if self._router is not None:
            out.append(self._clear_router())
        # §2.4.2.1: "MAY immediately attempt registration with that other agent"; else
        # "SHOULD attempt to discover a new agent".
        others = [a for a in self._agents.values() if a.is_foreign_agent and a.care_of_addresses]
        if others:
            newest = max(others, key=lambda a: a.heard_at)
            return out + self._switch_to(newest, now)
        return out + self._start_soliciting(now)

    def _on_solicitation(
        self, message: AgentSolicitation, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        return [self._drop(DropReason.UNEXPECTED_MESSAGE, "solicitation at an MN", packet)]

    def _start_soliciting(self, now: float) -> list[Action]:
        if self._soliciting:
            return []
        self._soliciting = True
        self._solicitations.reset()
        return self._solicit(now)

    def _stop_soliciting(self) -> list[Action]:
        if not self._soliciting:
            return []
        self._soliciting = False
        return self._cancel_timer((SOLICIT_TIMER,))

    def _on_solicit_timer(self, key: TimerKey, now: float) -> list[Action]:
        if not self._soliciting or self._current is not None:
            self._soliciting = False
            return []
        return self._solicit(now)

    def _solicit(self, now: float) -> list[Action]:
        """Send one solicitation (if the link is up) and arm the next (RFC 5944 §2.4)."""
        out: list[Action] = []
        if self._link_up:
            out.append(self._solicitation_packet(now))
        delay = self._solicitations.next_interval(self._random)
        out.append(self._start_timer((SOLICIT_TIMER,), now + delay))
        return out

    def _solicitation_packet(self, now: float) -> SendPacket:
        cfg = self.config
        self._last_solicitation = now
        return SendPacket(
            interface=cfg.interface,
            source=cfg.home_address,
            destination=cfg.solicitation_address,
            protocol=PROTO_ICMP,
            payload=AgentSolicitation().encode(),
            message="agent_solicitation",
            ttl=SOLICITATION_TTL,  # RFC 5944 §2.2: MUST be 1
            link_source=cfg.mac,
        )


__all__ = ["MobileNodeDiscovery"]
