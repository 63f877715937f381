"""Calendly invitees and scheduled events -> hub events.

Polling and webhooks both describe an invitee as it is now, so both go through `facts()`, which gives the
same events with the same `source_id`s for the same facts: the hub's dedupe makes the overlap harmless.

* an active invitee -> `session_booked` (its `old_invitee`, after a reschedule, becomes `replaces_ref`);
* a cancelled invitee -> `session_booked` + `session_cancelled` (the booking dedupes if already known),
  except after a reschedule (`rescheduled: true`): nothing, the new invitee's booking replaces it;
* a no-show -> `outcome_recorded` with category `absent`;
* an invitee Calendly anonymized (a data deletion request, see erasure.py) -> nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from hub.api import InvalidValue, clean_birth_year
from hub.events import (
    Candidate,
    Event,
    EventKind,
    Outcome,
    OutcomeCategory,
    Referrer,
    Session,
    SessionStatus,
)
from hub_calendly.client import uuid_of

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub_calendly.plugin import Settings

HUB_CANDIDATE_PREFIX = "cnd_"
NO_SHOW_STATE = "no_show:"  # + invitee uuid -> no-show uuid (plugin state, ids only)
# Calendly's data deletion keeps the invitee, name and answers removed, e-mail "anonymized", e.g.
# 1e99adf8a31ad9@deleted.calendly.com (https://help.calendly.com/hc/en-us/articles/4412601189911)
ANONYMIZED_DOMAIN = "@deleted.calendly.com"
_YES = {"oui", "yes", "true", "vrai", "1", "j'accepte", "d'accord", "ok"}


class PayloadError(ValueError):
    """An invitee or scheduled event that cannot be turned into events; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise PayloadError(field, f"date manquante ({field})")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(field, f"date illisible ({field})") from None
    if when.tzinfo is None:
        raise PayloadError(field, f"date sans fuseau horaire ({field})")
    return when


def programme_for(settings: Settings, scheduled_event: dict[str, Any]) -> tuple[str | None, str | None] | None:
    """(programme, module) for the event's type, or None when the branch does not follow this type."""
    if not settings.event_types:
        return settings.default_programme, None
    event_type = str(scheduled_event.get("event_type") or "")
    name = str(scheduled_event.get("name") or "").strip().casefold()
    for key, mapping in settings.event_types.items():
        if key in (event_type, uuid_of(event_type) if event_type else None) or key.strip().casefold() == name:
            return mapping.programme, mapping.module
    return None


def candidate_from(settings: Settings, invitee: dict[str, Any]) -> Candidate:
    """The person, as the booking describes them; `id` is the hub id the booking link carried, if any."""
    first, last = _names(invitee)
    fields: dict[str, Any] = {"first_name": first or None, "last_name": last or None,
                              "email": invitee.get("email") or None,
                              "phone": invitee.get("text_reminder_number") or None}
    answered, referrer, extra = _form_fields(settings, invitee)
    fields.update(answered)
    hub_id = _hub_id(invitee)
    return Candidate(id=hub_id, referrer=Referrer(**referrer) if referrer else None, extra=extra, **fields)


def _names(invitee: dict[str, Any]) -> tuple[Any, Any]:
    """(first, last) name; bookings made without separate name fields only have `name`, split at its first space."""
    first, last = invitee.get("first_name"), invitee.get("last_name")
    if not first and not last and invitee.get("name"):
        first, _, last = str(invitee["name"]).strip().partition(" ")
    return first, last


