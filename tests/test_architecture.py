"""The layering of design.md, checked on the source: imports point downward only, and
``wire/`` and ``core/`` stay sans-I/O (no sockets, clocks or global randomness)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mip4"
BANNED = {"asyncio", "socket", "time", "random", "secrets", "select", "selectors", "threading"}

# What each layer may import from mip4 (design.md: wire <- core <- sim/daemon <- ... <- cli).
ALLOWED = {
    "wire": {"mip4.errors", "mip4.wire"},
    "core": {"mip4.errors", "mip4.wire", "mip4.core"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "os":
                found += [(node.lineno, f"os.{alias.name}") for alias in node.names]
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_sans_io_layers_import_no_io_clock_or_randomness(layer: str) -> None:
    problems = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for line, module in _imports(path):
            root = module.split(".")[0]
            if root in BANNED or module == "os.urandom":
                problems.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_downward_only(layer: str) -> None:
    problems = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for line, module in _imports(path):
            if module.split(".")[0] != "mip4":
                continue
            if not any(module == ok or module.startswith(ok + ".") for ok in ALLOWED[layer]):
                problems.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert not problems, "\n".join(problems)


def test_ruff_bans_the_io_modules_and_exempts_no_sans_io_layer() -> None:
    config = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text())
    lint = config["tool"]["ruff"]["lint"]
    banned = lint["flake8-tidy-imports"]["banned-api"]
    assert {"asyncio", "socket", "time", "random", "os.urandom"} <= set(banned)
    assert "TID" in lint["select"]
    exempt = [glob for glob, rules in lint["per-file-ignores"].items() if "TID251" in rules]
    assert not [g for g in exempt if "/wire" in g or "/core" in g or g.startswith("src/mip4/**")]
