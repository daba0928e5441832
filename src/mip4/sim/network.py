"""The simulated network: nodes running the agents, wired links, radio cells.

Every packet is real bytes: agents' ``SendPacket`` actions become whole IPv4 datagrams
(:meth:`~mip4.core.actions.SendPacket.ip_packet`), user packets are IPv4/UDP datagrams built
by :mod:`mip4.sim.traffic`, and tunnels encapsulate and decapsulate those bytes
(:mod:`mip4.sim.dataplane`). Alongside the bytes travels one piece of metadata, the control
message's name (None for user data), so traces name messages without decoding them again.

Topology: a wired core of point-to-point links (one-way delay, optional jitter, loss and
bandwidth), routed hop by hop along the shortest-delay path; each FA serves one radio cell
(its access link, ``wlan0``, with its own delay and loss). An MN is attached to at most one
cell at a time (one radio); a frame is received only if the MN is attached to the cell when
the frame arrives and has not left that cell since the frame was sent. A unicast frame an FA
sends to a station that is still associating (its L2-LU not yet reached) waits out the air
delay like any other and is received if the association completes before it arrives: the
air delay models the access point's queue, and design.md's ideal disruption counts every
packet that would arrive at or after L2-LU.

Node roles:

- :class:`CorrespondentNode` (CN): source and sink of the CBR flows;
- :class:`AgentNode` (HA, FA, GFA): runs an agent and a :class:`~.dataplane.RouterDataPlane`;
- :class:`MobileNodeHost` (MN): runs the MN agent, a default router and a traffic endpoint.

The driver contract (model-codebases §2.11): one input at a time, its whole action list
executed in order before the next; sends are scheduled deliveries, never re-entrant calls;
a ``StartTimer`` with an existing key replaces the old timer; ``timer_expired`` is called
with ``now >= deadline``; the driver makes no protocol decision.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterable
from heapq import heappush
from ipaddress import IPv4Address
from typing import Any, Protocol

from mip4.core.actions import (
    Action,
    AnnounceProxyArp,
    CancelTimer,
    DataPlaneAction,
    Dropped,
    Notify,
    SendPacket,
    SetDefaultRouter,
    StartTimer,
    TimerKey,
)
from mip4.core.packets import ReceivedPacket
from mip4.core.triggers import L2Trigger, trigger_name
from mip4.sim.dataplane import (
    MOBILE_IP_PORT,
    TUNNEL_PROTOCOLS,
    MobileDataPlane,
    RouterDataPlane,
    decrement_ttl,
)
from mip4.sim.engine import Engine, Event
from mip4.sim.trace import Trace, jsonable
from mip4.wire.errors import ChecksumError, DecodeError
from mip4.wire.ip import PROTO_ESP, PROTO_ICMP, PROTO_UDP, IPv4Packet, UdpDatagram

AIR = "wlan0"  # the access-link interface of FAs and MNs
WIRED = "eth0"  # the wired-core interface of every infrastructure node
BROADCAST_MAC = b"\xff" * 6
TRAFFIC_PORT = 5004  # UDP port of the CBR flows (both ends)
PROXY_ARP_REPLY = "proxy_arp_reply"  # trace name of the RFC 4881 §4.1 step 4b frame

GROUP_ADDRESSES = frozenset(
    IPv4Address(a).packed for a in ("255.255.255.255", "224.0.0.1", "224.0.0.2", "224.0.0.11")
)
CONTROL_PROTOCOLS = frozenset({PROTO_UDP, PROTO_ICMP, PROTO_ESP})


ASSOCIATING = -1
"""Epoch of a frame sent to a station that was not yet attached to the sending cell."""

PRUNE_MIN = 4096
"""Stale timer events tolerated in the engine's queue before a clean-up, at least."""


class Agent(Protocol):
    """The sans-I/O agent API every node runs (design.md, "The core contract")."""

    @property
    def name(self) -> str: ...

    def start(self, now: float) -> list[Action]: ...

    def receive(self, packet: ReceivedPacket, now: float) -> list[Action]: ...

    def l2_trigger(self, trigger: L2Trigger, now: float) -> list[Action]: ...

    def timer_expired(self, key: TimerKey, now: float) -> list[Action]: ...

    def snapshot(self, now: float) -> dict[str, Any]: ...


class PcapSink(Protocol):
    """A capture point (see :mod:`mip4.sim.pcap`)."""

    def write(
        self, time: float, packet: bytes, source_mac: bytes, destination_mac: bytes
    ) -> None: ...


