"""Invitee payloads (project fixtures modelled on Calendly's documented examples) -> hub events."""

from __future__ import annotations

from typing import Any

import pytest

from hub.events import EventKind, OutcomeCategory, SessionStatus
from hub_calendly.mapping import PayloadError, facts
from hub_calendly.plugin import Settings

from .conftest import fixture


def settings(**kw: Any) -> Settings:
    return Settings.model_validate({"token": "t", **kw})


def payload(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = fixture(name)["payload"]
    return body["scheduled_event"], body


def test_an_active_invitee_is_one_booking_with_the_hub_id_and_form_answers() -> None:
    event, invitee = payload("webhook_invitee_created.json")
    [booked] = facts(settings(questions={"Numéro de téléphone": "phone", "Structure qui vous oriente":
                                         "referrer.structure", "Poste recherché": "extra.poste"}), event, invitee)
    assert booked.kind is EventKind.SESSION_BOOKED
    assert booked.source_id == invitee["uri"]
    assert booked.candidate is not None and booked.session is not None
    assert booked.candidate.id == "cnd_0123456789abcdef0123"  # utm_content carried by the registration mail
    assert booked.candidate.phone == "06 12 34 56 78"
    assert booked.candidate.referrer is not None and booked.candidate.referrer.structure == "Mission locale de Lyon"
    assert booked.candidate.extra == {"poste": "Vendeuse"}
    assert (booked.candidate.first_name, booked.candidate.last_name) == ("Aïcha", "Benali")
    assert booked.session.ref == invitee["uri"]
    assert booked.session.start.isoformat() == "2026-03-05T08:30:00+00:00"
    assert booked.session.location == "12 rue de la Soie, Lyon"
    assert booked.session.host == "Claire Bénévole"
    assert booked.session.programme == "atelier" and booked.session.replaces_ref is None


def test_utm_content_that_is_not_a_hub_id_is_ignored() -> None:
    event, invitee = payload("webhook_invitee_created.json")
    invitee["tracking"]["utm_content"] = "newsletter-mars"
    [booked] = facts(settings(), event, invitee)
    assert booked.candidate is not None and booked.candidate.id is None


def test_a_cancelled_invitee_is_booking_then_cancellation_with_the_same_source_id() -> None:
    event, invitee = payload("webhook_invitee_canceled.json")
    booked, cancelled = facts(settings(), event, invitee)
    assert (booked.kind, cancelled.kind) == (EventKind.SESSION_BOOKED, EventKind.SESSION_CANCELLED)
    assert booked.source_id == cancelled.source_id == invitee["uri"]
    assert cancelled.session is not None and cancelled.session.status is SessionStatus.CANCELLED
    assert cancelled.session.cancel_reason == "Entretien d'embauche le même jour"
    assert cancelled.occurred_at.isoformat() == "2026-03-02T08:00:00+00:00"


def test_the_cancelled_half_of_a_reschedule_is_not_a_cancellation() -> None:
    event, invitee = payload("webhook_invitee_canceled_rescheduled.json")
    assert facts(settings(), event, invitee) == []


def test_the_new_half_of_a_reschedule_names_the_old_invitee() -> None:
    event, invitee = payload("webhook_invitee_created_rescheduled.json")
    [booked] = facts(settings(), event, invitee)
    assert booked.kind is EventKind.SESSION_BOOKED and booked.session is not None
    assert booked.session.replaces_ref == invitee["old_invitee"]
    assert booked.session.start.isoformat() == "2026-03-09T12:30:00+00:00"


def test_a_no_show_is_an_absent_outcome() -> None:
    event, invitee = payload("webhook_invitee_no_show_created.json")
    events = facts(settings(), event, invitee)
    assert [e.kind for e in events] == [EventKind.SESSION_BOOKED, EventKind.OUTCOME_RECORDED]
    outcome = events[1].outcome
    assert outcome is not None and outcome.category is OutcomeCategory.ABSENT
    no_show_id = invitee["no_show"]["uri"].rsplit("/", 1)[-1]
    assert events[1].source_id == f"{invitee['uri']}#no_show:{no_show_id}"  # one key per no-show, not per invitee


def test_event_types_choose_programme_and_module_and_filter_others() -> None:
    event, invitee = payload("webhook_invitee_created.json")
    mapped = settings(event_types={"ET0000000000001": {"programme": "coaching", "module": "CV"}})
    [booked] = facts(mapped, event, invitee)
    assert booked.session is not None and (booked.session.programme, booked.session.module) == ("coaching", "CV")
    by_name = settings(event_types={"atelier coup de pouce": {"programme": "atelier"}})
    assert len(facts(by_name, event, invitee)) == 1
    other = settings(event_types={"https://api.calendly.com/event_types/OTHER": {"programme": "atelier"}})
    assert facts(other, event, invitee) == []


def test_video_link_from_the_location() -> None:
    page = fixture("list_scheduled_events_page2.json")["collection"][0]
    _, invitee = payload("webhook_invitee_created.json")
    [booked] = facts(settings(), page, {**invitee, "event": page["uri"]})
    assert booked.session is not None and booked.session.video_link == "https://meet.google.com/abc-defg-hij"


@pytest.mark.parametrize(("change", "field"), [
    ({"start_time": None}, "start_time"),
    ({"start_time": "le 5 mars"}, "start_time"),
])
def test_bad_event_times_name_the_field(change: dict[str, Any], field: str) -> None:
    event, invitee = payload("webhook_invitee_created.json")
    with pytest.raises(PayloadError) as caught:
        facts(settings(), {**event, **change}, invitee)
    assert caught.value.field == field


def test_unknown_question_targets_are_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="unknown field"):
        settings(questions={"Téléphone": "telephone"})


def test_sex_and_year_of_birth_from_the_booking_form() -> None:
    """Where a branch asks them (the funders' counts): the year from a year or a date of birth; an unreadable one
    is left out (the booking is kept) and named by its question for the problem safe_facts reports."""
    from hub.hygiene import clean_candidate
    from hub_calendly.mapping import unreadable_answers

    asks = settings(questions={"Vous êtes": "sex", "Date de naissance": "birth_year"})
    event, invitee = payload("webhook_invitee_created.json")
    invitee["questions_and_answers"] += [{"question": "Vous êtes", "answer": "Femme"},
                                         {"question": "date de naissance ", "answer": "12/03/1990"}]
    [booked] = facts(asks, event, invitee)
    assert booked.candidate is not None and booked.candidate.birth_year == 1990
    assert clean_candidate(booked.candidate)[0].sex == "F"  # as the hub stores it
    assert unreadable_answers(asks, invitee) == []
    invitee["questions_and_answers"][-1]["answer"] = "trente ans"
    [booked] = facts(asks, event, invitee)
    assert booked.candidate is not None and booked.candidate.birth_year is None
    assert unreadable_answers(asks, invitee) == ["Date de naissance"]
