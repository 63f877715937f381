"""State a plugin writes during a delivery is committed with the delivery's outcome: one commit, whatever
the number of writes; the hook reads its own writes; a failed attempt keeps what it recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.app import CycleReport, Hub
from hub.errors import PluginNotReady
from hub.events import Event, EventKind
from hub.hookspecs import hookimpl
from hub.testing import make_event


class Ledger:
    def __init__(self) -> None:
        self.fail = False
        self.seen: list[Any] = []

    @hookimpl
    def candidate_registered(self, hub: Any, event: Event) -> None:
        for step in range(5):
            hub.state_put(f"step:{event.id}:{step}", step)
        self.seen.append(hub.state_get(f"step:{event.id}:4"))
        hub.state_delete(f"step:{event.id}:0")
        if self.fail:
            raise PluginNotReady("the service went away after the effect")


def _commits(hub: Hub) -> list[str]:
    statements: list[str] = []
    hub.store.conn.set_trace_callback(statements.append)  # type: ignore[attr-defined]  # the SQLite store's own
    return statements


def test_one_commit_for_a_delivery_and_its_state(make_hub: Callable[..., Hub],
                                                 register_plugin: Callable[[str, object], object]) -> None:
    ledger = Ledger()
    register_plugin("ledger", ledger)
    hub = make_hub({"b": {"plugins": ["ledger"]}})
    [event] = hub.ingest("b", "ledger", [make_event(EventKind.CANDIDATE_REGISTERED)])
    statements = _commits(hub)
    hub.deliver_lane(("b", "ledger"), CycleReport())
    assert ledger.seen == [4], "the hook reads its own writes before they are committed"
    assert sum(s == "COMMIT" for s in statements) == 1, statements
    ctx = hub.context("b", "ledger")
    assert ctx.state_get(f"step:{event.id}:0") is None and ctx.state_get(f"step:{event.id}:3") == 3


def test_a_failed_attempt_keeps_what_it_recorded(make_hub: Callable[..., Hub],
                                                 register_plugin: Callable[[str, object], object]) -> None:
    ledger = Ledger()
    ledger.fail = True
    register_plugin("ledger", ledger)
    hub = make_hub({"b": {"plugins": ["ledger"]}})
    [event] = hub.ingest("b", "ledger", [make_event(EventKind.CANDIDATE_REGISTERED)])
    hub.cycle()
    [row] = hub.store.list_deliveries()
    assert row.state == "retrying"
    assert hub.context("b", "ledger").state_get(f"step:{event.id}:4") == 4


def test_outside_a_delivery_state_is_written_at_once(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub({"b": {"plugins": []}})
    ctx = hub.context("b", "anything")
    ctx.state_put("k", {"a": 1})
    assert hub.store.kv_get("b", "anything", "k") == {"a": 1}
