"""The mobile node's state and the types its procedures share (RFC 5944 §2.4, §3.6).

:class:`MobileNodeState` holds what both procedures read and write: the agents heard, the
current agent, the pending and the accepted registration, the Identification sources and
the default router. Discovery (:mod:`mip4.core.mn_discovery`) and registration
(:mod:`mip4.core.mn_registration`) build on it; each calls the other only through the
hooks declared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from mip4.core.actions import (
    Action,
    SetDefaultRouter,
)
from mip4.core.agent import Agent
from mip4.core.config import MobileNodeConfig
from mip4.core.discovery import SolicitationBackoff
from mip4.core.registration import (
    AnyRequest,
    remaining,
)
from mip4.core.replay import IdentificationSource
from mip4.core.security import RandomSource
from mip4.wire.icmp import MobilityAgentFlags
from mip4.wire.registration import (
    ReplyCode,
)

AGENT_TIMER = "agent-lifetime"
RETRY_TIMER = "registration-retry"
REREGISTER_TIMER = "reregister"
EXPIRY_TIMER = "registration-expiry"
SOLICIT_TIMER = "solicit"
REVERSE_TUNNEL_TTL = 255  # RFC 3024 §4.1.1: with T the request MUST use IP TTL 255
DEFAULT_TTL = 64

HOME = "home"
REGIONAL = "regional"
DEREGISTER = "deregister"

# Denials after which retrying the same request may succeed (resources, timeouts, ICMP
# unreachables 80-95, RFC 5944 §3.7.3).
_TRANSIENT = frozenset(
    {
        ReplyCode.FA_INSUFFICIENT_RESOURCES,
        ReplyCode.FA_REGISTRATION_TIMEOUT,
        # 68: the FA could not authenticate a reply that claims to come from the HA. A forger
        # can cause it, and the genuine reply may still follow: keep the request pending and
        # retransmitting instead of ending the attempt (RFC 5944 §3.6.2.3 leaves the MN's
        # reaction to FA denials open; §3.7.3.1 keeps the FA's pending entry).
        ReplyCode.FA_HA_FAILED_AUTHENTICATION,
        ReplyCode.HA_INSUFFICIENT_RESOURCES,
        *range(80, 96),
    }
)


_F = MobilityAgentFlags.F.value
_H = MobilityAgentFlags.H.value
_I = MobilityAgentFlags.I.value


@dataclass(frozen=True, slots=True, kw_only=True)
class HeardAgent:
    """What the MN knows of one agent from its last advertisement (RFC 5944 §2.4)."""

    address: IPv4Address
    link_address: bytes | None
    interface: str
    sequence: int
    registration_lifetime: int
    flags: int  # the MAAE flags word (MobilityAgentFlags values), kept as a plain int
    care_of_addresses: tuple[IPv4Address, ...]
    heard_at: float
    expires_at: float

    @property
    def is_foreign_agent(self) -> bool:
        return bool(self.flags & _F)

    @property
    def is_home_agent(self) -> bool:
        return bool(self.flags & _H)

    def offers(self, flag: MobilityAgentFlags) -> bool:
        return bool(self.flags & flag.value)

    @property
    def gfa(self) -> IPv4Address | None:
        """The advertised GFA (RFC 4857 §4.3: I set, last of several CoAs)."""
        if self.flags & _I and len(self.care_of_addresses) >= 2:
            return self.care_of_addresses[-1]
        return None

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "address": str(self.address),
            "sequence": self.sequence,
            "care_of_addresses": [str(a) for a in self.care_of_addresses],
            "lifetime_remaining": remaining(self.expires_at, now),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingRequest:
    """The MN's pending registration (RFC 5944 §3.6): where it went and what it asked."""

    kind: str  # HOME, REGIONAL or DEREGISTER
    agent: HeardAgent | None
    request: AnyRequest
    destination: IPv4Address
    link_destination: bytes | None
    ttl: int
    sent_at: float
    interval: float
    gfa: IPv4Address | None = None

    @property
    def identification(self) -> int:
        return self.request.identification


@dataclass(frozen=True, slots=True, kw_only=True)
class CurrentRegistration:
    """The MN's accepted registration: the FA, the CoA at the HA, and the lifetimes."""

    agent: IPv4Address
    care_of_address: IPv4Address
    lifetime: int
    expires_at: float | None
    home_expires_at: float | None
    gfa: IPv4Address | None = None
    regional: bool = False

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "agent": str(self.agent),
            "care_of_address": str(self.care_of_address),
            "lifetime": self.lifetime,
            "lifetime_remaining": remaining(self.expires_at, now),
            "home_lifetime_remaining": remaining(self.home_expires_at, now),
            "gfa": None if self.gfa is None else str(self.gfa),
            "regional": self.regional,
        }


class MobileNodeState(Agent):
    """The MN's state, shared by its procedures (:mod:`mip4.core.mn_discovery`,
    :mod:`mip4.core.mn_registration`); :class:`~mip4.core.mobile_node.MobileNode` is the agent."""

    role = "mobile-node"

    def __init__(self, config: MobileNodeConfig, *, random: RandomSource) -> None:
        super().__init__(config.name, random)
        self.config = config
        self._link_up = True
        self._at_home = False
        self._agents: dict[IPv4Address, HeardAgent] = {}
        self._current: HeardAgent | None = None
        self._registration: CurrentRegistration | None = None
        self._pending: PendingRequest | None = None
        self._lifetime_cap: dict[IPv4Address, int] = {}  # code 69 (RFC 5944 §3.6.2.3)
        self._router: IPv4Address | None = None
        self._home_ids = IdentificationSource(
            style=config.mn_ha.replay,
            clock_offset=config.clock_offset,
            random=random,
            random_bits=config.timestamp_random_bits,
        )
        self._gfa_ids: dict[IPv4Address, IdentificationSource] = {}
        self._solicitations = SolicitationBackoff(
            interval=config.solicitation_interval,
            initial=config.initial_solicitations,
            maximum=config.max_solicitation_interval,
            jitter=config.solicitation_jitter,
        )
        self._soliciting = False
        self._last_solicitation: float | None = None

    # ------------------------------------------------------------------ cross-procedure hooks

    def _register(self, agent: HeardAgent, now: float, *, force_home: bool = False) -> list[Action]:
        """Start a registration through ``agent`` (:mod:`mip4.core.mn_registration`)."""
        raise NotImplementedError

    def _stop_soliciting(self) -> list[Action]:
        """Stop looking for agents (:mod:`mip4.core.mn_discovery`)."""
        raise NotImplementedError

    def _start_soliciting(self, now: float) -> list[Action]:
        """Look for agents (:mod:`mip4.core.mn_discovery`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ default router

    def _set_router(self, agent: HeardAgent) -> SetDefaultRouter:
        self._router = agent.address
        return SetDefaultRouter(
            router=agent.address, interface=self.config.interface, link_address=agent.link_address
        )

    def _clear_router(self) -> SetDefaultRouter:
        self._router = None
        return SetDefaultRouter(router=None, interface=self.config.interface)
