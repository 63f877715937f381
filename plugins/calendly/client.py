"""A thin Calendly API v2 client: bearer auth, pagination, rate limits and the hub's failure taxonomy.

Every request goes to `api_url`, even when it is given a full resource URI (Calendly identifies resources by
URIs on api.calendly.com): only the path is kept, so a sandbox or a test server is never bypassed.

Answers are mapped by the core's `hub.api.failure_for` (429/5xx not ready, 401 auth failed, another 4xx
rejected); what is Calendly's own stays here: 403/404/409 as typed errors the callers catch (a 403 told apart
by its body, see access.py), and the X-RateLimit-Limit/Remaining/Reset headers every answer carries
(https://developer.calendly.com/api-docs/overview/rate-limits): remembered so the no-show sweep can spend
only its share, and used to stop requests before Calendly has to say 429.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity.wait import WaitBaseT

from hub.api import failure_for, failure_from_exception, retry_after
from hub.errors import DeliveryRejected, PluginNotReady
from hub_calendly.access import (
    CalendlyDenied,
    CalendlyNotAdmin,
    CalendlyScopeMissing,
    is_plan_refusal,
    organization_asked,
    required_scopes,
)

DEFAULT_API_URL = "https://api.calendly.com"
PAGE_SIZE = 100  # the API's maximum `count`
DEFAULT_RESET = 60.0
SERVICE = "Calendly"
TOKEN_HELP = ("créez un nouveau jeton d'accès personnel (Integrations > API & Webhooks) et remplacez l'ancien "
              "dans l'environnement de l'antenne")
log = logging.getLogger("hub.plugin.calendly.client")


class CalendlyError(DeliveryRejected):
    """An answer Calendly gave that the caller may handle (403 plan, 404, 409, another 4xx). Never carries
    personal data. A DeliveryRejected: left uncaught in a delivery, retrying the same request cannot help."""

    def __init__(self, status: int, title: str, message: str = "") -> None:
        super().__init__(f"Calendly {status} {title}: {message}".strip())
        self.status = status
        self.title = title
        self.message = message


class CalendlyForbidden(CalendlyError):
    """A 403 saying the plan has no webhooks ("Please upgrade your Calendly account to ..."); other 403s are
    PluginAuthFailed subclasses (access.py), which pause the lane with their fix."""


class CalendlyNotFound(CalendlyError):
    pass


class CalendlyConflict(CalendlyError):
    pass


_BY_STATUS: dict[int, type[CalendlyError]] = {404: CalendlyNotFound, 409: CalendlyConflict}


class _Transient(Exception):
    """A 5xx, a 408 or a network failure: worth one more try inside the same call."""

    def __init__(self, response: httpx.Response | None = None) -> None:
        super().__init__()
        self.response = response


def uuid_of(uri: str) -> str:
    """The last path segment of a Calendly URI (its uuid)."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CalendlyClient:
    """One token, one base URL. `requests` counts the HTTP requests made (used to measure poll costs)."""

    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, *, clock: Callable[[], datetime] = _utcnow,
                 transport: httpx.BaseTransport | None = None, timeout: float = 20.0,
                 retry_wait: WaitBaseT | None = None, attempts: int = 3) -> None:
        self.api_url = api_url.rstrip("/")
        self.clock = clock
        self.requests = 0
        self.blocked_until: datetime | None = None
        self.rate_limit: int | None = None  # X-RateLimit-Limit: 50 on the Free plan, 500 on paid plans
        self._remaining: int | None = None
        self._reset_at: datetime | None = None
        self._retry_wait = retry_wait if retry_wait is not None else wait_exponential(multiplier=0.5, max=4)
        self._attempts = attempts
        self._http = httpx.Client(base_url=self.api_url, transport=transport, timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                           "User-Agent": "cravate-hub-calendly"})

    def close(self) -> None:
        self._http.close()

    # --- the one place requests are made ----------------------------------------------------------------------

    def _path(self, path_or_uri: str) -> str:
        if path_or_uri.startswith(("http://", "https://")):
            parts = urlsplit(path_or_uri)
            return parts.path + (f"?{parts.query}" if parts.query else "")
        return path_or_uri if path_or_uri.startswith("/") else f"/{path_or_uri}"

    def request(self, method: str, path_or_uri: str, *, params: dict[str, Any] | None = None,
                json: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request (retrying 5xx and network errors briefly) and return its JSON body ({} if none)."""
        now = self.clock()
        if self.blocked_until is not None and self.blocked_until > now:
            raise PluginNotReady("Calendly limite le nombre de requêtes (quota épuisé) : attente de sa remise à zéro",
                                 retry_after=(self.blocked_until - now).total_seconds())
        path = self._path(path_or_uri)
        try:
            for attempt in Retrying(stop=stop_after_attempt(self._attempts), wait=self._retry_wait, reraise=True,
                                    retry=retry_if_exception(lambda e: isinstance(e, _Transient))):
                with attempt:
                    response = self._send(method, path, params, json)
        except _Transient as exc:
            if exc.response is None:  # the network, every time: the cause says which kind, never its text
                cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
                raise failure_from_exception(cause, service=SERVICE) from None
            response = exc.response  # still 5xx after the last try: mapped below like any answer
        if response.status_code == 403:
            self._note_rate_limit(response)
            raise _forbidden(_json_or_empty(response), method, path, params, json)
        return self._decode(response)

    def _send(self, method: str, path: str, params: dict[str, Any] | None,
              json: dict[str, Any] | None) -> httpx.Response:
        self.requests += 1
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TransportError as exc:
            raise _Transient() from exc
        if response.status_code >= 500 or response.status_code == 408:
            raise _Transient(response)
        return response

    def _decode(self, response: httpx.Response) -> dict[str, Any]:
        self._note_rate_limit(response)
        status = response.status_code
        if status in _BY_STATUS:  # answers the callers handle themselves (plan without webhooks, gone, exists)
            body = _json_or_empty(response)
            raise _BY_STATUS[status](status, str(body.get("title", "")), str(body.get("message", "")))
        if status == 429:  # Calendly announces its window's reset, better than a fixed wait
            wait = self._reset_seconds(response)
            self.blocked_until = self.clock() + timedelta(seconds=wait)
            failure = failure_for(status, service=SERVICE, default_wait=wait)
        else:
            failure = failure_for(status, service=SERVICE, headers=response.headers, now=self.clock(),
                                  detail=TOKEN_HELP if status == 401 else "")
        if isinstance(failure, DeliveryRejected):  # another 4xx: typed, so commands can show it
            body = _json_or_empty(response)
            raise CalendlyError(status, str(body.get("title", "")), str(body.get("message", "")))
        if failure is not None:
            raise failure
        if status == 204 or not response.content:
            return {}
        try:
            data: Any = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):  # `{}` is a body (a 202 of the data compliance API), anything else is not
            raise PluginNotReady(f"Calendly a répondu {status} avec un contenu qui n'est pas du JSON")
        return data

    def _reset_seconds(self, response: httpx.Response) -> float:
        raw = response.headers.get("x-ratelimit-reset")  # seconds until the window resets
        try:
            if raw is not None:
                return max(float(raw), 1.0)
        except ValueError:
            pass
        wait = retry_after(response.headers.get("retry-after"), now=self.clock())
        return DEFAULT_RESET if wait is None else max(wait, 1.0)

    def _note_rate_limit(self, response: httpx.Response) -> None:
        """Remember the plan's limit and what is left of the window; stop before Calendly has to say 429:
        remaining 0 blocks further calls until the announced reset."""
        limit, remaining = _int(response.headers.get("x-ratelimit-limit")), _int(
            response.headers.get("x-ratelimit-remaining"))
        if limit is not None:
            self.rate_limit = limit
        if remaining is not None:
            self._remaining = remaining
            self._reset_at = self.clock() + timedelta(seconds=self._reset_seconds(response))
        if remaining == 0 and response.status_code != 429:
            self.blocked_until = self.clock() + timedelta(seconds=self._reset_seconds(response))

    def remaining(self) -> int | None:
        """Requests left in the current window, as the last answer said; None once that window has reset (or
        before any answer)."""
        if self._reset_at is None or self.clock() >= self._reset_at:
            return None
        return self._remaining

    # --- endpoints ----------------------------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        return self.request("GET", "/users/me")["resource"]

    def get(self, uri: str) -> dict[str, Any]:
        """A single resource by URI (scheduled event, invitee, webhook subscription)."""
        return self.request("GET", uri)["resource"]

    def page(self, path: str, params: dict[str, Any], page_token: str | None = None
             ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a collection and the next page's token (None on the last page)."""
        query = {**params, "count": params.get("count", PAGE_SIZE)}
        if page_token:
            query["page_token"] = page_token
        body = self.request("GET", path, params=query)
        pagination = body.get("pagination") or {}
        token = pagination.get("next_page_token")
        if not token and pagination.get("next_page"):
            token = httpx.URL(pagination["next_page"]).params.get("page_token")
        return list(body.get("collection") or []), token or None

    def collect(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following pages."""
        token: str | None = None
        while True:
            items, token = self.page(path, params, token)
            yield from items
            if not token:
                return

    def scheduled_events_page(self, params: dict[str, Any], page_token: str | None = None
                              ) -> tuple[list[dict[str, Any]], str | None]:
        return self.page("/scheduled_events", params, page_token)

    def invitees(self, event_uri: str) -> list[dict[str, Any]]:
        return list(self.collect(f"/scheduled_events/{uuid_of(event_uri)}/invitees", {"sort": "created_at:asc"}))

    def webhook_subscriptions(self, organization: str, scope: str, user: str | None = None) -> list[dict[str, Any]]:
        params = {"organization": organization, "scope": scope}
        if scope == "user" and user:
            params["user"] = user
        return list(self.collect("/webhook_subscriptions", params))

    def create_webhook_subscription(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/webhook_subscriptions", json=body)["resource"]

    def delete(self, uri: str) -> None:
        self.request("DELETE", uri)

    def delete_invitee_data(self, emails: list[str]) -> None:
        """Ask Calendly to erase the invitees with these e-mails across the organisation (202, done within 7
        days); Enterprise plan and the data_compliance:write scope only (see erasure.py)."""
        self.request("POST", "/data_compliance/deletion/invitees", json={"emails": emails})

    def create_scheduling_link(self, event_type_uri: str) -> dict[str, Any]:
        body = {"max_event_count": 1, "owner": event_type_uri, "owner_type": "EventType"}
        return self.request("POST", "/scheduling_links", json=body)["resource"]


def _forbidden(body: dict[str, Any], method: str, path: str, params: dict[str, Any] | None,
               json: dict[str, Any] | None) -> Exception:
    """The 403's own diagnosis: a missing scope, organization scope without admin rights, a plan without
    webhooks, or another refusal. Never carries personal data (Calendly's title and message only)."""
    scopes = required_scopes(body)
    if scopes:
        return CalendlyScopeMissing(scopes)
    if is_plan_refusal(body):
        return CalendlyForbidden(403, str(body.get("title", "")), str(body.get("message", "")))
    if organization_asked(method, path, params, json):
        return CalendlyNotAdmin()
    return CalendlyDenied(str(body.get("title", "")), str(body.get("message", "")))


def _int(raw: str | None) -> int | None:
    try:
        return int(raw.strip()) if raw is not None else None
    except ValueError:
        return None


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
