"""Google credentials for a branch: a user's OAuth token, a service account, or a fixed token (sandbox).

One token file per branch serves every Google connector (Sheets, Gmail): `hub auth google --branch B` asks
for the scopes of all of them at once. google-auth refreshes an expired access token by itself before a
request; `GoogleAuth.persist()` writes a refreshed token back so the next start does not refresh again.
A refresh refused by Google (`invalid_grant`: revoked, or a 7-day token of an app left in "Testing") becomes
`PluginAuthFailed`, which pauses the plugin for the branch until the operator re-runs `hub auth google`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from hub.errors import PluginAuthFailed

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

SCOPES: dict[str, list[str]] = {
    "gsheets": ["https://www.googleapis.com/auth/spreadsheets"],
    "gmail": ["https://www.googleapis.com/auth/gmail.send", "https://www.googleapis.com/auth/gmail.readonly"],
}
"""Scopes each Google connector needs; `hub auth google` asks for those of every Google plugin of the branch."""

AuthMode = Literal["oauth", "service_account", "static_token"]


class _Where(Protocol):
    """What locating a branch's token needs (a HubContext has it)."""

    state_dir: Path
    branch: str


class GoogleAuthSettings(BaseModel):
    """The authentication part of a Google connector's settings; each Google plugin's model extends it."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    auth: AuthMode = Field("oauth", description=(
        "oauth: a staff member's Google account, connected with `hub auth google --branch <branch>`; "
        "service_account: a service account key file (share the sheets with its address); "
        "static_token: a fixed access token, for the sandbox and the demo only"))
    oauth_client_file: Path | None = Field(None, description=(
        "client_secret JSON of an OAuth client of type 'Desktop app' (Google Cloud console), "
        "used by `hub auth google`"))
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


def auth_failed(branch: str, why: str) -> PluginAuthFailed:
    """The one message staff see when Google refuses: what happened and what to run."""
    return PluginAuthFailed(f"Google a refusé l'accès ({why}). Reconnectez le compte : "
                            f"hub auth google --branch {branch}", fix=f"hub auth google --branch {branch}")


def token_path(where: _Where) -> Path:
    """The branch's shared Google token file.

    Same layout as `HubContext.secret_path`, but in a 'google' folder instead of the plugin's own, so that
    the Sheets and Gmail connectors share one consent (see the report: a core `secret_path(namespace=)`
    would make this unnecessary).
    """
    folder = Path(where.state_dir) / "secrets" / where.branch / "google"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder / "token.json"


def save_token(path: Path, token_json: str) -> None:
    """Write atomically with mode 0600 from the start (never a moment readable by others)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token_json)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _private_file(path: Path, branch: str, what: str) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        raise auth_failed(branch, f"{what} {path} introuvable") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PluginAuthFailed(f"{what} {path} est lisible par d'autres comptes : chmod 600 {path}")


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
        _private_file(settings.service_account_file, branch, "la clé du compte de service")
        try:
            creds = service_account.Credentials.from_service_account_file(
                str(settings.service_account_file), scopes=scopes)
        except (ValueError, KeyError) as exc:
            raise PluginAuthFailed(f"clé de compte de service illisible ({type(exc).__name__}); "
                                   "téléchargez une nouvelle clé JSON") from None
        return creds.with_subject(settings.impersonate) if settings.impersonate else creds
    path = token_path(where)
    if not path.exists():
        raise auth_failed(branch, "aucune autorisation enregistrée pour cette antenne")
    _private_file(path, branch, "le jeton Google")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        creds = user_credentials.Credentials.from_authorized_user_info(info)  # type: ignore[no-untyped-call]
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
        return self._creds  # type: ignore[no-any-return]

    def forget(self) -> None:
        """Drop cached credentials so the next use re-reads the token file (after `hub auth google`)."""
        self._creds = None

    def persist(self) -> None:
        """Write the token back after google-auth refreshed it (only user tokens live in a file)."""
        creds = self._creds
        if creds is None or self.settings.auth != "oauth" or getattr(creds, "token", None) == self._saved:
            return
        save_token(token_path(self.where), creds.to_json())
        self._saved = creds.token
