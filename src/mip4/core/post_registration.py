"""POST-REGISTRATION at the foreign agent (RFC 4881 §4, §7, §8.2).

Theory of operation
-------------------
An FA configured with :class:`~mip4.core.config.PostRegistrationConfig` keeps one
:class:`Bet` per mobile node it is handing off, driven by a transition table
(:data:`TRANSITIONS`: (phase, event) -> handler and the phases it may lead to). The FA
holding the network end of a BET is the *anchor* (the oFA of a two-party handoff, the aFA
of a three-party one); the FA delivering to the MN is the *serving* FA (the nFA).

Two-party handoff (§4.1, Figures 7 and 8). L2-ST at the oFA sends an HRqst(s) (H; T when
it offers both directions; B when the MN registered with a reverse tunnel to its HA, §7;
M/G for its encapsulation; its BET lifetime offer; the MN's home and HA addresses; LLAs with
the MN's L2 address and the oFA's address). The nFA answers HRply(s) with the lifetime it
wants, at most the offer, and T when the oFA offered it or ingress filtering forces it.
L2-TT at the nFA sends an HRqst(t) (N; T and the reverse lifetime it asks, else 0; LLAs);
the oFA answers HRply(t) with its maximum lifetime, T when it offers both directions, B when
the nFA asked no reverse tunnel and the MN had one to its HA, the MN's addresses and L2
address. A lifetime the nFA sends above the offer counts as the offer (§4.6); 0 refuses.

The anchor starts the forward tunnel (:class:`SetForwardTunnel`) on L2-LD, or at once when
the agreement comes after the MN left (an L2-LD before the reply is due, ``reply_timeout``,
waits for it: §4.1, "the HRply can act as the trigger"). The serving FA on L2-LU installs
delivery (:class:`SetVisitor`), the uplink (:class:`SetUplink`: reverse tunnel to the anchor
when T was agreed both ways, to the HA with B, else routed), the proxy ARP for the anchor's
address (:class:`SetProxyArp`) and sends the MN the unicast proxy ARP Reply that points its
ARP entry for the anchor at the nFA's MAC (:class:`AnnounceProxyArp`, §4.1 step 4b). No
Mobile IP message is sent to the MN: it defers its registration (§4.4). Both ends time the
BET (``bet-expiry``); the serving FA asks the anchor to renew with an HRqst(r) at
``renew_fraction`` of it (§4.3, Figure 12); the anchor grants at most its own maximum. The
BET ends on expiry, on an HRqst(r) with lifetime 0 from either end, when the MN registers
through the serving FA (it then sends the lifetime-0 HRqst(r); from the relayed request on
it tunnels the MN's uplink to the HA directly), or when the MN comes back to the anchor
(ping-pong, §4.1 step 6: the tunnel is cancelled and delivery goes on as before). Whenever
the serving FA loses a tunnel it sends the MN an Agent Advertisement (§4.4 event 1, §8.2.2),
at once if the MN is on its link, else on L2-LU.

Three-party handoff (§4.2, Figures 10 and 11). The serving FA (now the oFA) that gets
L2-ST sends an HTT (type 16, H and N, no tunnel bits, LLA sub-type 5 with the aFA's address
then the MN's LLA); one that gets an HRqst(t) answers with an HTT (type 17) carrying the
same. The nFA answers an HTT request with an HRply(s), then (unless it is the aFA itself,
§4.2 step 6) runs HRqst(t)/HRply(t) with the aFA. The aFA moves the BET to the nFA right
after its HRply(t) (``anchor_policy = "earliest"``) or on the oFA's lifetime-0 HRqst(r)
(``"latest"``). The oFA sends that HRqst(r) on L2-LD. An FA the MN registers with while
handing it over (or just after it left) is its anchor from then on (§4.1 step 4c) and
re-anchors the handoff with an HRqst(s) to the third FA, which drops its state for the old
anchor.

Security: every HRqst, HRply and HTT carries the FA-FA authentication extension (type 36,
sub-type 2, HMAC-MD5) with the neighbour's SA; one received from an FA with no SA, without
exactly one such extension, with a wrong SPI or authenticator, or (requests) with an
Identification timestamp that is not newer than the last one accepted from that FA or is
outside ``replay_skew``, is dropped and counted and changes nothing. Replies must match the
Identification of a request still outstanding.

Failure recovery (§8.2). HRqst(s) or its HRply lost: the oFA builds no forward tunnel and
on L2-LD sends a lifetime-0 HRqst(r), retransmitted with exponential backoff for
CONFIG-HFAIL or until answered (:class:`Cancel`), and drops what the nFA reverse-tunnels
meanwhile (:class:`RefuseReverseTunnel`); the nFA answers even for a BET it never heard of
and advertises to the MN. HRqst(t) or its HRply lost: the nFA builds nothing,
advertises on L2-LU and sends the oFA an ICMP Destination Unreachable for the tunnel, on
which the oFA stops tunnelling. An ICMP Destination Unreachable for a BET received by the
serving FA cancels it and advertises.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from mip4.core.actions import (
    Action,
    AnnounceProxyArp,
    Dropped,
    DropReason,
    FlushBuffer,
    Notify,
    RefuseReverseTunnel,
    RemoveVisitor,
    SendPacket,
    SetForwardTunnel,
    SetProxyArp,
    SetUplink,
    SetVisitor,
    StartBuffering,
    TimerKey,
    TunnelMode,
    UplinkMode,
)
from mip4.core.config import PostRegistrationConfig
from mip4.core.discovery import ADVERTISEMENT_TTL, Advertiser, next_sequence
from mip4.core.fa_registration import ForeignAgentRegistration
from mip4.core.packets import LIMITED_BROADCAST, UNSPECIFIED, ReceivedPacket
from mip4.core.registration import AnyReply, AnyRequest
from mip4.core.replay import LOW32
from mip4.core.security import NTP_UNIX_OFFSET, SecurityAssociation, ntp_timestamp
from mip4.core.triggers import LinkDown, LinkUp, SourceTrigger, TargetTrigger
from mip4.wire.auth import seal, verify
from mip4.wire.errors import DecodeError
from mip4.wire.extensions import (
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    LinkLayerAddress,
)
from mip4.wire.handoff import (
    INFINITE_HANDOFF_LIFETIME,
    HandoffCode,
    HandoffFlags,
    HandoffReply,
    HandoffRequest,
    HandoffVariant,
)
from mip4.wire.icmp import DestinationUnreachable, UnreachableCode
from mip4.wire.ip import PROTO_GRE, PROTO_ICMP, PROTO_IPIP, PROTO_MINIMAL, PROTO_UDP, build_ipv4
from mip4.wire.lla import EthernetMac, Eui64, FaIpv4Address, SolicitedIpv4Address
from mip4.wire.messages import MOBILE_IP_PORT

BET_REPLY_TIMER = "bet-reply"
BET_EXPIRY_TIMER = "bet-expiry"
BET_RENEW_TIMER = "bet-renew"
BET_CANCEL_TIMER = "bet-cancel"
TUNNEL_PROTOCOLS = frozenset({PROTO_IPIP, PROTO_GRE, PROTO_MINIMAL})
_MEMORY = 64  # answered Identifications remembered per FA, to name replayed replies


class Phase(enum.Enum):
    """Where one MN's handoff stands at this FA."""

    # anchor side: this FA holds the network end (the oFA, or the aFA)
    SOURCE_REQUESTED = "source-requested"  # HRqst(s) sent, no HRply(s) yet
    SOURCE_UNANSWERED = "source-unanswered"  # no HRply(s) in time: cancel at L2-LD (§8.2)
    ANCHOR_AGREED = "anchor-agreed"  # BET agreed; the forward tunnel waits for L2-LD
    FORWARDING = "forwarding"  # the forward tunnel to the serving FA is on
    # serving side: this FA delivers to the MN (the nFA, the current FA)
    TARGET_REQUESTED = "target-requested"  # HRqst(t) sent, no HRply(t) yet
    UNCONFIRMED = "unconfirmed"  # HRqst(t) unanswered in time: advertise on L2-LU (§8.2)
    SERVING_AGREED = "serving-agreed"  # BET agreed; delivery waits for L2-LU
    DELIVERING = "delivering"  # delivering to the MN, uplink through the BET
    HANDING_OVER = "handing-over"  # HTT exchanged: the MN is moving on to a third FA


class Event(enum.Enum):
    """What can happen to one MN's handoff."""

    L2_ST = "L2-ST"
    L2_TT = "L2-TT"
    L2_LD = "L2-LD"
    L2_LU = "L2-LU"
    HRQST_S = "HRqst(s)"
    HRQST_T = "HRqst(t)"
    HRQST_R = "HRqst(r)"
    HTT_REQUEST = "HTT(request)"
    HTT_REPLY = "HTT(reply)"
    HRPLY_S = "HRply(s)"
    HRPLY_T = "HRply(t)"
    REPLY_TIMEOUT = "reply-timeout"
    EXPIRY = "expiry"
    RENEW = "renew"
    REGISTERED = "registered"
    UNREACHABLE = "unreachable"


_P = Phase
_E = Event
_END = None  # the record is gone
_SERVING = (Phase.SERVING_AGREED, Phase.DELIVERING)

