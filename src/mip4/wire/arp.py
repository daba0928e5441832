"""ARP for IPv4 over Ethernet (RFC 826): the packet the nFA's proxy ARP reply carries.

Only what RFC 4881 §4.1 step 4b needs: an ARP Reply built by the nFA on behalf of the oFA,
and its decoding (tests, the daemon's checks). Hardware type 1 (Ethernet), protocol type
0x0800, lengths 6 and 4; the 28 bytes follow the Ethernet header (EtherType 0x0806).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from mip4.wire.errors import DecodeError, TruncatedError

ETH_P_ARP = 0x0806
ARP_LENGTH = 28
ARP_REQUEST = 1
ARP_REPLY = 2
_HTYPE_ETHERNET = 1
_PTYPE_IPV4 = 0x0800
_HEADER = struct.Struct("!HHBBH6s4s6s4s")


@dataclass(frozen=True, slots=True, kw_only=True)
class ArpPacket:
    """One ARP packet (RFC 826 field names: ar$sha, ar$spa, ar$tha, ar$tpa)."""

    operation: int
    sender_mac: bytes
    sender_address: IPv4Address
    target_mac: bytes
    target_address: IPv4Address

    def encode(self) -> bytes:
        """The 28-byte ARP packet (without the Ethernet header)."""
        for name, mac in (("sender_mac", self.sender_mac), ("target_mac", self.target_mac)):
            if len(mac) != 6:
                raise ValueError(f"{name} must be 6 bytes, got {len(mac)}")
        return _HEADER.pack(
            _HTYPE_ETHERNET,
            _PTYPE_IPV4,
            6,
            4,
            self.operation,
            self.sender_mac,
            self.sender_address.packed,
            self.target_mac,
            self.target_address.packed,
        )

    @classmethod
    def decode(cls, data: bytes) -> ArpPacket:
        """Parse an Ethernet/IPv4 ARP packet; trailing bytes (Ethernet padding) are ignored."""
        if len(data) < ARP_LENGTH:
            raise TruncatedError(
                f"{len(data)} bytes, an ARP packet has {ARP_LENGTH}", field="arp", offset=0
            )
        htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _HEADER.unpack_from(data)
        for value, expected, name, offset in (
            (htype, _HTYPE_ETHERNET, "hardware_type", 0),
            (ptype, _PTYPE_IPV4, "protocol_type", 2),
            (hlen, 6, "hardware_length", 4),
            (plen, 4, "protocol_length", 5),
        ):
            if value != expected:
                raise DecodeError(f"{value}, expected {expected}", field=name, offset=offset)
        if op not in (ARP_REQUEST, ARP_REPLY):
            raise DecodeError(f"unknown operation {op}", field="operation", offset=6)
        return cls(
            operation=op,
            sender_mac=sha,
            sender_address=IPv4Address(spa),
            target_mac=tha,
            target_address=IPv4Address(tpa),
        )


def proxy_arp_reply(*, on_behalf_of: IPv4Address, proxy_mac: bytes) -> ArpPacket:
    """RFC 4881 §4.1 step 4b: the nFA's ARP Reply for the oFA's address.

    "supplying the nFA link-layer address in the Sender Hardware Address field and the oFA
    IPv4 address in the Target Protocol Address field": the oFA's address is the sender
    protocol address too (RFC 826: a receiver updates the entry of the *sender* protocol
    address), and the target hardware address repeats the nFA's, the layout of RFC 5944
    §4.6's gratuitous ARP Reply. Sent unicast to the MN. Linux takes such a reply (sender
    and target protocol addresses equal, hardware addresses equal) as gratuitous and
    updates its existing entry at once, even within ``locktime`` of the entry's last change,
    where a reply targeted at the MN's own address would be ignored.
    """
    return ArpPacket(
        operation=ARP_REPLY,
        sender_mac=proxy_mac,
        sender_address=on_behalf_of,
        target_mac=proxy_mac,
        target_address=on_behalf_of,
    )


__all__ = ["ARP_LENGTH", "ARP_REPLY", "ARP_REQUEST", "ETH_P_ARP", "ArpPacket", "proxy_arp_reply"]
