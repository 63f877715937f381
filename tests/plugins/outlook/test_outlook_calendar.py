"""Sessions in the branch's Outlook calendar, against the sandbox: one event per session even when the create is
retried after a crash (transactionId), a reschedule moves the same event, a cancellation cancels it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from hub.app import Hub
from hub.testing import T0, make_candidate, make_event, make_session
from hub_outlook import graph as graph_module
from hub_outlook.sandbox import OutlookSandbox

BRANCH = "lyon"


class Crash(BaseException):
    """The process dies here: nothing after it runs, nothing uncommitted survives."""





def book(hub: Hub, session_ref: str, hours: int, **session: Any) -> None:
    person = make_candidate(ref="p1", email="ines.haddad@example.org", first_name="Inès", last_name="Haddad")
    start = T0 + timedelta(days=3, hours=hours)
    hub.ingest(BRANCH, "tests", [make_event("session_booked", candidate=person, source_id=session_ref,
                                            session=make_session(start, ref=session_ref, **session))])


def test_a_booking_becomes_one_event_and_its_id_is_linked(make_sandbox_hub: Callable[..., Hub],
                                                          fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub()
    book(hub, "s1", 9)
    assert hub.cycle().errors == []
    (event,) = sandbox.events(BRANCH)
    assert event["subject"] == "atelier — Inès H."  # first name and initial, no contact detail
    assert not event.get("attendees")  # the branch does not invite candidates
    assert event["start"]["dateTime"].startswith((T0 + timedelta(days=3, hours=9)).strftime("%Y-%m-%dT%H:%M"))
    assert hub.store.lookup(BRANCH, "session", "outlook", event["id"]) is not None  # the identity link


def test_a_create_retried_after_a_crash_makes_no_second_event(make_sandbox_hub: Callable[..., Hub],
                                                              fake: tuple[OutlookSandbox, str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub()
    real = graph_module.GraphClient.request

    def create_then_die(self: graph_module.GraphClient, method: str, path: str, **kw: Any) -> Any:
        answer = real(self, method, path, **kw)
        if method == "POST" and path.endswith("/events"):
            raise Crash  # the event exists; its link was never committed
        return answer
    monkeypatch.setattr(graph_module.GraphClient, "request", create_then_die)
    book(hub, "s1", 9)
    with pytest.raises(Crash):
        hub.cycle()
    monkeypatch.setattr(graph_module.GraphClient, "request", real)
    assert hub.cycle().errors == []  # the re-delivery posts again with the same transactionId
    assert len(sandbox.events(BRANCH)) == 1
    assert sandbox.count("POST /users/{m}/events") == 2


def test_a_reschedule_moves_the_same_event(make_sandbox_hub: Callable[..., Hub],
                                           fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub()
    book(hub, "s1", 9)
    hub.cycle()
    (before,) = sandbox.events(BRANCH)
    book(hub, "s2", 30, replaces_ref="s1")
    assert hub.cycle().errors == []
    (after,) = sandbox.events(BRANCH)
    assert after["id"] == before["id"]
    assert after["start"]["dateTime"].startswith((T0 + timedelta(days=3, hours=30)).strftime("%Y-%m-%dT%H:%M"))


def test_a_cancellation_cancels_it_and_invited_candidates_are_told(make_sandbox_hub: Callable[..., Hub],
                                                                   fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub(invite_candidates=True)
    book(hub, "s1", 9)
    hub.cycle()
    (event,) = sandbox.events(BRANCH)
    assert [a["emailAddress"]["address"] for a in event["attendees"]] == ["ines.haddad@example.org"]
    person = make_candidate(ref="p1", email="ines.haddad@example.org", first_name="Inès", last_name="Haddad")
    hub.ingest(BRANCH, "tests", [make_event("session_cancelled", candidate=person, source_id="s1-cancel",
                                            session=make_session(T0 + timedelta(days=3, hours=9), ref="s1"))])
    assert hub.cycle().errors == []
    assert sandbox.events(BRANCH) == []
    assert len(sandbox.cancellations(BRANCH)) == 1


def test_without_calendar_nothing_reaches_the_calendar(make_sandbox_hub: Callable[..., Hub],
                                                       fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub(calendar=False)
    book(hub, "s1", 9)
    assert hub.cycle().errors == []
    assert sandbox.events(BRANCH) == [] and sandbox.count("POST /users/{m}/events") == 0


COACH = "coach.martin@cravate-demo.onmicrosoft.com"
OTHER_COACH = "coach.diallo@cravate-demo.onmicrosoft.com"


def test_a_session_with_a_mapped_coach_goes_to_the_coachs_calendar(make_sandbox_hub: Callable[..., Hub],
                                                                    fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub(coach_mailboxes={"Paul Martin": COACH, "Awa Diallo": OTHER_COACH})
    sandbox.add_mailbox(COACH)
    sandbox.add_mailbox(OTHER_COACH)
    book(hub, "s1", 9, host="paul martin")  # the name as the booking tool writes it, case aside
    assert hub.cycle().errors == []
    assert sandbox.events(BRANCH) == []
    (event,) = sandbox.events(COACH)
    assert event["organizer"]["emailAddress"]["address"] == COACH
    book(hub, "s2", 30, replaces_ref="s1", host="Awa Diallo")  # moved, and to another coach
    assert hub.cycle().errors == []
    assert sandbox.events(COACH) == []
    (moved,) = sandbox.events(OTHER_COACH)
    assert moved["start"]["dateTime"].startswith((T0 + timedelta(days=3, hours=30)).strftime("%Y-%m-%dT%H:%M"))


def test_an_unmapped_coach_leaves_the_session_in_the_branch_calendar(make_sandbox_hub: Callable[..., Hub],
                                                                      fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub(coach_mailboxes={"Paul Martin": COACH})
    book(hub, "s1", 9, host="Quelqu'un d'autre")
    assert hub.cycle().errors == []
    assert len(sandbox.events(BRANCH)) == 1


@pytest.mark.parametrize(("location", "video_link", "teams"), [
    ("En visio", None, True), ("À distance", None, True), ("12 rue de la Paix, Lyon", None, False),
    ("Visio", "https://zoom.us/j/123", False), (None, None, False)],
    ids=["visio", "a distance", "in person", "own video link", "no place"])
def test_a_remote_session_gets_a_teams_meeting_when_the_branch_wants_it(
        make_sandbox_hub: Callable[..., Hub], fake: tuple[OutlookSandbox, str], location: str | None,
        video_link: str | None, teams: bool) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub(teams_meetings=True)
    book(hub, "s1", 9, location=location, video_link=video_link)
    assert hub.cycle().errors == []
    (event,) = sandbox.events(BRANCH)
    assert event["isOnlineMeeting"] is teams
    assert bool(event["onlineMeeting"] and event["onlineMeeting"]["joinUrl"].startswith("https://teams")) is teams


def test_without_teams_meetings_a_remote_session_gets_none(make_sandbox_hub: Callable[..., Hub],
                                                           fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub()
    book(hub, "s1", 9, location="En visio")
    assert hub.cycle().errors == []
    (event,) = sandbox.events(BRANCH)
    assert event["isOnlineMeeting"] is False


def test_graph_requests_per_booking_reschedule_and_cancellation(make_sandbox_hub: Callable[..., Hub],
                                                                fake: tuple[OutlookSandbox, str]) -> None:
    """The figures in README's table: one Graph request per calendar change (tokens aside, one an hour)."""
    sandbox, _ = fake
    hub = make_sandbox_hub()

    def graph_requests() -> list[str]:
        return [r.route for r in sandbox.requests() if "/events" in r.route]  # not mail, not the source
    book(hub, "s1", 9)
    hub.cycle()
    assert graph_requests() == ["POST /users/{m}/events"]
    book(hub, "s2", 30, replaces_ref="s1")
    hub.cycle()
    assert graph_requests()[1:] == ["PATCH /users/{m}/events/{id}"]
    person = make_candidate(ref="p1", email="ines.haddad@example.org", first_name="Inès", last_name="Haddad")
    hub.ingest(BRANCH, "tests", [make_event("session_cancelled", candidate=person, source_id="s2-cancel",
                                            session=make_session(T0 + timedelta(days=3, hours=30), ref="s2"))])
    hub.cycle()
    assert graph_requests()[2:] == ["DELETE /users/{m}/events/{id}"]
    print("Graph requests: booking 1, reschedule 1, cancellation 1")
