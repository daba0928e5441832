"""The asyncio driver: one :mod:`mip4.core` agent, unchanged, on real sockets.

Clock: ``now`` is the event loop's monotonic clock; the agent's wall clock (timestamps,
RFC 5944 §5.7) is ``now + clock_offset``, so the runtime sets ``clock_offset`` to the
difference between the wall clock and the loop clock when it starts.

Timers: ``StartTimer`` arms ``loop.call_at`` under its key (re-arming for an earlier
deadline replaces the handle; for a later one, as every re-registration does, the armed
handle re-arms itself for the latest deadline when it fires, so the agent still sees the
timer exactly at its last deadline), ``CancelTimer`` marks it cancelled (its handle, still
armed, then does nothing, unless the key is started again first: a pending request's timer
is cancelled by each reply and started by the next request); a timer fires with
``now = max(loop time, deadline)`` and the agent itself ignores stale ones.

Receiving (everything becomes a :class:`~mip4.core.packets.ReceivedPacket`):

- UDP 434: a socket bound to port 434 with ``IP_PKTINFO`` (interface, destination) and
  ``IP_RECVTTL``;
- ICMP (advertisements, solicitations, unreachables) and ESP (inter-FA ICMP, protocol 50):
  raw sockets, the TTL read from the IP header, the interface from ``IP_PKTINFO``;
- on the interfaces where the agent needs the frame's link-layer source (an FA's access
  link, an MN's radio) an ``AF_PACKET`` socket with a BPF filter (UDP 434, ICMP, ESP) gives
  the same packets with their source MAC; copies of those packets arriving through the
  sockets above are ignored.

Sending (``SendPacket``): with a link-layer destination, as a frame to that MAC through
``AF_PACKET`` (RFC 5944 §3.7.2.3, RFC 4881 §3.6); to a broadcast or multicast address,
through a raw socket bound to the interface (``SO_BROADCAST``, ``SO_BINDTODEVICE``,
``IP_MULTICAST_IF``) with the agent's header (TTL 1 for advertisements, RFC 5944 §2.3);
UDP from port 434 with a local source through the port-434 socket (TTL per packet);
anything else (a non-local source such as the nFA address of a PrRtAdv, another source
port, ICMP and ESP) as a whole datagram through an ``IP_HDRINCL`` raw socket.

Bad packets and bad triggers never stop the daemon: every input is handled inside a
boundary that counts and logs what went wrong.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import errno
import functools
import logging
import random
import socket
import struct
import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from mip4.core.actions import (
    Action,
    AnnounceProxyArp,
    CancelTimer,
    Dropped,
    Notify,
    SendPacket,
    StartTimer,
    TimerKey,
)
from mip4.core.agent import Agent
from mip4.core.config import (
    ForeignAgentConfig,
    GatewayForeignAgentConfig,
    HomeAgentConfig,
    MobileNodeConfig,
)
from mip4.core.packets import ReceivedPacket
from mip4.core.triggers import L2Trigger, LinkDown, LinkUp
from mip4.daemon.config import DaemonConfig
from mip4.daemon.dataplane import DataPlane, Netlink
from mip4.daemon.metrics import Metrics
from mip4.wire._util import ipv4
from mip4.wire.errors import ChecksumError, DecodeError
from mip4.wire.ip import PROTO_ESP, PROTO_ICMP, PROTO_UDP, IPv4Header, UdpDatagram

log = logging.getLogger("mip4.daemon")

MOBILE_IP_PORT = 434
_MOBILE_IP_PORT_BYTES = MOBILE_IP_PORT.to_bytes(2, "big")
IP_PKTINFO = 8
IP_RECVTTL = 12
IP_TTL = 2
SO_ATTACH_FILTER = 26
SKF_AD_IFINDEX = (-0x1000 + 8) & 0xFFFFFFFF  # SKF_AD_OFF + SKF_AD_IFINDEX
SO_RCVBUFFORCE = 33
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4
PACKET_OTHERHOST = 3
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_CSUMNOTREADY = 1 << 3
TP_STATUS_CSUM_VALID = 1 << 7
BROADCAST_MAC = b"\xff" * 6
READ_BATCH = 64
NETLINK_ROUTE = 0
RTMGRP_LINK = 1
RTM_NEWLINK = 16
IFLA_IFNAME = 3
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
_PKTINFO = struct.Struct("=I4s4s")

# Classic BPF on the IP header (SOCK_DGRAM packet socket): ICMP, ESP, or UDP to port 434.
_BPF = [
    (0x30, 0, 0, 9),  # ldb [9]            protocol
    (0x15, 5, 0, PROTO_ICMP),  # jeq #1 -> accept
    (0x15, 4, 0, PROTO_ESP),  # jeq #50 -> accept
    (0x15, 0, 4, PROTO_UDP),  # jeq #17 else reject
    (0xB1, 0, 0, 0),  # ldxb 4*([0]&0xf)
    (0x48, 0, 0, 2),  # ldh [x+2]          destination port
    (0x15, 0, 1, MOBILE_IP_PORT),  # jeq #434 else reject
    (0x06, 0, 0, 0x40000),  # accept
    (0x06, 0, 0, 0),  # reject
]


def attach_filter(
    sock: socket.socket, instructions: list[tuple[int, int, int, int]] | None = None
) -> None:
    """Attach a classic BPF program (default :data:`_BPF`, for a packet socket) to ``sock``
    (the kernel copies the program)."""
    import ctypes

    insns = _BPF if instructions is None else instructions
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *insn) for insn in insns))
    program = struct.pack("HL", len(insns), ctypes.addressof(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)


def interface_filter(indexes: list[int]) -> list[tuple[int, int, int, int]]:
    """Classic BPF rejecting packets that arrived on one of ``indexes`` (``ld ifidx``)."""
    count = len(indexes)
    program = [(0x20, 0, 0, SKF_AD_IFINDEX)]  # ld ifidx
    for k, index in enumerate(indexes, start=1):
        program.append((0x15, count + 1 - k, 0, index))  # jeq #index -> reject
    program += [(0x06, 0, 0, 0xFFFFFFFF), (0x06, 0, 0, 0)]  # accept, reject
    return program


def _link_is_up(name: str) -> bool:
    try:
        with open(f"/sys/class/net/{name}/operstate", encoding="ascii") as stream:
            return stream.read().strip() in ("up", "unknown")
    except OSError:
        return False


def parse_link_messages(data: bytes) -> list[tuple[str, bool]]:
    """(interface, up) for each RTM_NEWLINK in a netlink datagram (up: IFF_UP and LOWER_UP)."""
    out: list[tuple[str, bool]] = []
    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16 or offset + length > len(data):
            break
        if kind == RTM_NEWLINK and length >= 32:
            flags = struct.unpack_from("=I", data, offset + 24)[0]
            name = None
            attr = offset + 32
            end = offset + length
            while attr + 4 <= end:
                attr_length, attr_type = struct.unpack_from("=HH", data, attr)
                if attr_length < 4:
                    break
                if attr_type == IFLA_IFNAME:
                    name = (
                        data[attr + 4 : attr + attr_length].rstrip(b"\0").decode(errors="replace")
                    )
                attr += (attr_length + 3) & ~3
            if name is not None:
                out.append((name, flags & IFF_UP != 0 and flags & IFF_LOWER_UP != 0))
        offset += (length + 3) & ~3
    return out


def make_agent(config: DaemonConfig, rng: random.Random) -> Agent:
    """The core agent for ``config`` (the classes are used unchanged)."""
    core = config.core
    if isinstance(core, HomeAgentConfig):
        from mip4.core.home_agent import HomeAgent

        return HomeAgent(core, random=rng)
    if isinstance(core, ForeignAgentConfig):
        from mip4.core.foreign_agent import ForeignAgent

        return ForeignAgent(core, random=rng)
    if isinstance(core, MobileNodeConfig) and config.second_radio is not None:
        return _multi_interface(config, core, rng)
    if isinstance(core, MobileNodeConfig):
        from mip4.core.mobile_node import MobileNode

        return MobileNode(core, random=rng)
    from mip4.core.gateway_foreign_agent import GatewayForeignAgent

    assert isinstance(core, GatewayForeignAgentConfig)
    return GatewayForeignAgent(core, random=rng)


def _multi_interface(config: DaemonConfig, core: MobileNodeConfig, rng: random.Random) -> Agent:
    """RFC 4881 Appendix B: one MobileNode per radio, as the simulator builds it (every
    interface solicits on L2-LU; FA care-of addresses, no regional registration)."""
    from mip4.core.mn_multi_interface import MultiInterfaceConfig, MultiInterfaceMobileNode

    assert config.second_radio is not None
    base = dataclasses.replace(core, solicit_on_link_up=True, regional_registration=False)
    multi = MultiInterfaceConfig(
        base=base,
        interfaces=((core.interface, core.mac), config.second_radio),
        hold_time=config.multi_interface_hold,
    )
    return MultiInterfaceMobileNode(multi, random=rng)  # type: ignore[return-value]


def _text(value: object) -> object:
    """A log field value: MACs as hex, enums by name, addresses as strings."""
    if isinstance(value, bytes):
        return value.hex(":")
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, tuple | list | frozenset):
        return [_text(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def _large_receive_buffer(sock: socket.socket, size: int = 1 << 22) -> None:
    """A receive buffer that absorbs bursts (SO_RCVBUFFORCE as root, else up to rmem_max)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


