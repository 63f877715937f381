"""Sessions staff book straight in Outlook, read with calendarView delta against the sandbox: pages, an idle round
of one request, removals, moves, an expired delta token, the window moving with time, and the hub's own events
never read back."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.app import Hub
from hub.testing import T0, FakeClock, make_candidate, make_event, make_session
from hub_outlook.calendar_source import PayloadError, graph_time
from hub_outlook.sandbox import OutlookSandbox

BRANCH = "lyon"
DELTA = "GET /users/{m}/calendarView/delta"





@pytest.fixture
def make_source_hub(make_sandbox_hub: Callable[..., Hub]) -> Callable[..., Hub]:
    """The calendar read as a source (the calendar sink off unless a test turns it on)."""
    return lambda **settings: make_sandbox_hub(**{"calendar": False, "source": True, "source_programme": "Coaching",
                                                  **settings})


def staff_books(sandbox: OutlookSandbox, day: int, hour: int = 10, *, who: str = "aicha", **kw: Any) -> str:
    start = T0.replace(hour=hour, minute=0, second=0, microsecond=0) + timedelta(days=day)
    return sandbox.staff_create_event(BRANCH, f"Entretien {who}", start, start + timedelta(hours=1),
                                      attendees=[f"{who}@example.org"], **kw)


def stored(hub: Hub, kind: str) -> list[dict[str, Any]]:
    """The stored events of a kind, each with its person's record where the log keeps the hub id only."""
    return [with_record(hub, json.loads(row.body)) for row in hub.store.list_events(branch=BRANCH, kind=kind,
                                                                                     limit=1000)]


def with_record(hub: Hub, body: dict[str, Any]) -> dict[str, Any]:
    person = body.get("candidate")
    if isinstance(person, dict) and person.get("id"):
        assert set(person) <= {"id", "ref"} or all(v is None for k, v in person.items() if k not in ("id", "ref",
                                                                                                       "extra"))
        body["candidate"] = hub.store.get_entity("candidates", person["id"]) or person
    return body


def poll(hub: Hub) -> None:
    """One forced poll; the source must not fail (confirmations the channel defers past 30 a minute may)."""
    errors = hub.cycle(force_poll=True).errors
    assert [e for e in errors if " delivery " not in e] == []


def test_staff_bookings_across_pages_become_sessions_then_an_idle_round_is_one_request(
        make_source_hub: Callable[..., Hub], fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_source_hub()
    for i in range(60):  # the reader asks for pages of 50: two pages
        staff_books(sandbox, 1 + i % 20, 8 + i % 9, who=f"personne{i}")
    poll(hub)
    booked = stored(hub, "session_booked")
    assert len(booked) == 60
    assert {b["candidate"]["email"] for b in booked} == {f"personne{i}@example.org" for i in range(60)}
    assert all(b["session"]["programme"] == "Coaching" for b in booked)
    assert sandbox.count(DELTA) == 2
    poll(hub)
    assert sandbox.count(DELTA) == 3  # nothing changed: one request
    assert len(stored(hub, "session_booked")) == 60


def test_times_are_read_in_utc_with_the_zone_attached(make_source_hub: Callable[..., Hub],
                                                      fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_source_hub()
    paris = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)  # 10:30 in Paris, written so by staff in Outlook
    sandbox.staff_create_event(BRANCH, "Entretien", paris, paris + timedelta(hours=1), attendees=["a@example.org"],
                               time_zone="Romance Standard Time")
    poll(hub)
    (booked,) = stored(hub, "session_booked")
    assert datetime.fromisoformat(booked["session"]["start"]) == paris


@pytest.mark.parametrize(("value", "expected"), [
    ({"dateTime": "2026-12-09T08:30:00.0000000", "timeZone": "UTC"}, datetime(2026, 12, 9, 8, 30, tzinfo=UTC)),
    ({"dateTime": "2026-12-09T09:30:00.0000000", "timeZone": "Romance Standard Time"},
     datetime(2026, 12, 9, 8, 30, tzinfo=UTC)),
    ({"dateTime": "2026-07-09T10:30:00", "timeZone": "Europe/Paris"}, datetime(2026, 7, 9, 8, 30, tzinfo=UTC)),
], ids=["utc", "windows name", "iana name"])
def test_graph_times_get_their_zone(value: dict[str, str], expected: datetime) -> None:
    moment = graph_time(value, "start")
    assert moment.tzinfo is not None and moment == expected


def test_an_unknown_zone_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="fuseau"):
        graph_time({"dateTime": "2026-12-09T08:30:00", "timeZone": "Mars Standard Time"}, "start")


