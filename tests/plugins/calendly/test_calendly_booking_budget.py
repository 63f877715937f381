"""The booking poller on the Free plan (50 requests a minute): a first sync of a busy branch spends at most
`poll_budget` of each minute, keeps what it read (cursor) and finishes, while the no-show sweep gets its share
in the same minutes; a 429 in the middle of a poll loses nothing already read (issue 11, defect 1).

Run with -s to see the request counts per poll:

    .venv/bin/pytest tests/plugins/calendly/test_calendly_booking_budget.py -q -s
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

import hub_calendly.plugin as calendly_plugin
from hub.app import Hub
from hub.errors import ConfigError, PluginNotReady
from hub.testing import FakeClock
from hub_calendly.sandbox import CalendlySandbox

from .conftest import BRANCH, poller, stored

BOOKINGS, NO_SHOWS, CHECK = "calendly-bookings", "calendly-no-shows", "calendly-webhook-check"
FREE = 50
PAST, FUTURE = 40, 80  # 120 sessions in the window [now - 7 days, +inf)
POLL_CAP = 30  # poll_budget 0.6 of 50
POLL_BOUND = 5  # 120 invitee reads at 29 a minute (one listing + 29 reads = 30), a second page listed once


def _busy_branch(sandbox: CalendlySandbox, clock: FakeClock) -> None:
    sandbox.set_plan(BRANCH, "free")
    for n in range(PAST):
        sandbox.book(BRANCH, email=f"p{n}@exemple.invalid", first_name="A", last_name="B",
                     start=clock() - timedelta(hours=2 + 3 * n))
    for n in range(FUTURE):
        sandbox.book(BRANCH, email=f"f{n}@exemple.invalid", first_name="A", last_name="B",
                     start=clock() + timedelta(hours=2 + 3 * n))


def _cost(hub: Hub, sandbox: CalendlySandbox, name: str) -> int:
    """One poll as the daemon makes it (a PluginNotReady fails the test): the requests it made."""
    before = sandbox.request_count(BRANCH)
    hub.poll(BRANCH, "calendly", poller(hub, name))
    return sandbox.request_count(BRANCH) - before


def test_a_busy_branch_is_fully_synced_at_50_a_minute_while_the_sweep_progresses(
        calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    """Issue 11, defect 1: the first sync read 1 + 120 requests in one go, got 429 at the 51st, lost the poll's
    progress and started over every time."""
    _busy_branch(sandbox, clock)
    costs: list[tuple[int, int]] = []
    for _ in range(POLL_BOUND + 3):
        bookings, sweep = _cost(calendly_hub, sandbox, BOOKINGS), _cost(calendly_hub, sandbox, NO_SHOWS)
        _cost(calendly_hub, sandbox, CHECK)
        costs.append((bookings, sweep))
        assert sandbox.account(BRANCH).used <= FREE  # no 429 this minute
        if len(stored(calendly_hub, "session_booked")) == PAST + FUTURE:
            break
        clock.advance(minutes=1)
    print(f"\nfirst sync, {PAST + FUTURE} sessions at {FREE}/min: requests per minute (bookings, no-show sweep) "
          f"{costs}, polls until every booking was stored: {len(costs)}")
    assert len(stored(calendly_hub, "session_booked")) == PAST + FUTURE
    assert len({e["session"]["id"] for e in stored(calendly_hub, "session_booked")}) == PAST + FUTURE
    assert len(costs) <= POLL_BOUND
    assert all(bookings <= POLL_CAP for bookings, _ in costs)
    assert all(sweep >= 2 for _, sweep in costs[:4])  # the sweep read sessions in the same minutes
    cursor = calendly_hub.store.cursor(BRANCH, "calendly", BOOKINGS) or ""
    assert "exemple" not in cursor  # ids and fingerprints only
    clock.advance(minutes=1)
    assert _cost(calendly_hub, sandbox, BOOKINGS) == 2  # synced: an idle poll lists the window (two pages)


def test_a_429_in_the_middle_of_a_poll_keeps_what_was_read(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                           clock: FakeClock) -> None:
    """Issue 11, defect 1: a 429 while reading invitees threw away the invitees read before it."""
    for n in range(10):
        sandbox.book(BRANCH, email=f"p{n}@exemple.invalid", first_name="A", last_name="B",
                     start=clock() + timedelta(hours=2 + n))
    sandbox.fail_next(BRANCH, 429, reset=30, after=6)  # users/me, the listing and 4 invitee reads get through
    assert calendly_hub.poll(BRANCH, "calendly", poller(calendly_hub, BOOKINGS)) == 8  # 4 registrations + 4
    assert len(stored(calendly_hub, "session_booked")) == 4
    clock.advance(10)
    with pytest.raises(PluginNotReady) as caught:  # the shared client waits for Calendly's announced reset...
        calendly_hub.poll(BRANCH, "calendly", poller(calendly_hub, BOOKINGS), max_pages=1)
    assert caught.value.retry_after == 20
    clock.advance(21)  # ...and no longer: every poller goes on once it has passed
    before = sandbox.request_count(BRANCH)
    assert calendly_hub.poll(BRANCH, "calendly", poller(calendly_hub, BOOKINGS)) == 12
    assert sandbox.request_count(BRANCH) - before == 1 + 6  # the listing and the 6 sessions not read yet
    assert len(stored(calendly_hub, "session_booked")) == 10
    calendly_hub.poll(BRANCH, "calendly", poller(calendly_hub, NO_SHOWS))


def test_the_two_budgets_must_leave_a_tenth_of_the_minute(make_hub: Callable[..., Hub],
                                                           register_plugin: Callable[[str, object], object],
                                                           sandbox: CalendlySandbox, sandbox_url: str) -> None:
    register_plugin("calendly", calendly_plugin)
    with pytest.raises(ConfigError) as caught:
        make_hub({BRANCH: {"plugins": ["calendly"], "calendly": {"api_url": sandbox_url, "poll_budget": 0.8}}},
                 environ={"HUB_ANTENNE_CALENDLY_TOKEN": sandbox.token_for(BRANCH)})
    assert "poll_budget (0.8) + no_show_budget (0.2) must not exceed 0.9" in str(caught.value)


def test_a_catch_up_asks_for_the_next_poll_when_the_minute_is_over_not_a_poll_interval_later(
        calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    """With the default poll_interval (5 minutes) a Free-plan catch-up of 120 sessions took 25 minutes; the
    poller now asks the hub to come back when its minute's share is whole again."""
    _busy_branch(sandbox, clock)
    source = poller(calendly_hub, BOOKINGS)
    result = source.poll(calendly_hub.store.cursor(BRANCH, "calendly", BOOKINGS))
    assert result.again_after is not None and 1 <= result.again_after <= 60
    while result.more:  # the pages this minute allows, as the hub would poll them
        result = source.poll(result.cursor)
    assert result.again_after is not None and result.again_after <= 60
    for _ in range(POLL_BOUND + 3):  # once synced, the ordinary interval again
        clock.advance(minutes=1)
        result = source.poll(result.cursor)
        while result.more:
            result = source.poll(result.cursor)
        if result.again_after is None:
            break
    assert result.again_after is None
