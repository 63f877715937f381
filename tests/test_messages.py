"""The messages the hub sends: planned from events in the same transaction, in French, at the right local
time, through the branch's channel, once; waiting for quiet hours and caps; skipped with a reason when they
no longer apply. The channel here is the testing kit's RecordingChannel (the Gmail channel has its own tests)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.app import Hub
from hub.events import Candidate, Event, EventKind, Message, Outcome, OutcomeCategory, Referrer
from hub.testing import FakeClock, RecordingChannel, make_candidate, make_event, make_session

BOOKING = "https://calendly.com/cravate-lyon/atelier"



@pytest.fixture
def hub(make_hub: Callable[..., Hub], channel: RecordingChannel) -> Hub:
    return make_hub({"lyon": {"name": "La Cravate Solidaire Lyon", "plugins": ["mail"],
                              "messages": {"booking_url": BOOKING, "phone": "04 78 00 00 00",
                                           "what_to_bring": "votre CV"}}})


def sent(channel: RecordingChannel) -> list[Message]:
    return channel.sent()


def purposes(channel: RecordingChannel) -> list[str]:
    return [m.purpose for m in sent(channel)]


def register(hub: Hub, **kw: Any) -> Event:
    kw.setdefault("phone", None)  # the kit's sample phone is the same for everyone: people would be merged
    [event] = hub.ingest("lyon", "feed", [make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=hub.clock(),
                                                     candidate=make_candidate(**kw))])
    return event


def book(hub: Hub, candidate_id: str, start: datetime, **kw: Any) -> Event:
    session = make_session(start=start, **kw)
    events = hub.ingest("lyon", "feed", [make_event(EventKind.SESSION_BOOKED, occurred_at=hub.clock(),
                                                    candidate=Candidate(id=candidate_id), session=session)])
    return events[-1]


def skipped(hub: Hub) -> dict[str, str]:
    return {r.event_id: r.last_error or "" for r in hub.store.list_deliveries(states=("skipped",))}


def test_registration_gets_one_french_mail_with_a_personal_booking_link(hub: Hub, channel: RecordingChannel) -> None:
    event = register(hub)
    hub.cycle()
    hub.cycle()
    [message] = sent(channel)
    assert message.purpose == "registration_received" and message.to == event.candidate.email  # type: ignore[union-attr]  # registered above
    assert "nous avons bien reçu votre inscription" in message.subject
    assert message.text.startswith("Bonjour Aïcha,")
    assert f"{BOOKING}?utm_content={event.candidate_id}" in message.text
    assert "04 78 00 00 00" in message.text and message.html and "<a href=" in message.html
    assert message.from_name == "La Cravate Solidaire Lyon"


def test_a_second_registration_of_the_same_person_sends_nothing_more(hub: Hub, channel: RecordingChannel) -> None:
    first = register(hub, email="jo@example.org")
    hub.ingest("lyon", "other-form", [make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=hub.clock(),
                                                 candidate=make_candidate(email="jo@example.org"))])
    hub.cycle()
    assert purposes(channel) == ["registration_received"] and sent(channel)[0].candidate_id == first.candidate_id


def test_exactly_one_relance_when_nothing_is_booked(hub: Hub, channel: RecordingChannel, clock: FakeClock) -> None:
    register(hub)
    for _ in range(8):
        clock.advance(days=1)
        hub.cycle()
    assert purposes(channel) == ["registration_received", "booking_relance"]


def test_no_relance_once_booked(hub: Hub, channel: RecordingChannel, clock: FakeClock) -> None:
    event = register(hub)
    hub.cycle()
    clock.advance(days=1)
    book(hub, str(event.candidate_id), clock() + timedelta(days=10))
    for _ in range(5):
        clock.advance(days=1)
        hub.cycle()
    assert "booking_relance" not in purposes(channel)
    assert any("a session was booked" in reason for reason in skipped(hub).values())


def test_booking_confirmation_and_reminder_at_local_time_across_daylight_saving(
        hub: Hub, channel: RecordingChannel, clock: FakeClock) -> None:
    event = register(hub)
    start = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)  # 14:00 in Paris after the change of 29 March (UTC+2)
    book(hub, str(event.candidate_id), start)
    hub.cycle()
    confirmation = next(m for m in sent(channel) if m.purpose == "booking_confirmed")
    assert "mardi 31 mars à 14h00" in confirmation.text and "votre CV" in confirmation.text
    clock.now = start - timedelta(hours=47)  # the 48 h reminder is due
    hub.cycle()
    hub.cycle()
    reminder = next(m for m in sent(channel) if m.purpose == "reminder")
    assert "14h00" in reminder.subject and "demain" not in reminder.subject


def test_a_reschedule_sends_one_moved_mail_not_a_cancellation(hub: Hub, channel: RecordingChannel) -> None:
    event = register(hub)
    first = book(hub, str(event.candidate_id), datetime(2026, 3, 10, 13, 0, tzinfo=UTC))
    hub.cycle()
    moved = make_session(start=datetime(2026, 3, 12, 9, 0, tzinfo=UTC), replaces=first.session.id)  # type: ignore[union-attr]  # booked above
    hub.ingest("lyon", "feed", [make_event(EventKind.SESSION_BOOKED, occurred_at=hub.clock(),
                                           candidate=Candidate(id=event.candidate_id), session=moved)])
    hub.cycle()
    assert purposes(channel) == ["registration_received", "booking_confirmed", "session_moved"]
    assert "jeudi 12 mars à 10h00" in sent(channel)[-1].text and "mardi 10 mars" in sent(channel)[-1].text


def test_a_cancellation_is_said_and_its_reminders_never_go(hub: Hub, channel: RecordingChannel,
                                                         clock: FakeClock) -> None:
    event = register(hub)
    booked = book(hub, str(event.candidate_id), clock() + timedelta(days=4))
    hub.cycle()
    hub.ingest("lyon", "feed", [make_event(EventKind.SESSION_CANCELLED, occurred_at=hub.clock(),
                                           candidate=Candidate(id=event.candidate_id),
                                           session=booked.session)])
    clock.advance(days=4)
    hub.cycle()
    hub.cycle()
    assert purposes(channel) == ["registration_received", "booking_confirmed", "session_cancelled"]


def test_no_message_at_night_it_waits_for_the_morning(hub: Hub, channel: RecordingChannel, clock: FakeClock) -> None:
    clock.now = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)  # 22:30 in Paris
    register(hub)
    hub.cycle()
    assert sent(channel) == []
    clock.now = datetime(2026, 3, 3, 6, 59, tzinfo=UTC)  # 07:59 in Paris
    hub.cycle()
    assert sent(channel) == []
    clock.now = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # 08:00
    hub.cycle()
    assert purposes(channel) == ["registration_received"]


def test_the_daily_cap_defers_to_the_next_day(make_hub: Callable[..., Hub], channel: RecordingChannel,
                                              clock: FakeClock) -> None:
    hub = make_hub({"lyon": {"name": "Lyon", "plugins": ["mail"], "messages": {"daily_cap": 2}}})
    for _ in range(3):
        register(hub)
    hub.cycle()
    assert len(sent(channel)) == 2
    [waiting] = [r for r in hub.store.list_deliveries(states=("pending",))]
    assert waiting.last_error == "waiting: daily_cap reached" and waiting.attempts == 0
    clock.advance(days=1)
    hub.cycle()
    assert len(sent(channel)) == 3


def test_turned_off_or_no_address_is_recorded_as_skipped(make_hub: Callable[..., Hub],
                                                         channel: RecordingChannel) -> None:
    hub = make_hub({"lyon": {"name": "Lyon", "plugins": ["mail"], "messages": {"off": ["registration_received"]}}})
    register(hub)
    register(hub, email=None)
    hub.cycle()
    assert sent(channel) == []
    reasons = sorted(skipped(hub).values())
    assert any("turned off" in r for r in reasons)
    assert len(reasons) == 4  # registration off x2, and the two referrer notes without consent
    assert any("not consented" in r for r in reasons)


def test_referrer_notes_only_with_consent(hub: Hub, channel: RecordingChannel) -> None:
    referrer = Referrer(structure="Mission locale", contact_name="Mme Durand", contact_email="durand@ml.example.org")
    with_consent = register(hub, referrer=referrer, consent=True)
    register(hub, referrer=referrer, consent=False)
    hub.ingest("lyon", "feed", [make_event(EventKind.OUTCOME_RECORDED, occurred_at=hub.clock(),
                                           candidate=Candidate(id=with_consent.candidate_id),
                                           outcome=Outcome(category=OutcomeCategory.EMPLOI_DURABLE, label="CDI",
                                                           observed_at=hub.clock()))])
    hub.cycle()
    to_referrer = [m for m in sent(channel) if m.recipient == "referrer"]
    assert [m.purpose for m in to_referrer] == ["referrer_registered", "referrer_outcome"]
    assert all(m.to == "durand@ml.example.org" and m.candidate_id == with_consent.candidate_id for m in to_referrer)
    assert "« CDI »" in to_referrer[1].text


def test_a_bounce_stops_further_mail_to_that_address(hub: Hub, channel: RecordingChannel) -> None:
    event = register(hub, email="parti@example.org")
    hub.cycle()
    [message] = sent(channel)
    hub.ingest("lyon", "mail", [make_event(EventKind.MESSAGE_BOUNCED, occurred_at=hub.clock(),
                                           candidate=Candidate(id=event.candidate_id),
                                           bounce={"message_id": message.id, "address": "parti@example.org",
                                                   "reason": "5.1.1"})])
    book(hub, str(event.candidate_id), hub.clock() + timedelta(days=3))
    hub.cycle()
    assert purposes(channel) == ["registration_received"]
    assert any("bounced" in r for r in skipped(hub).values())


def test_each_message_has_a_stable_id_and_key_and_is_delivered_once(hub: Hub, channel: RecordingChannel) -> None:
    register(hub)
    hub.cycle()
    hub.store.retry_deliveries(hub.clock())  # an operator's hub retry changes nothing for done deliveries
    hub.cycle()
    [message] = sent(channel)
    keys = [key for key, e in channel.effects.items() if e.message is not None]
    assert keys == [f"{message.id}:mail"] and message.id.startswith("msg_")
    assert [kind for kind, _, _ in channel.calls].count("message_due") == 1


def test_a_branch_without_a_mail_channel_plans_nothing(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub({"lyon": {"name": "Lyon", "plugins": []}})
    register(hub)
    assert [r.kind for r in hub.store.list_events()] == ["candidate_registered"]


def test_someone_who_booked_nothing_after_needs_call_after_is_listed(hub: Hub, clock: FakeClock) -> None:
    from hub import status as st

    event = register(hub)
    clock.advance(days=9)
    assert st.collect(hub)[0].needs_call == 0
    clock.advance(days=2)
    [branch] = st.collect(hub)
    assert branch.needs_call == 1 and branch.mail_channel == "mail"
    assert "1 person(s) registered and booked nothing" in st.render([branch], {})
    book(hub, str(event.candidate_id), clock() + timedelta(days=2))
    assert st.collect(hub)[0].needs_call == 0


def test_alerts_to_an_e_mail_address_go_through_the_mail_channel_once_a_day(
        make_hub: Callable[..., Hub], channel: RecordingChannel, register_plugin: Callable[[str, object], object],
        clock: FakeClock) -> None:
    from hub.errors import PluginAuthFailed
    from hub.testing import RecordingSink

    refused = RecordingSink()
    refused.fail["candidate_registered"] = PluginAuthFailed("jeton refusé", fix="hub auth google --branch lyon")
    register_plugin("sheet", refused)
    hub = make_hub({"lyon": {"name": "Lyon", "plugins": ["mail", "sheet"], "alerts": ["coord@example.org"],
                             "channels": {"email": "mail"}}})
    register(hub)
    hub.cycle()
    hub.cycle()
    [alert] = [m for m in sent(channel) if m.purpose == "staff_alert"]
    assert alert.to == "coord@example.org" and alert.subject.startswith("[cravate-hub] Lyon : sheet est en pause")
    assert "hub auth google --branch lyon, then hub retry --branch lyon --plugin sheet" in alert.text
    hub.store.resume("lyon", "sheet")
    clock.advance(hours=2)
    hub.cycle()  # refused again the same day: no second mail
    assert [m.purpose for m in sent(channel)].count("staff_alert") == 1


def test_a_bounce_and_people_to_call_are_told_to_the_coordinator(make_hub: Callable[..., Hub],
                                                                 channel: RecordingChannel, clock: FakeClock) -> None:
    from hub import status as st

    hub = make_hub({"lyon": {"name": "Lyon", "plugins": ["mail"], "alerts": ["coord@example.org"]}})
    event = register(hub, email="parti@example.org")
    hub.cycle()
    [welcome] = sent(channel)
    hub.ingest("lyon", "mail", [make_event(EventKind.MESSAGE_BOUNCED, occurred_at=hub.clock(),
                                           candidate=Candidate(id=event.candidate_id),
                                           bounce={"message_id": welcome.id, "address": "parti@example.org"})])
    hub.cycle()
    alerts = [m for m in sent(channel) if m.purpose == "staff_alert"]
    assert len(alerts) == 1 and "ne fonctionne plus" in alerts[0].text and "parti@" not in alerts[0].text
    assert st.collect(hub)[0].bounced == 1
    clock.advance(days=11)
    hub.cycle()
    alerts = [m for m in sent(channel) if m.purpose == "staff_alert"]
    assert len(alerts) == 2 and "1 personne(s) inscrite(s) n'ont toujours pas pris rendez-vous" in alerts[1].text


def test_no_address_name_or_mail_text_in_the_logs(hub: Hub, channel: RecordingChannel, clock: FakeClock,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from hub.logs import JsonFormatter

    with caplog.at_level(logging.DEBUG):
        event = register(hub, email="discret@example.org", first_name="Zébulon")
        book(hub, str(event.candidate_id), clock() + timedelta(days=3))
        for _ in range(4):
            clock.advance(days=1)
            hub.cycle()
    assert len(sent(channel)) >= 3
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(r) for r in caplog.records)
    assert "message planned" in logged
    for secret in ("discret@example.org", "Zébulon", "Bonjour", "rendez-vous"):
        assert secret not in logged, secret
