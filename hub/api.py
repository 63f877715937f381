"""The plugin-facing helpers: what a connector may use of the core besides `hub.context`, `hub.events`,
`hub.sources`, `hub.errors` and `hub.sandbox` (a test keeps first-party plugins to these modules).

- the vendor boundary (hub.vendor): `check_response`, `failure_for`, `failure_from_exception` map a service's
  answers and network errors onto the failure taxonomy; `retry_after` reads Retry-After in both forms;
- secret files (hub.secrets): `write_secret` (atomic, 0600) and `read_secret` (refuses a file others can read);
  a HubContext has the same as `hub.write_secret(name, text)` / `hub.read_secret(name)`;
- settings value types and `check_branch` helpers: `Seconds`, `BranchConfig`, `programme_checks`, `location`,
  and `default_secret_env` for sandboxes (imported on first use: `import hub.api` stays cheap);
- `LaneClients`, one httpx client per lane shared by a connector's calls (built once, rebuilt when its
  settings change, closed with the lane);
- `DataUse`, what a plugin registers with `register_data_uses` (the fields it copies into its tool);
- plugin commands: `command_context(ctx, branch, plugin)`, then `.context`, `.resume()`, `.reread(poller)`;
- input hygiene (hub.hygiene), applied by the hub at ingest anyway: `clean_candidate(candidate, region)` lets a
  source that knows a row and column report a left-out value there (same rules: nothing reported twice);
  `clean_text`, `clean_name`, `clean_email`, `clean_phone`, `display_phone`, `clean_sex` (F, M or X),
  `clean_birth_year` (a year or a date of birth -> the year), `InvalidValue`, `Rejected`; and
  `spreadsheet_safe(value)` for every cell of a CSV or spreadsheet file a plugin writes (formula injection).

    @click.command()
    @click.option("--branch", required=True, help="...")
    @click.pass_context
    def rebuild(ctx, branch):
        command = command_context(ctx, branch, "gsheets")
        ...command.context (a HubContext), command.resume(), command.reread(poller)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from hub.secrets import read_secret, write_secret
from hub.vendor import check_response, failure_for, failure_from_exception, retry_after

if TYPE_CHECKING:
    from hub.app import Hub
    from hub.clients import LaneClients
    from hub.config import BranchConfig
    from hub.config.checks import location, programme_checks
    from hub.config.env import default_secret_env
    from hub.context import HubContext
    from hub.durations import Seconds
    from hub.hygiene import (
        InvalidValue,
        Rejected,
        clean_birth_year,
        clean_candidate,
        clean_email,
        clean_name,
        clean_phone,
        clean_sex,
        clean_text,
        display_phone,
        spreadsheet_safe,
    )
    from hub.identity import email_key, phone_key
    from hub.privacy.share import DataUse
    from hub.sources import Poller

__all__ = [
    "BranchConfig",
    "CommandContext",
    "DataUse",
    "InvalidValue",
    "LaneClients",
    "Rejected",
    "Seconds",
    "check_response",
    "clean_birth_year",
    "clean_candidate",
    "clean_email",
    "clean_name",
    "clean_phone",
    "clean_sex",
    "clean_text",
    "command_context",
    "default_secret_env",
    "display_phone",
    "email_key",
    "failure_for",
    "failure_from_exception",
    "location",
    "phone_key",
    "programme_checks",
    "read_secret",
    "retry_after",
    "spreadsheet_safe",
    "write_secret",
]

_LAZY = {  # re-exported on first use: their modules import pydantic-settings, zoneinfo's database...
    "BranchConfig": "hub.config",  # what a settings model's check_branch(branch) receives
    "Seconds": "hub.durations",  # settings field type for intervals written 300 or "5m"
    "default_secret_env": "hub.config.env",  # HUB_<BRANCH>_<PLUGIN>_<FIELD>, for a sandbox's demo_environ
    "location": "hub.config.checks",  # a key path as config problems print it: event_types."x".programme
    "programme_checks": "hub.config.checks",  # check_branch helper: a programme (and module) must exist
    "LaneClients": "hub.clients",  # one httpx client per lane, rebuilt when its settings change
    "DataUse": "hub.privacy.share",  # what register_data_uses registers: a place in the tool and its fields
    "email_key": "hub.identity",  # how the hub compares e-mails (case and Unicode form ignored)
    "phone_key": "hub.identity",  # how the hub compares phones (the last nine digits)
    **dict.fromkeys(("InvalidValue", "Rejected", "clean_birth_year", "clean_candidate", "clean_email", "clean_name",
                     "clean_phone", "clean_sex", "clean_text", "display_phone", "spreadsheet_safe"),
                    "hub.hygiene"),  # input hygiene
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class CommandContext:
    """One branch, seen from one plugin's command (closed with the command)."""

    def __init__(self, hub: Hub, branch: str, plugin: str | None) -> None:
        self._hub = hub
        self.branch = branch
        self.plugin = plugin

    @property
    def branch_config(self) -> BranchConfig:
        """The branch's validated configuration, as the plugin's context has it."""
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
