"""Decode errors: every decoder in :mod:`mip4.wire` raises only this family.

Each error names the field that was wrong and the byte offset where it starts, counted from
the first byte of the buffer handed to the outermost ``decode`` call, so a user can find the
byte in a hex dump.
"""

from __future__ import annotations

from mip4.errors import Mip4Error


class DecodeError(Mip4Error):
    """Bytes that do not form a valid message.

    ``field`` is the RFC field name (snake_case) and ``offset`` its first byte.
    """

    def __init__(self, message: str, *, field: str, offset: int) -> None:
        super().__init__(f"{field} at offset {offset}: {message}")
        self.reason = message
        self.field = field
        self.offset = offset


class TruncatedError(DecodeError):
    """The buffer ends before a field does."""


class LengthError(DecodeError):
    """A length field disagrees with the bytes present or with the layout (overlong, short)."""


class ChecksumError(DecodeError):
    """An Internet checksum does not verify."""


class ReservedValueError(DecodeError):
    """A reserved field or bit carries a value the RFC forbids on receipt."""


class ValueDecodeError(DecodeError):
    """A field holds a value outside its allowed set (wrong type code, bad version...)."""


class AuthenticatorLengthError(DecodeError):
    """An authentication extension is too short to hold an SPI and an authenticator."""


class UnknownMandatoryExtension(DecodeError):
    """An unknown extension in the non-skippable range 0-127 (RFC 5944 §1.8).

    The receiver must discard the whole message; an agent turns this into the reply code the
    RFC asks for (e.g. 70 / 134 "poorly formed request").
    """

    def __init__(self, ext_type: int, *, offset: int) -> None:
        super().__init__(
            f"unknown non-skippable extension type {ext_type}",
            field="extension.type",
            offset=offset,
        )
        self.ext_type = ext_type


class UnknownMessageType(DecodeError):
    """The first byte names no message type this decoder knows."""


__all__ = [
    "AuthenticatorLengthError",
    "ChecksumError",
    "DecodeError",
    "LengthError",
    "ReservedValueError",
    "TruncatedError",
    "UnknownMandatoryExtension",
    "UnknownMessageType",
    "ValueDecodeError",
]
