"""`hub webhooks-out ...`: the last sends per endpoint, and an endpoint's signing secret for its receiver."""

from __future__ import annotations

import click


@click.group(name="webhooks-out")
def webhooks_out() -> None:
    """Webhooks sortants : journal des envois par adresse, secret de signature d'une adresse."""


@webhooks_out.command(epilog="\b\nExamples:\n  hub webhooks-out log --branch lyon\n"
                             "  hub webhooks-out log --branch lyon --endpoint crm --limit 50")
@click.option("--branch", required=True, help="identifiant de l'antenne (nom du fichier branches/<id>.toml)")
@click.option("--endpoint", help="une seule adresse, par son nom (défaut : toutes)")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 50),
              help="nombre d'envois montrés par adresse (les plus récents)")
@click.pass_context
def log(ctx: click.Context, branch: str, endpoint: str | None, limit: int) -> None:
    """Les derniers envois de chaque adresse : heure, événement, code de réponse (aucune donnée personnelle)."""
    from hub.api import command_context
    from hub_webhooks_out.settings import Settings

    context = command_context(ctx, branch, "webhooks_out").context
    settings = context.settings_as(Settings)
    names = [e.name for e in settings.endpoints]
    if endpoint is not None and endpoint not in names:
        raise click.UsageError(f"aucune adresse {endpoint!r} dans [webhooks_out] de {branch} "
                               f"(connues : {', '.join(names) or 'aucune'})")
    for name in [endpoint] if endpoint else names:
        failures = int(context.state_get(f"failures:{name}", 0))
        click.echo(f"{name} — " + (f"{failures} échec(s) de suite" if failures else "en ordre"))
        sends = context.state_get(f"log:{name}", [])[-limit:]
        if not sends:
            click.echo("  (aucun envoi)")
        for item in reversed(sends):
            click.echo(f"  {item['at']}  {item['status']:>7}  {item['type']:<22} {item['event']}")


@webhooks_out.command(epilog="\b\nExamples:\n  hub webhooks-out secret --branch lyon --endpoint crm")
@click.option("--branch", required=True, help="identifiant de l'antenne (nom du fichier branches/<id>.toml)")
@click.option("--endpoint", required=True, help="le nom de l'adresse dans [webhooks_out]")
@click.pass_context
def secret(ctx: click.Context, branch: str, endpoint: str) -> None:
    """Affiche le secret de signature (whsec_...) à donner à l'outil qui reçoit cette adresse."""
    from hub.api import command_context
    from hub_webhooks_out.settings import Settings
    from hub_webhooks_out.signing import endpoint_secret

    settings = command_context(ctx, branch, "webhooks_out").context.settings_as(Settings)
    if settings.endpoint(endpoint) is None:
        raise click.UsageError(f"aucune adresse {endpoint!r} dans [webhooks_out] de {branch}")
    click.echo(endpoint_secret(settings.secret.get_secret_value(), endpoint))
