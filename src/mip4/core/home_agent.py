"""The home agent (RFC 5944 §3.8, §4.2.3; RFC 3024 §4.3).

Theory of operation
-------------------
The HA answers Registration Requests on UDP 434 and programs the data plane with one
:class:`~mip4.core.actions.SetMobilityBinding` per home address, listing every current
care-of address (several with the S bit: the data plane bicasts).

A request goes through the checks of RFC 5944 §3.8.2.1 in order, and nothing changes
until all security checks pass:

1. an MN-HA security association for the Home Address, an MN-HA Authentication extension,
   and a security context of that association with the extension's SPI (several contexts
   per MN: :class:`~mip4.core.security.MobilitySecurityAssociation`): otherwise the request
   is silently discarded (counted); replies are sealed with the context that matched;
2. the MN-HA authenticator: invalid -> reply 131 (no state change);
3. with nonces, duplicates of the current binding (same home address, care-of address and
   Identification, §3.8.2.2; an MN retransmits unchanged, §3.6.3) are answered again
   without extending the lifetime (with timestamps step 4 refuses them: §5.7.1);
4. the Identification (§5.7): timestamps within ``replay_skew`` of the HA's clock and
   greater than every accepted one, or the nonce the HA issued -> else reply 133 whose high
   32 bits are the HA's time (or its nonce), no state change;
5. FA-HA authentication when the HA shares an SA with the relaying agent (§3.8.2.1 c/d):
   missing or invalid -> 132; present without an SA -> discarded.

Then policy: the request's destination and Home Agent field (136), the encapsulation
(139), reverse tunnelling (138 / 137, RFC 3024 §4.3.1), and the number of simultaneous
bindings (135). A request with reserved bits set gets 134 only if its MN-HA authenticator
verifies over the bytes as sent (otherwise silently discarded, counted). Accepted requests
update the binding list (§3.8.2.2: lifetime 0 deletes one binding or, with CoA = home
address, all; otherwise add, keeping the others only with S), arm one
``("binding", home, coa)`` timer per binding and reply with code 0 (1 when S was asked but
simultaneous bindings are off). Replies are sealed with MN-HA and, when the HA shares an SA
with the relaying agent, FA-HA (§3.8.3.3), and go back to the request's source address and
port from port 434 (§3.8.3.1). An expired binding is removed silently (§3.8: never a reply
because a lifetime expired).
"""

from __future__ import annotations

import math
from ipaddress import IPv4Address

from mip4.core.actions import (
    Action,
    Dropped,
    DropReason,
    Notify,
    SendPacket,
    SetMobilityBinding,
    TimerKey,
    TunnelMode,
)
from mip4.core.agent import Agent
from mip4.core.config import HomeAgentConfig
from mip4.core.discovery import ADVERTISE_TIMER, Advertiser
from mip4.core.packets import LIMITED_BROADCAST, ReceivedPacket
from mip4.core.registration import (
    AnyReply,
    AsSent,
    Denied,
    MobilityBinding,
    as_sent,
    check_single,
    count,
    expiry,
    granted,
    is_multicast,
    raw_request,
    remaining,
    reply_to,
    requested_mode,
    seal_with,
    wants_reverse_tunnel,
    wants_simultaneous,
)
from mip4.core.replay import ReplayGuard
from mip4.core.security import RandomSource, ReplayProtection, SecurityAssociation
from mip4.core.triggers import LinkDown, LinkUp
from mip4.wire.errors import ReservedValueError
from mip4.wire.extensions import ForeignHomeAuthentication, MobileHomeAuthentication
from mip4.wire.icmp import AgentAdvertisement, AgentSolicitation, MobilityAgentFlags
from mip4.wire.ip import PROTO_UDP
from mip4.wire.messages import MOBILE_IP_PORT
from mip4.wire.registration import RegistrationRequest, ReplyCode

BINDING_TIMER = "binding"


