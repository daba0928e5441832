"""PRE-REGISTRATION at the mobile node (RFC 4881 §3.3, §3.6, §3.7, §8.1, Appendix C).

Theory of operation
-------------------
Installed by :class:`~mip4.core.mobile_node.MobileNode` when its configuration has
``pre_registration`` (:class:`~mip4.core.config.MnPreRegistrationConfig`).

- L2-MT (§3.3, Figure 4): the MN sends a PrRtSol — an Agent Solicitation, TTL 1, unicast to
  its current FA, carrying one LLA 140 naming the nFA by address (sub-type 5) or access point
  (sub-type 6), never both (Appendix C). Unanswered, it is sent again after PRE_SOL_INTERVAL,
  then PRE_SOL_ATTEMPTS more times with exponential backoff; PRE_SOL_INTERVAL after the last
  one without a PrRtAdv the MN stops sending PrRtSols until it has registered with a new FA
  (§3.6). No PrRtSol when the nFA is the current FA (§3.8).
- A PrRtAdv (an Agent Advertisement with an LLA carrying a link-layer address, from an FA
  other than the current one, §3.3, §3.7) is eager movement detection (§3.6): the nFA becomes
  the current agent, with the MAC from the LLA — never the frame's source (§3.7) — and the MN
  sends the low-latency Registration Request: IP destination the nFA, link-layer destination
  the oFA (its default router), an LLA 138 with its own MAC after the authorization-enabling
  extension (§3.1 step 4, §3.7, Appendix C), the S bit by default (§3.1, Appendix C), in
  ``copies`` copies and never retransmitted (§3.4, §3.6).
- Moving between PRE-REGISTRATION and plain networks (§3.6): PrRtSols that go unanswered
  mark the network as plain: then, until a PrRtAdv arrives, an advertisement from another FA
  starts no registration while the current FA is still heard and the MN has not changed
  link (standard movement detection, RFC 5944 §2.4.2.1); after an L2-LU it registers at
  once. A proxied advertisement naming the current FA is ignored (§3.8).
- While a PRE-REGISTRATION handoff is under way, advertisements from other FAs are recorded
  but start no registration (§3.6: not PRE and standard registrations in parallel); a PrRtAdv
  while a standard registration is pending is ignored for the same reason.
- L2-LU: the MN solicits at once (§3.6: MUST). The reply arrives from the nFA's buffer and
  switches the default router to the nFA (§3.6). If it has not come ``fallback_after`` after
  L2-LU, or the nFA answers the solicitation without it (the nFA sends a buffered reply
  first and defers its answer while the registration is on its way, so an answer alone means
  the request or the reply was lost), the MN registers with the nFA in the standard way
  (§8.1); a lost PrRtSol or PrRtAdv
  needs nothing more, since the nFA's answer to the solicitation starts a standard
  registration (§8.1.1, §8.1.2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from ipaddress import IPv4Address

from mip4.core.actions import Action, DropReason, Notify, SendPacket, TimerKey
from mip4.core.config import MnPreRegistrationConfig
from mip4.core.discovery import SOLICITATION_TTL
from mip4.core.mn_discovery import MobileNodeDiscovery
from mip4.core.mn_state import AGENT_TIMER, RETRY_TIMER, HeardAgent, PendingRequest
from mip4.core.packets import ReceivedPacket
from mip4.core.pre_registration import link_address_of
from mip4.core.registration import AnyReply, AnyRequest
from mip4.core.triggers import FaIdentifier, LinkDown, LinkUp, MobileTrigger
from mip4.wire.extensions import LinkLayerAddress, MnFaChallenge
from mip4.wire.icmp import AgentAdvertisement, AgentSolicitation, RouterDiscoveryLinkLayerAddress
from mip4.wire.ip import PROTO_ICMP, PROTO_UDP
from mip4.wire.lla import AccessPointId, EthernetMac, LlaValue, SolicitedIpv4Address
from mip4.wire.messages import MOBILE_IP_PORT
from mip4.wire.registration import (
    RegionalRegistrationRequest,
    RegistrationFlags,
    RegistrationRequest,
    ReplyCode,
)

PRRTSOL_TIMER = "prrtsol"
# RFC 4721 §10: unknown, missing and stale challenge
_CHALLENGE_CODES = frozenset(
    {ReplyCode.FA_UNKNOWN_CHALLENGE, ReplyCode.FA_MISSING_CHALLENGE, ReplyCode.FA_STALE_CHALLENGE}
)
UNBIND_TIMER = "pre-unbind"


@dataclass(slots=True)
class PrRtSolState:
    """The PrRtSol being retried (§3.6)."""

    target: LlaValue
    sent: int
    next_interval: float


class MobileNodePreRegistration(MobileNodeDiscovery):
    """The MN's PRE-REGISTRATION procedures."""

    def _install_pre_registration(self) -> None:
        self._pre: MnPreRegistrationConfig | None = self.config.pre_registration
        self._ll_router_mac: bytes | None = None  # set while building a low-latency request
        self._ll_identification: int | None = None  # the low-latency request pending
        self._pre_target: IPv4Address | None = None  # the nFA of a handoff under way
        self._ll_connected = False  # L2-LU came while the low-latency request was pending
        self._prrtsol: PrRtSolState | None = None
        self._prrtsol_suppressed = False
        self._pre_network = True  # until PrRtSols go unanswered (§3.6)
        self._moved = False  # an L2-LU since the current registration
        self._challenges: dict[IPv4Address, bytes] = {}  # RFC 4721: the latest per FA
        # a PrRtAdv that came while a registration was pending (§3.6), used after its reply
        self._deferred_proxy: tuple[AgentAdvertisement, ReceivedPacket, bytes, float] | None = None
        if self._pre is None:
            return
        self._trigger_handlers[MobileTrigger] = self._on_mobile_trigger
        self._trigger_handlers[LinkUp] = self._pre_on_link_up
        self._trigger_handlers[LinkDown] = self._pre_on_link_down
        self._icmp_handlers[AgentAdvertisement] = self._pre_on_advertisement
        self._timer_handlers[PRRTSOL_TIMER] = self._on_prrtsol_timer
        self._timer_handlers[UNBIND_TIMER] = self._on_unbind_timer

    # ------------------------------------------------------------------ hooks (MobileNode)

    def _on_link_up(self, trigger: LinkUp, now: float) -> list[Action]:
        raise NotImplementedError

    def _on_link_down(self, trigger: LinkDown, now: float) -> list[Action]:
        raise NotImplementedError

    def pre_snapshot(self) -> dict[str, object]:
        return {
            "target": None if self._pre_target is None else str(self._pre_target),
            "low_latency_pending": self._ll_identification is not None,
            "prrtsol_suppressed": self._prrtsol_suppressed,
            "pre_network": self._pre_network,
        }

    # ------------------------------------------------------------------ L2-MT, PrRtSol

    def _on_mobile_trigger(self, trigger: MobileTrigger, now: float) -> list[Action]:
        """§3.3, Figure 4: L2-MT -> PrRtSol to the current FA."""
        pre = self._pre
        assert pre is not None
        if trigger.interface and trigger.interface != self.config.interface:
            return [self._drop(DropReason.BAD_TRIGGER, f"unknown interface {trigger.interface}")]
        reg = self._registration
        current = self._current
        if reg is None or current is None or current.address != reg.agent or not self._link_up:
            return [self._drop(DropReason.BAD_TRIGGER, "L2-MT while not registered with an FA")]
        new = trigger.new_fa
        if new.address is not None and new.address == reg.agent:
            # §3.8: the nFA is the current FA -> no PRE-REGISTRATION.
            return [Notify(event="pre-registration-not-applicable", fields={"cause": "L2-MT"})]
        if self._prrtsol_suppressed:
            # §3.6: stopped until registered with a new FA.
            return [Notify(event="prrtsol-suppressed", fields={})]
        target = _identifier(new, pre.identify_by)
        self._prrtsol = PrRtSolState(target=target, sent=0, next_interval=pre.pre_sol_interval)
        return self._send_prrtsol(now)

    def _send_prrtsol(self, now: float) -> list[Action]:
        pre = self._pre
        state = self._prrtsol
        current = self._current
        assert pre is not None and state is not None
        out: list[Action] = []
        if current is not None and self._link_up:
            prrtsol = SendPacket(
                interface=self.config.interface,
                source=self.config.home_address,
                destination=current.address,  # Appendix C: unicast to the oFA
                protocol=PROTO_ICMP,
                payload=AgentSolicitation(
                    extensions=(RouterDiscoveryLinkLayerAddress(value=state.target),)
                ).encode(),
                message="proxy_router_solicitation",
                ttl=SOLICITATION_TTL,  # §3.3: MUST have a TTL of 1
                link_destination=current.link_address,
                link_source=self.config.mac,
            )
            out += [prrtsol] * pre.prrtsol_copies  # §8.1.1: MAY send several copies
        state.sent += 1
        # §3.6: once after PRE_SOL_INTERVAL, then PRE_SOL_ATTEMPTS times with exponential
        # backoff; PRE_SOL_INTERVAL after the last one, give up.
        if state.sent == 1 or state.sent >= 2 + pre.pre_sol_attempts:
            delay = pre.pre_sol_interval
        else:
            delay = pre.pre_sol_interval * 2.0 ** (state.sent - 1)
        out.append(self._start_timer((PRRTSOL_TIMER,), now + delay))
        return out

    def _on_prrtsol_timer(self, key: TimerKey, now: float) -> list[Action]:
        pre = self._pre
        state = self._prrtsol
        if pre is None or state is None:
            return []
        if state.sent >= 2 + pre.pre_sol_attempts:
            self._prrtsol = None
            self._prrtsol_suppressed = True
            self._pre_network = False  # §3.6: no PrRtAdv -> a plain Mobile IPv4 network
            return [Notify(event="prrtsol-abandoned", fields={"sent": state.sent})]
        return [
            Notify(event="prrtsol-retransmitted", fields={"attempt": state.sent + 1}),
            *self._send_prrtsol(now),
        ]

    def _stop_prrtsol(self) -> list[Action]:
        self._prrtsol = None
        return self._cancel_timer((PRRTSOL_TIMER,))

    # ------------------------------------------------------------------ PrRtAdv

    def _pre_on_advertisement(
        self, message: AgentAdvertisement, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        reg = self._registration
        mac = link_address_of(message.lla)
        maae = message.mobility_extension
        if message.challenge is not None and maae is not None:
            self._challenges[packet.source] = message.challenge  # RFC 4721 §2
        if (
            self._ll_identification is not None
            and self._ll_connected
            and packet.source == self._pre_target
            and packet.destination == self.config.home_address
        ):
            # §8.1: the nFA answered the solicitation of L2-LU without the buffered reply
            # (it sends the reply first, and defers its answer while the registration is on
            # its way): the low-latency request or its reply was lost.
            out = self._record_only(message, packet, packet.link_source, now)
            return out + self._fallback("the nFA answered without a reply", now)
        # A proxied advertisement: an LLA with the advertiser's MAC that is not the frame's
        # source (Appendix C: the PrRtAdv's L2 source is the oFA).
        proxied = (
            mac is not None
            and maae is not None
            and packet.link_source != mac
            and packet.source != self.config.home_agent
        )
        if proxied:
            assert mac is not None
            if reg is not None and packet.source == reg.agent:
                # §3.8: the advertised nFA is the current FA.
                return [
                    Notify(event="pre-registration-not-applicable", fields={"cause": "PrRtAdv"})
                ]
            self._pre_network = True  # §3.6: PrRtAdvs -> follow PRE-REGISTRATION
            return self._on_proxy_advertisement(message, packet, mac, now)
        if maae is not None and packet.source != self.config.home_agent:
            if self._pre_target is not None and packet.source != self._pre_target:
                # §3.6: a PRE-REGISTRATION handoff is under way; no standard one in parallel.
                return self._record_only(message, packet, packet.link_source, now)
            current = self._current
            if (
                not self._pre_network
                and not self._moved
                and current is not None
                and packet.source != current.address
                and current.expires_at > now
            ):
                # §3.6: in a plain Mobile IPv4 network, standard movement detection (RFC 5944
                # §2.4.2.1): no new registration while the current FA is still heard on a
                # link the MN has not left.
                return self._record_only(message, packet, packet.link_source, now)
        return self._on_advertisement(message, packet, now)

    def _heard(
        self, message: AgentAdvertisement, packet: ReceivedPacket, mac: bytes | None, now: float
    ) -> HeardAgent:
        maae = message.mobility_extension
        assert maae is not None
        return HeardAgent(
            address=packet.source,
            link_address=mac,
            interface=packet.interface,
            sequence=maae.sequence_number,
            registration_lifetime=maae.registration_lifetime,
            flags=maae.flags.value,
            care_of_addresses=maae.care_of_addresses,
            heard_at=now,
            expires_at=now + message.lifetime,
        )

    def _record_only(
        self, message: AgentAdvertisement, packet: ReceivedPacket, mac: bytes | None, now: float
    ) -> list[Action]:
        agent = self._heard(message, packet, mac, now)
        self._agents[agent.address] = agent
        if message.lifetime == 0:
            return self._lose_agent(agent.address, now)
        return [self._start_timer((AGENT_TIMER, agent.address), agent.expires_at)]

    def _on_proxy_advertisement(
        self, message: AgentAdvertisement, packet: ReceivedPacket, mac: bytes, now: float
    ) -> list[Action]:
        """§3.3, §3.6, §3.7: eager movement detection -> the low-latency request."""
        new = packet.source
        if self._pending is not None:
            if self._ll_identification is not None and self._pre_target == new:
                return []  # another copy of the PrRtAdv (§8.1.1)
            # §3.6: SHOULD NOT run PRE and standard registrations in parallel; nor two
            # handoffs at once. The PrRtAdv waits for the pending registration's reply.
            self._deferred_proxy = (message, packet, mac, now)
            return [
                *self._record_only(message, packet, mac, now),
                Notify(event="pre-registration-deferred", fields={"agent": str(new)}),
            ]
        router = self._current
        if (
            not self._link_up
            or router is None
            or self._router is None
            or router.address != self._router
            or router.link_address is None
        ):
            # Not attached through a current FA: nothing can be routed via an oFA.
            return self._record_only(message, packet, mac, now)
        out = self._stop_prrtsol()
        if message.lifetime == 0:
            return out
        agent = self._heard(message, packet, mac, now)  # §3.7: the MAC from the LLA
        self._agents[new] = agent
        out.append(self._start_timer((AGENT_TIMER, new), agent.expires_at))
        out.append(
            Notify(
                event="proxy-advertisement", fields={"agent": str(new), "via": str(router.address)}
            )
        )
        self._pre_target = new
        self._ll_router_mac = router.link_address
        try:
            out += self._switch_to(agent, now)
        finally:
            self._ll_router_mac = None
        return out

    # ------------------------------------------------------------------ the low-latency RRQ

    def _home_request(
        self, flags: RegistrationFlags, lifetime: int, coa: IPv4Address, now: float
    ) -> RegistrationRequest:
        pre = self._pre
        if self._ll_router_mac is not None and pre is not None and pre.simultaneous_bindings:
            flags |= RegistrationFlags.S  # §3.1, Appendix C: MAY set S -> the HA bicasts
        return super()._home_request(flags, lifetime, coa, now)

    def _regional_request(
        self,
        flags: RegistrationFlags,
        lifetime: int,
        gfa: IPv4Address,
        coa: IPv4Address,
        now: float,
    ) -> RegionalRegistrationRequest:
        pre = self._pre
        if self._ll_router_mac is not None and pre is not None and pre.simultaneous_bindings:
            flags |= RegistrationFlags.S
        return super()._regional_request(flags, lifetime, gfa, coa, now)

    def _finish(self, request: AnyRequest, agent: HeardAgent, reverse: bool) -> AnyRequest:
        if self._ll_router_mac is not None:
            # §3.1 step 4, §3.7: the MN's L2 address in an LLA 138, for the nFA (after the
            # authorization-enabling extension: the nFA consumes it, RFC 5944 §3.7.2.2).
            lla = LinkLayerAddress(value=EthernetMac(self.config.mac))
            request = dataclasses.replace(request, extensions=(*request.extensions, lla))
        challenge = self._challenges.get(agent.address)
        if challenge is not None and agent.address in self.config.mn_fa:
            # RFC 4721 §3.1: the FA's latest challenge (from its advertisement, proxied or
            # not, or its last reply), before the MN-FA authentication that covers it.
            request = dataclasses.replace(
                request, extensions=(*request.extensions, MnFaChallenge(challenge=challenge))
            )
        return super()._finish(request, agent, reverse)

    def _remember_offered(self, reply: AnyReply, pending: PendingRequest) -> None:
        """RFC 4721 §3.3: a challenge in the (authenticated) reply is for the next request."""
        if pending.agent is None:
            return
        for ext in reply.extensions:
            if isinstance(ext, MnFaChallenge):
                self._challenges[pending.agent.address] = ext.challenge

    def _transmit(self, pending: PendingRequest, now: float) -> list[Action]:
        router_mac = self._ll_router_mac
        pre = self._pre
        if router_mac is None or pre is None:
            return super()._transmit(pending, now)
        # Appendix C: IP destination the nFA, link-layer destination the default router.
        pending = dataclasses.replace(pending, link_destination=router_mac)
        self._pending = pending
        self._ll_identification = pending.identification
        request = pending.request
        name = (
            "regional_registration_request"
            if isinstance(request, RegionalRegistrationRequest)
            else "registration_request"
        )
        send = SendPacket(
            interface=self.config.interface,
            source=self.config.home_address,
            destination=pending.destination,
            protocol=PROTO_UDP,
            payload=request.encode(),
            message=name,
            ttl=pending.ttl,
            source_port=MOBILE_IP_PORT,
            destination_port=MOBILE_IP_PORT,
            link_destination=router_mac,
            link_source=self.config.mac,
        )
        # §3.4: MAY send several copies; §3.6: SHOULD NOT retransmit (no retry timer).
        out: list[Action] = self._cancel_timer((RETRY_TIMER,))
        out += [send] * pre.copies
        out.append(
            Notify(
                event="low-latency-request",
                fields={"agent": str(pending.destination), "copies": pre.copies},
            )
        )
        return out

    def _on_retry(self, key: TimerKey, now: float) -> list[Action]:
        pending = self._pending
        pre = self._pre
        if pre is None or pending is None or self._ll_identification is None:
            return super()._on_retry(key, now)
        if not self._link_up:
            return [self._start_timer((RETRY_TIMER,), now + pre.fallback_after)]
        return self._fallback("no reply after L2-LU", now)

    def _fallback(self, why: str, now: float) -> list[Action]:
        """§8.1: no confirmation of the PRE-REGISTRATION handoff once connected to the nFA
        -> a standard registration with it."""
        pending = self._pending
        self._ll_identification = None
        self._ll_connected = False
        self._pending = None
        self._pre_target = None
        out: list[Action] = [
            *self._cancel_timer((RETRY_TIMER,)),
            Notify(event="pre-registration-fallback", fields={"reason": why}),
        ]
        if pending is None or pending.agent is None:
            return out
        agent = self._agents.get(pending.agent.address, pending.agent)
        return out + self._register(agent, now)

    def _accepted(self, reply: AnyReply, pending: PendingRequest, now: float) -> list[Action]:
        previous = self._registration
        low_latency = self._ll_identification is not None
        self._remember_offered(reply, pending)
        out = super()._accepted(reply, pending, now)
        deferred, self._deferred_proxy = self._deferred_proxy, None
        self._moved = False
        self._ll_identification = None
        self._ll_connected = False
        self._pre_target = None
        pre = self._pre
        if (
            low_latency
            and pre is not None
            and pre.drop_old_binding
            and pending.request.flags & RegistrationFlags.S
            and not self.config.simultaneous_bindings
        ):
            # The S bit kept the oFA's binding for the L2 handoff (§3.1, §6); once the MN is
            # with the nFA, a plain registration replaces the simultaneous bindings (RFC
            # 5944 §3.6.1.2), no sooner than 1 s after the last request (§3.6.3).
            at = max(now, pending.sent_at + self.config.retransmit_initial)
            out.append(self._start_timer((UNBIND_TIMER,), at))
        elif not pending.request.flags & RegistrationFlags.S:
            out += self._cancel_timer((UNBIND_TIMER,))  # a plain registration did it already
        if deferred is not None:
            message, packet, mac, heard_at = deferred
            registered_with = None if pending.agent is None else pending.agent.address
            if packet.source != registered_with and now < heard_at + message.lifetime:
                out += self._on_proxy_advertisement(message, packet, mac, now)
        new = None if pending.agent is None else pending.agent.address
        if previous is None or previous.agent != new:
            self._prrtsol_suppressed = False  # §3.6: registered with a new FA
        return out

    def _on_unbind_timer(self, key: TimerKey, now: float) -> list[Action]:
        current = self._current
        reg = self._registration
        if (
            current is None
            or reg is None
            or reg.agent != current.address
            or self._pending is not None
            or not self._link_up
        ):
            return []
        return [
            Notify(event="simultaneous-bindings-cleared", fields={"agent": str(current.address)}),
            *self._register(current, now),
        ]

    def _denied(self, reply: AnyReply, pending: PendingRequest, now: float) -> list[Action]:
        used = self._challenges.get(pending.agent.address) if pending.agent else None
        self._remember_offered(reply, pending)
        fresh = self._challenges.get(pending.agent.address) if pending.agent else None
        if (
            reply.code in _CHALLENGE_CODES
            and pending.agent is not None
            and fresh is not None
            and fresh != used
        ):
            # RFC 4721 §3.3: the denial offers a new challenge; register again with it.
            self._ll_identification = None
            self._ll_connected = False
            self._pre_target = None
            self._pending = None
            return [
                Notify(event="registration-denied", fields={"code": reply.code}),
                *self._cancel_timer((RETRY_TIMER,)),
                *self._register(self._agents.get(pending.agent.address, pending.agent), now),
            ]
        if self._ll_identification is not None:
            self._ll_identification = None
            self._ll_connected = False
            self._pre_target = None
        return super()._denied(reply, pending, now)

    # ------------------------------------------------------------------ L2-LU, L2-LD

    def _pre_on_link_up(self, trigger: LinkUp, now: float) -> list[Action]:
        pre = self._pre
        assert pre is not None
        out = self._on_link_up(trigger, now)
        self._moved = True
        if not self.config.solicit_on_link_up and self._last_solicitation != now:
            # §3.6: on L2-LU the MN MUST immediately send an Agent Solicitation.
            out.append(self._solicitation_packet(now))
        if self._ll_identification is not None and self._pending is not None:
            self._ll_connected = True
            # §8.1: if the reply does not come, fall back to a standard registration.
            out.append(self._start_timer((RETRY_TIMER,), now + pre.fallback_after))
        return out

    def _pre_on_link_down(self, trigger: LinkDown, now: float) -> list[Action]:
        out = self._on_link_down(trigger, now)
        return out + self._stop_prrtsol()


def _identifier(fa: FaIdentifier, identify_by: str) -> LlaValue:
    """The PrRtSol's one LLA: sub-type 5 or 6, never both (§3.3)."""
    if fa.address is not None and (identify_by == "address" or fa.access_point_id is None):
        return SolicitedIpv4Address(fa.address)
    assert fa.access_point_id is not None
    return AccessPointId(fa.access_point_id)


__all__ = ["PRRTSOL_TIMER", "MobileNodePreRegistration", "PrRtSolState"]
