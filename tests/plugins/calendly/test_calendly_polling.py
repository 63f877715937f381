"""Polling against the sandbox served on loopback: the real client, the real wire format, counted requests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from hub.app import Hub
from hub.errors import PluginNotReady
from hub.events import EventKind
from hub.testing import FakeClock, make_event
from hub_calendly.sandbox import CalendlySandbox

from .conftest import BRANCH, kinds, poller, stored

BOOKINGS = "calendly-bookings"


def book(sandbox: CalendlySandbox, clock: FakeClock, n: int = 0, **kw: Any) -> str:
    kw.setdefault("email", f"personne{n}@exemple.invalid")
    return sandbox.book(BRANCH, first_name=f"Prénom{n}", last_name="Nom", start=clock() + timedelta(days=1 + n), **kw)


def poll(hub: Hub, name: str = BOOKINGS) -> int:
    return hub.poll(BRANCH, "calendly", poller(hub, name))


def test_first_sync_reads_the_window_and_an_idle_poll_is_one_request(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                                     clock: FakeClock) -> None:
    for n in range(3):
        book(sandbox, clock, n)
    assert poll(calendly_hub) == 6  # 3 registrations + 3 bookings
    assert kinds(calendly_hub).count("session_booked") == 3
    before = sandbox.request_count(BRANCH)
    assert poll(calendly_hub) == 0
    assert sandbox.request_count(BRANCH) - before == 1


def test_a_new_booking_costs_two_requests(calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    book(sandbox, clock, 0)
    poll(calendly_hub)
    book(sandbox, clock, 1)
    before = sandbox.request_count(BRANCH)
    assert poll(calendly_hub) == 2
    assert sandbox.request_count(BRANCH) - before == 2  # the listing + the new event's invitees


def test_cancellation(calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    uri = book(sandbox, clock)
    poll(calendly_hub)
    sandbox.cancel(uri, "Malade")
    assert poll(calendly_hub) == 1
    [cancelled] = stored(calendly_hub, "session_cancelled")
    [booked] = stored(calendly_hub, "session_booked")
    assert cancelled["session"]["id"] == booked["session"]["id"]
    assert cancelled["session"]["cancel_reason"] == "Malade"
    assert calendly_hub.store.get_entity("sessions", booked["session"]["id"])["status"] == "cancelled"


def test_booked_and_cancelled_between_two_polls(calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    poll(calendly_hub)
    sandbox.cancel(book(sandbox, clock))
    poll(calendly_hub)
    assert kinds(calendly_hub) == ["candidate_registered", "session_booked", "session_cancelled"]


def test_reschedule_is_one_booking_replacing_the_old_session(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                             clock: FakeClock) -> None:
    uri = book(sandbox, clock)
    poll(calendly_hub)
    sandbox.reschedule(uri, clock() + timedelta(days=9))
    assert poll(calendly_hub) == 1
    assert "session_cancelled" not in kinds(calendly_hub)
    first, moved = stored(calendly_hub, "session_booked")
    assert moved["session"]["replaces"] == first["session"]["id"]
    assert moved["candidate"]["id"] == first["candidate"]["id"]


def test_no_show_comes_from_the_no_show_poller(calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    uri = sandbox.book(BRANCH, email="p@exemple.invalid", first_name="Paul", last_name="Martin",
                       start=clock() + timedelta(hours=2))
    poll(calendly_hub)
    clock.advance(hours=4)
    sandbox.mark_no_show(uri)
    before = sandbox.request_count(BRANCH)
    assert poll(calendly_hub) == 0  # the scheduled event did not change: the idle poll stays one request
    assert sandbox.request_count(BRANCH) - before == 1
    assert poll(calendly_hub, "calendly-no-shows") == 1
    [outcome] = stored(calendly_hub, "outcome_recorded")
    assert outcome["outcome"]["category"] == "absent"
    [booked] = stored(calendly_hub, "session_booked")
    assert outcome["outcome"]["session_id"] == booked["session"]["id"]
    assert calendly_hub.store.get_entity("sessions", booked["session"]["id"])["status"] == "no_show"
    assert poll(calendly_hub, "calendly-no-shows") == 0


def test_pagination_across_pages(calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    for n in range(130):
        sandbox.book(BRANCH, email=f"p{n}@exemple.invalid", first_name="A", last_name="B",
                     start=clock() + timedelta(hours=1 + n))
    p = poller(calendly_hub, BOOKINGS)
    first = p.poll(None)
    assert first.more and len([e for e in first.events if e.kind is EventKind.SESSION_BOOKED]) == 100
    second = p.poll(first.cursor)
    assert not second.more and len(second.events) == 30
    # through the hub: everything once, and an idle poll of a two-page window costs two requests
    assert poll(calendly_hub) == 260
    before = sandbox.request_count(BRANCH)
    assert poll(calendly_hub) == 0
    assert sandbox.request_count(BRANCH) - before == 2


def test_429_with_reset_keeps_the_cursor_and_resumes(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                     clock: FakeClock) -> None:
    book(sandbox, clock)
    poll(calendly_hub)
    cursor = calendly_hub.store.cursor(BRANCH, "calendly", BOOKINGS)
    book(sandbox, clock, 1)
    sandbox.fail_next(BRANCH, 429, reset=45)
    with pytest.raises(PluginNotReady) as caught:
        poll(calendly_hub)
    assert caught.value.retry_after == 45
    assert calendly_hub.store.cursor(BRANCH, "calendly", BOOKINGS) == cursor
    before = sandbox.request_count(BRANCH)
    with pytest.raises(PluginNotReady):
        poll(calendly_hub)  # still inside the reset window: no request at all
    assert sandbox.request_count(BRANCH) == before
    clock.advance(46)
    assert poll(calendly_hub) == 2


def test_the_hub_cycle_reports_429_without_stopping(calendly_hub: Hub, sandbox: CalendlySandbox) -> None:
    sandbox.fail_next(BRANCH, 429, reset=30, times=3)
    report = calendly_hub.cycle(force_poll=True)
    assert any("not ready" in e for e in report.errors)


def test_a_bad_token_pauses_the_plugin(make_hub: Callable[..., Hub], register_plugin: Callable[..., object],
                                       sandbox_url: str) -> None:
    import hub_calendly.plugin as plugin
    register_plugin("calendly", plugin)
    hub = make_hub({BRANCH: {"plugins": ["calendly"], "calendly": {"api_url": sandbox_url}}},
                   environ={"HUB_ANTENNE_CALENDLY_TOKEN": "wrong"})
    report = hub.cycle(force_poll=True)
    assert any("auth failed" in e for e in report.errors)
    assert (BRANCH, "calendly") in hub.store.pauses()


def test_utm_content_attaches_to_the_registered_candidate(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                          clock: FakeClock) -> None:
    registered = calendly_hub.ingest(BRANCH, "forms", [make_event("candidate_registered")])
    hub_id = registered[0].candidate_id
    assert hub_id is not None
    book(sandbox, clock, email="autre.adresse@exemple.invalid", utm_content=hub_id)
    poll(calendly_hub)
    [booked] = stored(calendly_hub, "session_booked")
    assert booked["candidate"]["id"] == hub_id
    assert kinds(calendly_hub).count("candidate_registered") == 1


def test_email_attaches_to_the_registered_candidate(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                    clock: FakeClock) -> None:
    from hub.testing import make_candidate
    registered = calendly_hub.ingest(BRANCH, "forms", [
        make_event("candidate_registered", candidate=make_candidate(email="Awa.Diallo@exemple.invalid"))])
    book(sandbox, clock, email="awa.diallo@exemple.invalid")
    poll(calendly_hub)
    [booked] = stored(calendly_hub, "session_booked")
    assert booked["candidate"]["id"] == registered[0].candidate_id


def test_unmapped_event_types_are_skipped(make_hub: Callable[..., Hub], register_plugin: Callable[..., object],
                                          sandbox: CalendlySandbox, sandbox_url: str, clock: FakeClock) -> None:
    import hub_calendly.plugin as plugin
    register_plugin("calendly", plugin)
    hub = make_hub({BRANCH: {"plugins": ["calendly"], "programmes": {"atelier": {"label": "Atelier",
                                                                                 "modules": ["visio"]}},
                             "calendly": {"api_url": sandbox_url, "event_types": {
                                 "Coaching à distance": {"programme": "atelier", "module": "visio"}}}}},
        environ={"HUB_ANTENNE_CALENDLY_TOKEN": sandbox.token_for(BRANCH)})
    book(sandbox, clock, 0, event_type="atelier")
    book(sandbox, clock, 1, event_type="coaching")
    poll(hub)
    [booked] = stored(hub, "session_booked")
    assert booked["session"]["module"] == "visio"


def test_resync_cursor_rereads_without_duplicates(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                  clock: FakeClock) -> None:
    book(sandbox, clock)
    poll(calendly_hub)
    p = poller(calendly_hub, BOOKINGS)
    before = sandbox.request_count(BRANCH)
    assert calendly_hub.poll(BRANCH, "calendly", p, cursor=p.resync_cursor(clock() - timedelta(days=30)),
                             use_stored_cursor=False) == 0
    assert sandbox.request_count(BRANCH) - before == 2  # re-read: listing + invitees, all deduped
