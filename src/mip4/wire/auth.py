"""Message authenticators: HMAC-MD5 over exactly the bytes the RFCs define (digest §2.6-2.7).

- MN-HA (32), MN-FA (33), FA-HA (34), RFC 5944 §3.5.1: the MAC covers the UDP payload from
  the Type byte through every earlier extension, plus Type, Length and SPI of the
  authentication extension itself.
- Generalized Authentication (36: MN-AAA, FA-FA, MN-GFA), RFC 4721 §6 and RFC 4857 §11:
  the MAC covers all preceding bytes plus the 8-byte extension header (Type, Subtype,
  Length, SPI).

Both reduce to "everything before the authenticator", which is how :func:`mac_input` builds
it. Verification compares in constant time (:func:`hmac.compare_digest`).

Messages stay immutable: :func:`seal` returns a new message with the authentication
extension appended; nothing mutates itself on serialisation.
"""

from __future__ import annotations

import dataclasses
import hmac
from functools import lru_cache
from typing import Protocol, TypeVar

from mip4.errors import LocalUsageError
from mip4.wire._util import bounded_store
from mip4.wire.extensions import (
    AuthenticationExtension,
    ControlExtension,
    GeneralizedAuthentication,
    encode_extensions,
)
from mip4.wire.hmac_md5 import MAC_LENGTH, HmacMd5

HMAC_MD5_LENGTH = MAC_LENGTH  # bytes of an HMAC-MD5 authenticator (RFC 2104, RFC 5944 §3.5.1)
RESERVED_SPI_MAX = 255  # SPIs 0-255 are reserved (RFC 5944 §1.6)


class AuthenticatedMessage(Protocol):
    """A control message whose extensions can carry an authenticator."""

    @property
    def extensions(self) -> tuple[ControlExtension, ...]: ...

    def encode_fixed(self) -> bytes:
        """The fixed part of the message, before the first extension."""
        ...


_M = TypeVar("_M", bound=AuthenticatedMessage)


_PADS_MAX = 256
_PADS: dict[bytes, HmacMd5] = {}


def _hmac_for(key: bytes) -> HmacMd5:
    """The :class:`HmacMd5` of ``key``, its pads made once (RFC 2104 §4, "Implementation
    Note"). A bounded dict, looked up on every authenticator: a key is an SA's, and there
    are few."""
    key = bytes(key)  # a bytearray or memoryview key: hashable, and the caller's copy
    pads = _PADS.get(key)
    if pads is None:
        pads = bounded_store(_PADS, _PADS_MAX, key, HmacMd5(key))
    return pads


def hmac_md5(key: bytes, data: bytes) -> bytes:
    """HMAC-MD5 (RFC 2104), the mandatory default algorithm (RFC 5944 §3.5.1)."""
    pads = _PADS.get(key) if type(key) is bytes else None  # a bytearray is not hashable
    return (pads or _hmac_for(key)).digest(data)


def mac_input(message: AuthenticatedMessage, index: int) -> bytes:
    """The bytes the authenticator of ``message.extensions[index]`` covers."""
    ext = message.extensions[index]
    if not isinstance(ext, AuthenticationExtension):
        raise LocalUsageError(f"extension {index} ({type(ext).__name__}) is not an authenticator")
    wire: bytes | None = getattr(message, "_wire", None)
    if wire is not None:
        # A decoded message re-encodes to exactly the bytes it came from, so the MAC input is
        # a prefix of those bytes: no need to encode the message again.
        start = _extension_offset(wire, getattr(message, "FIXED_SIZE", 0), index)
        if start is not None and start < len(wire) and wire[start] == ext.TYPE:
            return wire[: start + (8 if isinstance(ext, GeneralizedAuthentication) else 6)]
    return message.encode_fixed() + encode_extensions(message.extensions[:index]) + ext.header()


def _extension_offset(wire: bytes, pos: int, index: int) -> int | None:
    """Offset in ``wire`` of the extension number ``index``, the first one starting at
    ``pos``, following the framing of RFC 5944 §1.8 (as ``decode_extensions`` does)."""
    for _ in range(index):
        if pos >= len(wire):
            return None
        ext_type = wire[pos]
        if ext_type == 0:  # one-byte padding
            pos += 1
        elif ext_type == GeneralizedAuthentication.TYPE:  # long format, 16-bit Length
            pos += 4 + int.from_bytes(wire[pos + 2 : pos + 4], "big")
        else:
            pos += 2 + wire[pos + 1]
    return pos


