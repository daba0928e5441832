"""Small helpers shared by the codecs (address conversion, bounds checks)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any, TypeVar

from mip4.wire.errors import TruncatedError

_T = TypeVar("_T")
_K = TypeVar("_K")


class _Probe:
    __slots__ = ("slot",)


_MEMBER_DESCRIPTOR = type(vars(_Probe)["slot"])


_BUILDERS: dict[type, Callable[..., Any]] = {}

_SlotBuilder: Callable[[type, tuple[str, ...]], Callable[..., Any]] | None
try:  # the C builder (mip4.wire._accel), where the install could compile it
    from mip4.wire._accel import SlotBuilder as _SlotBuilder
except ImportError:
    _SlotBuilder = None


def decoded_builder(cls: type[_T]) -> Callable[..., _T]:
    """A constructor for decoders: ``builder(*values)`` makes an instance of the frozen,
    slotted dataclass ``cls`` from the values of *all* its fields, in declaration order
    (``init=False`` ones included).

    The generated ``__init__`` of a frozen dataclass sets every field through
    ``object.__setattr__`` (the class's own ``__setattr__`` refuses): about 1.7 us for a
    Registration Request, the largest single cost of decoding one. The builder is, in order
    of speed: the C ``SlotBuilder`` of ``mip4.wire._accel`` (values straight into the slots,
    0.07 us), where the install built it; else Python that fills the slots of a *twin* (see
    :func:`_twin`) with plain stores and then gives the object its real class (0.2 us); else,
    where no twin fits, Python that writes each slot through its descriptor (0.45 us). Only
    for values a decoder has already checked: ``__init__`` has no other logic in these
    classes (none defines ``__post_init__``, which this would skip, so it is refused).
    """
    builder: Callable[..., _T] | None = _BUILDERS.get(cls)
    if builder is None:
        builder = _BUILDERS[cls] = _make_builder(cls)
    return builder


def _make_builder(cls: type[_T], *, accelerated: bool = True) -> Callable[..., _T]:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__ that the builder would skip")
    names = [f.name for f in dataclasses.fields(cls)]
    slots: list[Any] = []
    for name in names:
        slot = next((vars(k)[name] for k in cls.__mro__ if name in vars(k)), None)
        if type(slot) is not _MEMBER_DESCRIPTOR:
            raise TypeError(f"{cls.__name__}.{name} is not a slot")
        slots.append(slot)
    if _SlotBuilder is not None and accelerated:
        c_builder: Callable[..., _T] = _SlotBuilder(cls, tuple(names))
        return c_builder
    arguments = ", ".join(f"v{i}" for i in range(len(names)))
    twin = _twin(cls)
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls, "twin": twin}
    if twin is not None:
        body = [f"    obj.{name} = v{i}" for i, name in enumerate(names)]
        body.append("    obj.__class__ = cls")
        source = f"def build({arguments}):\n    obj = new(twin)\n" + "\n".join(body)
    else:
        scope.update((f"set{i}", slot.__set__) for i, slot in enumerate(slots))
        body = [f"    set{i}(obj, v{i})" for i in range(len(names))]
        source = f"def build({arguments}):\n    obj = new(cls)\n" + "\n".join(body)
    exec(source + "\n    return obj\n", scope)  # unrolled, as dataclasses builds __init__
    builder: Callable[..., _T] = scope["build"]
    return builder


def _twin(cls: type) -> type | None:
    """A plain class with the memory layout of ``cls``, or None if none can be made.

    Its instances take attribute stores at the interpreter's fast slot-store speed (``cls``
    has a ``__setattr__`` that refuses them: it is frozen), and CPython lets an object
    change between two classes of one layout by ``__class__`` assignment. The twin needs
    ``cls``'s slots, in order, on the same base; so it exists when every slot of ``cls`` is
    defined by one class of its MRO (whose base has none) and its subclasses add none. The
    assignment is tried once here, so a layout CPython refuses falls back to descriptors.
    """
    owners = [k for k in cls.__mro__ if vars(k).get("__slots__")]
    if len(owners) != 1 or any(vars(k).get("__dict__") for k in cls.__mro__[:-1]):
        return None
    owner = owners[0]
    if owner.__base__ is not object:
        return None
    slots = tuple(vars(owner)["__slots__"])
    twin = type(f"_{cls.__name__}Twin", (object,), {"__slots__": slots})
    probe: Any = object.__new__(twin)
    try:
        probe.__class__ = cls
    except TypeError:
        return None
    return twin


_IPV4_CACHE_SIZE = 4096
_IPV4_CACHE: dict[bytes, IPv4Address] = {}

cached_ipv4 = _IPV4_CACHE.get
"""The address for four bytes if :func:`ipv4` has made it, else ``None``: decoders of hot
messages write ``cached_ipv4(raw) or ipv4(raw)``, a dict lookup where a call to ``ipv4``
would cost twice as much (an address is never false)."""


def bounded_store(cache: dict[_K, _T], limit: int, key: _K, value: _T) -> _T:
    """Store ``value`` under ``key`` in a memo the network feeds, and return it. The memo is
    emptied first when it holds ``limit`` entries, so a flood of distinct keys (source
    addresses, SPIs' keys) cannot grow it without end; its hot keys come back at once."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value


def ipv4(raw: bytes) -> IPv4Address:
    """Four network-order bytes as an address (cached: addresses repeat on every message;
    the cache is bounded, so a flood of distinct addresses cannot grow it without end)."""
    address = _IPV4_CACHE.get(raw)
    if address is None:
        address = bounded_store(_IPV4_CACHE, _IPV4_CACHE_SIZE, raw, IPv4Address(raw))
    return address


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
