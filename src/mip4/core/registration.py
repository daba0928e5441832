"""Registration helpers shared by the agents (RFC 5944 §3, RFC 3024, RFC 4857 §10).

- the authorization-enabling extension and what follows it (RFC 5944 §3.2, §3.6.1.3,
  §3.7.2.2, §3.7.3.2: relays keep everything through it and strip what follows);
- the semantic view of the flags (requested encapsulation) so agents never test wire bits;
- replies built from a request (RFC 5944 §3.7.2.3: denials copy Home Address, Home Agent
  and Identification);
- the raw fixed fields of a request whose reserved bits make it undecodable, and the bytes
  its authenticators cover (codes 70/134 only answer an authenticated request);
- the table entries: :class:`PendingRegistration`, :class:`VisitorEntry`,
  :class:`MobilityBinding`.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import TypeVar

from mip4.core.actions import TunnelMode
from mip4.core.security import SecurityAssociation
from mip4.wire._util import ipv4
from mip4.wire.auth import seal, verify
from mip4.wire.errors import DecodeError
from mip4.wire.extensions import (
    ControlExtension,
    ForeignHomeAuthentication,
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    MobileForeignAuthentication,
    MobileHomeAuthentication,
    decode_extensions,
)
from mip4.wire.registration import (
    INFINITE_LIFETIME,
    MessageType,
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationFlags,
    RegistrationReply,
    RegistrationRequest,
)

AnyRequest = RegistrationRequest | RegionalRegistrationRequest
AnyReply = RegistrationReply | RegionalRegistrationReply
_Msg = TypeVar("_Msg", bound=RegistrationRequest | RegistrationReply)


class Denied(Exception):
    """Raised inside a handler to refuse a request with ``code`` (style guide §2.9).

    Converted into a reply at the handler's boundary; it never leaves the core.
    """

    def __init__(self, code: int, detail: str, *, lifetime: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.lifetime = lifetime


# ---------------------------------------------------------------------------- flags


# Plain ints: IntFlag's ``&`` builds a new flag member on every request.
_M = int(RegistrationFlags.M)
_G = int(RegistrationFlags.G)
_T = int(RegistrationFlags.T)
_S = int(RegistrationFlags.S)
# M/G bits -> encapsulation; None when both are set.
_MODES: dict[int, TunnelMode | None] = {
    0: TunnelMode.IP_IN_IP,
    _M: TunnelMode.MINIMAL,
    _G: TunnelMode.GRE,
    _M | _G: None,
}


def requested_mode(flags: RegistrationFlags) -> TunnelMode | None:
    """The encapsulation a request asks for (RFC 5944 §3.3 M/G bits), IP-in-IP by default.

    None when both M and G are set: one tunnel has one encapsulation, so the agents refuse
    it as an unavailable encapsulation (72 at the FA, 139 at the HA).
    """
    return _MODES[int.__and__(flags, _M | _G)]


def mode_flags(mode: TunnelMode) -> RegistrationFlags:
    """The request flag asking for ``mode`` (none for IP-in-IP)."""
    if mode is TunnelMode.MINIMAL:
        return RegistrationFlags.M
    if mode is TunnelMode.GRE:
        return RegistrationFlags.G
    return RegistrationFlags.NONE


def is_multicast(address: IPv4Address) -> bool:
    """``address.is_multicast`` (224.0.0.0/4) by integer arithmetic: ipaddress answers it
    through a network membership test, slowly, and every reply asks."""
    return int(address) >> 28 == 0xE


def wants_reverse_tunnel(flags: RegistrationFlags) -> bool:
    return int.__and__(flags, _T) != 0  # RFC 3024 §3.2


def wants_simultaneous(flags: RegistrationFlags) -> bool:
    return int.__and__(flags, _S) != 0  # RFC 5944 §3.3


# ---------------------------------------------------------------------------- extensions


def is_mn_gfa_auth(ext: ControlExtension) -> bool:
    return (
        isinstance(ext, GeneralizedAuthentication) and ext.subtype == GeneralizedAuthSubtype.MN_GFA
    )


def is_fa_fa_auth(ext: ControlExtension) -> bool:
    return (
        isinstance(ext, GeneralizedAuthentication) and ext.subtype == GeneralizedAuthSubtype.FA_FA
    )


def authorization_index(message: AnyRequest | AnyReply) -> int | None:
    """Index of the authorization-enabling extension (RFC 5944 §1.6, §3.2).

    MN-HA (32) for home registrations; MN-GFA (36/3) for regional ones (RFC 4857 §10).
    """
    if message.TYPE in _REGIONAL_TYPES:
        for i, ext in enumerate(message.extensions):
            if is_mn_gfa_auth(ext):
                return i
        return None
    for i, ext in enumerate(message.extensions):
        if isinstance(ext, MobileHomeAuthentication):
            return i
    return None


_REGIONAL_TYPES = (
    MessageType.REGIONAL_REGISTRATION_REQUEST,
    MessageType.REGIONAL_REGISTRATION_REPLY,
)


def count(extensions: tuple[ControlExtension, ...], cls: type) -> int:
    return sum(1 for ext in extensions if isinstance(ext, cls))


def check_single(
    message: AnyRequest | AnyReply | AsSent,
    cls: type,
    sa: SecurityAssociation,
    *,
    fa_fa: bool = False,
) -> str | None:
    """Verify the one authenticator of ``cls`` against ``sa``; None if valid, else why not.

    RFC 5944 §3.6.2.1, §3.7.2.1, §3.7.3.1, §3.8.2.1: exactly one such extension MUST be
    present and its Authenticator MUST verify. ``fa_fa`` selects Generalized Authentication
    sub-type 2 (RFC 4857 §11).
    """
    if fa_fa:
        indexes = [i for i, e in enumerate(message.extensions) if is_fa_fa_auth(e)]
    elif cls is GeneralizedAuthentication:
        indexes = [i for i, e in enumerate(message.extensions) if is_mn_gfa_auth(e)]
    else:
        indexes = [i for i, e in enumerate(message.extensions) if isinstance(e, cls)]
    if not indexes:
        return f"no {cls.__name__}"
    if len(indexes) > 1:
        return f"{len(indexes)} {cls.__name__} extensions"
    ext = message.extensions[indexes[0]]
    assert isinstance(
        ext,
        MobileHomeAuthentication
        | MobileForeignAuthentication
        | ForeignHomeAuthentication
        | GeneralizedAuthentication,
    )
    if ext.spi != sa.spi:
        return f"SPI {ext.spi} is not the SA's {sa.spi}"
    if not verify(message, indexes[0], sa.key):
        return f"{cls.__name__} authenticator does not verify"
    return None


def keep_through_authorization(message: AnyRequest | AnyReply) -> tuple[ControlExtension, ...]:
    """The extensions a relay must pass on untouched (RFC 5944 §3.7.2.2, §3.7.3.2)."""
    index = authorization_index(message)
    return message.extensions if index is None else message.extensions[: index + 1]


def after_authorization(message: AnyRequest | AnyReply) -> tuple[ControlExtension, ...]:
    """The extensions a relay must process and remove (RFC 5944 §3.7.2.2, §3.7.3.2)."""
    index = authorization_index(message)
    return () if index is None else message.extensions[index + 1 :]


def seal_with(message: _Msg, cls: type, sa: SecurityAssociation) -> _Msg:
    """Append an authentication extension of ``cls`` keyed by ``sa`` (RFC 5944 §3.5)."""
    template: (
        MobileHomeAuthentication
        | MobileForeignAuthentication
        | ForeignHomeAuthentication
        | GeneralizedAuthentication
    )
    if cls is MobileHomeAuthentication:
        template = MobileHomeAuthentication(spi=sa.spi, authenticator=b"")
    elif cls is MobileForeignAuthentication:
        template = MobileForeignAuthentication(spi=sa.spi, authenticator=b"")
    elif cls is ForeignHomeAuthentication:
        template = ForeignHomeAuthentication(spi=sa.spi, authenticator=b"")
    else:
        raise TypeError(cls)
    return seal(message, template, sa.key)


def seal_generalized(
    message: _Msg, subtype: GeneralizedAuthSubtype, sa: SecurityAssociation
) -> _Msg:
    """Append a Generalized Authentication extension (RFC 4721 §5, RFC 4857 §11)."""
    template = GeneralizedAuthentication(subtype=int(subtype), spi=sa.spi, authenticator=b"")
    return seal(message, template, sa.key)


# ---------------------------------------------------------------------------- replies


def reply_to(
    request: AnyRequest,
    code: int,
    *,
    lifetime: int | None = None,
    identification: int | None = None,
    agent: IPv4Address | None = None,
) -> AnyReply:
    """A reply to ``request``: Home Address, agent field and Identification copied
    (RFC 5944 §3.7.2.3, §3.8.3.2); the regional type answers a regional request."""
    cls: type[AnyReply] = (
        RegionalRegistrationReply
        if isinstance(request, RegionalRegistrationRequest)
        else RegistrationReply
    )
    return cls(
        code=code,
        lifetime=request.lifetime if lifetime is None else lifetime,
        home_address=request.home_address,
        home_agent=request.home_agent if agent is None else agent,
        identification=request.identification if identification is None else identification,
    )


_RAW_REQUEST = struct.Struct("!BBH4s4s4sQ")


def raw_request(data: bytes) -> AnyRequest | None:
    """The fixed part of a request whose reserved flag bits stop it decoding, with those
    bits cleared, so an agent can answer 70 or 134 (RFC 5944 §3.7.2.1, §3.8.2.3)."""
    if len(data) < _RAW_REQUEST.size:
        return None
    mtype, flags, lifetime, home, agent, coa, ident = _RAW_REQUEST.unpack_from(data)
    cls: type[AnyRequest]
    if mtype == MessageType.REGISTRATION_REQUEST:
        cls = RegistrationRequest
    elif mtype == MessageType.REGIONAL_REGISTRATION_REQUEST:
        cls = RegionalRegistrationRequest
    else:
        return None
    return cls(
        flags=RegistrationFlags(flags & ~(RegistrationFlags.r | RegistrationFlags.x)),
        lifetime=lifetime,
        home_address=ipv4(home),
        home_agent=ipv4(agent),
        care_of_address=ipv4(coa),
        identification=ident,
    )


@dataclass(frozen=True, slots=True)
class AsSent:
    """A request whose reserved bits stop it decoding, as its authenticators see it: the
    fixed part exactly as received, reserved bits included (RFC 5944 §3.5.1: the MAC covers
    the UDP payload as sent), and the extensions. :func:`check_single` accepts it."""

    fixed: bytes
    extensions: tuple[ControlExtension, ...]

    def encode_fixed(self) -> bytes:
        return self.fixed


def as_sent(data: bytes) -> AsSent | None:
    """The :class:`AsSent` view of a request's bytes; None when its extensions do not
    decode (nothing could authenticate it)."""
    if len(data) < _RAW_REQUEST.size:
        return None
    try:
        extensions = decode_extensions(data, _RAW_REQUEST.size)
    except DecodeError:
        return None
    return AsSent(fixed=data[: _RAW_REQUEST.size], extensions=extensions)


def granted(requested: int, maximum: int) -> int:
    """Lifetime an agent grants: never more than asked (RFC 5944 §3.8.2.2), at most its max."""
    if requested == INFINITE_LIFETIME and maximum == INFINITE_LIFETIME:
        return INFINITE_LIFETIME
    return min(requested, maximum)


def expiry(now: float, lifetime: int) -> float | None:
    """Absolute expiry of ``lifetime`` seconds from ``now``; None for infinity (0xFFFF)."""
    return None if lifetime == INFINITE_LIFETIME else now + lifetime


def remaining(expires_at: float | None, now: float) -> float | None:
    return None if expires_at is None else round(max(0.0, expires_at - now), 6)


# ---------------------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingRegistration:
    """A request an FA (or GFA) relayed and awaits the reply for (RFC 5944 §3.7.1).

    ``link_address`` is the MN's MAC from the frame (RFC 5944 §3.7.1, §4.6: FAs never ARP
    for visitors); ``ip_source``/``ip_destination``/``source_port`` address the reply
    (§3.7.2.3). ``upstream`` is where the request went (HA, or GFA under RFC 4857) and
    ``downstream`` where a GFA sends the reply (the FA from the HFA extension).
    """

    home_address: IPv4Address
    link_address: bytes | None
    ip_source: IPv4Address
    ip_destination: IPv4Address
    source_port: int
    home_agent: IPv4Address
    care_of_address: IPv4Address
    identification: int
    requested_lifetime: int
    relayed_at: float
    regional: bool
    reverse_tunnel: bool
    mode: TunnelMode
    encapsulating_delivery: bool = False
    upstream: IPv4Address
    downstream: IPv4Address | None = None
    interface: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VisitorEntry:
    """An accepted visitor at an FA (RFC 5944 §3.7.1; RFC 3024 §4.2.2 adds the reverse
    tunnel and delivery style; RFC 4857 §6.2 the GFA it tunnels to)."""

    home_address: IPv4Address
    link_address: bytes | None
    home_agent: IPv4Address
    care_of_address: IPv4Address
    identification: int
    lifetime: int
    expires_at: float | None
    reverse_tunnel: bool
    mode: TunnelMode
    encapsulating_delivery: bool
    tunnel_peer: IPv4Address  # the HA, or the GFA under regional registration

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "home_address": str(self.home_address),
            "link_address": None if self.link_address is None else self.link_address.hex(":"),
            "home_agent": str(self.home_agent),
            "care_of_address": str(self.care_of_address),
            "identification": self.identification,
            "lifetime": self.lifetime,
            "lifetime_remaining": remaining(self.expires_at, now),
            "reverse_tunnel": self.reverse_tunnel,
            "delivery_style": "encapsulating" if self.encapsulating_delivery else "direct",
            "mode": self.mode.name.lower(),
            "tunnel_peer": str(self.tunnel_peer),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MobilityBinding:
    """One mobility binding at an HA (RFC 5944 §3.8.1) or a GFA's regional binding.

    ``request_identification`` detects duplicates (§3.8.2.2: a duplicate MUST NOT extend
    the lifetime); ``reply_identification`` is what the reply carried (§3.8.1).
    """

    home_address: IPv4Address
    care_of_address: IPv4Address
    request_identification: int
    reply_identification: int
    lifetime: int
    expires_at: float | None
    reverse_tunnel: bool
    mode: TunnelMode
    tunnel_source: IPv4Address

    def to_dict(self, now: float) -> dict[str, object]:
        return {
            "care_of_address": str(self.care_of_address),
            "identification": self.reply_identification,
            "lifetime": self.lifetime,
            "lifetime_remaining": remaining(self.expires_at, now),
            "reverse_tunnel": self.reverse_tunnel,
            "mode": self.mode.name.lower(),
        }


def replace(entry: VisitorEntry, **changes: object) -> VisitorEntry:
    return dataclasses.replace(entry, **changes)  # type: ignore[arg-type]


__all__ = [
    "AnyReply",
    "AnyRequest",
    "AsSent",
    "Denied",
    "MobilityBinding",
    "PendingRegistration",
    "VisitorEntry",
    "after_authorization",
    "as_sent",
    "authorization_index",
    "check_single",
    "count",
    "expiry",
    "granted",
    "is_multicast",
    "keep_through_authorization",
    "mode_flags",
    "raw_request",
    "remaining",
    "reply_to",
    "requested_mode",
    "seal_generalized",
    "seal_with",
    "wants_reverse_tunnel",
    "wants_simultaneous",
]
