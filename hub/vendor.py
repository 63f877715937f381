"""The vendor boundary: one mapping from a service's answer to the hub's failure taxonomy (hub.errors).

Every connector used to decide on its own which HTTP status pauses it, which one is retried and how long to
wait; this is the one place now, usable with httpx (`check_response`) and with SDKs that surface a status
(google-api-python-client's `HttpError.resp.status`: `failure_for(status, headers=exc.resp, ...)`).

    status                          failure
    2xx, 3xx (and 1xx)              None: not a failure (redirects are the caller's business)
    408, 429, 5xx                   PluginNotReady, retry_after = Retry-After (both forms) or `default_wait`
    401                             PluginAuthFailed(fix=auth_fix)
    403                             as `forbidden` says (below); with a Retry-After header: PluginNotReady
    other 4xx (400, 404, 409, 422)  DeliveryRejected: the same request will never work

403 is ambiguous. Most services mean "these credentials may not do that" (a scope missing, a resource not
shared with the account): a person has to act, so by default it pauses the plugin like a refused token
(`forbidden="auth"`), and no delivery is dead-lettered meanwhile. Some services answer 403 for "this object
may never be touched" (`forbidden="rejected"`), and some for rate limits (Google's `rateLimitExceeded`,
GitHub's secondary limits: `forbidden="not_ready"`); a 403 carrying Retry-After is taken as a rate limit
whatever `forbidden` says. A caller that needs more (a typed exception its own code catches) handles 403
before calling.

Messages are for staff (French), name the service and the status, and never carry what the service sent
back: no body, no URL (they may hold tokens or personal data), no exception text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal

from hub.errors import DeliveryRejected, PluginAuthFailed, PluginNotReady

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_WAIT", "Forbidden", "check_response", "failure_for", "failure_from_exception", "retry_after"]

Forbidden = Literal["auth", "rejected", "not_ready"]
DEFAULT_WAIT = 60.0
"""Seconds to wait after a 429 or 5xx that gave no Retry-After: most quotas refill within a minute."""
_DETAIL_MAX = 200


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, in either form RFC 9110 §10.2.3 allows: delay-seconds
    ("120") or an HTTP-date ("Wed, 21 Oct 2026 07:28:00 GMT"); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def failure_for(status: int, *, service: str, headers: Mapping[str, str] | None = None, detail: str = "",
                auth_fix: str | None = None, forbidden: Forbidden = "auth", default_wait: float | None = DEFAULT_WAIT,
                now: datetime | None = None) -> Exception | None:
    """The failure an answer with `status` stands for (see the module's table), or None for a success.

    `service` is the name staff know ("Calendly", "Google Sheets"). `headers` are the answer's (any mapping;
    looked up case-insensitively), read for Retry-After only. `detail` is a short text appended to the
    message: the vendor's error code or title, or what to do; never the body, a URL, a token or personal data.
    `auth_fix` is the command that re-authorises this plugin ("hub auth google --branch lyon"), given to
    PluginAuthFailed; None sends staff to `hub doctor`. `default_wait` is the wait when no Retry-After was
    given (None: leave it to the hub's backoff); `now` is the clock an HTTP-date is compared with.
    """
    def message(what: str) -> str:
        text = " ".join(detail.split())[:_DETAIL_MAX]
        return f"{service} {what} ({status})" + (f" : {text}" if text else "")

    def not_ready(what: str) -> PluginNotReady:
        wait = retry_after(_header(headers, "retry-after"), now=now)
        return PluginNotReady(message(what), retry_after=default_wait if wait is None else wait)

    if status < 400:
        return None
    if status == 429:
        return not_ready("limite le nombre de requêtes")
    if status >= 500 or status == 408:
        return not_ready("est indisponible")
    if status == 401:
        return PluginAuthFailed(message("a refusé les identifiants"), fix=auth_fix)
    if status == 403:
        if forbidden == "not_ready" or _header(headers, "retry-after") is not None:
            return not_ready("limite le nombre de requêtes")
        if forbidden == "auth":
            return PluginAuthFailed(message("refuse l'accès"), fix=auth_fix)
    return DeliveryRejected(message("a refusé la requête"))


def check_response(response: httpx.Response, *, service: str, detail: str = "", auth_fix: str | None = None,
                   forbidden: Forbidden = "auth", default_wait: float | None = DEFAULT_WAIT,
                   now: datetime | None = None) -> httpx.Response:
    """The response itself when it is not a failure; otherwise raise the failure `failure_for` maps it to."""
    failure = failure_for(response.status_code, service=service, headers=response.headers, detail=detail,
                          auth_fix=auth_fix, forbidden=forbidden, default_wait=default_wait, now=now)
    if failure is not None:
        raise failure
    return response


def failure_from_exception(exc: Exception, *, service: str, auth_fix: str | None = None,
                           network: tuple[type[Exception], ...] = ()) -> Exception:
    """The failure a raised exception stands for; raise it `from None` (the original's text may hold a URL).

    - a failure of the taxonomy already (PluginNotReady...): itself;
    - httpx.HTTPStatusError (from `raise_for_status()`): mapped from its response like `failure_for`;
    - a network error (httpx.TransportError, TimeoutError, ConnectionError, OSError, or one of the SDK's own
      types given as `network`, e.g. google.auth.exceptions.TransportError): PluginNotReady naming the service
      and the exception's type, never its text;
    - anything else: itself, an unexpected error the hub retries a few times, then dead-letters.
    """
    if isinstance(exc, PluginNotReady | PluginAuthFailed | DeliveryRejected):
        return exc
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        mapped = failure_for(exc.response.status_code, service=service, headers=exc.response.headers,
                             auth_fix=auth_fix)
        return exc if mapped is None else mapped
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return PluginNotReady(f"{service} n'a pas répondu à temps ({kind})")
    if isinstance(exc, (httpx.TransportError, OSError, *network)):  # ConnectionError is an OSError
        return PluginNotReady(f"{service} injoignable ({kind})")
    return exc


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value; `name` in lower case. httpx.Headers ignore case, a plain dict (httplib2's) may not."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return str(value)
    for key, item in headers.items():
        if key.lower() == name:
            return str(item)
    return None
