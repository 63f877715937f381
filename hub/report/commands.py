"""`hub report`: the key figures of a period, per branch and for the network, as JSON, CSV or an HTML page.

What is printed is the publishable view (small counts hidden) unless `--raw`, which is for the branch's own
staff only. Options and help are in English like every command; the figures, labels and definitions are French.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

if TYPE_CHECKING:
    from hub.report.model import Report

__all__ = ["default_period", "report_command"]

EXAMPLES = "\b\nExamples:\n"


def default_period(today: date) -> tuple[date, date]:
    """The previous calendar month: (its first day, its last day)."""
    first_of_this_month = today.replace(day=1)
    last = first_of_this_month - timedelta(days=1)
    return last.replace(day=1), last


@click.command("report", epilog=EXAMPLES + (
    "  hub report                                   # last month, every branch and the network, JSON\n"
    "  hub report --from 2026-01-01 --to 2026-12-31 --format csv --output bilan-2026.csv\n"
    "  hub report --branch lyon --from 2026-03-01 --to 2026-03-31\n"
    "  hub report --branch lyon --raw --output lyon-mars.json     # the branch's staff only\n"
    "  hub report --from 2026-01-01 --to 2026-12-31 --format html    # rapport-reseau-2026-01-01-2026-12-31.html"))
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="First day of the period [default: the first day of last month].")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="Last day of the period, included [default: the last day of last month].")
@click.option("--branch", metavar="BRANCH", help="Only this branch's figures (hidden exactly as in the network's "
                                                  "report, so the two cannot be subtracted from each other).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "html"]), default="json", show_default=True,
              help="json for machines, csv (semicolons, French headers) for a spreadsheet, html for people: one "
                   "self-contained page with charts, to open offline or print on A4 (always written to a file).")
@click.option("--raw", is_flag=True,
              help="Every count, small ones included: for the branch's own staff (and the network's coordinating "
                   "team), never to be sent outside. Without it, counts below [report] small_count show as "
                   "\"< 5\" and what would reveal them is hidden.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (mode 0600) instead of the standard output [html: default "
                   "rapport-<branch or reseau>-<from>-<to>.html in the current directory, ending -interne.html "
                   "with --raw].")
@click.pass_context
def report_command(ctx: click.Context, first: datetime | None, last: datetime | None, branch: str | None, fmt: str,
                   raw: bool, output: Path | None) -> None:
    """The key figures of a period, per branch and for the network: people registered (by referring
    structure), sessions booked, held, cancelled and missed (no-show rate with and without a reminder), first
    session within 15 and 30 days, bookings made by people themselves, outcomes at each follow-up horizon with
    the response rate, by sex and age band where the branch asks. Counts only: no name, no contact. Each
    figure's definition comes with it (docs/report.md). When the monthly report mails go next is said after
    the file written, and in the JSON (next_sends). --format html writes one page with charts (the funnel
    from registration to outcome, outcomes per follow-up horizon, the branches side by side) that opens offline
    and prints on A4."""
    from hub.cli import known, open_hub
    from hub.report import as_dict, compute, publishable, to_csv
    from hub.report.monthly import next_sends

    hub = open_hub(ctx)
    known(branch, hub.branches, "branch", "--branch")
    now = hub.clock()
    start, end = default_period(now.astimezone(ZoneInfo(hub.config.hub.timezone)).date())
    start = first.date() if first else start
    end = last.date() if last else end
    if end < start:
        raise click.BadParameter("the last day comes before the first", param_hint="--to")
    # the publishable view is decided on the whole network, then cut: a branch's figures are hidden exactly as
    # in the network's report, so subtracting one from the other reveals nothing more
    report: Report = compute(hub.store, hub.config, start, end + timedelta(days=1), branch if raw else None, now=now)
    if not raw:
        report = publishable(report)
    if branch is not None:
        report = report.only(branch)
    if fmt == "html":
        from hub.report.html import file_name, render_html

        text = render_html(report, made=now.astimezone(ZoneInfo(hub.config.hub.timezone)).date())
        output = output or Path(file_name(report))
    elif fmt == "csv":
        text = to_csv(report)
    else:
        import json

        text = json.dumps({**as_dict(report), "next_sends": next_sends(hub, now, branch)}, indent=2,
                          ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="") as out:
        out.write(text)
    os.chmod(output, 0o600)
    who = ("réservé à l'équipe de l'antenne, à ne pas diffuser" if raw
           else "petits effectifs masqués, diffusable")
    click.echo(f"Écrit : {output} ({who})")
    for send in next_sends(hub, now, branch):  # the monthly report mails (hub.report.monthly)
        click.echo(send["text"])
