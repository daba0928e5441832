"""The mobile node (RFC 5944 §2.4, §3.6, §4.2.1; RFC 3024 §4.1; RFC 4857 §5.1, §6.1).

Theory of operation
-------------------
Discovery. Every Agent Advertisement heard is recorded as a :class:`HeardAgent` with an
``("agent-lifetime", address)`` timer at its ICMP Lifetime (move detection algorithm 1,
RFC 5944 §2.4.2.1). The MN uses one *current* foreign agent. With ``eager`` (the default,
and what RFC 4881 §3.6 needs) the first advertisement from any other FA makes it the
current one and starts a registration; without it a new FA is used only once the current
one is lost (§3.6: no new registration while the current FA is still heard). When the
current agent's lifetime expires the MN drops its default router, registers with another
agent still heard or, with none, solicits (§2.4: three at the initial interval, then
binary exponential backoff). A sequence-number decrease below 256 from the current FA is
a reboot and triggers a registration (§2.4.4). An advertisement from its own HA (H bit)
means it is home: it deregisters all bindings (§2.4.3).

Registration. A request (RFC 5944 §3.6.1) carries T when configured and offered (then
IP TTL 255, RFC 3024 §4.1.1), M or G when configured and advertised, S when configured;
extensions in the order of §3.6.1.3: MN-HA authentication, the FA-only Encapsulating
Delivery Style (RFC 3024 §3.3), MN-FA authentication when the MN shares an SA with the FA.
It goes to the FA's address with the link-layer destination of its advertisement
(§3.6.1.1). Unanswered, it is retransmitted after 1 s, doubling, never beyond the requested
lifetime (§3.6.3): with timestamps each retry is a new request with a fresh Identification,
with nonces the same bytes are sent again. While the link is down nothing is sent.

Replies are matched on the low 32 bits of the Identification and authenticated (MN-FA when
shared, MN-HA for every HA-originated code, §3.6.2.1); anything else is silently dropped
and counted. Accepted: the lifetime is min(requested, granted), timed from when the request
was sent (§3.6.2.2); the MN sets its default router to the FA and re-registers at
``reregister_fraction`` of it. Code 133 resynchronises the Identification source and
retries at once (§3.6.2.3, §5.7); 69 retries with the FA's maximum; transient codes keep
the retransmissions going; other denials end the attempt.

Regional registration (RFC 4857), when enabled and the MN shares an SA with the GFA that
an FA advertises (I bit, last CoA): entering the GFA's domain is a home registration with
the GFA as care-of address; later moves inside it are Regional Registration Requests to the
GFA (MN-GFA authentication, a separate Identification sequence, §6.1); re-registrations
are home registrations, which refresh both the GFA and the HA (§5.1).

L2 triggers: L2-LD marks the link down and withdraws the default router; L2-LU marks it up
and, with ``solicit_on_link_up`` (method ``standard-solicit``), solicits at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from ipaddress import IPv4Address

from mip4.core.actions import (
    Action,
    DropReason,
    Notify,
    SendPacket,
    SetDefaultRouter,
    TimerKey,
    TunnelMode,
)
from mip4.core.agent import Agent
from mip4.core.config import MobileNodeConfig
from mip4.core.discovery import SOLICITATION_TTL, SolicitationBackoff, is_reboot
from mip4.core.packets import ReceivedPacket
from mip4.core.registration import (
    AnyReply,
    AnyRequest,
    check_single,
    mode_flags,
    remaining,
    seal_generalized,
    seal_with,
)
from mip4.core.replay import IdentificationSource, low32
from mip4.core.security import RandomSource, ReplayProtection
from mip4.core.triggers import LinkDown, LinkUp, MobileTrigger
from mip4.wire.extensions import (
    EncapsulatingDeliveryStyle,
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    MobileForeignAuthentication,
    MobileHomeAuthentication,
)
from mip4.wire.icmp import AgentAdvertisement, AgentSolicitation, MobilityAgentFlags
from mip4.wire.ip import PROTO_ICMP, PROTO_UDP
from mip4.wire.messages import MOBILE_IP_PORT
from mip4.wire.registration import (
    INFINITE_LIFETIME,
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationFlags,
    RegistrationReply,
    RegistrationRequest,
    ReplyCode,
)

AGENT_TIMER = "agent-lifetime"
RETRY_TIMER = "registration-retry"
REREGISTER_TIMER = "reregister"
EXPIRY_TIMER = "registration-expiry"
SOLICIT_TIMER = "solicit"
REVERSE_TUNNEL_TTL = 255  # RFC 3024 §4.1.1: with T the request MUST use IP TTL 255
DEFAULT_TTL = 64

HOME = "home"
REGIONAL = "regional"
DEREGISTER = "deregister"

# Denials after which retrying the same request may succeed (resources, timeouts, ICMP
# unreachables 80-95, RFC 5944 §3.7.3).
_TRANSIENT = frozenset(
    {
        ReplyCode.FA_INSUFFICIENT_RESOURCES,
        ReplyCode.FA_REGISTRATION_TIMEOUT,
        ReplyCode.HA_INSUFFICIENT_RESOURCES,
        *range(80, 96),
    }
)


_F = MobilityAgentFlags.F.value
_H = MobilityAgentFlags.H.value
_I = MobilityAgentFlags.I.value


@dataclass(frozen=True, slots=True, kw_only=True)
class HeardAgent:
    """What the MN knows of one agent from its last advertisement (RFC 5944 §2.4)."""

    address: IPv4Address
    link_address: bytes | None
    interface: str
    sequence: int
    registration_lifetime: int
    flags: int  # the MAAE flags word (MobilityAgentFlags values), kept as a plain int
    care_of_addresses: tuple[IPv4Address, ...]
    heard_at: float
    expires_at: float

    @property
    def is_foreign_agent(self) -> bool:
        return bool(self.flags & _F)

    @property
    def is_home_agent(self) -> bool:
        return bool(self.flags & _H)

    def offers(self, flag: MobilityAgentFlags) -> bool:
        return bool(self.flags & flag.value)

    @property
    def gfa(self) -> IPv4Address | None:
        """The advertised GFA (RFC 4857 §4.3: I set, last of several CoAs)."""
        if self.flags & _I and len(self.care_of_addresses) >= 2:
            return self.care_of_addresses[-1]
        return None

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "address": str(self.address),
            "sequence": self.sequence,
            "care_of_addresses": [str(a) for a in self.care_of_addresses],
            "lifetime_remaining": remaining(self.expires_at, now),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingRequest:
    """The MN's pending registration (RFC 5944 §3.6): where it went and what it asked."""

    kind: str  # HOME, REGIONAL or DEREGISTER
    agent: HeardAgent | None
    request: AnyRequest
    destination: IPv4Address
    link_destination: bytes | None
    ttl: int
    sent_at: float
    interval: float
    gfa: IPv4Address | None = None

    @property
    def identification(self) -> int:
        return self.request.identification


