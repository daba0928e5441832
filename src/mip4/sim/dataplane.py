"""The simulator's data plane: every data-plane action of :mod:`mip4.core.actions`, on real bytes.

Agents never forward user packets; they program this data plane (design.md, "Control plane
and data plane are split"). One :class:`RouterDataPlane` serves each HA, FA and GFA node and
holds the state the actions install:

- ``SetMobilityBinding`` (HA): packets for a home address are intercepted and tunnelled to
  every care-of address (several: the HA bicasts, RFC 5944 §3.6.1.2 S bit); reverse-tunnelled
  packets from a current care-of address whose inner source is the home address are
  decapsulated and routed (RFC 3024 §4.2.2 check; anything else is dropped);
- ``SetVisitor`` / ``RemoveVisitor`` (FA): decapsulated packets for the home address are
  delivered on the access link to the visitor's link-layer address (RFC 5944 §4.2.2; packets
  for a home address with no visitor entry are dropped); ``RemoveVisitor`` also ends the
  visitor's uplink (its ``SetUplink`` state);
- ``SetUplink`` (FA, GFA): packets from the home address are routed, or reverse-tunnelled to
  the HA, a GFA or an anchor FA (RFC 3024 §5.2, RFC 4881 §4.1);
- ``SetForwardTunnel`` (FA BET forward end, GFA): packets for the home address are
  re-encapsulated to the peer instead of delivered (RFC 4881 §4.1);
- ``StartBuffering`` / ``FlushBuffer``: packets for the home address are held (at most
  ``limit``; more are dropped) and later released through the forwarding state then current,
  or discarded;
- ``SetDuplicateFilter`` (smooth handoff): a packet for the home address coming out of a
  tunnel identical to one of the last ``window`` that did is dropped (``duplicate``): the
  HA's bicast copy and the oFA's forwarded copy of the same packet;
- ``SetProxyArp``: the FA answers ARP for an address on its access link (RFC 4881 §4.1);
- ``RefuseReverseTunnel``: packets of a home address out of a tunnel from a given peer are
  dropped (RFC 4881 §8.2.2: the oFA of an unconfirmed handoff).

The MN's ``SetDefaultRouter`` lives in :class:`MobileDataPlane`.

Out of a tunnel, a packet goes (in this order) to the downlink state of its destination
(buffer, then forward tunnel, then visitor delivery), to a binding for its destination
(a GFA re-tunnels to the FA), to the uplink state of its source (BET reverse end, GFA uplink
leg), or through the RFC 3024 reverse-tunnel check of a binding for its source (HA).
IP-in-IP, the default, takes a fast path whose bytes
equal :func:`mip4.wire.tunnel.encapsulate_ip_in_ip` (a test checks it); minimal encapsulation
and GRE go through :mod:`mip4.wire.tunnel`.
"""

from __future__ import annotations

import collections
import struct
from collections.abc import Callable
from functools import lru_cache
from ipaddress import IPv4Address
from typing import Protocol

from mip4.core.actions import (
    AnnounceProxyArp,
    DataPlaneAction,
    FlushBuffer,
    RefuseReverseTunnel,
    RemoveVisitor,
    SetDefaultRouter,
    SetDuplicateFilter,
    SetForwardTunnel,
    SetMobilityBinding,
    SetProxyArp,
    SetUplink,
    SetVisitor,
    StartBuffering,
    TunnelMode,
    UplinkMode,
)
from mip4.wire.errors import DecodeError
from mip4.wire.ip import (
    PROTO_GRE,
    PROTO_ICMP,
    PROTO_IPIP,
    PROTO_MINIMAL,
    PROTO_UDP,
    internet_checksum,
)
from mip4.wire.tunnel import EncapsulationRefused, decapsulate, encapsulate

TUNNEL_PROTOCOLS = frozenset({PROTO_IPIP, PROTO_GRE, PROTO_MINIMAL})
MOBILE_IP_PORT = 434
_ROUTER_DISCOVERY = (b"\x09", b"\x0a")  # ICMP Router Advertisement / Solicitation
OUTER_TTL = 64

