"""Registration at the foreign agent (RFC 5944 §3.7; RFC 3024 §4.2; RFC 4857 §5.2, §6.2).

The visitor list (one :class:`VisitorRecord` per mobile node), the validity checks and
FA-generated reply codes, relaying requests to the HA (or the GFA), relaying replies to
the MN, installing and removing visitor entries, and the pending-request timeout. See the
theory of operation in :mod:`mip4.core.foreign_agent`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from mip4.core.actions import (
    Action,
    DropReason,
    Notify,
    RemoveVisitor,
    SendPacket,
    SetUplink,
    SetVisitor,
    TimerKey,
    TunnelMode,
    UplinkMode,
)
from mip4.core.agent import Agent
from mip4.core.config import ForeignAgentConfig
from mip4.core.packets import ALL_MOBILITY_AGENTS, LIMITED_BROADCAST, ReceivedPacket
from mip4.core.registration import (
    AnyReply,
    AnyRequest,
    Denied,
    PendingRegistration,
    VisitorEntry,
    as_sent,
    authorization_index,
    check_single,
    expiry,
    granted,
    is_multicast,
    keep_through_authorization,
    raw_request,
    reply_to,
    requested_mode,
    seal_generalized,
    seal_with,
    wants_reverse_tunnel,
)
from mip4.core.replay import low32
from mip4.core.security import RandomSource
from mip4.wire.errors import DecodeError, ReservedValueError
from mip4.wire.extensions import (
    EncapsulatingDeliveryStyle,
    ForeignHomeAuthentication,
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    HierarchicalForeignAgent,
    MobileForeignAuthentication,
)
from mip4.wire.icmp import (
    DestinationUnreachable,
    UnreachableCode,
)
from mip4.wire.ip import PROTO_UDP
from mip4.wire.messages import MOBILE_IP_PORT
from mip4.wire.registration import (
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationFlags,
    RegistrationRequest,
    ReplyCode,
)

PENDING_TIMER = "pending"
VISITOR_TIMER = "visitor"
REQUIRED_TTL = 255  # RFC 3024 §4.1.1, §4.2.1: requests with the T bit MUST arrive with TTL 255
ALL_ONES = IPv4Address("255.255.255.255")
_D = int(RegistrationFlags.D)  # a plain int: IntFlag '&' builds a member per request
_DENIAL_MEMORY = 4096  # prune a per-MN denial clock beyond this many entries
# RFC 5944 §3.7.3: ICMP errors while relaying -> "home agent unreachable" codes 80-95.
_UNREACHABLE_CODES: dict[int, ReplyCode] = {
    UnreachableCode.NET_UNREACHABLE: ReplyCode.FA_HOME_NETWORK_UNREACHABLE,
    UnreachableCode.HOST_UNREACHABLE: ReplyCode.FA_HA_HOST_UNREACHABLE,
    UnreachableCode.PORT_UNREACHABLE: ReplyCode.FA_HA_PORT_UNREACHABLE,
}


@dataclass(slots=True)
class VisitorRecord:
    """Everything the FA holds for one mobile node (RFC 5944 §3.7.1).

    ``visitor`` is the accepted entry, ``pending`` the request awaiting its reply (kept
    apart so a denial never touches the accepted entry, §3.7.2), ``last_denial`` the rate
    limit clock. ``handoff`` is where the RFC 4881 procedures keep the MN's handoff state.
    """

    home_address: IPv4Address
    visitor: VisitorEntry | None = None
    pending: PendingRegistration | None = None
    handoff: Any = None

    @property
    def empty(self) -> bool:
        return self.visitor is None and self.pending is None and self.handoff is None


class ForeignAgentRegistration(Agent):
    """The FA's registration procedure and visitor list."""

    role = "foreign-agent"

    def __init__(self, config: ForeignAgentConfig, *, random: RandomSource) -> None:
        super().__init__(config.name, random)
        self.config = config
        self._records: dict[IPv4Address, VisitorRecord] = {}
        self._last_denial: dict[IPv4Address, float] = {}
        self._last_auth_failure: dict[IPv4Address, float] = {}  # 67s: a clock of their own
        coas: tuple[IPv4Address, ...] = (config.address,)
        if config.gfa is not None:
            coas = (config.address, config.gfa.address)  # RFC 4857 §4.3: the FA, then the GFA
        self.care_of_addresses = coas
        self._own_addresses = config.addresses  # built once, not per request

    # ------------------------------------------------------------------ views

    def record(self, home_address: IPv4Address) -> VisitorRecord | None:
        return self._records.get(home_address)

    def visitor(self, home_address: IPv4Address) -> VisitorEntry | None:
        rec = self._records.get(home_address)
        return None if rec is None else rec.visitor

    # ------------------------------------------------------------------ requests

    def _on_reserved_bits(
        self, packet: ReceivedPacket, error: ReservedValueError, now: float
    ) -> list[Action]:
        # RFC 5944 §3.7.2.1, §3.7.2.3: reserved bits -> deny with 70. With an MN-FA SA the
        # denial is sealed, so the request must authenticate first, over the bytes as sent
        # (reserved bits included, §3.5.1); otherwise it is an MN-FA failure (67).
        request = raw_request(packet.payload)
        if request is None:
            return [self._drop(DropReason.MALFORMED, str(error), packet)]
        sa = self.config.mn_fa.get(request.home_address)
        if sa is not None:
            sent = as_sent(packet.payload)
            problem = "extensions do not decode" if sent is None else None
            if sent is not None:
                problem = check_single(sent, MobileForeignAuthentication, sa)
            if problem is not None:
                return self._unauthenticated(request, packet, f"{problem} ({error})", now)
        drop = self._drop(DropReason.MALFORMED, str(error), packet)
        return [drop, *self._deny(request, packet, ReplyCode.FA_POORLY_FORMED_REQUEST, now)]

    def _on_request(self, request: AnyRequest, packet: ReceivedPacket, now: float) -> list[Action]:
        regional = isinstance(request, RegionalRegistrationRequest)
        try:
            upstream, via_gfa = self._validate(request, packet, regional)
        except Denied as denial:
            return self._refuse(request, packet, denial, now)
        rec = self._records.get(request.home_address)
        if (
            rec is not None
            and rec.visitor is not None
            and rec.visitor.identification == request.identification
        ):
            # RFC 5944 §5.7: a new request's Identification MUST differ from the preceding
            # one; this is the accepted registration itself, replayed. (The FA has no other
            # replay state: RFC 4721 challenges are the protocol's answer to older replays.)
            return [self._drop(DropReason.REPLAYED, "the accepted registration again", packet)]
        return self._relay_request(request, packet, upstream, via_gfa, regional, now)

    def _validate(
        self, request: AnyRequest, packet: ReceivedPacket, regional: bool
    ) -> tuple[IPv4Address, bool]:
        """RFC 5944 §3.7.2.1 and RFC 3024 §4.2.1; returns (upstream, via GFA).

        MN-FA authentication comes first: every later denial is sealed with the MN-FA key
        (§3.7.3.2) and resets the per-MN denial clock, so none may answer a request the FA
        cannot authenticate (a forged 69 would make the MN cap its lifetime, §3.6.2.3).
        """
        cfg = self.config
        gfa = cfg.gfa
        coa = request.care_of_address
        sa = cfg.mn_fa.get(request.home_address)
        if sa is not None:
            # RFC 5944 §3.7.2.1: exactly one valid MN-FA extension, else discard and 67.
            problem = check_single(request, MobileForeignAuthentication, sa)
            if problem is not None:
                raise Denied(ReplyCode.FA_MN_FAILED_AUTHENTICATION, problem)
        if request.lifetime > cfg.registration_lifetime:
            # RFC 5944 §3.7.2.3: code 69 with the FA's maximum in the Lifetime field.
            raise Denied(
                ReplyCode.FA_LIFETIME_TOO_LONG,
                f"lifetime {request.lifetime} > {cfg.registration_lifetime}",
                lifetime=cfg.registration_lifetime,
            )
        decapsulating = int.__and__(request.flags, _D) != 0
        if coa == ALL_ONES and not regional:
            # RFC 4857 §5.2: an all-ones CoA in a home request MUST be answered 70.
            raise Denied(ReplyCode.FA_POORLY_FORMED_REQUEST, "all-ones care-of address")
        offered = self.care_of_addresses
        if regional:
            offered = (cfg.address,)  # RFC 4857 §6: the regional CoA is the local FA
        if not decapsulating and request.lifetime != 0 and coa not in offered:
            # RFC 5944 §3.7.2.1: D = 0, nonzero lifetime, CoA not offered -> 77.
            raise Denied(ReplyCode.FA_INVALID_CARE_OF_ADDRESS, f"care-of address {coa}")
        if regional:
            if gfa is None or request.home_agent != gfa.address:
                # RFC 4857 §6.2: an unknown GFA -> UNKNOWN_GFA.
                raise Denied(ReplyCode.UNKNOWN_GFA, f"GFA {request.home_agent} unknown")
        elif request.home_agent in self._own_addresses:
            # RFC 5944 §3.7.2: the FA does not serve this MN as an HA -> 194.
            raise Denied(ReplyCode.FA_INVALID_HA_ADDRESS, "home agent is this FA")
        mode = requested_mode(request.flags)
        if mode is None or mode not in cfg.encapsulations:
            # RFC 5944 §3.4, RFC 3024 §4.2.1: unsupported encapsulation MUST get 72.
            raise Denied(ReplyCode.FA_ENCAPSULATION_UNAVAILABLE, f"encapsulation {mode}")
        reverse = wants_reverse_tunnel(request.flags)
        index = authorization_index(request)
        trailing = () if index is None else request.extensions[index + 1 :]
        style = [e for e in trailing if isinstance(e, EncapsulatingDeliveryStyle)]
        if style and not reverse:
            # RFC 3024 §3.3: the extension MUST NOT be included without the T bit.
            raise Denied(ReplyCode.FA_POORLY_FORMED_REQUEST, "delivery style without T")
        if style and not cfg.encapsulating_delivery:
            # RFC 3024 §3.4, §4.2.1: an unsupported delivery style MUST get 79.
            raise Denied(ReplyCode.FA_DELIVERY_STYLE_NOT_SUPPORTED, "encapsulating delivery")
        if not reverse and cfg.reverse_tunnel_required and request.lifetime != 0:
            raise Denied(ReplyCode.FA_REVERSE_TUNNEL_MANDATORY, "T bit required")  # RFC 3024
        if reverse and not self._ttl_acceptable(request, packet):
            # RFC 3024 §4.2.1: the FA MUST verify TTL 255, else 76.
            raise Denied(ReplyCode.FA_MN_TOO_DISTANT, f"TTL {packet.ttl} with the T bit")
        if reverse and not cfg.reverse_tunnel_offered:
            raise Denied(ReplyCode.FA_REVERSE_TUNNEL_UNAVAILABLE, "no reverse tunnels")  # §4.2.1
        if index is None:
            # Nothing could authorise it at the HA or GFA (RFC 5944 §3.2): poorly formed.
            raise Denied(ReplyCode.FA_POORLY_FORMED_REQUEST, "no authorization-enabling extension")
        if cfg.max_pending is not None:
            rec = self._records.get(request.home_address)
            others = sum(
                1 for r in self._records.values() if r.pending is not None and r is not rec
            )
            if others >= cfg.max_pending:
                # RFC 5944 §3.7.1: beyond the maximum of pending registrations -> 66.
                raise Denied(ReplyCode.FA_INSUFFICIENT_RESOURCES, "too many pending requests")
        via_gfa = regional or (gfa is not None and coa == gfa.address)
        upstream = gfa.address if via_gfa and gfa is not None else request.home_agent
        return upstream, via_gfa

    def _ttl_acceptable(self, request: AnyRequest, packet: ReceivedPacket) -> bool:
        """RFC 3024 §4.2.1's TTL check (PRE-REGISTRATION relaxes it for routed low-latency
        requests, :mod:`mip4.core.pre_registration`)."""
        return packet.ttl == REQUIRED_TTL

    def _relay_request(
        self,
        request: AnyRequest,
        packet: ReceivedPacket,
        upstream: IPv4Address,
        via_gfa: bool,
        regional: bool,
        now: float,
    ) -> list[Action]:
        cfg = self.config
        home = request.home_address
        # RFC 5944 §3.7.2.2: keep everything through the authorization-enabling extension,
        # process and remove what follows (one search for it: _validate required one).
        index = authorization_index(request)
        relayed: AnyRequest = request
        encapsulating = False
        if index is not None and index + 1 < len(request.extensions):
            trailing = request.extensions[index + 1 :]
            encapsulating = any(isinstance(e, EncapsulatingDeliveryStyle) for e in trailing)
            relayed = dataclasses.replace(request, extensions=request.extensions[: index + 1])
        if via_gfa and cfg.gfa is not None:
            if not regional:
                # RFC 4857 §5.2: HFA at the very end, protected by FA-FA authentication.
                relayed = dataclasses.replace(
                    relayed,
                    extensions=(*relayed.extensions, HierarchicalForeignAgent(address=cfg.address)),
                )
            sealed = seal_generalized(relayed, GeneralizedAuthSubtype.FA_FA, cfg.gfa.security)
        else:
            ha_sa = cfg.fa_ha.get(request.home_agent)
            sealed = relayed
            if (
                ha_sa is not None
                and request.lifetime != 0
                and request.care_of_address in self.care_of_addresses
            ):
                # §3.7.2.2: MUST append FA-HA when shared, except on deregistration or for a
                # CoA this FA did not offer.
                sealed = seal_with(relayed, ForeignHomeAuthentication, ha_sa)
        on_access = packet.interface == cfg.access_interface
        pending = PendingRegistration(
            home_address=home,
            link_address=packet.link_source if on_access else None,
            ip_source=packet.source,
            ip_destination=packet.destination,
            source_port=packet.source_port,
            home_agent=request.home_agent,
            care_of_address=request.care_of_address,
            identification=request.identification,
            requested_lifetime=request.lifetime,
            relayed_at=now,
            regional=regional,
            reverse_tunnel=wants_reverse_tunnel(request.flags),
            mode=requested_mode(request.flags) or TunnelMode.IP_IN_IP,
            encapsulating_delivery=encapsulating,
            upstream=upstream,
            interface=packet.interface,
        )
        rec = self._records.setdefault(home, VisitorRecord(home_address=home))
        rec.pending = pending  # §3.7.2: a separate part; the accepted entry is untouched
        timeout = cfg.pending_timeout
        if request.lifetime:
            timeout = min(timeout, float(request.lifetime))  # §3.7.2.2
        message = "regional_registration_request" if regional else "registration_request"
        return [
            self._start_timer((PENDING_TIMER, home), now + timeout),
            SendPacket(
                interface=cfg.wired_interface,
                source=cfg.address,  # §3.7.2.2: the care-of address offered to the MN
                destination=upstream,
                protocol=PROTO_UDP,
                payload=sealed.encode(),
                message=message,
                source_port=MOBILE_IP_PORT,
                destination_port=MOBILE_IP_PORT,
            ),
            Notify(
                event="registration-relayed",
                fields={"home_address": str(home), "to": str(upstream), "regional": regional},
            ),
        ]

    def _refuse(
        self, request: AnyRequest, packet: ReceivedPacket, denial: Denied, now: float
    ) -> list[Action]:
        if denial.code == ReplyCode.FA_MN_FAILED_AUTHENTICATION:
            return self._unauthenticated(request, packet, denial.detail, now)
        out: list[Action] = []
        if denial.code == ReplyCode.FA_POORLY_FORMED_REQUEST:
            out.append(self._drop(DropReason.MALFORMED, denial.detail, packet))
        elif denial.code == ReplyCode.FA_MN_TOO_DISTANT:
            out.append(self._drop(DropReason.BAD_TTL, denial.detail, packet))
        else:
            out.append(
                Notify(
                    event="registration-denied",
                    fields={
                        "home_address": str(request.home_address),
                        "code": denial.code,
                        "reason": denial.detail,
                    },
                )
            )
        out += self._deny(request, packet, denial.code, now, lifetime=denial.lifetime)
        return out

    def _unauthenticated(
        self, request: AnyRequest, packet: ReceivedPacket, problem: str, now: float
    ) -> list[Action]:
        """RFC 5944 §3.7.2.1: a request failing MN-FA authentication is silently discarded
        (counted) and SHOULD get 67. Nothing of it is trusted, so it changes no state: no
        pending entry, and not the per-MN denial clock (a forged request must not silence
        a genuine denial). The 67 goes unsealed: sealing it with the MN-FA key would vouch
        for forged fields; an MN holding the SA discards it (§3.6.2.1 a) and an MN without
        one learns that the FA wants MN-FA authentication. These 67s are rate-limited on a
        clock of their own."""
        reason = (
            DropReason.MISSING_AUTHENTICATION
            if problem.startswith("no ")
            else DropReason.BAD_AUTHENTICATOR
        )
        out: list[Action] = [self._drop(reason, problem, packet)]
        key = request.home_address if not request.home_address.is_unspecified else packet.source
        last = self._last_auth_failure.get(key)
        if last is not None and now - last < self.config.denial_interval:
            return [*out, self._drop(DropReason.RATE_LIMITED, "denial 67", source=key)]
        self._last_auth_failure = _remember(
            self._last_auth_failure, key, now, self.config.denial_interval
        )
        reply = reply_to(request, ReplyCode.FA_MN_FAILED_AUTHENTICATION)
        out.append(
            self._address_to_mn(
                reply,
                ip_destination=packet.destination,
                source_port=packet.source_port,
                link_address=packet.link_source,
                interface=packet.interface,
            )
        )
        return out

    def _deny(
        self,
        request: AnyRequest,
        packet: ReceivedPacket,
        code: int,
        now: float,
        *,
        lifetime: int | None = None,
    ) -> list[Action]:
        """An FA-generated denial (RFC 5944 §3.7.2.3), at most one per second per MN."""
        reply = reply_to(request, code, lifetime=lifetime)
        key = request.home_address if not request.home_address.is_unspecified else packet.source
        return self._send_to_mn(
            reply,
            key=key,
            ip_destination=packet.destination,
            source_port=packet.source_port,
            link_address=packet.link_source,
            interface=packet.interface,
            now=now,
            rate_limited=True,
        )

    def _send_to_mn(
        self,
        reply: AnyReply,
        *,
        key: IPv4Address,
        ip_destination: IPv4Address,
        source_port: int,
        link_address: bytes | None,
        interface: str,
        now: float,
        rate_limited: bool,
    ) -> list[Action]:
        """Address a reply to the MN (RFC 5944 §3.7.2.3) with MN-FA authentication when
        shared (§3.7.3.2)."""
        cfg = self.config
        if rate_limited:
            last = self._last_denial.get(key)
            if last is not None and now - last < cfg.denial_interval:
                return [self._drop(DropReason.RATE_LIMITED, f"denial {reply.code}", source=key)]
            self._last_denial = _remember(self._last_denial, key, now, cfg.denial_interval)
        sa = cfg.mn_fa.get(reply.home_address)
        if sa is not None:
            reply = seal_with(reply, MobileForeignAuthentication, sa)
        return [
            self._address_to_mn(
                reply,
                ip_destination=ip_destination,
                source_port=source_port,
                link_address=link_address,
                interface=interface,
            )
        ]

    def _address_to_mn(
        self,
        reply: AnyReply,
        *,
        ip_destination: IPv4Address,
        source_port: int,
        link_address: bytes | None,
        interface: str,
    ) -> SendPacket:
        """The IP and UDP framing of a reply to the MN (RFC 5944 §3.7.2.3)."""
        cfg = self.config
        source = ip_destination
        if source in (ALL_MOBILITY_AGENTS, LIMITED_BROADCAST) or is_multicast(source):
            source = cfg.address
        destination = reply.home_address
        if destination.is_unspecified:
            destination = LIMITED_BROADCAST
        regional = isinstance(reply, RegionalRegistrationReply)
        return SendPacket(
            interface=interface or cfg.access_interface,
            source=source,
            destination=destination,
            protocol=PROTO_UDP,
            payload=reply.encode(),
            message="regional_registration_reply" if regional else "registration_reply",
            source_port=MOBILE_IP_PORT,
            destination_port=source_port,
            link_destination=link_address,
        )

    # ------------------------------------------------------------------ replies

    def _on_reply(self, reply: AnyReply, packet: ReceivedPacket, now: float) -> list[Action]:
        cfg = self.config
        regional = isinstance(reply, RegionalRegistrationReply)
        rec = self._records.get(reply.home_address)
        pending = None if rec is None else rec.pending
        if rec is None or pending is None or pending.regional != regional:
            # RFC 5944 §3.7.3.1: no matching pending request -> silently discard.
            return [self._drop(DropReason.NO_PENDING_REQUEST, str(reply.home_address), packet)]
        if low32(reply.identification) != low32(pending.identification):
            return [
                self._drop(DropReason.IDENTIFICATION_MISMATCH, f"{reply.identification:#x}", packet)
            ]
        if packet.source != pending.upstream:
            return [self._drop(DropReason.NOT_FOR_US, f"reply not from {pending.upstream}", packet)]
        problem: str | None = None
        if pending.upstream != pending.home_agent or regional:
            if cfg.gfa is not None:  # RFC 4857 §11: FA-FA between the FA and its GFA
                problem = check_single(
                    reply, GeneralizedAuthentication, cfg.gfa.security, fa_fa=True
                )
        else:
            ha_sa = cfg.fa_ha.get(reply.home_agent)
            if ha_sa is not None:  # RFC 5944 §3.7.3.1: exactly one valid FA-HA extension
                problem = check_single(reply, ForeignHomeAuthentication, ha_sa)
        if problem is not None:
            # §3.7.3.1: discard, and SHOULD send 68 to the MN. The pending entry stays: an
            # unauthenticated message changes no state.
            denial = reply_to(_request_of(pending), ReplyCode.FA_HA_FAILED_AUTHENTICATION)
            return [
                self._drop(DropReason.BAD_AUTHENTICATOR, problem, packet),
                *self._send_to_mn(
                    denial,
                    key=pending.home_address,
                    ip_destination=pending.ip_destination,
                    source_port=pending.source_port,
                    link_address=pending.link_address,
                    interface=pending.interface,
                    now=now,
                    rate_limited=True,
                ),
            ]
        rec.pending = None
        out: list[Action] = self._cancel_timer((PENDING_TIMER, reply.home_address))
        # §3.7.3.2: strip what follows the authorization-enabling extension.
        kept = keep_through_authorization(reply)
        relayed: AnyReply = reply
        if kept != reply.extensions:  # (unchanged: the decoded message itself is relayed)
            relayed = dataclasses.replace(reply, extensions=kept)
        out += self._send_to_mn(
            relayed,
            key=pending.home_address,
            ip_destination=pending.ip_destination,
            source_port=pending.source_port,
            link_address=pending.link_address,
            interface=pending.interface,
            now=now,
            rate_limited=False,
        )
        if ReplyCode.is_success(reply.code):
            if reply.lifetime == 0:
                out += self._remove_visitor(rec, "deregistered")
            else:
                out += self._install_visitor(rec, pending, reply, now)
        else:
            # §3.7.3.2: a denial deletes the pending entry, never the visitor entry.
            out.append(
                Notify(
                    event="registration-denied",
                    fields={"home_address": str(reply.home_address), "code": reply.code},
                )
            )
        self._forget_if_empty(rec)
        return out

    def _install_visitor(
        self, rec: VisitorRecord, pending: PendingRegistration, reply: AnyReply, now: float
    ) -> list[Action]:
        cfg = self.config
        # §3.7.3.2: min(granted, FA maximum), timed from when the reply is forwarded.
        lifetime = granted(reply.lifetime, cfg.registration_lifetime)
        previous = rec.visitor
        link = pending.link_address
        if link is None and previous is not None:
            link = previous.link_address
        entry = VisitorEntry(
            home_address=pending.home_address,
            link_address=link,
            home_agent=pending.home_agent if not pending.regional else reply.home_agent,
            care_of_address=pending.care_of_address,
            identification=reply.identification,
            lifetime=lifetime,
            expires_at=expiry(now, lifetime),
            reverse_tunnel=pending.reverse_tunnel,
            mode=pending.mode,
            encapsulating_delivery=pending.encapsulating_delivery,
            tunnel_peer=pending.upstream,
        )
        if pending.regional and previous is not None:
            entry = dataclasses.replace(entry, home_agent=previous.home_agent)
        rec.visitor = entry
        out: list[Action] = []
        if link is not None:
            out.append(
                SetVisitor(
                    home_address=entry.home_address,
                    interface=cfg.access_interface,
                    link_address=link,
                )
            )
        if entry.reverse_tunnel:
            # RFC 3024 §4.2.2: tunnel the visitor's packets from the CoA to the HA (RFC 4857
            # §6.2: to the GFA under regional registration).
            out.append(
                SetUplink(
                    home_address=entry.home_address,
                    mode=UplinkMode.REVERSE_TUNNEL,
                    tunnel_source=cfg.address,
                    tunnel_destination=entry.tunnel_peer,
                    tunnel_mode=entry.mode,
                )
            )
        else:
            out.append(SetUplink(home_address=entry.home_address, mode=UplinkMode.ROUTE))
        if entry.expires_at is not None:
            out.append(self._start_timer((VISITOR_TIMER, entry.home_address), entry.expires_at))
        else:
            out += self._cancel_timer((VISITOR_TIMER, entry.home_address))
        out.append(
            Notify(
                event="visitor-added",
                fields={
                    "home_address": str(entry.home_address),
                    "lifetime": lifetime,
                    "reverse_tunnel": entry.reverse_tunnel,
                },
            )
        )
        return out

    def _remove_visitor(self, rec: VisitorRecord, why: str) -> list[Action]:
        if rec.visitor is None:
            return []
        rec.visitor = None
        return [
            *self._cancel_timer((VISITOR_TIMER, rec.home_address)),
            RemoveVisitor(rec.home_address),
            Notify(
                event="visitor-removed",
                fields={"home_address": str(rec.home_address), "reason": why},
            ),
        ]

    def _forget_if_empty(self, rec: VisitorRecord) -> None:
        if rec.empty:
            self._records.pop(rec.home_address, None)

    # ------------------------------------------------------------------ ICMP errors

    def _on_unreachable(
        self, message: DestinationUnreachable, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        """RFC 5944 §3.7.3: an ICMP error instead of a reply -> a code in 80-95 to the MN.

        The quoted datagram names the pending request: its destination is where the FA
        relayed it and, when the quote reaches that far, its Home Address field (UDP
        payload offset 4) names the MN; otherwise the only request pending towards that
        destination is taken. ICMP is unauthenticated, so the pending entry stays (a forged
        error must not cancel a registration; the MN keeps retransmitting on these codes and
        a genuine reply is still relayed); the denial is rate-limited like every other.
        """
        try:
            quoted = message.original_header()
        except DecodeError as exc:
            return [self._drop(DropReason.MALFORMED, str(exc), packet)]
        body = message.original_datagram[quoted.header_length :]
        candidates = [
            rec
            for rec in self._records.values()
            if rec.pending is not None
            and rec.pending.upstream == quoted.destination
            and quoted.source == self.config.address
        ]
        if quoted.protocol == PROTO_UDP and len(body) >= 16:
            home = IPv4Address(body[12:16])  # UDP header (8) + Home Address at offset 4
            candidates = [rec for rec in candidates if rec.home_address == home]
        if len(candidates) != 1:
            return [self._drop(DropReason.NO_PENDING_REQUEST, "ICMP error for no request", packet)]
        rec = candidates[0]
        pending = rec.pending
        assert pending is not None
        code = _UNREACHABLE_CODES.get(message.code, ReplyCode.FA_HA_UNREACHABLE)
        reply = reply_to(_request_of(pending), code)
        return [
            Notify(
                event="registration-denied",
                fields={
                    "home_address": str(pending.home_address),
                    "code": int(code),
                    "reason": f"ICMP unreachable code {message.code}",
                },
            ),
            *self._send_to_mn(
                reply,
                key=pending.home_address,
                ip_destination=pending.ip_destination,
                source_port=pending.source_port,
                link_address=pending.link_address,
                interface=pending.interface,
                now=now,
                rate_limited=True,
            ),
        ]

    # ------------------------------------------------------------------ timers

    def _on_pending_timeout(self, key: TimerKey, now: float) -> list[Action]:
        home = key[1]
        assert isinstance(home, IPv4Address)
        rec = self._records.get(home)
        if rec is None or rec.pending is None:
            return []
        pending = rec.pending
        rec.pending = None
        self._forget_if_empty(rec)
        # RFC 5944 §3.7.1: delete after 7 s and SHOULD reply 78 (registration timeout).
        reply = reply_to(_request_of(pending), ReplyCode.FA_REGISTRATION_TIMEOUT)
        return [
            Notify(event="registration-timeout", fields={"home_address": str(home)}),
            *self._send_to_mn(
                reply,
                key=home,
                ip_destination=pending.ip_destination,
                source_port=pending.source_port,
                link_address=pending.link_address,
                interface=pending.interface,
                now=now,
                rate_limited=True,
            ),
        ]

    def _on_visitor_expired(self, key: TimerKey, now: float) -> list[Action]:
        home = key[1]
        assert isinstance(home, IPv4Address)
        rec = self._records.get(home)
        if rec is None:
            return []
        # RFC 5944 §3.7: the FA MUST NOT send anything because a lifetime expired.
        out = self._remove_visitor(rec, "expired")
        self._forget_if_empty(rec)
        return out


def _remember(
    clock: dict[IPv4Address, float], key: IPv4Address, now: float, interval: float
) -> dict[IPv4Address, float]:
    """Record a denial at ``now`` for ``key``, pruning entries older than ``interval`` once
    the clock holds ``_DENIAL_MEMORY`` of them (a flood of addresses cannot grow it)."""
    if len(clock) >= _DENIAL_MEMORY:
        clock = {k: t for k, t in clock.items() if now - t < interval}
    clock[key] = now
    return clock


def _request_of(pending: PendingRegistration) -> AnyRequest:
    """The fixed part of a pending request, to address an FA-generated reply."""
    cls: type[AnyRequest] = RegionalRegistrationRequest if pending.regional else RegistrationRequest
    return cls(
        lifetime=pending.requested_lifetime,
        home_address=pending.home_address,
        home_agent=pending.home_agent,
        care_of_address=pending.care_of_address,
        identification=pending.identification,
    )


__all__ = ["PENDING_TIMER", "VISITOR_TIMER", "ForeignAgentRegistration", "VisitorRecord"]