# ---------------------------------------------------------------------------- key fields

_KEY_FIELDS = (
    "code",
    "lifetime",
    "home_address",
    "home_agent",
    "care_of_address",
    "identification",
    "sequence_number",
    "registration_lifetime",
    "care_of_addresses",
)


def key_fields(protocol: int, payload: bytes) -> dict[str, object]:
    """The fields a trace shows for a control message (decoded with :mod:`mip4.wire`)."""
    from mip4.wire.icmp import decode_icmp
    from mip4.wire.messages import decode_control_message

    try:
        if protocol == PROTO_UDP:
            data = decode_control_message(payload).to_dict()
        elif protocol == PROTO_ICMP:
            data = decode_icmp(payload).to_dict()
        else:
            return {}
    except DecodeError as exc:
        return {"error": str(exc)}
    out: dict[str, object] = {}
    for key in _KEY_FIELDS:
        if key in data:
            out[key] = jsonable(data[key])
    extensions = data.get("extensions")
    for ext in extensions if isinstance(extensions, list) else ():
        if isinstance(ext, dict) and ext.get("name") in {"mobility_agent_advertisement", "maae"}:
            for key in _KEY_FIELDS:
                if key in ext and key not in out:
                    out[key] = jsonable(ext[key])
    flags = data.get("flags")
    if isinstance(flags, dict):
        out["flags"] = "".join(str(k) for k, v in flags.items() if v is True)
    return out


def addr(raw: bytes) -> str:
    return str(IPv4Address(raw))


# ---------------------------------------------------------------------------- links, cells


class Link:
    """One direction of a wired point-to-point link."""

    __slots__ = (
        "busy_until",
        "delay",
        "deliver",
        "destination",
        "engine",
        "jitter",
        "loss",
        "rate",
        "rng",
        "source",
        "source_mac",
    )

    def __init__(
        self,
        engine: Engine,
        source: WiredNode,
        destination: WiredNode,
        *,
        delay: float,
        jitter: float = 0.0,
        loss: float = 0.0,
        rate: float = 0.0,
        rng: random.Random,
    ) -> None:
        self.engine = engine
        self.source = source
        self.destination = destination
        self.delay = delay
        self.jitter = jitter
        self.loss = loss
        self.rate = rate  # bytes per second; 0 = unlimited
        self.busy_until = 0.0
        self.rng = rng
        # bound once: every packet's arrival event refers to these, none builds its own
        self.deliver = destination.ip_input
        self.source_mac = source.mac

    def send(self, packet: bytes, meta: str | None) -> None:
        engine = self.engine
        if self.loss and self.rng.random() < self.loss:
            self.source.dataplane_drop("link-loss", packet, meta)
            return
        depart = engine.now
        if self.rate:
            depart = max(depart, self.busy_until) + len(packet) / self.rate
            self.busy_until = depart
        arrive = depart + self.delay
        if self.jitter:
            arrive += self.rng.uniform(0.0, self.jitter)
        destination = self.destination
        if destination.tap_wired is None:  # straight to IP input: one call fewer per hop
            event: Event = (self.deliver, packet, meta, WIRED, self.source_mac)
        else:
            event = (destination.receive_wired, packet, meta, self)
        bucket: Any = engine.buckets.get(arrive)  # inline Engine.at (arrive >= now)
        if bucket is None:
            engine.buckets[arrive] = event
            heappush(engine.times, arrive)
        elif type(bucket) is list:
            bucket.append(event)
        else:
            engine.buckets[arrive] = [bucket, event]


class Cell:
    """The radio cell (access link) of one FA."""

    __slots__ = (
        "access_point_id",
        "delay",
        "fa",
        "fa_receive_air",
        "index",
        "loss",
        "rng",
        "stations",
    )

    def __init__(
        self, index: int, fa: AgentNode, *, delay: float, loss: float, rng: random.Random
    ) -> None:
        self.index = index
        self.access_point_id = index + 1
        self.fa = fa
        self.fa_receive_air = fa.receive_air  # bound once, for every uplink frame's event
        self.delay = delay
        self.loss = loss
        self.rng = rng
        self.stations: dict[bytes, MobileNodeHost] = {}


# ---------------------------------------------------------------------------- nodes


