"""`hub auth google --branch B`: one consent for every Google connector of a branch.

Each Google plugin calls `add_auth_command(cli)` from its `register_commands`; the first one adds the
command to the core's `hub auth` group, the others find it there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hub_google.auth import NAMESPACE, SCOPES, TOKEN_FILE, GoogleAuthSettings


def add_auth_command(cli: click.Group) -> None:
    auth = cli.commands.get("auth")
    if isinstance(auth, click.Group) and "google" not in auth.commands:
        auth.add_command(google_auth)


def _read_line() -> str:
    line = sys.stdin.readline()
    if not line:  # no terminal (a service, a pipe): only the loopback redirect can answer
        raise EOFError
    return line


@click.command("google", epilog="\b\nExamples:\n  hub auth google --branch lyon\n"
                                         "  hub auth google --branch lyon --client-file client_secret.json --port 8765")
@click.option("--branch", required=True, help="The branch whose Google account to connect.")
@click.option("--port", default=8765, show_default=True, help="Loopback port Google redirects the browser to.")
@click.option("--client-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="OAuth client JSON ('Desktop app'); default: oauth_client_file of the branch's settings.")
@click.option("--timeout", default=900, show_default=True, help="Seconds to wait for the consent.")
@click.pass_context
def google_auth(ctx: click.Context, branch: str, port: int, client_file: Path | None, timeout: int) -> None:
    """Connect a branch's Google account (Sheets, Gmail); works on a server without a browser."""
    from hub.api import command_context
    from hub_google.consent import ConsentError, run_consent

    command = command_context(ctx, branch)
    config = command.branch_config
    plugins = [p for p in config.plugins if p in SCOPES]
    if not plugins:
        raise click.ClickException(f"branch {branch!r} enables no Google connector ({', '.join(SCOPES)})")
    if client_file is None:
        for plugin in plugins:
            settings = config.settings.get(plugin)
            if isinstance(settings, GoogleAuthSettings) and settings.oauth_client_file:
                client_file = settings.oauth_client_file
                break
    if client_file is None:
        raise click.ClickException("no OAuth client: set oauth_client_file in the branch's [gsheets] table "
                                   "or pass --client-file")
    try:
        client_config = json.loads(Path(client_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read the OAuth client file ({type(exc).__name__})") from None
    scopes = sorted({scope for plugin in plugins for scope in SCOPES[plugin]})
    try:
        creds = run_consent(client_config, scopes, port=port, echo=click.echo, read_line=_read_line,
                            timeout=timeout)
    except ConsentError as exc:
        raise click.ClickException(str(exc)) from None
    if not creds.refresh_token:
        raise click.ClickException("Google gave no refresh token: remove the app's access in the account's "
                                   "security settings and run the command again")
    command.context_of(plugins[0]).write_secret(TOKEN_FILE, creds.to_json(), namespace=NAMESPACE)
    for plugin in plugins:
        command.resume(plugin)  # an auth-failed pause ends with a new consent
    click.echo(f"Compte Google connecté pour {branch} ({', '.join(plugins)}); jeton enregistré (mode 0600).")
