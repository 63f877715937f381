"""The hub at run time: configuration + store + each branch's plugins, and one cycle of work.

Work is cut into lanes, one per (branch, plugin): a lane polls that plugin's sources for that branch and
delivers that branch's events to that plugin. Lanes share nothing but the store, so the daemon runs each in
its own worker (hub/lanes.py) and a service that hangs delays only its own lane. `Hub.cycle()` runs every lane
in turn in the calling thread (tests, the testing kit); the phases are the same: poll, fire the schedule,
deliver.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hub import scheduler
from hub.config import HubConfig
from hub.context import HubContext
from hub.deferred import DeferredWrites
from hub.dispatch import Dispatcher, Undeliverable
from hub.events import Candidate, Event, EventKind
from hub.failures import FailureKind, classify
from hub.followup.links import FollowupLinks
from hub.hydrate import Hydrator
from hub.incidents import Incidents
from hub.ingest import Ingestor
from hub.lane_setup import LaneContributions, LaneSetup
from hub.logs import redact
from hub.messages.planner import Planner
from hub.messages.policy import MessagePolicy
from hub.plugins import BranchPlugins, PluginRegistry
from hub.privacy.forget import Eraser, Tombstones
from hub.privacy.journal import ErasureJournal
from hub.privacy.optout import OptOutLinks
from hub.privacy.share import Share
from hub.sources import Poller, WebhookRoute
from hub.store import Store, open_store

log = logging.getLogger("hub")
MAX_PAGES_PER_CYCLE = 50
MIN_AGAIN_AFTER = 1.0  # seconds: a source asking to be polled again sooner never makes the lane spin
Lane = tuple[str, str]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class CycleReport:
    polled: int = 0
    ingested: int = 0
    fired: int = 0
    delivered: int = 0
    errors: list[str] = field(default_factory=list)

    def merge(self, other: CycleReport) -> None:
        self.polled += other.polled
        self.ingested += other.ingested
        self.fired += other.fired
        self.delivered += other.delivered
        self.errors += other.errors


class Hub:
    def __init__(self, config: HubConfig, registry: PluginRegistry, *, clock: Callable[[], datetime] = utcnow,
                 store: Store | None = None) -> None:
        self.config = config
        self.registry = registry
        self.clock = clock
        self.store = store or open_store(config.db_path)
        self.share = Share(registry.data_uses(), {b: c.privacy.share for b, c in config.branches.items()})
        self.branches: dict[str, BranchPlugins] = {}
        for branch_id, branch in config.branches.items():
            pm = registry.manager([p for p in branch.plugins if p in registry.plugins])
            self.branches[branch_id] = BranchPlugins(branch_id, pm, self._context_factory(branch_id))
        self.optout_links = OptOutLinks(config.state_dir, config.hub.webhooks.public_url)
        self.followup_links = FollowupLinks(config.state_dir, config.hub.webhooks.public_url, clock)
        self.planner = Planner(self.store, config, self.channel, self.optout_links, self.followup_links)
        self.eraser = Eraser(self.store, self.branches, Tombstones(self.store, config.state_dir), clock,
                             ErasureJournal(config.state_dir))
        self.ingestor = Ingestor(self.store, config.branches, self.sinks, self.planner.on_stored,
                                 forgotten=self.eraser.is_forgotten)
        self.incidents = Incidents(self.store, {b: list(c.alerts) for b, c in config.branches.items()}, clock,
                                   mail=lambda b, to, key, text, fix: self.planner.staff_mail(b, to, key, text, fix,
                                                                                              self.clock()))
        policy = MessagePolicy(self.store, config, self.planner)
        self.hydrate = Hydrator(self.store, self.planner, self.eraser)
        self.dispatcher = Dispatcher(self.store, self.branches, config.hub.delivery, clock, self.incidents,
                                     gate=policy.check, hydrate=self.hydrate, share=self.share.event_for)
        self.setup = LaneSetup(self.store, self.branches, clock)
        self._next_poll: dict[tuple[str, str, str], float] = {}
        self._again_after: dict[tuple[str, str, str], float] = {}  # a source's own "sooner" for its next poll
        self._needs_call_checked: dict[str, float] = {}
        self._retention_checked = 0.0
        self._monthly_next = datetime.min.replace(tzinfo=UTC)

    def _context_factory(self, branch_id: str) -> Callable[[str], HubContext]:
        cache: dict[str, HubContext] = {}

        def context(plugin: str) -> HubContext:
            if plugin not in cache:
                branch = self.config.branches[branch_id]
                cache[plugin] = HubContext(store=self.store, branch=branch, plugin=plugin,
                                           settings=branch.settings.get(plugin), state_dir=self.config.state_dir,
                                           zone=self.config.zone(branch_id), clock=self.clock,
                                           public_url=self.config.hub.webhooks.public_url,
                                           fleet=lambda: self.config.branches,
                                           default_poll_interval=float(self.config.hub.poll_interval),
                                           wake=self.poll_soon, share=self.share, ingest=self.ingest)
            return cache[plugin]
        return context

    def message_subject(self, body: str) -> str:
        """The subject a stored message has (or had) when written out from the person's record; '' when it
        cannot be written any more (the person erased, no address)."""
        try:
            message = self.hydrate(Event.model_validate_json(body)).message
        except Undeliverable:
            return ""
        return message.subject if message is not None else ""

    def context(self, branch: str, plugin: str) -> HubContext:
        return self.branches[branch].context(plugin)

    def sinks(self, branch: str, kind: str) -> list[str]:
        """The plugins that get one delivery of an event of this kind (messages: their channel, chosen by the
        planner, not every plugin implementing `message_due`)."""
        plugins = self.branches.get(branch)
        if plugins is None or kind == EventKind.MESSAGE_DUE.value:
            return []
        return plugins.sinks_for(kind)

    def channel(self, branch: str, medium: str) -> str | None:
        """The plugin that delivers `medium` for a branch: `channels` in its file, else the only enabled plugin
        that can (implements `message_due`), else None (messages are then recorded as skipped)."""
        plugins = self.branches.get(branch)
        if plugins is None:
            return None
        able = plugins.sinks_for(EventKind.MESSAGE_DUE.value)
        chosen = self.config.branches[branch].channels.get(medium)
        if chosen is not None:
            return chosen if chosen in able else None
        return able[0] if len(able) == 1 else None

    # --- sources -----------------------------------------------------------------------------------------------

    @property
    def pollers(self) -> dict[str, list[tuple[str, Poller]]]:
        """Every branch's sources, per plugin, of the lanes set up (a lane whose setup fails is retried when
        its backoff ends; see hub/lane_setup.py)."""
        out: dict[str, list[tuple[str, Poller]]] = {b: [] for b in self.branches}
        for lane in self.lanes():
            contributions = self.setup.get(lane)
            if contributions is not None:
                out[lane[0]] += [(lane[1], poller) for poller in contributions.sources]
        return out

    def lane_contributions(self, lane: Lane, errors: list[str] | None = None) -> LaneContributions | None:
        """The lane's sources and webhook routes; None while its setup fails (recorded, retried)."""
        return self.setup.get(lane, errors=errors)

    def webhook_route(self, branch: str, plugin: str, path: str) -> WebhookRoute | None:
        contributions = self.setup.get((branch, plugin))
        routes = contributions.routes if contributions is not None else []
        return next((route for route in routes if route.path == path), None)

    def webhook_routes(self) -> dict[tuple[str, str, str], WebhookRoute]:
        return {(branch, plugin, route.path): route for branch, plugin in self.lanes()
                if (done := self.setup.get((branch, plugin))) is not None for route in done.routes}

    def ingest(self, branch: str, plugin: str, events: Sequence[Event], *, source: str | None = None,
               cursor: str | None = None) -> list[Event]:
        try:
            stored = self.ingestor.ingest(branch, plugin, events, self.clock(), source=source, cursor=cursor)
        except BaseException:
            self.planner.bounces.clear()  # rolled back: nothing to tell
            raise
        self._after_commit(stored)
        return stored

    def store_webhook(self, branch: str, plugin: str, events: Sequence[Event], writes: DeferredWrites) -> list[Event]:
        """A webhook's events and what its handler wrote, in one transaction group-committed with the webhooks
        arriving at the same moment; returns once durable (the receiver answers 2xx only then)."""
        cleaned = self.ingestor.clean(branch, events)  # outside the writer's lock

        def job() -> list[Event]:
            writes.apply(self.store)
            return self.ingestor.ingest_cleaned(branch, plugin, cleaned, self.clock()) if cleaned else []
        try:
            stored = self.store.batched(job)
        except BaseException:
            self.planner.bounces.clear()
            raise
        self._after_commit(stored)
        return stored

    def _after_commit(self, stored: list[Event]) -> None:
        while self.planner.bounces:  # after the commit: an alert may take seconds, never inside a transaction
            bounced_branch, candidate = self.planner.bounces.pop()
            self.incidents.address_bounced(bounced_branch, candidate)
        for event in stored:
            log.debug("event stored", extra={"event": event.describe()})

    def poll(self, branch: str, plugin: str, poller: Poller, *, cursor: str | None = None,
             use_stored_cursor: bool = True, on_page: Callable[[int, tuple[int, int] | None], None] | None = None,
             max_pages: int = MAX_PAGES_PER_CYCLE, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Poll one source until it has no more pages (bounded); returns the number of new events."""
        if use_stored_cursor:
            cursor = self.store.cursor(branch, plugin, poller.name)
        new = 0
        self._again_after.pop((branch, plugin, poller.name), None)
        for _ in range(max_pages):
            result = poller.poll(cursor)
            if result.again_after is not None:  # the source wants the next poll sooner than its interval
                self._again_after[(branch, plugin, poller.name)] = result.again_after
            new += len(self.ingest(branch, plugin, result.events, source=poller.name, cursor=result.cursor))
            cursor = result.cursor
            if on_page:
                on_page(len(result.events), result.progress)
            if not result.more or should_stop():
                break
        if new:  # one line per read that brought something (events are logged at debug)
            log.info("source read", extra={"branch": branch, "plugin": plugin, "source": poller.name, "new": new})
        return new

    def poll_soon(self, branch: str, plugin: str, source: str) -> None:
        """The source is due at the daemon's next tick (HubContext.poll_soon); one dict write, any thread."""
        self._next_poll[(branch, plugin, source)] = 0.0

    # --- lanes -----------------------------------------------------------------------------------------------

    def lanes(self) -> list[Lane]:
        """Every (branch, plugin) pair that may have work: each enabled plugin of each branch."""
        return [(branch, plugin) for branch, plugins in sorted(self.branches.items()) for plugin in plugins.names]

    def poll_lane(self, lane: Lane, report: CycleReport, *, force: bool = False,
                  should_stop: Callable[[], bool] = lambda: False,
                  on_source: Callable[[str | None], None] | None = None) -> None:
        """Poll the due sources of one (branch, plugin); failures are recorded, never raised."""
        branch, plugin = lane
        if self.store.pauses().get(lane) is not None:
            return
        contributions = self.setup.get(lane, errors=report.errors, force=force)
        if contributions is None:
            return
        default = self.config.branches[branch].poll_interval or self.config.hub.poll_interval
        for poller in contributions.sources:
            if should_stop():
                break
            key = (branch, plugin, poller.name)
            mono = time.monotonic()
            if not force and self._next_poll.get(key, 0) > mono:
                continue
            interval = poller.interval or default
            self._next_poll[key] = mono + interval
            if on_source:
                on_source(poller.name)
            try:
                report.ingested += self.poll(branch, plugin, poller, should_stop=should_stop)
                report.polled += 1
                again = self._again_after.pop(key, None)
                if again is not None:
                    self._next_poll[key] = mono + min(interval, max(again, MIN_AGAIN_AFTER))
            except Exception as exc:  # one broken source never stops the others
                failure = classify(exc)
                if failure.kind is FailureKind.UNEXPECTED:
                    log.error("source failed", exc_info=True,
                              extra={"branch": branch, "plugin": plugin, "source": poller.name})
                self.source_failed(report, key, failure.message)
                if failure.retry_after:
                    self._next_poll[key] = mono + max(interval, failure.retry_after)
                if failure.kind is FailureKind.AUTH_FAILED:
                    self.incidents.plugin_paused(branch, plugin, exc, self.clock())
                    break
            finally:
                if on_source:
                    on_source(None)

    def deliver_lane(self, lane: Lane, report: CycleReport, *, max_batches: int = 1000,
                     should_stop: Callable[[], bool] = lambda: False) -> None:
        branch, plugin = lane
        report.delivered += self.dispatcher.drain(max_batches, branch=branch, plugin=plugin,
                                                  should_stop=should_stop, failures=report.errors)

    def poll_due(self, report: CycleReport, *, force: bool = False) -> None:
        for lane in self.lanes():
            self.poll_lane(lane, report, force=force)

    def source_failed(self, report: CycleReport, key: tuple[str, str, str], message: str) -> None:
        branch, plugin, name = key
        message = redact(message)
        report.errors.append(f"{branch}/{plugin}/{name}: {message}")
        self.store.source_failed(branch, plugin, name, message, self.clock())
        log.warning("source failed", extra={"branch": branch, "plugin": plugin, "source": name, "error": message})

    # --- one cycle -------------------------------------------------------------------------------------------

    def dead_letter_unrouted(self) -> None:
        count = self.store.dead_letter_unrouted(self.lanes(), self.clock())
        if count:
            log.error("deliveries to a plugin no longer enabled marked dead", extra={"count": count,
                                                                                 "fix": "hub deliveries --failed"})

    def fire_schedule(self) -> int:
        fired = scheduler.fire_due(self.store, self.clock(), self.sinks, after_store=self.planner.on_stored)
        self._needs_call_alerts()
        self._retention()
        self._monthly_reports()
        self.eraser.finish()
        return fired

    def _monthly_reports(self) -> None:
        """The monthly report mails (hub.report.monthly), looked at once an hour, and at the moment one is due
        (the hub's clock: the demo and the tests move it)."""
        now = self.clock()
        if now < self._monthly_next:
            return
        from hub.report.monthly import CHECK_EVERY, run
        try:
            self._monthly_next = run(self, now)
        except Exception:  # a report that cannot be made now: logged, tried again in an hour
            log.error("monthly report failed", exc_info=True)
            self._monthly_next = now + CHECK_EVERY

    def _retention(self) -> None:
        """The daily retention purge (hub.privacy.retention), looked at once an hour per process."""
        if time.monotonic() < self._retention_checked:
            return
        self._retention_checked = time.monotonic() + 3600
        from hub.privacy.retention import purge_due
        try:
            purge_due(self, self.clock())
        except Exception:  # the store busy, a branch misconfigured: logged, tried again in an hour
            log.error("retention purge failed", exc_info=True)

    def _needs_call_alerts(self) -> None:
        """Once an hour per branch: a `candidate_needs_call` event for each person who registered and booked
        nothing (once per person; sinks show it), and the staff alert (at most once a day)."""
        now = self.clock().timestamp()  # the hub's clock: the demo and the tests move it
        for branch_id, branch in self.config.branches.items():
            if self._needs_call_checked.get(branch_id, now - 7200) > now - 3600:
                continue
            self._needs_call_checked[branch_id] = now
            before = self.clock() - timedelta(seconds=branch.messages.needs_call_after)
            waiting = self.store.waiting_for_booking(branch_id, before)
            if waiting:
                self.ingest(branch_id, "hub", [Event(kind=EventKind.CANDIDATE_NEEDS_CALL, occurred_at=self.clock(),
                                                     source_id=f"{cid}:needs_call", candidate=Candidate(id=cid))
                                               for cid in waiting])  # once per person: the store dedupes
                if branch.alerts:
                    self.incidents.needs_call(branch_id, len(waiting))

    def cycle(self, *, force_poll: bool = False, max_batches: int = 1000) -> CycleReport:
        """Every lane in turn, in this thread: poll, fire the schedule, deliver."""
        report = CycleReport()
        self.dead_letter_unrouted()
        self.poll_due(report, force=force_poll)
        report.fired = self.fire_schedule()
        for lane in self.lanes():
            self.deliver_lane(lane, report, max_batches=max_batches)
        self.eraser.finish()  # an erasure whose last tool answered in this cycle is closed now
        return report

    def close(self) -> None:
        """Close every lane's clients (`close_lane`, each plugin alone), then the store."""
        try:
            self.setup.close()
        finally:
            self.store.close()
