"""`hub calendly ...`: subscribe the branch's webhook, make a single-use booking link."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from hub.context import HubContext


def _context(ctx: click.Context, branch: str) -> HubContext:
    from hub.api import command_context

    return command_context(ctx, branch, "calendly").context


@click.group(name="calendly")
def calendly() -> None:
    """Calendly : abonnement aux webhooks, liens de réservation à usage unique."""


@calendly.command(epilog="\b\nExamples:\n  hub calendly subscribe --branch lyon\n"
                          "  hub calendly subscribe --branch lyon --url https://hub.example.org/webhooks/lyon/calendly")
@click.option("--branch", required=True, help="identifiant de l'antenne (nom du fichier branches/<id>.toml)")
@click.option("--url", help="adresse HTTPS publique du récepteur (défaut : <public_url>/webhooks/<antenne>/calendly)")
@click.pass_context
def subscribe(ctx: click.Context, branch: str, url: str | None) -> None:
    """Abonne l'antenne aux webhooks Calendly (offre Standard ou supérieure) ; le relevé périodique reste actif."""
    from hub.errors import PluginAuthFailed, PluginNotReady
    from hub_calendly.account import make_client
    from hub_calendly.client import DEFAULT_API_URL, CalendlyError
    from hub_calendly.plugin import settings_of
    from hub_calendly.subscription import subscribe as do_subscribe

    context = _context(ctx, branch)
    try:
        settings = settings_of(context)
        url = url or (f"{context.public_url.rstrip('/')}/webhooks/{branch}/calendly" if context.public_url else None)
        if not url:
            raise click.UsageError("donner --url, ou webhooks.public_url dans hub.toml")
        if settings.api_url == DEFAULT_API_URL and not url.startswith("https://"):
            raise click.UsageError("Calendly n'envoie ses webhooks qu'à une adresse https:// publique")
        result = do_subscribe(context, settings, make_client(context, settings), url)
    except (PluginAuthFailed, PluginNotReady, CalendlyError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.message)


@calendly.command(epilog="\b\nExamples:\n  hub calendly link --branch lyon --candidate cnd_0123456789ab")
@click.option("--branch", required=True, help="identifiant de l'antenne")
@click.option("--candidate", "candidate_id", required=True, help="identifiant du candidat dans le hub (cnd_...)")
@click.option("--event-type", help="URI du type d'événement (défaut : link_event_type)")
@click.pass_context
def link(ctx: click.Context, branch: str, candidate_id: str, event_type: str | None) -> None:
    """Crée un lien de réservation à usage unique pour un candidat."""
    from hub.errors import PluginAuthFailed, PluginNotReady
    from hub_calendly.account import make_client
    from hub_calendly.client import CalendlyError
    from hub_calendly.links import LinkError, single_use_link
    from hub_calendly.plugin import settings_of

    context = _context(ctx, branch)
    try:
        if context.candidate(candidate_id) is None:
            raise click.UsageError(f"candidat {candidate_id} inconnu dans l'antenne {branch}")
        settings = settings_of(context)
        url = single_use_link(settings, make_client(context, settings), candidate_id, event_type)
    except (LinkError, PluginAuthFailed, PluginNotReady, CalendlyError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(url)
