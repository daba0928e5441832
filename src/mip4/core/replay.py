"""Replay protection of registrations, RFC 5944 §5.7 (timestamps §5.7.1, nonces §5.7.2).

Two sides:

- :class:`ReplayGuard` at the verifier (HA for home registrations; GFA for regional ones,
  RFC 4857 §5.3/§6.1 keeps a separate sequence per GFA). ``check`` is pure; ``commit`` is
  called only once a request has passed every security check, so an unauthenticated or
  replayed request changes no state. ``mismatch_identification`` builds the Identification
  of a code-133 reply.
- :class:`IdentificationSource` at the MN: builds each request's Identification and
  resynchronises on a 133 (RFC 5944 §3.6.2.3).

The low-order 32 bits of every reply's Identification are copied from the request (§5.7);
the FA and the MN match replies on them.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from mip4.core.security import NTP_UNIX_OFFSET, RandomSource, ReplayProtection, ntp_timestamp

LOW32 = 0xFFFFFFFF


def low32(identification: int) -> int:
    """The low-order 32 bits, which every reply copies from its request (RFC 5944 §5.7)."""
    return identification & LOW32


def ntp_seconds(wall: float) -> int:
    """The high 32 bits of the NTP timestamp of Unix time ``wall`` (RFC 5944 §5.7.1)."""
    return (int(wall) + NTP_UNIX_OFFSET) & LOW32


@dataclass(slots=True)
class ReplayGuard:
    """Verifier-side replay state, one entry per mobile node (keyed by home address).

    Timestamps: valid when within ``skew`` seconds of the verifier's clock *and* greater
    than every previously accepted one (RFC 5944 §5.7.1). Nonces: the high 32 bits must
    equal the nonce this verifier issued in its last reply (§5.7.2).
    """

    skew: float
    last_accepted: dict[Hashable, int] = field(default_factory=dict)
    issued_nonce: dict[Hashable, int] = field(default_factory=dict)

    def check(
        self, key: Hashable, style: ReplayProtection, identification: int, wall: float
    ) -> bool:
        """True if ``identification`` is fresh for ``key`` (no state is changed)."""
        if style is ReplayProtection.NONCE:
            expected = self.issued_nonce.get(key)
            return expected is not None and identification >> 32 == expected
        # RFC 5944 §5.7.1: "close enough to the home agent's time-of-day clock, and ...
        # greater than all previously accepted timestamps for the requesting mobile node".
        stamp = (identification >> 32) - NTP_UNIX_OFFSET + (identification & LOW32) / (1 << 32)
        if abs(stamp - wall) > self.skew:
            return False
        last = self.last_accepted.get(key)
        return last is None or identification > last

    def commit(
        self, key: Hashable, style: ReplayProtection, identification: int, random: RandomSource
    ) -> int:
        """Record an accepted request; return the Identification for its reply.

        Timestamps: the reply echoes all 64 bits (§5.7.1). Nonces: a new HA nonce in the
        high half, the MN's low half copied (§5.7.2: "a new nonce ... of every Reply").
        """
        if style is ReplayProtection.NONCE:
            nonce = self._new_nonce(key, random)
            return (nonce << 32) | low32(identification)
        self.last_accepted[key] = identification
        return identification

    def mismatch_identification(
        self,
        key: Hashable,
        style: ReplayProtection,
        identification: int,
        wall: float,
        random: RandomSource,
    ) -> int:
        """The Identification of a code-133 reply.

        Timestamps (§5.7.1): the verifier's time of day in the high 32 bits, the request's
        low 32 bits copied. Nonces (§5.7.2: "the Reply always provides the mobile node with
        a new nonce"): the nonce currently expected, issued now if there is none yet, so a
        replayed request never moves the expected nonce away from the real MN.
        """
        if style is ReplayProtection.NONCE:
            nonce = self.issued_nonce.get(key)
            if nonce is None:
                nonce = self._new_nonce(key, random)
            return (nonce << 32) | low32(identification)
        return (ntp_seconds(wall) << 32) | low32(identification)

    def forget(self, key: Hashable) -> None:
        self.last_accepted.pop(key, None)
        self.issued_nonce.pop(key, None)

    def _new_nonce(self, key: Hashable, random: RandomSource) -> int:
        previous = self.issued_nonce.get(key)
        nonce = random.getrandbits(32)
        while nonce == previous:  # §5.7.2: the high-order value SHOULD differ from the previous
            nonce = random.getrandbits(32)
        self.issued_nonce[key] = nonce
        return nonce


@dataclass(slots=True)
class IdentificationSource:
    """The MN's Identification values towards one verifier (its HA, or a GFA).

    Timestamps: the NTP time of ``now + clock_offset``, strictly increasing (§5.7.1: "MUST
    be greater than that used in any previous Registration Request"); the low
    ``random_bits`` bits of the fraction come from the injected random source. Nonces: the
    verifier's last nonce in the high half, a fresh random low half that differs from the
    previous one (§5.7.2).
    """

    style: ReplayProtection
    clock_offset: float
    random: RandomSource
    random_bits: int = 0
    last: int = 0
    verifier_nonce: int = 0

    def next(self, now: float) -> int:
        if self.style is ReplayProtection.NONCE:
            mine = self.random.getrandbits(32)
            while mine == low32(self.last):
                mine = self.random.getrandbits(32)
            self.last = (self.verifier_nonce << 32) | mine
            return self.last
        value = ntp_timestamp(now + self.clock_offset, self.random, self.random_bits)
        if value <= self.last:
            value = self.last + 1
        self.last = value
        return value

    def accepted(self, reply_identification: int) -> None:
        """An authenticated reply arrived: keep the verifier's next nonce (§5.7.2)."""
        if self.style is ReplayProtection.NONCE:
            self.verifier_nonce = reply_identification >> 32

    def resynchronise(self, reply_identification: int, now: float) -> None:
        """Code 133 (RFC 5944 §3.6.2.3: the MN MUST adjust before any future request).

        Timestamps: the high 32 bits are the verifier's clock in whole NTP seconds; the
        wall clock is set to it (error below one second plus the reply's transit time,
        well inside the skew) and the monotonic floor restarts from there. Nonces: the high
        32 bits are the nonce to use next.
        """
        if self.style is ReplayProtection.NONCE:
            self.verifier_nonce = reply_identification >> 32
            return
        verifier_wall = (reply_identification >> 32) - NTP_UNIX_OFFSET
        self.clock_offset = verifier_wall - now
        self.last = 0


__all__ = ["LOW32", "IdentificationSource", "ReplayGuard", "low32", "ntp_seconds"]
