"""Measured API cost of polling, counted by the sandbox. Run with -s to see the figures:

    .venv/bin/pytest tests/plugins/calendly/test_calendly_costs.py -q -s
"""

from __future__ import annotations

from datetime import timedelta

from hub.app import Hub
from hub.testing import FakeClock
from hub_calendly.sandbox import CalendlySandbox

from .conftest import BRANCH, poller


def test_requests_per_poll(calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    bookings = poller(calendly_hub, "calendly-bookings")

    def cost(name: str = "calendly-bookings") -> int:
        before = sandbox.request_count(BRANCH)
        calendly_hub.poll(BRANCH, "calendly", poller(calendly_hub, name))
        return sandbox.request_count(BRANCH) - before

    for n in range(20):
        sandbox.book(BRANCH, email=f"p{n}@exemple.invalid", first_name="A", last_name="B",
                     start=clock() + timedelta(hours=3 + n * 6))
    first_sync = cost()  # users/me + listing + 20 x invitees
    idle = cost()
    sandbox.book(BRANCH, email="new@exemple.invalid", first_name="A", last_name="B", start=clock() + timedelta(days=9))
    one_booking = cost()
    five = [sandbox.book(BRANCH, email=f"q{n}@exemple.invalid", first_name="A", last_name="B",
                         start=clock() + timedelta(days=10 + n)) for n in range(5)]
    five_bookings = cost()
    sandbox.cancel(five[0])
    one_cancel = cost()
    sandbox.reschedule(five[1], clock() + timedelta(days=20))
    one_reschedule = cost()
    clock.advance(days=1)
    no_show_sweep = cost("calendly-no-shows")  # 4 sessions started in the last day
    idle_after = cost()
    figures = {"first sync (20 sessions)": first_sync, "idle poll": idle, "1 new booking": one_booking,
               "5 new bookings in one poll": five_bookings, "1 cancellation": one_cancel,
               "1 reschedule": one_reschedule, "no-show sweep (hourly, 4 started sessions)": no_show_sweep,
               "idle poll a day later": idle_after}
    print("\nCalendly requests per poll:", *(f"  {k}: {v}" for k, v in figures.items()), sep="\n")
    assert bookings.name == "calendly-bookings"
    assert (first_sync, idle, one_booking, five_bookings, one_cancel, one_reschedule) == (22, 1, 2, 6, 2, 3)
    assert no_show_sweep == 1 + 4 and idle_after == 1
