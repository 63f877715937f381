"""Writing hub and branch config files (TOML): used by `hub demo` and by the testing kit.

Kept apart from hub.testing so that the demo and the daemon never import pytest.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(v)}' for k, v in value.items()) + " }"
    raise TypeError(type(value))


def to_toml(data: dict[str, Any]) -> str:
    """Enough TOML writing for config files (top-level keys, then one table per dict)."""
    lines = [f'"{k}" = {_toml_value(v)}' for k, v in data.items() if not isinstance(v, dict)]
    for key, table in data.items():
        if isinstance(table, dict):
            lines.append(f'\n["{key}"]')
            lines += [f'"{k}" = {_toml_value(v)}' for k, v in table.items()]
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)
    return text


def write_config(root: Path, branches: dict[str, dict[str, Any]], hub: dict[str, Any] | None = None) -> Path:
    (root / "branches").mkdir(parents=True, exist_ok=True)
    (root / "hub.toml").write_text(to_toml({"state_dir": str(root / "var"), **(hub or {})}), encoding="utf-8")
    for branch, data in branches.items():
        (root / "branches" / f"{branch}.toml").write_text(to_toml({"name": branch.title(), **data}),
                                                          encoding="utf-8")
    return root
