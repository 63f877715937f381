"""`hub messages list` and `hub messages preview`: what a branch sends and when, and how a message reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from hub.messages.purposes import BY_KEY, PURPOSES

__all__ = ["messages_group"]

EXAMPLES = "\b\nExamples:\n"


@click.group("messages")
def messages_group() -> None:
    """The messages branches send (confirmations, reminders, follow-ups, notes to referrers)."""


@messages_group.command("list", epilog=EXAMPLES + "  hub messages list\n  hub messages list --branch lyon --json")
@click.option("--branch", help="Only this branch.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_messages(ctx: click.Context, branch: str | None, as_json: bool) -> None:
    """Each branch's messages: on or off, to whom, when, by which media (email, sms), and from which template."""
    from hub.cli import known, open_hub

    hub = open_hub(ctx)
    known(branch, hub.branches, "branch", "--branch")
    data: list[dict[str, Any]] = []
    for branch_id in sorted(hub.branches):
        if branch not in (None, branch_id):
            continue
        config = hub.config.branches[branch_id]
        settings = config.messages
        channel = hub.channel(branch_id, "email")
        renderer = hub.planner.renderer(branch_id)
        for purpose in PURPOSES:
            off = (not settings.enabled or purpose.key in settings.off or channel is None
                   or (purpose.recipient == "referrer" and not settings.referrer_notes))
            source = renderer.source_of(purpose.key)
            media = ["email"] + (hub.planner.media(config, purpose.key) if purpose.recipient == "candidate" else [])
            data.append({"branch": branch_id, "purpose": purpose.key, "on": not off, "to": purpose.recipient,
                         "when": purpose.when, "what": purpose.label, "channel": channel or "", "media": media,
                         "template": str(source) if "hub/messages/templates" not in source.as_posix() else "défaut"})
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for branch_id in sorted({d["branch"] for d in data}):
        rows = [d for d in data if d["branch"] == branch_id]
        channel = rows[0]["channel"]
        click.echo(f"{branch_id} — envoi par {channel}" if channel else
                   f"{branch_id} — aucun canal e-mail : rien n'est envoyé (ajoutez un plugin de messagerie, "
                   "p. ex. gmail, à plugins)")
        for d in rows:
            mark = "oui" if d["on"] else "non"
            also = " + SMS" if "sms" in d["media"] else ""
            click.echo(f"  [{mark}] {d['purpose']:<22} {d['what']} — {d['when']}{also} (modèle : {d['template']})")


@messages_group.command("preview", epilog=EXAMPLES + "  hub messages preview --branch lyon --kind reminder\n"
                                                     "  hub messages preview --branch lyon --kind followup --html\n"
                                                     "  hub messages preview --branch lyon --kind reminder "
                                                     "--medium sms")
@click.option("--branch", required=True, help="The branch whose templates and settings are used.")
@click.option("--kind", "purpose", required=True, type=click.Choice(sorted(BY_KEY)), help="Which message.")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part instead of the text.")
@click.option("--medium", type=click.Choice(["email", "sms"]), default="email", show_default=True,
              help="The mail, or its SMS (from <purpose>.sms.j2).")
@click.pass_context
def preview(ctx: click.Context, branch: str, purpose: str, as_html: bool, medium: str) -> None:
    """Render one message with made-up sample data (nothing is sent)."""
    from hub.cli import known, open_hub
    from hub.messages.render import TemplateProblem, sample_facts

    hub = open_hub(ctx)
    known(branch, hub.branches, "branch", "--branch")
    config = hub.config.branches[branch]
    try:
        rendered = hub.planner.renderer(branch).render(purpose, sample_facts(config, hub.config.zone(branch),
                                                                             datetime.now(UTC), purpose), medium)
    except TemplateProblem as exc:
        raise click.ClickException(f"{exc}; fix the template, then run this again") from None
    if medium != "email":
        click.echo(f"{rendered.text}\n({len(rendered.text)} caractères)")
    elif as_html:
        click.echo(rendered.html)
    else:
        click.echo(f"Objet : {rendered.subject}\n\n{rendered.text}")