_HEADER = struct.Struct("!BBHHHBBH4s4s")

# ---------------------------------------------------------------------------- byte helpers


@lru_cache(maxsize=65536)
def ipv4_header(
    source: bytes,
    destination: bytes,
    protocol: int,
    total_length: int,
    ttl: int = 64,
    tos: int = 0,
    flags_fragment: int = 0,
) -> bytes:
    """A 20-byte IPv4 header with its checksum (cached: the hot path reuses headers)."""
    raw = _HEADER.pack(
        0x45, tos, total_length, 0, flags_fragment, ttl, protocol, 0, source, destination
    )
    checksum = internet_checksum(raw)
    return raw[:10] + checksum.to_bytes(2, "big") + raw[12:]


_TTL_WORDS: dict[bytes, bytes] = {}  # bytes 8-11 (TTL, protocol, checksum) -> decremented


def ttl_word(word: bytes) -> bytes | None:
    """Bytes 8-11 of an IPv4 header (TTL, protocol, header checksum) with the TTL
    decremented and the checksum updated incrementally (RFC 1624 eq. 3), or None when the
    TTL would reach 0. They depend only on their old value, so they are memoised in
    ``_TTL_WORDS`` (hot paths look there first)."""
    ttl = word[0]
    if ttl <= 1:
        return None
    old = (ttl << 8) | word[1]
    checksum = (word[2] << 8) | word[3]
    total = (~checksum & 0xFFFF) + (~old & 0xFFFF) + (old - 0x100)
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    checksum = ~total & 0xFFFF
    new = bytes((ttl - 1, word[1], checksum >> 8, checksum & 0xFF))
    if len(_TTL_WORDS) < 1 << 16:
        _TTL_WORDS[word] = new
    return new


def decrement_ttl(packet: bytes) -> bytes | None:
    """``packet`` with its TTL decremented and the header checksum updated (:func:`ttl_word`),
    or None when the TTL would reach 0 (RFC 791: the packet is dropped)."""
    word = packet[8:12]
    new = _TTL_WORDS.get(word) or ttl_word(word)
    if new is None:
        return None
    return packet[:8] + new + packet[12:]


def encapsulate_packet(mode: TunnelMode, inner: bytes, source: bytes, destination: bytes) -> bytes:
    """Tunnel ``inner`` from ``source`` to ``destination`` (4-byte addresses).

    IP in IP (RFC 2003 §3.1: TOS copied, DF copied, outer TTL 64, identification 0) is built
    from a cached header; the other modes use :func:`mip4.wire.tunnel.encapsulate`.
    Raises :class:`~mip4.wire.tunnel.EncapsulationRefused` where the RFCs forbid the tunnel.
    """
    if mode is TunnelMode.IP_IN_IP:
        return (
            ipv4_header(
                source,
                destination,
                PROTO_IPIP,
                20 + len(inner),
                OUTER_TTL,
                inner[1],
                ((inner[6] << 8) | inner[7]) & 0x4000,
            )
            + inner
        )
    return encapsulate(mode, inner, IPv4Address(source), IPv4Address(destination))


def decapsulate_packet(packet: bytes) -> bytes | None:
    """The inner datagram of a tunnelled ``packet``, or None if it does not decode."""
    if packet[9] == PROTO_IPIP and packet[0] == 0x45:
        inner = packet[20:]
        if len(inner) >= 20 and (inner[2] << 8 | inner[3]) == len(inner):
            return inner
        return None
    try:
        return decapsulate(packet).inner
    except DecodeError:
        return None


def is_mobile_ip_control(packet: bytes) -> bool:
    """A UDP datagram to port 434 (routed normally even from a reverse-tunnelled visitor:
    RFC 4881 §3.6 sends the low-latency RRQ through the oFA to the nFA's address)."""
    ihl = (packet[0] & 0x0F) * 4
    return (
        packet[9] == PROTO_UDP
        and len(packet) >= ihl + 4
        and (packet[ihl + 2] << 8 | packet[ihl + 3]) == MOBILE_IP_PORT
    )


