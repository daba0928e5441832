"""PRE-REGISTRATION at the foreign agent (RFC 4881 §3, §8.1, §11).

Theory of operation
-------------------
An FA configured with :class:`~mip4.core.config.PreRegistrationConfig` plays three parts.

As the **oFA** it keeps a cache of its neighbours' advertisements (§3.4.1, §3.5): every
MIN_SOLICITATION_INTERVAL it sends each configured neighbour a unicast Agent Solicitation
carrying an LLA 140 sub-type 5 with the neighbour's address, inside transport-mode ESP with
HMAC-SHA1-96 (§3.4.1, §11), and caches the advertisement that comes back (also in ESP). An
L2-ST (§3.2, Figure 2) or a PrRtSol from an MN (§3.3, Figure 4: an Agent Solicitation with
an LLA sub-type 5 nFA address or sub-type 6 access point id, resolved through the
configured table, §3.4.1) makes it send the cached nFA advertisement to the MN as the
PrRtAdv: IP source the nFA, link-layer source the oFA, IP and link-layer destination the
MN, TTL 1 (§3.5, Appendix C). On a cache miss it solicits the nFA at once and sends the
PrRtAdv when the advertisement arrives (§3.4.1). A tunnelled nFA advertisement (tunnel-mode
ESP from a neighbour, §3.4.2) is decapsulated and forwarded on-link to the visitor.

As the **nFA** it answers authenticated inter-FA solicitations that name it with its own
advertisement carrying its access-link MAC in an LLA 140 (§3.1 step 1, §3.7); on L2-TT
(§3.2, Figure 3) it tunnels that advertisement to the MN through the oFA in tunnel-mode ESP
(§3.4.2). A low-latency Registration Request (one carrying an LLA 138, §3.1 step 4) arrives
routed through the oFA: the MN's MAC is taken from the LLA, never from the frame (§3.7), the
RFC 3024 TTL-255 check is replaced by a hop bound (docs/decisions.md), and the reply is
buffered until the MN connects — L2-LU at the nFA or the MN's Agent Solicitation — then
delivered (§3.1 step 4, §3.6). While that registration is still on its way to the HA, the
MN's solicitation gets no advertisement: the reply that follows answers it; so an MN that
hears the nFA answer without a reply knows its request was lost (see
:mod:`mip4.core.mn_pre_registration`).

Everywhere: an FA accepts no inter-FA solicitation or advertisement, and no tunnelled ICMP,
that is not authenticated (§3.4.1, §3.4.2): plain ones on the wired side are dropped as
``missing-authentication``, ESP with an unknown SPI as ``no-security-association``, a bad ICV
as ``bad-authenticator``, a replayed sequence number as ``replayed`` (RFC 4303 §3.4.3).
Trigger-caused advertisements (PrRtAdvs for L2-ST or a PrRtSol, tunnelled ones for L2-TT
at the nFA, and their relay on-link at the oFA) are limited to ``trigger_rate_limit`` per
second per FA, each copy counted as one; every advertisement over the limit is dropped and
counted (§11). A trigger that finds no valid cached advertisement takes its share of the
limit at once (it is what causes the advertisement, and no inter-FA solicitation follows a
refused one); the advertisement is charged to the second it goes out in.
No PRE-REGISTRATION is started when the nFA is this FA (§3.8).

With RFC 4721 challenges (``use_challenge``) every advertisement and relayed reply carries a
fresh challenge, remembered CHALLENGE_WINDOW at a time for this FA's link and for each
neighbour separately (§3.5: the nFA-oFA interface), so the challenge in an oFA's cache
stays valid for CHALLENGE_WINDOW of its solicitations; requests are checked for it (RFC
4721 §3.2: 105 missing, 104 unknown, 106 stale) and must carry MN-FA authentication.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from mip4.core.actions import (
    Action,
    DropReason,
    FlushBuffer,
    Notify,
    SendPacket,
    SetDuplicateFilter,
    SetForwardTunnel,
    StartBuffering,
    TimerKey,
)
from mip4.core.config import NeighbourFa, PreRegistrationConfig
from mip4.core.discovery import ADVERTISEMENT_TTL, Advertiser, next_sequence
from mip4.core.fa_registration import ForeignAgentRegistration
from mip4.core.packets import ReceivedPacket
from mip4.core.registration import (
    AnyReply,
    AnyRequest,
    Denied,
    after_authorization,
    check_single,
)
from mip4.core.triggers import FaIdentifier, LinkDown, LinkUp, SourceTrigger, TargetTrigger
from mip4.wire.errors import DecodeError
from mip4.wire.esp import (
    NEXT_HEADER_IPV4,
    AuthenticationError,
    EspMode,
    EspSecurityAssociation,
    ReplayedPacketError,
    ReplayWindow,
    esp_protect,
    esp_receive,
    peek_spi_and_sequence,
)
from mip4.wire.extensions import LinkLayerAddress, MnFaChallenge, MobileForeignAuthentication
from mip4.wire.icmp import (
    AgentAdvertisement,
    AgentSolicitation,
    Challenge,
    RouterDiscoveryLinkLayerAddress,
    decode_icmp,
)
from mip4.wire.ip import PROTO_ESP, PROTO_ICMP, IPv4Packet, build_ipv4
from mip4.wire.lla import AccessPointId, EthernetMac, Eui64, LlaValue, SolicitedIpv4Address
from mip4.wire.registration import ReplyCode

CHALLENGE_BYTES = 4  # RFC 4721 §2: at least 32 random bits
LOCAL = "local"  # the challenge window of this FA's own link
PRE_SOLICIT_TIMER = "pre-solicit"
PRE_BUFFER_TIMER = "pre-buffer"
RATE_WINDOW = 1.0  # RFC 4881 §11: the limit is per second


def link_address_of(value: LlaValue | None) -> bytes | None:
    """The link-layer address an LLA value carries (RFC 4881 §9.3, §9.4), or None."""
    if isinstance(value, EthernetMac):
        return value.mac
    if isinstance(value, Eui64):
        return value.eui64
    return None


def low_latency_lla(request: AnyRequest) -> bytes | None:
    """The MN's link-layer address from the LLA 138 of a low-latency request (§3.7)."""
    for ext in after_authorization(request):
        if isinstance(ext, LinkLayerAddress):
            mac = link_address_of(ext.value)
            if mac is not None:
                return mac
    return None


