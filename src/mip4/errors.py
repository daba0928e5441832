"""The project's exception roots, fixed once so callers can rely on them.

``Mip4Error`` is the root of everything mip4 raises on purpose. Decoders raise only the
``DecodeError`` family (see :mod:`mip4.wire.errors`); API misuse raises ``LocalUsageError``.
"""


class Mip4Error(Exception):
    """Root of every exception mip4 raises deliberately."""


class LocalUsageError(Mip4Error):
    """The caller used the API wrongly (a bug on our side of the wire, not the peer's)."""
