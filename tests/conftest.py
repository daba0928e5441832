"""Shared test configuration.

- Hypothesis profiles: ``dev`` (default, quick) and ``ci`` (selected when ``CI=true``),
  which runs enough examples that the fuzz suite exceeds 100,000 cases.
- :func:`require_tool`: skip when an external tool is missing on a laptop, fail in CI.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

settings.register_profile(
    "dev", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if IN_CI else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def skip_or_fail(message: str) -> NoReturn:
    """Skip the test with ``message``, or fail it when ``CI=true`` (CI has everything)."""
    if IN_CI:
        pytest.fail(f"{message}; CI=true, so this is a failure, not a skip")
    pytest.skip(message)


def require_tool(name: str) -> str:
    """Path of ``name`` on PATH; skip the test without it, or fail when ``CI=true``."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} is not installed (.ci/run installs it)")
    return path


def require_root(reason: str) -> None:
    """Skip unless running as root (fail in CI, which always runs as root)."""
    if os.geteuid() != 0:
        skip_or_fail(f"needs root: {reason}")
