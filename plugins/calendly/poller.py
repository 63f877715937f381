"""Polling Calendly: works on every plan, and stays on as the safety net when webhooks are used.

Calendly has no "changed since" filter on scheduled events (see docs/calendly.md in the research notes), so
the cursor keeps a fingerprint of every scheduled event in the window [now - lookback, +inf): status,
updated_at and invitee counters. A poll lists the window (one request while it fits one page of 100) and
reads the invitees only of events whose fingerprint changed: an idle poll costs exactly one request.
The fingerprints travel in the cursor, so they are committed together with the events they produced.

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
from hub.events import Event
from hub.sources import Poller, PollResult
from hub_calendly.account import Account, calendly_time, make_client
from hub_calendly.client import CalendlyClient, uuid_of
from hub_calendly.mapping import programme_for, safe_facts
from hub_calendly.plugin import Settings
from hub_calendly.subscription import SubscriptionCheck
from hub_calendly.sweep import NoShowPoller

CURSOR_VERSION = 1


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

    def poll(self, cursor: str | None) -> PollResult:
        state = _load(cursor)
        page_token: str | None = state.get("page")
        if page_token is None:
            since = state.pop("since", None)
            state["min"] = since or calendly_time(self.hub.now() - timedelta(seconds=self.settings.lookback))
            state["acc"] = {}
        params = {**self.account.scope_params(), "min_start_time": state["min"], "sort": "start_time:asc"}
        items, next_token = self.client.scheduled_events_page(params, page_token)
        known: dict[str, str] = state.get("snap", {})
        seen: dict[str, str] = state["acc"]
        events: list[Event] = []
        for scheduled_event in items:
            key, mark = uuid_of(str(scheduled_event.get("uri", ""))), fingerprint(scheduled_event)
            seen[key] = mark
            if known.get(key) != mark:
                events += self._invitee_facts(scheduled_event)
        if next_token:
            state["page"] = next_token
            return PollResult(events, _dump(state), more=True)
        new_state = {"v": CURSOR_VERSION, "snap": seen}
        return PollResult(events, _dump(new_state))

    def resync_cursor(self, since: datetime | None) -> str | None:
        """Forget the fingerprints and re-read from `since` (default: the lookback window)."""
        state: dict[str, Any] = {"v": CURSOR_VERSION, "snap": {}}
        if since is not None:
            state["since"] = calendly_time(since)
        return _dump(state)


def sources_for(hub: HubContext, settings: Settings,
                client_factory: Callable[[], CalendlyClient] | None = None) -> list[Poller]:
    """The three pollers of a branch; they share one client so a rate-limit pause applies to all."""
    client = client_factory() if client_factory else make_client(hub, settings)
    bookings = BookingPoller(hub, settings, client)
    no_shows = NoShowPoller(hub, settings, client)
    check = SubscriptionCheck(hub, settings, client)
    return [
        Poller(bookings.name, bookings.poll, settings.poll_interval, bookings.resync_cursor),
        Poller(no_shows.name, no_shows.poll, no_shows.interval),
        Poller(check.name, check.poll, settings.subscription_check_interval),
    ]


def _load(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {"v": CURSOR_VERSION, "snap": {}}
    try:
        state = json.loads(cursor)
    except ValueError:
        return {"v": CURSOR_VERSION, "snap": {}}
    if not isinstance(state, dict) or state.get("v") != CURSOR_VERSION:
        return {"v": CURSOR_VERSION, "snap": {}}  # an older cursor: re-read the window, dedupe absorbs it
    return state


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), sort_keys=True)
