"""Polling Calendly: works on every plan, and stays on as the safety net when webhooks are used.

Calendly has no "changed since" filter on scheduled events (see docs/calendly.md in the research notes), so
the cursor keeps a fingerprint of every scheduled event in the window [now - lookback, +inf): status,
updated_at and invitee counters. A poll lists the window (one request while it fits one page of 100) and
reads the invitees only of events whose fingerprint changed: an idle poll costs exactly one request, a new
booking two.

A first sync, a resync or a burst of changes would read 1 + N in one go; at the Free plan's 50 requests a
minute that got 429, lost the poll's progress and never finished. So the invitee reads are budgeted:

* the poller spends at most `poll_budget` (default 0.6) of the plan's per-minute limit (X-RateLimit-Limit,
  https://developer.calendly.com/api-docs/overview/rate-limits), counted across the pages of one cycle and
  across cycles in the same minute, and stops before X-RateLimit-Remaining falls below a tenth of the limit,
  so the no-show sweep (`no_show_budget`, 0.2) and the webhook check get their share in the same minute;
* an event read has its fingerprint recorded at once, and the cursor returned (ids and fingerprints only)
  carries them with the events: when the budget is spent, or on a 429 after something was read, the poll
  returns what it read with `more=False` and the next poll (next interval) lists the same page again and
  reads only what is left. A full page asks for the next one at once (`more=True`) while the minute allows.

120 sessions at 50/min are synced in 5 polls of at most 30 requests
(tests/plugins/calendly/test_calendly_booking_budget.py). The three pollers share one client: a 429 blocks
them all until Calendly's announced reset, and no longer.

No-shows are marked on the invitee and do not reliably touch the scheduled event, so a second, slower
poller re-reads the invitees of sessions that already started, paced to a share of the plan's rate limit
(sweep.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hub.context import HubContext
from hub.errors import PluginNotReady
from hub.events import Event
from hub.sources import Poller, PollResult
from hub_calendly.account import Account, calendly_time, make_client, remember
from hub_calendly.client import CalendlyClient, uuid_of
from hub_calendly.mapping import programme_for, safe_facts
from hub_calendly.plugin import Settings
from hub_calendly.subscription import SubscriptionCheck
from hub_calendly.sweep import WINDOW, Budget, NoShowPoller

CURSOR_VERSION = 2
RESERVE = 0.1  # of the plan's minute, never taken by this poller: what poll_budget + no_show_budget leave at least


def fingerprint(scheduled_event: dict[str, Any]) -> str:
    counter = scheduled_event.get("invitees_counter") or {}
    raw = "|".join(str(x) for x in (scheduled_event.get("status"), scheduled_event.get("updated_at"),
                                    counter.get("active"), counter.get("total")))
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


class _Base:
    def __init__(self, hub: HubContext, settings: Settings, client: CalendlyClient | None = None) -> None:
        self.hub = hub
        self.settings = settings
        self.client = client or make_client(hub, settings)
        self.account = Account(hub, settings, self.client)

    def _invitee_facts(self, scheduled_event: dict[str, Any]) -> list[Event]:
        if programme_for(self.settings, scheduled_event) is None:
            return []
        out: list[Event] = []
        for invitee in self.client.invitees(str(scheduled_event["uri"])):
            out += safe_facts(self.hub, self.settings, scheduled_event, invitee)
        return out


class BookingPoller(_Base):
    """Bookings, cancellations, reschedules (and no-shows, when the event changed too)."""

    name = "calendly-bookings"

    def __init__(self, hub: HubContext, settings: Settings, client: CalendlyClient | None = None) -> None:
        super().__init__(hub, settings, client)
        self._minute: tuple[datetime, int] | None = None  # when this poller's minute began, what it spent since

    def poll(self, cursor: str | None) -> PollResult:
        state = _load(cursor)
        if state.get("pass") is None:
            since = state.pop("since", None)
            state["pass"] = {"min": since or calendly_time(self.hub.now() - timedelta(seconds=self.settings.lookback)),
                             "page": None, "seen": {}}
        budget = self._budget()
        if budget.spent >= budget.cap:  # this minute's share is spent: the next poll goes on when it is over
            return PollResult([], _dump(state), again_after=self._rest_of_minute())
        try:
            events, outcome = self._page(state, budget)
        finally:
            self._minute = (self._minute[0], budget.spent) if self._minute else None
        if outcome == "page":  # the next page at once if this minute allows it (a listing and a read)
            more = budget.allows(2)
            return PollResult(events, _dump(state), more=more, again_after=None if more else self._rest_of_minute())
        if outcome == "done":
            return PollResult(events, _dump({"v": CURSOR_VERSION, "snap": state["pass"]["seen"]}))
        return PollResult(events, _dump(state), again_after=self._rest_of_minute())  # stopped: work is left

    def _rest_of_minute(self) -> float:
        """Seconds until this poller's minute is over and its share is whole again: a catch-up on the Free plan
        goes on then, not a whole poll_interval later."""
        if self._minute is None:
            return float(WINDOW)
        return max(1.0, WINDOW - (self.hub.now() - self._minute[0]).total_seconds())

    def _budget(self) -> Budget:
        """This minute's share, counted across the calls of a cycle (a page each) and across cycles."""
        now = self.hub.now()
        if self._minute is None or (now - self._minute[0]).total_seconds() >= WINDOW:
            self._minute = (now, 0)
        return Budget(self.client, self.settings.poll_budget, reserve=RESERVE, spent=self._minute[1])

    def _page(self, state: dict[str, Any], budget: Budget) -> tuple[list[Event], str]:
        """List the pass's current page and read the invitees of events that changed, while the budget allows;
        "page" (a next page), "done" (the pass ended) or "stopped" (budget or 429: this page again next time).

        An event read has its fingerprint recorded at once (in `snap`, which the listing compares with, and in
        the pass's `seen`), so what was read travels in the cursor returned and is not read again."""
        progress = state["pass"]
        params = {**self.account.scope_params(), "min_start_time": progress["min"], "sort": "start_time:asc"}
        items, next_token = self.client.scheduled_events_page(params, progress["page"])
        known: dict[str, str] = state["snap"]
        events: list[Event] = []
        read = False
        for scheduled_event in items:
            key, mark = uuid_of(str(scheduled_event.get("uri", ""))), fingerprint(scheduled_event)
            if known.get(key) != mark:
                if not budget.allows():
                    return events, "stopped"
                try:
                    events += self._invitee_facts(scheduled_event)
                except PluginNotReady:
                    if not read:
                        raise  # nothing read: the hub waits for the announced reset
                    return events, "stopped"
                known[key] = mark
                read = True
            progress["seen"][key] = mark
        if next_token:
            progress["page"] = next_token
            return events, "page"
        return events, "done"

    def resync_cursor(self, since: datetime | None) -> str | None:
        """Forget the fingerprints and re-read from `since` (default: the lookback window)."""
        state: dict[str, Any] = {"v": CURSOR_VERSION, "snap": {}}
        if since is not None:
            state["since"] = calendly_time(since)
        return _dump(state)


