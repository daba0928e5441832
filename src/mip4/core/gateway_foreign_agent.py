"""The gateway foreign agent of RFC 4857 (regional registration), kept to what RFC 4881
needs: home registrations relayed through it and regional registrations answered by it.

Theory of operation
-------------------
The GFA is an FA with a publicly routable address that the HA registers as the MN's
care-of address (RFC 4857 §4.2). It trusts only the FAs beneath it: every message from an
FA must carry a valid FA-FA authentication (Generalized Authentication sub-type 2, §11)
under the SA configured for that FA's address, or it is dropped and counted.

*Home registration* (§5.3). A Registration Request whose care-of address is the GFA arrives
from an FA with the HFA extension (the FA's address, §9.2). The GFA records a pending entry
(the FA to answer), strips what follows the MN-HA authentication (HFA, FA-FA), appends
FA-HA authentication when it shares an SA with the HA (§4.1.2: the GFA takes the FA's role)
and relays it to the HA. The HA's reply is matched (home address, low 32 bits of the
Identification), authenticated, and relayed to the FA with FA-FA authentication. When
accepted, the GFA's visitor entry holds the home lifetime and the current FA, and the data
plane tunnels the MN's packets from the GFA to that FA (:class:`SetMobilityBinding` with
``tunnel_source`` = the GFA) and, with T, re-tunnels its uplink to the HA (:class:`SetUplink`).

*Regional registration* (§6.3). A Regional Registration Request (type 18) carries the
MN-GFA authentication (sub-type 3) and an Identification checked against the GFA's own
replay state (timestamps or nonces, §5.3, §6.1; failure: 133 with the GFA's time). With no
current home registration it is refused with NO_HOME_REG (193). Otherwise the regional
lifetime is min(requested, ``max_regional_lifetime``, remaining home lifetime) and the
tunnel moves to the new FA (the request's care-of address). The reply (type 19) is sealed
with MN-GFA, then FA-FA.

Expiry: the regional binding ends the tunnel to the FA; the home lifetime ends the entry.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from ipaddress import IPv4Address

from mip4.core.actions import (
    Action,
    DropReason,
    Notify,
    RemoveVisitor,
    SendPacket,
    SetMobilityBinding,
    SetUplink,
    TimerKey,
    TunnelMode,
    UplinkMode,
)
from mip4.core.agent import Agent
from mip4.core.config import GatewayForeignAgentConfig
from mip4.core.packets import ReceivedPacket
from mip4.core.registration import (
    AnyReply,
    AnyRequest,
    PendingRegistration,
    check_single,
    expiry,
    granted,
    keep_through_authorization,
    remaining,
    reply_to,
    requested_mode,
    seal_generalized,
    seal_with,
    wants_reverse_tunnel,
)
from mip4.core.replay import ReplayGuard, low32
from mip4.core.security import RandomSource, SecurityAssociation
from mip4.core.triggers import LinkDown, LinkUp
from mip4.wire.extensions import (
    ForeignHomeAuthentication,
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    HierarchicalForeignAgent,
)
from mip4.wire.ip import PROTO_UDP
from mip4.wire.messages import MOBILE_IP_PORT
from mip4.wire.registration import (
    INFINITE_LIFETIME,
    RegionalRegistrationRequest,
    RegistrationFlags,
    RegistrationReply,
    RegistrationRequest,
    ReplyCode,
)

PENDING_TIMER = "gfa-pending"
HOME_TIMER = "gfa-home"
REGIONAL_TIMER = "gfa-regional"


@dataclass(frozen=True, slots=True, kw_only=True)
class GfaVisitor:
    """The GFA's visitor entry (RFC 4857 §5.3): the home registration and the current FA."""

    home_address: IPv4Address
    home_agent: IPv4Address
    home_lifetime: int
    home_expires_at: float | None
    current_fa: IPv4Address | None
    regional_expires_at: float | None
    reverse_tunnel: bool
    mode: TunnelMode
    identification: int = 0  # of the accepted home registration

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "home_agent": str(self.home_agent),
            "home_lifetime_remaining": remaining(self.home_expires_at, now),
            "current_fa": None if self.current_fa is None else str(self.current_fa),
            "regional_lifetime_remaining": remaining(self.regional_expires_at, now),
            "reverse_tunnel": self.reverse_tunnel,
            "mode": self.mode.name.lower(),
        }


