"""Microsoft credentials for one branch: ONE MSAL application object and its token cache, persisted 0600.

    auth = "app"        msal.ConfidentialClientApplication (a secret, or a certificate {"private_key",
                        "thumbprint"}); acquire_token_for_client(["https://graph.microsoft.com/.default"]),
                        which answers from its cache until the token nears expiry (MSAL >= 1.23, reference §1.1)
    auth = "delegated"  msal.PublicClientApplication; `hub auth outlook --branch B` signs a person in with the
                        device code flow (commands.py); then acquire_token_silent for the cached account (the
                        refresh token is used by MSAL when the access token expired)

MSAL keeps its cache per application object (reference §4), so the object is built once per branch (the
mailbox holds it, mailbox.py) and its `SerializableTokenCache` is loaded from `secret_path("msal_cache.json")`
at build and written back (0600, atomically) whenever an acquisition changed it. App-only tokens are cached and
serialised too: a restart within the hour asks Entra for nothing.

The authority is always `https://login.microsoftonline.com/{tenant_id}`; msal_http.py sends the requests to
`login_url`. `instance_discovery=False`: the host is Microsoft's own, so MSAL needs no instance metadata, and
without it MSAL would also fetch `/common/discovery/instance` for the authority's aliases at the first silent
acquisition of each process (msal/application.py `_get_authority_aliases`).

Entra's refusals arrive as dicts (`error`, `error_codes`, `error_description`): they become PluginAuthFailed
saying what to fix, with `hub auth outlook --branch B` as the fix; a network error, a 5xx or Entra's
`temporarily_unavailable` become PluginNotReady. The description is never echoed (it names the app and tenant
and carries trace ids): only the AADSTS code.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from hub.api import read_secret
from hub.errors import PluginAuthFailed, PluginNotReady
from hub_outlook.msal_http import MsalHttp
from hub_outlook.settings import AUTHORITY_HOST, Settings

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger("hub.plugin.outlook")
SERVICE = "Outlook (Microsoft 365)"
CACHE_FILE = "msal_cache.json"
APP_SCOPES = ["https://graph.microsoft.com/.default"]
"""Client credentials ask for the resource's `.default`: the application permissions an admin granted."""
DELEGATED_SCOPES = ["Mail.Send", "Mail.ReadWrite", "Calendars.ReadWrite"]
"""Mail.ReadWrite for the drafts of the crash-safe send; offline_access (the refresh token), openid and profile
are added by MSAL itself, which raises ValueError if they are passed (msal/application.py `_decorate_scope`)."""
PERMISSIONS = ("Mail.Send", "Mail.ReadWrite", "Calendars.ReadWrite")
_AADSTS = re.compile(r"AADSTS(\d+)")
NOT_READY_ERRORS = frozenset({"temporarily_unavailable", "server_error", "slow_down"})

PUBLIC_FLOWS_FIX = (
    "l'inscription d'application n'autorise pas la connexion par code (AADSTS7000218) : dans le centre "
    "d'administration Microsoft Entra, App registrations > l'application > Authentication > Advanced "
    "settings > Allow public client flows = Yes, enregistrez, puis relancez la commande")


class _Where(Protocol):
    """What the auth needs of a HubContext: the branch and its secrets folder."""

    @property
    def branch(self) -> str: ...

    def read_secret(self, name: str, namespace: str | None = None, *, fix: str | None = None) -> str | None: ...

    def write_secret(self, name: str, text: str, namespace: str | None = None) -> None: ...


def auth_command(branch: str) -> str:
    """The command that (re)connects a branch's Microsoft account: PluginAuthFailed's `fix`."""
    return f"hub auth outlook --branch {branch}"


def auth_failed(branch: str, why: str) -> PluginAuthFailed:
    fix = auth_command(branch)
    return PluginAuthFailed(f"{SERVICE}, antenne {branch} : {why}. Ensuite : {fix}", fix=fix)


def aadsts_codes(result: dict[str, Any]) -> list[int]:
    """Entra's numeric codes: `error_codes` when given, else the AADSTSnnnn of the description."""
    codes = result.get("error_codes")
    if isinstance(codes, list) and codes:
        return [int(c) for c in codes if str(c).isdigit()]
    return [int(c) for c in _AADSTS.findall(str(result.get("error_description", "")))]


