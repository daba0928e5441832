"""Registration at the mobile node (RFC 5944 §3.6, §5.7; RFC 3024 §4.1; RFC 4857 §5.1, §6.1).

Building requests (flags, lifetime, extension order, MN-HA / MN-GFA / MN-FA
authentication), sending them to the FA with retransmission and backoff, re-registering
before the lifetime ends, returning home, and handling replies (authentication,
resynchronisation on 133, the accepted lifetime, the default router). See the theory of
operation in :mod:`mip4.core.mobile_node`.
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address

from mip4.core.actions import (
    Action,
    DropReason,
    Notify,
    SendPacket,
    TimerKey,
    TunnelMode,
)
from mip4.core.config import MobileNodeConfig
from mip4.core.mn_state import (
    _TRANSIENT,
    DEFAULT_TTL,
    DEREGISTER,
    EXPIRY_TIMER,
    HOME,
    REGIONAL,
    REREGISTER_TIMER,
    RETRY_TIMER,
    REVERSE_TUNNEL_TTL,
    CurrentRegistration,
    HeardAgent,
    MobileNodeState,
    PendingRequest,
)
from mip4.core.packets import ReceivedPacket
from mip4.core.registration import (
    AnyReply,
    AnyRequest,
    check_single,
    mode_flags,
    seal_generalized,
    seal_with,
)
from mip4.core.replay import IdentificationSource, low32
from mip4.core.security import RandomSource, ReplayProtection
from mip4.wire.extensions import (
    EncapsulatingDeliveryStyle,
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    MobileForeignAuthentication,
    MobileHomeAuthentication,
)
from mip4.wire.icmp import MobilityAgentFlags
from mip4.wire.ip import PROTO_UDP
from mip4.wire.messages import MOBILE_IP_PORT
from mip4.wire.registration import (
    INFINITE_LIFETIME,
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationFlags,
    RegistrationRequest,
    ReplyCode,
)

DENIAL_RETRY_TIMER = "registration-retry-after-denial"


class MobileNodeRegistration(MobileNodeState):
    """The MN's registration procedure."""

    def __init__(self, config: MobileNodeConfig, *, random: RandomSource) -> None:
        super().__init__(config, random=random)
        self._timer_handlers[DENIAL_RETRY_TIMER] = self._on_denial_retry

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

    def release_care_of_address(self, now: float) -> list[Action]:
        """Deregister only this MN's current care-of address, through its current FA
        (RFC 5944 §3.6.1.2, §3.8.2.2: lifetime 0 for that CoA; with S the other simultaneous
        bindings stay). RFC 4881 Appendix B: a multiple-interface MN drops the old
        interface's binding once the new one works (:mod:`mip4.core.mn_multi_interface`)."""
        reg = self._registration
        agent = self._current
        if reg is None or reg.regional or agent is None or agent.address != reg.agent:
            return []
        request = self._home_request(RegistrationFlags.S, 0, reg.care_of_address, now)
        pending = PendingRequest(
            kind=DEREGISTER,
            agent=agent,
            request=self._finish(request, agent, False),
            destination=agent.address,
            link_destination=agent.link_address,
            ttl=DEFAULT_TTL,
            sent_at=now,
            interval=self.config.retransmit_initial,
        )
        return self._transmit(pending, now)

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
        out += self._cancel_timer((DENIAL_RETRY_TIMER,))
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
        out += self._cancel_timer((RETRY_TIMER,))
        if pending.kind == HOME and agent is not None:
            # RFC 5944 §3.6.2.3 lists the denials an MN can repair at once (handled above);
            # for the others it only SHOULD log. Giving up for good would strand the MN
            # unregistered behind an FA it keeps hearing (the agent's policy or keys may be
            # fixed, the denial may have been a mistake), so it tries again, with a fresh
            # request, after ``retransmit_max`` (never beyond the requested lifetime,
            # §3.6.3; at least 1 s between requests, §3.6.3): one request per interval, the
            # backoff's ceiling, unless something else (a new FA, a reboot) registers first.
            delay = float(self.config.retransmit_max)
            if pending.request.lifetime:
                delay = min(delay, float(pending.request.lifetime))
            delay = max(delay, 1.0)
            out.append(self._start_timer((DENIAL_RETRY_TIMER,), now + delay))
        return out

    def _on_denial_retry(self, key: TimerKey, now: float) -> list[Action]:
        """The retry after a denial (see :meth:`_denied`), through the current agent, unless
        another registration is under way or the MN is at home or has no agent."""
        agent = self._current
        if agent is None or self._pending is not None or self._at_home:
            return []
        out: list[Action] = [
            Notify(event="registration-retry-after-denial", fields={"agent": str(agent.address)})
        ]
        return out + self._register(agent, now, force_home=True)

    def _retry_now(self, pending: PendingRequest, now: float) -> list[Action]:
        if pending.kind == DEREGISTER:
            retry = dataclasses.replace(pending, request=self._deregistration(now), sent_at=now)
            return self._transmit(retry, now)
        self._pending = None
        if pending.agent is None:
            return []
        return self._register(pending.agent, now, force_home=pending.kind != REGIONAL)


def _from_foreign_agent(code: int, regional: bool) -> bool:
    """Codes an FA generates itself (RFC 5944 §3.4: 64-127, and 194; RFC 4857 §9.5, §10.3
    put the GFA's 110-111 in the FA range)."""
    if code == ReplyCode.FA_INVALID_HA_ADDRESS:
        return True
    if not 64 <= code <= 127:
        return False
    return not (regional and code in (110, 111))


__all__ = ["MobileNodeRegistration"]