@functools.lru_cache(maxsize=4096)
def _text_address(address: IPv4Address) -> str:
    """``str(address)`` (ipaddress formats slowly; the same few peers recur)."""
    return str(address)


@functools.lru_cache(maxsize=4096)
def _parse_address(text: str) -> IPv4Address:
    """``IPv4Address(text)`` for a socket's peer (ipaddress parses slowly; peers recur)."""
    return IPv4Address(text)


_PROTOCOL_KEYS = {p: f"protocol-{p}" for p in (PROTO_ICMP, PROTO_UDP, PROTO_ESP)}


_IP_HEADER = struct.Struct("!BBHHHBBH4s4s")  # IPv4, no options (RFC 791 §3.1)
_UDP_HEADER = struct.Struct("!HHHH")  # RFC 768
_IP_UDP_HEADERS = struct.Struct("!BBHHHBBH4s4sHHHH")  # both, one after the other


def _checksum(data: bytes) -> int:
    """RFC 1071's checksum, as :func:`mip4.wire.ip.internet_checksum` computes it: the
    one's-complement sum of the 16-bit words is the big-endian integer modulo 0xFFFF
    (2**16 is 1 modulo 0xFFFF), one C call instead of unpacking and adding the words; a
    nonzero multiple of 0xFFFF sums to 0xFFFF (checksum 0), all zeros to 0 (0xFFFF)."""
    if len(data) % 2:
        data += b"\x00"
    value = int.from_bytes(data, "big")
    remainder = value % 0xFFFF
    if remainder:
        return 0xFFFF - remainder
    return 0 if value else 0xFFFF


