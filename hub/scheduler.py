"""Time-driven events: reminders before a session and follow-ups after it.

A booking plans its entries in the same transaction that stores it; a cancellation or a reschedule drops the
old session's entries in that transaction too, so a reminder can never outlive its session. `fire_due` turns
due entries into ordinary events with one delivery per sink.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from hub.config import BranchConfig
from hub.events import Event, EventKind, Session, SessionStatus
from hub.privacy.minimise import stored_body
from hub.store import Store, from_ts

REMINDER, FOLLOWUP = "reminder", "followup"
KIND_OF = {REMINDER: EventKind.SESSION_REMINDER_DUE, FOLLOWUP: EventKind.FOLLOWUP_DUE}


def plan(store: Store, branch: BranchConfig, event: Event, now: datetime) -> None:
    """Adjust the schedule for a newly stored event (inside the caller's transaction)."""
    session = event.session
    if session is None or session.id is None:
        return
    if event.kind is EventKind.SESSION_BOOKED:
        if session.replaces:
            store.unschedule(session.replaces)
            store.set_session_status(session.replaces, SessionStatus.RESCHEDULED.value, now)
        for offset in branch.schedule.reminder_offsets():
            due = offset.before(session.start)
            if due > now:
                store.schedule(branch.id, session.id, REMINDER, offset.text, due)
        for offset in branch.schedule.followup_offsets():
            store.schedule(branch.id, session.id, FOLLOWUP, offset.text, offset.after(session.start))
    elif event.kind is EventKind.SESSION_CANCELLED:
        store.unschedule(session.id)


def fire_due(store: Store, now: datetime, sinks: Callable[[str, str], list[str]], limit: int = 500,
             after_store: Callable[[Event, datetime], None] | None = None) -> int:
    """Emit the due entries as events; a reminder for a session already started is marked expired."""
    fired = 0
    with store.transaction():
        for row in store.due_schedule(now, limit):
            body = store.get_entity("sessions", row.session_id)
            if body is None:
                store.mark_schedule(row.id, "dropped")
                continue
            session = Session.model_validate(body)
            if row.kind == REMINDER and (session.start <= now or session.status is not SessionStatus.BOOKED):
                store.mark_schedule(row.id, "expired")
                continue
            candidate = None
            if session.candidate_id:
                cbody = store.get_entity("candidates", session.candidate_id)
                candidate = cbody
            kind = KIND_OF[row.kind]
            event = Event.model_validate({
                "kind": kind, "branch": row.branch, "occurred_at": from_ts(row.due_at), "source": "hub",
                "source_id": f"schedule:{row.id}", "candidate": candidate, "session": body,
                "due": {"offset": row.offset_text, "due_at": from_ts(row.due_at)},
            })
            store.insert_event(event_id=event.id, branch=event.branch, kind=kind.value, source="hub",
                               source_id=event.source_id, occurred_at=event.occurred_at,
                               candidate_id=session.candidate_id, session_id=session.id,
                               body=stored_body(event), sinks=sinks(row.branch, kind.value), now=now)
            store.mark_schedule(row.id, "fired")
            if after_store is not None:
                after_store(event, now)
            fired += 1
    return fired
