"""Plugins import only the core's plugin-facing modules (shared/ARCHITECTURE.md §2), so the core can change
behind them. Known exceptions would be listed in KNOWN_DEBT; issue 9 moved the last ones behind hub.api."""

from __future__ import annotations

import ast
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
PUBLIC = {"hub", "hub.api", "hub.context", "hub.errors", "hub.events", "hub.sources", "hub.sandbox",
          "hub.hookspecs", "hub.testing"}
KNOWN_DEBT: set[tuple[str, str]] = set()  # (file, module) still to move behind the public API


def core_imports() -> set[tuple[str, str]]:
    found = set()
    for path in PLUGINS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name == "hub" or name.startswith("hub."):
                    found.add((path.relative_to(PLUGINS).as_posix(), name))
    return found


def test_plugins_import_only_the_public_api() -> None:
    internal = {(f, m) for f, m in core_imports() if m not in PUBLIC} - KNOWN_DEBT
    assert not internal, f"plugins reach into core internals: {sorted(internal)}; use hub.api instead"


def test_the_debt_list_only_shrinks() -> None:
    stale = KNOWN_DEBT - core_imports()
    assert not stale, f"no longer imported, remove from KNOWN_DEBT: {sorted(stale)}"


def test_retry_after_in_both_forms() -> None:
    from datetime import UTC, datetime

    from hub.api import retry_after

    now = datetime(2026, 10, 21, 7, 27, 0, tzinfo=UTC)
    assert retry_after("120") == 120.0
    assert retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now=now) == 60.0
    assert retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now=now) == 0.0  # already past: go now
    assert retry_after("soon") is None and retry_after(None) is None and retry_after(" ") is None


def test_every_public_module_declares_its_surface() -> None:
    import importlib

    for name in sorted(PUBLIC):
        module = importlib.import_module(name)
        declared = getattr(module, "__all__", None)
        assert declared, f"{name} has no __all__"
        missing = [n for n in declared if not hasattr(module, n) and n not in getattr(module, "_LAZY", {})]
        assert not missing, f"{name}.__all__ names what it does not define: {missing}"


def test_plugins_import_only_declared_names() -> None:
    import importlib

    outside = []
    for path in PLUGINS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in PUBLIC:
                declared = set(importlib.import_module(node.module).__all__)
                outside += [f"{path.relative_to(PLUGINS)}: {node.module}.{a.name}" for a in node.names
                            if a.name not in declared]
    assert not outside, f"not part of the public API (add it to __all__, or do without): {outside}"
