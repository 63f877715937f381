"""Writes a webhook handler makes (its private state, its input problems), held back until the hub stores the
webhook's events, so that a webhook costs one transaction and is stored whole or not at all.

The receiver opens `deferring()` around the handler; `HubContext` sees it through a context variable and
buffers instead of writing. The buffered writes then run inside the webhook's group-committed job.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.store import Store

StateKey = tuple[str, str, str]  # branch, plugin, key


@dataclass
class DeferredWrites:
    state: dict[StateKey, tuple[bool, Any]] = field(default_factory=dict)  # -> (kept, value); not kept: deleted
    problems: list[tuple[str, str, str, tuple[str, str, datetime] | None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.state or self.problems)

    def report_problem(self, branch: str, plugin: str, ref: str, field_: str, message: str, now: datetime) -> None:
        self.problems.append((branch, plugin, ref, (field_, message, now)))

    def resolve_problem(self, branch: str, plugin: str, ref: str) -> None:
        self.problems.append((branch, plugin, ref, None))

    def apply(self, store: Store) -> None:
        """Write everything, in the order it was asked, inside the caller's transaction."""
        for (branch, plugin, key), (kept, value) in self.state.items():
            if kept:
                store.kv_put(branch, plugin, key, value)
            else:
                store.kv_delete(branch, plugin, key)
        for branch, plugin, ref, report in self.problems:
            if report is None:
                store.resolve_problem(branch, plugin, ref)
            else:
                store.report_problem(branch, plugin, ref, *report)


_CURRENT: ContextVar[DeferredWrites | None] = ContextVar("hub_deferred_writes", default=None)


def current() -> DeferredWrites | None:
    """The writes being held back in this thread's context, if a webhook is being handled."""
    return _CURRENT.get()


@contextmanager
def deferring(writes: DeferredWrites) -> Iterator[DeferredWrites]:
    token = _CURRENT.set(writes)
    try:
        yield writes
    finally:
        _CURRENT.reset(token)
