"""Reminders and follow-ups follow their session; people are matched across tools."""

from __future__ import annotations

from datetime import timedelta

from hub.app import Hub
from hub.events import Candidate, EventKind, Outcome, OutcomeCategory
from hub.testing import FakeClock, RecordingSink, make_candidate, make_event, make_session


def waiting(hub: Hub, session_id: str) -> list[tuple[str, str]]:
    return [(r.kind, r.offset_text) for r in hub.store.list_schedule(session_id=session_id, state="waiting")]


def test_booking_plans_reminders_and_followups(two_branches: Hub, clock: FakeClock) -> None:
    [_, booked] = two_branches.ingest("bordeaux", "alpha", [
        make_event(EventKind.SESSION_BOOKED, session=make_session(start=clock() + timedelta(days=5)))])
    assert waiting(two_branches, booked.session.id) == [
        ("reminder", "48h"), ("reminder", "2h"), ("followup", "1 month"), ("followup", "3 months"),
        ("followup", "6 months")]


def test_reminders_already_past_at_booking_are_not_planned(two_branches: Hub, clock: FakeClock) -> None:
    [_, booked] = two_branches.ingest("bordeaux", "alpha", [
        make_event(EventKind.SESSION_BOOKED, session=make_session(start=clock() + timedelta(hours=5)))])
    assert ("reminder", "48h") not in waiting(two_branches, booked.session.id)
    assert ("reminder", "2h") in waiting(two_branches, booked.session.id)


def test_reminders_fire_once_at_their_time(two_branches: Hub, sinks: dict[str, RecordingSink],
                                           clock: FakeClock) -> None:
    session = make_session(start=clock() + timedelta(days=5))
    two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.SESSION_BOOKED, session=session)])
    two_branches.cycle()
    clock.advance(days=3, minutes=1)
    two_branches.cycle()
    two_branches.cycle()
    reminders = [e for k, _, e in sinks["alpha"].calls if k == "session_reminder_due"]
    assert [e.due.offset for e in reminders] == ["48h"]
    assert reminders[0].candidate is not None and reminders[0].candidate.email  # sinks can write to the person


def test_cancellation_drops_reminders_and_followups(two_branches: Hub, sinks: dict[str, RecordingSink],
                                                    clock: FakeClock) -> None:
    candidate, session = make_candidate(), make_session(start=clock() + timedelta(days=5))
    two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.SESSION_BOOKED, candidate=candidate,
                                                         session=session)])
    [cancelled] = two_branches.ingest("bordeaux", "alpha", [
        make_event(EventKind.SESSION_CANCELLED, candidate=candidate, session=session)])
    assert waiting(two_branches, cancelled.session.id) == []
    clock.advance(days=400)
    two_branches.cycle()
    assert "session_reminder_due" not in sinks["alpha"].kinds()
    assert "followup_due" not in sinks["alpha"].kinds()


def test_reschedule_moves_the_schedule_and_is_not_a_cancellation(two_branches: Hub, sinks: dict[str, RecordingSink],
                                                                 clock: FakeClock) -> None:
    candidate = make_candidate()
    first = make_session(start=clock() + timedelta(days=5))
    [_, old] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.SESSION_BOOKED, candidate=candidate,
                                                                    session=first)])
    moved = make_session(start=clock() + timedelta(days=9), replaces_ref=first.ref)
    [new] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.SESSION_BOOKED, candidate=candidate,
                                                                 session=moved)])
    assert new.session.replaces == old.session.id
    assert waiting(two_branches, old.session.id) == []
    assert ("reminder", "48h") in waiting(two_branches, new.session.id)
    assert two_branches.store.get_entity("sessions", old.session.id)["status"] == "rescheduled"
    two_branches.cycle()
    assert "session_cancelled" not in sinks["alpha"].kinds()


def test_a_reminder_for_a_session_already_started_is_not_sent(two_branches: Hub, sinks: dict[str, RecordingSink],
                                                              clock: FakeClock) -> None:
    two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.SESSION_BOOKED,
                                                         session=make_session(start=clock() + timedelta(days=3)))])
    clock.advance(days=3, hours=1)  # the daemon was down past the session
    two_branches.cycle()
    assert "session_reminder_due" not in sinks["alpha"].kinds()


def test_booking_attaches_to_the_registered_candidate_by_email(two_branches: Hub) -> None:
    [registered] = two_branches.ingest("bordeaux", "alpha", [
        make_event(EventKind.CANDIDATE_REGISTERED, candidate=make_candidate(email="Aicha.B@example.org"))])
    booking = make_event(EventKind.SESSION_BOOKED, candidate=Candidate(ref="invitee-1", email="aicha.b@EXAMPLE.org"))
    [booked] = two_branches.ingest("bordeaux", "beta", [booking])  # from another tool
    assert booked.candidate.id == registered.candidate.id
    assert booked.candidate.first_name == "Aïcha"  # the full picture, not just what the booking said


def test_booking_attaches_by_hub_id_given_by_the_tool(two_branches: Hub) -> None:
    [registered] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED)])
    booking = make_event(EventKind.SESSION_BOOKED,
                         candidate=Candidate(id=registered.candidate.id, email="other@example.org"))
    [booked] = two_branches.ingest("bordeaux", "beta", [booking])
    assert booked.candidate.id == registered.candidate.id


def test_booking_from_an_unknown_person_registers_them_first(two_branches: Hub,
                                                             sinks: dict[str, RecordingSink]) -> None:
    stored = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.SESSION_BOOKED)])
    assert [e.kind for e in stored] == [EventKind.CANDIDATE_REGISTERED, EventKind.SESSION_BOOKED]
    assert stored[0].candidate.id == stored[1].candidate.id
    two_branches.cycle()
    assert sinks["alpha"].kinds() == ["candidate_registered", "session_booked"]


def test_candidates_are_not_matched_across_branches(two_branches: Hub) -> None:
    candidate = make_candidate()
    [a] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=candidate)])
    [b] = two_branches.ingest("lyon", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=candidate)])
    assert a.candidate.id != b.candidate.id


def test_attendance_updates_the_session(two_branches: Hub, clock: FakeClock) -> None:
    session = make_session()
    [_, booked] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.SESSION_BOOKED, session=session)])
    outcome = Outcome(category=OutcomeCategory.ABSENT, observed_at=clock())
    [recorded] = two_branches.ingest("bordeaux", "alpha", [
        make_event(EventKind.OUTCOME_RECORDED, candidate=Candidate(id=booked.candidate.id), session=session,
                   outcome=outcome)])
    assert recorded.outcome.session_id == booked.session.id
    assert recorded.outcome.candidate_id == booked.candidate.id
    assert two_branches.store.get_entity("sessions", booked.session.id)["status"] == "no_show"


def test_a_second_registration_keeps_the_first_date_and_adds_fields(two_branches: Hub, clock: FakeClock) -> None:
    first = make_candidate(email="z@example.org", phone=None, referrer=None)
    [one] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=first,
                                                                 occurred_at=clock())])
    richer = Candidate(ref="form-row", email="Z@example.org", phone="06 00 00 00 01",
                       registered_at=clock() + timedelta(hours=1))
    [two] = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=richer,
                                                                 occurred_at=clock() + timedelta(hours=1))])
    assert two.candidate.id == one.candidate.id
    assert two.candidate.phone == "+33600000001" and two.candidate.first_name == "Aïcha"
    assert two.candidate.registered_at == one.candidate.registered_at < two.occurred_at