@dataclass(slots=True)
class CachedAdvertisement:
    """A neighbour's latest advertisement (RFC 4881 §3.5), as received."""

    advertisement: AgentAdvertisement
    payload: bytes
    received_at: float
    expires_at: float


@dataclass(slots=True)
class PreHandoff:
    """The nFA's state for one MN's low-latency registration (kept in ``VisitorRecord.handoff``)."""

    link_address: bytes
    identification: int
    buffered: list[SendPacket] = field(default_factory=list)


class ChallengeAdvertiser(Advertiser):
    """An :class:`Advertiser` whose every advertisement carries a fresh Challenge (RFC 4721
    §2), issued by ``issue`` (the FA remembers it in the right window)."""

    issue: Callable[[], bytes]

    def build(self) -> AgentAdvertisement:
        base = super().build()
        return dataclasses.replace(
            base, extensions=(*base.extensions, Challenge(challenge=self.issue()))
        )


class ForeignAgentPreRegistration(ForeignAgentRegistration):
    """The FA's PRE-REGISTRATION procedures; :class:`~mip4.core.foreign_agent.ForeignAgent`
    installs them when its configuration has ``pre_registration``."""

    advertiser: Advertiser  # built by ForeignAgent

    def _install_pre_registration(self) -> None:
        self._pre: PreRegistrationConfig | None = self.config.pre_registration
        self._cache: dict[IPv4Address, CachedAdvertisement] = {}
        # §3.4.1: the MNs waiting for a neighbour's advertisement after a cache miss, each
        # with the times the rate limit reserved its advertisements at (one per copy)
        self._waiting: dict[IPv4Address, dict[tuple[IPv4Address, bytes | None], list[float]]] = {}
        self._esp_sequence: dict[int, int] = {}
        self._esp_windows: dict[int, ReplayWindow] = {}
        self._inbound: dict[int, tuple[NeighbourFa, EspSecurityAssociation]] = {}
        # §11: when each trigger-caused advertisement of the last second went out (or was
        # reserved, waiting for the nFA's answer)
        self._advertised_at: collections.deque[float] = collections.deque()
        self._attached: set[bytes] = set()
        # smooth handoff (``buffer_data``, beyond RFC 4881): as the oFA, the nFA each MN was
        # last handed to and the MNs whose packets go there since their L2-LD; as the nFA,
        # the MNs whose packets are being held
        self._smooth_to: dict[IPv4Address, IPv4Address] = {}
        self._smooth_forwarding: set[IPv4Address] = set()
        self._holding: set[IPv4Address] = set()
        # RFC 4721 with PRE-REGISTRATION (§3.5): one window of CHALLENGE_WINDOW challenges
        # for this FA's link and one per neighbour (the nFA-oFA interface), the challenge
        # offered to each MN in its last reply, and the one each MN used last.
        self._windows: dict[str, collections.deque[bytes]] = {}
        self._window_key = LOCAL
        self._offered: dict[IPv4Address, bytes] = {}
        self._used: dict[IPv4Address, bytes] = {}
        pre = self._pre
        if pre is None:
            return
        if pre.use_challenge:
            old = self.advertiser
            advertiser = ChallengeAdvertiser(
                **{f.name: getattr(old, f.name) for f in dataclasses.fields(old)}
            )
            advertiser.issue = self._issue_challenge
            self.advertiser = advertiser
        for n in pre.neighbours:
            for sa in (n.esp_in, n.tunnel_in):
                if sa is not None:
                    self._inbound[sa.spi] = (n, sa)
        self._icmp_handlers[AgentSolicitation] = self._pre_on_solicitation
        self._icmp_handlers[AgentAdvertisement] = self._pre_on_advertisement
        self._trigger_handlers[SourceTrigger] = self._on_source_trigger
        self._trigger_handlers[TargetTrigger] = self._on_target_trigger
        self._trigger_handlers[LinkUp] = self._on_mn_link_up
        self._trigger_handlers[LinkDown] = self._on_mn_link_down
        self._timer_handlers[PRE_SOLICIT_TIMER] = self._on_pre_solicit_timer
        self._timer_handlers[PRE_BUFFER_TIMER] = self._on_buffer_timeout

    # ------------------------------------------------------------------ hooks (ForeignAgent)

    def _on_solicitation(
        self, message: AgentSolicitation, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        raise NotImplementedError

    def _on_advertisement(
        self, message: AgentAdvertisement, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        raise NotImplementedError

    # ------------------------------------------------------------------ views

    def cached_advertisement(self, address: IPv4Address) -> CachedAdvertisement | None:
        return self._cache.get(address)

    def pre_snapshot(self, now: float) -> dict[str, object]:
        return {
            "cache": {
                str(a): {"age": round(now - c.received_at, 6), "valid": c.expires_at > now}
                for a, c in sorted(self._cache.items())
            },
            "waiting": {str(a): len(w) for a, w in sorted(self._waiting.items()) if w},
            "attached": sorted(m.hex(":") for m in self._attached),
        }

    # ------------------------------------------------------------------ start, periodic

    def _pre_start(self, now: float) -> list[Action]:
        pre = self._pre
        if pre is None:
            return []
        out: list[Action] = []
        for neighbour in pre.neighbours:
            out += self._on_pre_solicit_timer((PRE_SOLICIT_TIMER, neighbour.address), now)
        return out

    def _on_pre_solicit_timer(self, key: TimerKey, now: float) -> list[Action]:
        """§3.5: solicit the neighbour each MIN_SOLICITATION_INTERVAL and cache its answer;
        the interval is the neighbour's (its challenge window and advertisement interval)."""
        pre = self._pre
        assert pre is not None
        address = key[1]
        assert isinstance(address, IPv4Address)
        neighbour = pre.neighbour(address)
        if neighbour is None:
            return []
        interval = pre.solicitation_interval(self.config.advertisement.interval, neighbour)
        return [*self._solicit(neighbour), self._start_timer(key, now + interval)]

    def _solicit(self, neighbour: NeighbourFa) -> list[Action]:
        """§3.1 step 1a, §3.4.1: a unicast Agent Solicitation naming the nFA, in ESP."""
        pre = self._pre
        assert pre is not None
        solicitation = AgentSolicitation(
            extensions=(
                RouterDiscoveryLinkLayerAddress(value=SolicitedIpv4Address(neighbour.address)),
            )
        ).encode()
        return [
            self._esp_send(
                neighbour.esp_out,
                neighbour.address,
                solicitation,
                PROTO_ICMP,
                "inter_fa_solicitation",
            )
            for _ in range(pre.solicitation_copies)  # §8.1.2: MAY send several copies
        ]

    # ------------------------------------------------------------------ ESP

    def _esp_send(
        self,
        sa: EspSecurityAssociation,
        destination: IPv4Address,
        inner: bytes,
        next_header: int,
        message: str,
    ) -> SendPacket:
        sequence = self._esp_sequence.get(sa.spi, 0) + 1  # RFC 4303 §3.3.3: 1 first
        self._esp_sequence[sa.spi] = sequence
        return SendPacket(
            interface=self.config.wired_interface,
            source=self.config.address,
            destination=destination,
            protocol=PROTO_ESP,
            payload=esp_protect(sa, sequence, inner, next_header),
            message=message,
        )

    def receive(self, packet: ReceivedPacket, now: float) -> list[Action]:
        if packet.protocol == PROTO_ESP:
            return self._receive_esp(packet, now)
        return super().receive(packet, now)

    def _receive_esp(self, packet: ReceivedPacket, now: float) -> list[Action]:
        """RFC 4303 §3.4 in order: SA by SPI, replay check, ICV, window update."""
        if self._pre is None:
            return [self._drop(DropReason.NOT_FOR_US, "ESP without PRE-REGISTRATION", packet)]
        try:
            spi, _ = peek_spi_and_sequence(packet.payload)
        except DecodeError as exc:
            return [self._drop(DropReason.MALFORMED, str(exc), packet)]
        found = self._inbound.get(spi)
        if found is None or found[0].address != packet.source:
            return [
                self._drop(
                    DropReason.NO_SECURITY_ASSOCIATION,
                    f"ESP SPI {spi:#x} from {packet.source}",
                    packet,
                )
            ]
        neighbour, sa = found
        window = self._esp_windows.get(spi, ReplayWindow())
        try:
            opened, window = esp_receive(sa, window, packet.payload)
        except ReplayedPacketError as exc:
            return [self._drop(DropReason.REPLAYED, str(exc), packet)]
        except AuthenticationError as exc:
            return [self._drop(DropReason.BAD_AUTHENTICATOR, str(exc), packet)]
        except DecodeError as exc:
            return [self._drop(DropReason.MALFORMED, str(exc), packet)]
        self._esp_windows[spi] = window  # only after the ICV verified (§3.4.3)
        if sa.mode is EspMode.TUNNEL:
            if opened.next_header != NEXT_HEADER_IPV4:
                return [self._drop(DropReason.MALFORMED, "tunnel SA, next header", packet)]
            return self._on_tunnelled(opened.payload, neighbour, packet, now)
        if opened.next_header != PROTO_ICMP:
            return [self._drop(DropReason.MALFORMED, "inter-FA ESP carries no ICMP", packet)]
        try:
            message = decode_icmp(opened.payload)
        except DecodeError as exc:
            return [self._drop(DropReason.MALFORMED, str(exc), packet)]
        if isinstance(message, AgentSolicitation):
            return self._on_inter_fa_solicitation(message, neighbour, packet)
        if isinstance(message, AgentAdvertisement):
            return self._on_inter_fa_advertisement(message, opened.payload, neighbour, now)
        return [self._drop(DropReason.UNEXPECTED_MESSAGE, type(message).__name__, packet)]

    # ------------------------------------------------------------------ nFA side

    def _issue_challenge(self) -> bytes:
        """A fresh challenge, remembered in the current window (RFC 4721 §2, §3.2)."""
        pre = self._pre
        assert pre is not None
        challenge = self._random.getrandbits(8 * CHALLENGE_BYTES).to_bytes(CHALLENGE_BYTES, "big")
        window = self._windows.get(self._window_key)
        if window is None:
            window = self._windows[self._window_key] = collections.deque(
                maxlen=pre.challenge_window
            )
        window.append(challenge)
        return challenge

    def _own_advertisement(self, neighbour: IPv4Address | None = None) -> bytes:
        """This FA's advertisement with its access-link MAC in an LLA 140 (§3.1, §3.7); a
        challenge in it goes to ``neighbour``'s window (§3.5: its own window for the
        nFA-oFA interface)."""
        self._window_key = LOCAL if neighbour is None else str(neighbour)
        try:
            base = self.advertiser.build()
        finally:
            self._window_key = LOCAL
        self.advertiser.sequence = next_sequence(self.advertiser.sequence)  # RFC 5944 §2.3.2
        lla = RouterDiscoveryLinkLayerAddress(value=EthernetMac(self.config.mac))
        return dataclasses.replace(base, extensions=(*base.extensions, lla)).encode()

    def _on_inter_fa_solicitation(
        self, message: AgentSolicitation, neighbour: NeighbourFa, packet: ReceivedPacket
    ) -> list[Action]:
        """§3.1 step 1: an authenticated solicitation naming this FA -> the PrRtAdv (1b)."""
        pre = self._pre
        assert pre is not None
        lla = message.lla
        named = (
            isinstance(lla, SolicitedIpv4Address) and lla.address in self.config.addresses
        ) or (isinstance(lla, AccessPointId) and lla.ap_id in pre.access_point_ids)
        if not named:
            return [self._drop(DropReason.NOT_FOR_US, "solicitation names another FA", packet)]
        return [
            self._esp_send(
                neighbour.esp_out,
                neighbour.address,
                self._own_advertisement(neighbour.address),
                PROTO_ICMP,
                "inter_fa_advertisement",
            )
        ]

    def _on_target_trigger(self, trigger: TargetTrigger, now: float) -> list[Action]:
        """§3.2, §3.4.2: L2-TT -> tunnel this FA's advertisement to the MN via the oFA."""
        pre = self._pre
        assert pre is not None
        old = self._resolve(trigger.old_fa)
        if old is None:
            return [self._drop(DropReason.BAD_TRIGGER, "L2-TT names an unknown oFA")]
        if old in self.config.addresses:
            return [self._not_applicable("L2-TT")]  # §3.8
        neighbour = pre.neighbour(old)
        if neighbour is None or neighbour.tunnel_out is None:
            return [self._drop(DropReason.NO_SECURITY_ASSOCIATION, f"no tunnel SA with {old}")]
        home = trigger.mn.home_address
        if home is None:
            return [self._drop(DropReason.UNKNOWN_MOBILE_NODE, "L2-TT without the MN's address")]
        copies = pre.advertisement_copies  # §8.1.1: MAY send several copies
        granted = self._rate_take(now, copies)
        out = self._rate_limited(copies - granted, "L2-TT", home)
        if not granted:
            return out
        # The inner advertisement is unicast nFA -> MN (§3.2), TTL 1 as delivered on-link.
        inner = build_ipv4(
            self.config.address, home, PROTO_ICMP, self._own_advertisement(), ttl=ADVERTISEMENT_TTL
        )
        tunnel_sa = neighbour.tunnel_out
        return [
            *out,
            *(
                self._esp_send(
                    tunnel_sa, old, inner, NEXT_HEADER_IPV4, "tunnelled_agent_advertisement"
                )
                for _ in range(granted)
            ),
            Notify(event="pre-tunnelled-advertisement", fields={"mn": str(home), "via": str(old)}),
        ]

    def _ttl_acceptable(self, request: AnyRequest, packet: ReceivedPacket) -> bool:
        """RFC 3024 §4.2.1 vs RFC 4881 §3.1 (digest §5.3, docs/decisions.md): a low-latency
        request is routed through the oFA, so it may have crossed up to
        ``low_latency_ttl_hops`` routers; every other request still needs TTL 255."""
        pre = self._pre
        if pre is not None and low_latency_lla(request) is not None:
            return 255 - pre.low_latency_ttl_hops <= packet.ttl <= 255
        return super()._ttl_acceptable(request, packet)

    def _on_request(self, request: AnyRequest, packet: ReceivedPacket, now: float) -> list[Action]:
        mac = low_latency_lla(request) if self._pre is not None else None
        if mac is None:
            return self._challenged_request(request, packet, now)
        rec = self._records.get(request.home_address)
        if rec is not None and (
            (rec.pending is not None and rec.pending.identification == request.identification)
            or (
                isinstance(rec.handoff, PreHandoff)
                and rec.handoff.identification == request.identification
            )
        ):
            # §3.4: a second copy of the low-latency request; relayed once only.
            return [
                self._drop(DropReason.REPLAYED, "copy of a pending low-latency request", packet)
            ]
        out = self._challenged_request(request, packet, now)
        rec = self._records.get(request.home_address)
        if rec is None or rec.pending is None or rec.pending.relayed_at != now:
            return out  # denied
        # §3.7: the MN's L2 address comes from the LLA, never from the frame; the reply
        # goes out on the access link.
        rec.pending = dataclasses.replace(
            rec.pending, link_address=mac, interface=self.config.access_interface
        )
        rec.handoff = PreHandoff(link_address=mac, identification=request.identification)
        out.append(
            Notify(
                event="low-latency-request",
                fields={"home_address": str(request.home_address), "ttl": packet.ttl},
            )
        )
        if mac not in self._attached:
            out += self._start_holding(request.home_address)
        return out

    # ------------------------------------------------------------------ smooth handoff

    def _start_holding(self, home: IPv4Address) -> list[Action]:
        """Smooth handoff (beyond RFC 4881 §3.1): hold the MN's packets from its low-latency
        request on (what the oFA forwards after L2-LD may come before the reply), and drop
        the copies the HA's bicast and the oFA's forwarding both bring."""
        pre = self._pre
        if pre is None or not pre.buffer_data:
            return []
        self._holding.add(home)
        return [
            StartBuffering(home_address=home, limit=pre.buffer_limit),
            SetDuplicateFilter(home_address=home, window=pre.duplicate_window),
        ]

    def _stop_holding(self, home: IPv4Address, *, discard: bool = False) -> list[Action]:
        """Release what was held for ``home`` in order (or discard it)."""
        if home not in self._holding:
            return []
        self._holding.discard(home)
        return [FlushBuffer(home_address=home, discard=discard)]

    def _smooth_handed(self, home: IPv4Address, new: IPv4Address) -> None:
        """As the oFA: ``home`` is being handed to ``new`` (PrRtAdv or tunnelled
        advertisement): forward to it what arrives after the MN's L2-LD."""
        pre = self._pre
        if pre is not None and pre.buffer_data:
            self._smooth_to[home] = new

    def _smooth_link_down(self, trigger: LinkDown) -> list[Action]:
        mn = trigger.mn
        pre = self._pre
        if mn is None or pre is None or not pre.buffer_data:
            return []
        home = mn.home_address
        if home is None:
            home = next(
                (
                    r.home_address
                    for r in self._records.values()
                    if r.visitor is not None and r.visitor.link_address == mn.link_address
                ),
                None,
            )
        if home is None:
            return []
        # The MN left: this FA no longer receives its bicast copies to filter.
        out: list[Action] = [SetDuplicateFilter(home_address=home, window=0)]
        new = self._smooth_to.pop(home, None)
        if new is not None:
            self._smooth_forwarding.add(home)
            out += [
                SetForwardTunnel(home_address=home, peer=new, tunnel_source=self.config.address),
                Notify(event="smooth-forwarding", fields={"mn": str(home), "to": str(new)}),
            ]
        return out

    def _smooth_link_up(self, home: IPv4Address | None) -> list[Action]:
        """The MN is back on this FA's link: stop forwarding it elsewhere."""
        if home is None or home not in self._smooth_forwarding:
            return []
        self._smooth_forwarding.discard(home)
        return [SetForwardTunnel(home_address=home, peer=None)]

    def _challenged_request(
        self, request: AnyRequest, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        """RFC 4721 §3.2 before the base checks, when challenges are in use."""
        pre = self._pre
        if pre is None or not pre.use_challenge:
            return super()._on_request(request, packet, now)
        home = request.home_address
        sa = self.config.mn_fa.get(home)
        if sa is None:
            # §3.2: a challenge needs MN-FA (or MN-AAA) authentication after it; without
            # an MN-FA SA nothing can authenticate it: silently discarded.
            return [self._drop(DropReason.MISSING_AUTHENTICATION, "no MN-FA SA", packet)]
        problem = check_single(request, MobileForeignAuthentication, sa)
        if problem is not None:
            # Authenticate before judging the challenge: a 104-106 denial is sealed with the
            # MN-FA key and must not vouch for a forged request (RFC 5944 §3.7.2.1).
            return self._unauthenticated(request, packet, problem, now)
        found = [e for e in after_authorization(request) if isinstance(e, MnFaChallenge)]
        rec = self._records.get(home)
        pending = rec is not None and rec.pending is not None
        denial: Denied | None = None
        if not found:
            denial = Denied(ReplyCode.FA_MISSING_CHALLENGE, "no MN-FA Challenge")
        else:
            challenge = found[0].challenge
            known = challenge == self._offered.get(home) or any(
                challenge in window for window in self._windows.values()
            )
            if challenge == self._used.get(home) and not pending:
                denial = Denied(ReplyCode.FA_STALE_CHALLENGE, "challenge used before")
            elif not known:
                denial = Denied(ReplyCode.FA_UNKNOWN_CHALLENGE, "challenge not issued here")
        if denial is not None:
            return self._refuse(request, packet, denial, now)
        out = super()._on_request(request, packet, now)
        rec = self._records.get(home)
        if rec is not None and rec.pending is not None and rec.pending.relayed_at == now:
            self._used[home] = found[0].challenge
        return out

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
        pre = self._pre
        if pre is not None and pre.use_challenge and reply.home_address in self.config.mn_fa:
            # RFC 4721 §3.3: a new challenge in the reply, for the MN's next request.
            self._window_key = LOCAL
            challenge = self._issue_challenge()
            self._offered[reply.home_address] = challenge
            reply = dataclasses.replace(
                reply, extensions=(*reply.extensions, MnFaChallenge(challenge=challenge))
            )
        return super()._send_to_mn(
            reply,
            key=key,
            ip_destination=ip_destination,
            source_port=source_port,
            link_address=link_address,
            interface=interface,
            now=now,
            rate_limited=rate_limited,
        )

    def _on_reply(self, reply: AnyReply, packet: ReceivedPacket, now: float) -> list[Action]:
        rec = self._records.get(reply.home_address)
        handoff = None if rec is None else rec.handoff
        out = super()._on_reply(reply, packet, now)
        if reply.home_address in self._holding and not reply.accepted:
            out += self._stop_holding(reply.home_address, discard=True)  # denied: not coming
        if rec is None or not isinstance(handoff, PreHandoff) or rec.pending is not None:
            return out
        if handoff.link_address in self._attached:
            rec.handoff = None  # the MN is already here: deliver at once
            self._forget_if_empty(rec)
            return out + self._stop_holding(rec.home_address)
        kept: list[Action] = []
        for action in out:
            if (
                isinstance(action, SendPacket)
                and action.interface == self.config.access_interface
                and action.message.endswith("registration_reply")
            ):
                handoff.buffered.append(action)  # §3.1 step 4: MUST be buffered
            else:
                kept.append(action)
        kept.append(
            Notify(
                event="registration-reply-buffered", fields={"home_address": str(rec.home_address)}
            )
        )
        if rec.home_address not in self._holding:
            # Beyond RFC 4881 (§3.1): hold the MN's packets with its reply.
            kept += self._start_holding(rec.home_address)
        timeout = self.config.pending_timeout
        kept.append(self._start_timer((PRE_BUFFER_TIMER, rec.home_address), now + timeout))
        return kept

    def _mn_connected(
        self, link_address: bytes | None, home: IPv4Address | None, now: float
    ) -> list[Action]:
        """L2-LU at the nFA, or the MN's Agent Solicitation (§3.6): deliver the reply."""
        if link_address is not None:
            self._attached.add(link_address)
        out: list[Action] = []
        for rec in list(self._records.values()):
            handoff = rec.handoff
            if not isinstance(handoff, PreHandoff):
                continue
            if handoff.link_address != link_address and rec.home_address != home:
                continue
            if not handoff.buffered and rec.pending is not None:
                continue  # the reply has not come yet; it goes out on arrival
            rec.handoff = None
            out += handoff.buffered
            out += self._cancel_timer((PRE_BUFFER_TIMER, rec.home_address))
            if handoff.buffered:
                out += self._stop_holding(rec.home_address)  # after the reply
            if handoff.buffered:
                out.append(
                    Notify(
                        event="buffered-reply-delivered",
                        fields={"home_address": str(rec.home_address)},
                    )
                )
            self._forget_if_empty(rec)
        return out

    def _reply_awaited(self, link_address: bytes | None, home: IPv4Address) -> bool:
        for rec in self._records.values():
            handoff = rec.handoff
            if (
                isinstance(handoff, PreHandoff)
                and rec.pending is not None
                and (handoff.link_address == link_address or rec.home_address == home)
            ):
                return True
        return False

    def _on_buffer_timeout(self, key: TimerKey, now: float) -> list[Action]:
        home = key[1]
        assert isinstance(home, IPv4Address)
        rec = self._records.get(home)
        if rec is None or not isinstance(rec.handoff, PreHandoff):
            return []
        rec.handoff = None
        self._forget_if_empty(rec)
        out: list[Action] = [
            self._drop(DropReason.STALE, "buffered reply: the MN never connected", source=home)
        ]
        return out + self._stop_holding(home, discard=True)

    def _on_mn_link_up(self, trigger: LinkUp, now: float) -> list[Action]:
        mn = trigger.mn
        if mn is None:
            return [self._drop(DropReason.BAD_TRIGGER, "L2-LU at an FA names no MN")]
        out = self._smooth_link_up(mn.home_address)
        return out + self._mn_connected(mn.link_address, mn.home_address, now)

    def _on_mn_link_down(self, trigger: LinkDown, now: float) -> list[Action]:
        if trigger.mn is not None:
            self._attached.discard(trigger.mn.link_address)
        return self._smooth_link_down(trigger)

    # ------------------------------------------------------------------ oFA side

    def _resolve(self, identifier: FaIdentifier) -> IPv4Address | None:
        """An FA identifier to an address (§3.4.1: the configured access-point table)."""
        pre = self._pre
        assert pre is not None
        if identifier.address is not None:
            return identifier.address
        ap = identifier.access_point_id
        if ap is None:
            return None
        if ap in pre.access_point_ids:
            return self.config.address
        return pre.resolve_access_point(ap)

    def _not_applicable(self, cause: str) -> Notify:
        # §3.8: "If ... the IPv4 address of the new FA matches oFA's address, then the
        # PRE-REGISTRATION handoff SHOULD NOT be initiated."
        return Notify(event="pre-registration-not-applicable", fields={"cause": cause})

    def _rate_take(self, now: float, wanted: int) -> int:
        """§11: how many of ``wanted`` trigger-caused advertisements may go out now (at most
        ``trigger_rate_limit`` in any second, every copy counted); charges them."""
        pre = self._pre
        assert pre is not None
        times = self._advertised_at
        while times and now - times[0] >= RATE_WINDOW:
            times.popleft()
        granted = max(0, min(wanted, pre.trigger_rate_limit - len(times)))
        times.extend([now] * granted)
        return granted

    def _rate_send(self, now: float, reserved_at: float) -> bool:
        """§11: an advertisement reserved at ``reserved_at`` goes out now: its charge moves
        to now (so no second holds more than the limit of sent ones), or, when the
        reservation has lapsed, it takes a new share if there is one."""
        times = self._advertised_at
        while times and now - times[0] >= RATE_WINDOW:
            times.popleft()
        if now - reserved_at < RATE_WINDOW and reserved_at in times:
            times.remove(reserved_at)
            times.append(now)
            return True
        return self._rate_take(now, 1) == 1

    def _rate_limited(self, count: int, what: str, home: IPv4Address | None) -> list[Action]:
        """§11: each advertisement over the limit is dropped and counted."""
        return [
            self._drop(DropReason.RATE_LIMITED, f"{what} advertisement", source=home)
            for _ in range(count)
        ]

    def _on_source_trigger(self, trigger: SourceTrigger, now: float) -> list[Action]:
        """§3.2, Figure 2: L2-ST -> the PrRtAdv to the MN."""
        new = self._resolve(trigger.new_fa)
        if new is None:
            return [self._drop(DropReason.BAD_TRIGGER, "L2-ST names an unknown nFA")]
        home = trigger.mn.home_address
        if home is None:
            home = next(
                (
                    r.home_address
                    for r in self._records.values()
                    if r.visitor is not None and r.visitor.link_address == trigger.mn.link_address
                ),
                None,
            )
        rec = None if home is None else self._records.get(home)
        if home is None or rec is None or rec.visitor is None:
            return [self._drop(DropReason.UNKNOWN_MOBILE_NODE, "L2-ST for no visitor", source=home)]
        mac = rec.visitor.link_address or trigger.mn.link_address
        return self._handoff_to(new, home, mac, now, "L2-ST")

    def _pre_on_solicitation(
        self, message: AgentSolicitation, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        if packet.interface != self.config.access_interface:
            # §3.4.1: inter-FA solicitations are accepted only inside ESP.
            return [
                self._drop(
                    DropReason.MISSING_AUTHENTICATION, "unauthenticated solicitation", packet
                )
            ]
        # §3.6: an Agent Solicitation from an MN is an L2-LU for it at the nFA.
        out = self._mn_connected(packet.link_source, packet.source, now)
        lla = message.lla
        if lla is None:
            if self._reply_awaited(packet.link_source, packet.source):
                # The MN's low-latency registration is still on its way to the HA: its
                # reply, which follows, is the answer (it switches the MN's default router,
                # §3.6); an advertisement now would only tell the MN the reply is lost.
                out.append(
                    Notify(event="solicitation-answer-deferred", fields={"mn": str(packet.source)})
                )
                return out
            return out + self._on_solicitation(message, packet, now)
        # §3.3, Figure 4: a PrRtSol names the nFA by address (sub-type 5) or access point (6).
        if isinstance(lla, SolicitedIpv4Address):
            new: IPv4Address | None = lla.address
        elif isinstance(lla, AccessPointId):
            new = self._resolve(FaIdentifier(access_point_id=lla.ap_id))
        else:
            return [*out, self._drop(DropReason.MALFORMED, "PrRtSol LLA sub-type", packet)]
        if new is None:
            return [*out, self._drop(DropReason.BAD_TRIGGER, "PrRtSol: unknown nFA", packet)]
        if packet.source.is_unspecified:
            return [*out, self._drop(DropReason.MALFORMED, "PrRtSol from 0.0.0.0", packet)]
        return out + self._handoff_to(new, packet.source, packet.link_source, now, "PrRtSol")

    def _pre_on_advertisement(
        self, message: AgentAdvertisement, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        if packet.interface != self.config.access_interface:
            # §3.4.1: inter-FA advertisements are accepted only inside ESP.
            return [
                self._drop(
                    DropReason.MISSING_AUTHENTICATION, "unauthenticated advertisement", packet
                )
            ]
        return self._on_advertisement(message, packet, now)

    def _handoff_to(
        self, new: IPv4Address, home: IPv4Address, mac: bytes | None, now: float, cause: str
    ) -> list[Action]:
        pre = self._pre
        assert pre is not None
        if new in self.config.addresses:
            return [self._not_applicable(cause)]
        neighbour = pre.neighbour(new)
        if neighbour is None:
            return [self._drop(DropReason.NO_SECURITY_ASSOCIATION, f"{new} is no neighbour")]
        copies = pre.advertisement_copies  # §8.1.1: MAY send several copies
        granted = self._rate_take(now, copies)
        out = self._rate_limited(copies - granted, cause, home)
        if not granted:
            return out  # no advertisement, no inter-FA solicitation: nothing changes
        cached = self._cache.get(new)
        if cached is not None and cached.expires_at > now:
            return out + self._proxy(cached, new, home, mac, granted)
        # §3.4.1: no (valid) cached advertisement -> solicit the nFA now; the advertisements
        # this trigger caused go out when its answer comes.
        self._waiting.setdefault(new, {}).setdefault((home, mac), []).extend([now] * granted)
        return [
            *out,
            Notify(event="inter-fa-cache-miss", fields={"nfa": str(new), "mn": str(home)}),
            *self._solicit(neighbour),
        ]

    def _proxy(
        self,
        cached: CachedAdvertisement,
        new: IPv4Address,
        home: IPv4Address,
        mac: bytes | None,
        copies: int,
    ) -> list[Action]:
        """§3.5, Appendix C: the PrRtAdv — IP source nFA, L2 source oFA, TTL 1 — in
        ``copies`` copies (already charged to the rate limit)."""
        self._smooth_handed(home, new)
        send = SendPacket(
            interface=self.config.access_interface,
            source=new,
            destination=home,
            protocol=PROTO_ICMP,
            payload=cached.payload,
            message="proxy_router_advertisement",
            ttl=ADVERTISEMENT_TTL,
            link_destination=mac,
            link_source=self.config.mac,
        )
        return [send] * copies

    def _on_inter_fa_advertisement(
        self, message: AgentAdvertisement, raw: bytes, neighbour: NeighbourFa, now: float
    ) -> list[Action]:
        """§3.5: cache the neighbour's advertisement; serve MNs waiting for it."""
        pre = self._pre
        assert pre is not None
        if message.mobility_extension is None or link_address_of(message.lla) is None:
            return [
                self._drop(
                    DropReason.MALFORMED,
                    "inter-FA advertisement without MAAE and LLA",
                    source=neighbour.address,
                )
            ]
        if pre.cache_lifetime is not None:
            lifetime = pre.cache_lifetime
        elif message.challenge is not None:
            # §3.5: the nFA's challenge in it must still be valid when the MN uses it: the
            # nFA's CHALLENGE_WINDOW times the nFA's advertisement interval.
            lifetime = pre.challenge_validity(self.config.advertisement.interval, neighbour)
        else:
            lifetime = float(message.lifetime)
        cached = self._cache[neighbour.address] = CachedAdvertisement(
            advertisement=message, payload=raw, received_at=now, expires_at=now + lifetime
        )
        out: list[Action] = []
        for (home, mac), reserved in self._waiting.pop(neighbour.address, {}).items():
            sent = sum(self._rate_send(now, at) for at in reserved)
            out += self._rate_limited(len(reserved) - sent, "cache-miss", home)
            if sent:
                out += self._proxy(cached, neighbour.address, home, mac, sent)
        return out

    def _on_tunnelled(
        self, inner: bytes, neighbour: NeighbourFa, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        """§3.2, §3.4.2: decapsulate the nFA's advertisement and forward it on-link."""
        try:
            datagram = IPv4Packet.decode(inner)
            message = decode_icmp(datagram.payload)
        except DecodeError as exc:
            return [self._drop(DropReason.MALFORMED, f"tunnelled: {exc}", packet)]
        header = datagram.header
        if header.source != neighbour.address or not isinstance(message, AgentAdvertisement):
            return [self._drop(DropReason.NOT_FOR_US, "tunnelled packet is not nFA ICMP", packet)]
        rec = self._records.get(header.destination)
        mac = None if rec is None or rec.visitor is None else rec.visitor.link_address
        if mac is None:
            return [self._drop(DropReason.UNKNOWN_MOBILE_NODE, str(header.destination), packet)]
        if not self._rate_take(now, 1):
            # §11: the oFA relays at most the limit to its MNs, whichever nFAs tunnel them.
            return self._rate_limited(1, "tunnelled", header.destination)
        self._smooth_handed(header.destination, header.source)
        return [
            SendPacket(
                interface=self.config.access_interface,
                source=header.source,
                destination=header.destination,
                protocol=PROTO_ICMP,
                payload=datagram.payload,
                message="proxy_router_advertisement",
                ttl=ADVERTISEMENT_TTL,
                link_destination=mac,
                link_source=self.config.mac,
            )
        ]


__all__ = [
    "PRE_BUFFER_TIMER",
    "PRE_SOLICIT_TIMER",
    "CachedAdvertisement",
    "ForeignAgentPreRegistration",
    "PreHandoff",
    "link_address_of",
    "low_latency_lla",
]