class Node:
    """What every node has: a name, addresses, a MAC, a place in the network."""

    __slots__ = ("address", "addresses", "index", "mac", "name", "net")

    def __init__(self, net: Network, name: str, address: IPv4Address, mac: bytes) -> None:
        self.net = net
        self.name = name
        self.index = len(net.nodes)
        self.address = net.canonical(address.packed)
        self.addresses: set[bytes] = {self.address}
        self.mac = net.canonical(mac)

    def dataplane_drop(self, reason: str, packet: bytes, meta: str | None) -> None:
        self.net.drop(self, reason, packet, meta)


class WiredNode(Node):
    """A node on the wired core, forwarding hop by hop."""

    __slots__ = ("next_hop", "tap_wired")

    def __init__(self, net: Network, name: str, address: IPv4Address, mac: bytes) -> None:
        super().__init__(net, name, address, mac)
        self.next_hop: dict[Node, Link] = {}
        self.tap_wired: PcapSink | None = None

    def route(self, packet: bytes, meta: str | None) -> None:
        """Send ``packet`` one hop towards the owner of its destination."""
        owner = self.net.owner.get(packet[16:20])
        link = self.next_hop.get(owner) if owner is not None else None
        if link is None:
            reason = "no-binding" if owner is self else "no-route"
            self.net.drop(self, reason, packet, meta)
            return
        if self.tap_wired is not None:
            self.tap_wired.write(self.net.engine.now, packet, self.mac, link.destination.mac)
        link.send(packet, meta)

    def receive_wired(self, packet: bytes, meta: str | None, link: Link) -> None:
        if self.tap_wired is not None:
            self.tap_wired.write(self.net.engine.now, packet, link.source.mac, self.mac)
        self.ip_input(packet, meta, WIRED, link.source.mac)

    def ip_input(self, packet: bytes, meta: str | None, interface: str, link_source: bytes) -> None:
        raise NotImplementedError


class AgentHost:
    """Mixin: runs an agent and executes its actions (the driver of model-codebases §2.11)."""

    __slots__ = ()

    # provided by the concrete classes
    net: Network
    name: str
    agent: Agent
    armed: dict[TimerKey, int]

    def execute(self, actions: Iterable[Action]) -> None:
        net = self.net
        now = net.engine.now
        for action in actions:
            match action:
                case SendPacket():
                    self.send_control(action)
                case StartTimer(key=key, deadline=deadline):
                    token = net.next_token()
                    armed = self.armed
                    if key in armed:
                        net.timer_dropped()  # the old one's queued event is now stale
                    armed[key] = token
                    net.engine.at(deadline, self.fire, key, token, deadline)
                case CancelTimer(key=key):
                    if self.armed.pop(key, None) is not None:
                        net.timer_dropped()
                case Dropped(reason=reason, detail=detail, source=source):
                    net.agent_drops[(self.name, reason.value)] += 1
                    net.trace.event(
                        now,
                        self.name,
                        "drop",
                        reason.value,
                        fields={"detail": detail, "source": jsonable(source)},
                    )
                case Notify(event=event, fields=fields):
                    net.trace.event(now, self.name, "notify", event, fields=dict(jsonable(fields)))  # type: ignore[call-overload]
                case _:
                    self.apply_dataplane(action)
                    net.trace.event(
                        now,
                        self.name,
                        "dataplane",
                        type(action).__name__,
                        fields={
                            f.name: jsonable(getattr(action, f.name))
                            for f in dataclasses.fields(action)
                        },
                    )

    def fire(self, key: TimerKey, token: int, deadline: float) -> None:
        if self.armed.get(key) != token:
            return  # cancelled or re-armed since: a stale queue entry
        del self.armed[key]
        net = self.net
        now = max(net.engine.now, deadline)
        net.trace.event(now, self.name, "timer", str(key[0]), fields={"key": jsonable(key)})
        self.execute(self.agent.timer_expired(key, now))

    def start(self) -> None:
        self.execute(self.agent.start(self.net.engine.now))

    def l2_trigger(self, trigger: L2Trigger, fields: dict[str, object]) -> None:
        net = self.net
        now = net.engine.now
        interface = getattr(trigger, "interface", None) or None
        net.trace.event(
            now, self.name, "l2", trigger_name(trigger), interface=interface, fields=fields
        )
        self.execute(self.agent.l2_trigger(trigger, now))

    def to_agent(self, packet: bytes, meta: str | None, interface: str, link_source: bytes) -> None:
        """Hand a control packet (UDP 434, ICMP, ESP) addressed to this node to its agent."""
        net = self.net
        try:
            ip = IPv4Packet.decode(packet)
            header = ip.header
            payload = ip.payload
            sport = dport = 0
            if header.protocol == PROTO_UDP:
                udp = UdpDatagram.decode(payload, header.source, header.destination)
                sport, dport, payload = udp.source_port, udp.destination_port, udp.payload
                if dport != MOBILE_IP_PORT:
                    net.drop(self, "port-unreachable", packet, meta)  # type: ignore[arg-type]
                    return
        except ChecksumError:
            net.drop(self, "bad-checksum", packet, meta)  # type: ignore[arg-type]
            return
        except DecodeError:
            net.drop(self, "malformed", packet, meta)  # type: ignore[arg-type]
            return
        now = net.engine.now
        medium = "air" if interface == AIR else "wired"
        if net.trace_detail:
            fields: dict[str, object] = {
                "source": str(header.source),
                "destination": str(header.destination),
                **key_fields(header.protocol, payload),
            }
        else:
            fields = {}
        net.trace.event(
            now,
            self.name,
            "packet",
            meta or "unknown",
            interface=interface,
            direction="rx",
            medium=medium,
            fields=fields,
            size=len(packet),
        )
        received = ReceivedPacket(
            interface=interface,
            source=header.source,
            destination=header.destination,
            protocol=header.protocol,
            payload=payload,
            ttl=header.ttl,
            source_port=sport,
            destination_port=dport,
            link_source=link_source,
        )
        self.execute(self.agent.receive(received, now))

    def trace_send(self, action: SendPacket, packet: bytes, medium: str) -> None:
        net = self.net
        net.signalling[medium][0] += 1
        net.signalling[medium][1] += len(packet)
        if net.trace_detail:
            fields: dict[str, object] = {
                "source": str(action.source),
                "destination": str(action.destination),
                **key_fields(action.protocol, action.payload),
            }
        else:
            fields = {}
        net.trace.event(
            net.engine.now,
            self.name,
            "packet",
            action.message,
            interface=action.interface,
            direction="tx",
            medium=medium,
            fields=fields,
            size=len(packet),
        )

    def send_control(self, action: SendPacket) -> None:
        raise NotImplementedError

    def apply_dataplane(self, action: DataPlaneAction) -> None:
        raise NotImplementedError


