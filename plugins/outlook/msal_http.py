"""MSAL's `http_client` over the branch's httpx.Client, and the forwarding of login requests to `login_url`.

MSAL's interface (msal/oauth2cli/http.py, reference §1.4): `post(url, params=None, data=None, headers=None,
**kwargs)` and `get(url, params=None, headers=None, **kwargs)` returning something with `status_code`, `text`,
`headers` and `raise_for_status()`; an httpx.Response has all four. When the client is ours, retrying is ours
too ("it will be your http_client's duty to decide whether to perform retry", msal/application.py): nothing is
retried here, a network error reaches auth.py, which makes it PluginNotReady.

MSAL is always given the authority `https://login.microsoftonline.com/{tenant}` (it refuses a non-https one,
reference §1.5); with another `login_url` (the sandbox, `http://127.0.0.1:PORT/login`) every request to that
host is sent to `{login_url}` + the same path, including the endpoints the discovery document names.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx

from hub_outlook.settings import AUTHORITY_HOST


class MsalHttp:
    """The subset of a `requests.Session` MSAL calls. `requests` counts the login requests made."""

    def __init__(self, http: httpx.Client, login_url: str = AUTHORITY_HOST) -> None:
        self.http = http
        self.login_url = login_url.rstrip("/")
        self.requests = 0
        self._lock = threading.Lock()

    def target(self, url: str) -> str:
        if self.login_url != AUTHORITY_HOST and (url == AUTHORITY_HOST or url.startswith(AUTHORITY_HOST + "/")):
            return self.login_url + url[len(AUTHORITY_HOST):]
        return url

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None,
             **kwargs: Any) -> httpx.Response:
        self._count()
        if isinstance(data, str | bytes):  # MSAL sends a form as a dict, sometimes already encoded
            return self.http.post(self.target(url), params=params, content=data, headers=headers)
        if isinstance(data, dict):  # a certificate's client_assertion comes as bytes: requests sends its text,
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}  # httpx "b'...'"
        return self.http.post(self.target(url), params=params, data=data, headers=headers)

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        self._count()
        return self.http.get(self.target(url), params=params, headers=headers)

    def close(self) -> None:
        """The httpx client is the mailbox's: it closes it with the lane."""

    def _count(self) -> None:
        with self._lock:
            self.requests += 1
