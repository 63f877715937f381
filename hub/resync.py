"""`hub resync`: re-read sources from a date after an incident. Dedupe makes it idempotent; --force also
queues again the deliveries of events already delivered (sinks are idempotent by delivery key).

A source that fails (unreachable, credentials refused, no answer within the deadline) is reported in one
sentence and recorded like a failed poll; the other sources and branches go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import click

from hub.app import CycleReport, Hub
from hub.failures import FailureKind, classify
from hub.sources import Poller


@dataclass
class ResyncResult:
    new: int = 0
    redelivered: int = 0
    failures: list[str] = field(default_factory=list)


def resync(hub: Hub, *, branch: str | None = None, plugin: str | None = None, since: datetime | None = None,
           force: bool = False, echo: Callable[[str], None] = print, max_pages: int = 100_000,
           progress: bool = True, deadline: float | None = None) -> ResyncResult:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    wait = float(deadline or hub.config.hub.deadline)
    result = ResyncResult()
    for branch_id, pollers in hub.pollers.items():
        if branch not in (None, branch_id):
            continue
        for plugin_name, poller in pollers:
            if plugin not in (None, plugin_name):
                continue
            where = f"{branch_id}/{plugin_name}/{poller.name}"
            echo(f"{where}: re-reading" + (f" since {since:%Y-%m-%d}" if since else ""))
            failure = _read_one(hub, branch_id, plugin_name, poller, since, max_pages, progress, wait, result)
            if failure:
                result.failures.append(f"{where}: {failure}")
                hub.source_failed(CycleReport(), (branch_id, plugin_name, poller.name), failure)
                echo(f"  failed: {failure}")
                continue
            if force:
                result.redelivered += _redeliver(hub, branch_id, plugin_name, since)
    return result


def _read_one(hub: Hub, branch: str, plugin: str, poller: Poller, since: datetime | None, max_pages: int,
              progress: bool, wait: float, result: ResyncResult) -> str | None:
    """Re-read one source in a worker thread, waiting no longer than `wait` seconds without a page."""
    outcome: list[str | None] = []
    pages = threading.Event()
    bar = click.progressbar(length=0, label="  reading", show_pos=True) if progress else None

    def on_page(count: int, done_total: tuple[int, int] | None) -> None:
        pages.set()
        if bar is None:
            return
        if done_total:
            bar.length = done_total[1]
            bar.update(done_total[0] - bar.pos)
        else:
            bar.update(count)

    def work() -> None:
        try:
            result.new += hub.poll(branch, plugin, poller, cursor=poller.resync_cursor(since),
                                   use_stored_cursor=False, on_page=on_page, max_pages=max_pages)
            outcome.append(None)
        except Exception as exc:
            failure = classify(exc)
            if failure.kind is FailureKind.AUTH_FAILED:
                hub.incidents.plugin_paused(branch, plugin, exc, hub.clock())
            outcome.append(failure.message)

    thread = threading.Thread(target=work, name=f"resync-{branch}-{plugin}", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            pages.clear()
            thread.join(wait)
            if thread.is_alive() and not pages.is_set():
                return f"no answer within {wait:.0f} s"
    finally:
        if bar is not None:
            bar.render_finish()
    return outcome[0] if outcome else "stopped"


def _redeliver(hub: Hub, branch: str, source: str, since: datetime | None) -> int:
    count = 0
    now = hub.clock()
    with hub.store.transaction():
        for row in hub.store.events_since(branch, source, since):
            for sink in hub.sinks(branch, row.kind):
                if not hub.store.add_delivery(row.seq, sink, now):
                    hub.store.redeliver(row.seq, sink, now)
                count += 1
    return count