def _stale_timer(callback: Callable[..., None], args: tuple[Any, ...]) -> bool:
    """Whether a queued event is a timer :meth:`AgentHost.fire` would ignore."""
    if getattr(callback, "__func__", None) is not AgentHost.fire:
        return False
    host: AgentHost = callback.__self__  # type: ignore[attr-defined]
    token: int = args[1]
    return host.armed.get(args[0]) != token


class CorrespondentNode(WiredNode):
    """The CN: the far end of every CBR flow."""

    __slots__ = ("sink",)

    def __init__(self, net: Network, name: str, address: IPv4Address, mac: bytes) -> None:
        super().__init__(net, name, address, mac)
        self.sink: Any = None  # set by the traffic module: sink(packet, node, interface)

    def route_data(self, packet: bytes) -> None:
        self.route(packet, None)

    def ip_input(self, packet: bytes, meta: str | None, interface: str, link_source: bytes) -> None:
        if packet[16:20] in self.addresses and packet[9] == PROTO_UDP and self.sink is not None:
            self.sink(packet, self, interface)
        else:
            self.net.drop(self, "not-for-us", packet, meta)


class AgentNode(WiredNode, AgentHost):
    """An HA, FA or GFA: an agent, a router data plane and, for an FA, a radio cell."""

    __slots__ = ("agent", "armed", "cell", "dataplane", "role")

    def __init__(
        self, net: Network, name: str, role: str, address: IPv4Address, mac: bytes
    ) -> None:
        super().__init__(net, name, address, mac)
        self.role = role
        self.armed: dict[TimerKey, int] = {}
        self.dataplane = RouterDataPlane(self, self.address, net.canonical)
        self.cell: Cell | None = None
        self.agent: Agent = None  # type: ignore[assignment]  # set by the builder

    # -- data plane host interface
    def apply_dataplane(self, action: DataPlaneAction) -> None:
        if isinstance(action, SetDefaultRouter):
            self.net.agent_drops[(self.name, "bad-dataplane-action")] += 1
            return
        if isinstance(action, AnnounceProxyArp):
            self.air_arp(action)
            return
        self.dataplane.apply(action)

    def air_arp(self, action: AnnounceProxyArp) -> None:
        """RFC 4881 §4.1 step 4b: the unicast proxy ARP Reply, over the air to one station
        (delay and loss of the cell). Not signalling: the simulator counts no ARP."""
        cell = self.cell
        net = self.net
        arp = action.arp_packet()
        frame = arp.encode()
        station = None if cell is None else cell.stations.get(action.link_destination)
        if cell is None or station is None:
            net.drop(self, "no-station", frame, PROXY_ARP_REPLY)
            return
        if cell.loss and cell.rng.random() < cell.loss:
            net.drop(self, "air-loss", frame, PROXY_ARP_REPLY)
            return
        net.engine.at(
            net.engine.now + cell.delay,
            station.receive_arp,
            arp.sender_address.packed,
            arp.sender_mac,
            cell,
            station.epoch,
        )

    # -- packets
    def ip_input(self, packet: bytes, meta: str | None, interface: str, link_source: bytes) -> None:
        destination = packet[16:20]
        if destination in self.addresses or destination in GROUP_ADDRESSES:
            protocol = packet[9]
            if protocol in TUNNEL_PROTOCOLS:
                self.dataplane.decapsulated(packet, meta)
            elif protocol in CONTROL_PROTOCOLS:
                self.to_agent(packet, meta, interface, link_source)
            else:
                self.net.drop(self, "protocol-unreachable", packet, meta)
            return
        dataplane = self.dataplane
        binding = dataplane.bindings.get(destination)
        if binding is not None:
            dataplane.intercept(packet, meta, binding)
        elif interface == AIR:
            dataplane.uplink(packet, meta)
        else:
            routed = decrement_ttl(packet)
            if routed is None:
                self.net.drop(self, "ttl-exceeded", packet, meta)
            else:
                self.route(routed, meta)

    def send_control(self, action: SendPacket) -> None:
        packet = action.ip_packet()
        if self.net.loss_rules and self.net.injected_loss(self, action):
            self.trace_send(action, packet, "air" if action.interface == AIR else "wired")
            self.net.drop(self, "injected-loss", packet, action.message)
            return
        if action.interface == AIR and self.cell is not None:
            self.trace_send(action, packet, "air")
            self.air_send(packet, action.message, action.link_destination)
        else:
            self.trace_send(action, packet, "wired")
            if packet[16:20] in self.addresses:
                self.net.drop(self, "sent-to-self", packet, action.message)
            else:
                self.route(packet, action.message)

    def air_send(self, packet: bytes, meta: str | None, link_destination: bytes | None) -> None:
        """Transmit on this FA's cell to one station, or to all of them (broadcast)."""
        cell = self.cell
        net = self.net
        if cell is None:
            net.drop(self, "no-access-link", packet, meta)
            return
        destination = packet[16:20]
        if link_destination is None:
            if destination in GROUP_ADDRESSES:
                link_destination = BROADCAST_MAC
            else:  # ARP on the access link: the station owning the address answers
                link_destination = next(
                    (m for m, s in cell.stations.items() if destination in s.addresses), None
                )
                if link_destination is None:
                    net.drop(self, "arp-unresolved", packet, meta)
                    return
        if link_destination == BROADCAST_MAC:
            stations = list(cell.stations.values())
            if not stations:
                return  # a broadcast nobody hears is not a drop
        else:
            station = cell.stations.get(link_destination)
            if station is None:
                station = net.associating(link_destination)
            stations = [station] if station is not None else []
        if not stations:
            net.drop(self, "no-station", packet, meta)
            return
        engine = net.engine
        arrive = engine.now + cell.delay
        buckets = engine.buckets
        for station in stations:
            if cell.loss and cell.rng.random() < cell.loss:
                net.drop(self, "air-loss", packet, meta)
                continue
            event: Event = (
                station.radio_input,
                packet,
                meta,
                self.mac,
                link_destination,
                cell,
                station.epoch if station.cell is cell else ASSOCIATING,
            )
            bucket: Any = buckets.get(arrive)  # inline Engine.at (arrive >= now)
            if bucket is None:
                buckets[arrive] = event
                heappush(engine.times, arrive)
            elif type(bucket) is list:
                bucket.append(event)
            else:
                buckets[arrive] = [bucket, event]

    def receive_air(
        self,
        packet: bytes,
        meta: str | None,
        source_mac: bytes,
        destination_mac: bytes,
        station: MobileNodeHost,
        epoch: int,
    ) -> None:
        if station.cell is not self.cell or station.epoch != epoch:
            self.net.drop(station, "radio-down", packet, meta)
            return
        if destination_mac != self.mac and destination_mac != BROADCAST_MAC:
            self.net.drop(self, "wrong-link-destination", packet, meta)
            return
        self.ip_input(packet, meta, AIR, source_mac)

    # the data plane's delivery to a visitor is a transmission on the cell: the same method
    # (no wrapper call per downlink packet)
    deliver_on_access_link = air_send

    def answers_arp(self, address: bytes) -> bool:
        return address in self.addresses or self.dataplane.answers_arp(AIR, address)


