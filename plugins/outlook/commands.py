"""`hub auth outlook --branch B`: connect (or test) a branch's Microsoft 365 account.

auth = "app": asks Entra for a token once and says whether the app registration's credentials work.
auth = "delegated": the device code flow, which needs no browser on the server: the command prints Microsoft's
message (the address to open and the code to type), waits for the person to sign in on any device, then keeps
MSAL's token cache (mode 0600). Either way an auth-failed pause of the plugin for the branch ends.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from hub.errors import PluginAuthFailed, PluginNotReady

if TYPE_CHECKING:
    from hub_outlook.mailbox import Mailbox

PLUGIN = "outlook"


def add_auth_command(cli: click.Group) -> None:
    auth = cli.commands.get("auth")
    if isinstance(auth, click.Group) and PLUGIN not in auth.commands:
        auth.add_command(outlook_auth)


@click.command(PLUGIN, epilog="\b\nExamples:\n  hub auth outlook --branch lyon\n"
                               "  hub auth outlook --branch lyon --timeout 300")
@click.option("--branch", required=True, help="The branch whose Microsoft 365 account to connect.")
@click.option("--timeout", default=900, show_default=True,
              help="Seconds to wait for the sign-in (device code, auth = 'delegated').")
@click.pass_context
def outlook_auth(ctx: click.Context, branch: str, timeout: int) -> None:
    """Connect a branch's Microsoft 365 account (Outlook); works on a server without a browser."""
    from hub.api import command_context
    from hub_outlook.mailbox import close_mailbox, mailbox
    from hub_outlook.settings import Settings

    command = command_context(ctx, branch, PLUGIN)
    hub = command.context
    settings = hub.settings_as(Settings)
    box = mailbox(hub)
    box.forget()  # start from the cache file as it is now
    try:
        if settings.auth == "app":
            box.auth.access_token()
            text = (f"Connexion à Microsoft 365 réussie pour {branch} (application {settings.client_id}, "
                    "identifiants acceptés).")
        else:
            text = _device_code(box, branch, timeout)
    except (PluginAuthFailed, PluginNotReady) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        close_mailbox(hub)
    command.resume()  # an auth-failed pause ends with working credentials
    click.echo(text)


def _device_code(box: Mailbox, branch: str, timeout: int) -> str:
    from hub_outlook.auth import PUBLIC_FLOWS_FIX, aadsts_codes, result_failure

    auth = box.auth
    flow = auth.initiate_device_flow()
    click.echo(str(flow.get("message") or f"Ouvrez {flow.get('verification_uri')} et saisissez le code "
                                            f"{flow.get('user_code')}"))
    click.echo(f"En attente de la connexion (au plus {timeout} s)…")
    flow["expires_at"] = min(float(flow.get("expires_at", 0)), time.time() + timeout)  # MSAL stops polling then
    result = auth.finish_device_flow(flow)
    if "access_token" in result:
        claims = result.get("id_token_claims") or {}
        who = str(claims.get("preferred_username", ""))
        domain = f" (compte …@{who.rpartition('@')[2]})" if "@" in who else ""
        return (f"Compte Microsoft 365 connecté pour {branch}{domain} ; jetons enregistrés (mode 0600). "
                "Les envois reprennent.")
    error = str(result.get("error", ""))
    if 7000218 in aadsts_codes(result):
        raise click.ClickException(f"Microsoft 365, antenne {branch} : {PUBLIC_FLOWS_FIX}.")
    if error in ("authorization_pending", "expired_token", "code_expired"):
        raise click.ClickException(f"Personne ne s'est connecté dans le délai ({timeout} s) : relancez "
                                   f"hub auth outlook --branch {branch}")
    if error == "authorization_declined":
        raise click.ClickException("La connexion a été refusée sur la page de Microsoft : relancez la commande "
                                   "et acceptez les autorisations demandées")
    raise result_failure(branch, box.settings, result)
