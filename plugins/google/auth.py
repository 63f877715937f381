"""Google credentials for a branch: a user's OAuth token, a service account, or a fixed token (sandbox).

One token file per branch serves every Google connector (Sheets, Gmail): `hub auth google --branch B` asks
for the scopes of all of them at once. google-auth refreshes an expired access token by itself before a
request; `GoogleAuth.persist()` writes a refreshed token back so the next start does not refresh again.
A refresh refused by Google (`invalid_grant`: revoked, or a 7-day token of an app left in "Testing") becomes
`PluginAuthFailed`, which pauses the plugin for the branch until the operator re-runs `hub auth google`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from hub.api import read_secret, write_secret
from hub.errors import PluginAuthFailed

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

SCOPES: dict[str, list[str]] = {
    "gsheets": ["https://www.googleapis.com/auth/spreadsheets"],
    # compose, not send: the Gmail channel sends through drafts (crash-safe) and compose also allows sending;
    # readonly: reading bounces (history, search, the report's body). See hub_gmail.plugin.
    "gmail": ["https://www.googleapis.com/auth/gmail.compose", "https://www.googleapis.com/auth/gmail.readonly"],
}
"""Scopes each Google connector needs; `hub auth google` asks for those of every Google plugin of the branch."""

AuthMode = Literal["oauth", "service_account", "static_token"]


TOKEN_FILE = "token.json"
NAMESPACE = "google"
"""The secrets folder the Google connectors share (`HubContext.secret_path(name, namespace)`): one consent."""


class _Where(Protocol):
    """What locating a branch's token needs (a HubContext has it)."""

    @property
    def branch(self) -> str: ...

    def secret_path(self, name: str, namespace: str | None = None) -> Path: ...


class GoogleAuthSettings(BaseModel):
    """The authentication part of a Google connector's settings; each Google plugin's model extends it."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    auth: AuthMode = Field("oauth", description=(
        "oauth: a staff member's Google account, connected with `hub auth google --branch <branch>`; "
        "service_account: a service account key file (share the sheets with its address); "
        "static_token: a fixed access token, for the sandbox and the demo only"))
    oauth_client_file: Path | None = Field(None, description=(
        "client_secret JSON of an OAuth client of type 'Desktop app' (Google Cloud console), "
        "used by `hub auth google --branch <branch>`"))
    service_account_file: Path | None = Field(None, description="service account key JSON (mode 0600)")
    impersonate: str | None = Field(None, description=(
        "Workspace user the service account acts as (needs domain-wide delegation); unset = itself"))
    access_token: SecretStr | None = Field(None, description=(
        "fixed access token for auth = 'static_token' (sandbox/demo); never refreshed"))
    api_endpoint: str | None = Field(None, description=(
        "base URL of the Google API to call, e.g. a sandbox on loopback; unset = Google's own"))
    token_uri: str | None = Field(None, description=(
        "OAuth token endpoint for refreshing a user token (a sandbox's); unset = Google's own"))

    @model_validator(mode="after")
    def _complete(self) -> GoogleAuthSettings:
        if self.auth == "service_account" and self.service_account_file is None:
            raise ValueError("auth = 'service_account' needs service_account_file")
        if self.auth == "static_token" and self.access_token is None:
            raise ValueError("auth = 'static_token' needs access_token (e.g. access_token = { env = \"NAME\" })")
        return self


def auth_command(branch: str) -> str:
    """The command that gives a branch new Google credentials (PluginAuthFailed's `fix`)."""
    return f"hub auth google --branch {branch}"


def auth_failed(branch: str, why: str) -> PluginAuthFailed:
    """The one message staff see when Google refuses: what happened and what to run."""
    return PluginAuthFailed(f"Google a refusé l'accès ({why}). Reconnectez le compte : {auth_command(branch)}",
                            fix=auth_command(branch))


def token_path(where: _Where) -> Path:
    """The branch's Google token file, shared by the Sheets and Gmail connectors (namespace "google")."""
    return where.secret_path(TOKEN_FILE, namespace=NAMESPACE)


def load_credentials(where: _Where, settings: GoogleAuthSettings, scopes: list[str]) -> Credentials:
    """Build credentials from the settings; raise PluginAuthFailed saying what to do when none are usable."""
    from google.oauth2 import credentials as user_credentials

    branch = where.branch
    if settings.auth == "static_token":
        assert settings.access_token is not None  # checked by the settings model
        return user_credentials.Credentials(token=settings.access_token.get_secret_value())
    if settings.auth == "service_account":
        from google.oauth2 import service_account

        assert settings.service_account_file is not None
        key_file = settings.service_account_file
        text = read_secret(key_file, what="la clé du compte de service")  # a refused mode: chmod, not auth
        if text is None:
            raise auth_failed(branch, f"la clé du compte de service {key_file} introuvable")
        try:
            creds = service_account.Credentials.from_service_account_info(json.loads(text), scopes=scopes)
        except (ValueError, KeyError) as exc:
            raise PluginAuthFailed(f"clé de compte de service illisible ({type(exc).__name__}); "
                                   "téléchargez une nouvelle clé JSON") from None
        return creds.with_subject(settings.impersonate) if settings.impersonate else creds
    path = token_path(where)
    # a token others can read is refused; `hub auth google` writes a new one, 0600
    saved = read_secret(path, what="le jeton Google", fix=auth_command(branch))
    if saved is None:
        raise auth_failed(branch, "aucune autorisation enregistrée pour cette antenne")
    try:
        info = json.loads(saved)
        creds = user_credentials.Credentials.from_authorized_user_info(info)
    except (ValueError, KeyError) as exc:
        raise auth_failed(branch, f"jeton enregistré illisible: {type(exc).__name__}") from None
    # from_authorized_user_info always uses Google's token endpoint, whatever the file says
    return creds.with_token_uri(settings.token_uri) if settings.token_uri else creds


class GoogleAuth:
    """Lazily loaded credentials for one branch, with the refreshed token written back to its file."""

    def __init__(self, where: _Where, settings: GoogleAuthSettings, scopes: list[str]) -> None:
        self.where = where
        self.settings = settings
        self.scopes = scopes
        self._creds: Any = None
        self._saved: str | None = None

    @property
    def credentials(self) -> Credentials:
        if self._creds is None:
            self._creds = load_credentials(self.where, self.settings, self.scopes)
            self._saved = getattr(self._creds, "token", None)
        return self._creds

    def forget(self) -> None:
        """Drop cached credentials so the next use re-reads the token file (after `hub auth google`)."""
        self._creds = None

    def persist(self) -> None:
        """Write the token back after google-auth refreshed it (only user tokens live in a file)."""
        creds = self._creds
        if creds is None or self.settings.auth != "oauth" or getattr(creds, "token", None) == self._saved:
            return
        write_secret(token_path(self.where), creds.to_json())
        self._saved = creds.token
