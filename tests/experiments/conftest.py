"""One small `mip4 compare --out` report, shared by the tests that read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mip4.cli import main

# one handoff FA1 -> FA2, four simulated seconds
SMALL = ["--set", "topology.fas=2", "--set", "mobility.dwell_s=2"]


@pytest.fixture(scope="session")
def small_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    assert main(["compare", "corridor", *SMALL, "--out", str(out)]) == 0
    return out