def _answers(settings: Settings, invitee: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(target field, answer) for each non-blank answer to a question the branch maps (`settings.questions`,
    matched ignoring case and surrounding spaces), in form order."""
    wanted = {q.strip().casefold(): target for q, target in settings.questions.items()}
    for qa in invitee.get("questions_and_answers") or []:
        target = wanted.get(str(qa.get("question", "")).strip().casefold())
        answer = str(qa.get("answer") or "").strip()
        if target and answer:
            yield target, answer


def _form_fields(settings: Settings, invitee: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str],
                                                                       dict[str, str]]:
    """The booking form's answers sorted into (candidate fields, referrer fields, extras); a later answer to the
    same field wins. Consent is a yes/no: any of `_YES` is a yes."""
    fields: dict[str, Any] = {}
    referrer: dict[str, str] = {}
    extra: dict[str, str] = {}
    for target, answer in _answers(settings, invitee):
        if target.startswith("referrer."):
            referrer[target.removeprefix("referrer.")] = answer
        elif target.startswith("extra."):
            extra[target.removeprefix("extra.")] = answer
        elif target == "consent":
            fields["consent"] = answer.casefold() in _YES
        elif target == "birth_year":
            fields["birth_year"] = _birth_year(answer)  # unreadable: left out (safe_facts reports it)
        else:
            fields[target] = answer
    return fields, referrer, extra


def _birth_year(answer: str) -> int | None:
    try:
        return clean_birth_year(answer, datetime.now(UTC).year)
    except InvalidValue:
        return None


def unreadable_answers(settings: Settings, invitee: dict[str, Any]) -> list[str]:
    """The questions (as the branch wrote them) whose answer was left out as unreadable: a year of birth that
    is none."""
    targets = {q.strip().casefold(): (q, t) for q, t in settings.questions.items()}
    out = []
    for qa in invitee.get("questions_and_answers") or []:
        question, target = targets.get(str(qa.get("question", "")).strip().casefold(), ("", ""))
        answer = str(qa.get("answer") or "").strip()
        if target == "birth_year" and answer and _birth_year(answer) is None:
            out.append(question)
    return out


def _hub_id(invitee: dict[str, Any]) -> str | None:
    """The hub id our registration mail put in the booking link's utm_content; any other utm_content is a
    campaign's and means nothing here."""
    tracking = invitee.get("tracking") or {}
    utm_content = str(tracking.get("utm_content") or "").strip()
    return utm_content if utm_content.startswith(HUB_CANDIDATE_PREFIX) else None


def session_from(settings: Settings, scheduled_event: dict[str, Any], invitee: dict[str, Any],
                 programme: tuple[str | None, str | None]) -> Session:
    """One session per invitee (a group workshop has one per person): `ref` is the invitee URI."""
    location = scheduled_event.get("location") or {}
    place = location.get("location") if isinstance(location.get("location"), str) else None
    memberships = scheduled_event.get("event_memberships") or [{}]
    cancellation = invitee.get("cancellation") or {}
    return Session(
        ref=str(invitee["uri"]),
        programme=programme[0], module=programme[1],
        start=parse_time(scheduled_event.get("start_time"), "start_time"),
        end=parse_time(scheduled_event["end_time"], "end_time") if scheduled_event.get("end_time") else None,
        location=place, video_link=location.get("join_url") or None,
        host=memberships[0].get("user_name") or None,
        replaces_ref=invitee.get("old_invitee") or None,
        cancel_reason=cancellation.get("reason") or None,
    )


def is_anonymized(invitee: dict[str, Any]) -> bool:
    """Whether Calendly erased this invitee (a data deletion request): nothing of the person is left in it."""
    return str(invitee.get("email") or "").strip().casefold().endswith(ANONYMIZED_DOMAIN)


def facts(settings: Settings, scheduled_event: dict[str, Any], invitee: dict[str, Any]) -> list[Event]:
    """Every event this invitee's current state stands for (see the module docstring). Raises PayloadError."""
    uri = invitee.get("uri")
    if not isinstance(uri, str) or "/invitees/" not in uri:
        raise PayloadError("uri", "invité sans URI Calendly")
    if is_anonymized(invitee):
        return []  # erased at the person's request: never read back as someone new
    programme = programme_for(settings, scheduled_event)
    if programme is None:
        return []
    status = invitee.get("status")
    if status not in ("active", "canceled"):
        raise PayloadError("status", f"statut d'invité inconnu ({status!r})")
    if status == "canceled" and invitee.get("rescheduled"):
        return []  # the new invitee's booking, carrying old_invitee, stands for the whole reschedule
    candidate = candidate_from(settings, invitee)
    session = session_from(settings, scheduled_event, invitee, programme)
    booked_at = parse_time(invitee.get("created_at"), "created_at")
    out = [Event(kind=EventKind.SESSION_BOOKED, occurred_at=booked_at, source_id=uri, candidate=candidate,
                 session=session.model_copy(update={"cancel_reason": None}))]
    if status == "canceled":
        cancellation = invitee.get("cancellation") or {}
        when = cancellation.get("created_at") or invitee.get("updated_at")
        out.append(Event(kind=EventKind.SESSION_CANCELLED, occurred_at=parse_time(when, "updated_at"),
                         source_id=uri, candidate=candidate,
                         session=session.model_copy(update={"status": SessionStatus.CANCELLED})))
    no_show = invitee.get("no_show")
    if isinstance(no_show, dict):
        out.append(no_show_event(candidate, session, no_show, invitee))
    return out


def no_show_event(candidate: Candidate, session: Session, no_show: dict[str, Any],
                  invitee: dict[str, Any]) -> Event:
    observed = parse_time(no_show.get("created_at") or invitee.get("updated_at"), "no_show.created_at")
    outcome = Outcome(ref=no_show.get("uri") or None, category=OutcomeCategory.ABSENT, observed_at=observed,
                      label="Absent", recorded_by="calendly")
    return Event(kind=EventKind.OUTCOME_RECORDED, occurred_at=observed, source_id=absence_key(invitee, no_show),
                 candidate=candidate, session=session, outcome=outcome)


def absence_key(invitee: dict[str, Any], no_show: dict[str, Any]) -> str:
    """One key per no-show Calendly records, not per invitee: staff may take an absence back and mark it again,
    and the second absence is a new fact. (An absence stored under the older per-invitee key comes once more
    under this one: its outcome is found by the no-show's URI, so it is the same outcome and no mail goes twice.)"""
    no_show_id = str(no_show.get("uri") or "").rstrip("/").rsplit("/", 1)[-1]
    return f"{invitee['uri']}#no_show" + (f":{no_show_id}" if no_show_id else "")


def withdrawal(booked: Event, when: str, invitee: dict[str, Any], no_show_id: str | None = None) -> Event:
    """The absence recorded for this booking is taken back (`invitee_no_show.deleted`, or the sweep finding the
    no-show gone): an outcome that says so, shown in the tracking sheet; the session is booked again.

    Keyed by the deleted no-show's id when known, so the webhook and the sweep give the same event and the
    hub's dedupe keeps one; without it (an absence recorded before ids were remembered), by the notification's
    time, one per notification."""
    observed = parse_time(when or invitee.get("updated_at"), "created_at")
    outcome = Outcome(category=OutcomeCategory.ABSENCE_WITHDRAWN, observed_at=observed, label="Absence annulée",
                      recorded_by="calendly")
    suffix = no_show_id or observed.isoformat()
    return Event(kind=EventKind.OUTCOME_RECORDED, occurred_at=observed,
                 source_id=f"{invitee['uri']}#no_show_deleted:{suffix}", candidate=booked.candidate,
                 session=booked.session, outcome=outcome)


def remember_no_show(hub: HubContext, invitee_id: str, no_show_id: str) -> None:
    """Which no-show an invitee has (ids only), for the key of its withdrawal whichever path sees it first."""
    if no_show_id and hub.state_get(NO_SHOW_STATE + invitee_id) != no_show_id:
        hub.state_put(NO_SHOW_STATE + invitee_id, no_show_id)


def known_no_show(hub: HubContext, invitee_id: str) -> str | None:
    value = hub.state_get(NO_SHOW_STATE + invitee_id)
    return value if isinstance(value, str) and value else None


def forget_no_show(hub: HubContext, invitee_id: str) -> None:
    if hub.state_get(NO_SHOW_STATE + invitee_id) is not None:
        hub.state_delete(NO_SHOW_STATE + invitee_id)


def safe_facts(hub: HubContext, settings: Settings, scheduled_event: dict[str, Any],
               invitee: dict[str, Any]) -> list[Event]:
    """`facts()`, with a bad payload recorded as a problem (by invitee URI, never personal data) and skipped."""
    ref = str(invitee.get("uri") or scheduled_event.get("uri") or "invitee?")
    try:
        events = facts(settings, scheduled_event, invitee)
    except PayloadError as exc:
        hub.report_problem(ref, exc.field, f"réservation Calendly illisible : {exc}")
        return []
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        hub.report_problem(ref, "payload", f"réservation Calendly illisible ({type(exc).__name__}) : "
                                           "vérifier le type d'événement et le formulaire")
        return []
    hub.resolve_problem(ref)
    unreadable = unreadable_answers(settings, invitee) if events else []
    if unreadable:
        hub.report_problem(ref, "birth_year", f"réservation Calendly : réponse à « {unreadable[0]} » illisible "
                                              "(une année de naissance est attendue), laissée de côté ; le reste "
                                              "est enregistré")
    return events
