"""The no-show sweep: re-reads the invitees of sessions that already started, a little at a time.

No-shows are marked on the invitee and do not touch the scheduled event, so nothing cheaper than reading each
started session's invitees finds them (and on the Free plan no webhook brings them). Read in one go, a week of
sessions costs 1 + N requests: at the Free plan's 50 requests a minute a branch with ~50 sessions a week got
429, lost its progress and never finished, and its 429 stopped the booking poller sharing the client.

What a tool that must work under any rate limit does, and this one does:

* a *pass* over the window [now - lookback, pass start), at most one every `no_show_interval`, walked in
  start-time order with its position (start time and the sessions done at that time) in the cursor, which is
  committed with the outcomes it produced: a crash or a 429 loses at most the session being read;
* each *run* (one call, every minute while a pass is under way) spends at most `no_show_budget` of the plan's
  per-minute budget, the plan being read from the X-RateLimit-Limit header every answer carries (50 Free, 500
  paid; https://developer.calendly.com/api-docs/overview/rate-limits), and stops early when
  X-RateLimit-Remaining falls to the same reserve, so other pollers and other branches on the same Calendly
  user always have requests left; a run that is refused keeps what it read before;
* sessions of event types the branch does not follow cost nothing (the listing says their type);
* a no-show taken back is noticed: the invitee ids seen as no-shows (ids only) are kept in the cursor, and
  one found without its no-show becomes the same `absence_withdrawn` outcome the webhook gives (same key).

What it does not do: skip sessions already marked (staff may take a no-show back) or read older sessions less
often (staff mark no-shows at any time in the week). A 72-session week at 50/min is read in 8 runs of at most
10 requests (tests/plugins/calendly/test_calendly_no_show_sweep.py).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from hub.context import HubContext
from hub.errors import PluginNotReady
from hub.events import Event, EventKind
from hub.sources import PollResult
from hub_calendly.account import Account, calendly_time
from hub_calendly.client import CalendlyClient, uuid_of
from hub_calendly.mapping import forget_no_show, parse_time, programme_for, remember_no_show, safe_facts, withdrawal
from hub_calendly.plugin import Settings

SWEEP_VERSION = 2
FREE_PLAN_LIMIT = 50  # assumed until Calendly's first answer tells the plan's limit
WINDOW = 60.0  # Calendly's rate-limit window: a pass under way is given one run a minute


class Budget:
    """The requests one run may make: its share of the plan's minute, and never below the reserve left.

    `reserve` is the share of the minute left to others (default: as much as the run's own share); `spent`
    counts what the same poller already spent earlier in this minute (the booking poller's budget spans the
    calls of one cycle)."""

    def __init__(self, client: CalendlyClient, share: float, *, reserve: float | None = None,
                 spent: int = 0) -> None:
        self.client, self.share, self.reserve_share = client, share, reserve
        self.start = client.requests - spent

    def _of_limit(self, share: float) -> int:
        return max(2, int((self.client.rate_limit or FREE_PLAN_LIMIT) * share))

    @property
    def cap(self) -> int:
        """The run's share of the plan's minute, from the latest answer (the plan may have changed)."""
        return self._of_limit(self.share)

    @property
    def reserve(self) -> int:
        return self.cap if self.reserve_share is None else self._of_limit(self.reserve_share)

    @property
    def spent(self) -> int:
        return self.client.requests - self.start

    def allows(self, more: int = 1) -> bool:
        remaining = self.client.remaining()
        reserve_kept = remaining is None or remaining - more >= self.reserve
        return self.spent + more <= self.cap and reserve_kept


class NoShowPoller:
    """Sessions that already started in the lookback window: their invitees, for no-shows marked or taken back."""

    name = "calendly-no-shows"

    def __init__(self, hub: HubContext, settings: Settings, client: CalendlyClient) -> None:
        self.hub, self.settings, self.client = hub, settings, client
        self.account = Account(hub, settings, client)

    @property
    def interval(self) -> float:
        return min(self.settings.no_show_interval, WINDOW)

    def poll(self, cursor: str | None) -> PollResult:
        now = self.hub.now()
        state = _load(cursor)
        if state.get("pass") is None:
            if state.get("next") and now < parse_time(state["next"], "next"):
                return PollResult([], cursor)  # the last pass is recent enough: no request at all
            state["pass"] = {"max": calendly_time(now), "started": calendly_time(now), "at": None, "done": []}
        events, complete = self._run(state, Budget(self.client, self.settings.no_show_budget))
        if complete:
            self._finish(state, now)
        return PollResult(events, _dump(state))

    def _run(self, state: dict[str, Any], budget: Budget) -> tuple[list[Event], bool]:
        """Read sessions from the pass's position while the budget allows; (outcomes, whether the pass ended)."""
        events: list[Event] = []
        progressed = False
        try:
            if not budget.allows(2):  # a listing and one session's invitees
                return events, False
            items, more = self._list(state["pass"], budget)
            for scheduled_event in items:
                if not budget.allows():
                    return events, False
                events += self._session(scheduled_event, state)
                _advance(state["pass"], scheduled_event)
                progressed = True
        except PluginNotReady:
            if not progressed:
                raise  # nothing read: the hub waits for the announced reset
            return events, False  # keep what was read; the next run goes on from here
        return events, not more

    def _list(self, sweep: dict[str, Any], budget: Budget) -> tuple[list[dict[str, Any]], bool]:
        """The next sessions of the pass (one request); whether more remain after them."""
        floor = self.hub.now() - timedelta(seconds=self.settings.lookback)
        at = parse_time(sweep["at"], "at") if sweep["at"] else floor
        count = min(100, max(1, budget.cap - budget.spent - 1) + len(sweep["done"]))
        params = {**self.account.scope_params(), "status": "active", "sort": "start_time:asc", "count": count,
                  "min_start_time": calendly_time(max(at, floor)), "max_start_time": sweep["max"]}
        items, token = self.client.scheduled_events_page(params)
        done = set(sweep["done"])
        return [e for e in items if uuid_of(str(e.get("uri", ""))) not in done], token is not None

    def _session(self, scheduled_event: dict[str, Any], state: dict[str, Any]) -> list[Event]:
        if programme_for(self.settings, scheduled_event) is None:
            return []  # an event type the branch does not follow: no request
        out: list[Event] = []
        for invitee in self.client.invitees(str(scheduled_event["uri"])):
            out += self._invitee(scheduled_event, invitee, state["absent"])
        return out

    def _invitee(self, scheduled_event: dict[str, Any], invitee: dict[str, Any],
                 absent: dict[str, list[Any]]) -> list[Event]:
        """The absence of a no-show; the withdrawal of an absence this sweep saw and Calendly no longer has."""
        facts = safe_facts(self.hub, self.settings, scheduled_event, invitee)
        key = uuid_of(str(invitee.get("uri", "")))
        no_show = invitee.get("no_show")
        if isinstance(no_show, dict):
            no_show_id = uuid_of(str(no_show.get("uri") or ""))
            absent[key] = [no_show_id, calendly_time(parse_time(scheduled_event.get("start_time"), "start_time"))]
            remember_no_show(self.hub, key, no_show_id)
            return [e for e in facts if e.outcome is not None]
        known = absent.pop(key, None)
        booked = [e for e in facts if e.kind is EventKind.SESSION_BOOKED]
        if known is None or not booked:
            return []
        forget_no_show(self.hub, key)
        return [withdrawal(booked[0], calendly_time(self.hub.now()), invitee, str(known[0]))]

    def _finish(self, state: dict[str, Any], now: datetime) -> None:
        """End the pass: the next one is due `no_show_interval` after this one started; forget the absences of
        sessions that left the window."""
        started = parse_time(state.pop("pass")["started"], "started")
        state["next"] = calendly_time(started + timedelta(seconds=self.settings.no_show_interval))
        floor = calendly_time(now - timedelta(seconds=self.settings.lookback))
        gone = [k for k, v in state["absent"].items() if v[1] < floor]
        for key in gone:
            del state["absent"][key]
            forget_no_show(self.hub, key)


def _advance(sweep: dict[str, Any], scheduled_event: dict[str, Any]) -> None:
    """Move the position past this session (several may start at the same time)."""
    start, key = str(scheduled_event["start_time"]), uuid_of(str(scheduled_event["uri"]))
    normalised = calendly_time(parse_time(start, "start_time"))
    if sweep["at"] == normalised:
        sweep["done"].append(key)
    else:
        sweep["at"], sweep["done"] = normalised, [key]


def _load(cursor: str | None) -> dict[str, Any]:
    """The sweep's state; anything else (none, an older version's timestamp) starts a pass now."""
    try:
        state = json.loads(cursor) if cursor else None
    except ValueError:
        state = None
    if not isinstance(state, dict) or state.get("v") != SWEEP_VERSION:
        return {"v": SWEEP_VERSION, "absent": {}}
    return state


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), sort_keys=True)
