"""Helpers for the Outlook sandbox's tests: an HTTP client MSAL can use that forwards login.microsoftonline.com
to the sandbox (what the plugin's client does), tokens, and a webhook receiver for the validation handshake."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hub.serving import ServerThread

TENANT = "0d1f6c2a-7b3e-4c55-9d0a-2e4f6a8b1c3d"
OTHER_TENANT = "9e8d7c6b-5a49-4838-a271-605f4e3d2c1b"
CLIENT_ID = "1a2b3c4d-5e6f-4a1b-8c9d-0e1f2a3b4c5d"
PUBLIC_ID = "2b3c4d5e-6f7a-4b2c-9d0e-1f2a3b4c5d6e"
SECRET = "sandbox~secret.value"
MAILBOX = "lyon@cravate-test.onmicrosoft.com"
OTHER = "paris@cravate-test.onmicrosoft.com"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
GRAPH_SCOPE = ["https://graph.microsoft.com/.default"]


class ForwardingTransport(httpx.BaseTransport):
    """Sends https://login.microsoftonline.com/<path> to <sandbox>/login/<path>, everything else unchanged."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "login.microsoftonline.com":
            url = httpx.URL(f"{self.base}/login{request.url.raw_path.decode()}")
            headers = [(k, v) for k, v in request.headers.items() if k.lower() != "host"]
            request = httpx.Request(request.method, url, headers=headers, content=request.read())
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class MsalHttp:
    """MSAL's http_client: an httpx.Client that forwards the login host to the sandbox. MSAL puts a client
    assertion in its form as bytes; requests sends that as text, httpx would send "b'...'" (Entra refuses it),
    so values are decoded first."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(transport=ForwardingTransport(base), timeout=10)

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kw: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        elif isinstance(data, str | bytes):
            return self.http.post(url, params=params, content=data, headers=headers)
        return self.http.post(url, params=params, data=data, headers=headers)

    def get(self, url: str, params: Any = None, headers: Any = None, **kw: Any) -> httpx.Response:
        return self.http.get(url, params=params, headers=headers)

    def close(self) -> None:
        self.http.close()


def msal_http(base: str) -> MsalHttp:
    return MsalHttp(base)


def app_token(base: str, *, tenant: str = TENANT, client_id: str = CLIENT_ID, secret: str = SECRET) -> str:
    answer = httpx.post(f"{base}/login/{tenant}/oauth2/v2.0/token",
                        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
                              "scope": GRAPH_SCOPE[0]})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


class Graph:
    """A thin Graph client for the tests: JSON in and out, a bearer token, extra headers per call."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.client = httpx.Client(base_url=f"{base}/graph/v1.0", timeout=10)

    def __call__(self, method: str, path: str, body: Any = None, *, prefer: str | None = None,
                 params: dict[str, str] | None = None, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if prefer:
            headers["Prefer"] = prefer
        return self.client.request(method, path, json=body, headers=headers, params=params)


def message(subject: str = "Bienvenue", *, to: str = "aicha@example.org", key: str | None = None,
            headers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"subject": subject, "body": {"contentType": "HTML", "content": "<p>Bonjour</p>"},
                            "toRecipients": [{"emailAddress": {"address": to, "name": "Aïcha"}}],
                            "internetMessageHeaders": headers or [{"name": "X-Cravate-Key", "value": key or "k1"}]}
    if key:
        data["singleValueExtendedProperties"] = [{"id": PROP, "value": key}]
    return data


PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name CravateKey"


def event(subject: str, start: str, end: str, zone: str = "UTC", **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "start": {"dateTime": start, "timeZone": zone},
            "end": {"dateTime": end, "timeZone": zone}, **extra}


def certificate() -> tuple[str, str, str]:
    """(private key PEM, public certificate PEM, SHA-1 thumbprint) of a fresh self-signed certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cravate-hub sandbox")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return private, cert.public_bytes(serialization.Encoding.PEM).decode(), cert.fingerprint(hashes.SHA1()).hex()


class Receiver:
    """A webhook endpoint: answers the validation handshake (well, or in one of the ways that fail) and keeps
    the notifications it gets."""

    def __init__(self, mode: str = "good") -> None:
        self.mode = mode
        self.received: list[dict[str, Any]] = []
        self.validations: list[str] = []

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            token = request.query_params.get("validationToken")
            if token is not None:
                self.validations.append(request.headers.get("content-type", ""))
                if self.mode == "encoded":  # echoes the raw, still URL-encoded token
                    raw = request.url.query.split("validationToken=", 1)[1]
                    return PlainTextResponse(raw)
                if self.mode == "status":
                    return Response(status_code=202)
                return PlainTextResponse(token)
            self.received.append(await request.json())
            return Response(status_code=202)
        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@contextmanager
def receiving(mode: str = "good") -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver(mode)
    with ServerThread(receiver.app()) as server:
        yield receiver, f"{server.url}/hook"