def udp_ip_packet(action: SendPacket) -> bytes:
    """``action.ip_packet()`` for a UDP action, byte for byte (identification 0, no DF, no
    options, both checksums computed; a zero UDP checksum sent as 0xFFFF, RFC 768), built
    with one struct instead of the wire module's header objects: an FA sends every reply
    to a visitor this way (RFC 5944 §3.7.2.3, a frame to the MN's MAC)."""
    source = action.source.packed
    destination = action.destination.packed
    payload = action.payload
    length = 8 + len(payload)
    total = 20 + length
    udp = _checksum(
        source
        + destination
        + bytes((0, PROTO_UDP))
        + length.to_bytes(2, "big")
        + _UDP_HEADER.pack(action.source_port, action.destination_port, length, 0)
        + payload
    )
    ttl = action.ttl
    header = _IP_HEADER.pack(0x45, 0, total, 0, 0, ttl, PROTO_UDP, 0, source, destination)
    return (
        _IP_UDP_HEADERS.pack(
            0x45,
            0,
            total,
            0,
            0,
            ttl,
            PROTO_UDP,
            _checksum(header),
            source,
            destination,
            action.source_port,
            action.destination_port,
            length,
            udp or 0xFFFF,
        )
        + payload
    )


def _is_group(address: bytes) -> bool:
    return address == b"\xff\xff\xff\xff" or 224 <= address[0] <= 239


def _multicast_mac(address: bytes) -> bytes:
    return bytes((0x01, 0x00, 0x5E, address[1] & 0x7F, address[2], address[3]))


class _Timer:
    """One armed timer: its loop handle, the deadline it is armed for, and the latest
    deadline the agent asked for (later when re-armed while pending; None: cancelled)."""

    __slots__ = ("armed", "due", "handle")

    def __init__(self, handle: asyncio.TimerHandle, deadline: float) -> None:
        self.handle = handle
        self.armed = deadline
        self.due: float | None = deadline