class MobileNodeHost(Node, AgentHost):
    """An MN: its agent, one radio, a default router and a CBR endpoint."""

    __slots__ = (
        "agent",
        "armed",
        "cell",
        "dataplane",
        "epoch",
        "home_agent",
        "radio_input",
        "sink",
        "tap_air",
    )

    def __init__(self, net: Network, name: str, home_address: IPv4Address, mac: bytes) -> None:
        super().__init__(net, name, home_address, mac)
        self.armed: dict[TimerKey, int] = {}
        self.dataplane = MobileDataPlane()
        self.cell: Cell | None = None
        self.epoch = 0  # bumped at every attach and detach
        self.tap_air: PcapSink | None = None
        self.sink: Any = None
        self.agent: Agent = None  # type: ignore[assignment]
        # bound once (a subclass's override included), for every downlink frame's event
        self.radio_input = self.receive_air

    def apply_dataplane(self, action: DataPlaneAction) -> None:
        dataplane = self.dataplane
        if not dataplane.apply(action):
            self.net.agent_drops[(self.name, "bad-dataplane-action")] += 1
        elif dataplane.held is not None and dataplane.router is not None:
            # Smooth handoff: the held uplink, in order, once the event that set the router
            # is over (an L2-LU also reaches the FA, which may install its proxy ARP then).
            engine = self.net.engine
            engine.at(engine.now, self.send_held, dataplane.release())

    def send_held(self, packets: list[bytes]) -> None:
        for packet in packets:
            self.send_data(packet)

    # -- radio
    def attach(self, cell: Cell) -> None:
        self.detach()
        self.cell = cell
        self.epoch += 1
        cell.stations[self.mac] = self

    def detach(self) -> None:
        if self.cell is not None:
            self.cell.stations.pop(self.mac, None)
            self.cell = None
            self.epoch += 1

    def resolve(self, address: bytes) -> bytes | None:
        """Link-layer next hop for ``address`` on the current cell (ARP), or None."""
        if address in GROUP_ADDRESSES:
            return BROADCAST_MAC
        cell = self.cell
        if cell is None:
            return None
        if cell.fa.answers_arp(address):
            return cell.fa.mac
        router = self.dataplane.router
        if router is not None and router != address:
            return self.dataplane.link_address or self.resolve(router)
        return None

    def air_send(self, packet: bytes, meta: str | None, link_destination: bytes | None) -> None:
        cell = self.cell
        net = self.net
        if cell is None:
            net.drop(self, "radio-down", packet, meta)
            return
        if link_destination is None:
            link_destination = self.resolve(packet[16:20])
            if link_destination is None:
                net.drop(self, "arp-unresolved", packet, meta)
                return
        if self.tap_air is not None:
            self.tap_air.write(net.engine.now, packet, self.mac, link_destination)
        if cell.loss and cell.rng.random() < cell.loss:
            net.drop(self, "air-loss", packet, meta)
            return
        engine = net.engine
        arrive = engine.now + cell.delay
        event: Event = (
            cell.fa_receive_air,
            packet,
            meta,
            self.mac,
            link_destination,
            self,
            self.epoch,
        )
        bucket: Any = engine.buckets.get(arrive)  # inline Engine.at (arrive >= now)
        if bucket is None:
            engine.buckets[arrive] = event
            heappush(engine.times, arrive)
        elif type(bucket) is list:
            bucket.append(event)
        else:
            engine.buckets[arrive] = [bucket, event]

    def receive_air(
        self,
        packet: bytes,
        meta: str | None,
        source_mac: bytes,
        destination_mac: bytes,
        cell: Cell,
        epoch: int,
    ) -> None:
        net = self.net
        if self.cell is not cell or (self.epoch != epoch and epoch != ASSOCIATING):
            net.drop(self, "radio-down", packet, meta)
            return
        if self.tap_air is not None:
            self.tap_air.write(net.engine.now, packet, source_mac, destination_mac)
        destination = packet[16:20]
        # its own address (the common case) compared first: the set is a few more cache
        # lines per MN for every downlink packet
        if (
            destination != self.address
            and destination not in self.addresses
            and destination not in GROUP_ADDRESSES
        ):
            net.drop(self, "not-for-us", packet, meta)
            return
        protocol = packet[9]
        if protocol == PROTO_UDP and meta is None and self.sink is not None:
            self.sink(packet, self, AIR)
        elif protocol in CONTROL_PROTOCOLS:
            self.to_agent(packet, meta, AIR, source_mac)
        else:
            net.drop(self, "protocol-unreachable", packet, meta)

    def receive_arp(self, address: bytes, mac: bytes, cell: Cell, epoch: int) -> None:
        """An ARP packet from ``address`` at ``mac``: updates the MN's entry for it, if it
        has one (RFC 826; the nFA's proxy ARP Reply for its default router, RFC 4881 §4.1)."""
        if self.cell is not cell or self.epoch != epoch:
            self.net.drop(self, "radio-down", b"", PROXY_ARP_REPLY)
            return
        dataplane = self.dataplane
        if dataplane.arp_update(address, mac) and dataplane.held is not None:
            self.send_held(dataplane.release())  # smooth handoff: held for this reply

    def send_control(self, action: SendPacket) -> None:
        packet = action.ip_packet()
        self.trace_send(action, packet, "air")
        if self.net.loss_rules and self.net.injected_loss(self, action):
            self.net.drop(self, "injected-loss", packet, action.message)
            return
        self.air_send(packet, action.message, action.link_destination)

    def send_data(self, packet: bytes) -> None:
        """An uplink user packet: through the default router, if there is one."""
        dataplane = self.dataplane
        held = dataplane.held
        if dataplane.router is None or (held is not None and dataplane.awaiting_arp):
            # No router, or (smooth handoff) one whose entry still waits for the nFA's proxy
            # ARP Reply: behind the packets already held, in order.
            if held is None:
                self.net.drop(self, "no-default-router", packet, None)
            elif len(held) >= dataplane.hold_limit:
                self.net.drop(self, "buffer-full", packet, None)
            else:
                held.append(packet)
            return
        link_destination = dataplane.link_address
        if link_destination is None and self.cell is not None:
            link_destination = self.resolve(dataplane.router)
            if link_destination is None:
                self.net.drop(self, "arp-unresolved", packet, None)
                return
        self.air_send(packet, None, link_destination)


