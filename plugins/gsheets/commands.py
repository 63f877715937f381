"""`hub gsheets rebuild --branch B` and the shared `hub auth google`."""

from __future__ import annotations

import click

from hub_google.commands import add_auth_command


def add_commands(cli: click.Group) -> None:
    add_auth_command(cli)
    if "gsheets" not in cli.commands:
        cli.add_command(gsheets_group)


@click.group("gsheets")
def gsheets_group() -> None:
    """Google Sheets connector: the tracking sheet."""


@gsheets_group.command("rebuild", epilog="\b\nExamples:\n  hub gsheets rebuild --branch lyon")
@click.option("--branch", required=True, help="The branch whose tracking sheet to rebuild.")
@click.pass_context
def rebuild(ctx: click.Context, branch: str) -> None:
    """Rewrite the hub's columns of every candidate's row (headers, drop-downs, rows staff deleted).

    Staff columns are not touched and no row is duplicated: rows are found by their hub id.
    """
    from hub.api import command_context
    from hub_gsheets.connector import Connector
    from hub_gsheets.tracking import known_candidates

    command = command_context(ctx, branch, "gsheets")
    connector = Connector(command.context)
    poller = next(p for p in connector.pollers() if p.name == "suivi")
    total = len(known_candidates(connector.hub))
    with click.progressbar(length=max(total, 1), label="Tableau de suivi", show_pos=True) as bar:
        def on_page(count: int, progress: tuple[int, int] | None) -> None:
            if progress:
                bar.update(progress[0] - bar.pos)
        command.reread(poller, on_page)
    click.echo(f"{total} ligne(s) réécrites dans le tableau de suivi de {branch}.")