class HomeAgent(Agent):
    """A home agent: mobility bindings, replay state, optional advertisements (H bit)."""

    role = "home-agent"

    def __init__(self, config: HomeAgentConfig, *, random: RandomSource) -> None:
        super().__init__(config.name, random)
        self.config = config
        # Requests to these are broadcasts (RFC 5944 §3.8.2.3); computed once, not per request.
        self._broadcasts = (LIMITED_BROADCAST, config.home_broadcast)
        self._bindings: dict[IPv4Address, list[MobilityBinding]] = {}
        self._replay = ReplayGuard(skew=config.replay_skew)
        self._advertiser: Advertiser | None = None
        if config.advertisement is not None:
            flags = MobilityAgentFlags.H  # RFC 5944 §2.3: the HA's adverts MUST set H
            if config.reverse_tunnel_offered:
                flags |= MobilityAgentFlags.T
            self._advertiser = Advertiser(
                config=config.advertisement,
                source=config.address,
                interface=config.home_interface,
                link_source=config.mac,
                flags=flags,
                care_of_addresses=(),
                registration_lifetime=config.max_lifetime,
                random=random,
                start_timer=self._start_timer,
            )
            self._icmp_handlers[AgentSolicitation] = self._on_solicitation
            self._timer_handlers[ADVERTISE_TIMER] = self._on_advertise_timer
        self._control_handlers[RegistrationRequest] = self._on_request
        self._icmp_handlers.setdefault(AgentAdvertisement, self._ignore_advertisement)
        self._timer_handlers[BINDING_TIMER] = self._on_binding_expired
        # L2 triggers are not for an HA (RFC 4881 Table 1) except link events on its own
        # interfaces, which change nothing here.
        self._trigger_handlers[LinkUp] = self._ignore_trigger
        self._trigger_handlers[LinkDown] = self._ignore_trigger

    # ------------------------------------------------------------------ public views

    def bindings(self, home_address: IPv4Address) -> tuple[MobilityBinding, ...]:
        return tuple(self._bindings.get(home_address, ()))

    def _snapshot(self, now: float) -> dict[str, object]:
        return {
            "address": str(self.config.address),
            "bindings": {
                str(home): [b.to_dict(now) for b in bindings]
                for home, bindings in sorted(self._bindings.items())
            },
            "advertisement_sequence": None
            if self._advertiser is None
            else self._advertiser.sequence,
        }

    def _on_start(self, now: float) -> list[Action]:
        return [] if self._advertiser is None else self._advertiser.start(now)

    # ------------------------------------------------------------------ discovery

    def _on_advertise_timer(self, key: TimerKey, now: float) -> list[Action]:
        assert self._advertiser is not None
        return self._advertiser.on_timer(now)

    def _on_solicitation(
        self, message: AgentSolicitation, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        assert self._advertiser is not None
        if packet.interface != self.config.home_interface:
            return [self._drop(DropReason.NOT_FOR_US, "solicitation off the home link", packet)]
        out = self._advertiser.answer(packet, now)
        if out is None:
            return [self._drop(DropReason.RATE_LIMITED, "multicast advertisement", packet)]
        return out

    def _ignore_advertisement(
        self, message: AgentAdvertisement, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        return [self._drop(DropReason.UNEXPECTED_MESSAGE, "advertisement at an HA", packet)]

    def _ignore_trigger(self, trigger: object, now: float) -> list[Action]:
        return []

    # ------------------------------------------------------------------ registration

    def _on_reserved_bits(
        self, packet: ReceivedPacket, error: ReservedValueError, now: float
    ) -> list[Action]:
        """RFC 5944 §3.8.2.3: non-zero reserved bits MUST be rejected with 134.

        Only once the request is authenticated (§3.8.2.1 comes first): the MN-HA
        authenticator is checked over the bytes as sent, reserved bits included (§3.5.1).
        Without a valid one the request is silently discarded and counted: a 134 sealed with
        the MN's key over forged content would make the MN accept a denial it never caused.
        """
        request = raw_request(packet.payload)
        sent = as_sent(packet.payload)
        if request is None or type(request) is not RegistrationRequest or sent is None:
            return [self._drop(DropReason.MALFORMED, str(error), packet)]
        sa = self._mn_ha_context(sent, request.home_address, packet)
        if isinstance(sa, Dropped):
            return [sa]
        problem = check_single(sent, MobileHomeAuthentication, sa)
        if problem is not None:
            return [self._drop(DropReason.BAD_AUTHENTICATOR, f"{problem} ({error})", packet)]
        reply = reply_to(request, ReplyCode.HA_POORLY_FORMED_REQUEST, agent=self.config.address)
        return [
            self._drop(DropReason.MALFORMED, str(error), packet),
            self._send_reply(reply, sa, packet, None),
        ]

    def _mn_ha_context(
        self, message: RegistrationRequest | AsSent, home: IPv4Address, packet: ReceivedPacket
    ) -> SecurityAssociation | Dropped:
        """RFC 5944 §3.8.2.1 (a): the MN-HA security context, selected by the Home Address
        and the SPI of the MN-HA extension (§1.6, §3.5.1); otherwise the counted drop
        (no SA, or no authorization-enabling extension: "MUST silently discard")."""
        association = self.config.mn_ha.get(home)
        if association is None:
            return self._drop(DropReason.NO_SECURITY_ASSOCIATION, "unknown home address", packet)
        auth = next(
            (e for e in message.extensions if isinstance(e, MobileHomeAuthentication)), None
        )
        if auth is None:
            return self._drop(DropReason.MISSING_AUTHENTICATION, "no MN-HA extension", packet)
        sa = association.context(auth.spi)
        if sa is None:
            return self._drop(DropReason.NO_SECURITY_ASSOCIATION, f"unknown SPI {auth.spi}", packet)
        return sa

    def _on_request(
        self, request: RegistrationRequest, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        sa = self._mn_ha_context(request, request.home_address, packet)
        if isinstance(sa, Dropped):
            return [sa]
        fa_sa = self.config.fa_ha.get(packet.source)
        problem = check_single(request, MobileHomeAuthentication, sa)
        if problem is not None:
            # §3.8.2.1 (a): reject; 131 (MUST with a valid FA-HA extension, MAY otherwise).
            reply = reply_to(
                request, ReplyCode.HA_MN_FAILED_AUTHENTICATION, agent=self.config.address
            )
            return [
                self._drop(DropReason.BAD_AUTHENTICATOR, problem, packet),
                self._send_reply(reply, sa, packet, fa_sa),
            ]
        duplicate = self._duplicate_of(request) if sa.replay is ReplayProtection.NONCE else None
        if duplicate is not None:
            return self._answer_duplicate(request, duplicate, sa, packet, fa_sa, now)
        wall = now + self.config.clock_offset
        key = request.home_address
        if not self._replay.check(key, sa.replay, request.identification, wall):
            # §3.8.2.1 (b), §5.7: reject with 133, "no further processing".
            ident = self._replay.mismatch_identification(
                key, sa.replay, request.identification, wall, self._random
            )
            reply = reply_to(
                request,
                ReplyCode.HA_IDENTIFICATION_MISMATCH,
                identification=ident,
                agent=self.config.address,
            )
            return [
                self._drop(
                    DropReason.REPLAYED, f"identification {request.identification:#x}", packet
                ),
                self._send_reply(reply, sa, packet, fa_sa),
            ]
        if request.lifetime != 0 and fa_sa is not None:
            # §3.8.2.1 (c): exactly one valid FA-HA extension, else 132.
            fa_problem = check_single(request, ForeignHomeAuthentication, fa_sa)
            if fa_problem is not None:
                reply = reply_to(
                    request, ReplyCode.HA_FA_FAILED_AUTHENTICATION, agent=self.config.address
                )
                return [
                    self._drop(DropReason.BAD_AUTHENTICATOR, f"FA-HA: {fa_problem}", packet),
                    self._send_reply(reply, sa, packet, fa_sa),
                ]
        if fa_sa is None and count(request.extensions, ForeignHomeAuthentication):
            # §3.8.2.1 (d): an FA-HA extension without an SA -> discard.
            return [self._drop(DropReason.NO_SECURITY_ASSOCIATION, "FA-HA without an SA", packet)]
        # Every security check passed: the Identification is now consumed (§5.7).
        reply_ident = self._replay.commit(key, sa.replay, request.identification, self._random)
        try:
            code, lifetime, out = self._apply(request, packet, reply_ident, now)
        except Denied as denial:
            reply = reply_to(
                request, denial.code, identification=reply_ident, agent=self.config.address
            )
            return [
                Notify(
                    event="registration-denied",
                    fields={
                        "home_address": str(request.home_address),
                        "code": denial.code,
                        "reason": denial.detail,
                    },
                ),
                self._send_reply(reply, sa, packet, fa_sa),
            ]
        reply = reply_to(
            request,
            code,
            lifetime=lifetime,
            identification=reply_ident,
            agent=self.config.address,
        )
        return [*out, self._send_reply(reply, sa, packet, fa_sa)]

    def _apply(
        self, request: RegistrationRequest, packet: ReceivedPacket, reply_ident: int, now: float
    ) -> tuple[int, int, list[Action]]:
        """Policy checks, then the binding update (§3.8.2.2). Raises :class:`Denied`."""
        cfg = self.config
        # §3.8.2.1: requests to a broadcast address MUST be denied with 136; §3.8.3.2: so
        # must a Home Agent field that is not this HA's unicast address.
        broadcast = packet.destination in self._broadcasts
        if broadcast or request.home_agent != cfg.address:
            raise Denied(ReplyCode.HA_UNKNOWN_HA_ADDRESS, "not this HA's unicast address")
        mode = requested_mode(request.flags)
        if mode is None or mode not in cfg.encapsulations:
            # RFC 3024 §4.3.1: an unsupported encapsulation MUST be refused with 139.
            raise Denied(ReplyCode.HA_ENCAPSULATION_UNAVAILABLE, f"encapsulation {mode}")
        reverse = wants_reverse_tunnel(request.flags)
        if not reverse and cfg.reverse_tunnel_required and request.lifetime != 0:
            raise Denied(ReplyCode.HA_REVERSE_TUNNEL_MANDATORY, "T bit required")  # RFC 3024
        if reverse and not cfg.reverse_tunnel_offered:
            raise Denied(ReplyCode.HA_REVERSE_TUNNEL_UNAVAILABLE, "no reverse tunnels")
        home = request.home_address
        coa = request.care_of_address
        current = list(self._bindings.get(home, ()))
        actions: list[Action] = []
        if request.lifetime == 0:
            # §3.8.2.2: lifetime 0 deletes one binding, or all when CoA = home address.
            gone = current if coa == home else [b for b in current if b.care_of_address == coa]
            kept = [b for b in current if b not in gone]
            for b in gone:
                actions += self._cancel_timer((BINDING_TIMER, home, b.care_of_address))
            code = int(ReplyCode.ACCEPTED)
            lifetime = 0
            event = "deregistered"
        else:
            lifetime = granted(request.lifetime, cfg.max_lifetime)
            simultaneous = wants_simultaneous(request.flags)
            code = int(ReplyCode.ACCEPTED)
            if simultaneous and not cfg.simultaneous_bindings:
                code = int(ReplyCode.ACCEPTED_NO_SIMULTANEOUS_BINDINGS)  # §3.8.3.2
            others = [b for b in current if b.care_of_address != coa]
            if not (simultaneous and cfg.simultaneous_bindings):
                for b in others:
                    actions += self._cancel_timer((BINDING_TIMER, home, b.care_of_address))
                others = []
            elif len(others) + 1 > cfg.max_bindings:
                raise Denied(ReplyCode.HA_TOO_MANY_SIMULTANEOUS_BINDINGS, "too many bindings")
            binding = MobilityBinding(
                home_address=home,
                care_of_address=coa,
                request_identification=request.identification,
                reply_identification=reply_ident,
                lifetime=lifetime,
                expires_at=expiry(now, lifetime),
                reverse_tunnel=reverse,
                mode=mode,
                tunnel_source=request.home_agent,
            )
            kept = [*others, binding]
            if binding.expires_at is not None:
                actions.append(self._start_timer((BINDING_TIMER, home, coa), binding.expires_at))
            else:
                actions += self._cancel_timer((BINDING_TIMER, home, coa))
            event = "binding-updated"
        actions.insert(0, self._program(home, kept))
        actions.append(
            Notify(
                event=event,
                fields={
                    "home_address": str(home),
                    "care_of_addresses": [str(b.care_of_address) for b in kept],
                    "lifetime": lifetime,
                },
            )
        )
        return code, lifetime, actions

    def _program(self, home: IPv4Address, bindings: list[MobilityBinding]) -> SetMobilityBinding:
        """Store ``bindings`` and describe them to the data plane."""
        if bindings:
            self._bindings[home] = bindings
        else:
            self._bindings.pop(home, None)
        newest = bindings[-1] if bindings else None
        return SetMobilityBinding(
            home_address=home,
            care_of_addresses=tuple(b.care_of_address for b in bindings),
            tunnel_source=self.config.address if newest is None else newest.tunnel_source,
            mode=TunnelMode.IP_IN_IP if newest is None else newest.mode,
        )

    def _duplicate_of(self, request: RegistrationRequest) -> MobilityBinding | None:
        for b in self._bindings.get(request.home_address, ()):
            if (
                b.care_of_address == request.care_of_address
                and b.request_identification == request.identification
                and request.lifetime != 0
            ):
                return b
        return None

    def _answer_duplicate(
        self,
        request: RegistrationRequest,
        binding: MobilityBinding,
        sa: SecurityAssociation,
        packet: ReceivedPacket,
        fa_sa: SecurityAssociation | None,
        now: float,
    ) -> list[Action]:
        """RFC 5944 §3.8.2.2: a duplicate "MUST NOT extend beyond the Lifetime originally
        granted"; it is answered with what remains (RFC 5944 §3.6.3: a nonce-protected MN
        retransmits unchanged when the reply was lost)."""
        left = remaining(binding.expires_at, now)
        lifetime = binding.lifetime if left is None else math.floor(left)
        reply = reply_to(
            request,
            ReplyCode.ACCEPTED,
            lifetime=lifetime,
            identification=binding.reply_identification,
            agent=self.config.address,
        )
        return [
            Notify(event="duplicate-request", fields={"home_address": str(request.home_address)}),
            self._send_reply(reply, sa, packet, fa_sa),
        ]

    def _send_reply(
        self,
        reply: AnyReply,
        sa: SecurityAssociation,
        packet: ReceivedPacket,
        fa_sa: SecurityAssociation | None,
    ) -> SendPacket:
        """Seal (MN-HA, then FA-HA if shared, §3.8.3.3) and address (§3.8.3.1) a reply."""
        sealed = seal_with(reply, MobileHomeAuthentication, sa)
        if fa_sa is not None and packet.source != reply.home_address:
            sealed = seal_with(sealed, ForeignHomeAuthentication, fa_sa)
        source = packet.destination
        if is_multicast(source) or source in self._broadcasts:
            source = self.config.address  # §3.8.3.1: unicast address for broadcast requests
        at_home = packet.source == reply.home_address
        return SendPacket(
            interface=packet.interface,
            source=source,
            destination=packet.source,
            protocol=PROTO_UDP,
            payload=sealed.encode(),
            message="registration_reply",
            source_port=packet.destination_port or MOBILE_IP_PORT,
            destination_port=packet.source_port,
            # §3.8.3.1: a reply to an MN at home goes "directly onto the home network as if
            # the mobile node were at home", bypassing its bindings: to the request's frame.
            link_destination=packet.link_source if at_home else None,
        )

    # ------------------------------------------------------------------ timers

    def _on_binding_expired(self, key: TimerKey, now: float) -> list[Action]:
        _, home, coa = key
        assert isinstance(home, IPv4Address)
        current = self._bindings.get(home, [])
        kept = [b for b in current if b.care_of_address != coa]
        if len(kept) == len(current):
            return []
        # §3.8.2.2: "After the expiration of this registration Lifetime, the home agent
        # MUST delete its entry"; §3.8: never a reply because a lifetime expired.
        return [
            self._program(home, kept),
            Notify(
                event="binding-expired",
                fields={"home_address": str(home), "care_of_address": str(coa)},
            ),
        ]


__all__ = ["BINDING_TIMER", "HomeAgent"]