class Runtime:
    """Runs one agent: sockets, timers, data plane, control socket hooks."""

    def __init__(
        self,
        config: DaemonConfig,
        *,
        metrics_address: str | None = None,
        seed: int | None = None,
        use_netlink: bool = True,
    ) -> None:
        self.config = config
        self.metrics_address = metrics_address
        self.rng = random.Random(seed)
        self.use_netlink = use_netlink
        self.loop: asyncio.AbstractEventLoop | None = None
        self.agent: Agent | None = None
        self.dataplane: DataPlane | None = None
        self.netlink: Netlink | None = None
        self.timers: dict[TimerKey, _Timer] = {}
        self.drops: collections.Counter[str] = collections.Counter()
        self.received: collections.Counter[str] = collections.Counter()
        self.sent_count: collections.Counter[str] = collections.Counter()
        self.sent_by_interface: dict[str, list[int]] = {}  # messages, bytes (IP datagrams)
        self.sockets: list[socket.socket] = []
        self.udp: socket.socket | None = None
        self.raw_send: socket.socket | None = None
        self.group_send: dict[str, socket.socket] = {}
        self.packet_send: socket.socket | None = None
        self.link_interfaces: dict[int, str] = {}  # ifindex -> name, AF_PACKET listeners
        self.ifnames: dict[int, str] = {}
        self.local: set[bytes] = set()
        self.started_at = 0.0
        self.metrics: Metrics | None = None
        self.link_state: dict[str, bool] = {}
        self._link_monitor: socket.socket | None = None
        self._udp_ttl = 64
        self.on_action: Callable[[Action], None] | None = None
        # An MN speaks Mobile IP on its radio only: everything reaches it through the
        # AF_PACKET listener there, nothing through another interface.
        self._radio_only = False

    # ------------------------------------------------------------------ lifecycle

    def now(self) -> float:
        assert self.loop is not None
        return self.loop.time()

    def _prepare_config(self) -> None:
        """Fill what the file may leave out: MACs from the interfaces, the clock offset."""
        cfg = self.config
        core = cfg.core
        changes: dict[str, Any] = {}
        if self.netlink is not None and not cfg.mac_configured:
            interface = None
            if isinstance(core, ForeignAgentConfig):
                interface = core.access_interface
            elif isinstance(core, MobileNodeConfig):
                interface = core.interface
            elif isinstance(core, HomeAgentConfig):
                interface = core.home_interface
            if interface is not None:
                mac = self.netlink.mac(interface)
                if mac is not None and len(mac) == 6:
                    changes["mac"] = mac
        if not isinstance(core, ForeignAgentConfig) and core.clock_offset == 0.0:
            changes["clock_offset"] = time.time() - self.now()
        if changes:
            self.config = cfg.with_core(**changes)

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the data plane (first), then the control-plane sockets; start the agent."""
        self.loop = loop
        cfg = self.config
        self.started_at = self.now()
        if self.use_netlink:
            self.netlink = Netlink()
            self.ifnames = self.netlink.interfaces()
            self.local = self.netlink.addresses()
        self.local |= {a.packed for a in cfg.addresses}
        self._prepare_config()
        core = self.config.core
        access: tuple[str, ...] = ()
        link_source: tuple[str, ...] = ()
        home: IPv4Address | None = None
        if isinstance(core, ForeignAgentConfig):
            access = (core.access_interface,)
            link_source = access
            address = core.address
        elif isinstance(core, MobileNodeConfig):
            link_source = (core.interface,)
            if cfg.second_radio is not None:  # multi-interface: both radios
                link_source += (cfg.second_radio[0],)
            address = core.home_address
            home = core.home_address
            self._radio_only = self.netlink is not None
        else:
            address = core.address
        self.dataplane = DataPlane(
            role=cfg.role,
            address=address,
            tun_name=cfg.tun,
            route_table=cfg.route_table,
            rule_priority=cfg.rule_priority,
            access_interfaces=access,
            home_address=home,
            addresses=cfg.addresses,
            home_interface=core.home_interface if isinstance(core, HomeAgentConfig) else None,
            netlink=self.netlink,
            uplink_hold=isinstance(core, MobileNodeConfig) and core.uplink_buffer > 0,
        )
        self.dataplane.open()  # before the first registration: tunnels are never refused
        dp = self.dataplane
        if dp.tun_fd is not None:
            loop.add_reader(dp.tun_fd, self._guard, dp.read_tun)
            if self.netlink is not None:
                self.ifnames[self.netlink.ifindex(dp.tun_name)] = dp.tun_name
        for sock in dp.tunnel_sockets:
            loop.add_reader(sock.fileno(), self._guard, dp.read_tunnel_socket, sock)
        self._open_control_sockets(loop, link_source)
        if self.metrics_address:
            self.metrics = Metrics(method=cfg.method, role=cfg.role, state=self.metric_state)
            self.metrics.serve(self.metrics_address)
        if cfg.link_events and self.netlink is not None and link_source:
            self._open_link_monitor(loop, link_source)
        self.agent = make_agent(self.config, self.rng)
        log.info(
            "agent started",
            extra={"fields": {"role": cfg.role, "name": cfg.name, "tun": dp.tun_name}},
        )
        self.execute(self.agent.start(self.now()))

    def _open_control_sockets(
        self, loop: asyncio.AbstractEventLoop, link_source: tuple[str, ...]
    ) -> None:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        udp.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        udp.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        _large_receive_buffer(udp)
        udp.bind(("0.0.0.0", MOBILE_IP_PORT))
        udp.setblocking(False)
        self.udp = udp
        self.sockets.append(udp)
        loop.add_reader(udp.fileno(), self._guard, self._read_udp)
        for protocol in (PROTO_ICMP, PROTO_ESP):
            raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, protocol)
            raw.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            _large_receive_buffer(raw)
            raw.setblocking(False)
            self.sockets.append(raw)
            loop.add_reader(raw.fileno(), self._guard, self._read_raw, raw)
        self.raw_send = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.raw_send.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.sockets.append(self.raw_send)
        self.packet_send = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0)
        self.sockets.append(self.packet_send)
        if self.netlink is None:
            return
        for name in link_source:
            index = self.netlink.ifindex(name)
            listener = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
            attach_filter(listener)
            listener.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            _large_receive_buffer(listener)  # an MN's only input; an FA's untrusted link
            listener.bind((name, ETH_P_IP))
            listener.setblocking(False)
            self.sockets.append(listener)
            self.link_interfaces[index] = name
            loop.add_reader(listener.fileno(), self._guard, self._read_link, listener)
        if self.link_interfaces:
            # The port-434 socket would get a second copy of what the AF_PACKET listeners
            # deliver (ignored by _read_udp): the kernel drops those copies instead.
            attach_filter(udp, interface_filter(list(self.link_interfaces)))

    def _open_link_monitor(self, loop: asyncio.AbstractEventLoop, names: tuple[str, ...]) -> None:
        monitor = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        monitor.bind((0, RTMGRP_LINK))
        monitor.setblocking(False)
        self._link_monitor = monitor
        for name in names:
            self.link_state[name] = _link_is_up(name)
        loop.add_reader(monitor.fileno(), self._guard, self._read_link_events)

    def close(self) -> None:
        """Stop timers, close sockets, remove every route, neighbour entry and TUN device."""
        loop = self.loop
        for timer in self.timers.values():
            timer.handle.cancel()
        self.timers.clear()
        for sock in self.sockets:
            if loop is not None:
                with contextlib.suppress(Exception):
                    loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets.clear()
        for sock in self.group_send.values():
            sock.close()
        self.group_send.clear()
        if self._link_monitor is not None:
            if loop is not None:
                with contextlib.suppress(Exception):
                    loop.remove_reader(self._link_monitor.fileno())
            self._link_monitor.close()
            self._link_monitor = None
        dp = self.dataplane
        if dp is not None:
            if loop is not None:
                if dp.tun_fd is not None:
                    loop.remove_reader(dp.tun_fd)
                for sock in dp.tunnel_sockets:
                    loop.remove_reader(sock.fileno())
            dp.close()  # closes the netlink socket too
        log.info("agent stopped", extra={"fields": {"name": self.config.name}})

    # ------------------------------------------------------------------ the boundary

    def _guard(self, function: Callable[..., None], *args: Any) -> None:
        try:
            function(*args)
        except Exception:
            self.drops["internal-error"] += 1
            log.exception("error while handling input (counted, daemon continues)")

    # ------------------------------------------------------------------ actions

    def execute(self, actions: list[Action]) -> None:
        if self.metrics is not None:
            self.metrics.actions(actions)
        for action in actions:
            if self.on_action is not None:
                self.on_action(action)
            # The actions of every registration first, by type, without pattern matching
            # (a class pattern is an isinstance test and an attribute read per case).
            if type(action) is SendPacket:
                self.send(action)
                continue
            if type(action) is StartTimer:
                self._start(action)
                continue
            if type(action) is CancelTimer:
                timer = self.timers.get(action.key)
                if timer is not None:
                    # The handle stays armed (a pending request's timer is cancelled by
                    # every reply and started again by the next request): firing does
                    # nothing unless the timer was started again meanwhile.
                    timer.due = None
                continue
            if type(action) is Notify:
                if log.isEnabledFor(logging.INFO):
                    text = {k: _text(v) for k, v in action.fields.items()}
                    log.info(action.event, extra={"fields": text})
                continue
            match action:
                case SendPacket():
                    self.send(action)
                case StartTimer():
                    self._start(action)
                case CancelTimer(key=key):
                    timer = self.timers.get(key)
                    if timer is not None:
                        timer.due = None  # as above
                case Dropped(reason=reason, detail=detail, source=source):
                    if not log.isEnabledFor(logging.DEBUG):
                        continue
                    log.debug(
                        "dropped",
                        extra={
                            "fields": {
                                "reason": reason.value,
                                "detail": detail,
                                "source": None if source is None else str(source),
                            }
                        },
                    )
                case Notify(event=event, fields=fields):
                    if log.isEnabledFor(logging.INFO):
                        log.info(event, extra={"fields": {k: _text(v) for k, v in fields.items()}})
                case AnnounceProxyArp():
                    self.announce(action)
                case _:
                    assert self.dataplane is not None
                    try:
                        self.dataplane.apply(action)
                    except Exception:
                        self.drops["dataplane-error"] += 1
                        log.exception("data-plane action failed: %s", action)
                    else:
                        if not log.isEnabledFor(logging.INFO):
                            continue
                        log.info(
                            type(action).__name__,
                            extra={
                                "fields": {
                                    f.name: _text(getattr(action, f.name))
                                    for f in dataclasses.fields(action)
                                }
                            },
                        )

    def _start(self, action: StartTimer) -> None:
        key = action.key
        deadline = action.deadline
        timer = self.timers.get(key)
        if timer is not None:
            if timer.armed <= deadline:
                timer.due = deadline  # the armed handle re-arms on firing
                return
            timer.handle.cancel()
        assert self.loop is not None
        handle = self.loop.call_at(deadline, self._fire, key, deadline)
        self.timers[key] = _Timer(handle, deadline)

    def _fire(self, key: TimerKey, deadline: float) -> None:
        timer = self.timers.get(key)
        if timer is not None:
            due = timer.due
            if due is None:
                del self.timers[key]  # cancelled while armed
                return
            if due > deadline:
                # Started again for later while this handle was pending (a re-registration
                # extends a lifetime): wait for the latest deadline instead of cancelling
                # and re-arming a loop handle per message.
                assert self.loop is not None
                timer.handle = self.loop.call_at(due, self._fire, key, due)
                timer.armed = due
                return
            del self.timers[key]
        assert self.agent is not None
        now = max(self.now(), deadline)
        self._guard(lambda: self.execute(self.agent.timer_expired(key, now)))  # type: ignore[union-attr]

    def trigger(self, trigger: L2Trigger) -> list[Action]:
        """Feed an L2 trigger; returns the actions (already executed)."""
        assert self.agent is not None
        actions = self.agent.l2_trigger(trigger, self.now())
        self.execute(actions)
        return actions

    # ------------------------------------------------------------------ sending

    def send(self, action: SendPacket) -> None:
        try:
            self._send(action)
        except OSError as exc:
            reason = errno.errorcode.get(exc.errno or 0, "error").lower()
            self.drops[f"send-{reason}"] += 1
            log.warning(
                "send failed",
                extra={
                    "fields": {
                        "message": action.message,
                        "destination": str(action.destination),
                        "error": str(exc),
                    }
                },
            )
            return
        self.sent_count[action.message] += 1
        counter = self.sent_by_interface.get(action.interface)
        if counter is None:
            counter = self.sent_by_interface[action.interface] = [0, 0]
        counter[0] += 1
        counter[1] += 20 + len(action.payload) + (8 if action.protocol == PROTO_UDP else 0)
        if self.metrics is not None and action.protocol == PROTO_UDP:
            self.metrics.control_message("sent", action.payload)

    def announce(self, action: AnnounceProxyArp) -> None:
        """RFC 4881 §4.1 step 4b: the unicast proxy ARP Reply, an ARP frame to the MN's MAC
        on the access link (the kernel's AF_PACKET datagram socket adds the Ethernet header
        with this interface's MAC as source, the ``link_source`` the agent names)."""
        assert self.packet_send is not None
        try:
            self.packet_send.sendto(
                action.arp_packet().encode(),
                (action.interface, ETH_P_ARP, 0, 0, action.link_destination),
            )
        except OSError as exc:
            self.drops[f"send-{errno.errorcode.get(exc.errno or 0, 'error').lower()}"] += 1
            return
        self.sent_count["proxy-arp-reply"] += 1
        log.info(
            "proxy ARP reply",
            extra={
                "fields": {
                    "address": str(action.address),
                    "interface": action.interface,
                    "mobile_node": str(action.mobile_node),
                }
            },
        )

    def _send(self, action: SendPacket) -> None:
        destination = action.destination.packed
        if action.link_destination is not None:
            assert self.packet_send is not None
            self.packet_send.sendto(
                udp_ip_packet(action) if action.protocol == PROTO_UDP else action.ip_packet(),
                (action.interface, ETH_P_IP, 0, 0, action.link_destination),
            )
            return
        if _is_group(destination):
            self._send_group(action)
            return
        if (
            action.protocol == PROTO_UDP
            and action.source_port == MOBILE_IP_PORT
            and action.source.packed in self.local
            and self.udp is not None
        ):
            if action.ttl != self._udp_ttl:
                self.udp.setsockopt(socket.IPPROTO_IP, IP_TTL, action.ttl)
                self._udp_ttl = action.ttl
            info = _PKTINFO.pack(0, action.source.packed, b"\0\0\0\0")
            self.udp.sendmsg(
                [action.payload],
                [(socket.IPPROTO_IP, IP_PKTINFO, info)],
                0,
                (_text_address(action.destination), action.destination_port),
            )
            return
        assert self.raw_send is not None
        self.raw_send.sendto(action.ip_packet(), (_text_address(action.destination), 0))

    def _send_group(self, action: SendPacket) -> None:
        """Broadcast or multicast (advertisements, solicitations) on one interface."""
        sock = self.group_send.get(action.interface)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_BINDTODEVICE, action.interface.encode() + b"\0"
            )
            index = socket.if_nametoindex(action.interface)
            sock.setsockopt(
                socket.IPPROTO_IP,
                socket.IP_MULTICAST_IF,
                struct.pack("=4s4si", b"\0" * 4, b"\0" * 4, index),
            )
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            self.group_send[action.interface] = sock
        packet = action.ip_packet()
        try:
            sock.sendto(packet, (str(action.destination), 0))
        except OSError as exc:
            if exc.errno not in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                raise
            # no route for 224.0.0.0/4 here: send the frame to the group's MAC directly
            assert self.packet_send is not None
            destination = action.destination.packed
            mac = (
                BROADCAST_MAC if destination == b"\xff\xff\xff\xff" else _multicast_mac(destination)
            )
            self.packet_send.sendto(packet, (action.interface, ETH_P_IP, 0, 0, mac))

    # ------------------------------------------------------------------ receiving

    def _ifname(self, index: int) -> str:
        name = self.ifnames.get(index)
        if name is None:
            try:
                name = socket.if_indextoname(index)
            except OSError:
                name = f"if{index}"
            self.ifnames[index] = name
        return name

    def _deliver(self, packet: ReceivedPacket) -> None:
        assert self.agent is not None
        protocol = packet.protocol
        self.received[_PROTOCOL_KEYS.get(protocol) or f"protocol-{protocol}"] += 1
        if self.metrics is not None and packet.protocol == PROTO_UDP:
            self.metrics.control_message("received", packet.payload)
        self.execute(self.agent.receive(packet, self.now()))

    def _read_udp(self) -> None:
        assert self.udp is not None
        for _ in range(READ_BATCH):
            try:
                data, ancdata, _flags, address = self.udp.recvmsg(65535, 256)
            except BlockingIOError:
                return
            ttl = 64
            index = 0
            destination = b"\0\0\0\0"
            for level, kind, value in ancdata:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    index, _spec, destination = _PKTINFO.unpack(value[: _PKTINFO.size])
                elif level == socket.IPPROTO_IP and kind == IP_TTL:
                    ttl = int.from_bytes(value[:4], "little")
            if index in self.link_interfaces or self._radio_only:
                continue  # the AF_PACKET listener has it, with its link-layer source
            self._guard(
                self._deliver,
                ReceivedPacket(
                    interface=self._ifname(index),
                    source=_parse_address(address[0]),
                    destination=ipv4(destination),
                    protocol=PROTO_UDP,
                    payload=data,
                    ttl=ttl,
                    source_port=address[1],
                    destination_port=MOBILE_IP_PORT,
                ),
            )

    def _read_raw(self, sock: socket.socket) -> None:
        for _ in range(READ_BATCH):
            try:
                data, ancdata, _flags, _address = sock.recvmsg(65535, 256)
            except BlockingIOError:
                return
            index = 0
            for level, kind, value in ancdata:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    index = _PKTINFO.unpack(value[: _PKTINFO.size])[0]
            if index in self.link_interfaces or self._radio_only:
                continue
            self._guard(self._from_ip, data, self._ifname(index), None)

    def _read_link(self, sock: socket.socket) -> None:
        for _ in range(READ_BATCH):
            try:
                data, ancdata, _flags, address = sock.recvmsg(65535, 64)
            except BlockingIOError:
                return
            if address[2] in (PACKET_OUTGOING, PACKET_OTHERHOST):
                continue
            if len(data) < 20:
                self.drops["malformed"] += 1
                continue
            destination = data[16:20]
            if destination not in self.local and not _is_group(destination):
                continue  # routed through us (e.g. a request for another FA): not ours
            # A sender on this host or a veth peer may leave the UDP checksum to "hardware"
            # (CHECKSUM_PARTIAL): the kernel says so in the auxiliary data.
            verify = True
            for level, kind, value in ancdata:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(value) >= 4:
                    status = int.from_bytes(value[:4], sys.byteorder)
                    verify = not status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID)
            self._guard(self._from_ip, data, address[0], address[4][:6], verify)

    def _from_ip(
        self, data: bytes, interface: str, link_source: bytes | None, verify: bool = True
    ) -> None:
        """A whole IP datagram (raw socket or frame) for the control plane."""
        if self._from_ip_fast(data, interface, link_source, verify):
            return
        try:
            header = IPv4Header.decode(data)
            if header.total_length > len(data) or header.total_length < header.header_length:
                raise DecodeError("bad total length", field="total_length", offset=2)
            payload = data[header.header_length : header.total_length]
            source_port = destination_port = 0
            if header.protocol == PROTO_UDP:
                udp = UdpDatagram.decode(
                    payload, header.source, header.destination, verify_checksum=verify
                )
                source_port, destination_port = udp.source_port, udp.destination_port
                payload = udp.payload
                if destination_port != MOBILE_IP_PORT:
                    self.drops["not-mobile-ip"] += 1
                    return
            elif header.protocol not in (PROTO_ICMP, PROTO_ESP):
                self.drops["protocol"] += 1
                return
        except ChecksumError:
            self.drops["bad-checksum"] += 1
            return
        except DecodeError:
            self.drops["malformed"] += 1
            return
        self._deliver(
            ReceivedPacket(
                interface=interface,
                source=header.source,
                destination=header.destination,
                protocol=header.protocol,
                payload=payload,
                ttl=header.ttl,
                source_port=source_port,
                destination_port=destination_port,
                link_source=link_source,
            )
        )

    def _from_ip_fast(
        self, data: bytes, interface: str, link_source: bytes | None, verify: bool
    ) -> bool:
        """The common case of :meth:`_from_ip` (every request an FA relays arrives so): a
        well-formed UDP datagram to port 434 without IP options, both checksums right,
        checked and delivered with a few byte reads instead of the wire module's header
        objects. False leaves everything else (options, bad lengths, bad checksums, other
        protocols and ports) to the full decoders, which say what is wrong: the outcome of
        either path is the same."""
        if len(data) < 28 or data[0] != 0x45 or data[9] != PROTO_UDP:
            return False
        total = int.from_bytes(data[2:4], "big")
        length = int.from_bytes(data[24:26], "big")
        if (
            total > len(data)
            or not 8 <= length <= total - 20
            or data[22:24] != _MOBILE_IP_PORT_BYTES
            or _checksum(data[:20])  # RFC 791 §3.1: always verified (the kernel has not)
        ):
            return False
        if verify and data[26:28] != b"\0\0":
            # RFC 768: over the pseudo-header, the UDP header and the data (zero: not sent).
            pseudo = data[12:20] + bytes((0, PROTO_UDP)) + data[24:26]
            if _checksum(pseudo + data[20 : 20 + length]):
                return False
        self._deliver(
            ReceivedPacket(
                interface=interface,
                source=ipv4(data[12:16]),
                destination=ipv4(data[16:20]),
                protocol=PROTO_UDP,
                payload=data[28 : 20 + length],
                ttl=data[8],
                source_port=int.from_bytes(data[20:22], "big"),
                destination_port=MOBILE_IP_PORT,
                link_source=link_source,
            )
        )
        return True

    def _read_link_events(self) -> None:
        """The kernel's link events: L2-LU / L2-LD at the MN when its radio changes."""
        monitor = self._link_monitor
        assert monitor is not None
        while True:
            try:
                data = monitor.recv(65536)
            except BlockingIOError:
                return
            for name, up in parse_link_messages(data):
                if name not in self.link_state or up == self.link_state[name]:
                    continue
                self.link_state[name] = up
                log.info("link event", extra={"fields": {"interface": name, "up": up}})
                self.trigger(LinkUp(interface=name) if up else LinkDown(interface=name))

    # ------------------------------------------------------------------ views

    def status(self) -> dict[str, object]:
        assert self.agent is not None and self.dataplane is not None
        now = self.now()
        snapshot = self.agent.snapshot(now)
        return {
            "name": self.config.name,
            "role": self.config.role,
            "uptime": round(now - self.started_at, 3),
            "agent": snapshot,
            "agent_drops": snapshot.get("drops", {}),
            "dataplane": self.dataplane.snapshot(),
            "daemon": {
                "drops": dict(sorted(self.drops.items())),
                "received": dict(sorted(self.received.items())),
                "sent": dict(sorted(self.sent_count.items())),
                "sent_by_interface": {
                    name: {"messages": n, "bytes": b}
                    for name, (n, b) in sorted(self.sent_by_interface.items())
                },
                "timers": sum(1 for timer in self.timers.values() if timer.due is not None),
            },
        }

    def metric_state(self) -> dict[str, object]:
        dp = self.dataplane
        agent = self.agent
        tunnels = {}
        if dp is not None:
            tunnels = {
                "binding": len(dp.bindings),
                "visitor": len(dp.visitors),
                "reverse-tunnel": sum(1 for u in dp.uplinks.values() if u.destination),
                "forward-tunnel": len(dp.forward_tunnels),
            }
        return {
            "tunnels": tunnels,
            "agent": {} if agent is None else {r.value: n for r, n in agent.drops.items()},
            "dataplane": {} if dp is None else dict(dp.drops),
            "daemon": dict(self.drops),
        }


async def run_daemon(
    config: DaemonConfig,
    *,
    metrics_address: str | None = None,
    ready: Callable[[Runtime], None] | None = None,
) -> int:
    """Run until SIGTERM or SIGINT; everything the daemon installed is removed on the way out."""
    import signal

    from mip4.daemon.control import ControlServer

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runtime = Runtime(config, metrics_address=metrics_address)
    server = ControlServer(runtime, config.control_socket)
    try:
        server.prepare()  # a refused socket folder stops us before any kernel state is made
        runtime.open(loop)
        await server.start()
        if ready is not None:
            ready(runtime)
        await stop.wait()
    finally:
        await server.close()
        runtime.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return 0


__all__ = ["Runtime", "make_agent", "run_daemon"]
