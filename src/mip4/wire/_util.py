"""Small helpers shared by the codecs (address conversion, bounds checks)."""

from __future__ import annotations

import enum
from functools import lru_cache
from ipaddress import IPv4Address

from mip4.wire.errors import TruncatedError


@lru_cache(maxsize=4096)
def ipv4(raw: bytes) -> IPv4Address:
    """Four network-order bytes as an address (cached: addresses repeat on every message)."""
    return IPv4Address(raw)


def need(data: bytes, end: int, *, field: str, offset: int) -> None:
    """Raise :class:`TruncatedError` unless ``data`` holds bytes up to ``end``."""
    if len(data) < end:
        raise TruncatedError(
            f"needs {end - offset} bytes, only {max(0, len(data) - offset)} present",
            field=field,
            offset=offset,
        )


def need_layout(data: bytes, layout: tuple[tuple[str, int, int], ...]) -> None:
    """Raise :class:`TruncatedError` naming the first field of ``layout`` that ``data`` cuts.

    ``layout`` lists ``(field, offset, size)`` in wire order, so a short buffer is reported
    at the field where it ends (e.g. ``identification at offset 16``), not as a whole.
    """
    _, last_offset, last_size = layout[-1]
    if len(data) >= last_offset + last_size:
        return
    for field, offset, size in layout:
        need(data, offset + size, field=field, offset=offset)


def hex_or_none(value: bytes | None) -> str | None:
    """Bytes as lower-case hex for JSON, keeping ``None``."""
    return None if value is None else value.hex()


def flag_dict(flags: int, enum_cls: type[enum.IntFlag], names: str) -> dict[str, bool]:
    """Flags as ``{RFC letter: bool}`` for JSON, letters exactly as the RFC figure writes them."""
    return {n: bool(flags & enum_cls[n]) for n in names}
