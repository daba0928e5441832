"""The two-radio MN's configuration (RFC 4881 Appendix B, :mod:`mip4.core.mn_multi_interface`)."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from mip4.core.config import MobileNodeConfig
from mip4.core.mn_multi_interface import (
    HOLD_TIMER,
    MultiInterfaceConfig,
    MultiInterfaceMobileNode,
)
from mip4.core.security import SecurityAssociation
from mip4.errors import LocalUsageError

BASE = MobileNodeConfig(
    name="MN1",
    home_address=IPv4Address("198.18.16.16"),
    home_agent=IPv4Address("198.18.16.1"),
    mn_ha=SecurityAssociation(spi=1000, key=b"k" * 16),
)
WLAN = ("wlan0", b"\x02\x00\x00\x00\x00\x07")
CELL = ("wlan1", b"\x06\x00\x00\x00\x00\x07")


class _Random:
    def getrandbits(self, k: int) -> int:
        return 0

    def random(self) -> float:
        return 0.5

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


@pytest.mark.parametrize(
    ("interfaces", "hold"),
    [
        ((WLAN,), 0.1),
        ((WLAN, (WLAN[0], CELL[1])), 0.1),
        ((WLAN, (CELL[0], WLAN[1])), 0.1),
        ((WLAN, CELL), -1.0),
    ],
)
def test_bad_configurations_are_refused(
    interfaces: tuple[tuple[str, bytes], ...], hold: float
) -> None:
    with pytest.raises(LocalUsageError):
        MultiInterfaceConfig(base=BASE, interfaces=interfaces, hold_time=hold)


def test_one_mobile_node_per_radio_with_the_s_bit() -> None:
    mn = MultiInterfaceMobileNode(
        MultiInterfaceConfig(base=BASE, interfaces=(WLAN, CELL)), random=_Random()
    )
    assert mn.name == "MN1" and mn.active == "wlan0"
    for (name, mac), radio in zip((WLAN, CELL), mn.radios.values(), strict=True):
        assert radio.config.interface == name and radio.config.mac == mac
        assert radio.config.simultaneous_bindings is True
        assert radio.config.home_address == BASE.home_address
    # the first radio starts; its timers are tagged with its interface
    actions = mn.start(0.0)
    keys = [a.key for a in actions if hasattr(a, "key")]
    assert keys and all(k[-1] == "wlan0" for k in keys)
    assert mn.timer_expired((HOLD_TIMER, "wlan1"), 1.0) == []  # nothing to release
    snapshot = mn.snapshot(0.0)
    assert snapshot["active"] == "wlan0" and set(snapshot["interfaces"]) == {"wlan0", "wlan1"}  # type: ignore[arg-type]
