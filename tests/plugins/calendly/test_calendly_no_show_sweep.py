"""The no-show sweep on the Free plan (50 requests a minute): incremental, within its share of the budget,
never starving the booking poller, and noticing a no-show taken back (issue 11, defects 1 and 4).

Run with -s to see the request counts per run:

    .venv/bin/pytest tests/plugins/calendly/test_calendly_no_show_sweep.py -q -s
"""

from __future__ import annotations

from datetime import timedelta

from hub.app import Hub
from hub.errors import PluginNotReady
from hub.testing import FakeClock
from hub_calendly.sandbox import CalendlySandbox

from .conftest import BRANCH, poller, stored, webhook_sender

SESSIONS = 72
NO_SHOW_EVERY = 7  # 11 no-shows among the 72 sessions
FREE = 50
SYNC_POLLS = 3  # 72 sessions at 29 invitee reads a minute (poll_budget 0.6 of 50)
RUN_BOUND = 8  # ceil(72 sessions / 9 invitee reads per run): one listing + 9 reads = 10 = 20 % of 50


def _past_sessions(hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> list[str]:
    """72 sessions over the last 6 days (all inside the 7-day lookback) on the Free plan, synced by the booking
    poller within its share of each minute, then every 7th one marked a no-show."""
    sandbox.set_plan(BRANCH, "free")
    sessions = [sandbox.book(BRANCH, email=f"p{n}@exemple.invalid", first_name="A", last_name="B",
                             start=clock() - timedelta(hours=2 + 2 * n)) for n in range(SESSIONS)]
    for _ in range(SYNC_POLLS):
        hub.poll(BRANCH, "calendly", poller(hub, "calendly-bookings"))
        clock.advance(minutes=1)
    assert len(stored(hub, "session_booked")) == SESSIONS
    absent = sessions[::NO_SHOW_EVERY]
    for uri in absent:
        sandbox.mark_no_show(uri)
    return absent


def _sweep_once(hub: Hub, sandbox: CalendlySandbox) -> tuple[int, bool]:
    """One run of the no-show poller, as the daemon makes it: (requests it made, whether it failed)."""
    before = sandbox.request_count(BRANCH)
    try:
        hub.poll(BRANCH, "calendly", poller(hub, "calendly-no-shows"))
        failed = False
    except PluginNotReady:
        failed = True
    return sandbox.request_count(BRANCH) - before, failed


def _absences(hub: Hub) -> set[str]:
    return {e["session"]["ref"] for e in stored(hub, "outcome_recorded") if e["outcome"]["category"] == "absent"}


def test_every_no_show_is_recorded_at_50_a_minute_within_a_bounded_number_of_runs(
        calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    """Issue 11, defect 1: the sweep read all 72 sessions in one go (1 + 72 requests), got 429 at the 51st,
    lost everything and started over: five attempts, none finished."""
    absent = _past_sessions(calendly_hub, sandbox, clock)
    costs = []
    for _ in range(RUN_BOUND + 4):
        costs.append(_sweep_once(calendly_hub, sandbox))
        if _absences(calendly_hub) >= set(absent):
            break
        clock.advance(minutes=1)
    print(f"\nno-show sweep, {SESSIONS} sessions at {FREE}/min: requests per run {[c for c, _ in costs]}, "
          f"runs until every no-show was recorded: {len(costs)}")
    assert _absences(calendly_hub) == set(absent)
    assert len(costs) <= RUN_BOUND
    assert all(cost <= FREE // 5 and not failed for cost, failed in costs)


def test_the_booking_poller_gets_through_while_the_sweep_runs(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                              clock: FakeClock) -> None:
    """Issue 11, defect 1: the sweep's 429 blocked the shared client, so the booking poller waited too."""
    _past_sessions(calendly_hub, sandbox, clock)
    bookings = poller(calendly_hub, "calendly-bookings")
    for n in range(RUN_BOUND):
        _sweep_once(calendly_hub, sandbox)
        sandbox.book(BRANCH, email=f"new{n}@exemple.invalid", first_name="N", last_name="B",
                     start=clock() + timedelta(days=2, hours=n))
        assert calendly_hub.poll(BRANCH, "calendly", bookings) == 2  # registration + booking, this minute
        clock.advance(minutes=1)


def _session_with_no_show(hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> tuple[str, str]:
    uri = sandbox.book(BRANCH, email="p@exemple.invalid", first_name="Paul", last_name="Martin",
                       start=clock() + timedelta(hours=1))
    hub.poll(BRANCH, "calendly", poller(hub, "calendly-bookings"))
    clock.advance(hours=3)
    return uri, sandbox.mark_no_show(uri)


def _outcomes(hub: Hub) -> list[str]:
    return [e["outcome"]["category"] for e in stored(hub, "outcome_recorded")]


def test_the_sweep_notices_a_no_show_taken_back_without_webhooks(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                                 clock: FakeClock) -> None:
    """Issue 11: on the Free plan only the sweep can see staff un-marking a no-show; it used to ignore it."""
    sandbox.set_plan(BRANCH, "free")
    _, no_show = _session_with_no_show(calendly_hub, sandbox, clock)
    sweep = poller(calendly_hub, "calendly-no-shows")
    assert calendly_hub.poll(BRANCH, "calendly", sweep) == 1
    sandbox.unmark_no_show(no_show)
    clock.advance(hours=1)
    assert calendly_hub.poll(BRANCH, "calendly", sweep) == 1
    assert _outcomes(calendly_hub) == ["absent", "absence_withdrawn"]
    [booked] = stored(calendly_hub, "session_booked")
    assert calendly_hub.store.get_entity("sessions", booked["session"]["id"])["status"] == "booked"
    clock.advance(hours=1)
    assert calendly_hub.poll(BRANCH, "calendly", sweep) == 0  # told once
    cursor = calendly_hub.store.cursor(BRANCH, "calendly", "calendly-no-shows") or ""
    assert "exemple" not in cursor and "Paul" not in cursor  # ids only


def test_webhook_and_sweep_together_withdraw_once(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                  clock: FakeClock) -> None:
    sandbox.sender = webhook_sender(calendly_hub)
    sandbox.subscribe_directly(BRANCH, "http://127.0.0.1:1/webhooks/antenne/calendly", "test-signing-key",
                               events=("invitee.created", "invitee_no_show.created", "invitee_no_show.deleted"))
    _, no_show = _session_with_no_show(calendly_hub, sandbox, clock)
    sweep = poller(calendly_hub, "calendly-no-shows")
    assert calendly_hub.poll(BRANCH, "calendly", sweep) == 0  # the webhook brought the absence already
    sandbox.unmark_no_show(no_show)
    clock.advance(hours=1)
    calendly_hub.poll(BRANCH, "calendly", sweep)
    assert _outcomes(calendly_hub) == ["absent", "absence_withdrawn"]
