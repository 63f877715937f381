"""The JSON body of a webhook: `{"type": <event kind>, "timestamp": <when it happened>, "data": {...}}` (the
Standard Webhooks payload structure), where `data` says why (`reason`), carries the hub's ids and the facts of the
session or outcome, and a person's fields only where the endpoint's `fields` names them.

`reason` is there because the kind alone is ambiguous to a receiver: RDV-Solidarités added one to its webhooks
(betagouv/rdv-service-public#3825, "Renseigner la raison de la suppression dans les webhooks") so that a receiver
could tell a record erased for the RGPD from one cancelled or deleted by an agent.
"""

from __future__ import annotations

from typing import Any

from hub.context import HubContext
from hub.events import ATTENDANCE, Candidate, Event, EventKind, SessionStatus

REASONS: dict[str, str] = {
    "registration": "the person signed up",
    "update": "a tool sent new details about a person the hub knew",
    "booking": "a session was booked",
    "reschedule": "a session replaces another (booking) or was replaced (cancellation)",
    "cancellation": "a session was cancelled",
    "attendance": "the person came, or not, or a no-show was taken back",
    "outcome": "what came of the journey (a contract, a training)",
    "reminder": "a reminder of a session is due",
    "followup": "a follow-up after a session is due",
    "bounce": "a message to the person did not arrive",
    "no_booking": "a registered person has not booked: call them",
    "erasure": "the person asked to be forgotten: erase what you hold about them",
    "opt_out": "the person wants no more messages by this medium",
    "opt_in": "the person wants messages by this medium again",
}
"""Every `data.reason` a receiver may get, with what it means (the docs page lists them)."""


def reason(event: Event) -> str:
    """Why the event was sent, in one word of REASONS."""
    kind, session = event.kind, event.session
    if kind is EventKind.CANDIDATE_REGISTERED:
        first = event.candidate.registered_at if event.candidate else None
        return "update" if first is not None and first < event.occurred_at else "registration"
    if kind is EventKind.SESSION_BOOKED:
        return "reschedule" if session is not None and (session.replaces or session.replaces_ref) else "booking"
    if kind is EventKind.SESSION_CANCELLED:
        return "reschedule" if session is not None and session.status is SessionStatus.RESCHEDULED else "cancellation"
    if kind is EventKind.OUTCOME_RECORDED:
        return "attendance" if event.outcome is not None and event.outcome.category in ATTENDANCE else "outcome"
    return {EventKind.SESSION_REMINDER_DUE: "reminder", EventKind.FOLLOWUP_DUE: "followup",
            EventKind.MESSAGE_BOUNCED: "bounce", EventKind.CANDIDATE_NEEDS_CALL: "no_booking",
            EventKind.CANDIDATE_FORGOTTEN: "erasure", EventKind.CANDIDATE_OPTED_OUT: "opt_out",
            EventKind.CANDIDATE_OPTED_IN: "opt_in"}[kind]


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def person_fields(candidate: Candidate | None, fields: list[str]) -> dict[str, Any]:
    """The endpoint's allowed fields the person has (`referrer.structure` for the referrer's), as named in its
    settings; absent values left out."""
    if candidate is None:
        return {}
    out: dict[str, Any] = {}
    for name in fields:
        if name.startswith("referrer."):
            value = getattr(candidate.referrer, name.split(".", 1)[1]) if candidate.referrer else None
        elif name == "consent":
            value = None if candidate.consent is None else {"given": candidate.consent,
                                                            "at": _when(candidate.consent_at)}
        else:
            value = getattr(candidate, name)
            value = _when(value) if name == "registered_at" else value
        if value is not None:
            out[name] = value
    return out


def build(hub: HubContext, event: Event, fields: list[str]) -> dict[str, Any]:
    """The payload for one endpoint allowed `fields` (empty: ids only). An erasure carries ids only, whatever the
    endpoint's fields: the receiver finds the person by the hub's id it was given before."""
    data: dict[str, Any] = {"event_id": event.id, "branch": hub.branch, "reason": reason(event),
                            "candidate_id": event.candidate_id}
    if event.kind is not EventKind.CANDIDATE_FORGOTTEN:
        person = person_fields(event.candidate, fields)
        if person:
            data["person"] = person
        if event.session is not None:
            s = event.session
            data["session"] = {"id": s.id, "programme": s.programme,
                               "programme_label": hub.programme_label(s.programme), "module": s.module,
                               "start": _when(s.start), "end": _when(s.end), "status": s.status.value,
                               "replaces": s.replaces}
        if event.outcome is not None:
            o = event.outcome
            data["outcome"] = {"id": o.id, "session_id": o.session_id, "category": o.category.value,
                               "contract_type": o.contract_type.value if o.contract_type else None,
                               "contract_months": o.contract_months, "label": o.label,
                               "observed_at": _when(o.observed_at), "horizon": o.horizon}
        if event.due is not None:
            data["due"] = {"offset": event.due.offset, "due_at": _when(event.due.due_at)}
        if event.bounce is not None:  # never the address nor the diagnostic (it may quote the address)
            data["bounce"] = {"message_id": event.bounce.message_id, "medium": event.bounce.medium,
                              "permanent": event.bounce.permanent}
        if event.preference is not None:
            data["preference"] = {"medium": event.preference.medium, "via": event.preference.via}
    return {"type": event.kind.value, "timestamp": _when(event.occurred_at), "data": data}
