"""The sandbox's Microsoft Entra ID (v2.0 endpoints): OpenID configuration, client credentials (secret or
certificate assertion), device code, refresh token; errors in Entra's JSON with their AADSTS codes.

Sources for the errors (error code, HTTP status, wording), quoted from answers seen in public issue threads:
- AADSTS90002 invalid_tenant (400) on discovery and token: Azure/azure-cli#22145, microsoftgraph/windowsupdates-
  webapplication-sample#6; AADSTS700016 unauthorized_client: MicrosoftDocs/azure-docs#21690;
- AADSTS7000215 invalid_client (401, "Invalid client secret provided. Ensure the secret being sent..."):
  OfficeDev/microsoft-365-agents-toolkit#8621; AADSTS7000218 invalid_client (401) when a device code is redeemed
  for an app that does not allow public client flows: MicrosoftDocs/azure-docs#31986, Azure-Samples/active-
  directory-dotnetcore-console-up-v2#10; AADSTS700025 ("Client is public so neither 'client_assertion' nor
  'client_secret' should be presented."): O365/python-o365#469;
- AADSTS1002012 ("Client credential flows must have a scope value with /.default suffixed to the resource
  identifier (application ID URI)."): microsoftgraph/microsoft-graph-docs#14323, MicrosoftDocs/azure-docs#99862;
- device flow: AADSTS70016 authorization_pending ("OAuth 2.0 device flow error. Authorization is pending.
  Continue polling."): toblum/ESPTeamsPresence#49; AADSTS70020 expired_token: Azure/azure-cli#22252;
- AADSTS65001 invalid_grant with suberror consent_required when consent was withdrawn: O365/python-o365#323
  (AADSTS50173 is for a grant revoked by a password change, not for consent).
The client assertion checks (AADSTS700027 signature, 700024 time range, 700021 issuer) are from memory [?].
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from hub_outlook.sandbox_model import GRAPH_APP_ID, App, Tenant

PUBLIC_HOST = "https://login.microsoftonline.com"
GRAPH_DEFAULT_SCOPES = {"https://graph.microsoft.com/.default", f"{GRAPH_APP_ID}/.default"}
OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
VERIFICATION_URI = "https://microsoft.com/devicelogin"
DEVICE_MESSAGES = {
    "en": "To sign in, use a web browser to open the page {uri} and enter the code {code} to authenticate.",
    # the French wording is a translation [?]: Entra localises the message (mkt / Accept-Language)
    "fr": "Pour vous connecter, utilisez un navigateur web pour ouvrir la page {uri} et entrez le code {code} "
          "pour vous authentifier.",
}


@dataclass
class Grant:
    """What an access token stands for; Graph maps the token back to it."""

    tenant: str
    client_id: str
    user: str | None  # the signed-in mailbox for delegated tokens, None for app-only ones
    expires: datetime
    scopes: list[str] = field(default_factory=list)


@dataclass
class DeviceCode:
    tenant: str
    client_id: str
    scopes: list[str]
    user_code: str
    expires: datetime
    user: str | None = None  # set when approved
    redeemed: bool = False


class LoginError(Exception):
    def __init__(self, status: int, error: str, code: int, description: str, **extra: str) -> None:
        super().__init__(error)
        self.status, self.error, self.code, self.description, self.extra = status, error, code, description, extra

    def body(self, now: datetime, correlation_id: str) -> dict[str, Any]:
        trace = str(uuid.uuid4())
        stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return {"error": self.error,
                "error_description": f"AADSTS{self.code}: {self.description}\r\nTrace ID: {trace}\r\n"
                                     f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}",
                "error_codes": [self.code], "timestamp": stamp, "trace_id": trace, "correlation_id": correlation_id,
                "error_uri": f"{PUBLIC_HOST}/error?code={self.code}", **self.extra}


def _b64url_json(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


class Login:
    """The token service. `tenants` is shared with the Graph side; everything runs under the sandbox's lock."""

    def __init__(self, tenants: dict[str, Tenant], clock: Callable[[], datetime]) -> None:
        self.tenants = tenants
        self.clock = clock
        self.key = secrets.token_bytes(32)  # signs our JWTs: clients cannot verify them, as with Graph's tokens
        self.grants: dict[str, Grant] = {}  # access token -> grant
        self.refresh_tokens: dict[str, Grant] = {}
        self.device_codes: dict[str, DeviceCode] = {}  # device_code -> state
        self.token_lifetime = timedelta(seconds=3599)
        self.device_lifetime = timedelta(seconds=900)

    # --- lookups -----------------------------------------------------------------------------------------------

    def tenant(self, name: str) -> Tenant:
        """By id or by domain name, as the authority path accepts both."""
        found = self.tenants.get(name) or next((t for t in self.tenants.values()
                                                if t.domain.lower() == name.lower()), None)
        if found is None:
            raise LoginError(400, "invalid_tenant", 90002,
                             f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are "
                             "signing into the correct cloud. Check with your subscription administrator, this may "
                             "happen if there are no active subscriptions for the tenant.")
        return found

    @staticmethod
    def app(tenant: Tenant, client_id: str) -> App:
        found = tenant.apps.get(client_id)
        if not client_id:
            raise LoginError(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'client_id'.")
        if found is None:
            raise LoginError(400, "unauthorized_client", 700016, _not_in_directory(client_id, tenant))
        return found

    # --- endpoints ---------------------------------------------------------------------------------------------

    def openid_configuration(self, name: str) -> dict[str, Any]:
        """The v2.0 discovery document; endpoints on the public host, as MSAL expects."""
        tid = self.tenant(name).id
        base = f"{PUBLIC_HOST}/{tid}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{PUBLIC_HOST}/{tid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0", "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True, "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                                 "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
                                 "nonce",
                                 "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": f"{base}/kerberos", "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com", "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com", "rbac_url": "https://pas.windows.net",
        }

    @staticmethod
    def instance_metadata() -> dict[str, Any]:
        """GET /common/discovery/instance?api-version=1.1 (the public cloud's aliases, as Entra lists them)."""
        return {"tenant_discovery_endpoint": f"{PUBLIC_HOST}/common/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [{"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net",
                              "aliases": ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com",
                                          "sts.windows.net"]}]}

    def devicecode(self, name: str, form: dict[str, str], language: str) -> dict[str, Any]:
        tenant = self.tenant(name)
        app = self.app(tenant, form.get("client_id", ""))
        scopes = form.get("scope", "").split()
        if not scopes:
            raise _missing("scope")
        alphabet = string.ascii_uppercase + string.digits
        user_code = "".join(secrets.choice(alphabet) for _ in range(9))
        device_code = "DAQABAAEAAA" + secrets.token_urlsafe(96)
        self.device_codes[device_code] = DeviceCode(tenant.id, app.client_id, scopes, user_code,
                                                    self.clock() + self.device_lifetime)
        message = DEVICE_MESSAGES["fr" if language.lower().startswith("fr") else "en"]
        return {"user_code": user_code, "device_code": device_code, "verification_uri": VERIFICATION_URI,
                "expires_in": int(self.device_lifetime.total_seconds()), "interval": 5,
                "message": message.format(uri=VERIFICATION_URI, code=user_code)}

    def token(self, name: str, form: dict[str, str], token_endpoint: str) -> dict[str, Any]:
        tenant = self.tenant(name)
        grant_type = form.get("grant_type", "")
        if not grant_type:
            raise _missing("grant_type")
        app = self.app(tenant, form.get("client_id", ""))
        if grant_type == "client_credentials":
            return self._client_credentials(tenant, app, form, token_endpoint)
        if grant_type == DEVICE_GRANT:
            return self._device_code(tenant, app, form, token_endpoint)
        if grant_type == "refresh_token":
            return self._refresh(tenant, app, form, token_endpoint)
        raise LoginError(400, "unsupported_grant_type", 70003,
                         f"The app requested an unsupported grant type '{grant_type}'.")

    def approve(self, user_code: str | None, user: str) -> None:
        pending = [d for d in self.device_codes.values() if d.user is None and not d.redeemed
                   and (user_code is None or d.user_code == user_code)]
        if not pending:
            raise KeyError("no device code waits for approval")
        device = pending[-1]
        box = self.tenants[device.tenant].mailbox(user)
        if box is None:
            raise KeyError("that user is not in the device code's tenant")
        device.user = box.address

    # --- grants ------------------------------------------------------------------------------------------------

    def _client_credentials(self, tenant: Tenant, app: App, form: dict[str, str], endpoint: str) -> dict[str, Any]:
        self._authenticate(app, form, endpoint, confidential_only=True)
        if not app.consented:
            # consent withdrawn for an app-only registration: the service principal is gone from the tenant
            raise LoginError(400, "unauthorized_client", 700016, _not_in_directory(app.client_id, tenant))
        scopes = form.get("scope", "").split()
        wrong = [s for s in scopes if s not in GRAPH_DEFAULT_SCOPES]
        if not scopes or wrong or len(scopes) > 1:
            shown = (wrong or scopes or [""])[0]
            raise LoginError(400, "invalid_scope", 1002012,
                             f"The provided value for scope {shown} is not valid. Client credential flows must have "
                             "a scope value with /.default suffixed to the resource identifier (application ID URI).")
        access, lifetime = self._access(tenant, app, None, [])
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access}

    def _device_code(self, tenant: Tenant, app: App, form: dict[str, str], endpoint: str) -> dict[str, Any]:
        self._authenticate(app, form, endpoint, confidential_only=False)
        device = self.device_codes.get(form.get("device_code", ""))
        if device is None or device.client_id != app.client_id or device.redeemed:
            raise LoginError(400, "invalid_grant", 70000,
                             "The provided value for the 'device_code' parameter is not valid.")  # [?] wording
        if self.clock() >= device.expires:
            raise LoginError(400, "expired_token", 70020,
                             "The provided value for the input parameter 'device_code' is not valid. This device "
                             "code has expired.")
        if device.user is None:
            raise LoginError(400, "authorization_pending", 70016,
                             "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
        if not app.consented:
            raise _no_consent(app)
        device.redeemed = True
        return self._user_tokens(tenant, app, device.user, device.scopes)

    def _refresh(self, tenant: Tenant, app: App, form: dict[str, str], endpoint: str) -> dict[str, Any]:
        self._authenticate(app, form, endpoint, confidential_only=False)
        grant = self.refresh_tokens.get(form.get("refresh_token", ""))
        if grant is None or grant.client_id != app.client_id or grant.tenant != tenant.id or grant.user is None:
            raise LoginError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        if not app.consented:
            raise _no_consent(app)
        scopes = form.get("scope", "").split() or grant.scopes
        return self._user_tokens(tenant, app, grant.user, scopes)

    def _authenticate(self, app: App, form: dict[str, str], endpoint: str, *, confidential_only: bool) -> None:
        secret, assertion = form.get("client_secret"), form.get("client_assertion")
        if secret is None and assertion is None:
            if confidential_only or not app.public_client_flows:
                raise LoginError(401, "invalid_client", 7000218,
                                 "The request body must contain the following parameter: 'client_assertion' or "
                                 "'client_secret'.")
            return
        if app.public_client_flows and not confidential_only:
            raise LoginError(401, "invalid_client", 700025,
                             "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
        if secret is not None:
            if app.secret is None or not secrets.compare_digest(secret, app.secret):
                raise LoginError(401, "invalid_client", 7000215,
                                 "Invalid client secret provided. Ensure the secret being sent in the request is the "
                                 "client secret value, not the client secret ID, for a secret added to app "
                                 f"'{app.client_id}'.")
            return
        self._check_assertion(app, str(assertion), form.get("client_assertion_type", ""), endpoint)

    def _check_assertion(self, app: App, assertion: str, kind: str, endpoint: str) -> None:
        from cryptography import x509

        if kind != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            raise LoginError(400, "invalid_request", 50027, "JWT token is invalid or malformed.")  # [?]
        if app.certificate_pem is None:
            raise LoginError(401, "invalid_client", 700027,
                             "Client assertion contains an invalid signature. [Reason - The key was not found.]")
        key = x509.load_pem_x509_certificate(app.certificate_pem.encode()).public_key()
        audiences = [endpoint, f"{PUBLIC_HOST}/{app.tenant}/oauth2/v2.0/token", f"{PUBLIC_HOST}/{app.tenant}/v2.0"]
        try:
            claims = jwt.decode(assertion, key, algorithms=["RS256", "PS256"],  # type: ignore[arg-type]  # RSA key
                                audience=audiences,
                                options={"verify_exp": False, "verify_nbf": False})
        except jwt.InvalidSignatureError:
            raise LoginError(401, "invalid_client", 700027,
                             "Client assertion contains an invalid signature.") from None
        except jwt.DecodeError:
            raise LoginError(401, "invalid_client", 50027, "JWT token is invalid or malformed.") from None  # [?]
        except jwt.InvalidAudienceError:
            raise LoginError(401, "invalid_client", 700021,  # [?] code
                             "Client assertion audience claim does not match Realm issuer.") from None
        except jwt.PyJWTError:
            raise LoginError(401, "invalid_client", 700027,
                             "Client assertion contains an invalid signature.") from None
        now = self.clock().timestamp()
        if not (claims.get("nbf", now) - 300 <= now < claims.get("exp", 0) + 300):
            raise LoginError(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            raise LoginError(401, "invalid_client", 700021,
                             "Client assertion application identifier doesn't match 'client_id' parameter.")

    # --- tokens ------------------------------------------------------------------------------------------------

    def _access(self, tenant: Tenant, app: App, user: str | None, scopes: list[str]) -> tuple[str, int]:
        now = self.clock()
        lifetime = int(self.token_lifetime.total_seconds())
        box = tenant.mailbox(user) if user else None
        claims: dict[str, Any] = {
            "aud": "https://graph.microsoft.com", "iss": f"https://sts.windows.net/{tenant.id}/",
            "iat": int(now.timestamp()), "nbf": int(now.timestamp()), "exp": int(now.timestamp()) + lifetime,
            "app_displayname": app.name, "appid": app.client_id, "idtyp": "user" if box else "app",
            "tid": tenant.id, "uti": secrets.token_urlsafe(16), "ver": "1.0",
            "oid": box.oid if box else str(uuid.uuid5(uuid.NAMESPACE_URL, app.client_id)),
        }
        if box:
            claims.update(scp=" ".join(scopes), upn=box.address)
        else:
            claims["roles"] = list(app.roles)
        token = jwt.encode(claims, self.key, algorithm="HS256", headers={"nonce": secrets.token_urlsafe(16)})
        self.grants[token] = Grant(tenant.id, app.client_id, box.address if box else None,
                                   now + self.token_lifetime, scopes)
        return token, lifetime

    def _user_tokens(self, tenant: Tenant, app: App, user: str, scopes: list[str]) -> dict[str, Any]:
        box = tenant.mailbox(user)
        assert box is not None  # approve() checked the user is in the tenant
        granted = [s.removeprefix("https://graph.microsoft.com/") for s in scopes if s not in OIDC_SCOPES]
        access, lifetime = self._access(tenant, app, box.address, granted)
        refresh = "1.AQ" + secrets.token_urlsafe(120)
        self.refresh_tokens[refresh] = Grant(tenant.id, app.client_id, box.address,
                                             self.clock() + timedelta(days=90), scopes)
        now = int(self.clock().timestamp())
        # MSAL decodes the ID token without checking its signature (msal/oauth2cli/oidc.py, issue #911)
        id_token = jwt.encode({"aud": app.client_id, "iss": f"{PUBLIC_HOST}/{tenant.id}/v2.0", "iat": now,
                               "nbf": now, "exp": now + 3600, "name": box.name or box.address, "oid": box.oid,
                               "preferred_username": box.address, "sub": secrets.token_urlsafe(32),
                               "tid": tenant.id, "ver": "2.0"}, self.key, algorithm="HS256")
        return {"token_type": "Bearer", "scope": " ".join([*granted, "profile", "openid", "email"]),
                "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access,
                "refresh_token": refresh, "id_token": id_token,
                "client_info": _b64url_json({"uid": box.oid, "utid": tenant.id})}


def _missing(name: str) -> LoginError:
    return LoginError(400, "invalid_request", 900144, f"The request body must contain the following parameter: "
                                                      f"'{name}'.")


def _not_in_directory(client_id: str, tenant: Tenant) -> str:
    return (f"Application with identifier '{client_id}' was not found in the directory '{tenant.domain}'. This can "
            "happen if the application has not been installed by the administrator of the tenant or consented to by "
            "any user in the tenant. You may have sent your authentication request to the wrong tenant.")


def _no_consent(app: App) -> LoginError:
    return LoginError(400, "invalid_grant", 65001,
                      f"The user or administrator has not consented to use the application with ID "
                      f"'{app.client_id}' named '{app.name}'. Send an interactive authorization request for this user "
                      "and resource.", suberror="consent_required")
