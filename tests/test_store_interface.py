"""The store's interface: callers see frozen rows, never a SQLite type, and the protocol matches the store."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.store import EventRow, SqliteStore, Store, open_store
from hub.store.protocol import Store as ProtocolStore

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def test_no_module_outside_the_store_imports_sqlite() -> None:
    offenders = []
    for path in [*ROOT.joinpath("hub").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")]:
        if "store" in path.relative_to(ROOT).parts[:2]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if "sqlite3" in names:
                offenders.append(path.relative_to(ROOT).as_posix())
    assert not offenders, f"only hub/store may speak SQLite: {offenders}"


def test_the_protocol_lists_every_public_method_with_the_same_signature() -> None:
    public = {n for n, _ in inspect.getmembers(SqliteStore) if not n.startswith("_")} - {"conn", "migrate", "durable"}
    declared = {n for n in vars(ProtocolStore) if not n.startswith("_")} - {"path"}
    assert public == declared, f"protocol and store disagree: {sorted(public ^ declared)}"
    for name in declared - {"schema_version", "transaction"}:  # a context manager: declared by what it returns
        assert str(inspect.signature(getattr(SqliteStore, name))) == str(inspect.signature(getattr(Store, name))), name


def test_every_method_says_whether_it_owns_its_transaction() -> None:
    for name, member in vars(SqliteStore).items():
        if name.startswith("_") or not callable(member):
            continue
        source = inspect.getsource(member)
        writes = any(word in source for word in ("INSERT", "UPDATE ", "DELETE "))
        if writes:
            doc = inspect.getdoc(member) or ""
            assert doc.startswith(("Atomic", "Joins")), f"{name}: say 'Atomic.' or 'Joins.' first in its docstring"


def test_rows_are_frozen_dataclasses(tmp_path: Path) -> None:
    store = open_store(tmp_path / "hub.db")
    with store.transaction():
        store.insert_event(event_id="e1", branch="lyon", kind="candidate_registered", source="carnet", source_id="1",
                           occurred_at=NOW, candidate_id="c1", session_id=None, body="{}", sinks=["journal"], now=NOW)
    [row] = store.list_events()
    assert isinstance(row, EventRow) and row.kind == "candidate_registered" and row.candidate_id == "c1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.kind = "x"  # type: ignore[misc]  # the point of the test: rows cannot be changed
    [listed] = store.list_deliveries()
    assert (listed.plugin, listed.state, listed.event_id) == ("journal", "pending", "e1")
    [ref] = store.events_since("lyon", "carnet", None)
    assert (ref.seq, ref.kind) == (row.seq, "candidate_registered")


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "hub.db")
    with pytest.raises(RuntimeError), store.transaction():
        store.insert_event(event_id="e1", branch="lyon", kind="candidate_registered", source="carnet", source_id="1",
                           occurred_at=NOW, candidate_id=None, session_id=None, body="{}", sinks=["journal"], now=NOW)
        raise RuntimeError("crash in the middle")
    assert store.list_events() == [] and store.list_deliveries() == []