def sources_for(hub: HubContext, settings: Settings,
                client_factory: Callable[[], CalendlyClient] | None = None) -> list[Poller]:
    """The three pollers of a branch; they share one client so a rate-limit pause applies to all."""
    client = remember(hub, client_factory()) if client_factory else make_client(hub, settings)
    bookings = BookingPoller(hub, settings, client)
    no_shows = NoShowPoller(hub, settings, client)
    check = SubscriptionCheck(hub, settings, client)
    return [
        Poller(bookings.name, bookings.poll, settings.poll_interval, bookings.resync_cursor),
        Poller(no_shows.name, no_shows.poll, no_shows.interval),
        Poller(check.name, check.poll, settings.subscription_check_interval),
    ]


def _load(cursor: str | None) -> dict[str, Any]:
    """The cursor's state; a version 1 cursor keeps its fingerprints (its page in progress is started over),
    anything else re-reads the window (dedupe absorbs it)."""
    try:
        state = json.loads(cursor) if cursor else None
    except ValueError:
        state = None
    if not isinstance(state, dict) or state.get("v") not in (1, CURSOR_VERSION):
        return {"v": CURSOR_VERSION, "snap": {}}
    if state["v"] == 1:
        snap = state.get("snap")
        return {"v": CURSOR_VERSION, "snap": snap if isinstance(snap, dict) else {}}
    return state


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), sort_keys=True)
