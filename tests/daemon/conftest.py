"""Fixtures shared by the daemon tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.daemon.netns import Testbed, netns_list


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Testbed]:
    """The HA / FA / MN namespaces of :class:`Testbed`, removed afterwards (and checked)."""
    require_root("network namespaces, TUN devices and raw sockets")
    testbed = Testbed(tmp_path)
    try:
        testbed.build()
        yield testbed
    finally:
        testbed.close()
    assert not [ns for ns in netns_list() if ns in testbed.ns.values()]
