"""Write docs/cli.md from the click command tree, first-party plugins' commands included (tests/test_docs.py
fails when the file is stale).

Run: .venv/bin/python tools/gen_cli_reference.py
"""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli import cli, common_options
from hub.plugins import PluginRegistry

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "cli.md"
FIRST_PARTY = ("calendly", "example", "gmail", "gsheets", "outlook", "webhooks_out")

HEADER = """# Command line reference

Generated from the commands themselves by `tools/gen_cli_reference.py` (a test fails when this page is stale).
`hub COMMAND --help` prints the same text.

## Options every command takes

They may stand before or after the command's name (`hub --config /etc/cravate-hub status` or
`hub status --config /etc/cravate-hub`).

{common}

## Shell completion

click generates it; add one line to your shell's start-up file:

```sh
eval "$(_HUB_COMPLETE=bash_source hub)"    # ~/.bashrc
eval "$(_HUB_COMPLETE=zsh_source hub)"     # ~/.zshrc
_HUB_COMPLETE=fish_source hub | source     # ~/.config/fish/completions/hub.fish
```
"""


def _options(params: list[click.Parameter], ctx: click.Context, skip: set[str]) -> str:
    rows = []
    for param in params:
        if not isinstance(param, click.Option) or param.hidden or param.name in skip:
            continue
        record = param.get_help_record(ctx)
        if record:
            rows.append(f"- `{record[0]}`: {record[1]}")
    return "\n".join(rows) or "(none)"


def _subcommands(group: click.Group, ctx: click.Context, out: list[str]) -> None:
    for sub_name in sorted(group.list_commands(ctx)):
        sub = group.get_command(ctx, sub_name)
        if sub is not None and not sub.hidden:
            _command(sub_name, sub, ctx, out)


def _command(name: str, command: click.Command, parent: click.Context, out: list[str]) -> None:
    ctx = click.Context(command, info_name=name, parent=parent, terminal_width=100, max_content_width=100)
    skip = {p.name for p in common_options()}
    if isinstance(command, click.Group):
        _subcommands(command, ctx, out)
        return
    path = ctx.command_path
    out += [f"## `{path}`", "", "```", command.get_usage(ctx).replace("Usage: ", ""), "```", ""]
    out += [click.unstyle(command.help or "").replace("\b\n", "").strip(), ""]
    out += ["Options:", "", _options(command.params, ctx, skip), ""]
    if command.epilog:
        out += ["```", command.epilog.replace("\b\n", "").strip(), "```", ""]


def render() -> str:
    registry = PluginRegistry.discover({"HUB_PLUGINS": ",".join(FIRST_PARTY)})
    registry.add_commands(cli)  # whatever registry the shared click tree saw first (tests use several)
    root = click.Context(cli, info_name="hub", obj={"registry": registry}, terminal_width=100, max_content_width=100)
    common = _options(common_options(), root, {"_logs"})
    out = [HEADER.format(common=common)]
    _subcommands(cli, root, out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
