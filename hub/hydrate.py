"""A stored event as a plugin receives it: the person's record now, and a message written out.

The event log keeps ids only (hub.privacy.minimise); here, just before a delivery, the candidate is read from
the one place it lives, and a planned message gets its address, subject and text (Planner.compose). An
erasure's event gets the record the erasure kept for its plugins (Eraser.hydrate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.events import Candidate, Event, EventKind

if TYPE_CHECKING:
    from hub.messages.planner import Planner
    from hub.privacy.forget import Eraser
    from hub.store import Store

__all__ = ["Hydrator"]


class Hydrator:
    def __init__(self, store: Store, planner: Planner, eraser: Eraser) -> None:
        self.store = store
        self.planner = planner
        self.eraser = eraser

    def __call__(self, event: Event) -> Event:
        """The event with its record and message; `hub.dispatch.Undeliverable` when its message cannot be written."""
        if event.kind is EventKind.CANDIDATE_FORGOTTEN:
            return self.eraser.hydrate(event)
        update: dict[str, Any] = {}
        candidate = event.candidate
        if candidate is not None and candidate.id:
            body = self.store.get_entity("candidates", candidate.id)
            if body is not None:
                candidate = update["candidate"] = Candidate.model_validate(body)
        message = event.message
        if message is not None and message.recipient != "staff" and not message.text:  # written before 2026-12: kept
            update["message"] = self.planner.compose(event, candidate)
        return event.model_copy(update=update) if update else event
