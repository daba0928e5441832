"""Actions: what an agent asks its driver to do (design.md, "The core contract").

Control plane and data plane are split as in a router: agents never forward user packets
themselves; they program a data plane with the actions below, whose semantics both drivers
(the simulator and the daemon) implement identically.

All actions are frozen dataclasses; drivers ``match`` on them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from mip4.wire.arp import ArpPacket, proxy_arp_reply
from mip4.wire.ip import PROTO_ICMP, PROTO_UDP, UdpDatagram, build_ipv4
from mip4.wire.tunnel import Encapsulation

TimerKey = tuple[str | int | IPv4Address, ...]
"""A timer's identity, e.g. ``("advertise",)`` or ``("registration-retry", home_address)``."""

TunnelMode = Encapsulation
"""Encapsulation a tunnel uses (RFC 5944 §4.1: IP-in-IP by default; M and G bits)."""


# ---------------------------------------------------------------------------- sending


@dataclass(frozen=True, slots=True, kw_only=True)
class SendPacket:
    """Send one IP datagram carrying a control message.

    ``payload`` is the UDP payload (``protocol`` 17, ports given), the ICMP message (1) or
    the ESP packet (50). ``link_destination`` is the frame's link-layer destination when the
    agent must choose it (RFC 5944 §3.7.2.3: FAs never ARP for visitors; RFC 4881 §3.6: the
    low-latency RRQ goes to the oFA's MAC with the nFA's IP address); None means ordinary
    next-hop resolution. ``message`` names the message for traces.
    """

    interface: str
    source: IPv4Address
    destination: IPv4Address
    protocol: int
    payload: bytes
    message: str
    ttl: int = 64
    source_port: int = 0
    destination_port: int = 0
    link_destination: bytes | None = None
    link_source: bytes | None = None

    def ip_packet(self) -> bytes:
        """The whole IPv4 datagram as the wire would carry it (checksums computed)."""
        body = self.payload
        if self.protocol == PROTO_UDP:
            body = UdpDatagram(
                source_port=self.source_port,
                destination_port=self.destination_port,
                payload=self.payload,
            ).encode(self.source, self.destination)
        return build_ipv4(self.source, self.destination, self.protocol, body, ttl=self.ttl)

    @property
    def is_icmp(self) -> bool:
        return self.protocol == PROTO_ICMP


# ---------------------------------------------------------------------------- timers


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Arm (or re-arm) the timer ``key`` to fire at ``deadline`` (absolute seconds)."""

    key: TimerKey
    deadline: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Disarm the timer ``key``; cancelling an unarmed timer is harmless."""

    key: TimerKey


# ---------------------------------------------------------------------------- data plane


@dataclass(frozen=True, slots=True, kw_only=True)
class SetMobilityBinding:
    """HA: intercept packets for ``home_address`` and tunnel each to every care-of address.

    Several addresses mean simultaneous bindings (RFC 5944 §3.6.1.2 S bit: the HA bicasts).
    An empty tuple removes the interception. The outer source is ``tunnel_source`` (RFC 5944
    §4.2.3: the address the HA gave in the Home Agent field). The HA also decapsulates
    reverse-tunnelled packets from a current care-of address whose inner source is the home
    address (RFC 3024 §4.2.2 check).
    """

    home_address: IPv4Address
    care_of_addresses: tuple[IPv4Address, ...]
    tunnel_source: IPv4Address
    mode: TunnelMode = TunnelMode.IP_IN_IP


@dataclass(frozen=True, slots=True, kw_only=True)
class SetVisitor:
    """FA: deliver packets for ``home_address`` on ``interface`` to ``link_address``.

    Installed when a registration is accepted (RFC 5944 §3.7.3.2) or, in POST-REGISTRATION,
    at the nFA on L2-LU (RFC 4881 §4.1). The FA also routes the visitor's uplink (see
    :class:`SetUplink`).
    """

    home_address: IPv4Address
    interface: str
    link_address: bytes


@dataclass(frozen=True, slots=True)
class RemoveVisitor:
    """FA: stop delivering to ``home_address`` (packets for it are dropped, RFC 5944 §4.2.2)."""

    home_address: IPv4Address


class UplinkMode(enum.Enum):
    """How an FA forwards a visitor's outgoing packets."""

    ROUTE = "route"  # ordinary routing (no T bit)
    REVERSE_TUNNEL = "reverse-tunnel"  # RFC 3024 direct delivery style, or RFC 4881 §4.1/§7


@dataclass(frozen=True, slots=True, kw_only=True)
class SetUplink:
    """FA: forward packets from ``home_address`` by ``mode``.

    With :attr:`UplinkMode.REVERSE_TUNNEL` they are tunnelled from ``tunnel_source`` to
    ``tunnel_destination`` (the HA, a GFA, or the anchor FA of a BET).
    """

    home_address: IPv4Address
    mode: UplinkMode
    tunnel_source: IPv4Address | None = None
    tunnel_destination: IPv4Address | None = None
    tunnel_mode: TunnelMode = TunnelMode.IP_IN_IP