class GatewayForeignAgent(Agent):
    """A gateway foreign agent (RFC 4857)."""

    role = "gateway-foreign-agent"

    def __init__(self, config: GatewayForeignAgentConfig, *, random: RandomSource) -> None:
        super().__init__(config.name, random)
        self.config = config
        self._visitors: dict[IPv4Address, GfaVisitor] = {}
        self._pending: dict[IPv4Address, PendingRegistration] = {}
        self._replay = ReplayGuard(skew=config.replay_skew)
        self._control_handlers[RegistrationRequest] = self._on_home_request
        self._control_handlers[RegionalRegistrationRequest] = self._on_regional_request
        self._control_handlers[RegistrationReply] = self._on_home_reply
        self._timer_handlers[PENDING_TIMER] = self._on_pending_timeout
        self._timer_handlers[HOME_TIMER] = self._on_home_expired
        self._timer_handlers[REGIONAL_TIMER] = self._on_regional_expired
        self._trigger_handlers[LinkUp] = self._ignore_trigger
        self._trigger_handlers[LinkDown] = self._ignore_trigger

    def visitor(self, home_address: IPv4Address) -> GfaVisitor | None:
        return self._visitors.get(home_address)

    def _snapshot(self, now: float) -> dict[str, object]:
        return {
            "address": str(self.config.address),
            "visitors": {str(h): v.to_dict(now) for h, v in sorted(self._visitors.items())},
            "pending": {
                str(h): {"fa": str(p.downstream), "identification": p.identification}
                for h, p in sorted(self._pending.items())
            },
        }

    def _ignore_trigger(self, trigger: object, now: float) -> list[Action]:
        return []

    # ------------------------------------------------------------------ FA authentication

    def _from_fa(self, message: AnyRequest, packet: ReceivedPacket) -> SecurityAssociation | str:
        """The FA-FA SA of the sending FA once its authenticator verifies, else why not."""
        sa = self.config.fa_gfa.get(packet.source)
        if sa is None:
            return "no FA-FA security association with the sender"
        problem = check_single(message, GeneralizedAuthentication, sa, fa_fa=True)
        return sa if problem is None else problem

    # ------------------------------------------------------------------ home registration

    def _on_home_request(
        self, request: RegistrationRequest, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        fa_sa = self._from_fa(request, packet)
        if isinstance(fa_sa, str):
            reason = (
                DropReason.NO_SECURITY_ASSOCIATION
                if fa_sa.startswith("no FA-FA")
                else DropReason.BAD_AUTHENTICATOR
            )
            return [self._drop(reason, fa_sa, packet)]
        cfg = self.config
        current = self._visitors.get(request.home_address)
        if current is not None and current.identification == request.identification:
            # RFC 5944 §5.7: the accepted registration itself, replayed (see ForeignAgent).
            return [self._drop(DropReason.REPLAYED, "the accepted registration again", packet)]
        hfa = next((e for e in request.extensions if isinstance(e, HierarchicalForeignAgent)), None)
        fa = packet.source if hfa is None else hfa.address
        mode = requested_mode(request.flags)
        code: int | None = None
        if request.lifetime != 0 and request.care_of_address != cfg.address:
            code = ReplyCode.FA_INVALID_CARE_OF_ADDRESS  # not a registration through us
        elif mode is None or mode not in cfg.encapsulations:
            code = ReplyCode.FA_ENCAPSULATION_UNAVAILABLE
        elif wants_reverse_tunnel(request.flags) and not cfg.reverse_tunnel_offered:
            code = ReplyCode.FA_REVERSE_TUNNEL_UNAVAILABLE
        elif request.lifetime > cfg.max_lifetime:
            return self._answer_fa(
                reply_to(request, ReplyCode.FA_LIFETIME_TOO_LONG, lifetime=cfg.max_lifetime),
                fa_sa,
                packet.source,
                packet.source_port,
            )
        if code is not None:
            return self._answer_fa(
                reply_to(request, code), fa_sa, packet.source, packet.source_port
            )
        # RFC 4857 §5.3: remove the HFA (after the MN-HA extension) before relaying; the
        # FA-FA authentication after it goes too (RFC 5944 §3.7.2.2).
        relayed = dataclasses.replace(request, extensions=keep_through_authorization(request))
        ha_sa = cfg.fa_ha.get(request.home_agent)
        if ha_sa is not None and request.lifetime != 0:
            relayed = seal_with(relayed, ForeignHomeAuthentication, ha_sa)
        self._pending[request.home_address] = PendingRegistration(
            home_address=request.home_address,
            link_address=None,
            ip_source=packet.source,
            ip_destination=packet.destination,
            source_port=packet.source_port,
            home_agent=request.home_agent,
            care_of_address=request.care_of_address,
            identification=request.identification,
            requested_lifetime=request.lifetime,
            relayed_at=now,
            regional=False,
            reverse_tunnel=wants_reverse_tunnel(request.flags),
            mode=mode or TunnelMode.IP_IN_IP,
            upstream=request.home_agent,
            downstream=fa,
            interface=packet.interface,
        )
        return [
            self._start_timer((PENDING_TIMER, request.home_address), now + cfg.pending_timeout),
            SendPacket(
                interface=cfg.interface,
                source=cfg.address,
                destination=request.home_agent,
                protocol=PROTO_UDP,
                payload=relayed.encode(),
                message="registration_request",
                source_port=MOBILE_IP_PORT,
                destination_port=MOBILE_IP_PORT,
            ),
            Notify(
                event="registration-relayed",
                fields={"home_address": str(request.home_address), "fa": str(fa)},
            ),
        ]

    def _on_home_reply(
        self, reply: RegistrationReply, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        cfg = self.config
        pending = self._pending.get(reply.home_address)
        if pending is None:
            return [self._drop(DropReason.NO_PENDING_REQUEST, str(reply.home_address), packet)]
        if low32(reply.identification) != low32(pending.identification):
            return [self._drop(DropReason.IDENTIFICATION_MISMATCH, "", packet)]
        if packet.source != pending.upstream:
            return [self._drop(DropReason.NOT_FOR_US, f"reply not from {pending.upstream}", packet)]
        fa = pending.downstream
        assert fa is not None
        fa_sa = cfg.fa_gfa.get(pending.ip_source)
        ha_sa = cfg.fa_ha.get(reply.home_agent)
        if ha_sa is not None:
            problem = check_single(reply, ForeignHomeAuthentication, ha_sa)
            if problem is not None:
                # RFC 5944 §3.7.3.1 (the GFA in the FA's role): discard, 68 towards the MN.
                out: list[Action] = [self._drop(DropReason.BAD_AUTHENTICATOR, problem, packet)]
                if fa_sa is not None:
                    denial = reply_to(_request_of(pending), ReplyCode.FA_HA_FAILED_AUTHENTICATION)
                    out += self._answer_fa(denial, fa_sa, pending.ip_source, pending.source_port)
                return out
        del self._pending[reply.home_address]
        out = self._cancel_timer((PENDING_TIMER, reply.home_address))
        if ReplyCode.is_success(reply.code):
            if reply.lifetime == 0:
                out += self._remove(reply.home_address, "deregistered")
            else:
                out += self._install(pending, reply, now)
        relayed = dataclasses.replace(reply, extensions=keep_through_authorization(reply))
        if fa_sa is not None:
            out += self._answer_fa(relayed, fa_sa, pending.ip_source, pending.source_port)
        return out

    def _install(
        self, pending: PendingRegistration, reply: RegistrationReply, now: float
    ) -> list[Action]:
        cfg = self.config
        home = pending.home_address
        lifetime = granted(min(reply.lifetime, pending.requested_lifetime), cfg.max_lifetime)
        expires = expiry(now, lifetime)
        fa = pending.downstream
        assert fa is not None
        visitor = GfaVisitor(
            home_address=home,
            home_agent=pending.home_agent,
            home_lifetime=lifetime,
            home_expires_at=expires,
            current_fa=fa,
            regional_expires_at=expires,
            reverse_tunnel=pending.reverse_tunnel,
            mode=pending.mode,
            identification=reply.identification,
        )
        self._visitors[home] = visitor
        out: list[Action] = [
            SetMobilityBinding(
                home_address=home,
                care_of_addresses=(fa,),
                tunnel_source=cfg.address,
                mode=visitor.mode,
            ),
            SetUplink(
                home_address=home,
                mode=UplinkMode.REVERSE_TUNNEL if visitor.reverse_tunnel else UplinkMode.ROUTE,
                tunnel_source=cfg.address if visitor.reverse_tunnel else None,
                tunnel_destination=visitor.home_agent if visitor.reverse_tunnel else None,
                tunnel_mode=visitor.mode,
            ),
        ]
        if expires is not None:
            out.append(self._start_timer((HOME_TIMER, home), expires))
            out.append(self._start_timer((REGIONAL_TIMER, home), expires))
        out.append(
            Notify(
                event="home-registration",
                fields={"home_address": str(home), "fa": str(fa), "lifetime": lifetime},
            )
        )
        return out

    # ------------------------------------------------------------------ regional

    def _on_regional_request(
        self, request: RegionalRegistrationRequest, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        cfg = self.config
        fa_sa = self._from_fa(request, packet)
        if isinstance(fa_sa, str):
            reason = (
                DropReason.NO_SECURITY_ASSOCIATION
                if fa_sa.startswith("no FA-FA")
                else DropReason.BAD_AUTHENTICATOR
            )
            return [self._drop(reason, fa_sa, packet)]
        home = request.home_address
        mn_sa = cfg.mn_gfa.get(home)
        if mn_sa is None or request.home_agent != cfg.address:
            return [self._drop(DropReason.NO_SECURITY_ASSOCIATION, "no MN-GFA SA", packet)]
        # RFC 4857 §10: the MN-GFA authentication MUST be present (and verify).
        problem = check_single(request, GeneralizedAuthentication, mn_sa)
        if problem is not None:
            reply = reply_to(request, ReplyCode.HA_MN_FAILED_AUTHENTICATION)
            reason = (
                DropReason.MISSING_AUTHENTICATION
                if problem.startswith("no ")
                else DropReason.BAD_AUTHENTICATOR
            )
            return [
                self._drop(reason, problem, packet),
                *self._answer_regional(reply, mn_sa, fa_sa, packet),
            ]
        wall = now + cfg.clock_offset
        if not self._replay.check(home, mn_sa.replay, request.identification, wall):
            # RFC 4857 §5.3, §6.1: the GFA keeps its own replay state (RFC 5944 §5.7).
            ident = self._replay.mismatch_identification(
                home, mn_sa.replay, request.identification, wall, self._random
            )
            reply = reply_to(request, ReplyCode.HA_IDENTIFICATION_MISMATCH, identification=ident)
            return [
                self._drop(DropReason.REPLAYED, f"{request.identification:#x}", packet),
                *self._answer_regional(reply, mn_sa, fa_sa, packet),
            ]
        reply_ident = self._replay.commit(home, mn_sa.replay, request.identification, self._random)
        visitor = self._visitors.get(home)
        if visitor is None or (
            visitor.home_expires_at is not None and visitor.home_expires_at <= now
        ):
            # RFC 4857 §6.3: MUST NOT accept without a current home registration.
            reply = reply_to(
                request, ReplyCode.GFA_NO_HOME_REGISTRATION, identification=reply_ident
            )
            return [
                Notify(
                    event="registration-denied", fields={"home_address": str(home), "code": 193}
                ),
                *self._answer_regional(reply, mn_sa, fa_sa, packet),
            ]
        out: list[Action] = []
        if request.lifetime == 0:
            lifetime = 0
            visitor = dataclasses.replace(visitor, current_fa=None, regional_expires_at=None)
            out += self._cancel_timer((REGIONAL_TIMER, home))
            care_of: tuple[IPv4Address, ...] = ()
        else:
            # RFC 4857 §6.3: no greater than the remaining home lifetime.
            left = remaining(visitor.home_expires_at, now)
            cap = INFINITE_LIFETIME if left is None else max(0, math.floor(left))
            lifetime = min(granted(request.lifetime, cfg.max_regional_lifetime), cap)
            expires = expiry(now, lifetime)
            previous_fa = visitor.current_fa
            visitor = dataclasses.replace(
                visitor, current_fa=request.care_of_address, regional_expires_at=expires
            )
            if expires is not None:
                out.append(self._start_timer((REGIONAL_TIMER, home), expires))
            care_of = (request.care_of_address,)
            if request.flags & RegistrationFlags.S and previous_fa not in (None, care_of[0]):
                assert previous_fa is not None
                # The S bit (RFC 5944 §3.6.1.2) of a low-latency regional request (RFC 4881
                # §3.1, Appendix A): keep tunnelling to the previous FA as well, until the
                # next regional registration without S.
                care_of = (previous_fa, care_of[0])
        self._visitors[home] = visitor
        out.insert(
            0,
            SetMobilityBinding(
                home_address=home,
                care_of_addresses=care_of,
                tunnel_source=cfg.address,
                mode=visitor.mode,
            ),
        )
        reply = reply_to(request, ReplyCode.ACCEPTED, lifetime=lifetime, identification=reply_ident)
        out.append(
            Notify(
                event="regional-registration",
                fields={
                    "home_address": str(home),
                    "fa": str(request.care_of_address),
                    "lifetime": lifetime,
                },
            )
        )
        return out + self._answer_regional(reply, mn_sa, fa_sa, packet)

    # ------------------------------------------------------------------ sending

    def _answer_regional(
        self,
        reply: AnyReply,
        mn_sa: SecurityAssociation,
        fa_sa: SecurityAssociation,
        packet: ReceivedPacket,
    ) -> list[Action]:
        sealed = seal_generalized(reply, GeneralizedAuthSubtype.MN_GFA, mn_sa)
        return self._answer_fa(sealed, fa_sa, packet.source, packet.source_port)

    def _answer_fa(
        self, reply: AnyReply, fa_sa: SecurityAssociation, fa: IPv4Address, port: int
    ) -> list[Action]:
        """Send a reply to the FA that relayed the request, FA-FA authenticated (§11)."""
        sealed = seal_generalized(reply, GeneralizedAuthSubtype.FA_FA, fa_sa)
        regional = reply.TYPE != RegistrationReply.TYPE
        return [
            SendPacket(
                interface=self.config.interface,
                source=self.config.address,
                destination=fa,
                protocol=PROTO_UDP,
                payload=sealed.encode(),
                message="regional_registration_reply" if regional else "registration_reply",
                source_port=MOBILE_IP_PORT,
                destination_port=port or MOBILE_IP_PORT,
            )
        ]

    # ------------------------------------------------------------------ timers

    def _remove(self, home: IPv4Address, why: str) -> list[Action]:
        if self._visitors.pop(home, None) is None:
            return []
        return [
            *self._cancel_timer((HOME_TIMER, home)),
            *self._cancel_timer((REGIONAL_TIMER, home)),
            SetMobilityBinding(
                home_address=home, care_of_addresses=(), tunnel_source=self.config.address
            ),
            RemoveVisitor(home),
            Notify(event="visitor-removed", fields={"home_address": str(home), "reason": why}),
        ]

    def _on_pending_timeout(self, key: TimerKey, now: float) -> list[Action]:
        home = key[1]
        assert isinstance(home, IPv4Address)
        pending = self._pending.pop(home, None)
        if pending is None:
            return []
        fa_sa = self.config.fa_gfa.get(pending.ip_source)
        out: list[Action] = [
            Notify(event="registration-timeout", fields={"home_address": str(home)})
        ]
        if fa_sa is not None:
            reply = reply_to(_request_of(pending), ReplyCode.FA_REGISTRATION_TIMEOUT)
            out += self._answer_fa(reply, fa_sa, pending.ip_source, pending.source_port)
        return out

    def _on_home_expired(self, key: TimerKey, now: float) -> list[Action]:
        home = key[1]
        assert isinstance(home, IPv4Address)
        return self._remove(home, "expired")

    def _on_regional_expired(self, key: TimerKey, now: float) -> list[Action]:
        home = key[1]
        assert isinstance(home, IPv4Address)
        visitor = self._visitors.get(home)
        if visitor is None:
            return []
        self._visitors[home] = dataclasses.replace(
            visitor, current_fa=None, regional_expires_at=None
        )
        return [
            SetMobilityBinding(
                home_address=home,
                care_of_addresses=(),
                tunnel_source=self.config.address,
                mode=visitor.mode,
            ),
            Notify(event="regional-expired", fields={"home_address": str(home)}),
        ]


def _request_of(pending: PendingRegistration) -> RegistrationRequest:
    return RegistrationRequest(
        lifetime=pending.requested_lifetime,
        home_address=pending.home_address,
        home_agent=pending.home_agent,
        care_of_address=pending.care_of_address,
        identification=pending.identification,
    )


__all__ = ["GatewayForeignAgent", "GfaVisitor"]
