"""What a plugin's own CLI commands may use: the branch's context, resuming a pause, re-reading a source.

Plugin commands used to reach `hub.cli.open_hub` and the store; this is the documented way instead, so the
core can change behind it (issue 9 goes on to make this module the whole plugin-facing surface).

    @click.command()
    @click.option("--branch", required=True, help="...")
    @click.pass_context
    def rebuild(ctx, branch):
        command = command_context(ctx, branch, "gsheets")
        ...command.context (a HubContext), command.resume(), command.reread(poller)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from hub.app import Hub
    from hub.config import BranchConfig
    from hub.context import HubContext
    from hub.sources import Poller

__all__ = ["CommandContext", "command_context", "retry_after"]


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, in either form RFC 9110 §10.2.3 allows: delay-seconds
    ("120") or an HTTP-date ("Wed, 21 Oct 2026 07:28:00 GMT"); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class CommandContext:
    """One branch, seen from one plugin's command (closed with the command)."""

    def __init__(self, hub: Hub, branch: str, plugin: str | None) -> None:
        self._hub = hub
        self.branch = branch
        self.plugin = plugin

    @property
    def branch_config(self) -> BranchConfig:
        return self._hub.config.branches[self.branch]

    @property
    def context(self) -> HubContext:
        """The plugin's context for this branch, the same object its hooks receive."""
        if self.plugin is None:
            raise ValueError("no plugin named: use context_of(plugin)")
        return self.context_of(self.plugin)

    def context_of(self, plugin: str) -> HubContext:
        """The context of a sibling plugin of the branch (Sheets and Gmail share one Google consent)."""
        return self._hub.context(self.branch, plugin)

    def resume(self, plugin: str | None = None) -> bool:
        """End a pause (after new credentials); True when the plugin was paused."""
        return self._hub.store.resume(self.branch, plugin or str(self.plugin))

    def reread(self, poller: Poller, on_page: Callable[[int, tuple[int, int] | None], None] | None = None) -> int:
        """Re-read a source of this plugin from its beginning now (dedupe keeps it harmless); new events."""
        return self._hub.poll(self.branch, str(self.plugin), poller, cursor=poller.resync_cursor(None),
                              use_stored_cursor=False, on_page=on_page, max_pages=100_000)


def command_context(ctx: click.Context, branch: str, plugin: str | None = None) -> CommandContext:
    """The branch's context for a plugin command; a usage error (exit 2, with a did-you-mean) when the branch
    does not exist or does not enable the plugin."""
    from hub import cli

    hub = cli.open_hub(ctx)  # looked up on the module: tests replace it
    cli.known(branch, hub.branches, "branch", "--branch")
    if plugin is not None and plugin not in hub.branches[branch].names:
        raise click.UsageError(f"branch {branch!r} does not enable {plugin!r}: add it to plugins in "
                               f"branches/{branch}.toml, then run: hub config check")
    return CommandContext(hub, branch, plugin)
