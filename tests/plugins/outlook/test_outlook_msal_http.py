"""MSAL's HTTP adapter: what MSAL hands it must reach the login service as `requests` would send it."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import respx

from hub_outlook.msal_http import MsalHttp

TOKEN = "https://login.microsoftonline.com/t1/oauth2/v2.0/token"


@respx.mock
def test_a_client_assertion_given_as_bytes_is_sent_as_its_text() -> None:
    """MSAL puts the signed certificate assertion in its form as bytes (found by the sandbox): httpx would send
    "b'eyJ...'", which Entra refuses; the adapter decodes it as requests does."""
    route = respx.post(TOKEN).mock(return_value=httpx.Response(200, json={"access_token": "x"}))
    with httpx.Client() as http:
        MsalHttp(http).post(TOKEN, data={"client_assertion": b"eyJhbGciOi.x.y", "grant_type": "client_credentials"})
    form = parse_qs(route.calls.last.request.content.decode())
    assert form["client_assertion"] == ["eyJhbGciOi.x.y"]
    assert form["grant_type"] == ["client_credentials"]


@respx.mock
def test_login_requests_go_to_login_url_when_it_is_not_microsofts() -> None:
    route = respx.post("http://127.0.0.1:9/login/t1/oauth2/v2.0/token").mock(return_value=httpx.Response(200))
    with httpx.Client() as http:
        MsalHttp(http, "http://127.0.0.1:9/login").post(TOKEN, data={"a": "b"})
    assert route.called
