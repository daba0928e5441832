"""The foreign agent (RFC 5944 §2.3, §3.7, §4.2.2; RFC 3024 §4.2; RFC 4857 §5.2, §6.2).

Theory of operation
-------------------
Modules: :mod:`mip4.core.fa_registration` (visitor list, requests, replies),
:mod:`mip4.core.discovery` (advertisements); this class wires them to the inputs.

The FA advertises itself on its access interface (:class:`~mip4.core.discovery.Advertiser`:
F bit, T when it offers reverse tunnels, M/G for the encapsulations it supports, I and the
GFA's care-of address under RFC 4857) and answers Agent Solicitations.

It keeps one :class:`VisitorRecord` per mobile node (keyed by home address) holding the
accepted visitor entry, the pending request, the time of the last denial sent to it and,
from the RFC 4881 issues on, the MN's handoff state. The record is the unit the low-latency
procedures extend.

A Registration Request is checked in this order, each failure answered with its code
(at most one denial per second per MN, RFC 5944 §3.7.2, RFC 3024 §4.2.1): reserved bits 70,
lifetime 69 (with the FA's maximum), care-of address 77 (all-ones 70, RFC 4857 §5.2), Home
Agent field being one of the FA's own addresses 194 (a regional request naming another GFA
112), encapsulation 72, delivery style 79, T bit required 75, TTL 255 with T 76, reverse
tunnel unavailable 74, MN-FA authentication 67 (RFC 5944 §3.7.2.1), pending capacity 66.
A valid request becomes the record's pending entry (MN MAC from the frame, IP source and
destination, UDP source port, HA, Identification, lifetime) and is relayed with everything
after the authorization-enabling extension processed and removed and FA-HA authentication
appended when the FA shares an SA with the HA (§3.7.2.2). Under RFC 4857 a request whose
care-of address is the GFA, and every regional request, goes to the GFA instead, with the
HFA extension (home registrations) and FA-FA authentication.

A reply is matched to the pending entry by home address and the low 32 bits of the
Identification (§3.7.3.1), authenticated (FA-HA, or FA-FA from the GFA; failure -> 68 to
the MN and nothing changes), and relayed with MN-FA authentication when shared (§3.7.3.2).
Success installs the visitor entry (:class:`SetVisitor`, :class:`SetUplink` with the
reverse tunnel of RFC 3024 when granted) with the lifetime starting now; a successful
deregistration removes it; a denial leaves it untouched. A pending entry unanswered after
``pending_timeout`` is deleted with code 78 to the MN (§3.7.1), one answered by an ICMP
Destination Unreachable with a code in 80-88 (§3.7.3); a visitor entry expires
with :class:`RemoveVisitor` (which also ends its uplink forwarding). The FA never originates
requests, nor replies other than denials (§3.7).
"""

from __future__ import annotations

from mip4.core.actions import (
    Action,
    DropReason,
    TimerKey,
    TunnelMode,
)
from mip4.core.combined import ForeignAgentCombined
from mip4.core.config import ForeignAgentConfig
from mip4.core.discovery import ADVERTISE_TIMER, Advertiser
from mip4.core.fa_registration import (
    PENDING_TIMER,
    VISITOR_TIMER,
    VisitorRecord,
)
from mip4.core.packets import ReceivedPacket
from mip4.core.pre_registration import ForeignAgentPreRegistration
from mip4.core.security import RandomSource
from mip4.core.triggers import LinkDown, LinkUp, SourceTrigger, TargetTrigger
from mip4.wire.icmp import (
    AgentAdvertisement,
    AgentSolicitation,
    DestinationUnreachable,
    MobilityAgentFlags,
)
from mip4.wire.registration import (
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationReply,
    RegistrationRequest,
)


