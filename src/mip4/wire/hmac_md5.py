"""HMAC-MD5 (RFC 2104) under one key, its pads computed once: in C where built, else Python.

RFC 5944 §3.5.1 makes HMAC-MD5 the default authentication algorithm of every Mobile IP
control message, and RFC 2104 §4 ("Implementation Note") suggests computing the MD5 states
after ``K XOR ipad`` and ``K XOR opad`` once per key. :class:`HmacMd5` holds those two
states; an authenticator is then two MD5 compressions from copies of them.

``mip4.wire._accel`` (``_accel.c``, over OpenSSL's MD5) is the fast implementation: in
Python the compressions cost little and the six method calls around them cost three times
as much. :class:`PyHmacMd5` is the same class in Python, used where the C module was not
built (no compiler or OpenSSL headers at install time); ``ACCELERATED`` says which one runs.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

MAC_LENGTH = 16  # bytes of an HMAC-MD5 (RFC 2104 §2: the MD5 output length)
_MD5_BLOCK = 64  # bytes per MD5 block (RFC 2104 §2: B = 64)
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))

try:
    # CPython's own MD5: its copy() and update() cost half of OpenSSL's EVP ones through
    # hashlib on these short inputs, and the result is the same MD5.
    from _md5 import md5 as _md5  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - every CPython build here has it
    _md5 = hashlib.md5


class PyHmacMd5:
    """``HmacMd5(key)`` in Python: ``digest(data)`` and ``verify_trailing(data)``."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        key = bytes(key)  # a bytearray or memoryview key too
        block = hashlib.md5(key).digest() if len(key) > _MD5_BLOCK else key
        block = block.ljust(_MD5_BLOCK, b"\0")
        self._inner: Any = _md5(block.translate(_IPAD))
        self._outer: Any = _md5(block.translate(_OPAD))

    def digest(self, data: bytes) -> bytes:
        """The HMAC-MD5 of ``data`` under this key."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        mac: bytes = outer.digest()
        return mac

    def verify_trailing(self, data: bytes) -> bool:
        """Whether ``data`` ends with the HMAC-MD5 of everything before its last 16 bytes,
        compared in constant time."""
        if len(data) < MAC_LENGTH:
            raise ValueError(f"{len(data)} bytes cannot end with a {MAC_LENGTH}-byte MAC")
        return hmac.compare_digest(self.digest(data[:-MAC_LENGTH]), data[-MAC_LENGTH:])


if TYPE_CHECKING:  # the C class has the same interface (its stub is _accel.pyi)
    HmacMd5 = PyHmacMd5
else:
    try:
        from mip4.wire._accel import HmacMd5
    except ImportError:
        HmacMd5 = PyHmacMd5

ACCELERATED = HmacMd5 is not PyHmacMd5
"""Whether HMAC-MD5 runs in C (``mip4.wire._accel`` was built at install time)."""

__all__ = ["ACCELERATED", "MAC_LENGTH", "HmacMd5", "PyHmacMd5"]