TRANSITIONS: dict[tuple[Phase | None, Event], tuple[str, frozenset[Phase | None]]] = {
    # two-party, source-triggered (Figure 7)
    (None, _E.L2_ST): ("_start_source", frozenset({_P.SOURCE_REQUESTED, _END})),
    (None, _E.HRQST_S): ("_accept_source", frozenset({_P.SERVING_AGREED, _P.DELIVERING, _END})),
    (_P.SOURCE_REQUESTED, _E.HRPLY_S): (
        "_source_answered",
        frozenset({_P.ANCHOR_AGREED, _P.FORWARDING, _END}),
    ),
    (_P.SOURCE_UNANSWERED, _E.HRPLY_S): (
        "_source_answered",
        frozenset({_P.ANCHOR_AGREED, _P.FORWARDING, _END}),
    ),
    # §8.2: L2-LD before the reply is due waits for it (§4.1: the HRply then acts as the
    # trigger); an overdue reply means no tunnel and the lifetime-0 HRqst at L2-LD.
    (_P.SOURCE_REQUESTED, _E.REPLY_TIMEOUT): (
        "_source_overdue",
        frozenset({_P.SOURCE_UNANSWERED, _END}),
    ),
    (_P.SOURCE_UNANSWERED, _E.L2_LD): ("_cancel_unconfirmed", frozenset({_END})),
    (_P.SOURCE_UNANSWERED, _E.L2_LU): ("_cancel_unconfirmed", frozenset({_END})),
    (_P.SOURCE_UNANSWERED, _E.EXPIRY): ("_cancel_unconfirmed", frozenset({_END})),
    # two-party, target-triggered (Figure 8)
    (None, _E.L2_TT): ("_start_target", frozenset({_P.TARGET_REQUESTED, _END})),
    (None, _E.HRQST_T): ("_accept_target", frozenset({_P.ANCHOR_AGREED, _P.FORWARDING, _END})),
    (_P.TARGET_REQUESTED, _E.HRPLY_T): (
        "_target_answered",
        frozenset({_P.SERVING_AGREED, _P.DELIVERING, _END}),
    ),
    (_P.UNCONFIRMED, _E.HRPLY_T): (
        "_target_answered",
        frozenset({_P.SERVING_AGREED, _P.DELIVERING, _END}),
    ),
    (_P.TARGET_REQUESTED, _E.REPLY_TIMEOUT): (
        "_target_unconfirmed",
        frozenset({_P.UNCONFIRMED, _END}),
    ),
    (_P.UNCONFIRMED, _E.L2_LU): ("_target_failed", frozenset({_END})),
    (_P.UNCONFIRMED, _E.EXPIRY): ("_forget", frozenset({_END})),
    # the BET in place
    (_P.ANCHOR_AGREED, _E.L2_LD): ("_start_forwarding", frozenset({_P.FORWARDING})),
    (_P.ANCHOR_AGREED, _E.L2_LU): ("_anchor_back", frozenset({_END})),
    (_P.FORWARDING, _E.L2_LU): ("_anchor_back", frozenset({_END})),  # §4.1 step 6, §4.2 step 6
    (_P.ANCHOR_AGREED, _E.REGISTERED): ("_anchor_back", frozenset({_END})),
    (_P.FORWARDING, _E.REGISTERED): ("_anchor_back", frozenset({_END})),
    (_P.ANCHOR_AGREED, _E.HRQST_R): ("_anchor_renewal", frozenset({_P.ANCHOR_AGREED, _END})),
    (_P.FORWARDING, _E.HRQST_R): ("_anchor_renewal", frozenset({_P.FORWARDING, _END})),
    (_P.ANCHOR_AGREED, _E.EXPIRY): ("_anchor_expired", frozenset({_END})),
    (_P.FORWARDING, _E.EXPIRY): ("_anchor_expired", frozenset({_END})),
    (_P.FORWARDING, _E.UNREACHABLE): ("_anchor_unreachable", frozenset({_END})),
    (_P.ANCHOR_AGREED, _E.UNREACHABLE): ("_anchor_unreachable", frozenset({_END})),
    (_P.SERVING_AGREED, _E.L2_LU): ("_start_delivering", frozenset({_P.DELIVERING})),
    (_P.SERVING_AGREED, _E.HRQST_R): ("_serving_cancelled", frozenset({_P.SERVING_AGREED, _END})),
    (_P.DELIVERING, _E.HRQST_R): ("_serving_cancelled", frozenset({_P.DELIVERING, _END})),
    (_P.HANDING_OVER, _E.HRQST_R): ("_serving_cancelled", frozenset({_P.HANDING_OVER, _END})),
    (_P.SERVING_AGREED, _E.EXPIRY): ("_serving_expired", frozenset({_END})),
    (_P.DELIVERING, _E.EXPIRY): ("_serving_expired", frozenset({_END})),
    (_P.HANDING_OVER, _E.EXPIRY): ("_serving_expired", frozenset({_END})),
    (_P.DELIVERING, _E.RENEW): ("_renew", frozenset({_P.DELIVERING})),
    (_P.DELIVERING, _E.REGISTERED): ("_serving_registered", frozenset({_END})),
    (_P.SERVING_AGREED, _E.REGISTERED): ("_serving_registered", frozenset({_END})),
    (_P.HANDING_OVER, _E.REGISTERED): (
        "_serving_registered",
        frozenset({_END, _P.SOURCE_REQUESTED}),
    ),
    # a new anchor (the MN registered elsewhere, §4.1 step 4c) replaces the handoff state
    (_P.TARGET_REQUESTED, _E.HRQST_S): ("_accept_source_anew", frozenset({*_SERVING, _END})),
    (_P.UNCONFIRMED, _E.HRQST_S): ("_accept_source_anew", frozenset({*_SERVING, _END})),
    (_P.SERVING_AGREED, _E.HRQST_S): ("_accept_source_anew", frozenset({*_SERVING, _END})),
    (_P.FORWARDING, _E.HRQST_S): ("_accept_source_anew", frozenset({*_SERVING, _END})),
    (_P.DELIVERING, _E.UNREACHABLE): ("_serving_unreachable", frozenset({_END})),
    (_P.DELIVERING, _E.L2_LD): ("_serving_departed", frozenset({_END})),
    # three-party (Figures 10 and 11)
    (_P.DELIVERING, _E.L2_ST): ("_start_third_source", frozenset({_P.HANDING_OVER})),
    (_P.DELIVERING, _E.HRQST_T): ("_answer_third_target", frozenset({_P.HANDING_OVER})),
    (_P.HANDING_OVER, _E.HRPLY_S): ("_third_confirmed", frozenset({_P.HANDING_OVER})),
    (_P.HANDING_OVER, _E.L2_LD): ("_serving_departed", frozenset({_END})),
    (None, _E.HTT_REQUEST): ("_accept_third", frozenset({_P.TARGET_REQUESTED, _END})),
    (_P.FORWARDING, _E.HTT_REQUEST): ("_accept_third", frozenset({_P.FORWARDING})),
    (_P.TARGET_REQUESTED, _E.HTT_REPLY): (
        "_third_named",
        frozenset({_P.TARGET_REQUESTED, _P.UNCONFIRMED, _END}),
    ),
    (_P.FORWARDING, _E.L2_TT): ("_start_target_at_anchor", frozenset({_P.FORWARDING})),
    (_P.FORWARDING, _E.HTT_REPLY): ("_third_named", frozenset({_P.FORWARDING})),
    (_P.FORWARDING, _E.HRQST_T): ("_anchor_moves", frozenset({_P.FORWARDING})),
}
"""(phase, event) -> (handler, the phases it may lead to); None is "no record". A pair not
listed is ignored (a trigger) or dropped as unexpected and counted (a message)."""


@dataclass(slots=True)
class Bet:
    """One MN's handoff state at this FA (see :class:`Phase`)."""

    home_address: IPv4Address
    link_address: bytes
    phase: Phase
    peer: IPv4Address  # the other end: the serving FA (anchor side) or the anchor
    home_agent: IPv4Address = UNSPECIFIED
    lifetime: int = 0
    expires_at: float | None = None
    reverse: bool = False  # the reverse direction of the BET is agreed (T both ways)
    to_home_agent: bool = False  # B: tunnel the uplink to the HA (§4.1)
    mode: TunnelMode = TunnelMode.IP_IN_IP  # the encapsulation this FA uses for its end
    peer_mode: TunnelMode = TunnelMode.IP_IN_IP  # the encapsulation the peer uses
    offered: int = 0  # anchor: the lifetime offered in the HRqst(s)
    reverse_offered: bool = False  # B/T bookkeeping: what this FA asked or offered
    next_peer: IPv4Address | None = None  # aFA, latest policy: the nFA the BET moves to
    previous_peer: IPv4Address | None = None  # aFA, earliest policy: the oFA until HRqst(r)
    third: IPv4Address | None = None  # HANDING_OVER: the nFA
    anchor: IPv4Address | None = None  # HANDING_OVER: the aFA
    returning: bool = False  # aFA: the MN is coming back (§4.2 step 6)
    agreed_at: float | None = None  # anchor: when the BET was agreed (``max_bet_time``)
    home_known: bool = True  # False: keyed by a provisional address until the HRply(t)
    outstanding: set[int] = field(default_factory=set)

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "phase": self.phase.value,
            "peer": str(self.peer),
            "lifetime": self.lifetime,
            "lifetime_remaining": None
            if self.expires_at is None
            else round(max(0.0, self.expires_at - now), 6),
            "reverse": self.reverse,
            "to_home_agent": self.to_home_agent,
        }


@dataclass(slots=True)
class Cancel:
    """A lifetime-0 HRqst(r) retransmitted with exponential backoff until an HRply(r) or
    CONFIG-HFAIL (§8.2.2)."""

    home_address: IPv4Address
    peer: IPv4Address
    link_address: bytes
    started: float
    interval: float
    identifications: set[int] = field(default_factory=set)
    refusing: bool = False  # the oFA drops what the nFA reverse-tunnels meanwhile (§8.2.2)


def _mode_flags(mode: TunnelMode) -> HandoffFlags:
    if mode is TunnelMode.MINIMAL:
        return HandoffFlags.M
    if mode is TunnelMode.GRE:
        return HandoffFlags.G
    return HandoffFlags.NONE


def _mode_of(flags: HandoffFlags) -> TunnelMode | None:
    """The encapsulation M/G name (None: both set, which no tunnel can honour)."""
    minimal, gre = bool(flags & HandoffFlags.M), bool(flags & HandoffFlags.G)
    if minimal and gre:
        return None
    if minimal:
        return TunnelMode.MINIMAL
    return TunnelMode.GRE if gre else TunnelMode.IP_IN_IP


def mn_link_address(message: HandoffRequest | HandoffReply) -> bytes | None:
    """The MN's L2 address from the message's LLAs (RFC 4881 §4.5, §9.3, §9.4)."""
    for ext in message.extensions:
        if isinstance(ext, LinkLayerAddress):
            if isinstance(ext.value, EthernetMac):
                return ext.value.mac
            if isinstance(ext.value, Eui64):
                return ext.value.eui64
    return None


def anchor_address(message: HandoffRequest | HandoffReply) -> IPv4Address | None:
    """The aFA an HTT names: its first extension, an LLA sub-type 5 (§4.7), followed by
    the MN's LLA; None when the HTT does not have them in that order."""
    exts = message.extensions
    if len(exts) < 2:
        return None
    first, second = exts[0], exts[1]
    if not (isinstance(first, LinkLayerAddress) and isinstance(first.value, SolicitedIpv4Address)):
        return None
    if not (isinstance(second, LinkLayerAddress) and isinstance(second.value, EthernetMac | Eui64)):
        return None
    return first.value.address


def provisional_key(mac: bytes) -> IPv4Address:
    """A stand-in for an MN's unknown home address: 0.x.y.z from its L2 address."""
    return IPv4Address(b"\x00" + mac[-3:])


def is_provisional(address: IPv4Address) -> bool:
    return address.packed[0] == 0


def grant(requested: int, maximum: int) -> int:
    """A lifetime no larger than ``maximum`` (0xFFFF is infinity, §4.5)."""
    if requested == INFINITE_HANDOFF_LIFETIME:
        return maximum
    return min(requested, maximum)


