"""L2 triggers, RFC 4881 §1.3 Table 1, as typed inputs to the agents.

| trigger | recipient | parameters (Table 1)                  | methods                     |
|---------|-----------|----------------------------------------|-----------------------------|
| L2-MT   | MN        | nFA identifier                         | PRE mobile-initiated        |
| L2-ST   | oFA       | nFA identifier, MN identifier          | PRE network-init., POST (s) |
| L2-TT   | nFA       | oFA identifier, MN identifier          | PRE network-init., POST (t) |
| L2-LU   | MN or nFA | @MN: nFA IPv4 or L2 addr; @nFA: MN     | PRE and POST                |
| L2-LD   | oFA (MN)  | MN identifier                          | POST                        |

An "FA identifier" is either the FA's IPv4 address or an access point identifier that the
recipient maps to an FA (RFC 4881 §3.3: LLA sub-types 5 and 6). An "MN identifier" is the
MN's link-layer address (and its home address where the network knows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address


@dataclass(frozen=True, slots=True, kw_only=True)
class FaIdentifier:
    """An FA named by its IPv4 address, by an access point identifier, or both."""

    address: IPv4Address | None = None
    access_point_id: int | None = None

    def __post_init__(self) -> None:
        if self.address is None and self.access_point_id is None:
            raise ValueError("an FA identifier needs an address or an access point id")


@dataclass(frozen=True, slots=True, kw_only=True)
class MnIdentifier:
    """An MN named by its link-layer address (and its home address when known)."""

    link_address: bytes
    home_address: IPv4Address | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MobileTrigger:
    """L2-MT at the MN: a handoff to ``new_fa`` is coming (RFC 4881 §3.3)."""

    new_fa: FaIdentifier
    interface: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceTrigger:
    """L2-ST at the oFA: ``mn`` is about to move to ``new_fa`` (RFC 4881 §3.2, §4.1)."""

    mn: MnIdentifier
    new_fa: FaIdentifier


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetTrigger:
    """L2-TT at the nFA: ``mn`` is about to arrive from ``old_fa`` (RFC 4881 §3.2, §4.1)."""

    mn: MnIdentifier
    old_fa: FaIdentifier


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkUp:
    """L2-LU: the radio link is established.

    At the MN ``fa`` names the new point of attachment (``mn`` is None); at the nFA ``mn``
    names the MN that attached (``fa`` is None).
    """

    interface: str = ""
    fa: FaIdentifier | None = None
    mn: MnIdentifier | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkDown:
    """L2-LD: the radio link is lost (at the oFA ``mn`` names the MN; at the MN it is None)."""

    interface: str = ""
    mn: MnIdentifier | None = None


L2Trigger = MobileTrigger | SourceTrigger | TargetTrigger | LinkUp | LinkDown


def trigger_name(trigger: L2Trigger) -> str:
    """The RFC's name for ``trigger`` (``L2-MT`` ...), as traces and reports write it."""
    return {
        MobileTrigger: "L2-MT",
        SourceTrigger: "L2-ST",
        TargetTrigger: "L2-TT",
        LinkUp: "L2-LU",
        LinkDown: "L2-LD",
    }[type(trigger)]
