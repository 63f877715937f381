"""Turning what a source read into stored events: dedupe, identity, schedule, deliveries, one transaction.

A source hands over events carrying its own ids (`ref`). Here they get the hub's ids: a person is matched by
the hub id the source already knows (e.g. Calendly's utm_content), by this tool's link, or by e-mail or
phone; a session by this tool's link. A person the hub did not know is registered on the spot: a
`candidate_registered` event is stored just before the event that revealed them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from hub import hygiene, scheduler
from hub.config import BranchConfig
from hub.events import Candidate, Event, EventKind, Outcome, OutcomeCategory, Session, SessionStatus, new_id
from hub.identity import email_key, phone_key
from hub.privacy.minimise import stored_body
from hub.store import Store

log = logging.getLogger("hub.ingest")
Sinks = Callable[[str, str], list[str]]
AfterStore = Callable[[Event, datetime], None]
Cleaned = tuple[Event, tuple[hygiene.Rejected, ...]]
"""An event after hygiene, with the values it left out."""
_ATTENDANCE_STATUS = {  # what an attendance outcome says of the session (a withdrawn absence: booked again)
    OutcomeCategory.PRESENT: SessionStatus.ATTENDED,
    OutcomeCategory.ABSENT: SessionStatus.NO_SHOW,
    OutcomeCategory.ABSENCE_WITHDRAWN: SessionStatus.BOOKED,
}
_CHECKED_FIELDS = {  # what hygiene may leave out -> how staff call it
    "email": "e-mail",
    "phone": "téléphone",
    "referrer.contact_email": "e-mail du référent",
}
_STATUS_AFTER = {
    EventKind.SESSION_BOOKED: SessionStatus.BOOKED,
    EventKind.SESSION_CANCELLED: SessionStatus.CANCELLED,
}


class Ingestor:
    def __init__(self, store: Store, branches: dict[str, BranchConfig], sinks: Sinks,
                 after_store: AfterStore | None = None,
                 forgotten: Callable[[str, Event], bool] | None = None) -> None:
        self.store = store
        self.forgotten = forgotten  # an erased person's events are left out (hub.privacy.forget)
        self.branches = branches
        self.sinks = sinks
        self.after_store = after_store  # the messages planner: an event's messages join its transaction

    def ingest(self, branch: str, plugin: str, events: Sequence[Event], now: datetime, *,
               source: str | None = None, cursor: str | None = None) -> list[Event]:
        """Store new events (skipping those already stored) and, when `source` is given, its cursor: atomically."""
        return self.ingest_cleaned(branch, plugin, self.clean(branch, events), now, source=source, cursor=cursor)

    def clean(self, branch: str, events: Sequence[Event]) -> list[Cleaned]:
        """Hygiene, before the transaction: it needs no database, and e-mail and phone validation are the
        costliest part of an event (about a fifth), which the single writer should not wait for."""
        region = self.branches[branch].phone_region
        return [hygiene.clean_event(event, region) for event in events]

    def ingest_cleaned(self, branch: str, plugin: str, events: Sequence[Cleaned], now: datetime, *,
                       source: str | None = None, cursor: str | None = None) -> list[Event]:
        """`ingest` of events `clean` has seen."""
        stored: list[Event] = []
        with self.store.transaction():
            for event, rejected in events:
                stored += self._one(branch, plugin, event, rejected, now)
            if source is not None:
                self.store.save_cursor(branch, plugin, source, cursor, now)
        return stored

    def _one(self, branch: str, plugin: str, event: Event, rejected: tuple[hygiene.Rejected, ...],
             now: datetime) -> list[Event]:
        if self.store.event_exists(branch, plugin, event.source_id, event.kind.value):
            return []
        if self.forgotten is not None and self.forgotten(branch, event):
            log.info("event about an erased person left out", extra={"branch": branch, "plugin": plugin,
                                                                      "kind": event.kind.value})
            return []
        out: list[Event] = []
        session = self._session(branch, plugin, event, now)
        candidate, is_new = self._candidate(branch, plugin, event, session, now)
        if candidate is not None and event.candidate is not None:
            self._problems(branch, plugin, event, candidate, rejected, now)
        if candidate is not None and session is not None:
            session = session.model_copy(update={"candidate_id": candidate.id})
            self.store.save_session(branch, str(session.id), candidate.id, session.status.value,
                                    session.model_dump(mode="json"), now)
        if is_new and candidate is not None and event.kind is not EventKind.CANDIDATE_REGISTERED:
            registration = Event(kind=EventKind.CANDIDATE_REGISTERED, branch=branch, source=plugin,
                                 source_id=f"{event.source_id}#registration", occurred_at=event.occurred_at,
                                 candidate=candidate)
            out += self._store(branch, registration, now)
        outcome = self._outcome(branch, plugin, event, candidate, session)
        final = event.model_copy(update={"id": new_id("evt"), "branch": branch, "source": plugin,
                                         "candidate": candidate, "session": session, "outcome": outcome})
        out += self._store(branch, final, now)
        return out

    def _store(self, branch: str, event: Event, now: datetime) -> list[Event]:
        seq = self.store.insert_event(
            event_id=event.id, branch=branch, kind=event.kind.value, source=event.source, source_id=event.source_id,
            occurred_at=event.occurred_at, candidate_id=event.candidate_id,
            session_id=event.session.id if event.session else None, body=stored_body(event),
            sinks=self.sinks(branch, event.kind.value), now=now)
        if seq is None:
            return []
        scheduler.plan(self.store, self.branches[branch], event, now)
        if self.after_store is not None:
            self.after_store(event, now)
        return [event]

    def _problems(self, branch: str, plugin: str, event: Event, candidate: Candidate,
                  rejected: tuple[hygiene.Rejected, ...], now: datetime) -> None:
        """Record each value hygiene left out (never silently), by person and field, never quoting the value; a
        valid value for that field from the same tool resolves it. A source that cleaned first (to name its row
        and column) hands over nothing left to reject, so nothing is reported twice."""
        left_out = {r.field: r for r in rejected}
        for field, label in _CHECKED_FIELDS.items():
            ref = f"personne {candidate.id}, {label}"
            if field in left_out:
                self.store.report_problem(branch, plugin, ref, label, (
                    f"{left_out[field].reason} dans « {event.source_id} » : valeur laissée de côté, le reste de "
                    "la fiche est enregistré. Corrigez-la dans l'outil d'origine ou demandez-la à la personne."),
                    now)
                log.warning("input problem", extra={"branch": branch, "plugin": plugin, "ref": ref, "field": label})
            elif _given(event.candidate, field):
                self.store.resolve_problem(branch, plugin, ref)

    def _session(self, branch: str, plugin: str, event: Event, now: datetime) -> Session | None:
        session = event.session
        if session is None:
            return None
        hub_id = session.id if session.id and self.store.entity_branch("sessions", session.id) == branch else None
        if hub_id is None and session.ref:
            hub_id = self.store.lookup(branch, "session", plugin, session.ref)
        replaces = session.replaces
        if replaces is None and session.replaces_ref:
            replaces = self.store.lookup(branch, "session", plugin, session.replaces_ref)
        known = self.store.get_entity("sessions", hub_id) if hub_id else None
        update: dict[str, Any] = {"id": hub_id or session.id or new_id("ses"), "replaces": replaces}
        if event.kind in _STATUS_AFTER:
            update["status"] = _STATUS_AFTER[event.kind]
        elif known is not None:  # an outcome or reminder about a known session keeps its stored picture
            return Session.model_validate(known)
        if session.candidate_id is None and known is not None:
            update["candidate_id"] = known.get("candidate_id")
        resolved = session.model_copy(update=update)
        self.store.save_session(branch, str(resolved.id), resolved.candidate_id, resolved.status.value,
                                resolved.model_dump(mode="json"), now)
        if session.ref:
            self.store.link(branch, "session", str(resolved.id), plugin, session.ref)
        return resolved

    def _candidate(self, branch: str, plugin: str, event: Event, session: Session | None,
                   now: datetime) -> tuple[Candidate | None, bool]:
        """The person the event is about, found or registered and saved with what the event says; True if new."""
        given = event.candidate
        hub_id = self._candidate_id(branch, plugin, event, session)
        if given is None and hub_id is None:
            return None, False
        known = self.store.get_entity("candidates", hub_id) if hub_id else None
        candidate = Candidate.model_validate(_merged(known, given, hub_id, event.occurred_at, plugin))
        self.store.save_candidate(branch, str(candidate.id), candidate.model_dump(mode="json", exclude_none=True),
                                  email_key(candidate.email), phone_key(candidate.phone), now)
        if given is not None and given.ref:
            self.store.link(branch, "candidate", str(candidate.id), plugin, given.ref)
        return candidate, known is None

    def _candidate_id(self, branch: str, plugin: str, event: Event, session: Session | None) -> str | None:
        """The hub id of a person of this branch the event is about, in order of trust: what the source says of
        the person, else the candidate of the (resolved) session or of the outcome; None for someone new."""
        if event.candidate is not None:
            hub_id = self._given_candidate_id(branch, plugin, event.candidate)
            if hub_id is not None:
                return hub_id
        for part in (session, event.outcome):
            cid = part.candidate_id if part is not None else None
            if cid and self.store.entity_branch("candidates", cid) == branch:
                return cid
        return None

    def _given_candidate_id(self, branch: str, plugin: str, given: Candidate) -> str | None:
        """The hub id for the source's picture of a person: the hub id it carries (if of this branch), else this
        tool's link for its `ref`, else the first person of the branch with the same e-mail, else phone."""
        if given.id and self.store.entity_branch("candidates", given.id) == branch:
            return given.id
        if given.ref:
            hub_id = self.store.lookup(branch, "candidate", plugin, given.ref)
            if hub_id is not None:
                return hub_id
        return self.store.find_candidate(branch, email_key=email_key(given.email), phone_key=phone_key(given.phone))

    def _outcome(self, branch: str, plugin: str, event: Event, candidate: Candidate | None,
                 session: Session | None) -> Outcome | None:
        outcome = event.outcome
        if outcome is None:
            return None
        hub_id = outcome.id or (outcome.ref and self.store.lookup(branch, "outcome", plugin, outcome.ref)) or None
        resolved = outcome.model_copy(update={
            "id": hub_id or new_id("out"),
            "candidate_id": candidate.id if candidate else outcome.candidate_id,
            "session_id": outcome.session_id or (session.id if session else None),
        })
        if outcome.ref:
            self.store.link(branch, "outcome", str(resolved.id), plugin, outcome.ref)
        status = _ATTENDANCE_STATUS.get(resolved.category)
        if resolved.session_id and status is not None:
            self.store.set_session_status(resolved.session_id, status.value, event.occurred_at)
        return resolved