class ForeignAgent(ForeignAgentCombined, ForeignAgentPreRegistration):
    """A foreign agent: advertisements, the visitor list, relaying registrations."""

    def __init__(self, config: ForeignAgentConfig, *, random: RandomSource) -> None:
        super().__init__(config, random=random)
        flags = MobilityAgentFlags.F
        if config.reverse_tunnel_offered:
            flags |= MobilityAgentFlags.T  # RFC 3024 §3.1
        if TunnelMode.MINIMAL in config.encapsulations:
            flags |= MobilityAgentFlags.M  # RFC 5944 §2.1.1
        if TunnelMode.GRE in config.encapsulations:
            flags |= MobilityAgentFlags.G
        if config.gfa is not None:
            flags |= MobilityAgentFlags.I  # RFC 4857 §4.3: with the FA's, then the GFA's CoA
        self.advertiser = Advertiser(
            config=config.advertisement,
            source=config.address,
            interface=config.access_interface,
            link_source=config.mac,
            flags=flags,
            care_of_addresses=self.care_of_addresses,
            registration_lifetime=config.registration_lifetime,
            random=random,
            start_timer=self._start_timer,
        )
        self._control_handlers[RegistrationRequest] = self._on_request
        self._control_handlers[RegionalRegistrationRequest] = self._on_request
        self._control_handlers[RegistrationReply] = self._on_reply
        self._control_handlers[RegionalRegistrationReply] = self._on_reply
        self._icmp_handlers[AgentSolicitation] = self._on_solicitation
        self._icmp_handlers[AgentAdvertisement] = self._on_advertisement
        self._icmp_handlers[DestinationUnreachable] = self._on_unreachable
        self._timer_handlers[ADVERTISE_TIMER] = self._on_advertise_timer
        self._timer_handlers[PENDING_TIMER] = self._on_pending_timeout
        self._timer_handlers[VISITOR_TIMER] = self._on_visitor_expired
        # RFC 4881 Table 1: an FA receives L2-ST, L2-TT, L2-LU and L2-LD. The base method
        # has nothing to do on them; the low-latency methods replace these handlers.
        for trigger in (SourceTrigger, TargetTrigger, LinkUp, LinkDown):
            self._trigger_handlers[trigger] = self._ignore_trigger
        # RFC 4881 §3: PRE-REGISTRATION, when configured (mip4.core.pre_registration).
        self._install_pre_registration()
        # RFC 4881 §4, §5: POST-REGISTRATION and the combined method, when configured
        # (mip4.core.post_registration, mip4.core.combined); L2 triggers dispatch to PRE
        # and/or POST by the configured method.
        self._install_post_registration()
        self._install_combined()

    # ------------------------------------------------------------------ views

    def _snapshot(self, now: float) -> dict[str, object]:
        visitors: dict[str, object] = {}
        pending: dict[str, object] = {}
        for home, rec in sorted(self._records.items()):
            if rec.visitor is not None:
                visitors[str(home)] = rec.visitor.to_dict(now)
            if rec.pending is not None:
                p = rec.pending
                pending[str(home)] = {
                    "home_agent": str(p.home_agent),
                    "care_of_address": str(p.care_of_address),
                    "identification": p.identification,
                    "requested_lifetime": p.requested_lifetime,
                    "upstream": str(p.upstream),
                    "regional": p.regional,
                    "age": round(now - p.relayed_at, 6),
                }
        return {
            "address": str(self.config.address),
            "care_of_addresses": [str(a) for a in self.care_of_addresses],
            "advertisement_sequence": self.advertiser.sequence,
            "visitors": visitors,
            "pending": pending,
            **({"pre_registration": self.pre_snapshot(now)} if self._pre is not None else {}),
            **({"post_registration": self.post_snapshot(now)} if self._post is not None else {}),
        }

    def _on_start(self, now: float) -> list[Action]:
        return self.advertiser.start(now) + self._pre_start(now)

    # ------------------------------------------------------------------ discovery

    def _on_advertise_timer(self, key: TimerKey, now: float) -> list[Action]:
        return self.advertiser.on_timer(now)

    def _on_solicitation(
        self, message: AgentSolicitation, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        if packet.interface != self.config.access_interface:
            return [self._drop(DropReason.NOT_FOR_US, "solicitation off the access link", packet)]
        out = self.advertiser.answer(packet, now)
        if out is None:
            return [self._drop(DropReason.RATE_LIMITED, "multicast advertisement", packet)]
        return out

    def _on_advertisement(
        self, message: AgentAdvertisement, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        return [self._drop(DropReason.UNEXPECTED_MESSAGE, "advertisement at an FA", packet)]

    def _ignore_trigger(self, trigger: object, now: float) -> list[Action]:
        return []


__all__ = ["PENDING_TIMER", "VISITOR_TIMER", "ForeignAgent", "VisitorRecord"]
