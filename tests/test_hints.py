"""Every command the hub tells someone to run exists and parses: built by hub.hints, run through click."""

from __future__ import annotations

import ast
import inspect
import re
import shlex
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest

from hub import hints
from hub.app import Hub
from hub.cli import cli
from hub.errors import PluginAuthFailed
from hub.plugins import PluginRegistry
from hub.testing import RecordingSink, make_event

ROOT = Path(__file__).resolve().parents[1]


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


def _literal_texts(path: Path) -> list[str]:
    """Every string literal of a module, f-strings with each placeholder as a sample branch name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings: never printed
    docstrings |= {id(part) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for part in n.values}
    out = []
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
        if isinstance(node, ast.JoinedStr):
            out.append("".join(v.value if isinstance(v, ast.Constant) else "lyon" for v in node.values))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
    return out


def _quoted_commands() -> set[str]:
    registry = PluginRegistry.discover()
    registry.add_commands(cli)
    names = "|".join(sorted(cli.list_commands(click.Context(cli)), key=len, reverse=True))
    pattern = re.compile(rf"\bhub (?:{names})\b(?: (?:--?[a-z][\w-]*|[\w./=-]+))*")
    found = set()
    for path in [*ROOT.joinpath("hub").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")]:
        for text in _literal_texts(path):
            text = re.sub(r"<[^<>]+>", "lyon", text.replace("\n", " "))  # a placeholder: <branch>, <autre dossier>
            found |= {m.group(0) for m in pattern.finditer(text)}
    return found


QUOTED = sorted(_quoted_commands())


def test_commands_are_quoted_in_the_code() -> None:
    assert len(QUOTED) > 20 and "hub auth google --branch lyon" in QUOTED


@pytest.mark.parametrize("command", QUOTED)
def test_every_command_quoted_in_the_code_parses(command: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages, pause fixes and hints written in plugins and the core name commands that exist (a file a
    command names is made, empty, so that click's existence check passes)."""
    monkeypatch.chdir(tmp_path)
    for arg in shlex.split(command):
        if arg.endswith((".json", ".toml")):
            (tmp_path / arg).write_text("{}", encoding="utf-8")
    parses(command)
