"""Agent configurations: frozen dataclasses, validated when built.

Every knob an agent has lives here, never in module globals (style guide §2.5, §3 item 11):
protocol constants from the RFCs are the defaults, and the constants the RFCs leave to the
implementation (retransmission bounds, re-registration point, jitter) are fields too.

A bad value raises :class:`~mip4.errors.LocalUsageError` naming the field, e.g.
``ForeignAgentConfig.registration_lifetime: must be 1..65535, got 0``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from mip4.core.actions import TunnelMode
from mip4.core.packets import ALL_MOBILITY_AGENTS, ALL_SYSTEMS, LIMITED_BROADCAST
from mip4.core.security import SecurityAssociation
from mip4.errors import LocalUsageError
from mip4.wire.esp import EspMode, EspSecurityAssociation

MAX_LIFETIME = 0xFFFF  # RFC 5944 §3.3: 16-bit Lifetime, 0xFFFF = infinity
DEFAULT_REPLAY_SKEW = 7.0  # RFC 5944 §5.7.1: "a default value of 7 seconds MAY be used"
PENDING_TIMEOUT = 7.0  # RFC 5944 §3.7.1: pending requests may be dropped after 7 s (code 78)
ALL_ENCAPSULATIONS = frozenset(TunnelMode)


def _fail(obj: object, name: str, message: str) -> LocalUsageError:
    return LocalUsageError(f"{type(obj).__name__}.{name}: {message}")


def _check_name(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, str) or not value:
        raise _fail(obj, name, f"must be a non-empty string, got {value!r}")


def _check_address(obj: object, name: str, *, unicast: bool = True) -> None:
    value = getattr(obj, name)
    if not isinstance(value, IPv4Address):
        raise _fail(obj, name, f"must be an IPv4Address, got {value!r}")
    if unicast and (value.is_multicast or value.is_unspecified or value == LIMITED_BROADCAST):
        raise _fail(obj, name, f"must be a unicast address, got {value}")


def _check_mac(obj: object, name: str, *, optional: bool = False) -> None:
    value = getattr(obj, name)
    if value is None and optional:
        return
    if not isinstance(value, bytes) or len(value) != 6:
        raise _fail(obj, name, f"must be a 6-byte MAC address, got {value!r}")


def _check_positive(obj: object, name: str, *, minimum: float = 0.0, strict: bool = True) -> None:
    value = getattr(obj, name)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise _fail(obj, name, f"must be a finite number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        op = ">" if strict else ">="
        raise _fail(obj, name, f"must be {op} {minimum}, got {value}")


def _check_lifetime(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIFETIME:
        raise _fail(obj, name, f"must be 1..65535 seconds, got {value!r}")


def _check_sas(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, Mapping):
        raise _fail(obj, name, f"must map IPv4Address to SecurityAssociation, got {value!r}")
    for key, sa in value.items():
        if not isinstance(key, IPv4Address) or not isinstance(sa, SecurityAssociation):
            raise _fail(obj, name, f"entry {key!r}: must map IPv4Address to SecurityAssociation")


def _check_encapsulations(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, frozenset) or not all(isinstance(m, TunnelMode) for m in value):
        raise _fail(obj, name, f"must be a frozenset of TunnelMode, got {value!r}")
    if TunnelMode.IP_IN_IP not in value:
        # RFC 5944 §4.1: home and foreign agents MUST support IP-in-IP encapsulation.
        raise _fail(obj, name, "must include TunnelMode.IP_IN_IP (RFC 5944 §4.1)")


def _check_bool(obj: object) -> None:
    for f in fields(obj):  # type: ignore[arg-type]
        if f.type in ("bool", bool) and not isinstance(getattr(obj, f.name), bool):
            raise _fail(obj, f.name, f"must be a bool, got {getattr(obj, f.name)!r}")


def _empty_sas() -> Mapping[IPv4Address, SecurityAssociation]:
    return {}


# ---------------------------------------------------------------------------- advertising


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvertisementConfig:
    """Periodic Agent Advertisements (RFC 5944 §2.3, RFC 1256).

    ``interval`` is the nominal time between unsolicited advertisements; ``jitter`` (a
    fraction of it, 0 by default so runs are exactly periodic) is drawn from the agent's
    injected random source. ``icmp_lifetime`` defaults to three intervals, rounded up to whole
    seconds (RFC 5944 §2.3 via RFC 1256: the interval SHOULD be at most a third of the
    lifetime so that three can be lost). ``destination`` is 224.0.0.1 or 255.255.255.255
    (RFC 5944 §2.1: never a subnet-directed broadcast). ``enabled`` False sends
    advertisements only in answer to solicitations (RFC 5944 §2.3 allows it).
    """

    interval: float = 1.0
    icmp_lifetime: int | None = None
    destination: IPv4Address = ALL_SYSTEMS
    jitter: float = 0.0
    enabled: bool = True
    mobility_only: bool = False  # ICMP code 16 (RFC 5944 §2.1): routes only registered MNs
    preference_level: int = 0
    multicast_response_gap: float = 0.1  # RFC 5944 §2.3: MUST limit multicast advert rate

    def __post_init__(self) -> None:
        _check_bool(self)
        _check_positive(self, "interval")
        if self.icmp_lifetime is not None:
            _check_lifetime(self, "icmp_lifetime")
        if self.destination not in (ALL_SYSTEMS, LIMITED_BROADCAST):
            raise _fail(
                self, "destination", f"must be 224.0.0.1 or 255.255.255.255, got {self.destination}"
            )
        _check_positive(self, "jitter", strict=False)
        if self.jitter >= 1.0:
            raise _fail(self, "jitter", f"must be below 1 (a fraction), got {self.jitter}")
        _check_positive(self, "multicast_response_gap", strict=False)
        if not -(2**31) <= self.preference_level < 2**31:
            raise _fail(self, "preference_level", "must fit a signed 32-bit integer")

    @property
    def lifetime(self) -> int:
        """The ICMP Lifetime field (seconds) the agent advertises."""
        if self.icmp_lifetime is not None:
            return self.icmp_lifetime
        return min(MAX_LIFETIME, max(1, math.ceil(3 * self.interval)))


# ---------------------------------------------------------------------------- home agent


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeAgentConfig:
    """A home agent (RFC 5944 §3.8, RFC 3024 §4.3).

    ``mn_ha`` maps each served home address to its MN-HA security association (RFC 5944
    §3.8.1: MUST be configured); its ``replay`` field selects timestamps or nonces (§5.7).
    ``fa_ha`` maps a foreign agent's (or GFA's) address, the IP source of relayed requests,
    to an FA-HA association (§3.5.4). ``advertisement`` makes the HA advertise with the H bit
    on ``home_interface`` (RFC 5944 §2.3); None keeps it silent. ``home_prefix_length``
    (RFC 5944 §3.8.1: the HA MUST know its home network's prefix size) gives the
    subnet-directed broadcast address, to which requests are refused with 136.
    """

    name: str
    address: IPv4Address
    home_prefix_length: int = 24
    home_interface: str = "home0"
    mac: bytes | None = None
    mn_ha: Mapping[IPv4Address, SecurityAssociation] = field(default_factory=_empty_sas)
    fa_ha: Mapping[IPv4Address, SecurityAssociation] = field(default_factory=_empty_sas)
    max_lifetime: int = 1800
    simultaneous_bindings: bool = True
    max_bindings: int = 4
    reverse_tunnel_offered: bool = True
    reverse_tunnel_required: bool = False
    encapsulations: frozenset[TunnelMode] = ALL_ENCAPSULATIONS
    replay_skew: float = DEFAULT_REPLAY_SKEW
    clock_offset: float = 0.0
    advertisement: AdvertisementConfig | None = None

    @property
    def home_broadcast(self) -> IPv4Address:
        """The home network's subnet-directed broadcast address."""
        return IPv4Network(
            f"{self.address}/{self.home_prefix_length}", strict=False
        ).broadcast_address

    def __post_init__(self) -> None:
        _check_bool(self)
        _check_name(self, "name")
        _check_name(self, "home_interface")
        _check_address(self, "address")
        if not isinstance(self.home_prefix_length, int) or not 0 <= self.home_prefix_length <= 32:
            raise _fail(self, "home_prefix_length", "must be an int in 0..32 (RFC 5944 §3.8.1)")
        _check_mac(self, "mac", optional=True)
        _check_sas(self, "mn_ha")
        _check_sas(self, "fa_ha")
        _check_lifetime(self, "max_lifetime")
        if not isinstance(self.max_bindings, int) or self.max_bindings < 1:
            raise _fail(self, "max_bindings", f"must be an int >= 1, got {self.max_bindings!r}")
        _check_encapsulations(self, "encapsulations")
        _check_positive(self, "replay_skew")
        _check_positive(self, "clock_offset", minimum=-math.inf)
        if self.reverse_tunnel_required and not self.reverse_tunnel_offered:
            raise _fail(self, "reverse_tunnel_required", "needs reverse_tunnel_offered")
        if self.advertisement is not None and not isinstance(
            self.advertisement, AdvertisementConfig
        ):
            raise _fail(self, "advertisement", "must be an AdvertisementConfig or None")


# ---------------------------------------------------------------------------- RFC 4881 PRE

CHALLENGE_WINDOW = 2  # RFC 4721 §3: default (and minimum recommended) challenge window
MIN_SOLICITATION_FLOOR = 1.0  # RFC 4881 §3.5: "The minimum value ... is 1 second"
TRIGGER_RATE_LIMIT = 10  # RFC 4881 §11: at most 10 trigger-caused advertisements per second
PRE_SOL_INTERVAL = 1.0  # RFC 4881 §3.6
PRE_SOL_ATTEMPTS = 2  # RFC 4881 §3.6
LOW_LATENCY_COPIES = 2  # RFC 4881 §3.4: "default recommendation: 2" on lossy links


def _check_esp(obj: object, name: str, mode: EspMode, *, optional: bool = False) -> None:
    value = getattr(obj, name)
    if value is None and optional:
        return
    if not isinstance(value, EspSecurityAssociation) or value.mode is not mode:
        raise _fail(obj, name, f"must be a {mode.value}-mode EspSecurityAssociation")


@dataclass(frozen=True, slots=True, kw_only=True)
class NeighbourFa:
    """A neighbouring FA an MN may hand off to (RFC 4881 §3.5: a configured list).

    Inter-FA ICMP is protected with ESP, HMAC-SHA1-96 (RFC 4881 §3.4.1, §11): ``esp_out``
    and ``esp_in`` are the transport-mode SAs for the solicitations and advertisements sent
    to and received from it; ``tunnel_out`` / ``tunnel_in`` the tunnel-mode SAs of the
    tunnelled nFA advertisement (§3.4.2; None: L2-TT is not used with this neighbour).
    ``access_point_ids`` are its access points (§3.4.1: the AP-id to FA table).
    ``advertisement_interval`` and ``challenge_window``: the neighbour's own Agent
    Advertisement interval and RFC 4721 CHALLENGE_WINDOW for its nFA-oFA interface, which
    set how often it is solicited and how long its cached challenge stays valid (§3.5: "nFA's
    CHALLENGE_WINDOW * nFA's Agent Advertisement interval"); None: the same as this FA's.
    """

    address: IPv4Address
    esp_out: EspSecurityAssociation
    esp_in: EspSecurityAssociation
    tunnel_out: EspSecurityAssociation | None = None
    tunnel_in: EspSecurityAssociation | None = None
    access_point_ids: tuple[int, ...] = ()
    advertisement_interval: float | None = None
    challenge_window: int | None = None

    def __post_init__(self) -> None:
        _check_address(self, "address")
        _check_esp(self, "esp_out", EspMode.TRANSPORT)
        _check_esp(self, "esp_in", EspMode.TRANSPORT)
        _check_esp(self, "tunnel_out", EspMode.TUNNEL, optional=True)
        _check_esp(self, "tunnel_in", EspMode.TUNNEL, optional=True)
        for ap in self.access_point_ids:
            if not isinstance(ap, int) or isinstance(ap, bool) or not 0 <= ap <= 0xFFFFFFFF:
                raise _fail(self, "access_point_ids", f"must hold 32-bit ints, got {ap!r}")
        if self.advertisement_interval is not None:
            _check_positive(self, "advertisement_interval")
        window = self.challenge_window
        if window is not None and (
            not isinstance(window, int) or isinstance(window, bool) or window < 1
        ):
            raise _fail(self, "challenge_window", f"must be an int >= 1, got {window!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PreRegistrationConfig:
    """PRE-REGISTRATION at an FA (RFC 4881 §3).

    ``neighbours``: the configured nFAs (§3.5). ``access_point_ids``: this FA's own access
    points (so a trigger naming one of them is not a handoff, §3.8).
    ``min_solicitation_interval``: the period of the inter-FA solicitations that keep the
    advertisement cache fresh (§3.5); None gives the recommended 0.5 x ``challenge_window``
    x the advertisement interval, never below 1 s. ``cache_lifetime``: how long a cached
    advertisement may be proxied (None: its ICMP Lifetime, or the challenge window times the
    advertisement interval with ``use_challenge``, §3.5). ``use_challenge``: RFC 4721 FA
    challenges in this FA's advertisements and replies, required in requests (with an MN-FA
    SA), remembered ``challenge_window`` at a time for its link and for each neighbour
    (§3.5: a separate window for the nFA-oFA interface). ``trigger_rate_limit``
    trigger-caused advertisements per second at most (§11). ``advertisement_copies`` and
    ``solicitation_copies``: copies of each PrRtAdv and inter-FA solicitation (§8.1.1,
    §8.1.2 MAY). ``low_latency_ttl_hops``: how many routed hops a low-latency Registration
    Request (one carrying an LLA 138) may have crossed; it replaces RFC 3024's TTL 255
    check for those requests (docs/decisions.md). ``buffer_data``: the nFA also holds the
    MN's packets (at most ``buffer_limit``) from its low-latency registration until the MN
    connects, and delivers them after the buffered reply — buffering beyond RFC 4881 (§3.1:
    "outside the scope of this document"), off by default. With it the FA is also a smooth
    oFA: once an MN it proxied an nFA advertisement for leaves (L2-LD), what still arrives
    for it is forwarded to that nFA, which drops copies it already has (the HA's bicast,
    the last ``duplicate_window`` packets; docs/decisions.md, "Smooth handoff").
    """

    neighbours: tuple[NeighbourFa, ...] = ()
    access_point_ids: tuple[int, ...] = ()
    min_solicitation_interval: float | None = None
    challenge_window: int = CHALLENGE_WINDOW
    use_challenge: bool = False
    cache_lifetime: float | None = None
    trigger_rate_limit: int = TRIGGER_RATE_LIMIT
    advertisement_copies: int = 1
    solicitation_copies: int = 1
    low_latency_ttl_hops: int = 8
    buffer_data: bool = False
    buffer_limit: int = 64
    duplicate_window: int = 64

    def __post_init__(self) -> None:
        _check_bool(self)
        for n in self.neighbours:
            if not isinstance(n, NeighbourFa):
                raise _fail(self, "neighbours", f"must hold NeighbourFa values, got {n!r}")
        if len({n.address for n in self.neighbours}) != len(self.neighbours):
            raise _fail(self, "neighbours", "each neighbour must appear once")
        inbound = [sa.spi for n in self.neighbours for sa in (n.esp_in, n.tunnel_in) if sa]
        if len(set(inbound)) != len(inbound):
            # RFC 4303 §2.1: the SPI selects the inbound SA.
            raise _fail(self, "neighbours", "inbound ESP SPIs must be unique")
        if self.min_solicitation_interval is not None:
            _check_positive(
                self, "min_solicitation_interval", minimum=MIN_SOLICITATION_FLOOR, strict=False
            )
        if self.cache_lifetime is not None:
            _check_positive(self, "cache_lifetime")
        for name in (
            "challenge_window",
            "trigger_rate_limit",
            "advertisement_copies",
            "solicitation_copies",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _fail(self, name, f"must be an int >= 1, got {value!r}")
        for name in ("buffer_limit", "duplicate_window"):
            limit = getattr(self, name)
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise _fail(self, name, f"must be an int >= 0, got {limit!r}")
        hops = self.low_latency_ttl_hops
        if not isinstance(hops, int) or isinstance(hops, bool) or not 1 <= hops <= 254:
            raise _fail(self, "low_latency_ttl_hops", f"must be an int in 1..254, got {hops!r}")

    def solicitation_interval(
        self, advertisement_interval: float, neighbour: NeighbourFa | None = None
    ) -> float:
        """MIN_SOLICITATION_INTERVAL for ``neighbour`` (RFC 4881 §3.5): the configured one,
        else 0.5 x the nFA's CHALLENGE_WINDOW x the nFA's advertisement interval, never below
        1 s; ``advertisement_interval`` (this FA's) stands in for a neighbour's unknown one."""
        if self.min_solicitation_interval is not None:
            return self.min_solicitation_interval
        recommended = 0.5 * self.challenge_validity(advertisement_interval, neighbour)
        return max(MIN_SOLICITATION_FLOOR, recommended)

    def challenge_validity(
        self, advertisement_interval: float, neighbour: NeighbourFa | None = None
    ) -> float:
        """How long a challenge ``neighbour`` advertised stays valid (RFC 4881 §3.5, RFC 4721
        §3): its CHALLENGE_WINDOW times its advertisement interval, each this FA's own
        (``challenge_window``, ``advertisement_interval``) when not configured."""
        window = self.challenge_window
        interval = advertisement_interval
        if neighbour is not None:
            if neighbour.challenge_window is not None:
                window = neighbour.challenge_window
            if neighbour.advertisement_interval is not None:
                interval = neighbour.advertisement_interval
        return window * interval

    def neighbour(self, address: IPv4Address) -> NeighbourFa | None:
        for n in self.neighbours:
            if n.address == address:
                return n
        return None

    def resolve_access_point(self, ap_id: int) -> IPv4Address | None:
        """§3.4.1: the configured table of access point identifiers to FA addresses."""
        for n in self.neighbours:
            if ap_id in n.access_point_ids:
                return n.address
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class MnPreRegistrationConfig:
    """PRE-REGISTRATION at the MN (RFC 4881 §3.3, §3.6, Appendix C).

    ``simultaneous_bindings``: the S bit in low-latency requests (§3.1 and Appendix C allow
    it; on by default so the HA bicasts across the L2 handoff). ``copies``: copies of each
    low-latency request (§3.4; 1 on reliable links). ``identify_by``: what the PrRtSol names
    the nFA with, ``"address"`` (LLA sub-type 5) or ``"access-point"`` (sub-type 6), never
    both (§3.3). PrRtSol retries: once after ``pre_sol_interval``, then ``pre_sol_attempts``
    times with exponential backoff (§3.6). ``fallback_after``: with a low-latency request
    unanswered this long after L2-LU, the MN registers in the standard way (§8.1).
    ``drop_old_binding``: after a low-latency registration with the S bit, a plain
    registration with the nFA replaces the simultaneous bindings (RFC 5944 §3.6.1.2), so the
    HA stops bicasting and never reaches its binding limit on a long path.
    ``prrtsol_copies``: copies of each PrRtSol (§8.1.1: MAY, on lossy links).
    """

    simultaneous_bindings: bool = True
    copies: int = 1
    identify_by: str = "address"
    pre_sol_interval: float = PRE_SOL_INTERVAL
    pre_sol_attempts: int = PRE_SOL_ATTEMPTS
    fallback_after: float = 1.0
    drop_old_binding: bool = True
    prrtsol_copies: int = 1

    def __post_init__(self) -> None:
        _check_bool(self)
        if not isinstance(self.copies, int) or isinstance(self.copies, bool) or self.copies < 1:
            raise _fail(self, "copies", f"must be an int >= 1, got {self.copies!r}")
        if (
            not isinstance(self.prrtsol_copies, int)
            or isinstance(self.prrtsol_copies, bool)
            or self.prrtsol_copies < 1
        ):
            raise _fail(self, "prrtsol_copies", f"must be an int >= 1, got {self.prrtsol_copies!r}")
        if self.identify_by not in ("address", "access-point"):
            raise _fail(self, "identify_by", "must be 'address' or 'access-point'")
        _check_positive(self, "pre_sol_interval")
        if not isinstance(self.pre_sol_attempts, int) or self.pre_sol_attempts < 0:
            raise _fail(self, "pre_sol_attempts", "must be an int >= 0")
        _check_positive(self, "fallback_after")


# ---------------------------------------------------------------------------- RFC 4881 POST

CONFIG_HFAIL = 10.0  # RFC 4881 §8.2.2: the oFA retransmits its lifetime-0 HRqst this long
COMBINED_TIMER = 1.0  # RFC 4881 §5: the nFA's timer, "default ... 1 second"
ANCHOR_POLICIES = ("earliest", "latest")  # RFC 4881 §4.2: when the aFA moves the BET


@dataclass(frozen=True, slots=True, kw_only=True)
class PostRegistrationConfig:
    """POST-REGISTRATION (RFC 4881 §4) and the combined method (§5) at an FA.

    ``neighbours`` maps each neighbouring FA's address to the FA-FA security association
    (HMAC-MD5, Generalized Authentication sub-type 2: RFC 4881 §4, RFC 4857 §11) that every
    HRqst, HRply and HTT exchanged with it carries. ``tunnel_lifetime`` is the BET lifetime
    this FA offers, requests and grants at most (§4.3: never 0xFFFF unless
    ``allow_infinite``). ``reverse_tunnel``: T offered/requested (§4.5, §7);
    ``ingress_filtering``: the nFA must reverse-tunnel, so it sets T in an HRply(s) even when
    the oFA did not offer it (§4.1 step 3b); ``reverse_to_home_agent``: the nFA honours B by
    tunnelling uplink packets to the HA (§4.1: only without nFA-HA security requirements or
    with an nFA-HA SA). ``encapsulation``: the M/G bits this FA uses for its end of a tunnel.
    ``anchor_policy``: when an aFA moves the BET to the nFA in a three-party handoff,
    ``"earliest"`` (after its HRply(t)) or ``"latest"`` (on the oFA's HRqst(r)) (§4.2).
    ``reply_timeout``: how long an HRqst(s)/(t)/HTT waits for its reply (no retransmission:
    the L2 handoff does not wait); an L2-LD (L2-LU) before it waits for the reply, after it
    the handoff counts as unconfirmed (§8.2). ``config_hfail`` and ``retransmit_initial``: the
    lifetime-0 HRqst of §8.2.2 is retransmitted with exponential backoff from
    ``retransmit_initial`` for ``config_hfail`` seconds. ``renew_fraction``: the current FA
    asks the aFA to renew at this fraction of the BET lifetime (§4.3). ``max_bet_time``: the
    longest an anchor keeps one BET, renewals included, in seconds (0: no limit); it grants
    renewals only up to it and denies the next one (HRply(r) code 1, lifetime 0), so that
    the MN registers (§4.3: "the aFA has full control"; §4.4 event 1). ``replay_skew``:
    Identification timestamps must be within this of the FA's clock (RFC 5944 §5.7.1).
    ``combined``: the combined method (§5): L2-ST/L2-TT drive PRE-REGISTRATION and the nFA
    starts ``combined_timer`` on L2-TT or on a low-latency request carrying an LLA
    sub-type 7; on expiry it starts POST-REGISTRATION towards that oFA. ``buffer_data``
    (smooth handoff, beyond RFC 4881): the serving FA holds what the BET brings (at most
    ``buffer_limit``) from the agreement until the MN's L2-LU, then delivers it in order.
    """

    neighbours: Mapping[IPv4Address, SecurityAssociation] = field(default_factory=_empty_sas)
    tunnel_lifetime: int = 60
    allow_infinite: bool = False
    reverse_tunnel: bool = True
    ingress_filtering: bool = False
    reverse_to_home_agent: bool = True
    encapsulation: TunnelMode = TunnelMode.IP_IN_IP
    anchor_policy: str = "latest"
    reply_timeout: float = 0.1
    config_hfail: float = CONFIG_HFAIL
    retransmit_initial: float = 0.5
    renew_fraction: float = 0.8
    max_bet_time: int = 0
    replay_skew: float = DEFAULT_REPLAY_SKEW
    combined: bool = False
    combined_timer: float = COMBINED_TIMER
    buffer_data: bool = False
    buffer_limit: int = 64

    def __post_init__(self) -> None:
        _check_bool(self)
        _check_sas(self, "neighbours")
        limit = self.buffer_limit
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise _fail(self, "buffer_limit", f"must be an int >= 0, got {limit!r}")
        _check_lifetime(self, "tunnel_lifetime")
        longest = self.max_bet_time
        if not isinstance(longest, int) or isinstance(longest, bool) or longest < 0:
            raise _fail(self, "max_bet_time", f"must be an int >= 0 (0: no limit), got {longest!r}")
        if self.tunnel_lifetime == MAX_LIFETIME and not self.allow_infinite:
            # RFC 4881 §4.3: FAs SHOULD NOT use 0xFFFF ("good until canceled").
            raise _fail(self, "tunnel_lifetime", "0xFFFF needs allow_infinite (RFC 4881 §4.3)")
        if not isinstance(self.encapsulation, TunnelMode):
            raise _fail(self, "encapsulation", f"must be a TunnelMode, got {self.encapsulation!r}")
        if self.anchor_policy not in ANCHOR_POLICIES:
            raise _fail(self, "anchor_policy", "must be 'earliest' or 'latest'")
        for name in ("reply_timeout", "config_hfail", "retransmit_initial", "replay_skew"):
            _check_positive(self, name)
        _check_positive(self, "combined_timer")
        _check_positive(self, "renew_fraction")
        if self.renew_fraction >= 1.0:
            raise _fail(self, "renew_fraction", "must be below 1")


# ---------------------------------------------------------------------------- foreign agent


@dataclass(frozen=True, slots=True, kw_only=True)
class GfaOption:
    """RFC 4857 regional registration at an FA: the GFA it advertises and the FA-GFA SA.

    The SA protects the HFA extension the FA appends and authenticates relayed regional
    messages with the Generalized Authentication extension, FA-FA sub-type 2 (RFC 4857 §11).
    """

    address: IPv4Address
    security: SecurityAssociation

    def __post_init__(self) -> None:
        _check_address(self, "address")
        if not isinstance(self.security, SecurityAssociation):
            raise _fail(self, "security", "must be a SecurityAssociation")


@dataclass(frozen=True, slots=True, kw_only=True)
class ForeignAgentConfig:
    """A foreign agent (RFC 5944 §3.7, RFC 3024 §4.2, RFC 4857 §5.2/§6.2).

    ``address`` is both the care-of address it offers and its address on both interfaces
    (``other_addresses`` lists any further addresses, for the 194 check of RFC 5944 §3.7.2).
    ``mac`` is the access interface's link-layer address (the advertisements' source).
    ``mn_fa`` maps a home address to the MN-FA SA, ``fa_ha`` an HA address to the FA-HA SA.
    ``registration_lifetime`` is the longest lifetime it accepts and advertises (§2.1.1).
    ``max_pending`` caps pending requests (None: no cap; excess gets code 66, §3.7.1).
    """

    name: str
    address: IPv4Address
    access_interface: str = "access0"
    wired_interface: str = "wired0"
    mac: bytes = b"\x02\x00\x00\x00\x00\x01"
    other_addresses: tuple[IPv4Address, ...] = ()
    advertisement: AdvertisementConfig = field(default_factory=AdvertisementConfig)
    registration_lifetime: int = 1800
    reverse_tunnel_offered: bool = True
    reverse_tunnel_required: bool = False
    encapsulating_delivery: bool = True  # RFC 3024 §3.3: FAs SHOULD support it
    encapsulations: frozenset[TunnelMode] = ALL_ENCAPSULATIONS
    mn_fa: Mapping[IPv4Address, SecurityAssociation] = field(default_factory=_empty_sas)
    fa_ha: Mapping[IPv4Address, SecurityAssociation] = field(default_factory=_empty_sas)
    pending_timeout: float = PENDING_TIMEOUT
    max_pending: int | None = None
    denial_interval: float = 1.0  # RFC 5944 §3.7.2, RFC 3024 §4.2.1: <= 1 denial/s per MN
    gfa: GfaOption | None = None
    pre_registration: PreRegistrationConfig | None = None  # RFC 4881 §3
    post_registration: PostRegistrationConfig | None = None  # RFC 4881 §4, §5

    def __post_init__(self) -> None:
        _check_bool(self)
        _check_name(self, "name")
        _check_name(self, "access_interface")
        _check_name(self, "wired_interface")
        _check_address(self, "address")
        _check_mac(self, "mac")
        for a in self.other_addresses:
            if not isinstance(a, IPv4Address):
                raise _fail(self, "other_addresses", f"must hold IPv4Address values, got {a!r}")
        if not isinstance(self.advertisement, AdvertisementConfig):
            raise _fail(self, "advertisement", "must be an AdvertisementConfig")
        _check_lifetime(self, "registration_lifetime")
        _check_encapsulations(self, "encapsulations")
        _check_sas(self, "mn_fa")
        _check_sas(self, "fa_ha")
        _check_positive(self, "pending_timeout")
        if self.max_pending is not None and (
            not isinstance(self.max_pending, int) or self.max_pending < 1
        ):
            raise _fail(self, "max_pending", f"must be None or an int >= 1, got {self.max_pending}")
        _check_positive(self, "denial_interval", strict=False)
        if self.reverse_tunnel_required and not self.reverse_tunnel_offered:
            raise _fail(self, "reverse_tunnel_required", "needs reverse_tunnel_offered")
        if self.gfa is not None and not isinstance(self.gfa, GfaOption):
            raise _fail(self, "gfa", "must be a GfaOption or None")
        if self.pre_registration is not None and not isinstance(
            self.pre_registration, PreRegistrationConfig
        ):
            raise _fail(self, "pre_registration", "must be a PreRegistrationConfig or None")
        if self.post_registration is not None and not isinstance(
            self.post_registration, PostRegistrationConfig
        ):
            raise _fail(self, "post_registration", "must be a PostRegistrationConfig or None")

    @property
    def addresses(self) -> frozenset[IPv4Address]:
        """Every address configured on the FA's interfaces."""
        return frozenset((self.address, *self.other_addresses))


# ---------------------------------------------------------------------------- mobile node


@dataclass(frozen=True, slots=True, kw_only=True)
class MobileNodeConfig:
    """A mobile node (RFC 5944 §2.4, §3.6, RFC 3024 §4.1, RFC 4857 §5.1/§6.1).

    ``mn_ha`` is the MN-HA SA (its ``replay`` field selects timestamps or nonces). ``mn_fa``
    maps FA addresses to MN-FA SAs, ``mn_gfa`` GFA addresses to MN-GFA SAs (regional
    registration is used only with a GFA the MN shares an SA with). ``clock_offset``: the
    MN's wall clock is ``now + clock_offset``; timestamps use it and a code 133 resynchronises
    it (RFC 5944 §5.7.1). ``retransmit_initial`` doubles per retry up to ``retransmit_max``
    and never beyond the requested lifetime (§3.6.3). Re-registration starts when
    ``reregister_fraction`` of the granted lifetime has elapsed. ``eager`` registers with any
    new FA heard (RFC 4881 §3.6); False keeps the current FA while it is heard (RFC 5944 §3.6).
    ``solicit_on_link_up`` sends an Agent Solicitation on L2-LU (method ``standard-solicit``).
    ``deferred_registration``: after a POST-REGISTRATION handoff the MN defers its
    registration (RFC 4881 §4.4, :mod:`mip4.core.mn_post_registration`). ``combined_method``:
    the low-latency request also carries the oFA's address in an LLA sub-type 7 (RFC 4881
    §5, §9.7), for the nFA's fallback to POST-REGISTRATION. ``uplink_buffer`` (smooth
    handoff, beyond RFC 4881): from L2-LD the MN's data plane holds up to that many of its
    own outgoing packets and sends them once it has a default router again (0: none held).
    """

    name: str
    home_address: IPv4Address
    home_agent: IPv4Address
    mn_ha: SecurityAssociation
    interface: str = "radio0"
    mac: bytes = b"\x02\x00\x00\x00\x01\x01"
    mn_fa: Mapping[IPv4Address, SecurityAssociation] = field(default_factory=_empty_sas)
    mn_gfa: Mapping[IPv4Address, SecurityAssociation] = field(default_factory=_empty_sas)
    registration_lifetime: int = 600
    reverse_tunnel: bool = True
    encapsulating_delivery: bool = False
    encapsulation: TunnelMode = TunnelMode.IP_IN_IP
    simultaneous_bindings: bool = False
    clock_offset: float = 0.0
    timestamp_random_bits: int = 0
    retransmit_initial: float = 1.0
    retransmit_max: float = 32.0
    reregister_fraction: float = 0.85
    eager: bool = True
    solicit_on_link_up: bool = False
    solicitation_address: IPv4Address = ALL_MOBILITY_AGENTS
    solicitation_interval: float = 1.0
    initial_solicitations: int = 3
    max_solicitation_interval: float = 60.0
    solicitation_jitter: float = 0.0
    regional_registration: bool = True
    pre_registration: MnPreRegistrationConfig | None = None  # RFC 4881 §3
    deferred_registration: bool = False  # RFC 4881 §4.4: POST-REGISTRATION handoffs
    combined_method: bool = False  # RFC 4881 §5: the oFA's address in the low-latency RRQ
    uplink_buffer: int = 0  # smooth handoff: uplink packets held while the link is down

    def __post_init__(self) -> None:
        _check_bool(self)
        _check_name(self, "name")
        _check_name(self, "interface")
        _check_address(self, "home_address")
        _check_address(self, "home_agent")
        if not isinstance(self.mn_ha, SecurityAssociation):
            raise _fail(self, "mn_ha", "must be a SecurityAssociation (RFC 5944 §3.6: MUST)")
        _check_mac(self, "mac")
        _check_sas(self, "mn_fa")
        _check_sas(self, "mn_gfa")
        _check_lifetime(self, "registration_lifetime")
        if not isinstance(self.encapsulation, TunnelMode):
            raise _fail(self, "encapsulation", f"must be a TunnelMode, got {self.encapsulation!r}")
        if self.encapsulating_delivery and not self.reverse_tunnel:
            # RFC 3024 §3.3: the extension MUST NOT be included without the T bit.
            raise _fail(self, "encapsulating_delivery", "needs reverse_tunnel (RFC 3024 §3.3)")
        _check_positive(self, "clock_offset", minimum=-math.inf)
        if not isinstance(self.timestamp_random_bits, int) or not (
            0 <= self.timestamp_random_bits <= 32
        ):
            raise _fail(self, "timestamp_random_bits", "must be an int in 0..32")
        # RFC 5944 §3.6.3: "The minimum time between Registration Requests MUST NOT be less
        # than 1 second."
        _check_positive(self, "retransmit_initial", minimum=1.0, strict=False)
        _check_positive(self, "retransmit_max", minimum=self.retransmit_initial, strict=False)
        _check_positive(self, "reregister_fraction")
        if self.reregister_fraction >= 1.0:
            raise _fail(self, "reregister_fraction", "must be below 1")
        _check_address(self, "solicitation_address", unicast=False)
        _check_positive(self, "solicitation_interval")
        if not isinstance(self.initial_solicitations, int) or self.initial_solicitations < 1:
            raise _fail(self, "initial_solicitations", "must be an int >= 1")
        held = self.uplink_buffer
        if not isinstance(held, int) or isinstance(held, bool) or held < 0:
            raise _fail(self, "uplink_buffer", f"must be an int >= 0, got {held!r}")
        # RFC 5944 §2.4: the maximum interval SHOULD be at least one minute; we allow less
        # (small simulations) but never below the initial interval.
        _check_positive(
            self, "max_solicitation_interval", minimum=self.solicitation_interval, strict=False
        )
        _check_positive(self, "solicitation_jitter", strict=False)
        if self.solicitation_jitter >= 1.0:
            raise _fail(self, "solicitation_jitter", "must be below 1 (a fraction)")
        if self.pre_registration is not None and not isinstance(
            self.pre_registration, MnPreRegistrationConfig
        ):
            raise _fail(self, "pre_registration", "must be a MnPreRegistrationConfig or None")


# ---------------------------------------------------------------------------- GFA


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayForeignAgentConfig:
    """A gateway foreign agent (RFC 4857 §5.3, §6.3).

    ``fa_gfa`` maps the address of each FA beneath it to the FA-FA SA (Generalized
    Authentication sub-type 2, RFC 4857 §11); ``mn_gfa`` maps home addresses to MN-GFA SAs
    (sub-type 3); ``fa_ha`` maps HA addresses to FA-HA SAs (the GFA takes the FA's role
    towards the HA, RFC 4857 §4.1.2). Regional lifetimes never exceed
    ``max_regional_lifetime`` nor the remaining home lifetime (§6.3).
    """

    name: str
    address: IPv4Address
    interface: str = "wired0"
    fa_gfa: Mapping[IPv4Address, SecurityAssociation] = field(default_factory=_empty_sas)
    mn_gfa: Mapping[IPv4Address, SecurityAssociation] = field(default_factory=_empty_sas)
    fa_ha: Mapping[IPv4Address, SecurityAssociation] = field(default_factory=_empty_sas)
    max_lifetime: int = 1800
    max_regional_lifetime: int = 600
    reverse_tunnel_offered: bool = True
    encapsulations: frozenset[TunnelMode] = ALL_ENCAPSULATIONS
    replay_skew: float = DEFAULT_REPLAY_SKEW
    clock_offset: float = 0.0
    pending_timeout: float = PENDING_TIMEOUT

    def __post_init__(self) -> None:
        _check_bool(self)
        _check_name(self, "name")
        _check_name(self, "interface")
        _check_address(self, "address")
        _check_sas(self, "fa_gfa")
        _check_sas(self, "mn_gfa")
        _check_sas(self, "fa_ha")
        _check_lifetime(self, "max_lifetime")
        _check_lifetime(self, "max_regional_lifetime")
        _check_encapsulations(self, "encapsulations")
        _check_positive(self, "replay_skew")
        _check_positive(self, "clock_offset", minimum=-math.inf)
        _check_positive(self, "pending_timeout")


AgentConfig = HomeAgentConfig | ForeignAgentConfig | MobileNodeConfig | GatewayForeignAgentConfig


def describe(config: Any) -> dict[str, object]:
    """A JSON-able view of a configuration (keys never printed)."""
    out: dict[str, object] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, SecurityAssociation):
            out[f.name] = {"spi": value.spi, "replay": value.replay.value}
        elif isinstance(value, Mapping):
            out[f.name] = {str(k): {"spi": v.spi} for k, v in value.items()}
        elif isinstance(value, IPv4Address):
            out[f.name] = str(value)
        elif isinstance(value, bytes):
            out[f.name] = value.hex(":")
        elif isinstance(value, frozenset):
            out[f.name] = sorted(m.name.lower() for m in value)
        elif isinstance(value, TunnelMode):
            out[f.name] = value.name.lower()
        elif isinstance(value, tuple):
            out[f.name] = [str(v) for v in value]
        elif isinstance(value, AdvertisementConfig | GfaOption | MnPreRegistrationConfig):
            out[f.name] = describe(value)
        elif isinstance(value, PostRegistrationConfig):
            out[f.name] = {
                "neighbours": sorted(str(a) for a in value.neighbours),
                "tunnel_lifetime": value.tunnel_lifetime,
                "anchor_policy": value.anchor_policy,
                "combined": value.combined,
            }
        elif isinstance(value, PreRegistrationConfig):
            out[f.name] = {
                "neighbours": [str(n.address) for n in value.neighbours],
                "access_point_ids": list(value.access_point_ids),
                "trigger_rate_limit": value.trigger_rate_limit,
            }
        else:
            out[f.name] = value
    return out


__all__ = [
    "ALL_ENCAPSULATIONS",
    "DEFAULT_REPLAY_SKEW",
    "MAX_LIFETIME",
    "PENDING_TIMEOUT",
    "AdvertisementConfig",
    "AgentConfig",
    "ForeignAgentConfig",
    "GatewayForeignAgentConfig",
    "GfaOption",
    "HomeAgentConfig",
    "MnPreRegistrationConfig",
    "MobileNodeConfig",
    "NeighbourFa",
    "PostRegistrationConfig",
    "PreRegistrationConfig",
    "describe",
]