class ForeignAgentPostRegistration(ForeignAgentRegistration):
    """The FA's POST-REGISTRATION procedures; :class:`~mip4.core.foreign_agent.ForeignAgent`
    installs them when its configuration has ``post_registration``."""

    advertiser: Advertiser  # built by ForeignAgent

    def _install_post_registration(self) -> None:
        self._post: PostRegistrationConfig | None = self.config.post_registration
        self._bets: dict[IPv4Address, Bet] = {}
        self._cancels: dict[tuple[IPv4Address, IPv4Address], Cancel] = {}
        self._outstanding: dict[int, IPv4Address] = {}  # our request Identification -> MN
        self._answered: list[int] = []  # recently matched reply Identifications
        self._last_from: dict[IPv4Address, int] = {}  # newest request Identification per FA
        self._last_identification = 0
        self._present: set[bytes] = set()  # MNs on the access link (L2-LU .. L2-LD)
        self._departed: set[bytes] = set()  # MNs that left the access link (L2-LD .. L2-LU)
        self._advertise_later: dict[bytes, IPv4Address] = {}  # MAC -> home: on L2-LU
        self._expected: set[bytes] = set()  # MNs returning here (§4.2 step 6)
        self._handed_to: dict[IPv4Address, IPv4Address] = {}  # MN -> the FA it left for
        post = self._post
        if post is None:
            return
        self._control_handlers[HandoffRequest] = self._on_handoff_request
        self._control_handlers[HandoffReply] = self._on_handoff_reply
        for purpose in (BET_REPLY_TIMER, BET_EXPIRY_TIMER, BET_RENEW_TIMER, BET_CANCEL_TIMER):
            self._timer_handlers[purpose] = self._on_bet_timer
        # RFC 4881 §4 vs §3: L2-ST and L2-TT drive POST-REGISTRATION unless the combined
        # method is configured (then they drive PRE-REGISTRATION, §5); L2-LU and L2-LD
        # always reach both.
        handlers = self._trigger_handlers
        pre_tt = handlers.get(TargetTrigger)
        pre_lu, pre_ld = handlers.get(LinkUp), handlers.get(LinkDown)
        if post.combined:
            handlers[TargetTrigger] = _both(pre_tt, self._combined_target_trigger)
        else:
            handlers[SourceTrigger] = self._post_source_trigger
            handlers[TargetTrigger] = self._post_target_trigger
        handlers[LinkUp] = _both(pre_lu, self._post_link_up)
        handlers[LinkDown] = _both(pre_ld, self._post_link_down)

    # ------------------------------------------------------------------ hooks

    def _combined_target_trigger(self, trigger: TargetTrigger, now: float) -> list[Action]:
        """§5: the combined method's timer (:mod:`mip4.core.combined`)."""
        return []

    # ------------------------------------------------------------------ views

    def bet(self, home_address: IPv4Address) -> Bet | None:
        return self._bets.get(home_address)

    def post_snapshot(self, now: float) -> dict[str, object]:
        return {
            "bets": {str(h): b.to_dict(now) for h, b in sorted(self._bets.items())},
            "cancelling": sorted(f"{h}->{p}" for h, p in self._cancels),
        }

    # ------------------------------------------------------------------ the machine

    def _step(self, home: IPv4Address, event: Event, *args: object) -> list[Action] | None:
        """Run the transition for ``event``; None when the table has no row for it."""
        bet = self._bets.get(home)
        row = TRANSITIONS.get((None if bet is None else bet.phase, event))
        if row is None:
            return None
        name, allowed = row
        handler: Callable[..., list[Action]] = getattr(self, name)
        before = None if bet is None else bet.phase
        out = handler(home, bet, *args)
        after = self._bets.get(home)
        phase = None if after is None else after.phase
        assert phase in allowed, f"{name}: {phase} not in {allowed}"
        if after is None and bet is not None:
            out += self._clear_timers(home)
        if self._cfg.buffer_data:
            out += self._smooth(bet if bet is not None else after, before)
        return out

    def _smooth(self, bet: Bet | None, before: Phase | None) -> list[Action]:
        """Smooth handoff (beyond RFC 4881 §4.1): the serving FA holds what the BET brings
        from the agreement (SERVING_AGREED) until L2-LU (DELIVERING), then delivers it in
        order; a BET that ends before the MN arrives discards it."""
        if bet is None:
            return []
        home = bet.home_address
        current = self._bets.get(home)
        phase = bet.phase if current is bet else None  # re-keyed records keep the object
        agreed = Phase.SERVING_AGREED
        if phase is agreed and before is not agreed:
            return [StartBuffering(home_address=home, limit=self._cfg.buffer_limit)]
        if before is agreed and phase is not agreed:
            return [FlushBuffer(home_address=home, discard=phase is not Phase.DELIVERING)]
        return []

    def _set(self, bet: Bet, phase: Phase) -> None:
        bet.phase = phase
        self._bets[bet.home_address] = bet

    def _end(self, home: IPv4Address) -> None:
        bet = self._bets.pop(home, None)
        if bet is not None:
            for ident in bet.outstanding:
                self._outstanding.pop(ident, None)

    def _rekey(self, bet: Bet, home: IPv4Address) -> IPv4Address:
        """The HRply(t) (or HTT) named the MN: key its record by the home address now."""
        self._bets.pop(bet.home_address, None)
        bet.home_address = home
        bet.home_known = True
        self._bets[home] = bet
        for ident in bet.outstanding:
            self._outstanding[ident] = home
        return home

    def _clear_timers(self, home: IPv4Address) -> list[Action]:
        out: list[Action] = []
        for purpose in (BET_REPLY_TIMER, BET_EXPIRY_TIMER, BET_RENEW_TIMER):
            out += self._cancel_timer((purpose, home))
        return out

    def _find_home(self, mac: bytes, home: IPv4Address | None) -> IPv4Address | None:
        given = home is not None and not home.is_unspecified
        if given and home in self._bets:
            return home
        for bet in self._bets.values():
            if bet.link_address == mac:
                return bet.home_address
        if given:
            return home
        for rec in self._records.values():
            if rec.visitor is not None and rec.visitor.link_address == mac:
                return rec.home_address
        return None

    def _on_link(self, mac: bytes, home: IPv4Address) -> bool:
        """The MN is on this FA's access link: L2-LU seen, or a visitor not seen leaving."""
        if mac in self._present:
            return True
        return mac not in self._departed and self._registered_here(home)

    def _registered_here(self, home: IPv4Address) -> bool:
        rec = self._records.get(home)
        return rec is not None and rec.visitor is not None

    # ------------------------------------------------------------------ messages out

    @property
    def _cfg(self) -> PostRegistrationConfig:
        post = self._post
        assert post is not None
        return post

    def _identification(self, now: float) -> int:
        """A fresh Identification (RFC 5944 §5.7.1 timestamps, as §4.5 asks), increasing."""
        value = max(self._last_identification + 1, ntp_timestamp(now, self._random))
        self._last_identification = value
        return value

    def _sa(self, peer: IPv4Address) -> SecurityAssociation | None:
        return self._cfg.neighbours.get(peer)

    def _send(
        self, peer: IPv4Address, message: HandoffRequest | HandoffReply, name: str
    ) -> SendPacket:
        """Seal with the FA-FA extension (RFC 4881 §4.5, §4.6, RFC 4857 §11) and send."""
        sa = self._sa(peer)
        assert sa is not None
        template = GeneralizedAuthentication(
            subtype=int(GeneralizedAuthSubtype.FA_FA), spi=sa.spi, authenticator=b""
        )
        sealed = seal(message, template, sa.key)
        return SendPacket(
            interface=self.config.wired_interface,
            source=self.config.address,
            destination=peer,
            protocol=PROTO_UDP,
            payload=sealed.encode(),
            message=name,
            source_port=MOBILE_IP_PORT,
            destination_port=MOBILE_IP_PORT,
        )

    def _request(
        self,
        bet: Bet,
        flags: HandoffFlags,
        lifetime: int,
        name: str,
        now: float,
        *,
        extensions: tuple[LinkLayerAddress, ...] | None = None,
        peer: IPv4Address | None = None,
    ) -> SendPacket:
        ident = self._identification(now)
        bet.outstanding.add(ident)
        self._outstanding[ident] = bet.home_address
        if extensions is None:
            # §4.5: the MN's L2 address, and an address for this FA (digest §9.7: MN's first).
            extensions = (
                LinkLayerAddress(value=EthernetMac(bet.link_address)),
                LinkLayerAddress(value=FaIpv4Address(self.config.address)),
            )
        message = HandoffRequest(
            flags=flags,
            lifetime=lifetime,
            mn_home_address=bet.home_address if bet.home_known else UNSPECIFIED,
            ha_address=bet.home_agent,
            identification=ident,
            extensions=extensions,
        )
        return self._send(peer or bet.peer, message, name)

    def _reply(
        self,
        request: HandoffRequest,
        peer: IPv4Address,
        flags: HandoffFlags,
        lifetime: int,
        name: str,
        *,
        code: int = HandoffCode.SUCCESS,
        home_agent: IPv4Address | None = None,
        home_address: IPv4Address | None = None,
        extensions: tuple[LinkLayerAddress, ...] = (),
    ) -> SendPacket:
        message = HandoffReply(
            flags=flags,
            code=code,
            lifetime=0 if code != HandoffCode.SUCCESS else lifetime,  # §4.6: SHOULD be 0
            mn_home_address=request.mn_home_address if home_address is None else home_address,
            ha_address=request.ha_address if home_agent is None else home_agent,
            identification=request.identification,  # digest §9.7: copied, matched on it
            extensions=extensions,
        )
        return self._send(peer, message, name)

    def _arm_reply_timer(self, home: IPv4Address, now: float) -> Action:
        return self._start_timer((BET_REPLY_TIMER, home), now + self._cfg.reply_timeout)

    def _arm_expiry(self, bet: Bet, lifetime: int, now: float, *, renew: bool) -> list[Action]:
        bet.lifetime = lifetime
        out: list[Action] = []
        if lifetime == INFINITE_HANDOFF_LIFETIME:
            bet.expires_at = None
            out += self._cancel_timer((BET_EXPIRY_TIMER, bet.home_address))
            out += self._cancel_timer((BET_RENEW_TIMER, bet.home_address))
            return out
        bet.expires_at = now + lifetime
        out.append(self._start_timer((BET_EXPIRY_TIMER, bet.home_address), bet.expires_at))
        if renew:
            point = now + lifetime * self._cfg.renew_fraction
            out.append(self._start_timer((BET_RENEW_TIMER, bet.home_address), point))
        return out

    def _advertise(self, home: IPv4Address, mac: bytes, why: str) -> list[Action]:
        """A unicast Agent Advertisement to the MN (§4.4, §8.2): now if it is on the access
        link, else as soon as it arrives (L2-LU)."""
        if not self._on_link(mac, home):
            self._advertise_later[mac] = home
            return [Notify(event="advertisement-deferred", fields={"mn": str(home), "why": why})]
        self._advertise_later.pop(mac, None)
        if is_provisional(home):
            home = LIMITED_BROADCAST  # the MN's address is unknown: its L2 address suffices
        advertisement = self.advertiser.build()
        self.advertiser.sequence = next_sequence(self.advertiser.sequence)  # RFC 5944 §2.3.2
        return [
            SendPacket(
                interface=self.config.access_interface,
                source=self.config.address,
                destination=home,
                protocol=PROTO_ICMP,
                payload=advertisement.encode(),
                message="agent_advertisement",
                ttl=ADVERTISEMENT_TTL,
                link_destination=mac,
                link_source=self.config.mac,
            ),
            Notify(event="post-advertisement", fields={"mn": str(home), "why": why}),
        ]

    def _start_cancel(
        self, bet: Bet, now: float, why: str, *, refuse: bool = False
    ) -> list[Action]:
        """A lifetime-0 HRqst(r) to the peer, retransmitted until answered (§4.3, §8.2.2);
        with ``refuse`` the MN's packets reverse-tunnelled by the peer are dropped until
        then (§8.2.2: "the oFA MUST also drop any packets received through the reverse
        tunnel from the nFA")."""
        if self._sa(bet.peer) is None:
            return []
        cancel = Cancel(
            home_address=bet.home_address,
            peer=bet.peer,
            link_address=bet.link_address,
            started=now,
            interval=self._cfg.retransmit_initial,
            refusing=refuse,
        )
        out = self._drop_cancel(bet.home_address, bet.peer, keep_refusing=refuse)
        self._cancels[(bet.home_address, bet.peer)] = cancel
        if refuse:
            out.append(
                RefuseReverseTunnel(home_address=bet.home_address, peer=bet.peer, enabled=True)
            )
        return [
            *out,
            *self._send_cancel(cancel, now),
            Notify(
                event="bet-cancel",
                fields={"mn": str(bet.home_address), "peer": str(bet.peer), "why": why},
            ),
        ]

    def _unrefuse(self, home: IPv4Address, peer: IPv4Address) -> list[Action]:
        """A new agreement with the same nFA: its reverse tunnel is wanted again."""
        cancel = self._cancels.get((home, peer))
        if cancel is None or not cancel.refusing:
            return []
        cancel.refusing = False
        return [RefuseReverseTunnel(home_address=home, peer=peer, enabled=False)]

    def _drop_cancel(
        self, home: IPv4Address, peer: IPv4Address, *, keep_refusing: bool = False
    ) -> list[Action]:
        """Forget the cancel towards ``peer`` for ``home`` (answered, abandoned, replaced or
        overtaken by a new BET), and stop refusing the peer's reverse tunnel."""
        cancel = self._cancels.pop((home, peer), None)
        if cancel is None:
            return []
        for ident in cancel.identifications:
            self._outstanding.pop(ident, None)
        out = self._cancel_timer((BET_CANCEL_TIMER, home, peer))
        if cancel.refusing and not keep_refusing:
            out.append(RefuseReverseTunnel(home_address=home, peer=peer, enabled=False))
        return out

    def _send_cancel(self, cancel: Cancel, now: float) -> list[Action]:
        ident = self._identification(now)
        cancel.identifications.add(ident)
        self._outstanding[ident] = cancel.home_address
        message = HandoffRequest(
            flags=HandoffFlags.R,
            lifetime=0,
            mn_home_address=cancel.home_address,
            ha_address=UNSPECIFIED,
            identification=ident,
            extensions=(
                LinkLayerAddress(value=EthernetMac(cancel.link_address)),
                LinkLayerAddress(value=FaIpv4Address(self.config.address)),
            ),
        )
        key: TimerKey = (BET_CANCEL_TIMER, cancel.home_address, cancel.peer)
        deadline = min(now + cancel.interval, cancel.started + self._cfg.config_hfail)
        return [
            self._send(cancel.peer, message, "handoff_request_r"),
            self._start_timer(key, deadline),
        ]

    # ------------------------------------------------------------------ data plane

    def _forward_on(self, bet: Bet) -> Action:
        return SetForwardTunnel(
            home_address=bet.home_address,
            peer=bet.peer,
            tunnel_source=self.config.address,
            tunnel_mode=bet.mode,
        )

    def _forward_off(self, bet: Bet) -> Action:
        return SetForwardTunnel(home_address=bet.home_address, peer=None)

    def _delivery_on(self, bet: Bet) -> list[Action]:
        """§4.1 step 4b: deliver, forward the uplink, proxy-ARP for the anchor.

        The MN keeps the anchor as its default router (§4.4) and its ARP entry for it: "to
        receive all outbound packets from the MN the nFA must send a unicast proxy ARP
        message ... to the MN upon receiving an L2-LU trigger" (:class:`AnnounceProxyArp`,
        sent when delivery starts: at L2-LU, or at the agreement if the MN came first).
        :class:`SetProxyArp` also answers the MN's ARP requests for the anchor (an entry it
        lost, a lost announcement) until the BET ends."""
        home = bet.home_address
        access = self.config.access_interface
        uplink = self._bet_uplink(bet)
        return [
            SetVisitor(home_address=home, interface=access, link_address=bet.link_address),
            uplink,
            SetProxyArp(address=bet.peer, interface=access, enabled=True),
            AnnounceProxyArp(
                address=bet.peer,
                interface=access,
                link_source=self.config.mac,
                link_destination=bet.link_address,
                mobile_node=home,
            ),
            Notify(
                event="bet-delivering",
                fields={"mn": str(home), "anchor": str(bet.peer), "uplink": uplink.mode.value},
            ),
        ]

    def _bet_uplink(self, bet: Bet) -> SetUplink:
        """§4.1 step 4b: reverse-tunnel to the anchor (T agreed both ways), to the HA (B), or
        route."""
        cfg = self._cfg
        home = bet.home_address
        if bet.reverse:
            uplink = SetUplink(
                home_address=home,
                mode=UplinkMode.REVERSE_TUNNEL,
                tunnel_source=self.config.address,
                tunnel_destination=bet.peer,
                tunnel_mode=bet.mode,
            )
        elif bet.to_home_agent and cfg.reverse_to_home_agent and not bet.home_agent.is_unspecified:
            uplink = SetUplink(
                home_address=home,
                mode=UplinkMode.REVERSE_TUNNEL,
                tunnel_source=self.config.address,
                tunnel_destination=bet.home_agent,
                tunnel_mode=bet.mode,
            )
        else:
            uplink = SetUplink(home_address=home, mode=UplinkMode.ROUTE)
        return uplink

    def _delivery_off(self, bet: Bet, anchor: IPv4Address) -> list[Action]:
        """The BET's serving end is gone: no proxy ARP, no delivery unless the MN is
        registered here, and the uplink no longer tunnelled to the anchor (the visitor's
        own uplink again, RFC 3024 §4.2.2, or routed; none once the MN has left the link
        without a visitor entry here: RemoveVisitor ends it)."""
        out: list[Action] = [
            SetProxyArp(address=anchor, interface=self.config.access_interface, enabled=False)
        ]
        home = bet.home_address
        rec = self._records.get(home)
        visitor = None if rec is None else rec.visitor
        pending = None if rec is None else rec.pending
        if visitor is None:
            out.append(RemoveVisitor(home))
            if not self._on_link(bet.link_address, home):
                return out
            if pending is not None and pending.reverse_tunnel:
                # RemoveVisitor ended the uplink a registration under way set (_on_request)
                out.append(
                    SetUplink(
                        home_address=home,
                        mode=UplinkMode.REVERSE_TUNNEL,
                        tunnel_source=self.config.address,
                        tunnel_destination=pending.upstream,
                        tunnel_mode=pending.mode,
                    )
                )
                return out
        elif pending is not None:
            return out  # a registration under way set the uplink already (_on_request)
        if visitor is not None and visitor.reverse_tunnel:
            out.append(
                SetUplink(
                    home_address=bet.home_address,
                    mode=UplinkMode.REVERSE_TUNNEL,
                    tunnel_source=self.config.address,
                    tunnel_destination=visitor.tunnel_peer,
                    tunnel_mode=visitor.mode,
                )
            )
        else:
            out.append(SetUplink(home_address=bet.home_address, mode=UplinkMode.ROUTE))
        return out

    # ------------------------------------------------------------------ triggers

    def _post_source_trigger(self, trigger: SourceTrigger, now: float) -> list[Action]:
        new = trigger.new_fa.address
        if new is None:
            return [self._drop(DropReason.BAD_TRIGGER, "L2-ST names no nFA address")]
        if new in self.config.addresses:
            return []
        home = self._find_home(trigger.mn.link_address, trigger.mn.home_address)
        if home is None:
            return [self._drop(DropReason.UNKNOWN_MOBILE_NODE, "L2-ST for no visitor")]
        out = self._step(home, Event.L2_ST, trigger, new, now)
        return [] if out is None else out

    def _post_target_trigger(self, trigger: TargetTrigger, now: float) -> list[Action]:
        old = trigger.old_fa.address
        if old is None:
            return [self._drop(DropReason.BAD_TRIGGER, "L2-TT names no oFA address")]
        if old in self.config.addresses:
            return []
        return self._target_trigger(trigger.mn.link_address, trigger.mn.home_address, old, now)

    def _target_trigger(
        self, mac: bytes, home: IPv4Address | None, old: IPv4Address, now: float
    ) -> list[Action]:
        """L2-TT (or the combined method's timer, §5): an HRqst(t) to ``old``."""
        if self._sa(old) is None:
            return [self._drop(DropReason.NO_SECURITY_ASSOCIATION, f"no FA-FA SA with {old}")]
        known = self._find_home(mac, home)
        if known is None:
            # §4.1 step 2b: the nFA need not know the home address (the HRqst(t) carries
            # 0.0.0.0 and the MN's L2 address); the record is keyed by a provisional address
            # from 0.0.0.0/8 (never a home address) until the HRply(t) names the MN.
            known = provisional_key(mac)
        out = self._step(known, Event.L2_TT, mac, old, now)
        return [] if out is None else out

    def _post_link_down(self, trigger: LinkDown, now: float) -> list[Action]:
        mn = trigger.mn
        if mn is None:
            return []
        self._present.discard(mn.link_address)
        self._departed.add(mn.link_address)
        home = self._find_home(mn.link_address, mn.home_address)
        if home is None:
            return []
        return self._step(home, Event.L2_LD, now) or []

    def _post_link_up(self, trigger: LinkUp, now: float) -> list[Action]:
        mn = trigger.mn
        if mn is None:
            return []
        self._present.add(mn.link_address)
        self._departed.discard(mn.link_address)
        home = self._find_home(mn.link_address, mn.home_address)
        out: list[Action] = []
        informed = home is not None and home in self._bets
        if home is not None:
            self._handed_to.pop(home, None)
        if mn.link_address in self._expected:
            self._expected.discard(mn.link_address)
            informed = True
        if home is not None:
            out += self._step(home, Event.L2_LU, now) or []
        later = self._advertise_later.pop(mn.link_address, None)
        if later is not None:
            out += self._advertise(later, mn.link_address, "tunnel cancelled before L2-LU")
        elif home is not None and not informed and not self._cfg.combined:
            # §8.2.1: an nFA not informed of the handoff MUST unicast an advertisement (a
            # visitor entry here may be stale: the MN may have registered elsewhere since).
            out += self._advertise(home, mn.link_address, "no handoff signalled")
        return out

    # ------------------------------------------------------------------ messages in

    def _authentic(
        self, message: HandoffRequest | HandoffReply, packet: ReceivedPacket, now: float
    ) -> Dropped | None:
        """RFC 4881 §4 and §4.5-4.6: FA-FA authentication from a configured neighbour."""
        sa = self._sa(packet.source)
        if sa is None:
            return self._drop(
                DropReason.NO_SECURITY_ASSOCIATION, f"no FA-FA SA with {packet.source}", packet
            )
        indexes = [
            i
            for i, e in enumerate(message.extensions)
            if isinstance(e, GeneralizedAuthentication)
            and e.subtype == GeneralizedAuthSubtype.FA_FA
        ]
        if not indexes:
            return self._drop(DropReason.MISSING_AUTHENTICATION, "no FA-FA authentication", packet)
        if len(indexes) > 1 or indexes[0] != len(message.extensions) - 1:
            return self._drop(DropReason.MALFORMED, "FA-FA authentication not once, last", packet)
        ext = message.extensions[indexes[0]]
        assert isinstance(ext, GeneralizedAuthentication)
        if ext.spi != sa.spi or not verify(message, indexes[0], sa.key):
            return self._drop(DropReason.BAD_AUTHENTICATOR, "FA-FA authenticator", packet)
        return None

    def _fresh(self, request: HandoffRequest, packet: ReceivedPacket, now: float) -> Dropped | None:
        """RFC 5944 §5.7.1 applied to HRqst (§4.5 "Identification as defined in [1]")."""
        ident = request.identification
        stamp = (ident >> 32) - NTP_UNIX_OFFSET + (ident & LOW32) / (1 << 32)
        last = self._last_from.get(packet.source)
        if abs(stamp - now) > self._cfg.replay_skew or (last is not None and ident <= last):
            return self._drop(DropReason.REPLAYED, f"Identification {ident:#x}", packet)
        return None

    def _on_handoff_request(
        self, request: HandoffRequest, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        problem = self._authentic(request, packet, now) or self._fresh(request, packet, now)
        if problem is not None:
            return [problem]
        variant = request.variant
        mac = mn_link_address(request)
        if mac is None and variant is not HandoffVariant.RENEWAL:
            return [self._drop(DropReason.MALFORMED, "HRqst without the MN's LLA", packet)]
        event = {
            HandoffVariant.SOURCE: Event.HRQST_S,
            HandoffVariant.TARGET: Event.HRQST_T,
            HandoffVariant.RENEWAL: Event.HRQST_R,
            HandoffVariant.HANDOFF_TO_THIRD: Event.HTT_REQUEST,
        }[variant]
        home = request.mn_home_address
        if mac is not None:
            found = self._find_home(mac, None if home.is_unspecified else home)
            if found is not None:
                home = found
        if home.is_unspecified:
            out: list[Action] = [
                self._drop(DropReason.UNKNOWN_MOBILE_NODE, "HRqst names no MN", packet)
            ]
            if variant is HandoffVariant.TARGET:
                out += [self._reply_failure(request, packet, HandoffFlags.N, "handoff_reply_t")]
            self._last_from[packet.source] = request.identification
            return out
        self._last_from[packet.source] = request.identification  # authenticated and fresh
        result = self._step(home, event, request, packet, now)
        if result is not None:
            return result
        if event is Event.HRQST_R:
            return self._unknown_termination(request, packet, home, now)
        if event is Event.HRQST_T:
            return [
                self._drop(DropReason.UNKNOWN_MOBILE_NODE, "HRqst(t) for no visitor", packet),
                self._reply_failure(request, packet, HandoffFlags.N, "handoff_reply_t"),
            ]
        if event is Event.HRQST_S or event is Event.HTT_REQUEST:
            return [
                self._drop(DropReason.UNEXPECTED_MESSAGE, f"{event.value} now", packet),
                self._reply_failure(request, packet, HandoffFlags.H, "handoff_reply_s"),
            ]
        return [self._drop(DropReason.UNEXPECTED_MESSAGE, f"{event.value} now", packet)]

    def _reply_failure(
        self, request: HandoffRequest, packet: ReceivedPacket, flags: HandoffFlags, name: str
    ) -> SendPacket:
        return self._reply(request, packet.source, flags, 0, name, code=HandoffCode.GENERIC_FAILURE)

    def _unknown_termination(
        self, request: HandoffRequest, packet: ReceivedPacket, home: IPv4Address, now: float
    ) -> list[Action]:
        """An HRqst(r) for no BET here (§8.2.2: e.g. the HRqst(s) was lost): acknowledge it,
        and if it cancels, advertise to the MN (it may be here, or arrive later)."""
        out: list[Action] = [
            self._reply(request, packet.source, HandoffFlags.R, 0, "handoff_reply_r")
        ]
        mac = mn_link_address(request)
        if request.lifetime == 0 and mac is not None and not self._registered_here(home):
            out += self._advertise(home, mac, "tunnel cancelled")
        return out

    def _on_handoff_reply(
        self, reply: HandoffReply, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        problem = self._authentic(reply, packet, now)
        if problem is not None:
            return [problem]
        ident = reply.identification
        home = self._outstanding.pop(ident, None)
        if home is None:
            reason = (
                DropReason.REPLAYED if ident in self._answered else DropReason.NO_PENDING_REQUEST
            )
            return [self._drop(reason, f"HRply {ident:#x}", packet)]
        self._answered.append(ident)
        del self._answered[:-_MEMORY]
        cancel = self._cancels.get((home, packet.source))
        if cancel is not None and ident in cancel.identifications:
            return self._cancel_answered(cancel, reply, now)
        bet = self._bets.get(home)
        if (
            bet is None
            or ident not in bet.outstanding
            or packet.source not in (bet.peer, bet.third)
        ):
            return [self._drop(DropReason.NO_PENDING_REQUEST, f"HRply {ident:#x}", packet)]
        bet.outstanding.discard(ident)
        variant = reply.variant
        if variant is HandoffVariant.RENEWAL:
            return self._renewed(bet, reply, now)
        event = {
            HandoffVariant.SOURCE: Event.HRPLY_S,
            HandoffVariant.TARGET: Event.HRPLY_T,
            HandoffVariant.HANDOFF_TO_THIRD: Event.HTT_REPLY,
        }[variant]
        out = self._step(home, event, reply, packet, now)
        if out is None:
            return [self._drop(DropReason.UNEXPECTED_MESSAGE, f"{event.value} now", packet)]
        return out

    def _cancel_answered(self, cancel: Cancel, reply: HandoffReply, now: float) -> list[Action]:
        return [
            *self._drop_cancel(cancel.home_address, cancel.peer),
            Notify(
                event="bet-cancelled",
                fields={"mn": str(cancel.home_address), "peer": str(cancel.peer)},
            ),
        ]

    # ------------------------------------------------------------------ timers

    def _on_bet_timer(self, key: TimerKey, now: float) -> list[Action]:
        purpose, home = key[0], key[1]
        assert isinstance(home, IPv4Address)
        if purpose == BET_CANCEL_TIMER:
            peer = key[2]
            assert isinstance(peer, IPv4Address)
            return self._cancel_retransmit(home, peer, now)
        event = {
            BET_REPLY_TIMER: Event.REPLY_TIMEOUT,
            BET_EXPIRY_TIMER: Event.EXPIRY,
            BET_RENEW_TIMER: Event.RENEW,
        }[str(purpose)]
        return self._step(home, event, now) or []

    def _cancel_retransmit(self, home: IPv4Address, peer: IPv4Address, now: float) -> list[Action]:
        cancel = self._cancels.get((home, peer))
        if cancel is None:
            return []
        cfg = self._cfg
        if now - cancel.started >= cfg.config_hfail:
            # §8.2.2: retransmitted "for CONFIG-HFAIL seconds or until it receives an HRply"
            return [
                *self._drop_cancel(home, peer),
                Notify(event="bet-cancel-abandoned", fields={"mn": str(home), "peer": str(peer)}),
            ]
        cancel.interval *= 2.0  # §8.2.2: exponential backoff
        return self._send_cancel(cancel, now)

    # ------------------------------------------------------------------ two-party, (s)

    def _start_source(
        self,
        home: IPv4Address,
        bet: Bet | None,
        trigger: SourceTrigger,
        new: IPv4Address,
        now: float,
    ) -> list[Action]:
        """§4.1 steps 1a, 2a: L2-ST at the oFA -> HRqst(s)."""
        return self._source_request(home, trigger.mn.link_address, new, now)

    def _source_request(
        self, home: IPv4Address, mac_hint: bytes, new: IPv4Address, now: float
    ) -> list[Action]:
        cfg = self._cfg
        rec = self._records.get(home)
        visitor = None if rec is None else rec.visitor
        if visitor is None:
            return [self._drop(DropReason.UNKNOWN_MOBILE_NODE, "L2-ST for no visitor", source=home)]
        if self._sa(new) is None:
            return [self._drop(DropReason.NO_SECURITY_ASSOCIATION, f"no FA-FA SA with {new}")]
        mac = visitor.link_address or mac_hint
        bet = Bet(
            home_address=home,
            link_address=mac,
            phase=Phase.SOURCE_REQUESTED,
            peer=new,
            home_agent=visitor.home_agent,
            mode=cfg.encapsulation,
            offered=cfg.tunnel_lifetime,
            reverse_offered=cfg.reverse_tunnel and visitor.reverse_tunnel,
            to_home_agent=visitor.reverse_tunnel,
        )
        flags = HandoffFlags.H | _mode_flags(cfg.encapsulation)
        if cfg.reverse_tunnel and visitor.reverse_tunnel:
            # §4.5: willing to support both directions; §7: "if the MN had requested
            # reverse tunneling previously at oFA, the handoff message from oFA ... includes
            # the T bit" (and local policy, reverse_tunnel, may turn it off)
            flags |= HandoffFlags.T
        if visitor.reverse_tunnel:
            flags |= HandoffFlags.B  # §4.5, §7: the MN asked for a reverse tunnel to its HA
        self._set(bet, Phase.SOURCE_REQUESTED)
        return [
            self._request(bet, flags, cfg.tunnel_lifetime, "handoff_request_s", now),
            self._arm_reply_timer(home, now),
            Notify(event="handoff-requested", fields={"mn": str(home), "to": str(new), "by": "s"}),
        ]

    def _accept_source(
        self,
        home: IPv4Address,
        bet: Bet | None,
        request: HandoffRequest,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        """§4.1 step 3b: HRqst(s) at the nFA -> HRply(s)."""
        cfg = self._cfg
        mac = mn_link_address(request)
        assert mac is not None
        offered_t = bool(request.flags & HandoffFlags.T)
        forward_mode = _mode_of(request.flags)
        if forward_mode is None or forward_mode not in self.config.encapsulations:
            self._advertise_later[mac] = home  # §4.4 event 3: the MN must register here
            return [self._reply_failure(request, packet, HandoffFlags.H, "handoff_reply_s")]
        if request.lifetime == 0:
            # §4.1 step 2a: the oFA will not tunnel: no BET; advertise when the MN arrives.
            self._advertise_later[mac] = home
            return [self._reply(request, packet.source, HandoffFlags.H, 0, "handoff_reply_s")]
        lifetime = grant(cfg.tunnel_lifetime, request.lifetime)
        reverse = (offered_t and cfg.reverse_tunnel) or cfg.ingress_filtering  # §4.1 step 3b
        flags = HandoffFlags.H | _mode_flags(cfg.encapsulation)
        if reverse:
            flags |= HandoffFlags.T
        bet = Bet(
            home_address=home,
            link_address=mac,
            phase=Phase.SERVING_AGREED,
            peer=packet.source,
            home_agent=request.ha_address,
            reverse=reverse,
            to_home_agent=bool(request.flags & HandoffFlags.B),
            mode=cfg.encapsulation,
            peer_mode=forward_mode,
        )
        self._set(bet, Phase.SERVING_AGREED)
        out: list[Action] = [
            self._reply(request, packet.source, flags, lifetime, "handoff_reply_s"),
            *self._arm_expiry(bet, lifetime, now, renew=False),
        ]
        if mac in self._present:
            out += self._start_delivering(home, bet, now)
        return out

    def _accept_source_anew(
        self,
        home: IPv4Address,
        bet: Bet | None,
        request: HandoffRequest,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        """An HRqst(s) while this FA is busy with the MN for another anchor: the sender is
        the FA the MN registered with since (§4.1 step 4c: the new aFA). The old state ends
        (its tunnel is stopped and its peer told, §4.3) and the new handoff is accepted."""
        assert bet is not None
        self._end(home)
        out = self._clear_timers(home)
        if bet.phase is Phase.FORWARDING:
            out.append(self._forward_off(bet))
        if bet.peer != packet.source and bet.phase is not Phase.UNCONFIRMED:
            out += self._start_cancel(bet, now, "a new anchor")
        out.append(Notify(event="bet-ended", fields={"mn": str(home), "why": "new anchor"}))
        return out + self._accept_source(home, None, request, packet, now)

    def _source_answered(
        self,
        home: IPv4Address,
        bet: Bet | None,
        reply: HandoffReply,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        """§4.1 step 3b at the oFA: the HRply(s) agrees a BET (or declines)."""
        assert bet is not None
        out = self._cancel_timer((BET_REPLY_TIMER, home))
        if not reply.succeeded or reply.lifetime == 0:
            self._end(home)
            return [
                *out,
                Notify(event="bet-refused", fields={"mn": str(home), "by": str(packet.source)}),
            ]
        # §4.6: "Larger values are assumed to default to oFA's maximum."
        lifetime = grant(reply.lifetime, bet.offered)
        mode = _mode_of(reply.flags)
        bet.peer_mode = mode or TunnelMode.IP_IN_IP
        bet.reverse = bool(reply.flags & HandoffFlags.T)
        bet.agreed_at = now
        self._set(bet, Phase.ANCHOR_AGREED)
        out += self._unrefuse(home, bet.peer)
        out += self._arm_expiry(bet, lifetime, now, renew=False)
        out.append(Notify(event="bet-agreed", fields={"mn": str(home), "lifetime": lifetime}))
        if bet.link_address in self._departed:
            # §4.1: without a timely L2-LD, the HRply acts as the trigger.
            out += self._start_forwarding(home, bet, now)
        return out

    def _source_overdue(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§8.2: no HRply(s) in time. If the MN has left, cancel now; else at L2-LD."""
        assert bet is not None
        if bet.link_address in self._departed:
            return self._cancel_unconfirmed(home, bet, now)
        self._set(bet, Phase.SOURCE_UNANSWERED)
        deadline = now + bet.offered  # a trigger never followed by L2-LD: give up then
        return [
            self._start_timer((BET_EXPIRY_TIMER, home), deadline),
            Notify(event="handoff-unconfirmed", fields={"mn": str(home), "peer": str(bet.peer)}),
        ]

    def _cancel_unconfirmed(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§8.2.1, §8.2.2: no HRply(s) -> no forward tunnel; a lifetime-0 HRqst(r)."""
        assert bet is not None
        self._end(home)
        return [
            Notify(event="handoff-unconfirmed", fields={"mn": str(home), "peer": str(bet.peer)}),
            *self._start_cancel(bet, now, "no HRply(s)", refuse=True),
        ]

    # ------------------------------------------------------------------ two-party, (t)

    def _start_target(
        self, home: IPv4Address, bet: Bet | None, mac: bytes, old: IPv4Address, now: float
    ) -> list[Action]:
        """§4.1 steps 1b, 2b: L2-TT at the nFA -> HRqst(t)."""
        cfg = self._cfg
        bet = Bet(
            home_address=home,
            link_address=mac,
            phase=Phase.TARGET_REQUESTED,
            peer=old,
            mode=cfg.encapsulation,
            reverse_offered=cfg.reverse_tunnel or cfg.ingress_filtering,
            home_known=not is_provisional(home),
        )
        self._set(bet, Phase.TARGET_REQUESTED)
        return self._send_target_request(bet, now)

    def _send_target_request(self, bet: Bet, now: float) -> list[Action]:
        cfg = self._cfg
        flags = HandoffFlags.N | _mode_flags(cfg.encapsulation)
        lifetime = 0  # §4.5: 0 = no reverse tunnel needed
        if bet.reverse_offered:
            flags |= HandoffFlags.T
            lifetime = cfg.tunnel_lifetime
        return [
            self._request(bet, flags, lifetime, "handoff_request_t", now),
            self._arm_reply_timer(bet.home_address, now),
            Notify(
                event="handoff-requested",
                fields={"mn": str(bet.home_address), "to": str(bet.peer), "by": "t"},
            ),
        ]

    def _accept_target(
        self,
        home: IPv4Address,
        bet: Bet | None,
        request: HandoffRequest,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        """§4.1 step 3a: HRqst(t) at the oFA -> HRply(t); the forward tunnel on L2-LD."""
        cfg = self._cfg
        rec = self._records.get(home)
        visitor = None if rec is None else rec.visitor
        forward_peer_mode = _mode_of(request.flags)
        if (
            visitor is None
            or forward_peer_mode is None
            or forward_peer_mode not in self.config.encapsulations
        ):
            return [self._reply_failure(request, packet, HandoffFlags.N, "handoff_reply_t")]
        mac = visitor.link_address or mn_link_address(request)
        assert mac is not None
        requested_t = bool(request.flags & HandoffFlags.T)
        lifetime = cfg.tunnel_lifetime
        if requested_t and request.lifetime:
            lifetime = grant(request.lifetime, cfg.tunnel_lifetime)
        # §4.6: T, willing to provide both directions; §7: when the MN asked for reverse
        # tunnelling at registration (and local policy allows it)
        both = cfg.reverse_tunnel and visitor.reverse_tunnel
        flags = HandoffFlags.N | _mode_flags(cfg.encapsulation)
        if both:
            flags |= HandoffFlags.T
        if visitor.reverse_tunnel and not requested_t:
            flags |= HandoffFlags.B  # §4.6: only when T was unset in the HRqst(t)
        bet = Bet(
            home_address=home,
            link_address=mac,
            phase=Phase.ANCHOR_AGREED,
            peer=packet.source,
            home_agent=visitor.home_agent,
            reverse=requested_t and both,
            # §4.6, §7: the MN's reverse tunnel to its HA goes with the BET, so that a later
            # HRply(t) from this anchor (three-party, §4.2) can set B too
            to_home_agent=visitor.reverse_tunnel,
            mode=cfg.encapsulation,
            peer_mode=forward_peer_mode,
            offered=lifetime,
            agreed_at=now,
        )
        self._set(bet, Phase.ANCHOR_AGREED)
        out: list[Action] = [
            *self._unrefuse(home, packet.source),
            self._reply(
                request,
                packet.source,
                flags,
                lifetime,
                "handoff_reply_t",
                home_agent=visitor.home_agent,
                home_address=home,  # §4.1 step 3a: the HRply(t) names the MN
                extensions=(LinkLayerAddress(value=EthernetMac(mac)),),
            ),
            *self._arm_expiry(bet, lifetime, now, renew=False),
            Notify(event="bet-agreed", fields={"mn": str(home), "lifetime": lifetime}),
        ]
        if mac in self._departed:
            out += self._start_forwarding(home, bet, now)  # L2-LD came first
        return out

    def _target_answered(
        self,
        home: IPv4Address,
        bet: Bet | None,
        reply: HandoffReply,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        """§4.1 step 3a at the nFA: the HRply(t) agrees a BET (or refuses)."""
        assert bet is not None
        out = self._cancel_timer((BET_REPLY_TIMER, home))
        if not bet.home_known and not reply.mn_home_address.is_unspecified:
            home = self._rekey(bet, reply.mn_home_address)
        if not reply.succeeded or reply.lifetime == 0:
            self._end(home)
            out.append(Notify(event="bet-refused", fields={"mn": str(home), "by": str(bet.peer)}))
            return out + self._advertise(home, bet.link_address, "HRply(t) refused")
        if not reply.ha_address.is_unspecified:
            bet.home_agent = reply.ha_address
        bet.reverse = bet.reverse_offered and bool(reply.flags & HandoffFlags.T)
        bet.to_home_agent = bool(reply.flags & HandoffFlags.B)
        bet.peer_mode = _mode_of(reply.flags) or TunnelMode.IP_IN_IP
        self._set(bet, Phase.SERVING_AGREED)
        out += self._arm_expiry(bet, reply.lifetime, now, renew=False)
        out.append(Notify(event="bet-agreed", fields={"mn": str(home), "lifetime": reply.lifetime}))
        if bet.link_address in self._present:
            out += self._start_delivering(home, bet, now)
        return out

    def _target_unconfirmed(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§8.2: no HRply(t) in time. If the MN is here already, give up now; else on its
        L2-LU (an L2-LU before the reply is due waits for it)."""
        assert bet is not None
        if bet.link_address in self._present:
            return self._target_failed(home, bet, now)
        self._set(bet, Phase.UNCONFIRMED)
        return [
            self._start_timer((BET_EXPIRY_TIMER, home), now + self._cfg.tunnel_lifetime),
            Notify(event="handoff-unconfirmed", fields={"mn": str(home), "peer": str(bet.peer)}),
        ]

    def _target_failed(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§8.2.1, §8.2.2: L2-LU with no HRply(t): advertise, tell the oFA its tunnel is
        useless (ICMP Destination Unreachable), build no reverse tunnel."""
        assert bet is not None
        self._end(home)
        return [
            *self._advertise(home, bet.link_address, "handoff not confirmed"),
            self._unreachable_to(bet.peer, home),
        ]

    def _unreachable_to(self, peer: IPv4Address, home: IPv4Address) -> SendPacket:
        """ICMP Destination Unreachable (host) for the peer's tunnel to this FA, quoting the
        tunnel header and an inner header naming the MN (RFC 1812 §4.3.2.3 allows quoting
        more than 64 bits)."""
        named = UNSPECIFIED if is_provisional(home) else home
        inner = build_ipv4(UNSPECIFIED, named, PROTO_UDP, b"")
        outer = build_ipv4(peer, self.config.address, PROTO_IPIP, inner)
        error = DestinationUnreachable.about(
            outer, UnreachableCode.HOST_UNREACHABLE, data_bytes=len(inner)
        )
        return SendPacket(
            interface=self.config.wired_interface,
            source=self.config.address,
            destination=peer,
            protocol=PROTO_ICMP,
            payload=error.encode(),
            message="icmp_destination_unreachable",
        )

    def _forget(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        self._end(home)
        return []

    # ------------------------------------------------------------------ the BET

    def _start_forwarding(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§4.1 step 4a: L2-LD at the oFA -> MN-bound packets into the forward tunnel."""
        assert bet is not None
        self._set(bet, Phase.FORWARDING)
        return [
            self._forward_on(bet),
            Notify(event="bet-forwarding", fields={"mn": str(home), "to": str(bet.peer)}),
        ]

    def _start_delivering(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§4.1 step 4b: L2-LU at the nFA -> deliver, uplink, proxy ARP; renewals."""
        assert bet is not None
        self._set(bet, Phase.DELIVERING)
        out = self._delivery_on(bet)
        if bet.expires_at is not None:
            point = now + (bet.expires_at - now) * self._cfg.renew_fraction
            out.append(self._start_timer((BET_RENEW_TIMER, home), point))
        return out

    def _anchor_back(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§4.1 step 6 (ping-pong), §4.2 step 6 (return to the aFA), or the MN registered
        here: cancel the tunnel, deliver as if no handoff had been pending."""
        assert bet is not None
        self._end(home)
        out: list[Action] = []
        if bet.phase is Phase.FORWARDING:
            out.append(self._forward_off(bet))
        out.append(Notify(event="bet-ended", fields={"mn": str(home), "why": "MN back"}))
        out += self._start_cancel(bet, now, "MN back at the anchor")
        if bet.previous_peer is not None:
            out += self._start_cancel(dataclasses.replace(bet, peer=bet.previous_peer), now, "back")
        return out

    def _anchor_renewal(
        self,
        home: IPv4Address,
        bet: Bet | None,
        request: HandoffRequest,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        """§4.3, Figure 12 at the anchor: renew (it may grant less) or terminate; §4.2 step
        4b: the oFA's lifetime-0 HRqst(r) moves the BET to the nFA (latest policy)."""
        assert bet is not None
        source = packet.source
        if source == bet.previous_peer:
            bet.previous_peer = None  # earliest policy: already moved; the oFA is done
            return [self._reply(request, source, HandoffFlags.R, 0, "handoff_reply_r")]
        if source != bet.peer:
            return [
                self._drop(DropReason.NOT_FOR_US, f"HRqst(r) not from {bet.peer}", packet),
                self._reply(request, source, HandoffFlags.R, 0, "handoff_reply_r"),
            ]
        if request.lifetime == 0:
            out: list[Action] = [self._reply(request, source, HandoffFlags.R, 0, "handoff_reply_r")]
            if bet.next_peer is not None:
                # §4.2 step 4b, latest policy: tear down to the oFA, tunnel to the nFA.
                bet.peer, bet.next_peer = bet.next_peer, None
                return [*out, *self._start_forwarding(home, bet, now)]
            self._end(home)
            if bet.phase is Phase.FORWARDING:
                out.append(self._forward_off(bet))
            if bet.returning:
                self._expected.add(bet.link_address)  # §4.2 step 6: it arrives here next
            out.append(Notify(event="bet-ended", fields={"mn": str(home), "why": "terminated"}))
            return out
        lifetime = grant(request.lifetime, self._cfg.tunnel_lifetime)  # §4.3: may grant less
        longest = self._cfg.max_bet_time
        if longest and bet.agreed_at is not None:
            # §4.3: "the aFA has full control over whether the BET should be extended";
            # past this FA's limit it refuses, so that the MN registers (§4.4 event 1).
            lifetime = min(lifetime, max(0, int(bet.agreed_at + longest - now)))
            if lifetime == 0:
                self._end(home)
                out = [
                    self._reply_failure(request, packet, HandoffFlags.R, "handoff_reply_r"),
                    Notify(event="bet-ended", fields={"mn": str(home), "why": "renewal refused"}),
                ]
                if bet.phase is Phase.FORWARDING:
                    out.insert(0, self._forward_off(bet))
                return out
        return [
            self._reply(request, source, HandoffFlags.R, lifetime, "handoff_reply_r"),
            *self._arm_expiry(bet, lifetime, now, renew=False),
            Notify(event="bet-renewed", fields={"mn": str(home), "lifetime": lifetime}),
        ]

    def _anchor_expired(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§4.3: the aFA terminates the BET when its lifetime runs out."""
        assert bet is not None
        self._end(home)
        out: list[Action] = []
        if bet.phase is Phase.FORWARDING:
            out.append(self._forward_off(bet))
        out.append(Notify(event="bet-ended", fields={"mn": str(home), "why": "expired"}))
        return out

    def _anchor_unreachable(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§8.2.2: the nFA's ICMP Destination Unreachable -> stop tunnelling."""
        assert bet is not None
        self._end(home)
        out: list[Action] = []
        if bet.phase is Phase.FORWARDING:
            out.append(self._forward_off(bet))
        out.append(Notify(event="bet-ended", fields={"mn": str(home), "why": "unreachable"}))
        return out

    def _serving_cancelled(
        self,
        home: IPv4Address,
        bet: Bet | None,
        request: HandoffRequest,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        """§4.3, §8.2.2 at the serving FA: the anchor terminates (or renews) the BET."""
        assert bet is not None
        if packet.source != bet.peer:
            return [
                self._drop(DropReason.NOT_FOR_US, f"HRqst(r) not from {bet.peer}", packet),
                self._reply(request, packet.source, HandoffFlags.R, 0, "handoff_reply_r"),
            ]
        if request.lifetime != 0:
            lifetime = grant(request.lifetime, bet.lifetime)
            return [
                self._reply(request, packet.source, HandoffFlags.R, lifetime, "handoff_reply_r")
            ]
        self._end(home)
        out: list[Action] = [
            self._reply(request, packet.source, HandoffFlags.R, 0, "handoff_reply_r")
        ]
        if bet.phase in (Phase.DELIVERING, Phase.HANDING_OVER):
            out += self._delivery_off(bet, bet.peer)
        out.append(Notify(event="bet-ended", fields={"mn": str(home), "why": "cancelled"}))
        if not self._registered_here(home):
            out += self._advertise(home, bet.link_address, "tunnel cancelled")  # §8.2.2
        return out

    def _serving_expired(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§4.3, §4.4 event 1: the BET ran out -> stop, advertise so the MN registers."""
        assert bet is not None
        self._end(home)
        out: list[Action] = []
        if bet.phase in (Phase.DELIVERING, Phase.HANDING_OVER):
            out += self._delivery_off(bet, bet.peer)
        out.append(Notify(event="bet-ended", fields={"mn": str(home), "why": "expired"}))
        if bet.phase is not Phase.HANDING_OVER and not self._registered_here(home):
            out += self._advertise(home, bet.link_address, "tunnel expired")
        return out

    def _renew(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§4.3: the current FA asks the aFA to extend the BET (HRqst(r), Figure 12)."""
        assert bet is not None
        return [
            self._request(bet, HandoffFlags.R, self._cfg.tunnel_lifetime, "handoff_request_r", now)
        ]

    def _renewed(self, bet: Bet, reply: HandoffReply, now: float) -> list[Action]:
        home = bet.home_address
        if bet.phase is not Phase.DELIVERING:
            return []
        if not reply.succeeded or reply.lifetime == 0:
            # §4.4 event 1: renewal denied -> the FA MUST make the MN register.
            self._end(home)
            return [
                *self._clear_timers(home),
                *self._delivery_off(bet, bet.peer),
                Notify(event="bet-ended", fields={"mn": str(home), "why": "renewal denied"}),
                *self._advertise(home, bet.link_address, "renewal denied"),
            ]
        return [
            *self._arm_expiry(bet, reply.lifetime, now, renew=True),
            Notify(event="bet-renewed", fields={"mn": str(home), "lifetime": reply.lifetime}),
        ]

    def _serving_registered(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§4.1 teardown event 2: the MN registered here; this FA is its FA now. §4.1 step
        4c: it "takes over the role of anchor FA": a handoff to a third FA already under way
        (HTT exchanged) is re-anchored here with a source-triggered handoff to that FA."""
        assert bet is not None
        self._end(home)
        anchor = bet.anchor if bet.anchor is not None else bet.peer
        out: list[Action] = [
            *self._clear_timers(home),
            SetProxyArp(address=anchor, interface=self.config.access_interface, enabled=False),
            Notify(event="bet-ended", fields={"mn": str(home), "why": "registered"}),
            *self._start_cancel(dataclasses.replace(bet, peer=anchor), now, "MN registered"),
        ]
        third = bet.third
        if bet.phase is Phase.HANDING_OVER and third is not None:
            out.append(Notify(event="handoff-re-anchored", fields={"mn": str(home)}))
            out += self._source_request(home, bet.link_address, third, now)
        return out

    def _serving_unreachable(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§8.2.2: an ICMP Destination Unreachable for the tunnel -> advertise and cancel."""
        assert bet is not None
        self._end(home)
        return [
            *self._delivery_off(bet, bet.peer),
            Notify(event="bet-ended", fields={"mn": str(home), "why": "unreachable"}),
            *self._advertise(home, bet.link_address, "tunnel unreachable"),
        ]

    def _serving_departed(self, home: IPv4Address, bet: Bet | None, now: float) -> list[Action]:
        """§4.2 step 4: the MN left the current FA -> HRqst(r) with lifetime 0 to the aFA."""
        assert bet is not None
        anchor = bet.anchor if bet.anchor is not None else bet.peer
        self._end(home)
        if bet.third is not None:
            self._handed_to[home] = bet.third
        target = dataclasses.replace(bet, peer=anchor)
        return [
            *self._delivery_off(bet, anchor),
            Notify(event="bet-ended", fields={"mn": str(home), "why": "MN left"}),
            *self._start_cancel(target, now, "MN left the current FA"),
        ]

    # ------------------------------------------------------------------ three-party

    def _htt_extensions(self, anchor: IPv4Address, mac: bytes) -> tuple[LinkLayerAddress, ...]:
        # §4.7: Solicited IPv4 Address (the aFA) then the MN's LLA, in this order.
        return (
            LinkLayerAddress(value=SolicitedIpv4Address(anchor)),
            LinkLayerAddress(value=EthernetMac(mac)),
        )

    def _start_third_source(
        self,
        home: IPv4Address,
        bet: Bet | None,
        trigger: SourceTrigger,
        new: IPv4Address,
        now: float,
    ) -> list[Action]:
        """§4.2 step 2a: L2-ST at the current FA -> HTT to the nFA (no tunnel bits)."""
        assert bet is not None
        if self._sa(new) is None:
            return [self._drop(DropReason.NO_SECURITY_ASSOCIATION, f"no FA-FA SA with {new}")]
        bet.anchor, bet.third = bet.peer, new
        self._set(bet, Phase.HANDING_OVER)
        lifetime = 0 if bet.expires_at is None else max(0, int(bet.expires_at - now))
        return [
            self._request(
                bet,
                HandoffFlags.H | HandoffFlags.N,
                lifetime,
                "handoff_to_third",
                now,
                extensions=self._htt_extensions(bet.peer, bet.link_address),
                peer=new,
            ),
            Notify(event="handoff-to-third", fields={"mn": str(home), "to": str(new)}),
        ]

    def _answer_third_target(
        self,
        home: IPv4Address,
        bet: Bet | None,
        request: HandoffRequest,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        """§4.2 step 2b: HRqst(t) at the current FA -> HTT naming the aFA."""
        assert bet is not None
        bet.anchor, bet.third = bet.peer, packet.source
        self._set(bet, Phase.HANDING_OVER)
        lifetime = 0 if bet.expires_at is None else max(0, int(bet.expires_at - now))
        return [
            self._reply(
                request,
                packet.source,
                HandoffFlags.H | HandoffFlags.N,
                lifetime,
                "handoff_to_third",
                home_agent=bet.home_agent,
                home_address=home,
                extensions=self._htt_extensions(bet.peer, bet.link_address),
            ),
            Notify(event="handoff-to-third", fields={"mn": str(home), "to": str(packet.source)}),
        ]

    def _third_confirmed(
        self,
        home: IPv4Address,
        bet: Bet | None,
        reply: HandoffReply,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        return [Notify(event="handoff-to-third-confirmed", fields={"mn": str(home)})]

    def _accept_third(
        self,
        home: IPv4Address,
        bet: Bet | None,
        request: HandoffRequest,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        """§4.2 step 3 at the nFA: an HTT request -> HRply(s), then HRqst(t) to the aFA
        (or, when this FA is the aFA, step 6)."""
        anchor = anchor_address(request)
        mac = mn_link_address(request)
        if anchor is None or mac is None:
            return [self._drop(DropReason.MALFORMED, "HTT extensions (§4.7 order)", packet)]
        reply = self._reply(request, packet.source, HandoffFlags.H, 0, "handoff_reply_s")
        return [reply, *self._towards_anchor(home, bet, mac, anchor, request, now)]

    def _third_named(
        self,
        home: IPv4Address,
        bet: Bet | None,
        reply: HandoffReply,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        """§4.2 step 2b/3 at the nFA: the oFA answered our HRqst(t) with an HTT."""
        assert bet is not None
        anchor = anchor_address(reply)
        if anchor is None:
            return [self._drop(DropReason.MALFORMED, "HTT extensions (§4.7 order)", packet)]
        out = self._cancel_timer((BET_REPLY_TIMER, home))
        if not bet.home_known and not reply.mn_home_address.is_unspecified:
            home = self._rekey(bet, reply.mn_home_address)
        return out + self._towards_anchor(home, bet, bet.link_address, anchor, reply, now)

    def _towards_anchor(
        self,
        home: IPv4Address,
        bet: Bet | None,
        mac: bytes,
        anchor: IPv4Address,
        message: HandoffRequest | HandoffReply,
        now: float,
    ) -> list[Action]:
        if anchor in self.config.addresses:
            # §4.2 step 6: this FA is the aFA; it is tunnelling to the oFA already.
            if bet is None or bet.phase is not Phase.FORWARDING:
                self._end(home)
                return [Notify(event="handoff-to-third-ignored", fields={"mn": str(home)})]
            bet.returning = True
            return [Notify(event="mn-returning", fields={"mn": str(home)})]
        if self._sa(anchor) is None:
            self._end(home)
            self._advertise_later[mac] = home
            return [self._drop(DropReason.NO_SECURITY_ASSOCIATION, f"no FA-FA SA with {anchor}")]
        cfg = self._cfg
        new = Bet(
            home_address=home,
            link_address=mac,
            phase=Phase.TARGET_REQUESTED,
            peer=anchor,
            home_agent=message.ha_address,
            mode=cfg.encapsulation,
            reverse_offered=cfg.reverse_tunnel or cfg.ingress_filtering,
        )
        self._end(home)
        self._set(new, Phase.TARGET_REQUESTED)
        return self._send_target_request(new, now)

    def _start_target_at_anchor(
        self, home: IPv4Address, bet: Bet | None, mac: bytes, old: IPv4Address, now: float
    ) -> list[Action]:
        """L2-TT at the aFA itself (the MN returns, §4.2 step 6): it sends the HRqst(t) as
        in any target-triggered handoff; the oFA answers with an HTT naming this FA."""
        assert bet is not None
        flags = HandoffFlags.N | _mode_flags(self._cfg.encapsulation)
        return [
            self._request(bet, flags, 0, "handoff_request_t", now, peer=old),
            Notify(event="handoff-requested", fields={"mn": str(home), "to": str(old), "by": "t"}),
        ]

    def _anchor_moves(
        self,
        home: IPv4Address,
        bet: Bet | None,
        request: HandoffRequest,
        packet: ReceivedPacket,
        now: float,
    ) -> list[Action]:
        """§4.2 step 3 at the aFA: HRqst(t) from the nFA -> HRply(t); the BET moves to the
        nFA now (earliest) or on the oFA's HRqst(r) (latest)."""
        assert bet is not None
        cfg = self._cfg
        if packet.source == bet.peer:
            return [self._drop(DropReason.UNEXPECTED_MESSAGE, "HRqst(t) from the current FA")]
        requested_t = bool(request.flags & HandoffFlags.T)
        lifetime = cfg.tunnel_lifetime
        if requested_t and request.lifetime:
            lifetime = grant(request.lifetime, cfg.tunnel_lifetime)
        flags = HandoffFlags.N | _mode_flags(cfg.encapsulation)
        if cfg.reverse_tunnel:
            flags |= HandoffFlags.T
        if bet.to_home_agent and not requested_t:
            flags |= HandoffFlags.B
        out: list[Action] = [
            self._reply(
                request,
                packet.source,
                flags,
                lifetime,
                "handoff_reply_t",
                home_agent=bet.home_agent,
                home_address=home,
                extensions=(LinkLayerAddress(value=EthernetMac(bet.link_address)),),
            ),
            *self._arm_expiry(bet, lifetime, now, renew=False),
        ]
        bet.reverse = requested_t and cfg.reverse_tunnel
        if cfg.anchor_policy == "earliest":
            bet.previous_peer, bet.peer = bet.peer, packet.source
            out += self._start_forwarding(home, bet, now)
        else:
            bet.next_peer = packet.source
        out.append(Notify(event="bet-moving", fields={"mn": str(home), "to": str(packet.source)}))
        return out

    # ------------------------------------------------------------------ registration, ICMP

    def _on_request(self, request: AnyRequest, packet: ReceivedPacket, now: float) -> list[Action]:
        """The MN registers through the serving FA (§4.4): from the moment the request goes
        to the HA (or GFA), its reverse-tunnelled uplink goes there directly rather than
        through the anchor (§4.1 step 4b allows either), so that no uplink packet reaches
        the HA from the old care-of address after the binding moved (RFC 3024 §4.2.2 would
        refuse it). A denial or a timeout puts the BET's uplink back."""
        out = super()._on_request(request, packet, now)
        bet = self._bets.get(request.home_address)
        rec = self._records.get(request.home_address)
        pending = None if rec is None else rec.pending
        if (
            self._post is None
            or bet is None
            or bet.phase is not Phase.DELIVERING
            or pending is None
            or pending.relayed_at != now
            or not pending.reverse_tunnel
            or pending.requested_lifetime == 0
            or pending.care_of_address not in self.care_of_addresses
        ):
            return out
        return [
            *out,
            SetUplink(
                home_address=request.home_address,
                mode=UplinkMode.REVERSE_TUNNEL,
                tunnel_source=self.config.address,
                tunnel_destination=pending.upstream,
                tunnel_mode=pending.mode,
            ),
            Notify(event="uplink-to-registration", fields={"mn": str(request.home_address)}),
        ]

    def _on_reply(self, reply: AnyReply, packet: ReceivedPacket, now: float) -> list[Action]:
        out = super()._on_reply(reply, packet, now)
        if self._post is None:
            return out
        if any(isinstance(a, Notify) and a.event == "visitor-added" for a in out):
            out += self._post_registered(reply.home_address, now)
        else:
            out += self._restore_bet_uplink(reply.home_address)
        return out

    def _on_pending_timeout(self, key: TimerKey, now: float) -> list[Action]:
        out = super()._on_pending_timeout(key, now)
        home = key[1]
        if self._post is not None and isinstance(home, IPv4Address):
            out += self._restore_bet_uplink(home)
        return out

    def _restore_bet_uplink(self, home: IPv4Address) -> list[Action]:
        """The registration through this FA failed: the uplink goes through the BET again."""
        bet = self._bets.get(home)
        rec = self._records.get(home)
        if bet is None or bet.phase is not Phase.DELIVERING or (rec and rec.pending):
            return []
        return [self._bet_uplink(bet)]

    def _on_unreachable(
        self, message: DestinationUnreachable, packet: ReceivedPacket, now: float
    ) -> list[Action]:
        handled = self._post_unreachable(message, packet, now)
        if handled is not None:
            return handled
        return super()._on_unreachable(message, packet, now)

    def _post_registered(self, home: IPv4Address, now: float) -> list[Action]:
        """A registration through this FA succeeded (§4.1 teardown event 2)."""
        if self._post is None:
            return []
        out = self._step(home, Event.REGISTERED, now)
        if out is not None:
            return out
        third = self._handed_to.pop(home, None)
        rec = self._records.get(home)
        mac = None if rec is None or rec.visitor is None else rec.visitor.link_address
        if third is not None and mac is not None and mac in self._departed:
            # The registration completed just after the MN left for a third FA (it raced
            # the handoff): this FA is the anchor now (§4.1 step 4c), so it hands the MN
            # over to that FA itself; the tunnel starts at once (the MN has left).
            return [
                Notify(event="handoff-re-anchored", fields={"mn": str(home)}),
                *self._source_request(home, mac, third, now),
            ]
        return []

    def _post_unreachable(
        self, message: DestinationUnreachable, packet: ReceivedPacket, now: float
    ) -> list[Action] | None:
        """§8.2.2: an ICMP error for a BET this FA tunnels into; None if not about a BET.

        The error must quote this FA's tunnel header to the BET's peer *and* come from that
        peer: §8.2.2 has the peer FA (the nFA that got no HRply(t), or the oFA for a reverse
        tunnel) send it, and an FA originates it from its own address, the one the BET
        names (RFC 1812 §4.3.2.4). A router inside the tunnel may also send one (RFC 1812
        §4.3.2.3, RFC 2003 §4), but that reports a path fault for the encapsulator to relay,
        not the peer's refusal of the tunnel, and ICMP is unauthenticated: anyone else's
        error about a BET is counted as a drop and changes nothing.
        """
        if self._post is None:
            return None
        try:
            quoted = message.original_header()
        except DecodeError:
            return None
        if quoted.protocol not in TUNNEL_PROTOCOLS or quoted.source != self.config.address:
            return None
        body = message.original_datagram[quoted.header_length :]
        inner_home: set[IPv4Address] = set()
        if quoted.protocol == PROTO_IPIP and len(body) >= 20:
            inner_home = {IPv4Address(body[16:20]), IPv4Address(body[12:16])} - {UNSPECIFIED}
        candidates = [
            b
            for b in self._bets.values()
            if b.peer == quoted.destination
            and b.phase in (Phase.FORWARDING, Phase.ANCHOR_AGREED, Phase.DELIVERING)
            and (not inner_home or b.home_address in inner_home)
        ]
        if len(candidates) != 1:
            return None
        bet = candidates[0]
        if packet.source != bet.peer:
            detail = (
                f"ICMP Destination Unreachable for the BET of {bet.home_address} from "
                f"{packet.source}, not its peer {bet.peer} (RFC 4881 §8.2.2)"
            )
            return [self._drop(DropReason.UNEXPECTED_MESSAGE, detail, packet)]
        return self._step(bet.home_address, Event.UNREACHABLE, now)


def _both(
    first: Callable[[object, float], list[Action]] | None,
    second: Callable[..., list[Action]],
) -> Callable[[object, float], list[Action]]:
    """A trigger handler running the PRE procedure (if any), then the POST one."""

    def handler(trigger: object, now: float) -> list[Action]:
        out = [] if first is None else first(trigger, now)
        return out + second(trigger, now)

    return handler


__all__ = [
    "BET_CANCEL_TIMER",
    "BET_EXPIRY_TIMER",
    "BET_RENEW_TIMER",
    "BET_REPLY_TIMER",
    "TRANSITIONS",
    "Bet",
    "Cancel",
    "Event",
    "ForeignAgentPostRegistration",
    "Phase",
    "anchor_address",
    "grant",
    "is_provisional",
    "mn_link_address",
    "provisional_key",
]