def _given(candidate: Candidate | None, field: str) -> bool:
    """True when the source's picture of the person has a (clean) value at `field` ('referrer.contact_email')."""
    value: Any = candidate
    for part in field.split("."):
        value = getattr(value, part, None)
    return bool(value)


def _merged(known: dict[str, Any] | None, given: Candidate | None, hub_id: str | None,
            occurred_at: datetime, source: str = "") -> dict[str, Any]:
    """The stored picture of the person (if any) updated with the source's non-empty fields, ready to validate:
    extras are merged, the first registration date is kept, a new person gets an id and the event's date. A
    consent answer that is new or changed is dated (the event's date) and sourced (the tool), as the RGPD asks
    a controller to be able to show when and how consent was given (art. 7.1)."""
    merged: dict[str, Any] = dict(known or {})
    if given is not None:
        fresh = given.model_dump(mode="json", exclude_none=True, exclude={"id", "ref", "extra", "consent_at",
                                                                          "consent_source"})
        if given.consent is not None and (known or {}).get("consent") != given.consent:
            fresh["consent_at"] = (given.consent_at or occurred_at).isoformat()
            fresh["consent_source"] = given.consent_source or source or None
        first = merged.get("registered_at")
        merged.update(fresh)
        if first and fresh.get("registered_at") and first < fresh["registered_at"]:
            merged["registered_at"] = first  # a person registers once: keep the first date
        merged["extra"] = {**(known or {}).get("extra", {}), **given.extra}
    merged["id"] = hub_id or new_id("cnd")
    merged.pop("ref", None)
    if "registered_at" not in merged:
        merged["registered_at"] = occurred_at.isoformat()
    return merged
