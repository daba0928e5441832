"""`mip4 bench daemon --quick` runs end to end (root only; the figures are not asserted)."""

from __future__ import annotations

import json
import os

import pytest

from mip4.cli import main
from tests.conftest import require_root
from tests.daemon.netns import netns_list


def test_bench_daemon_quick(capsys: pytest.CaptureFixture[str]) -> None:
    require_root("network namespaces for the daemons")
    assert main(["bench", "daemon", "--quick", "--mns", "16", "--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result) == [
        "udp_echo_per_second",
        "ha_registrations_per_second",
        "ha_ratio",
        "fa_relays_per_second",
        "fa_ratio",
        "dataplane_packets_per_second",
    ]
    assert all(isinstance(v, float) for v in result.values())
    assert result["udp_echo_per_second"] > 0
    assert result["ha_registrations_per_second"] > 0
    assert result["fa_relays_per_second"] > 0
    assert result["dataplane_packets_per_second"] > 0
    mine = f"mip4b-{os.getpid() % 100000}-"
    assert not [ns for ns in netns_list() if ns.startswith(mine)]
