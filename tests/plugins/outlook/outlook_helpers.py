"""A fake of Microsoft's login and Graph endpoints at the wire (respx), written from the shapes of the vendor's
examples (login: OpenID metadata, token and device code answers; Graph: message, error bodies). Nothing here
may reach Microsoft: the router is built with assert_all_mocked.

Also the helpers shared by the outlook tests (a module of its own: conftest files are not for importing).
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import respx

import hub_outlook.plugin
from hub.app import Hub
from hub.events import Event, EventKind, Message
from hub.testing import make_event

BRANCH = "lyon"
OTHER = "paris"
TENANT = "6c1f3a52-0d1e-4c5b-9a43-2f8e7d6b5a10"
CLIENT_ID = "3f2b8c1d-7e6a-4b59-8d0c-1a2b3c4d5e6f"
MAILBOX = "lyon@cravate.org"
USER_OID = "00000000-0000-0000-66f3-3332eca7ea81"
LOGIN = "https://login.microsoftonline.com"
GRAPH = "https://graph.microsoft.com/v1.0"
SECRET = "s3cret~value"
APP_ROLES = ["Mail.Send", "Mail.ReadWrite", "Calendars.ReadWrite"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT: MSAL decodes id tokens without checking the signature, Graph's tokens are opaque."""
    header = b64url(json.dumps({"typ": "JWT", "alg": "RS256", "kid": "test"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}.c2lnbmF0dXJl"


def openid_configuration(tenant: str = TENANT) -> dict[str, Any]:
    """The tenant's discovery document as Entra serves it (endpoints on the public host)."""
    base = f"{LOGIN}/{tenant}"
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{LOGIN}/{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{LOGIN}/{tenant}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver", "oid"],
        "kerberos_endpoint": f"{base}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def entra_error(error: str, code: int, text: str) -> dict[str, Any]:
    """An Entra error body (RFC 6749 §5.2 plus Microsoft's fields)."""
    return {"error": error, "error_description": f"AADSTS{code}: {text} Trace ID: 0b3c1f6e-0000 Correlation ID: "
                                                 "1c2d3e4f-0000 Timestamp: 2026-03-02 09:00:00Z",
            "error_codes": [code], "timestamp": "2026-03-02 09:00:00Z", "trace_id": "0b3c1f6e-0000",
            "correlation_id": "1c2d3e4f-0000", "error_uri": f"{LOGIN}/error?code={code}"}


def graph_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message,
                      "innerError": {"date": "2026-03-02T09:00:00", "request-id": "5d2e0000-aaaa",
                                     "client-request-id": "5d2e0000-aaaa"}}}


class FakeMicrosoft:
    """Entra's login endpoints and the Graph mail endpoints the channel uses, for one tenant and mailbox."""

    def __init__(self, login: str = LOGIN, graph: str = GRAPH, mailbox: str = MAILBOX) -> None:
        self.login = login.rstrip("/")
        self.graph = graph.rstrip("/")
        self.mailbox = mailbox
        self.token_posts: list[str] = []  # grant types, in order
        self.token_answers: list[httpx.Response | Exception] = []  # answered (raised) first
        self.discovery_gets = 0
        self.pending_polls = 1  # device code: `authorization_pending` this many times first
        self.revoked = False  # refresh tokens refused (invalid_grant)
        self.app_roles = list(APP_ROLES)
        self.issued = 0
        self.valid_tokens: set[str] = set()
        self.graph_calls: list[str] = []
        self.graph_answers: list[httpx.Response | Exception] = []  # answered (raised) first
        self.messages: dict[str, dict[str, Any]] = {}
        self.on_graph: Callable[[httpx.Request], None] | None = None
        self._lock = threading.Lock()

    def install(self, router: respx.MockRouter, tenant: str = TENANT) -> None:
        base = f"{self.login}/{tenant}"
        router.get(f"{base}/v2.0/.well-known/openid-configuration").mock(side_effect=self._discovery)
        router.post(f"{base}/oauth2/v2.0/token").mock(side_effect=self._token)
        router.post(f"{base}/oauth2/v2.0/devicecode").mock(side_effect=self._device_code)
        router.route(url__startswith=self.graph + "/").mock(side_effect=self._graph)

    # --- login -------------------------------------------------------------------------------------------------

    def _discovery(self, request: httpx.Request) -> httpx.Response:
        self.discovery_gets += 1
        return httpx.Response(200, json=openid_configuration())

    def _access_token(self, claims: dict[str, Any]) -> str:
        with self._lock:
            self.issued += 1
            token = jwt({"aud": "https://graph.microsoft.com", "iss": f"https://sts.windows.net/{TENANT}/",
                         "tid": TENANT, "n": self.issued, **claims})
            self.valid_tokens.add(token)
        return token

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        grant = form.get("grant_type", "")
        self.token_posts.append(grant.rsplit(":", 1)[-1])
        if self.token_answers:
            return _answer(self.token_answers.pop(0))
        if grant == "client_credentials":
            if form.get("client_secret") not in (SECRET, None) and "client_assertion" not in form:
                return httpx.Response(401, json=entra_error("invalid_client", 7000215,
                                                            "Invalid client secret provided."))
            token = self._access_token({"roles": self.app_roles, "idtyp": "app"})
            return httpx.Response(200, json={"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                             "access_token": token})
        if grant.endswith("device_code"):
            if self.pending_polls > 0:
                self.pending_polls -= 1
                return httpx.Response(400, json=entra_error(
                    "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending."))
            return self._user_tokens(form)
        if grant == "refresh_token":
            if self.revoked:
                return httpx.Response(400, json=entra_error(
                    "invalid_grant", 50173, "The provided grant has expired due to it being revoked."))
            return self._user_tokens(form)
        return httpx.Response(400, json=entra_error("unsupported_grant_type", 70003, "Unsupported grant."))

    def _user_tokens(self, form: dict[str, str]) -> httpx.Response:
        now = int(time.time())
        id_token = jwt({"aud": CLIENT_ID, "iss": f"{LOGIN}/{TENANT}/v2.0", "iat": now, "nbf": now,
                        "exp": now + 3600, "name": "Camille Martin", "oid": USER_OID,
                        "preferred_username": MAILBOX, "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
                        "tid": TENANT, "ver": "2.0"})
        client_info = b64url(json.dumps({"uid": USER_OID, "utid": TENANT}).encode())
        token = self._access_token({"scp": "Mail.Send Mail.ReadWrite Calendars.ReadWrite", "oid": USER_OID})
        return httpx.Response(200, json={
            "token_type": "Bearer", "scope": "Mail.Send Mail.ReadWrite Calendars.ReadWrite openid profile",
            "expires_in": 3599, "ext_expires_in": 3599, "access_token": token,
            "refresh_token": f"0.AR8A-refresh-{self.issued}", "id_token": id_token, "client_info": client_info})

    def _device_code(self, request: httpx.Request) -> httpx.Response:
        self.token_posts.append("devicecode")
        return httpx.Response(200, json={
            "user_code": "FG7KQ2MXP", "device_code": "GAQABAAEAAAD--DLA3VO7QrddgJg7Wevr-device",
            "verification_uri": "https://microsoft.com/devicelogin", "expires_in": "900", "interval": "5",
            "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter "
                       "the code FG7KQ2MXP to authenticate."})

    # --- Graph -------------------------------------------------------------------------------------------------

    def _graph(self, request: httpx.Request) -> httpx.Response:
        if self.on_graph is not None:
            self.on_graph(request)
        path = unquote(urlsplit(str(request.url)).path)
        prefix = urlsplit(self.graph).path + f"/users/{self.mailbox}"
        assert request.headers.get("prefer") == 'IdType="ImmutableId"', "every request asks for immutable ids"
        name = self._name(request.method, path[len(prefix):] if path.startswith(prefix) else path)
        self.graph_calls.append(name)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            return httpx.Response(401, json=graph_error("InvalidAuthenticationToken", "Access token has expired."))
        if self.graph_answers:
            return _answer(self.graph_answers.pop(0))
        if not path.startswith(prefix):
            return httpx.Response(404, json=graph_error("ErrorInvalidUser", "The requested user is invalid."))
        return self._answer(name, request, path[len(prefix):])

    @staticmethod
    def _name(method: str, rest: str) -> str:
        if method == "POST" and rest == "/messages":
            return "create"
        if method == "POST" and rest.endswith("/send"):
            return "send"
        if method == "GET" and rest == "/messages":
            return "find"
        if method == "GET" and rest.startswith("/messages/"):
            return "get"
        if method == "GET" and rest == "/mailFolders/drafts":
            return "drafts"
        return f"{method} {rest}"

    def _answer(self, name: str, request: httpx.Request, rest: str) -> httpx.Response:
        if name == "create":
            body = json.loads(request.content)
            with self._lock:
                message_id = f"AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AbBq2Ue7pr0CfWwRsBm7/{len(self.messages):04d}AAA="
                props = {p["id"]: p["value"] for p in body.get("singleValueExtendedProperties", [])}
                self.messages[message_id] = {"id": message_id, "isDraft": True, "body": body, "props": props}
            return httpx.Response(201, json={"@odata.context": "...", "id": message_id, "isDraft": True,
                                             "subject": body.get("subject")})
        if name == "send":
            message_id = rest.removeprefix("/messages/").removesuffix("/send")
            found = self.messages.get(message_id)
            if found is None:
                return httpx.Response(404, json=graph_error("ErrorItemNotFound",
                                                            "The specified object was not found in the store."))
            found["isDraft"] = False
            return httpx.Response(202)
        if name == "get":
            found = self.messages.get(rest.removeprefix("/messages/"))
            if found is None:
                return httpx.Response(404, json=graph_error("ErrorItemNotFound",
                                                            "The specified object was not found in the store."))
            return httpx.Response(200, json={"id": found["id"], "isDraft": found["isDraft"]})
        if name == "find" and "$search" in request.url.params:  # erasure.py: `"participants:<address>"`
            assert set(request.url.params) <= {"$search", "$select", "$top"}, "no $filter nor $orderby with $search"
            wanted = request.url.params["$search"].strip('"').partition(":")[2].casefold()
            items = [{"id": m["id"]} for m in self.messages.values() if not m.get("purged") and wanted in
                     [r["emailAddress"]["address"].casefold() for r in m["body"].get("toRecipients", [])]]
            return httpx.Response(200, json={"value": items})
        if purge := re.fullmatch(r"/messages/(.+)/permanentDelete", rest):  # erasure.py (ids may hold a /)
            found = self.messages.get(purge.group(1))
            if found is None or found.get("purged"):
                return httpx.Response(404, json=graph_error("ErrorItemNotFound",
                                                            "The specified object was not found in the store."))
            found["purged"] = True  # out of the mailbox; `sent()` is what the recipient got and keeps it
            return httpx.Response(204)
        if name == "find":
            flt = request.url.params.get("$filter", "")
            match = re.fullmatch(r"singleValueExtendedProperties/Any\(ep: ep/id eq '([^']+)' and "
                                 r"ep/value eq '([^']+)'\)", flt)
            assert match, flt
            items = [{"id": m["id"], "isDraft": m["isDraft"]} for m in self.messages.values()
                     if m["props"].get(match.group(1)) == match.group(2)]
            return httpx.Response(200, json={"value": items})
        if name == "drafts":
            return httpx.Response(200, json={"id": "AQMkADAwATM0MDAAMS1iNTcwLWI2NTEtMDACLTAwCgAuAAAD"})
        return httpx.Response(400, json=graph_error("BadRequest", "Unsupported in the fake."))

    # --- what tests look at -----------------------------------------------------------------------------------

    def sent(self) -> list[dict[str, Any]]:
        return [m["body"] for m in self.messages.values() if not m["isDraft"]]

    def drafts(self) -> list[dict[str, Any]]:
        return [m["body"] for m in self.messages.values() if m["isDraft"]]

    def calls_since(self) -> Callable[[], list[str]]:
        """A reader of the Graph calls made since it was created (then since its last call)."""
        mark = [len(self.graph_calls)]

        def read() -> list[str]:
            out, mark[0] = self.graph_calls[mark[0]:], len(self.graph_calls)
            return out
        return read


def _answer(answer: httpx.Response | Exception) -> httpx.Response:
    if isinstance(answer, Exception):
        raise answer
    return answer


def outlook_table(**overrides: Any) -> dict[str, Any]:
    return {"tenant_id": TENANT, "client_id": CLIENT_ID, "auth": "app", "mailbox": MAILBOX,
            "client_secret": {"env": "OUTLOOK_SECRET_LYON"}, **overrides}


def due(message: Message) -> Event:
    return make_event(EventKind.MESSAGE_DUE, message=message, source_id=f"due-{message.id}")


def deliver_directly(hub: Hub, message: Message, key: str, branch: str = BRANCH) -> None:
    """Call the hook as the dispatcher does, and commit its state with the outcome as the dispatcher does,
    whether the hook returned or raised; a BaseException (a test's simulated crash) commits nothing."""
    ctx = hub.context(branch, "outlook").for_delivery(key)
    try:
        hub_outlook.plugin.message_due(ctx, due(message))
    finally:
        if sys.exc_info()[0] is None or isinstance(sys.exc_info()[1], Exception):
            with hub.store.transaction():
                ctx.flush_state()
