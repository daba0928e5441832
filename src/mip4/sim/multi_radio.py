"""An MN with two radios (method ``multi-interface``, RFC 4881 Appendix B).

:class:`MultiRadioHost` is a :class:`~mip4.sim.network.MobileNodeHost` (its own radio is
the first interface, ``wlan0``) with a second radio, :class:`SecondRadio` (``wlan1``, its
own MAC from :func:`second_mac`), which can be attached to another cell at the same time:
one cell per interface. Frames received on either radio reach the one agent with the
interface they came in on; the agent's packets go out on the radio its action names; the
uplink follows the default router's interface. Every other method keeps the single-radio
:class:`~mip4.sim.network.MobileNodeHost` untouched.

The radio schedule (:mod:`mip4.sim.radio`): the free interface comes up in the new cell
``radio.trigger_lead_ms`` before the old interface's link goes down (make before break).
"""

from __future__ import annotations

from ipaddress import IPv4Address

from mip4.core.actions import SendPacket
from mip4.sim.network import AIR, GROUP_ADDRESSES, Cell, MobileNodeHost, Network
from mip4.wire.ip import PROTO_UDP

SECOND_AIR = "wlan1"  # the second radio interface of a multi-interface MN
CONTROL_PROTOCOLS_MN = frozenset({1, 17, 50})  # ICMP, UDP, ESP


def second_mac(mac: bytes) -> bytes:
    """The second radio's MAC: the first's with bit 2 of the first octet set (still a
    locally administered unicast address)."""
    return bytes([mac[0] | 0x04]) + mac[1:]


class SecondRadio(MobileNodeHost):
    """The second radio of a :class:`MultiRadioHost`: a station of its own (MAC, cell,
    epoch) whose frames belong to its owner."""

    __slots__ = ("interface", "owner")

    def __init__(self, owner: MultiRadioHost, interface: str) -> None:
        super().__init__(owner.net, owner.name, IPv4Address(owner.address), second_mac(owner.mac))
        self.owner = owner
        self.interface = interface
        self.dataplane = owner.dataplane  # one default router for the MN

    def receive_air(
        self,
        packet: bytes,
        meta: str | None,
        source_mac: bytes,
        destination_mac: bytes,
        cell: Cell,
        epoch: int,
    ) -> None:
        self.owner.radio_receive(self, packet, meta, source_mac, destination_mac, cell, epoch)

    def air_send(self, packet: bytes, meta: str | None, link_destination: bytes | None) -> None:
        self.tap_air = self.owner.tap_air  # one capture of the MN's air interfaces
        super().air_send(packet, meta, link_destination)


class MultiRadioHost(MobileNodeHost):
    """An MN with two radios, one cell each (see the module docstring)."""

    __slots__ = ("came_up", "radios", "waiting")

    def __init__(self, net: Network, name: str, home_address: IPv4Address, mac: bytes) -> None:
        super().__init__(net, name, home_address, mac)
        second = SecondRadio(self, SECOND_AIR)
        self.radios: dict[str, MobileNodeHost] = {AIR: self, SECOND_AIR: second}
        net.mobile_by_mac[second.mac] = second
        self.came_up: dict[int, float] = {}  # cell index -> when a radio joined it
        self.waiting: list[tuple[Cell, Cell]] = []  # moves waiting for a free radio

    def radio(self, interface: str) -> MobileNodeHost:
        return self.radios.get(interface, self)

    def interface_of(self, radio: MobileNodeHost) -> str:
        return SECOND_AIR if radio is not self else AIR

    def free_radio(self) -> MobileNodeHost | None:
        """A radio attached to no cell (the one to bring up in the next cell)."""
        return next((r for r in self.radios.values() if r.cell is None), None)

    def radio_in(self, cell: Cell) -> MobileNodeHost | None:
        return next((r for r in self.radios.values() if r.cell is cell), None)

    # -- receiving
    def receive_air(
        self,
        packet: bytes,
        meta: str | None,
        source_mac: bytes,
        destination_mac: bytes,
        cell: Cell,
        epoch: int,
    ) -> None:
        self.radio_receive(self, packet, meta, source_mac, destination_mac, cell, epoch)

    def radio_receive(
        self,
        radio: MobileNodeHost,
        packet: bytes,
        meta: str | None,
        source_mac: bytes,
        destination_mac: bytes,
        cell: Cell,
        epoch: int,
    ) -> None:
        from mip4.sim.network import ASSOCIATING

        net = self.net
        if radio.cell is not cell or (radio.epoch != epoch and epoch != ASSOCIATING):
            net.drop(self, "radio-down", packet, meta)
            return
        if self.tap_air is not None:
            self.tap_air.write(net.engine.now, packet, source_mac, destination_mac)
        destination = packet[16:20]
        if destination not in self.addresses and destination not in GROUP_ADDRESSES:
            net.drop(self, "not-for-us", packet, meta)
            return
        interface = self.interface_of(radio)
        protocol = packet[9]
        if protocol == PROTO_UDP and meta is None and self.sink is not None:
            self.sink(packet, self, interface)
        elif protocol in CONTROL_PROTOCOLS_MN:
            self.to_agent(packet, meta, interface, source_mac)
        else:
            net.drop(self, "protocol-unreachable", packet, meta)

    # -- sending
    def send_control(self, action: SendPacket) -> None:
        packet = action.ip_packet()
        self.trace_send(action, packet, "air")
        if self.net.loss_rules and self.net.injected_loss(self, action):
            self.net.drop(self, "injected-loss", packet, action.message)
            return
        radio = self.radio(action.interface)
        if radio is self:
            self.air_send(packet, action.message, action.link_destination)
        else:
            radio.air_send(packet, action.message, action.link_destination)

    def send_data(self, packet: bytes) -> None:
        """An uplink user packet: through the default router, on its interface."""
        dataplane = self.dataplane
        if dataplane.router is None:
            super().send_data(packet)  # dropped, or held (smooth handoff)
            return
        radio = self.radio(dataplane.interface)
        link_destination = dataplane.link_address
        if link_destination is None and radio.cell is not None:
            link_destination = radio.resolve(dataplane.router)
            if link_destination is None:
                self.net.drop(self, "arp-unresolved", packet, None)
                return
        if radio is self:
            self.air_send(packet, None, link_destination)
        else:
            radio.air_send(packet, None, link_destination)


__all__ = ["SECOND_AIR", "MultiRadioHost", "SecondRadio", "second_mac"]
