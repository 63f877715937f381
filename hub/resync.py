"""`hub resync`: re-read sources from a date after an incident. Dedupe makes it idempotent; --force also
queues again the deliveries of events already delivered (sinks are idempotent by delivery key)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import click

from hub.app import Hub


@dataclass
class ResyncResult:
    new: int = 0
    redelivered: int = 0


def resync(hub: Hub, *, branch: str | None = None, plugin: str | None = None, since: datetime | None = None,
           force: bool = False, echo: Callable[[str], None] = print, max_pages: int = 100_000) -> ResyncResult:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    result = ResyncResult()
    for branch_id, pollers in hub.pollers.items():
        if branch not in (None, branch_id):
            continue
        for plugin_name, poller in pollers:
            if plugin not in (None, plugin_name):
                continue
            echo(f"{branch_id}/{plugin_name}/{poller.name}: re-reading" + (f" since {since:%Y-%m-%d}" if since else ""))
            with click.progressbar(length=0, label="  reading", show_pos=True) as bar:
                def on_page(count: int, progress: tuple[int, int] | None, bar: click.progressbar = bar) -> None:
                    if progress:
                        bar.length = progress[1]
                        bar.update(progress[0] - bar.pos)
                    else:
                        bar.update(count)
                result.new += hub.poll(branch_id, plugin_name, poller, cursor=poller.resync_cursor(since),
                                       use_stored_cursor=False, on_page=on_page, max_pages=max_pages)
            if force:
                result.redelivered += _redeliver(hub, branch_id, plugin_name, since)
    return result


def _redeliver(hub: Hub, branch: str, source: str, since: datetime | None) -> int:
    count = 0
    now = hub.clock()
    with hub.store.transaction():
        for row in hub.store.events_since(branch, source, since):
            for sink in hub.sinks(branch, row["kind"]):
                if not hub.store.add_delivery(row["seq"], sink, now):
                    hub.store.redeliver(row["seq"], sink, now)
                count += 1
    return count
