"""The mobile node (RFC 5944 §2.4, §3.6, §4.2.1; RFC 3024 §4.1; RFC 4857 §5.1, §6.1).

Theory of operation
-------------------
Modules: :mod:`mip4.core.mn_state` (state and shared types), :mod:`mip4.core.mn_discovery`
(discovery, movement detection), :mod:`mip4.core.mn_registration` (registration); this
class wires them to the inputs and handles the L2 triggers.

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
retries at once (§3.6.2.3, §5.7); 69 retries with the FA's maximum; transient codes (and
68, which a forged reply can cause) keep the retransmissions going; other denials end the
attempt and a fresh request follows after ``retransmit_max``.

Regional registration (RFC 4857), when enabled and the MN shares an SA with the GFA that
an FA advertises (I bit, last CoA): entering the GFA's domain is a home registration with
the GFA as care-of address; later moves inside it are Regional Registration Requests to the
GFA (MN-GFA authentication, a separate Identification sequence, §6.1); re-registrations
are home registrations, which refresh both the GFA and the HA (§5.1).

L2 triggers: L2-LD marks the link down and withdraws the default router; L2-LU marks it up
and, with ``solicit_on_link_up`` (method ``standard-solicit``), solicits at once. L2-MT and
the PrRtAdv drive PRE-REGISTRATION when configured (:mod:`mip4.core.mn_pre_registration`).
"""

from __future__ import annotations

from mip4.core.actions import (
    Action,
    DropReason,
    Notify,
    StartBuffering,
)
from mip4.core.config import MobileNodeConfig
from mip4.core.mn_post_registration import MobileNodePostRegistration
from mip4.core.mn_pre_registration import MobileNodePreRegistration
from mip4.core.mn_state import (
    AGENT_TIMER,
    EXPIRY_TIMER,
    REREGISTER_TIMER,
    RETRY_TIMER,
    SOLICIT_TIMER,
    CurrentRegistration,
    HeardAgent,
    PendingRequest,
)
from mip4.core.security import RandomSource
from mip4.core.triggers import LinkDown, LinkUp, MobileTrigger
from mip4.wire.icmp import AgentAdvertisement, AgentSolicitation
from mip4.wire.registration import (
    RegionalRegistrationReply,
    RegistrationReply,
)


class MobileNode(MobileNodePostRegistration, MobileNodePreRegistration):
    """A mobile node with one radio interface."""

    def __init__(self, config: MobileNodeConfig, *, random: RandomSource) -> None:
        super().__init__(config, random=random)
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
        # RFC 4881 §3: PRE-REGISTRATION, when configured (mip4.core.mn_pre_registration).
        self._install_pre_registration()
        # RFC 4881 §4.4: deferred registration after POST-REGISTRATION handoffs, when
        # configured (mip4.core.mn_post_registration).
        self._install_post_registration()

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
            **({"pre_registration": self.pre_snapshot()} if self._pre is not None else {}),
        }

    def _on_start(self, now: float) -> list[Action]:
        # With no agent yet, look for one (RFC 5944 §2.4: MUST implement solicitation).
        return self._start_soliciting(now)

    # ------------------------------------------------------------------ L2 triggers

    def _on_link_down(self, trigger: LinkDown, now: float) -> list[Action]:
        if trigger.interface and trigger.interface != self.config.interface:
            return [self._drop(DropReason.BAD_TRIGGER, f"unknown interface {trigger.interface}")]
        self._link_up = False
        out: list[Action] = [Notify(event="link-down", fields={})]
        if self._router is not None:
            out.append(self._clear_router())
        if self.config.uplink_buffer:
            # Smooth handoff (beyond RFC 4881): hold the uplink until a router is set again.
            out.append(
                StartBuffering(
                    home_address=self.config.home_address, limit=self.config.uplink_buffer
                )
            )
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


__all__ = ["CurrentRegistration", "HeardAgent", "MobileNode", "PendingRequest"]