# ---------------------------------------------------------------------------- host interface


def _same(raw: bytes) -> bytes:
    return raw


class Host(Protocol):
    """What a data plane needs from the node that carries it."""

    name: str

    def route(self, packet: bytes, meta: str | None) -> None:
        """Forward ``packet`` (TTL already handled) on the wired core by its destination."""

    def deliver_on_access_link(self, packet: bytes, meta: str | None, link_address: bytes) -> None:
        """Send ``packet`` on the access link (radio cell) to ``link_address``."""

    def dataplane_drop(self, reason: str, packet: bytes, meta: str | None) -> None:
        """Count and trace a packet the data plane refused."""


class Binding:
    """An HA mobility binding as the data plane sees it."""

    __slots__ = ("care_of_addresses", "mode", "only", "tunnel_source")

    def __init__(
        self, care_of_addresses: tuple[bytes, ...], tunnel_source: bytes, mode: TunnelMode
    ):
        self.care_of_addresses = care_of_addresses
        # the care-of address when there is one only (the common case, no simultaneous
        # bindings): the hot paths read it here, not in the tuple (another object, and a
        # cache miss per packet with many MNs)
        self.only = care_of_addresses[0] if len(care_of_addresses) == 1 else None
        self.tunnel_source = tunnel_source
        self.mode = mode


class Uplink:
    """How an FA forwards a visitor's outgoing packets."""

    __slots__ = ("destination", "mode", "source", "tunnel_mode")

    def __init__(
        self, mode: UplinkMode, source: bytes, destination: bytes, tunnel_mode: TunnelMode
    ) -> None:
        self.mode = mode
        self.source = source
        self.destination = destination
        self.tunnel_mode = tunnel_mode


class ForwardTunnel:
    """A BET forward end (or a GFA's downlink leg): re-encapsulate to ``peer``."""

    __slots__ = ("mode", "peer", "source")

    def __init__(self, peer: bytes, source: bytes, mode: TunnelMode) -> None:
        self.peer = peer
        self.source = source
        self.mode = mode


class Buffer:
    """Packets held for one home address."""

    __slots__ = ("limit", "packets")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.packets: list[tuple[bytes, str | None]] = []


