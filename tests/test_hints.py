"""Every command the hub tells someone to run exists and parses: built by hub.hints, run through click."""

from __future__ import annotations

import inspect
import shlex
import warnings
from collections.abc import Callable
from typing import Any

import click
import pytest

from hub import hints
from hub.app import Hub
from hub.cli import cli
from hub.errors import PluginAuthFailed
from hub.plugins import PluginRegistry
from hub.testing import RecordingSink, make_event


def parses(command: str) -> None:
    """Resolve `hub ...` down to its command and parse its options, without running it."""
    args = shlex.split(command)
    assert args[0] == "hub", command
    registry = PluginRegistry.discover()
    registry.add_commands(cli)  # first-party plugin commands (`hub auth google`), whatever ran before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # click 8.2 deprecates protected_args
        ctx = cli.make_context("hub", args[1:], obj={"registry": registry}, resilient_parsing=False)
        group: click.Command = cli
        rest = [*ctx.protected_args, *ctx.args]
        while isinstance(group, click.Group) and rest:
            name, sub, rest = group.resolve_command(ctx, rest)
            assert sub is not None, command
            ctx = sub.make_context(name or "", rest, parent=ctx)
            group, rest = sub, [*ctx.protected_args, *ctx.args] if isinstance(sub, click.Group) else []


def sample_args(fn: Callable[..., str]) -> dict[str, Any]:
    values = {"branch": "lyon", "plugin": "gsheets", "fix": None}
    return {name: values[name] for name in inspect.signature(fn).parameters}


HINT_BUILDERS = [fn for name, fn in vars(hints).items()
                 if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == "hub.hints"
                 and name != "commands_in"]


@pytest.mark.parametrize("builder", HINT_BUILDERS, ids=lambda f: f.__name__)
def test_every_hint_is_a_command_that_parses(builder: Callable[..., str]) -> None:
    text = builder(**sample_args(builder))
    commands = hints.commands_in(text)
    assert commands, text
    for command in commands:
        parses(command)


def test_a_plugin_s_own_fix_is_kept_and_parses() -> None:
    text = hints.after_auth_failure("lyon", "gsheets", "hub auth google --branch lyon")
    assert hints.commands_in(text) == ["hub auth google --branch lyon", "hub retry --branch lyon --plugin gsheets"]
    for command in hints.commands_in(text):
        parses(command)


def test_a_command_that_does_not_exist_is_caught() -> None:
    with pytest.raises(click.UsageError):
        parses("hub auth gsheets --branch lyon")  # what the old pause reason told people to run


def test_every_fix_status_prints_parses(make_hub: Callable[..., Hub], register_plugin: Any) -> None:
    from hub import status

    sink = register_plugin("beta", RecordingSink())
    hub = make_hub({"lyon": {"plugins": ["beta"]}, "paris": {"plugins": ["beta"]}})
    sink.fail["candidate_registered"] = lambda: PluginAuthFailed("refused")
    hub.ingest("lyon", "beta", [make_event("candidate_registered")])
    hub.cycle()
    sink.fail["candidate_registered"] = RuntimeError("bad")
    hub.ingest("paris", "beta", [make_event("candidate_registered")])
    hub.cycle()
    text = status.render(status.collect(hub), {"broken": "ImportError: x"})
    lines = text.splitlines()
    fixes = [line.split("-> ", 1)[1] + "".join(" " + n.strip() for n in lines[i + 1:i + 2] if
                                               n.strip().startswith("then "))
             for i, line in enumerate(lines) if "-> " in line]
    assert len(fixes) == 3, text  # paused lyon, degraded paris, a plugin that did not load
    for fix in fixes:
        for command in hints.commands_in(fix):
            parses(command)