def result_failure(branch: str, settings: Settings, result: dict[str, Any]) -> Exception:
    """The hub's failure for an MSAL error dict (see the module's docstring); nothing of the description."""
    error = str(result.get("error", "")) or "sans code"
    codes = aadsts_codes(result)
    tag = error + "".join(f" AADSTS{c}" for c in codes[:1])
    if error in NOT_READY_ERRORS or not result.get("error"):
        return PluginNotReady(f"{SERVICE} : connexion indisponible ({tag})", retry_after=60.0)
    code = codes[0] if codes else None
    known = {
        7000215: "le secret client est refusé : mettez dans client_secret la VALEUR du secret (pas son ID) "
                 "de l'inscription d'application (Certificates & secrets)",
        7000222: "le secret client a expiré : créez-en un nouveau dans l'inscription d'application "
                 "(Certificates & secrets) et donnez-le à client_secret",
        700027: "le certificat est refusé : vérifiez certificate_thumbprint et que ce certificat est chargé dans "
                "l'inscription d'application (Certificates & secrets)",
        700016: f"l'application {settings.client_id} est inconnue dans le tenant : vérifiez client_id et "
                "tenant_id de [outlook], et que l'application est inscrite dans ce tenant",
        90002: f"le tenant {settings.tenant_id} est introuvable : vérifiez tenant_id de [outlook]",
        7000218: PUBLIC_FLOWS_FIX,
        700025: "un client public ne doit pas envoyer de secret : retirez client_secret de [outlook]",
        65001: "le consentement aux autorisations manque ou a été retiré : un administrateur doit l'accorder "
               f"({', '.join(PERMISSIONS)})",
    }
    if code in known:
        why = known[code]
    elif error == "invalid_grant":
        why = "l'autorisation a expiré ou a été révoquée (mot de passe changé, consentement retiré, jeton inactif)"
    elif error == "invalid_client":
        why = "l'inscription d'application refuse ces identifiants : vérifiez client_id, client_secret ou le certificat"
    elif error == "invalid_scope":
        why = f"les autorisations demandées sont refusées : accordez {', '.join(PERMISSIONS)} à l'application"
    else:
        why = "Microsoft refuse la connexion"
    return auth_failed(branch, f"{why} ({tag})")


def _msal() -> Any:
    """msal, imported on first use (`hub --help` stays fast)."""
    import msal  # type: ignore[import-untyped]  # msal ships no type information (no py.typed, no stubs)

    return msal


def _network(exc: Exception) -> PluginNotReady:
    return PluginNotReady(f"{SERVICE} : connexion injoignable ({type(exc).__name__})")


