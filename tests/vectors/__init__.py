"""Golden vectors: hex derived by hand from the RFC figures, one TOML file per family.

Format of each file::

    [[vector]]
    name = "rrq-basic"                # unique within the file
    rfc = "RFC 5944 §3.3"             # where the layout comes from
    codec = "registration_request"    # which decoder the test module uses
    hex = '''01 02 07 08 ...'''        # whitespace and '#' comments ignored
    [vector.fields]                   # a subset of to_dict() the decoder must produce
    lifetime = 1800

Tests decode ``hex`` and compare ``fields``, then re-encode and compare the bytes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VECTOR_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Vector:
    name: str
    rfc: str
    codec: str
    data: bytes
    fields: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def parse_hex(text: str) -> bytes:
    """Hex with whitespace and ``# comments`` (to end of line) removed."""
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    return bytes.fromhex("".join("".join(lines).split()))


def load(family: str) -> list[Vector]:
    """All vectors of ``tests/vectors/<family>.toml``."""
    with (VECTOR_DIR / f"{family}.toml").open("rb") as fh:
        doc = tomllib.load(fh)
    out = []
    for raw in doc["vector"]:
        known = {"name", "rfc", "codec", "hex", "fields"}
        out.append(
            Vector(
                name=raw["name"],
                rfc=raw["rfc"],
                codec=raw["codec"],
                data=parse_hex(raw["hex"]),
                fields=raw.get("fields", {}),
                extra={k: v for k, v in raw.items() if k not in known},
            )
        )
    names = [v.name for v in out]
    assert len(names) == len(set(names)), f"duplicate vector names in {family}.toml"
    return out


def subset_matches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Differences between ``expected`` and the same keys of ``actual`` (lists compared
    element-wise, dicts by the expected keys only)."""
    problems: list[str] = []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected a mapping, got {actual!r}"]
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += subset_matches(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {actual!r}"]
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problems += subset_matches(e, a, f"{path}[{i}]")
    elif expected != actual:
        problems.append(f"{path}: expected {expected!r}, got {actual!r}")
    return problems