@dataclass(frozen=True, slots=True, kw_only=True)
class CurrentRegistration:
    """The MN's accepted registration: the FA, the CoA at the HA, and the lifetimes."""

    agent: IPv4Address
    care_of_address: IPv4Address
    lifetime: int
    expires_at: float | None
    home_expires_at: float | None
    gfa: IPv4Address | None = None
    regional: bool = False

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "agent": str(self.agent),
            "care_of_address": str(self.care_of_address),
            "lifetime": self.lifetime,
            "lifetime_remaining": remaining(self.expires_at, now),
            "home_lifetime_remaining": remaining(self.home_expires_at, now),
            "gfa": None if self.gfa is None else str(self.gfa),
            "regional": self.regional,
        }


class MobileNode(Agent):
    """A mobile node with one radio interface."""

    role = "mobile-node"

    def __init__(self, config: MobileNodeConfig, *, random: RandomSource) -> None:
        super().__init__(config.name, random)
        self.config = config
        self._link_up = True
        self._at_home = False
        self._agents: dict[IPv4Address, HeardAgent] = {}
        self._current: HeardAgent | None = None
        self._registration: CurrentRegistration | None = None
        self._pending: PendingRequest | None = None
        self._lifetime_cap: dict[IPv4Address, int] = {}  # code 69 (RFC 5944 §3.6.2.3)
        self._router: IPv4Address | None = None
        self._home_ids = IdentificationSource(
            style=config.mn_ha.replay,
            clock_offset=config.clock_offset,
            random=random,
            random_bits=config.timestamp_random_bits,
        )
        self._gfa_ids: dict[IPv4Address, IdentificationSource] = {}
        self._solicitations = SolicitationBackoff(
            interval=config.solicitation_interval,
            initial=config.initial_solicitations,
            maximum=config.max_solicitation_interval,
            jitter=config.solicitation_jitter,
        )
        self._soliciting = False
        self._last_solicitation: float | None = None
        self._control_handlers[RegistrationReply] = self._on_reply
        self._control_handlers[RegionalRegistrationReply] = self._on_reply
        self._icmp_handlers[AgentAdvertisement] = self._on_advertisement
        self._icmp_handlers[AgentSolicitation] = self._on_solicitation
        self._timer_handlers[AGENT_TIMER] = self._on_agent_expired
        self._timer_handlers[RETRY_TIMER] = self._on_retry
        self._timer_handlers[REREGISTER_TIMER] = self._on_reregister
        self._timer_handlers[EXPIRY_TIMER] = self._on_registration_expired
        self._timer_handlers[SOLICIT_TIMER] = self._on_solicit_timer
        self._trigger_handlers[LinkDown] = self._on_link_down
        self._trigger_handlers[LinkUp] = self._on_link_up
        # L2-MT drives PRE-REGISTRATION (RFC 4881 §3.3); the base method ignores it.
        self._trigger_handlers[MobileTrigger] = self._ignore_trigger

    # ------------------------------------------------------------------ views

    @property
    def registration(self) -> CurrentRegistration | None:
        return self._registration

    @property
    def current_agent(self) -> HeardAgent | None:
        return self._current

    @property
    def clock_offset(self) -> float:
        return self._home_ids.clock_offset

    def _snapshot(self, now: float) -> dict[str, object]:
        pending = self._pending
        return {
            "home_address": str(self.config.home_address),
            "link_up": self._link_up,
            "at_home": self._at_home,
            "clock_offset": self._home_ids.clock_offset,
            "agent": None if self._current is None else str(self._current.address),
            "agents": {str(a): h.to_dict(now) for a, h in sorted(self._agents.items())},
            "registration": None if self._registration is None else self._registration.to_dict(now),
            "pending": None
            if pending is None
            else {
                "kind": pending.kind,
                "to": str(pending.destination),
                "identification": pending.identification,
                "lifetime": pending.request.lifetime,
                "care_of_address": str(pending.request.care_of_address),
            },
            "soliciting": self._soliciting,
            "default_router": None if self._router is None else str(self._router),
        }

    def _on_start(self, now: float) -> list[Action]:
        # With no agent yet, look for one (RFC 5944 §2.4: MUST implement solicitation).
        return self._start_soliciting(now)

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

    # ------------------------------------------------------------------ L2 triggers

    def _on_link_down(self, trigger: LinkDown, now: float) -> list[Action]:
        if trigger.interface and trigger.interface != self.config.interface:
            return [self._drop(DropReason.BAD_TRIGGER, f"unknown interface {trigger.interface}")]
        self._link_up = False
        out: list[Action] = [Notify(event="link-down", fields={})]
        if self._router is not None:
            out.append(self._clear_router())
        return out

    def _on_link_up(self, trigger: LinkUp, now: float) -> list[Action]:
        if trigger.interface and trigger.interface != self.config.interface:
            return [self._drop(DropReason.BAD_TRIGGER, f"unknown interface {trigger.interface}")]
        self._link_up = True
        out: list[Action] = [Notify(event="link-up", fields={})]
        if self.config.solicit_on_link_up and self._last_solicitation != now:
            # Method standard-solicit: an L2-LU is a positive sign of movement, so the
            # solicitation rate may revert to its maximum (RFC 5944 §2.4). (Not twice at
            # the same instant, e.g. at power-on right after start().)
            self._solicitations.reset()
            out.append(self._solicitation_packet(now))
            if self._soliciting:
                out.append(
                    self._start_timer(
                        (SOLICIT_TIMER,), now + self._solicitations.next_interval(self._random)
                    )
                )
        return out

    def _ignore_trigger(self, trigger: object, now: float) -> list[Action]:
        return []

    # ------------------------------------------------------------------ registration

    def _register(self, agent: HeardAgent, now: float, *, force_home: bool = False) -> list[Action]:
        """Start a registration through ``agent`` (RFC 5944 §3.6.1; RFC 4857 §5.1, §6.1)."""
        cfg = self.config
        gfa = agent.gfa if cfg.regional_registration else None
        if gfa is not None and gfa not in cfg.mn_gfa:
            gfa = None  # no MN-GFA SA: plain registration with the FA's own CoA
        reg = self._registration
        regional = (
            gfa is not None
            and not force_home
            and reg is not None
            and reg.gfa == gfa
            and reg.home_expires_at is not None
            and reg.home_expires_at > now
        )
        lifetime = cfg.registration_lifetime
        if agent.registration_lifetime != INFINITE_LIFETIME or lifetime == INFINITE_LIFETIME:
            # RFC 5944 §3.6.1.2: SHOULD NOT exceed the advertised Registration Lifetime.
            lifetime = min(lifetime, agent.registration_lifetime)
        cap = self._lifetime_cap.get(agent.address)
        if cap is not None:
            lifetime = min(lifetime, cap)
        lifetime = max(lifetime, 1)
        flags = RegistrationFlags.NONE
        reverse = cfg.reverse_tunnel and agent.offers(MobilityAgentFlags.T)
        if reverse:
            flags |= RegistrationFlags.T  # RFC 3024 §4.1.1
        mode = cfg.encapsulation
        # RFC 5944 §3.6.1.2: M/G only if the FA advertised the matching bit.
        if (mode is TunnelMode.MINIMAL and agent.offers(MobilityAgentFlags.M)) or (
            mode is TunnelMode.GRE and agent.offers(MobilityAgentFlags.G)
        ):
            flags |= mode_flags(mode)
        if cfg.simultaneous_bindings:
            flags |= RegistrationFlags.S
        request: AnyRequest
        if regional:
            assert gfa is not None
            coa = agent.care_of_addresses[0]
            request = self._regional_request(flags, lifetime, gfa, coa, now)
            kind = REGIONAL
        else:
            coa = gfa if gfa is not None else agent.care_of_addresses[0]
            request = self._home_request(flags, lifetime, coa, now)
            kind = HOME
        request = self._finish(request, agent, reverse)
        pending = PendingRequest(
            kind=kind,
            agent=agent,
            request=request,
            destination=agent.address,  # §3.6.1.1: the advertisement's IP source
            link_destination=agent.link_address,  # §3.6.1.1: its link-layer source
            ttl=REVERSE_TUNNEL_TTL if reverse else DEFAULT_TTL,
            sent_at=now,
            interval=cfg.retransmit_initial,
            gfa=gfa,
        )
        return self._transmit(pending, now)

    def _home_request(
        self, flags: RegistrationFlags, lifetime: int, coa: IPv4Address, now: float
    ) -> RegistrationRequest:
        cfg = self.config
        request = RegistrationRequest(
            flags=flags,
            lifetime=lifetime,
            home_address=cfg.home_address,
            home_agent=cfg.home_agent,
            care_of_address=coa,
            identification=self._home_ids.next(now),
        )
        # RFC 5944 §3.6.1.3 (c): the authorization-enabling MN-HA extension.
        return seal_with(request, MobileHomeAuthentication, cfg.mn_ha)

    def _regional_request(
        self,
        flags: RegistrationFlags,
        lifetime: int,
        gfa: IPv4Address,
        coa: IPv4Address,
        now: float,
    ) -> RegionalRegistrationRequest:
        cfg = self.config
        sa = cfg.mn_gfa[gfa]
        ids = self._gfa_source(gfa)
        request = RegionalRegistrationRequest(
            flags=flags,
            lifetime=lifetime,
            home_address=cfg.home_address,
            home_agent=gfa,  # RFC 4857 §10.1: the GFA IP Address field
            care_of_address=coa,
            identification=ids.next(now),
        )
        # RFC 4857 §10: MN-GFA authentication MUST be present.
        return seal_generalized(request, GeneralizedAuthSubtype.MN_GFA, sa)

    def _gfa_source(self, gfa: IPv4Address) -> IdentificationSource:
        ids = self._gfa_ids.get(gfa)
        if ids is None:
            # RFC 4857 §6.1: a separate replay sequence per GFA.
            ids = IdentificationSource(
                style=self.config.mn_gfa[gfa].replay,
                clock_offset=self._home_ids.clock_offset,
                random=self._random,
                random_bits=self.config.timestamp_random_bits,
            )
            self._gfa_ids[gfa] = ids
        return ids

    def _finish(self, request: AnyRequest, agent: HeardAgent, reverse: bool) -> AnyRequest:
        """Append the FA-only extensions and MN-FA authentication (RFC 5944 §3.6.1.3 d, e)."""
        cfg = self.config
        if reverse and cfg.encapsulating_delivery:
            # RFC 3024 §3.3: after MN-HA, before MN-FA, only with T.
            request = dataclasses.replace(
                request, extensions=(*request.extensions, EncapsulatingDeliveryStyle())
            )
        sa = cfg.mn_fa.get(agent.address)
        if sa is not None:
            request = seal_with(request, MobileForeignAuthentication, sa)
        return request

    def _transmit(self, pending: PendingRequest, now: float) -> list[Action]:
        """Send ``pending`` now (if the link is up) and arm its retransmission (§3.6.3)."""
        self._pending = pending
        cfg = self.config
        out: list[Action] = [self._start_timer((RETRY_TIMER,), now + pending.interval)]
        if self._link_up:
            request = pending.request
            name = (
                "regional_registration_request"
                if isinstance(request, RegionalRegistrationRequest)
                else "registration_request"
            )
            out.append(
                SendPacket(
                    interface=cfg.interface,
                    source=cfg.home_address,  # §3.6.1.1: the home address (FA CoA)
                    destination=pending.destination,
                    protocol=PROTO_UDP,
                    payload=request.encode(),
                    message=name,
                    ttl=pending.ttl,
                    source_port=MOBILE_IP_PORT,
                    destination_port=MOBILE_IP_PORT,
                    link_destination=pending.link_destination,
                    link_source=cfg.mac,
                )
            )
        return out

    def _on_retry(self, key: TimerKey, now: float) -> list[Action]:
        pending = self._pending
        if pending is None:
            return []
        cfg = self.config
        bound = float(cfg.retransmit_max)
        if pending.request.lifetime:
            bound = min(bound, float(pending.request.lifetime))  # §3.6.3: <= lifetime
        interval = max(cfg.retransmit_initial, min(pending.interval * 2.0, bound))
        if not self._link_up:
            # Nothing can be sent; keep the schedule without consuming an attempt.
            return [self._start_timer((RETRY_TIMER,), now + pending.interval)]
        request = pending.request
        if self._style_of(pending) is ReplayProtection.TIMESTAMP:
            # §3.6.3: with timestamps each retransmission is a new registration.
            request = self._renumber(pending, now)
        retry = dataclasses.replace(pending, request=request, sent_at=now, interval=interval)
        return [
            Notify(event="registration-retransmitted", fields={"interval": pending.interval}),
            *self._transmit(retry, now),
        ]

    def _style_of(self, pending: PendingRequest) -> ReplayProtection:
        if pending.kind == REGIONAL and pending.gfa is not None:
            return self.config.mn_gfa[pending.gfa].replay
        return self.config.mn_ha.replay

    def _renumber(self, pending: PendingRequest, now: float) -> AnyRequest:
        """The same request with a fresh Identification, sealed again."""
        old = pending.request
        if pending.kind == REGIONAL and pending.gfa is not None:
            bare = RegionalRegistrationRequest(
                flags=old.flags,
                lifetime=old.lifetime,
                home_address=old.home_address,
                home_agent=old.home_agent,
                care_of_address=old.care_of_address,
                identification=self._gfa_source(pending.gfa).next(now),
            )
            request: AnyRequest = seal_generalized(
                bare, GeneralizedAuthSubtype.MN_GFA, self.config.mn_gfa[pending.gfa]
            )
        elif pending.kind == DEREGISTER:
            return self._deregistration(now)
        else:
            bare_home = RegistrationRequest(
                flags=old.flags,
                lifetime=old.lifetime,
                home_address=old.home_address,
                home_agent=old.home_agent,
                care_of_address=old.care_of_address,
                identification=self._home_ids.next(now),
            )
            request = seal_with(bare_home, MobileHomeAuthentication, self.config.mn_ha)
        if pending.agent is not None:
            request = self._finish(request, pending.agent, bool(old.flags & RegistrationFlags.T))
        return request

    def _on_reregister(self, key: TimerKey, now: float) -> list[Action]:
        agent = self._current
        if agent is None or self._pending is not None:
            return []
        # RFC 5944 §3.6: re-register when the lifetime nears expiration; RFC 4857 §5.1: a
        # home registration refreshes both the GFA and the HA.
        return self._register(agent, now, force_home=True)

    def _on_registration_expired(self, key: TimerKey, now: float) -> list[Action]:
        if self._registration is None:
            return []
        reg = self._registration
        self._registration = None
        out: list[Action] = [Notify(event="registration-expired", fields={"agent": str(reg.agent)})]
        if self._router is not None:
            out.append(self._clear_router())
        return out

    # ------------------------------------------------------------------ returning home

    def _returned_home(self, agent: HeardAgent, now: float) -> list[Action]:
        """RFC 5944 §2.4.3: an advertisement from its own HA -> deregister all bindings."""
        if self._at_home:
            return []
        self._at_home = True
        self._current = None
        out = self._stop_soliciting()
        out.append(Notify(event="returned-home", fields={}))
        if self._router is not None:
            out.append(self._clear_router())
        pending = PendingRequest(
            kind=DEREGISTER,
            agent=None,
            request=self._deregistration(now),
            destination=self.config.home_agent,
            link_destination=agent.link_address,
            ttl=DEFAULT_TTL,
            sent_at=now,
            interval=self.config.retransmit_initial,
        )
        return out + self._transmit(pending, now)

    def _deregistration(self, now: float) -> RegistrationRequest:
        cfg = self.config
        # RFC 5944 §3.6.1.2: lifetime 0 and CoA = home address deregisters every binding.
        return self._home_request(RegistrationFlags.NONE, 0, cfg.home_address, now)

    # ------------------------------------------------------------------ replies

    def _on_reply(self, reply: AnyReply, packet: ReceivedPacket, now: float) -> list[Action]:
        pending = self._pending
        if pending is None:
            return [self._drop(DropReason.NO_PENDING_REQUEST, "no registration pending", packet)]
        regional = isinstance(reply, RegionalRegistrationReply)
        if regional != (pending.kind == REGIONAL):
            return [self._drop(DropReason.UNEXPECTED_MESSAGE, type(reply).__name__, packet)]
        if low32(reply.identification) != low32(pending.identification):
            # RFC 5944 §3.6.2.1: MUST be silently discarded.
            return [
                self._drop(DropReason.IDENTIFICATION_MISMATCH, f"{reply.identification:#x}", packet)
            ]
        problem = self._authenticate(reply, pending)
        if problem is not None:
            # §3.6.2.1: invalid or missing authenticators -> silently discard (counted).
            reason = (
                DropReason.MISSING_AUTHENTICATION
                if problem.startswith("no ")
                else DropReason.BAD_AUTHENTICATOR
            )
            return [self._drop(reason, problem, packet)]
        code = reply.code
        if ReplyCode.is_success(code):
            return self._accepted(reply, pending, now)
        return self._denied(reply, pending, now)

    def _authenticate(self, reply: AnyReply, pending: PendingRequest) -> str | None:
        cfg = self.config
        agent = pending.agent
        if agent is not None:
            fa_sa = cfg.mn_fa.get(agent.address)
            if fa_sa is not None:
                # §3.6.2.1 (a): exactly one valid MN-FA extension.
                problem = check_single(reply, MobileForeignAuthentication, fa_sa)
                if problem is not None:
                    return problem
        if _from_foreign_agent(reply.code, pending.kind == REGIONAL):
            return None
        if pending.kind == REGIONAL and pending.gfa is not None:
            return check_single(reply, GeneralizedAuthentication, cfg.mn_gfa[pending.gfa])
        # §3.6.2.1 (b): every HA-originated code needs exactly one valid MN-HA extension.
        return check_single(reply, MobileHomeAuthentication, cfg.mn_ha)

    def _accepted(self, reply: AnyReply, pending: PendingRequest, now: float) -> list[Action]:
        self._pending = None
        out: list[Action] = self._cancel_timer((RETRY_TIMER,))
        if pending.kind == REGIONAL and pending.gfa is not None:
            self._gfa_source(pending.gfa).accepted(reply.identification)
        else:
            self._home_ids.accepted(reply.identification)
        requested = pending.request.lifetime
        if pending.kind == DEREGISTER or requested == 0 or reply.lifetime == 0:
            self._registration = None
            out += self._cancel_timer((REREGISTER_TIMER,))
            out += self._cancel_timer((EXPIRY_TIMER,))
            out.append(Notify(event="deregistered", fields={"code": reply.code}))
            return out
        # §3.6.2.2 (and §3.4): never more than requested; timed from when it was sent.
        lifetime = min(requested, reply.lifetime)
        infinite = lifetime == INFINITE_LIFETIME
        expires = None if infinite else pending.sent_at + lifetime
        agent = pending.agent
        assert agent is not None
        previous = self._registration
        if pending.kind == REGIONAL:
            home_expires = None if previous is None else previous.home_expires_at
            if home_expires is not None and expires is not None:
                expires = min(expires, home_expires)  # RFC 4857 §6.3
        else:
            home_expires = expires
        self._registration = CurrentRegistration(
            agent=agent.address,
            care_of_address=pending.request.care_of_address
            if pending.kind != REGIONAL
            else (
                previous.care_of_address if previous is not None else pending.gfa or agent.address
            ),
            lifetime=lifetime,
            expires_at=expires,
            home_expires_at=home_expires,
            gfa=pending.gfa,
            regional=pending.kind == REGIONAL,
        )
        if expires is not None:
            span = expires - pending.sent_at
            out.append(
                self._start_timer(
                    (REREGISTER_TIMER,),
                    pending.sent_at + span * self.config.reregister_fraction,
                )
            )
            out.append(self._start_timer((EXPIRY_TIMER,), expires))
        else:
            out += self._cancel_timer((REREGISTER_TIMER,))
            out += self._cancel_timer((EXPIRY_TIMER,))
        out += self._stop_soliciting()
        self._solicitations.reset()
        if self._current is not None and self._current.address == agent.address:
            # §3.6.2.2, §4.2.1: route through the FA (MAC from its advertisement).
            out.append(self._set_router(self._current))
        out.append(
            Notify(
                event="registration-accepted",
                fields={
                    "agent": str(agent.address),
                    "care_of_address": str(pending.request.care_of_address),
                    "lifetime": lifetime,
                    "code": reply.code,
                    "regional": pending.kind == REGIONAL,
                },
            )
        )
        return out

    def _denied(self, reply: AnyReply, pending: PendingRequest, now: float) -> list[Action]:
        code = reply.code
        fields: dict[str, object] = {"code": code, "code_name": ReplyCode.name_of(code)}
        out: list[Action] = [Notify(event="registration-denied", fields=fields)]
        agent = pending.agent
        if code == ReplyCode.HA_IDENTIFICATION_MISMATCH:
            # §3.6.2.3, §5.7: resynchronise from the (authenticated) reply, then retry.
            if pending.kind == REGIONAL and pending.gfa is not None:
                self._gfa_source(pending.gfa).resynchronise(reply.identification, now)
            else:
                self._home_ids.resynchronise(reply.identification, now)
            out.append(
                Notify(
                    event="identification-resynchronised",
                    fields={"clock_offset": self._home_ids.clock_offset},
                )
            )
            return out + self._retry_now(pending, now)
        if code == ReplyCode.FA_LIFETIME_TOO_LONG and agent is not None and reply.lifetime:
            # §3.6.2.3: the reply carries the FA's maximum; retry with at most that.
            self._lifetime_cap[agent.address] = reply.lifetime
            return out + self._retry_now(pending, now)
        if pending.kind == REGIONAL and agent is not None:
            # RFC 4857 §6.2: e.g. UNKNOWN_GFA or NO_HOME_REG -> a home registration.
            self._pending = None
            return out + self._register(agent, now, force_home=True)
        if code in _TRANSIENT:
            return out  # the retransmission timer keeps going (§3.6.3)
        self._pending = None
        return out + self._cancel_timer((RETRY_TIMER,))

    def _retry_now(self, pending: PendingRequest, now: float) -> list[Action]:
        if pending.kind == DEREGISTER:
            retry = dataclasses.replace(pending, request=self._deregistration(now), sent_at=now)
            return self._transmit(retry, now)
        self._pending = None
        if pending.agent is None:
            return []
        return self._register(pending.agent, now, force_home=pending.kind != REGIONAL)

    # ------------------------------------------------------------------ default router

    def _set_router(self, agent: HeardAgent) -> SetDefaultRouter:
        self._router = agent.address
        return SetDefaultRouter(
            router=agent.address, interface=self.config.interface, link_address=agent.link_address
        )

    def _clear_router(self) -> SetDefaultRouter:
        self._router = None
        return SetDefaultRouter(router=None, interface=self.config.interface)


def _from_foreign_agent(code: int, regional: bool) -> bool:
    """Codes an FA generates itself (RFC 5944 §3.4: 64-127, and 194; RFC 4857 §9.5, §10.3
    put the GFA's 110-111 in the FA range)."""
    if code == ReplyCode.FA_INVALID_HA_ADDRESS:
        return True
    if not 64 <= code <= 127:
        return False
    return not (regional and code in (110, 111))


__all__ = ["CurrentRegistration", "HeardAgent", "MobileNode", "PendingRequest"]