class OutlookAuth:
    """A branch's MSAL application, built on first use (building it fetches the tenant's OpenID metadata)."""

    def __init__(self, where: _Where, settings: Settings, http: httpx.Client) -> None:
        self.where = where
        self.branch = where.branch
        self.settings = settings
        self.http = MsalHttp(http, settings.login_url)
        self.cache: Any = None
        self._app: Any = None
        self._lock = threading.RLock()

    # --- the application -----------------------------------------------------------------------------------

    def app(self) -> Any:
        """The msal application (Confidential or Public), built once."""
        with self._lock:
            if self._app is None:
                self._app = self._build()
            return self._app

    def _build(self) -> Any:
        msal = _msal()
        MsalServiceError = msal.exceptions.MsalServiceError

        cache = msal.SerializableTokenCache()
        saved = self.where.read_secret(CACHE_FILE, fix=auth_command(self.branch))  # refused if others may read it
        if saved:
            try:
                cache.deserialize(saved)
            except ValueError:
                log.warning("outlook token cache unreadable, starting empty", extra={"branch": self.branch})
        authority = f"{AUTHORITY_HOST}/{self.settings.tenant_id}"
        common: dict[str, Any] = {"authority": authority, "token_cache": cache, "http_client": self.http,
                                  "instance_discovery": False}
        try:
            if self.settings.auth == "app":
                app = msal.ConfidentialClientApplication(self.settings.client_id,
                                                         client_credential=self._credential(), **common)
            else:
                app = msal.PublicClientApplication(self.settings.client_id, **common)
        except httpx.TransportError as exc:
            raise _network(exc) from None
        except MsalServiceError:  # a 5xx on the OpenID metadata
            raise PluginNotReady(f"{SERVICE} : service de connexion indisponible", retry_after=60.0) from None
        except ValueError:  # a 4xx on the OpenID metadata: no such tenant (Entra answers AADSTS90002)
            raise auth_failed(self.branch, f"le tenant {self.settings.tenant_id} est introuvable (métadonnées "
                                           "OpenID refusées) : vérifiez tenant_id de [outlook]") from None
        self.cache = cache
        return app

    def _credential(self) -> Any:
        settings = self.settings
        if settings.client_secret is not None:
            return settings.client_secret.get_secret_value()
        assert settings.certificate_file is not None and settings.certificate_thumbprint is not None
        return {"private_key": self._private_key(settings.certificate_file),
                "thumbprint": settings.certificate_thumbprint.replace(":", "").strip()}

    def _private_key(self, path: Path) -> str:
        fix = auth_command(self.branch)
        key = read_secret(path, what="la clé du certificat", fix=fix)  # refused when not 0600
        if key is None:
            raise auth_failed(self.branch, f"la clé du certificat {path} est introuvable")
        try:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            load_pem_private_key(key.encode(), password=None)
        except (ValueError, TypeError):
            raise auth_failed(self.branch, f"la clé du certificat {path} est illisible (une clé privée PEM sans "
                                           "mot de passe est attendue)") from None
        return key

    def forget(self) -> None:
        """Drop the application so the next use re-reads the cache file (after `hub auth outlook`)."""
        with self._lock:
            self._app = None
            self.cache = None

    def persist(self) -> None:
        """Write the token cache back (0600) when an acquisition changed it."""
        with self._lock:
            if self.cache is not None and self.cache.has_state_changed:
                self.where.write_secret(CACHE_FILE, self.cache.serialize())

    # --- tokens --------------------------------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid access token for Graph, from the cache when it has one."""
        MsalServiceError = _msal().exceptions.MsalServiceError

        with self._lock:
            app = self.app()
            try:
                if self.settings.auth == "app":
                    result = app.acquire_token_for_client(scopes=APP_SCOPES)
                else:
                    account = self.account()
                    if account is None:
                        raise auth_failed(self.branch, "aucun compte Microsoft n'est connecté pour cette antenne")
                    result = app.acquire_token_silent_with_error(DELEGATED_SCOPES, account=account)
                    if result is None:
                        raise auth_failed(self.branch, "la connexion enregistrée ne donne plus de jeton")
            except httpx.TransportError as exc:
                raise _network(exc) from None
            except MsalServiceError:  # a 5xx from the token endpoint
                raise PluginNotReady(f"{SERVICE} : service de connexion indisponible", retry_after=60.0) from None
            except ValueError:  # a body that is not JSON (a proxy's page...)
                raise PluginNotReady(f"{SERVICE} : réponse illisible du service de connexion") from None
            self.persist()
            token = result.get("access_token") if isinstance(result, dict) else None
            if not token:
                raise result_failure(self.branch, self.settings, result if isinstance(result, dict) else {})
            return str(token)

    def drop(self, token: str) -> None:
        """Remove an access token Graph refused (401) from the cache, so the next acquisition asks again."""
        with self._lock:
            if self.cache is None:
                return
            for item in list(self.cache.search(_msal().TokenCache.CredentialType.ACCESS_TOKEN)):
                if item.get("secret") == token:
                    self.cache.remove_at(item)
            self.persist()

    def account(self) -> dict[str, Any] | None:
        """Delegated: the signed-in account (the one named `mailbox` when several are cached)."""
        accounts = list(self.app().get_accounts())
        wanted = (self.settings.mailbox or "").lower()
        for account in accounts:
            if wanted and str(account.get("username", "")).lower() == wanted:
                return dict(account)
        return dict(accounts[0]) if accounts else None

    def user_id(self) -> str:
        """Whose mailbox Graph is asked about: `mailbox`, else (delegated) the signed-in user's object id (an id,
        not an address: the URLs carry nothing personal)."""
        if self.settings.mailbox:
            return self.settings.mailbox
        account = self.account()
        if account is None or not account.get("local_account_id"):
            raise auth_failed(self.branch, "aucun compte Microsoft n'est connecté pour cette antenne")
        return str(account["local_account_id"])

    # --- device code (hub auth outlook, delegated) ------------------------------------------------------------

    def initiate_device_flow(self) -> dict[str, Any]:
        try:
            flow = dict(self.app().initiate_device_flow(scopes=DELEGATED_SCOPES))
        except httpx.TransportError as exc:
            raise _network(exc) from None
        if "user_code" not in flow:
            raise result_failure(self.branch, self.settings, flow)
        return flow

    def finish_device_flow(self, flow: dict[str, Any]) -> dict[str, Any]:
        """Wait for the person to sign in (MSAL polls every `interval` s until `expires_at`); the result dict,
        whose `access_token` says it worked. The cache is persisted on success, other accounts removed."""
        try:
            result = dict(self.app().acquire_token_by_device_flow(flow))
        except httpx.TransportError as exc:
            raise _network(exc) from None
        if "access_token" in result:
            with self._lock:
                oid = str((result.get("id_token_claims") or {}).get("oid", ""))
                app = self.app()
                for account in list(app.get_accounts()):
                    if oid and account.get("local_account_id") != oid:
                        app.remove_account(account)  # one person per branch: the one who just signed in
                self.persist()
        return result
