"""One small `mip4 compare --out` report, shared by the tests that read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mip4.cli import main
from mip4.experiments.compare import smooth_applies
from mip4.sim import runner as sim_runner

# one handoff FA1 -> FA2, four simulated seconds
SMALL = ["--set", "topology.fas=2", "--set", "mobility.dwell_s=2"]


@pytest.fixture(scope="session")
def small_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    assert main(["compare", "corridor", *SMALL, "--out", str(out)]) == 0
    return out


def default_runs() -> list[tuple[str, str]]:
    """(label, file slug) of every run of a default `mip4 compare`: each available method,
    and right after it its smooth-handoff variant where smooth handoff applies."""
    out = []
    for method in sim_runner.METHODS_AVAILABLE:
        out.append((method, method))
        if smooth_applies(method):
            out.append((f"{method} (smooth)", f"{method}-smooth"))
    return out