def test_a_deleted_event_cancels_its_session_once(make_source_hub: Callable[..., Hub],
                                                  fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_source_hub()
    event_id = staff_books(sandbox, 2)
    staff_books(sandbox, 3, who="bruno")
    poll(hub)
    sandbox.staff_cancel_event(BRANCH, event_id)
    poll(hub)
    poll(hub)
    (cancelled,) = stored(hub, "session_cancelled")
    session_id = cancelled["session"]["id"]
    assert hub.store.get_entity("sessions", session_id)["status"] == "cancelled"  # type: ignore[index]
    assert hub.store.lookup(BRANCH, "session", "outlook", event_id) == session_id


def test_a_moved_event_is_a_reschedule_of_the_session(make_source_hub: Callable[..., Hub],
                                                      fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_source_hub()
    event_id = staff_books(sandbox, 2)
    poll(hub)
    (first,) = stored(hub, "session_booked")
    later = T0.replace(hour=14, minute=0, second=0, microsecond=0) + timedelta(days=4)
    sandbox.staff_move_event(BRANCH, event_id, later, later + timedelta(hours=1))
    poll(hub)
    booked = stored(hub, "session_booked")
    assert len(booked) == 2
    moved = next(b for b in booked if b["session"]["id"] != first["session"]["id"])
    assert moved["session"]["replaces"] == first["session"]["id"]
    assert datetime.fromisoformat(moved["session"]["start"]) == later
    assert moved["candidate"]["id"] == first["candidate"]["id"]
    assert hub.store.get_entity("sessions", first["session"]["id"])["status"] == "rescheduled"  # type: ignore[index]


def test_an_event_moved_out_of_the_window_is_looked_up_not_cancelled(make_source_hub: Callable[..., Hub],
                                                                     fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_source_hub(source_days=30)
    event_id = staff_books(sandbox, 2)
    poll(hub)
    far = T0 + timedelta(days=200)  # Graph reports it under @removed: it left the window
    sandbox.staff_move_event(BRANCH, event_id, far, far + timedelta(hours=1))
    poll(hub)
    assert stored(hub, "session_cancelled") == []
    assert len(stored(hub, "session_booked")) == 2  # the reschedule


def test_an_expired_delta_token_gives_a_full_round_without_duplicates_and_catches_deletions(
        make_source_hub: Callable[..., Hub], fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_source_hub()
    kept = [staff_books(sandbox, d, who=f"p{d}") for d in range(1, 6)]
    poll(hub)
    sandbox.expire_delta(BRANCH)
    sandbox.staff_cancel_event(BRANCH, kept[0])  # deleted while the state is gone: no @removed will say it
    staff_books(sandbox, 7, who="nouvelle")
    poll(hub)
    booked = stored(hub, "session_booked")
    assert len(booked) == 6  # five known (deduped, not stored twice) and the new one
    (cancelled,) = stored(hub, "session_cancelled")
    assert hub.store.lookup(BRANCH, "session", "outlook", kept[0]) == cancelled["session"]["id"]
    before = sandbox.count(DELTA)
    poll(hub)
    assert sandbox.count(DELTA) == before + 1  # back to one request per idle round


def test_the_window_moves_with_time(make_source_hub: Callable[..., Hub], fake: tuple[OutlookSandbox, str],
                                    clock: FakeClock) -> None:
    sandbox, _ = fake
    hub = make_source_hub(source_days=30)
    staff_books(sandbox, 2)
    poll(hub)
    staff_books(sandbox, 40, who="plus-tard")  # beyond the window the token keeps
    poll(hub)
    assert len(stored(hub, "session_booked")) == 1
    clock.advance(timedelta(days=12).total_seconds())
    poll(hub)
    assert len(stored(hub, "session_booked")) == 2  # a new window, started today, reaches it


def test_the_hubs_own_events_are_not_read_back(make_source_hub: Callable[..., Hub],
                                               fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_source_hub(calendar=True, invite_candidates=True)  # its event has the person as attendee
    person = make_candidate(ref="p1", email="ines.haddad@example.org", first_name="Inès", last_name="Haddad")
    hub.ingest(BRANCH, "tests", [make_event("session_booked", candidate=person, source_id="s1",
                                            session=make_session(T0 + timedelta(days=3), ref="s1"))])
    poll(hub)  # the calendar sink makes the event
    assert len(sandbox.events(BRANCH)) == 1
    staff_books(sandbox, 4)  # and staff book one themselves
    poll(hub)
    poll(hub)
    booked = stored(hub, "session_booked")
    assert sorted(b["source"] for b in booked) == ["outlook", "tests"]
    assert hub.store.list_problems(BRANCH) == []
    events = sandbox.events(BRANCH)
    assert len(events) == 2 and "Entretien aicha" in {e["subject"] for e in events}  # the sink left staff's alone


def test_a_category_designates_the_sessions(make_source_hub: Callable[..., Hub],
                                            fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_source_hub(source_category="Cravate")
    tagged = staff_books(sandbox, 2)
    staff_books(sandbox, 3, who="reunion")
    sandbox.mailbox(BRANCH).events[tagged].data["categories"] = ["cravate"]
    poll(hub)
    (booked,) = stored(hub, "session_booked")
    assert booked["candidate"]["email"] == "aicha@example.org"


def test_an_event_without_an_outside_attendee_is_a_problem_until_fixed(make_source_hub: Callable[..., Hub],
                                                                       fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_source_hub()
    start = T0 + timedelta(days=2)
    event_id = sandbox.staff_create_event(BRANCH, "Entretien", start, start + timedelta(hours=1),
                                          attendees=["collegue@cravate-demo.onmicrosoft.com"])
    poll(hub)
    assert stored(hub, "session_booked") == []
    (problem,) = hub.store.list_problems(BRANCH)
    assert "participant" in problem.message and "collegue" not in problem.message
    with sandbox.lock:  # staff add the person as an attendee
        box = sandbox.mailbox(BRANCH)
        sandbox.update_event(box, box.events[event_id], {"attendees": [
            {"emailAddress": {"address": "aicha@example.org", "name": "Aïcha Benali"}, "type": "required"}]})
    poll(hub)
    (booked,) = stored(hub, "session_booked")
    assert (booked["candidate"]["first_name"], booked["candidate"]["last_name"]) == ("Aïcha", "Benali")
    assert hub.store.list_problems(BRANCH) == []