@dataclass(frozen=True, slots=True, kw_only=True)
class SetForwardTunnel:
    """FA (BET forward end, RFC 4881 §4.1): tunnel packets for ``home_address`` to ``peer``.

    ``peer`` None removes the tunnel. Packets decapsulated from the HA's tunnel (or from a
    previous BET) for the MN are re-encapsulated to the peer FA instead of delivered.
    """

    home_address: IPv4Address
    peer: IPv4Address | None
    tunnel_source: IPv4Address | None = None
    tunnel_mode: TunnelMode = TunnelMode.IP_IN_IP


@dataclass(frozen=True, slots=True, kw_only=True)
class RefuseReverseTunnel:
    """FA (RFC 4881 §8.2.2): drop the packets of ``home_address`` that arrive through a
    reverse tunnel from ``peer`` (the nFA of an unconfirmed source-triggered handoff) instead
    of forwarding them; ``enabled`` False ends it."""

    home_address: IPv4Address
    peer: IPv4Address
    enabled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StartBuffering:
    """FA: hold packets for ``home_address`` (at most ``limit``) instead of delivering them."""

    home_address: IPv4Address
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FlushBuffer:
    """FA: release held packets for ``home_address`` through the current forwarding state
    (``discard`` True drops them instead, counting each as a drop)."""

    home_address: IPv4Address
    discard: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDuplicateFilter:
    """FA (smooth handoff, beyond RFC 4881): drop a packet for ``home_address`` that arrives
    out of a tunnel identical to one of the last ``window`` that did (the HA's bicast copy
    and the oFA's forwarded copy of the same packet); ``window`` 0 removes the filter."""

    home_address: IPv4Address
    window: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SetProxyArp:
    """FA: answer ARP for ``address`` on ``interface`` (RFC 4881 §4.1 step 4b), or stop."""

    address: IPv4Address
    interface: str
    enabled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceProxyArp:
    """FA: send one unsolicited unicast ARP Reply for ``address`` on ``interface``.

    RFC 4881 §4.1 step 4b: on L2-LU the nFA "must send a unicast proxy ARP message ... to
    the MN", an ARP Reply (RFC 826) on behalf of the oFA (``address``) with the nFA's access
    MAC (``link_source``) as sender hardware address, in a frame to the MN's MAC
    (``link_destination``): the MN's existing ARP entry for its default router, the oFA,
    then names the nFA, whose data plane gets the uplink (RFC 5944 §4.6: "any node
    receiving any ARP packet ... MUST update its local ARP cache ... if the receiving node
    has an entry for that IP address already"). Field layout: :func:`proxy_arp_reply`.
    ``mobile_node`` (the MN's home address) names the MN in traces and counters.
    """

    address: IPv4Address
    interface: str
    link_source: bytes
    link_destination: bytes
    mobile_node: IPv4Address

    def arp_packet(self) -> ArpPacket:
        """The ARP Reply the frame carries."""
        return proxy_arp_reply(on_behalf_of=self.address, proxy_mac=self.link_source)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDefaultRouter:
    """MN: send through ``router`` on ``interface`` at ``link_address`` (RFC 5944 §4.2.1).

    ``router`` None means the MN has no usable router (nothing is sent until one is set);
    it keeps the ARP entry of the router it had. ``link_address`` sets the router's ARP
    entry (learnt from its advertisement, RFC 5944 §4.6); None uses the entry as it stands,
    which ARP packets from the router's address may have updated since (RFC 826: the nFA's
    proxy ARP Reply, :class:`AnnounceProxyArp`), or resolves the address if there is none.
    """

    router: IPv4Address | None
    interface: str = ""
    link_address: bytes | None = None


DataPlaneAction = (
    SetMobilityBinding
    | SetVisitor
    | RemoveVisitor
    | SetUplink
    | SetForwardTunnel
    | RefuseReverseTunnel
    | StartBuffering
    | FlushBuffer
    | SetDuplicateFilter
    | SetProxyArp
    | AnnounceProxyArp
    | SetDefaultRouter
)


# ---------------------------------------------------------------------------- observability


class DropReason(enum.Enum):
    """Why a received packet or trigger was refused; every drop is counted by reason."""

    MALFORMED = "malformed"
    UNKNOWN_MANDATORY_EXTENSION = "unknown-mandatory-extension"
    UNEXPECTED_MESSAGE = "unexpected-message"
    NOT_FOR_US = "not-for-us"
    BAD_CHECKSUM = "bad-checksum"
    NO_SECURITY_ASSOCIATION = "no-security-association"
    MISSING_AUTHENTICATION = "missing-authentication"
    BAD_AUTHENTICATOR = "bad-authenticator"
    REPLAYED = "replayed"
    IDENTIFICATION_MISMATCH = "identification-mismatch"
    NO_PENDING_REQUEST = "no-pending-request"
    UNKNOWN_MOBILE_NODE = "unknown-mobile-node"
    BAD_TTL = "bad-ttl"
    RATE_LIMITED = "rate-limited"
    BAD_TRIGGER = "bad-trigger"
    STALE = "stale"


@dataclass(frozen=True, slots=True, kw_only=True)
class Dropped:
    """A packet or trigger was refused; ``detail`` says which field or rule, for operators."""

    reason: DropReason
    detail: str
    source: IPv4Address | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Notify:
    """A protocol milestone for traces, metrics and tests (e.g. ``registration-accepted``)."""

    event: str
    fields: Mapping[str, object] = field(default_factory=dict)


Action = SendPacket | StartTimer | CancelTimer | DataPlaneAction | Dropped | Notify
