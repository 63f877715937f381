"""`hub export` and `hub forget`: a person's right of access and right to erasure, for branch staff.

What staff read is in French (the receipts, the confirmation); options and help are in English like every
command. A person is named by their hub id (cnd_...), e-mail or phone, never printed back.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hub.identity import email_key, phone_key

if TYPE_CHECKING:
    from hub.app import Hub

__all__ = ["export_command", "forget_command", "retention_command"]

EXAMPLES = "\b\nExamples:\n"
_STATE_WORDS = {"done": "fait", "pending": "en attente", "retrying": "nouvel essai prévu", "dead": "en échec",
                "skipped": "rien à faire", "manual": "à faire à la main"}


def find_person(hub: Hub, who: str, branch: str | None) -> tuple[str, str]:
    """(branch, hub id) of the person `who` names (hub id, e-mail or phone); UsageError when none or several."""
    from hub.cli import known

    known(branch, hub.branches, "branch", "--branch")
    branches = [branch] if branch else sorted(hub.branches)
    found: list[tuple[str, str]] = []
    if who.startswith("cnd_"):
        home = hub.store.entity_branch("candidates", who)
        found = [(home, who)] if home in branches else []
    else:
        keys = {"email_key": email_key(who)} if "@" in who else {"phone_key": phone_key(who)}
        if not any(keys.values()):
            raise click.UsageError("give the person's hub id (cnd_...), e-mail address or phone number")
        for b in branches:
            cid = hub.store.find_candidate(b, email_key=keys.get("email_key"), phone_key=keys.get("phone_key"))
            if cid is not None:
                found.append((b, cid))
    if not found:
        gone = [] if who.startswith("cnd_") else [
            b for b in branches if hub.eraser.tombstones.covers(b, _probe(who))]
        if gone:
            raise click.UsageError(f"cette personne a été effacée ({', '.join(gone)}) : le hub ne garde plus rien "
                                   "qui permette de la retrouver ; voir : hub forget --status")
        raise click.UsageError("no such person in the hub" + (f" (branch {branch})" if branch else ""))
    if len(found) > 1:
        raise click.UsageError(f"this person is known in several branches ({', '.join(b for b, _ in found)}): "
                               "add --branch")
    return found[0]


def _probe(who: str) -> Any:
    from hub.events import Candidate

    return Candidate(email=who) if "@" in who else Candidate(phone=who)


@click.command("export", epilog=EXAMPLES + "  hub export --candidate cnd_3f2a... > personne.json\n"
                                           "  hub export --candidate aicha@example.org --format html --output a.html")
@click.option("--candidate", "who", required=True, metavar="ID|EMAIL|PHONE",
              help="The person: hub id, e-mail or phone.")
@click.option("--branch", metavar="BRANCH", help="The branch, when the person is known in several.")
@click.option("--format", "fmt", type=click.Choice(["json", "html"]), default="json", show_default=True,
              help="json for a machine, html for a French page to hand over or print.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (mode 0600) instead of the standard output.")
@click.pass_context
def export_command(ctx: click.Context, who: str, branch: str | None, fmt: str, output: Path | None) -> None:
    """Everything the hub holds on one person, their journey, the messages sent, and every tool that received
    their data (RGPD art. 15 and 19). Never written to the log."""
    from hub.cli import open_hub
    from hub.privacy.export import export_person, render_html

    hub = open_hub(ctx)
    branch_id, cid = find_person(hub, who, branch)
    data = export_person(hub.store, branch_id, cid, hub.config.zone(branch_id), hub.clock(), hub.message_subject)
    name = hub.config.branches[branch_id].name or branch_id
    text = render_html(data, name) if fmt == "html" else json.dumps(data, indent=2, ensure_ascii=False)
    if output is None:
        click.echo(text)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(output, 0o600)
    click.echo(f"Écrit : {output} (lisible par vous seul·e ; à remettre à la personne, puis à supprimer)")


@click.command("forget", epilog=EXAMPLES + "  hub forget --candidate aicha@example.org --dry-run\n"
                                           "  hub forget --candidate cnd_3f2a... --yes\n  hub forget --status\n"
                                           "  hub forget --lift --candidate aicha@example.org --branch lyon")
@click.option("--candidate", "who", metavar="ID|EMAIL|PHONE", help="The person to erase: hub id, e-mail or phone.")
@click.option("--branch", metavar="BRANCH", help="The branch, when the person is known in several.")
@click.option("--dry-run", is_flag=True, help="Say what would be erased, where, and what stays manual; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--status", "show_status", is_flag=True, help="List the erasures and each tool's receipt.")
@click.option("--lift", is_flag=True,
              help="Instead of erasing: lift the tombstones of the --candidate e-mail or phone, so that the next "
                   "poll takes the person in again, even from answers older than the erasure.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def forget_command(ctx: click.Context, who: str | None, branch: str | None, dry_run: bool, yes: bool,
                   show_status: bool, lift: bool, as_json: bool) -> None:
    """Erase a person from the hub and from every tool that holds their data (RGPD art. 17 and 19), leaving a
    receipt per tool: done, manual (what staff must do by hand) or failed (retried). The hub keeps only a
    keyed hash of the e-mail and phone (a tombstone), so that old data read again does not bring the person
    back; a registration or booking made after the erasure is taken in as someone new. `--lift` removes the
    tombstones of an e-mail or phone by hand."""
    from hub.cli import open_hub
    from hub.privacy.forget import ForgetError

    hub = open_hub(ctx)
    if show_status and lift:
        raise click.UsageError("--status and --lift do not go together")
    if show_status:
        _status(ctx, hub, branch, as_json)
        return
    if not who:
        raise click.UsageError("give --candidate (or --status)")
    if lift:
        _lift(ctx, hub, who, branch, dry_run, yes, as_json)
        return
    branch_id, cid = find_person(hub, who, branch)
    try:
        plan = hub.eraser.plan(branch_id, cid)
    except ForgetError as exc:
        raise click.ClickException(str(exc)) from None
    summary = {"branch": branch_id, "candidate": cid, "tools": plan.plugins, "manual": plan.manual,
               "events": plan.events, "pending": plan.pending}
    if as_json and dry_run:
        click.echo(json.dumps({**summary, "dry_run": True}, indent=2, ensure_ascii=False))
        return
    if not as_json:
        click.echo(_describe(plan.plugins, plan.manual, plan.events, plan.pending, cid, branch_id, dry_run))
    if dry_run:
        return
    if not yes and not click.confirm("Effacer définitivement cette personne ? Ce n'est pas réversible.",
                                     default=False):
        click.echo("Rien n'a été effacé.")
        ctx.exit(1)
    try:
        plan = hub.eraser.forget(branch_id, cid)
    except ForgetError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({**summary, "erasure": plan.erasure_id}, indent=2, ensure_ascii=False))
        return
    click.echo(f"Effacé dans le hub (effacement {plan.erasure_id}). "
               + ("Les outils sont prévenus par le service (hub run) ; suivez l'avancement avec : "
                  f"hub forget --status --branch {branch_id}" if plan.plugins else "Aucun outil à prévenir."))


def _lift(ctx: click.Context, hub: Hub, who: str, branch: str | None, dry_run: bool, yes: bool,
          as_json: bool) -> None:
    """`hub forget --lift`: the tombstones of an e-mail or phone removed by hand; the value is never printed."""
    from hub.cli import known

    known(branch, hub.branches, "branch", "--branch")
    email, phone = (who, None) if "@" in who else (None, who)
    if who.startswith("cnd_") or not (email_key(email) or phone_key(phone)):
        raise click.UsageError("give the e-mail address or phone number to lift (a tombstone keeps no hub id)")
    found: dict[str, int] = {}
    for b in [branch] if branch else sorted(hub.branches):
        count = hub.eraser.lift(b, email, phone, dry_run=True)
        if count:
            found[b] = count
    if not found:
        where = f"antenne {branch}" if branch else "aucune antenne"
        raise click.ClickException(
            f"aucune marque d'effacement pour cette adresse ou ce numéro ({where}) : rien à lever. Les "
            "effacements : hub forget --status" + (f" --branch {branch}" if branch else "")
            + " (no tombstone matches this e-mail or phone)")
    if len(found) > 1:
        raise click.UsageError(f"tombstones for this e-mail or phone in several branches ({', '.join(found)}): "
                               "add --branch")
    ((branch_id, count),) = found.items()
    plural = "s" if count > 1 else ""
    if dry_run:
        if as_json:
            click.echo(json.dumps({"branch": branch_id, "tombstones": count, "dry_run": True}, indent=2))
        else:
            click.echo(f"{count} marque{plural} d'effacement à lever (antenne {branch_id}). Rien n'a été changé "
                       "(--dry-run).")
        return
    if not yes and not click.confirm(
            f"Lever {count} marque{plural} d'effacement (antenne {branch_id}) ? Le prochain relevé pourra "
            "réimporter la personne, même depuis ses anciennes réponses.", default=False):
        click.echo("Rien n'a été levé.")
        ctx.exit(1)
    lifted = hub.eraser.lift(branch_id, email, phone)
    if as_json:
        click.echo(json.dumps({"branch": branch_id, "lifted": lifted}, indent=2))
    else:
        click.echo(f"{lifted} marque{'s' if lifted > 1 else ''} d'effacement levée{'s' if lifted > 1 else ''} "
                   f"(antenne {branch_id}) : le prochain relevé de ses outils pourra la réimporter.")


def _describe(tools: list[str], manual: list[str], events: int, pending: int, cid: str, branch: str,
              dry_run: bool) -> str:
    lines = [f"{'Effacement prévu' if dry_run else 'Effacement'} de {cid} (antenne {branch}) :",
             f"  dans le hub : {events} événement{'s' if events > 1 else ''} anonymisé{'s' if events > 1 else ''}, "
             f"{pending} envoi{'s' if pending > 1 else ''} en attente annulé{'s' if pending > 1 else ''}, rappels "
             "retirés ; la fiche ne garde que son identifiant",
             "  outils prévenus : " + (", ".join(tools) or "aucun")]
    if manual:
        lines.append("  à effacer à la main (l'outil ne sait pas le faire) : " + ", ".join(manual))
    if dry_run:
        lines.append("Rien n'a été changé (--dry-run).")
    return "\n".join(lines)


def _status(ctx: click.Context, hub: Hub, branch: str | None, as_json: bool) -> None:
    from hub.cli import known
    from hub.store import from_ts

    known(branch, hub.branches, "branch", "--branch")
    data, failed = [], False
    returns = hub.store.erasure_returns(branch)
    for erasure in hub.store.list_erasures(branch):
        tools = []
        for receipt in hub.store.receipts(erasure.id):
            failed |= receipt.state == "dead"
            tools.append({"tool": receipt.plugin, "state": receipt.state, "error": receipt.last_error,
                          "items": [{"status": s, "what": w} for s, w in receipt.items],
                          "fix": f"hub retry --branch {erasure.branch} --plugin {receipt.plugin}"
                          if receipt.state == "dead" else None})
        requested, finished = from_ts(erasure.requested_at), from_ts(erasure.finished_at)
        back_at, back_as = returns.get(erasure.id, (None, None))
        returned = from_ts(back_at)
        data.append({"erasure": erasure.id, "branch": erasure.branch, "candidate": erasure.candidate_id,
                     "reason": erasure.reason, "requested_at": requested.isoformat() if requested else None,
                     "finished_at": finished.isoformat() if finished else None, "tools": tools,
                     "returned": {"at": returned.isoformat(), "candidate": back_as} if returned else None})
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(_render_status(data) if data else "Aucun effacement.")
    if failed:
        ctx.exit(1)


def _render_status(data: list[dict[str, Any]]) -> str:
    lines = []
    for erasure in data:
        state = "terminé" if erasure["finished_at"] else "en cours"
        back = erasure["returned"]
        if back:  # the person registered or booked again after the erasure: a new record, not the erased one
            state += f" ; revenu(e) le {back['at'][:10]} : nouvelle fiche {back['candidate'] or '(en cours)'}"
        lines.append(f"{erasure['erasure']} — {erasure['candidate']} (antenne {erasure['branch']}), demandé le "
                     f"{(erasure['requested_at'] or '')[:10]} : {state}")
        for tool in erasure["tools"]:
            lines.append(f"  {tool['tool']} : {_STATE_WORDS.get(tool['state'], tool['state'])}"
                         + (f" ({tool['error']})" if tool["error"] and tool["state"] != "done" else ""))
            for item in tool["items"]:
                mark = "fait" if item["status"] == "done" else "À FAIRE À LA MAIN"
                lines.append(f"    - {mark} : {item['what']}")
            if tool["fix"]:
                lines.append(f"    pour réessayer : {tool['fix']}")
    return "\n".join(lines)


@click.command("retention", epilog=EXAMPLES + "  hub retention --dry-run\n  hub retention --branch lyon --yes")
@click.option("--branch", metavar="BRANCH", help="Only this branch.")
@click.option("--dry-run", is_flag=True, help="List who is past the retention period, and count the hub's own "
              "records past theirs (without --branch); erase nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text (the people only).")
@click.pass_context
def retention_command(ctx: click.Context, branch: str | None, dry_run: bool, yes: bool, as_json: bool) -> None:
    """The people whose last contact (session, outcome, message) is older than their branch's retention
    (`[privacy] retention`, 2 years by default), erased as `hub forget` erases them. `hub run` does it every
    day by itself unless the branch sets `purge = false`. It also removes, every day, the hub's own records
    past `[records]` in hub.toml (staff alerts, old problems, receipts...): `--dry-run` counts them."""
    from hub.cli import known, open_hub
    from hub.privacy.retention import expired

    hub = open_hub(ctx)
    known(branch, hub.branches, "branch", "--branch")
    now = hub.clock()
    people = [p for b in sorted(hub.branches) if branch in (None, b) for p in expired(hub, b, now)]
    listing = [{"branch": p.branch, "candidate": p.candidate_id, "last_contact": p.last_contact.isoformat()}
               for p in people]
    if as_json and (dry_run or not people):
        click.echo(json.dumps(listing, indent=2, ensure_ascii=False))
        return
    if not as_json:
        if not people:
            click.echo("Personne n'a dépassé la durée de conservation.")
            if dry_run and branch is None:
                click.echo("\n".join(_records_due(hub, now)))
            return
        click.echo(f"{len(people)} personne{'s' if len(people) > 1 else ''} sans contact depuis plus longtemps que "
                   "la durée de conservation de leur antenne :")
        for p in people:
            zone = hub.config.zone(p.branch)
            click.echo(f"  {p.candidate_id} (antenne {p.branch}) : dernier contact le "
                       f"{p.last_contact.astimezone(zone):%d/%m/%Y}")
    if dry_run:
        if not as_json:
            if branch is None:
                click.echo("\n".join(_records_due(hub, now)))
            click.echo("Rien n'a été effacé (--dry-run).")
        return
    if not yes and not click.confirm("Les effacer maintenant, dans le hub et dans chaque outil ?", default=False):
        click.echo("Rien n'a été effacé.")
        ctx.exit(1)
    erased = [hub.eraser.forget(p.branch, p.candidate_id, reason="retention").erasure_id for p in people]
    if as_json:
        click.echo(json.dumps([{**item, "erasure": e} for item, e in zip(listing, erased, strict=True)], indent=2))
    else:
        click.echo(f"Effacé{'s' if len(erased) > 1 else ''} dans le hub ; les outils sont prévenus par le service "
                   "(hub run) ; suivez l'avancement avec : hub forget --status")


def _records_due(hub: Hub, now: datetime) -> list[str]:
    """The hub's own records past `[records]` (hub.privacy.records), counted per kind, for the dry run."""
    from hub.privacy.records import LABELS, due

    counts = due(hub, now)
    if not any(counts.values()):
        return ["Aucun registre de fonctionnement du hub n'a dépassé sa durée de conservation ([records] de "
                "hub.toml)."]
    return ["Registres de fonctionnement du hub (tout le hub) au-delà de leur durée de conservation ([records] de "
            "hub.toml), retirés chaque jour par hub run :",
            *(f"  {label} : {counts.get(kind, 0)}" for kind, label in LABELS.items())]
