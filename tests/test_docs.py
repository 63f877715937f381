"""The docs stay true: every hook has a heading with its signature, and the README shows the two commands."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from hub import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(hookspecs.EVENT_HOOKS + hookspecs.CONTRIBUTION_HOOKS + hookspecs.LANE_HOOKS)


@pytest.fixture(scope="module")
def hook_doc() -> str:
    return (ROOT / "docs" / "plugin-hooks.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook: str, hook_doc: str) -> None:
    assert re.search(rf"^### {hook}$", hook_doc, re.M), f"docs/plugin-hooks.md has no heading for {hook}"
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert re.search(rf"def {hook}\(", hook_doc) and all(p in hook_doc for p in params.split(", "))


def test_the_hook_lists_are_complete() -> None:
    specs = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "cravate_hub_spec")}
    assert specs == set(HOOKS)


def test_every_hook_docstring_says_when_it_fires() -> None:
    for hook in HOOKS:
        doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
        assert len(doc) > 80, f"{hook} needs a real docstring"


def test_readme_shows_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_hook_reference_is_up_to_date() -> None:
    import runpy

    generator = runpy.run_path(str(ROOT / "tools" / "gen_hook_docs.py"), run_name="gen_hook_docs")
    assert (ROOT / "docs" / "plugin-hooks.md").read_text(encoding="utf-8") == generator["render"](), (
        "docs/plugin-hooks.md is stale: run .venv/bin/python tools/gen_hook_docs.py")


def test_the_data_map_is_up_to_date() -> None:
    import runpy

    generator = runpy.run_path(str(ROOT / "tools" / "gen_data_map.py"), run_name="gen_data_map")
    assert (ROOT / "docs" / "data-map.md").read_text(encoding="utf-8") == generator["render"](), (
        "docs/data-map.md is stale: run .venv/bin/python tools/gen_data_map.py")


def test_the_cli_reference_is_up_to_date() -> None:
    import runpy

    generator = runpy.run_path(str(ROOT / "tools" / "gen_cli_reference.py"), run_name="gen_cli_reference")
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == generator["render"](), (
        "docs/cli.md is stale: run .venv/bin/python tools/gen_cli_reference.py")


def test_every_option_has_help_and_every_command_an_example() -> None:
    import click

    from hub.cli import cli
    from hub.plugins import PluginRegistry

    root = click.Context(cli, info_name="hub", obj={"registry": PluginRegistry.discover()})
    missing, no_example = [], []

    def walk(group: click.Group, ctx: click.Context) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None
            sub = click.Context(command, info_name=name, parent=ctx)
            if isinstance(command, click.Group):
                walk(command, sub)
                continue
            missing.extend(f"{sub.command_path} {p.name}" for p in command.params
                           if isinstance(p, click.Option) and not p.hidden and not p.help)
            if "hub " not in (command.epilog or ""):
                no_example.append(sub.command_path)
    walk(cli, root)
    assert not missing, f"options without help: {missing}"
    assert not no_example, f"commands without an example in their help: {no_example}"