# ---------------------------------------------------------------------------- the network


class Network:
    """All nodes, links and cells of one run, with the counters the metrics report."""

    def __init__(self, engine: Engine, trace: Trace, *, trace_detail: bool = True) -> None:
        self.engine = engine
        self.trace = trace
        self.trace_detail = trace_detail  # decode control messages for the trace's key fields
        self.nodes: list[Node] = []
        self.by_name: dict[str, Node] = {}
        self.mobile_by_mac: dict[bytes, MobileNodeHost] = {}
        self.owner: dict[bytes, Node] = {}  # address -> node that owns (or is home to) it
        self.links: list[Link] = []
        self.cells: list[Cell] = []
        self.drops: Counter[tuple[str, str]] = Counter()  # (node, reason) from the driver
        self.agent_drops: Counter[tuple[str, str]] = Counter()  # (node, reason) from agents
        self.signalling: dict[str, list[int]] = {"air": [0, 0], "wired": [0, 0]}
        # failure injection: a rule returning True loses that control message (tests)
        self.loss_rules: list[Callable[[Node, SendPacket], bool]] = []
        self._token = 0
        self._stale_timers = 0  # timers re-armed or cancelled since the last prune
        self.prune_at = PRUNE_MIN
        self._canonical: dict[bytes, bytes] = {}

    def canonical(self, raw: bytes) -> bytes:
        """The one object the network keeps for the address or MAC ``raw`` (the first it
        saw with these bytes).

        Every table keyed by an address (routes, bindings, visitors, uplinks, stations)
        holds this object, not a copy of its own: a look-up by a packet's address bytes
        compares the key it finds with them, so with many MNs each address's key is one
        object touched by all those tables rather than one per table (each a cache miss),
        and a visitor's MAC looked up among the cell's stations is found by identity.
        """
        return self._canonical.setdefault(raw, raw)

    def associating(self, mac: bytes) -> MobileNodeHost | None:
        """The MN with link address ``mac`` while it has no cell (between L2-LD and L2-LU)."""
        node = self.mobile_by_mac.get(mac)
        return node if node is not None and node.cell is None else None

    def injected_loss(self, node: Node, action: SendPacket) -> bool:
        return any(rule(node, action) for rule in self.loss_rules)

    def next_token(self) -> int:
        self._token += 1
        return self._token

    def timer_dropped(self) -> None:
        """A timer was re-armed or cancelled: its queued event will do nothing.

        Registration lifetimes are long (minutes) and every registration re-arms them, so
        in a run with many MNs such stale events would pile up in the engine's queue (a
        third of it and more) and slow every event down; once they number as many as the
        events pending at the last clean-up, they are removed (amortised O(1) per timer).
        """
        self._stale_timers += 1
        if self._stale_timers >= self.prune_at:
            self.engine.prune(_stale_timer)
            self._stale_timers = 0
            self.prune_at = max(PRUNE_MIN, self.engine.pending)

    def add(self, node: Node) -> None:
        if node.name in self.by_name:
            raise ValueError(f"duplicate node name {node.name}")
        self.nodes.append(node)
        self.by_name[node.name] = node
        if isinstance(node, MobileNodeHost):
            self.mobile_by_mac[node.mac] = node
        for address in node.addresses:
            self.owner[address] = node

    def add_home_address(self, address: IPv4Address, home: Node) -> None:
        """Packets for ``address`` are routed to ``home`` (the home network's HA)."""
        self.owner[self.canonical(address.packed)] = home

    def connect(
        self,
        a: WiredNode,
        b: WiredNode,
        *,
        delay_s: float,
        jitter_s: float = 0.0,
        loss: float = 0.0,
        rate_bytes_per_s: float = 0.0,
        rng: random.Random,
    ) -> None:
        """A bidirectional wired link (two :class:`Link` directions sharing ``rng``)."""
        for x, y in ((a, b), (b, a)):
            self.links.append(
                Link(
                    self.engine,
                    x,
                    y,
                    delay=delay_s,
                    jitter=jitter_s,
                    loss=loss,
                    rate=rate_bytes_per_s,
                    rng=rng,
                )
            )

    def add_cell(self, fa: AgentNode, *, delay_s: float, loss: float, rng: random.Random) -> Cell:
        cell = Cell(len(self.cells), fa, delay=delay_s, loss=loss, rng=rng)
        fa.cell = cell
        self.cells.append(cell)
        return cell

    def compute_routes(self) -> None:
        """Shortest-delay next hops between every pair of wired nodes (Dijkstra, ties by
        node index so routes are deterministic)."""
        wired = [n for n in self.nodes if isinstance(n, WiredNode)]
        out: dict[WiredNode, list[Link]] = {n: [] for n in wired}
        for link in self.links:
            out[link.source].append(link)
        for source in wired:
            best: dict[WiredNode, float] = {source: 0.0}
            first: dict[WiredNode, Link] = {}
            queue: list[tuple[float, int, WiredNode, Link | None]] = [
                (0.0, source.index, source, None)
            ]
            done: set[WiredNode] = set()
            while queue:
                dist, _, node, via = heapq.heappop(queue)
                if node in done:
                    continue
                done.add(node)
                if via is not None:
                    first[node] = via
                for link in out[node]:
                    nd = dist + link.delay
                    nxt = link.destination
                    if nxt not in done and nd < best.get(nxt, float("inf")):
                        best[nxt] = nd
                        heapq.heappush(queue, (nd, nxt.index, nxt, link if via is None else via))
            source.next_hop = dict(first)  # type: ignore[arg-type]

    def drop(self, node: Node, reason: str, packet: bytes, meta: str | None) -> None:
        """A packet the simulated network itself refused or lost: counted and traced."""
        self.drops[(node.name, reason)] += 1
        trace = self.trace
        fields: dict[str, object] = {"data": True} if meta is None else {"message": meta}
        trace.event(self.engine.now, node.name, "drop", reason, fields=fields, size=len(packet))

    def path_delay(self, source: WiredNode, destination: Node) -> float:
        """One-way propagation delay along the route (for reports and tests)."""
        total, node = 0.0, source
        while node is not destination:
            link = node.next_hop[destination]
            total += link.delay
            node = link.destination
        return total