def seal(message: _M, template: AuthenticationExtension, key: bytes) -> _M:
    """Append ``template`` (its authenticator ignored) with an HMAC-MD5 authenticator.

    The authenticator is computed over the message as it stands plus the new extension's
    header, so it must be the last thing added before the message is sent or relayed
    (RFC 5944 §3.2 orders what may follow it).
    """
    if template.spi <= RESERVED_SPI_MAX:
        raise LocalUsageError(f"SPI {template.spi} is reserved (0-255, RFC 5944 §1.6)")
    # What mac_input() gives for the appended extension: every byte before it, then its own
    # header, computed without building the intermediate message.
    wire: bytes | None = getattr(message, "_wire", None)
    if wire is None:
        wire = message.encode_fixed() + encode_extensions(message.extensions)
    digest = hmac_md5(key, wire + _sealed_header(template))
    final = dataclasses.replace(template, authenticator=digest)
    return _with_extensions(message, (*message.extensions, final))


@lru_cache(maxsize=1024)
def _sealed_header(template: AuthenticationExtension) -> bytes:
    """The header of ``template`` carrying an HMAC-MD5 authenticator (the same for every
    message sealed with one SA: computed once)."""
    return dataclasses.replace(template, authenticator=bytes(HMAC_MD5_LENGTH)).header()


@lru_cache(maxsize=64)
def _init_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def _with_extensions(message: _M, extensions: tuple[ControlExtension, ...]) -> _M:
    """``dataclasses.replace(message, extensions=extensions)`` without its per-call field
    inspection (the init fields of each message class are looked up once)."""
    cls = type(message)
    values = {name: getattr(message, name) for name in _init_fields(cls)}
    values["extensions"] = extensions
    sealed: _M = cls(**values)
    return sealed


def verify(message: AuthenticatedMessage, index: int, key: bytes) -> bool:
    """True if the authenticator at ``extensions[index]`` is the HMAC-MD5 under ``key``."""
    extensions = message.extensions
    ext = extensions[index]
    if not isinstance(ext, _AUTHENTICATORS) or len(ext.authenticator) != HMAC_MD5_LENGTH:
        return False
    wire: bytes | None = getattr(message, "_wire", None)
    if wire is not None and index == len(extensions) - 1:
        # The usual case: the authenticator ends the decoded message (RFC 5944 §3.2 puts
        # nothing after the MN-HA one). Its decoder read it up to the last byte, so what it
        # covers is everything before it, and it is the last 16 bytes.
        pads = _PADS.get(key) if type(key) is bytes else None
        return (pads or _hmac_for(key)).verify_trailing(wire)
    return hmac.compare_digest(hmac_md5(key, mac_input(message, index)), ext.authenticator)


# A tuple, not the union: isinstance() tests a tuple without the union's indirection.
_AUTHENTICATORS = tuple(AuthenticationExtension.__args__)


def find_authenticator(
    message: AuthenticatedMessage, cls: type[AuthenticationExtension], subtype: int | None = None
) -> int | None:
    """Index of the first authentication extension of ``cls`` (and ``subtype`` for type 36)."""
    extensions = message.extensions
    if len(extensions) == 1:  # the usual case: the message carries its authenticator alone
        ext = extensions[0]
        if type(ext) is cls and (subtype is None or getattr(ext, "subtype", None) == subtype):
            return 0
    if subtype is None:
        for i, ext in enumerate(extensions):
            if isinstance(ext, cls):
                return i
        return None
    for i, ext in enumerate(extensions):
        if (
            isinstance(ext, cls)
            and isinstance(ext, GeneralizedAuthentication)
            and (ext.subtype == subtype)
        ):
            return i
    return None


__all__ = [
    "HMAC_MD5_LENGTH",
    "AuthenticatedMessage",
    "find_authenticator",
    "hmac_md5",
    "mac_input",
    "seal",
    "verify",
]