class DuplicateFilter:
    """The last ``window`` packets out of a tunnel for one home address (FIFO)."""

    __slots__ = ("order", "seen", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self.order: collections.deque[bytes] = collections.deque()
        self.seen: set[bytes] = set()

    def repeated(self, packet: bytes) -> bool:
        """True if ``packet`` is one of the last ``window``; else remember it."""
        seen = self.seen
        if packet in seen:
            return True
        seen.add(packet)
        order = self.order
        order.append(packet)
        while len(order) > self.window:
            seen.discard(order.popleft())
        return False


class RouterDataPlane:
    """The data plane of an HA, FA or GFA node (see the module docstring)."""

    __slots__ = (
        "address",
        "bindings",
        "buffers",
        "canonical",
        "duplicate_filters",
        "forward_tunnels",
        "host",
        "proxy_arp",
        "refused",
        "uplinks",
        "visitors",
    )

    def __init__(
        self, host: Host, address: bytes, canonical: Callable[[bytes], bytes] = _same
    ) -> None:
        self.host = host
        self.address = address  # default tunnel source
        # the keys and addresses the actions install go through ``canonical`` (the
        # network's one object per address, :meth:`mip4.sim.network.Network.canonical`)
        self.canonical = canonical
        self.bindings: dict[bytes, Binding] = {}
        self.visitors: dict[bytes, bytes] = {}  # home address -> link-layer address
        self.uplinks: dict[bytes, Uplink] = {}
        self.forward_tunnels: dict[bytes, ForwardTunnel] = {}
        self.buffers: dict[bytes, Buffer] = {}
        self.duplicate_filters: dict[bytes, DuplicateFilter] = {}
        self.proxy_arp: set[tuple[str, bytes]] = set()
        self.refused: set[tuple[bytes, bytes]] = set()  # (peer, home address)

    # -------------------------------------------------------------- programming

    def apply(self, action: DataPlaneAction) -> None:
        """Install the state one action describes."""
        key = self.canonical
        match action:
            case SetMobilityBinding(
                home_address=home, care_of_addresses=coas, tunnel_source=src, mode=mode
            ):
                if coas:
                    self.bindings[key(home.packed)] = Binding(
                        tuple(key(c.packed) for c in coas), key(src.packed), mode
                    )
                else:
                    self.bindings.pop(key(home.packed), None)
            case SetVisitor(home_address=home, link_address=mac):
                self.visitors[key(home.packed)] = key(mac)
            case RemoveVisitor(home_address=home):
                # the visitor's uplink forwarding ends with it (mip4.core.foreign_agent)
                self.visitors.pop(key(home.packed), None)
                self.uplinks.pop(key(home.packed), None)
            case SetUplink(home_address=home, mode=mode):
                up_source = action.tunnel_source
                up_destination = action.tunnel_destination
                self.uplinks[key(home.packed)] = Uplink(
                    mode,
                    key(up_source.packed) if up_source else self.address,
                    key(up_destination.packed) if up_destination else b"",
                    action.tunnel_mode,
                )
            case SetForwardTunnel(home_address=home, peer=peer):
                if peer is None:
                    self.forward_tunnels.pop(key(home.packed), None)
                else:
                    fw_source = action.tunnel_source
                    self.forward_tunnels[key(home.packed)] = ForwardTunnel(
                        key(peer.packed),
                        key(fw_source.packed) if fw_source else self.address,
                        action.tunnel_mode,
                    )
            case StartBuffering(home_address=home, limit=limit):
                buffer = self.buffers.get(key(home.packed))
                if buffer is None:
                    self.buffers[key(home.packed)] = Buffer(limit)
                else:
                    buffer.limit = limit
            case FlushBuffer(home_address=home, discard=discard):
                self.flush(key(home.packed), discard)
            case SetDuplicateFilter(home_address=home, window=window):
                if window > 0:
                    self.duplicate_filters[key(home.packed)] = DuplicateFilter(window)
                else:
                    self.duplicate_filters.pop(key(home.packed), None)
            case SetProxyArp(address=address, interface=interface, enabled=enabled):
                if enabled:
                    self.proxy_arp.add((interface, key(address.packed)))
                else:
                    self.proxy_arp.discard((interface, key(address.packed)))
            case RefuseReverseTunnel(home_address=home, peer=peer, enabled=enabled):
                if enabled:
                    self.refused.add((key(peer.packed), key(home.packed)))
                else:
                    self.refused.discard((key(peer.packed), key(home.packed)))
            case SetDefaultRouter() | AnnounceProxyArp():
                pass  # an MN action refused, or a frame sent, by the node before it gets here

    # -------------------------------------------------------------- forwarding

    def intercepts(self, destination: bytes) -> bool:
        return destination in self.bindings

    def intercept(self, packet: bytes, meta: str | None, binding: Binding | None = None) -> None:
        """HA: tunnel a packet for a home address to each care-of address (RFC 5944 §4.2.3).

        ``binding``: the packet's destination's, if the caller has looked it up already."""
        if binding is None:
            binding = self.bindings[packet[16:20]]
        # RFC 2003 §3.1: the encapsulator is forwarding it (TTL decremented)
        word = packet[8:12]
        new = _TTL_WORDS.get(word) or ttl_word(word)
        if new is None:
            self.host.dataplane_drop("ttl-exceeded", packet, meta)
            return
        if binding.mode is TunnelMode.IP_IN_IP:
            # encapsulate_packet's IP in IP with the TTL rewrite in the same copy: the outer
            # header, then the inner one's bytes around the new TTL word
            length = 20 + len(packet)
            tos = packet[1]
            df = ((packet[6] << 8) | packet[7]) & 0x4000
            source = binding.tunnel_source
            route = self.host.route
            only = binding.only
            if only is not None:
                header = ipv4_header(source, only, PROTO_IPIP, length, OUTER_TTL, tos, df)
                route(b"".join((header, packet[:8], new, packet[12:])), meta)
                return
            for coa in binding.care_of_addresses:  # simultaneous bindings: a copy to each
                header = ipv4_header(source, coa, PROTO_IPIP, length, OUTER_TTL, tos, df)
                route(b"".join((header, packet[:8], new, packet[12:])), meta)
            return
        inner = packet[:8] + new + packet[12:]
        for coa in binding.care_of_addresses:
            self._tunnel(binding.mode, inner, binding.tunnel_source, coa, meta)

    def _tunnel(
        self, mode: TunnelMode, inner: bytes, source: bytes, destination: bytes, meta: str | None
    ) -> None:
        try:
            outer = encapsulate_packet(mode, inner, source, destination)
        except EncapsulationRefused:
            self.host.dataplane_drop("encapsulation-refused", inner, meta)
            return
        self.host.route(outer, meta)

    def decapsulated(self, outer: bytes, meta: str | None) -> None:
        """A tunnelled packet addressed to this node (RFC 2003 §3.1 tunnel exit)."""
        if (
            len(outer) >= 40
            and outer[9] == PROTO_IPIP
            and outer[0] == 0x45
            and outer[29] != PROTO_ICMP
            and (outer[22] << 8 | outer[23]) == len(outer) - 20
            and not self.duplicate_filters
            and not self.buffers
            and not self.forward_tunnels
        ):
            # The common case (an FA's visitor's packet, IP in IP, no ICMP, nothing but
            # visitor entries installed) with decapsulation and the TTL rewrite of _deliver
            # in one copy of the inner packet: the same bytes as the general path below,
            # which handles everything else (also a TTL word not yet memoised).
            destination = outer[36:40]
            link_address = self.visitors.get(destination)
            if link_address is not None:
                new = _TTL_WORDS.get(outer[28:32])
                if new is not None:
                    self.host.deliver_on_access_link(
                        b"".join((outer[20:28], new, outer[32:])), meta, link_address
                    )
                    return
            elif destination not in self.bindings:
                # The HA's end of a reverse tunnel (RFC 3024 §4.2.2), the same way: no
                # refusal, no uplink state for the inner source, which has a binding whose
                # care-of addresses include the outer source; routed with its TTL rewritten.
                source = outer[32:36]
                binding = self.bindings.get(source)
                if (
                    binding is not None
                    and not self.refused
                    and source not in self.uplinks
                    and (outer[12:16] == binding.only or outer[12:16] in binding.care_of_addresses)
                ):
                    new = _TTL_WORDS.get(outer[28:32])
                    if new is not None:
                        self.host.route(b"".join((outer[20:28], new, outer[32:])), meta)
                        return
        inner = decapsulate_packet(outer)
        if inner is None:
            self.host.dataplane_drop("bad-tunnel", outer, meta)
            return
        if inner[9] == PROTO_ICMP and inner[(inner[0] & 0x0F) * 4 :][:1] in _ROUTER_DISCOVERY:
            # RFC 4881 §3.4.2: router discovery ICMP comes out of a tunnel only through the
            # FAs' tunnel-mode ESP SA (the agent's job); a plain tunnel is unauthenticated.
            self.host.dataplane_drop("unauthenticated-tunnelled-icmp", outer, meta)
            return
        destination = inner[16:20]
        if self.duplicate_filters:
            duplicate_filter = self.duplicate_filters.get(destination)
            if duplicate_filter is not None and duplicate_filter.repeated(inner):
                self.host.dataplane_drop("duplicate", inner, meta)
                return
        if self.buffers or self.forward_tunnels:
            if (
                destination in self.buffers
                or destination in self.forward_tunnels
                or destination in self.visitors
            ):
                self.downlink(inner, meta)
                return
        else:  # the common case: one look-up of the visitor, not four
            link_address = self.visitors.get(destination)
            if link_address is not None:
                self._deliver(inner, meta, link_address)
                return
        if destination in self.bindings:
            # a GFA's downlink leg (RFC 4857: the HA tunnels to the GFA, the GFA to the FA)
            self.intercept(inner, meta)
            return
        source = inner[12:16]
        if self.refused and (outer[12:16], source) in self.refused:
            self.host.dataplane_drop("reverse-tunnel-refused", inner, meta)
            return
        if source in self.uplinks:  # BET reverse end, or a GFA's uplink leg to the HA
            self.uplink(inner, meta)
            return
        binding = self.bindings.get(source)
        if binding is not None:
            # RFC 3024 §4.2.2: the outer source must be a current care-of address.
            if outer[12:16] in binding.care_of_addresses:
                routed = decrement_ttl(inner)
                if routed is None:
                    self.host.dataplane_drop("ttl-exceeded", inner, meta)
                else:
                    self.host.route(routed, meta)
            else:
                self.host.dataplane_drop("reverse-tunnel-check", outer, meta)
            return
        # RFC 5944 §4.2.2: nothing for this home address here (no visitor, no tunnel).
        self.host.dataplane_drop("not-a-visitor", inner, meta)

    def downlink(self, inner: bytes, meta: str | None) -> None:
        """A packet for a home address, out of a tunnel: buffer, forward or deliver."""
        home = inner[16:20]
        buffer = self.buffers.get(home)
        if buffer is not None:
            if len(buffer.packets) >= buffer.limit:
                self.host.dataplane_drop("buffer-full", inner, meta)
            else:
                buffer.packets.append((inner, meta))
            return
        tunnel = self.forward_tunnels.get(home)
        if tunnel is not None:
            self._tunnel(tunnel.mode, inner, tunnel.source, tunnel.peer, meta)
            return
        link_address = self.visitors.get(home)
        if link_address is None:
            # RFC 5944 §4.2.2: only to visitors; silently dropped (counted here).
            self.host.dataplane_drop("not-a-visitor", inner, meta)
            return
        self._deliver(inner, meta, link_address)

    def _deliver(self, inner: bytes, meta: str | None, link_address: bytes) -> None:
        """To a visitor on the access link (the FA forwards it: TTL decremented)."""
        delivered = decrement_ttl(inner)
        if delivered is None:
            self.host.dataplane_drop("ttl-exceeded", inner, meta)
            return
        self.host.deliver_on_access_link(delivered, meta, link_address)

    def uplink(self, packet: bytes, meta: str | None) -> None:
        """A packet from a visitor (from the access link or out of a BET reverse tunnel)."""
        uplink = self.uplinks.get(packet[12:16])
        if uplink is None:
            self.host.dataplane_drop("not-a-visitor", packet, meta)
            return
        word = packet[8:12]
        new = _TTL_WORDS.get(word) or ttl_word(word)
        if new is None:
            self.host.dataplane_drop("ttl-exceeded", packet, meta)
            return
        if uplink.mode is UplinkMode.ROUTE or is_mobile_ip_control(packet):
            self.host.route(packet[:8] + new + packet[12:], meta)
            return
        if uplink.tunnel_mode is TunnelMode.IP_IN_IP:
            # the reverse tunnel (RFC 3024): as intercept, TTL rewrite and encapsulation in
            # one copy
            header = ipv4_header(
                uplink.source,
                uplink.destination,
                PROTO_IPIP,
                20 + len(packet),
                OUTER_TTL,
                packet[1],
                ((packet[6] << 8) | packet[7]) & 0x4000,
            )
            self.host.route(b"".join((header, packet[:8], new, packet[12:])), meta)
            return
        routed = packet[:8] + new + packet[12:]
        self._tunnel(uplink.tunnel_mode, routed, uplink.source, uplink.destination, meta)

    def flush(self, home: bytes, discard: bool) -> None:
        """Stop buffering for ``home``; release (or discard) what was held, in order."""
        buffer = self.buffers.pop(home, None)
        if buffer is None:
            return
        for packet, meta in buffer.packets:
            if discard:
                self.host.dataplane_drop("buffer-discarded", packet, meta)
            else:
                self.downlink(packet, meta)

    def answers_arp(self, interface: str, address: bytes) -> bool:
        return (interface, address) in self.proxy_arp

    def snapshot(self) -> dict[str, object]:
        """The installed state, for tests and reports."""
        return {
            "bindings": {
                str(IPv4Address(h)): [str(IPv4Address(c)) for c in b.care_of_addresses]
                for h, b in sorted(self.bindings.items())
            },
            "visitors": {str(IPv4Address(h)): m.hex() for h, m in sorted(self.visitors.items())},
            "uplinks": {
                str(IPv4Address(h)): u.mode.value
                + ("" if not u.destination else f" -> {IPv4Address(u.destination)}")
                for h, u in sorted(self.uplinks.items())
            },
            "forward_tunnels": {
                str(IPv4Address(h)): str(IPv4Address(t.peer))
                for h, t in sorted(self.forward_tunnels.items())
            },
            "buffers": {
                str(IPv4Address(h)): len(b.packets) for h, b in sorted(self.buffers.items())
            },
            "duplicate_filters": {
                str(IPv4Address(h)): f.window for h, f in sorted(self.duplicate_filters.items())
            },
            "proxy_arp": sorted(f"{i}:{IPv4Address(a)}" for i, a in self.proxy_arp),
            "refused": sorted(f"{IPv4Address(p)}:{IPv4Address(h)}" for p, h in self.refused),
        }


class MobileDataPlane:
    """The MN's data plane: its default router (RFC 5944 §4.2.1), the ARP entries of its
    routers and, with smooth handoff (``StartBuffering`` at the MN), the uplink packets it
    holds while it has no router: at most ``limit`` (more are dropped), released by the host
    once a router is set.

    ``arp`` maps a router's address to the MAC its ``SetDefaultRouter`` gave; clearing the
    router keeps the entry, so a ``SetDefaultRouter`` without a MAC (the deferring MN, RFC
    4881 §4.4) uses it, and an ARP packet from a sender with an entry updates it (RFC 826,
    :meth:`arp_update`). ``link_address`` is the current router's entry (None: resolved on
    the cell)."""

    __slots__ = ("arp", "awaiting_arp", "held", "hold_limit", "interface", "link_address", "router")

    def __init__(self) -> None:
        self.router: bytes | None = None
        self.interface = ""
        self.link_address: bytes | None = None
        self.arp: dict[bytes, bytes] = {}
        self.awaiting_arp = False
        self.held: list[bytes] | None = None  # None: not holding
        self.hold_limit = 0

    def apply(self, action: DataPlaneAction) -> bool:
        """Install ``SetDefaultRouter`` or ``StartBuffering``; any other action is not an
        MN's (returns False)."""
        if isinstance(action, SetDefaultRouter):
            router = None if action.router is None else action.router.packed
            if router is not None and action.link_address is not None:
                self.arp[router] = action.link_address
            self.router = router
            self.interface = action.interface
            self.link_address = None if router is None else self.arp.get(router)
            # Smooth handoff, deferring MN (no MAC given, an entry kept): the held uplink
            # waits for the nFA's proxy ARP Reply (RFC 4881 §4.1 step 4b), not for the
            # anchor's MAC, which nobody on this link answers to.
            self.awaiting_arp = action.link_address is None and self.link_address is not None
            return True
        if isinstance(action, StartBuffering):
            self.hold_limit = action.limit
            if self.held is None:
                self.held = []
            return True
        return False

    def arp_update(self, address: bytes, mac: bytes) -> bool:
        """RFC 826 "merge": an ARP packet from ``address`` updates its entry if there is one
        (none is created: the packet does not target the MN's own address). True if it did."""
        if address not in self.arp:
            return False
        self.arp[address] = mac
        if address == self.router:
            self.link_address = mac
            self.awaiting_arp = False
        return True

    def release(self) -> list[bytes]:
        """With a router set (and its entry confirmed, ``awaiting_arp``): the held packets,
        oldest first (holding ends)."""
        if self.router is None or self.held is None or self.awaiting_arp:
            return []
        held, self.held = self.held, None
        return held
