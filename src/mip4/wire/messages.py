"""Dispatch of Mobile IP control messages on UDP 434 by their first byte (digest §1.1)."""

from __future__ import annotations

from collections.abc import Callable

from mip4.wire.errors import TruncatedError, UnknownMessageType
from mip4.wire.handoff import HandoffReply, HandoffRequest
from mip4.wire.registration import (
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationReply,
    RegistrationRequest,
)

ControlMessage = (
    RegistrationRequest
    | RegistrationReply
    | RegionalRegistrationRequest
    | RegionalRegistrationReply
    | HandoffRequest
    | HandoffReply
)

# Each message's decoder (a bound class method) by its Type byte: a dispatch is one look-up
# and one call.
_DECODERS: dict[int, Callable[[bytes], ControlMessage]] = {
    cls.TYPE: cls.decode
    for cls in (
        RegistrationRequest,
        RegistrationReply,
        RegionalRegistrationRequest,
        RegionalRegistrationReply,
        HandoffRequest,
        HandoffReply,
    )
}

MOBILE_IP_PORT = 434  # RFC 5944 §1.8


def decode_control_message(data: bytes) -> ControlMessage:
    """Decode one UDP 434 payload into its message class; raises the ``DecodeError`` family."""
    if type(data) is not bytes:  # bytearray / memoryview from a socket: hashable copies
        data = bytes(data)
    if not data:
        raise TruncatedError("empty UDP payload", field="type", offset=0)
    decode = _DECODERS.get(data[0])
    if decode is None:
        raise UnknownMessageType(
            f"type {data[0]} is not a control message this stack decodes "
            f"(known: {sorted(_DECODERS)})",
            field="type",
            offset=0,
        )
    return decode(data)


__all__ = ["MOBILE_IP_PORT", "ControlMessage", "decode_control_message"]
