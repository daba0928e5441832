"""What an agent is told about a packet it received, and the addresses it works with."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

BROADCAST_MAC = b"\xff" * 6
ALL_SYSTEMS = IPv4Address("224.0.0.1")  # RFC 1256: Agent Advertisement multicast
ALL_MOBILITY_AGENTS = IPv4Address("224.0.0.11")  # RFC 5944 §2.3.1
LIMITED_BROADCAST = IPv4Address("255.255.255.255")
UNSPECIFIED = IPv4Address("0.0.0.0")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedPacket:
    """One packet delivered to an agent's control plane.

    ``payload`` is the UDP payload for ``protocol == 17`` (ports given), the ICMP message for
    ``protocol == 1``, and the ESP packet for ``protocol == 50``. ``link_source`` is the
    link-layer source address of the frame when the driver knows it (RFC 5944 §3.7.1 takes
    the MN's MAC from it; RFC 4881 §3.7 forbids that for routed requests).
    """

    interface: str
    source: IPv4Address
    destination: IPv4Address
    protocol: int
    payload: bytes
    ttl: int = 64
    source_port: int = 0
    destination_port: int = 0
    link_source: bytes | None = None
