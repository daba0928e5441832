"""Security associations and the injected randomness the agents use (no global state).

RFC 5944 §3.5: every SA maps an SPI to an algorithm and a key; HMAC-MD5 is the mandatory
default. RFC 4881 §4.5 adds FA-FA SAs (RFC 4857 §11) between neighbouring FAs; RFC 4881 §3.4
asks for ESP (HMAC-SHA1-96) on inter-FA ICMP.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from mip4.errors import LocalUsageError
from mip4.wire.auth import RESERVED_SPI_MAX


class RandomSource(Protocol):
    """Injected randomness (``random.Random`` satisfies it; tests pass a seeded one)."""

    def getrandbits(self, k: int, /) -> int: ...


class ReplayProtection(enum.Enum):
    """Identification style, RFC 5944 §5.7."""

    TIMESTAMP = "timestamp"  # mandatory to implement
    NONCE = "nonce"


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityAssociation:
    """A mobility security association: SPI, algorithm and key (RFC 5944 §1.6, §3.5)."""

    spi: int
    key: bytes
    algorithm: str = "hmac-md5"
    replay: ReplayProtection = ReplayProtection.TIMESTAMP

    def __post_init__(self) -> None:
        if self.spi <= RESERVED_SPI_MAX:
            raise LocalUsageError(f"SPI {self.spi} is reserved (0-255, RFC 5944 §1.6)")
        if self.algorithm != "hmac-md5":
            raise LocalUsageError(f"algorithm {self.algorithm!r} unsupported (use 'hmac-md5')")
        if not self.key:
            raise LocalUsageError("a security association needs a non-empty key")

    def context(self, spi: int) -> SecurityAssociation | None:
        """The security context an extension's SPI selects (RFC 5944 §1.6, §3.5.1): this
        one if the SPI is its own, else None."""
        return self if spi == self.spi else None


@dataclass(frozen=True, slots=True, kw_only=True)
class MobilitySecurityAssociation(SecurityAssociation):
    """Several security contexts between one pair of nodes, each selected by its SPI.

    RFC 5944 §1.6: a Mobility Security Association is "a collection of security contexts"
    and the SPI identifies "a security context ... among the contexts available"; §3.5.1:
    the receiver selects the key by the SPI. The object's own ``spi``/``key``/``replay`` are
    the context this node uses to send (a mobile node seals with it); ``others`` are the
    further contexts a receiver accepts (e.g. a new key being rolled out), and a reply is
    sealed with the context that authenticated the request. Replay state is kept per peer
    whatever the context (§5.7), so every context uses the same replay protection.
    """

    others: tuple[SecurityAssociation, ...] = ()

    def __post_init__(self) -> None:
        super(MobilitySecurityAssociation, self).__post_init__()
        spis = [self.spi]
        for other in self.others:
            if not isinstance(other, SecurityAssociation) or isinstance(
                other, MobilitySecurityAssociation
            ):
                raise LocalUsageError(f"others: {other!r} is not a single SecurityAssociation")
            if other.spi in spis:
                raise LocalUsageError(f"others: SPI {other.spi} appears twice")
            if other.replay is not self.replay:
                raise LocalUsageError(
                    f"others: SPI {other.spi} uses {other.replay.value} replay protection, "
                    f"not {self.replay.value} (replay state is per peer, RFC 5944 §5.7)"
                )
            spis.append(other.spi)

    def context(self, spi: int) -> SecurityAssociation | None:
        if spi == self.spi:
            return self
        return next((c for c in self.others if c.spi == spi), None)


NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


def ntp_timestamp(wall_seconds: float, random: RandomSource, random_bits: int = 0) -> int:
    """64-bit NTP timestamp for ``wall_seconds`` (Unix time), RFC 5944 §5.7.

    The low ``random_bits`` bits of the fraction are filled from ``random`` (RFC 5944 §5.7:
    "unavailable low-order bits ... filled randomly").
    """
    seconds = int(wall_seconds) + NTP_UNIX_OFFSET
    fraction = int((wall_seconds % 1.0) * (1 << 32)) & 0xFFFFFFFF
    if random_bits:
        mask = (1 << random_bits) - 1
        fraction = (fraction & ~mask) | random.getrandbits(random_bits)
    return ((seconds & 0xFFFFFFFF) << 32) | fraction


def ntp_to_seconds(identification: int) -> float:
    """Unix seconds of the NTP timestamp in an Identification field."""
    return (identification >> 32) - NTP_UNIX_OFFSET + (identification & 0xFFFFFFFF) / (1 << 32)
