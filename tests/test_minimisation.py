"""One copy of a person's data: the event log keeps ids, the record keeps the person, and what a plugin or a
channel receives is written from the record when it is delivered (issue 14, minimisation)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hub.app import Hub
from hub.events import Bounce, Candidate, EventKind, Referrer
from hub.testing import FakeClock, RecordingChannel, RecordingSink, make_candidate, make_event, make_session

EMAIL, PHONE, FIRST, LAST = "aicha.benali@example.org", "+33612345678", "Aïcha", "Benali"
REFERRER_EMAIL = "conseillere@mission-locale.example"



@pytest.fixture
def sink(register_plugin: Callable[[str, object], object]) -> RecordingSink:
    recording = RecordingSink()
    register_plugin("carnet", recording)
    return recording


@pytest.fixture
def hub(make_hub: Callable[..., Hub], channel: RecordingChannel, sink: RecordingSink) -> Hub:
    return make_hub({"lyon": {"name": "La Cravate Solidaire Lyon", "plugins": ["mail", "carnet"],
                              "messages": {"referrer_notes": True}}})


def person(**kw: object) -> Candidate:
    fields: dict[str, object] = {"ref": "row-2", "first_name": FIRST, "last_name": LAST, "email": EMAIL,
                                 "phone": PHONE, "consent": True,
                                 "referrer": Referrer(structure="Mission locale", kind="mission_locale",
                                                      contact_name="Mme Roux", contact_email=REFERRER_EMAIL)}
    return make_candidate(**{**fields, **kw})


def identifying(text: str) -> list[str]:
    return [v for v in (EMAIL, "612345678", FIRST, LAST, "Aicha", REFERRER_EMAIL, "Roux") if v in text]


def test_the_event_log_keeps_ids_while_plugins_and_channels_get_the_whole_person(
        hub: Hub, channel: RecordingChannel, sink: RecordingSink, clock: FakeClock) -> None:
    clock.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    [registered] = hub.ingest("lyon", "form", [make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=clock(),
                                                          candidate=person())])
    start = clock() + timedelta(days=3)
    hub.ingest("lyon", "form", [make_event(EventKind.SESSION_BOOKED, occurred_at=clock(), source_id="b1",
                                           candidate=Candidate(id=registered.candidate_id),
                                           session=make_session(start=start))])
    for _ in range(4):
        hub.cycle()
        clock.advance(days=1)
    messages = channel.sent()
    assert {m.purpose for m in messages} >= {"registration_received", "booking_confirmed", "referrer_registered"}
    mine = [m for m in messages if m.recipient == "candidate"]
    assert all(m.to == EMAIL and m.text.startswith(f"Bonjour {FIRST},") for m in mine)
    assert [m.to for m in messages if m.recipient == "referrer"] == [REFERRER_EMAIL]
    got = [e.candidate for _, _, e in sink.calls if e.candidate is not None]
    assert got and all(c.email == EMAIL and c.phone == PHONE and c.last_name == LAST for c in got)
    stored = hub.store.list_events(branch="lyon", limit=1000)
    assert len(stored) >= 6
    assert {row.id: identifying(row.body) for row in stored if identifying(row.body)} == {}
    record = hub.store.get_entity("candidates", str(registered.candidate_id))
    assert record is not None and record["email"] == EMAIL  # the one place


def test_a_corrected_address_reaches_the_messages_not_yet_sent(hub: Hub, channel: RecordingChannel,
                                                                clock: FakeClock) -> None:
    clock.now = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)  # 22:30 in Paris: the confirmation waits for morning
    hub.ingest("lyon", "form", [make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=clock(),
                                           candidate=person(email="aicha.benali@exmaple.org"))])
    hub.cycle()
    assert [m.purpose for m in channel.sent()] == ["referrer_registered"]  # staff-side mail: no quiet hours
    hub.ingest("lyon", "form", [make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=clock(), source_id="fix",
                                           candidate=person())])  # staff corrected the typo in the sheet
    clock.now = datetime(2026, 3, 3, 7, 30, tzinfo=UTC)
    hub.cycle()
    hub.cycle()
    assert [m.to for m in channel.sent() if m.purpose == "registration_received"] == [EMAIL]


def test_a_bounce_is_stored_without_the_address_or_the_servers_quote_of_it(hub: Hub) -> None:
    [registered] = hub.ingest("lyon", "form", [make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=hub.clock(),
                                                          candidate=person())])
    hub.ingest("lyon", "mail", [make_event(
        EventKind.MESSAGE_BOUNCED, occurred_at=hub.clock(), candidate=Candidate(id=registered.candidate_id),
        bounce=Bounce(message_id="msg_1", address=EMAIL, reason=f"550 5.1.1 <{EMAIL}>: user unknown"))])
    [row] = hub.store.list_events(branch="lyon", kind=EventKind.MESSAGE_BOUNCED.value)
    assert identifying(row.body) == [] and "user unknown" in row.body
    assert hub.planner.bounced("lyon", EMAIL)  # and the hub still knows not to write to it again


def test_copies_an_earlier_version_left_in_the_log_are_reduced_to_ids_but_a_pending_message_keeps_its_text(
        hub: Hub, channel: RecordingChannel, clock: FakeClock) -> None:
    import json

    from hub.events import Message
    from hub.privacy.retention import purge_due

    clock.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    [registered] = hub.ingest("lyon", "form", [make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=clock(),
                                                          candidate=person())])
    hub.cycle()
    hub.cycle()
    rows = hub.store.list_events(branch="lyon", limit=1000)
    with hub.store.transaction():  # as an earlier version wrote them: the whole person, the message's text
        for row in rows:
            body = json.loads(row.body)
            if body.get("candidate"):
                body["candidate"] = hub.store.get_entity("candidates", str(registered.candidate_id))
            if body.get("message") and body["message"]["recipient"] != "staff":
                body["message"].update(to=EMAIL, subject=f"Bonjour {FIRST}", text=f"Bonjour {FIRST} {LAST}")
            hub.store._write("UPDATE events SET body=? WHERE id=?", (json.dumps(body), row.id))  # type: ignore[attr-defined]  # test set-up
    waiting = Message(id="msg_old", purpose="booking_relance", to=EMAIL, subject="Relance", text=f"Bonjour {FIRST}",
                      candidate_id=registered.candidate_id)
    hub.store.insert_event(event_id="msg_old", branch="lyon", kind=EventKind.MESSAGE_DUE.value, source="hub.messages",
                           source_id="old:relance", occurred_at=clock(), candidate_id=registered.candidate_id,
                           session_id=None, sinks=["mail"], now=clock(), not_before=clock() + timedelta(days=2),
                           body=make_event(EventKind.MESSAGE_DUE, occurred_at=clock(), message=waiting,
                                           candidate=Candidate(id=registered.candidate_id)).model_dump_json())
    assert sum(1 for row in hub.store.list_events(branch="lyon", limit=1000) if identifying(row.body)) >= 4
    clock.advance(days=1)  # the daemon's cycles above did today's round
    purge_due(hub, clock())
    left = {row.id: identifying(row.body) for row in hub.store.list_events(branch="lyon", limit=1000)
            if identifying(row.body)}
    assert list(left) == ["msg_old"]  # still to go: sent as it was planned
    clock.advance(days=2)
    hub.cycle()
    assert [m.text for m in channel.sent() if m.id == "msg_old"] == [f"Bonjour {FIRST}"]
