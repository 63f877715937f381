"""A strict fake of Microsoft Entra ID (login, v2.0 endpoints) and Microsoft Graph v1.0 (mail, calendar, change
notifications), served on loopback for the Outlook connector's tests and the demo.

One base URL B serves both: B/login/{tenant}/... is Entra ID (the plugin's HTTP client forwards
https://login.microsoftonline.com/... there, since MSAL accepts only an https authority) and B/graph/v1.0/... is
Graph. The real msal library and httpx run against it unchanged. It refuses what the services refuse, in their
error JSON (sandbox_login.py, sandbox_graph.py, sandbox_model.py name the sources), throttles like Outlook
(4 concurrent requests per app and mailbox: 429 ApplicationThrottled "Application is over its
MailboxConcurrency limit.", reported in magodo/terraform-provider-outlook#21; the throttling page gives the
limit), enforces Exchange Online's sending limits, performs the subscription validation handshake, and records
every request (`requests()`, `count()`). Faults can be injected (`fail_next`), requests held in flight
(`pause`/`resume`), tokens expired, consent withdrawn or narrowed (`set_roles`), delta tokens expired. For the
erasure's tests, `holding()` lists what a mailbox still holds that mentions someone, Deleted Items included, and
staff's own mails and a person's replies can be put in it (`staff_send_mail`, `receive_mail`).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import anyio.to_thread
import httpx
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api import default_secret_env
from hub.sandbox import DemoAction, DemoContext, DemoPhase, Sandbox
from hub_outlook.sandbox_graph import GRAPH_JSON, PERMISSIONS, Ctx, GraphResources, Reply
from hub_outlook.sandbox_login import Grant, Login, LoginError
from hub_outlook.sandbox_model import (
    App,
    GraphError,
    Mailbox,
    Message,
    SentMail,
    Tenant,
    bad_request,
    change_key,
    event_json,
    message_json,
    outlook_id,
    parse_moment,
    zone,
)

DEMO_TENANT_ID = "5b7c1d2e-3f40-4a51-8b62-7c83d94ea5f6"
DEMO_DOMAIN = "cravate-demo.onmicrosoft.com"
DEMO_CLIENT_ID = "c4a7e9b1-52d3-4f86-a0b9-1e2d3c4b5a69"
DEMO_SECRET = "outlook-sandbox-secret-not-a-real-one"
SUBSCRIPTION_MAX_MINUTES = 10_080  # Outlook events and messages, basic notifications (reference §2.4)
VALIDATION_TOKEN = "Validation: Testing client application reachability for subscription Request-Id: {id}"
WWW_AUTHENTICATE = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                    'client_id="00000003-0000-0000-c000-000000000000"')  # a live 401, microsofthackathons/tdi#24
_M = r"(?P<m>me|users/(?P<user>[^/]+))"
_ROUTES: list[tuple[str, str, str, re.Pattern[str]]] = [
    (http, template, handler, re.compile(pattern, re.IGNORECASE)) for http, template, handler, pattern in [
        ("POST", "/users/{m}/messages", "create_message", rf"^{_M}/messages$"),
        ("GET", "/users/{m}/messages", "list_messages", rf"^{_M}/messages$"),
        ("GET", "/users/{m}/messages/{id}", "get_message", rf"^{_M}/messages/(?P<id>[^/]+)$"),
        ("DELETE", "/users/{m}/messages/{id}", "delete_message", rf"^{_M}/messages/(?P<id>[^/]+)$"),
        ("POST", "/users/{m}/messages/{id}/send", "send_draft", rf"^{_M}/messages/(?P<id>[^/]+)/send$"),
        ("POST", "/users/{m}/messages/{id}/permanentDelete", "permanent_delete_message",
         rf"^{_M}/messages/(?P<id>[^/]+)/permanentDelete$"),
        ("GET", "/users/{m}/mailFolders/{folder}/messages", "list_messages",
         rf"^{_M}/mailFolders/(?P<folder>[^/]+)/messages$"),
        ("GET", "/users/{m}/mailFolders/{folder}", "get_folder", rf"^{_M}/mailFolders/(?P<folder>[^/]+)$"),
        ("POST", "/users/{m}/sendMail", "send_mail", rf"^{_M}/sendMail$"),
        ("POST", "/users/{m}/events", "create_event", rf"^{_M}/events$"),
        ("GET", "/users/{m}/events", "list_events", rf"^{_M}/events$"),
        ("POST", "/users/{m}/calendars/{cal}/events", "create_event", rf"^{_M}/calendars/(?P<cal>[^/]+)/events$"),
        ("GET", "/users/{m}/calendars/{cal}/events", "list_events", rf"^{_M}/calendars/(?P<cal>[^/]+)/events$"),
        ("GET", "/users/{m}/events/{id}", "get_event", rf"^{_M}/events/(?P<id>[^/]+)$"),
        ("PATCH", "/users/{m}/events/{id}", "patch_event", rf"^{_M}/events/(?P<id>[^/]+)$"),
        ("DELETE", "/users/{m}/events/{id}", "delete_event", rf"^{_M}/events/(?P<id>[^/]+)$"),
        ("POST", "/users/{m}/events/{id}/cancel", "cancel_event", rf"^{_M}/events/(?P<id>[^/]+)/cancel$"),
        ("POST", "/users/{m}/events/{id}/permanentDelete", "permanent_delete_event",
         rf"^{_M}/events/(?P<id>[^/]+)/permanentDelete$"),
        ("GET", "/users/{m}/calendars", "list_calendars", rf"^{_M}/calendars$"),
        ("GET", "/users/{m}/calendarView/delta", "delta", rf"^{_M}/calendarView/delta$"),
        ("GET", "/users/{m}/calendars/{cal}/calendarView/delta", "delta",
         rf"^{_M}/calendars/(?P<cal>[^/]+)/calendarView/delta$"),
        ("POST", "/subscriptions", "create_subscription", r"^subscriptions$"),
        ("GET", "/subscriptions", "list_subscriptions", r"^subscriptions$"),
        ("GET", "/subscriptions/{id}", "get_subscription", r"^subscriptions/(?P<id>[^/]+)$"),
        ("PATCH", "/subscriptions/{id}", "renew_subscription", r"^subscriptions/(?P<id>[^/]+)$"),
        ("DELETE", "/subscriptions/{id}", "delete_subscription", r"^subscriptions/(?P<id>[^/]+)$"),
        ("POST", "/subscriptions/{id}/reauthorize", "reauthorize", r"^subscriptions/(?P<id>[^/]+)/reauthorize$"),
    ]]
_RESOURCE = re.compile(r"^/?(?:me|users/(?P<user>[^/]+))/(?P<kind>events|calendars/[^/]+/events|messages|"
                       r"mailFolders(?:\('?\w+'?\)|/\w+)/messages)$", re.IGNORECASE)


@dataclass(frozen=True)
class Recorded:
    method: str
    route: str  # "POST /users/{m}/messages/{id}/send", "POST /login/{tenant}/oauth2/v2.0/token"...
    status: int
    mailbox: str  # "" when the request names none
    client_id: str


@dataclass
class Subscription:
    id: str
    tenant: str
    client_id: str
    mailbox: str
    kind: str  # "events" or "messages"
    resource: str
    change_types: list[str]
    notification_url: str
    lifecycle_url: str | None
    expires: datetime
    client_state: str | None
    creator_id: str
    paused: bool = False
    """A reauthorizationRequired challenge went unanswered: no change notifications until the app reauthorizes
    or renews ("eventually change notification delivery pauses, until you take the required action ... If the
    API call succeeds, the change notification flow resumes", change-notifications-lifecycle-events; the
    sandbox pauses at once, the strictest case)."""


@dataclass
class _Fault:
    kind: int | str
    path_contains: str | None


@dataclass
class _Admitted:
    grant: Grant
    box: Mailbox | None
    params: dict[str, str] = field(default_factory=dict)


class OutlookSandbox(GraphResources, Sandbox):
    """Fake tenants, apps and mailboxes; a branch's mailbox is reached with the tenant's app registration."""

    name = "outlook"
    failing_paths = ("/graph/",)

    def __init__(self, *, clock: Callable[[], datetime] | None = None, allow_http_notifications: bool = False,
                 default_tenant: str = DEMO_TENANT_ID, default_domain: str = DEMO_DOMAIN,
                 concurrency: int | None = 4, messages_per_minute: int | None = 30,
                 recipients_per_day: int | None = 10_000, validation_timeout: float = 10.0,
                 notification_timeout: float = 3.0, timeout_delay: float = 5.0,
                 transaction_retention: timedelta = timedelta(days=1),
                 search_lag: timedelta = timedelta(minutes=1)) -> None:
        self.lock = threading.RLock()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.allow_http_notifications = allow_http_notifications
        self.concurrency = concurrency
        self.messages_per_minute = messages_per_minute
        self.recipients_per_day = recipients_per_day
        self.validation_timeout = validation_timeout
        self.notification_timeout = notification_timeout
        self.timeout_delay = timeout_delay
        self.transaction_retention = transaction_retention
        self.search_lag = search_lag
        self.tenants: dict[str, Tenant] = {}
        self.default_tenant = default_tenant
        self.add_tenant(default_tenant, default_domain)
        self.login = Login(self.tenants, self.clock)
        self.branches: dict[str, str] = {}  # branch -> address
        self.subscriptions: dict[str, Subscription] = {}
        self.recorded: list[Recorded] = []
        self.faults: list[_Fault] = []
        self.in_flight: dict[tuple[str, str], int] = {}
        self.paused = threading.Event()

    # --- registration ------------------------------------------------------------------------------------------

    def add_tenant(self, tenant_id: str, domain: str | None = None) -> Tenant:
        with self.lock:
            return self.tenants.setdefault(tenant_id, Tenant(tenant_id, domain or f"{tenant_id[:8]}.onmicrosoft.com"))

    def add_app(self, tenant: str, client_id: str, *, secret: str | None = None, certificate_pem: str | None = None,
                public_client_flows: bool = False, consented: bool = True, name: str = "cravate-hub") -> App:
        """An app registration (and its consent in the tenant); `certificate_pem` is the public certificate."""
        with self.lock:
            app = App(self.add_tenant(tenant).id, client_id, secret, certificate_pem, public_client_flows,
                      consented, name)
            self.tenants[app.tenant].apps[client_id] = app
            return app

    def add_mailbox(self, address: str, *, branch: str | None = None, tenant: str | None = None,
                    name: str = "") -> Mailbox:
        """A user with an Exchange mailbox and a default calendar."""
        with self.lock:
            home = self.add_tenant(tenant or self.default_tenant)
            box = home.mailboxes.setdefault(address.lower(), Mailbox(address, home.id, name=name))
            if branch:
                self.branches[branch] = box.address
            return box

    add_user = add_mailbox  # a user who signs in with the device code is a mailbox's owner

    def add_calendar(self, who: str, name: str) -> str:
        with self.lock:
            return self.mailbox(who).add_calendar(name).id

    def revoke_consent(self, tenant: str, client_id: str) -> None:
        """The administrator withdrew consent: grants fail (AADSTS700016 / 65001) and Graph refuses the app's
        tokens with 401. (Entra keeps issued access tokens valid until they expire; refusing them at once is
        stricter than the real service, so a client copes with both.)"""
        with self.lock:
            self.login.app(self.login.tenant(tenant), client_id).consented = False

    def set_roles(self, tenant: str, client_id: str, roles: tuple[str, ...]) -> None:
        """The application permissions the administrator consented to (Graph checks them on each request)."""
        with self.lock:
            self.login.app(self.login.tenant(tenant), client_id).roles = tuple(roles)

    def grant_consent(self, tenant: str, client_id: str) -> None:
        with self.lock:
            self.login.app(self.login.tenant(tenant), client_id).consented = True

    def approve_device(self, user_code: str | None = None, *, user: str) -> None:
        """The person entered the code at microsoft.com/devicelogin and signed in as `user` (or the newest code)."""
        with self.lock:
            self.login.approve(user_code, self.branches.get(user, user))

    def expire_tokens(self) -> None:
        """Every access token issued so far is now expired (refresh tokens stay valid)."""
        with self.lock:
            past = self.clock() - timedelta(seconds=1)
            for grant in self.login.grants.values():
                grant.expires = past

    @property
    def token_lifetime(self) -> timedelta:
        return self.login.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: timedelta) -> None:
        self.login.token_lifetime = value

    # --- what tests and the demo read --------------------------------------------------------------------------

    def mailbox(self, who: str) -> Mailbox:
        """By branch name or address."""
        with self.lock:
            address = self.branches.get(who, who).lower()
            for tenant in self.tenants.values():
                if address in tenant.mailboxes:
                    return tenant.mailboxes[address]
            raise KeyError(who)

    def sent(self, who: str) -> list[SentMail]:
        """What left the mailbox, oldest first (draft sends and sendMail, saved to Sent Items or not)."""
        with self.lock:
            return list(self.mailbox(who).outbox)

    def drafts(self, who: str) -> list[dict[str, Any]]:
        with self.lock:
            box = self.mailbox(who)
            return [message_json(box, m, True) for m in box.messages.values() if m.folder == "drafts"]

    def events(self, who: str, calendar: str | None = None) -> list[dict[str, Any]]:
        """The calendar's events (the default calendar), times in UTC, soonest first."""
        with self.lock:
            box = self.mailbox(who)
            wanted = calendar or box.default_calendar.id
            return [event_json(box, e, None) for e in sorted(box.events.values(), key=lambda e: e.start)
                    if e.calendar_id == wanted]

    def holding(self, who: str, text: str) -> list[str]:
        """What the mailbox still holds (messages in any folder, Deleted Items included; events in its calendars
        and in Deleted Items) whose content mentions `text` (any case), one line each; what left the mailbox
        (`sent()`, `cancellations()`) is the recipients' and is not counted."""
        wanted = text.casefold()
        with self.lock:
            box = self.mailbox(who)
            found = [f"message in {m.folder}: {m.data.get('subject', '')}" for m in box.messages.values()
                     if wanted in json.dumps(message_json(box, m, True), ensure_ascii=False).casefold()]
            for where, events in (("calendar", box.events), ("deleted items", box.deleted_events)):
                found += [f"event in {where}: {e.data.get('subject', '')}" for e in events.values()
                          if wanted in json.dumps(event_json(box, e, None), ensure_ascii=False).casefold()]
            return found

    def receive_mail(self, who: str, sender: str, subject: str, body: str, *, name: str = "") -> str:
        """A mail from outside lands in the mailbox's Inbox (a person's reply); returns its immutable id."""
        with self.lock:
            box, now = self.mailbox(who), self.clock()
            data = {"subject": subject, "body": {"contentType": "text", "content": body},
                    "from": {"emailAddress": {"name": name or sender, "address": sender}},
                    "toRecipients": [{"emailAddress": {"name": box.name, "address": box.address}}]}
            message = Message(outlook_id("AAkALg"), outlook_id(), "inbox", data, now, now,
                              f"<{outlook_id('')[:40]}@mail.example.org>", change_key(), outlook_id("AAQkAD"), now)
            box.messages[message.immutable_id] = message
            return message.immutable_id

    def staff_send_mail(self, who: str, to: str, subject: str, body: str) -> str:
        """A staff member writes to someone from the mailbox in Outlook (no hub property); returns its id."""
        with self.lock:
            box, now = self.mailbox(who), self.clock()
            data = {"subject": subject, "body": {"contentType": "text", "content": body},
                    "toRecipients": [{"emailAddress": {"address": to}}]}
            message = Message(outlook_id("AAkALg"), outlook_id(), "drafts", data, now, now,
                              f"<{outlook_id('')[:40]}@sandbox.prod.outlook.com>", change_key(), outlook_id("AAQkAD"))
            box.messages[message.immutable_id] = message
            self._send(box, message, save=True)
            return message.immutable_id

    def cancellations(self, who: str) -> list[dict[str, Any]]:
        """Cancellations the attendees received (cancel, or delete by the organizer)."""
        with self.lock:
            return list(self.mailbox(who).cancellations)

    def requests(self, route: str | None = None, *, mailbox: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally those whose route contains `route` (e.g. "/send") and of a mailbox."""
        with self.lock:
            address = self.branches.get(mailbox, mailbox).lower() if mailbox else None
            return [r for r in self.recorded if (route is None or route in r.route)
                    and (address is None or r.mailbox.lower() == address)]

    def count(self, route: str | None = None, *, mailbox: str | None = None) -> int:
        """How many requests matched exactly `route` ("POST /users/{m}/messages") or all of them."""
        return len([r for r in self.requests(mailbox=mailbox) if route is None or r.route == route])

    # --- faults ------------------------------------------------------------------------------------------------

    def fail_next(self, kind: int | str = 429, count: int = 1, path_contains: str | None = None) -> None:
        """Answer the next `count` Graph requests (whose path contains `path_contains`; a login request only when
        `path_contains` names it) with 429 (Retry-After: 2), a 5xx, or "timeout" (held `timeout_delay` seconds,
        then 504)."""
        with self.lock:
            self.faults += [_Fault(kind, path_contains)] * count

    def pause(self) -> None:
        """Hold admitted Graph requests in flight (they count against the concurrency limit) until resume()."""
        self.paused.set()

    def resume(self) -> None:
        self.paused.clear()

    def in_flight_for(self, who: str) -> int:
        with self.lock:
            address = self.mailbox(who).address
            return sum(n for (_, box), n in self.in_flight.items() if box == address)

    # --- the people and the service ----------------------------------------------------------------------------

    def staff_create_event(self, who: str, subject: str, start: datetime, end: datetime, *,
                           attendees: list[str] | tuple[str, ...] = (), organizer: str | None = None,
                           time_zone: str = "UTC", calendar: str | None = None, location: str | None = None,
                           names: dict[str, str] | None = None) -> str:
        """Staff add an event in Outlook (organizer: the mailbox unless said otherwise; `names` gives attendees'
        display names by address, as Outlook fills them from the address book); returns its id."""
        with self.lock:
            box = self.mailbox(who)
            data: dict[str, Any] = {
                "subject": subject,
                "start": {"dateTime": start.astimezone(zone(time_zone)).replace(tzinfo=None).isoformat(),
                          "timeZone": time_zone},
                "end": {"dateTime": end.astimezone(zone(time_zone)).replace(tzinfo=None).isoformat(),
                        "timeZone": time_zone},
                "attendees": [{"emailAddress": {"address": a, "name": (names or {}).get(a, a)}, "type": "required"}
                              for a in attendees]}
            if location:
                data["location"] = {"displayName": location}
            return self.new_event(box, data, organizer or box.address, calendar).id

    def staff_cancel_event(self, who: str, event_id: str, comment: str | None = None) -> None:
        with self.lock:
            box = self.mailbox(who)
            self.drop_event(box, box.event(event_id), comment)

    def staff_move_event(self, who: str, event_id: str, start: datetime, end: datetime) -> None:
        with self.lock:
            box = self.mailbox(who)
            self.update_event(box, box.event(event_id), {
                "start": {"dateTime": start.astimezone(UTC).replace(tzinfo=None).isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": end.astimezone(UTC).replace(tzinfo=None).isoformat(), "timeZone": "UTC"}})

    def expire_delta(self, who: str) -> None:
        """Outlook dropped the mailbox's delta state: older state tokens now answer 410 syncStateNotFound."""
        with self.lock:
            self.mailbox(who).delta_epoch += 1

    def notify(self, who: str, change_type: str = "updated", *, kind: str = "events",
               item_id: str | None = None) -> list[int]:
        """Deliver a change notification to every live subscription on the mailbox's `kind` ("events" or
        "messages") whose changeType includes `change_type`; returns the HTTP status each endpoint answered
        (0: no answer within `notification_timeout`, 3 s as Graph allows)."""
        with self.lock:
            box = self.mailbox(who)
            now = self.clock()
            item = item_id or next(iter(box.events if kind == "events" else box.messages), "AAMkADsandbox")
            deliveries = []
            for sub in self.subscriptions.values():
                if sub.mailbox != box.address or sub.kind != kind or change_type not in sub.change_types \
                        or sub.expires <= now or sub.paused:
                    continue
                path = f"Users/{box.oid}/{'Events' if kind == 'events' else 'Messages'}/{item}"
                change: dict[str, Any] = {
                    "subscriptionId": sub.id, "subscriptionExpirationDateTime": _iso_ms(sub.expires),
                    "changeType": change_type, "resource": path, "tenantId": sub.tenant,
                    "resourceData": {"@odata.type": "#Microsoft.Graph.Event" if kind == "events"
                                     else "#Microsoft.Graph.Message", "@odata.id": path,
                                     "@odata.etag": 'W/"sandbox"', "id": item}}
                if sub.client_state is not None:
                    change["clientState"] = sub.client_state
                deliveries.append((sub.notification_url, {"value": [change]}))
        return [self._post(url, payload, self.notification_timeout) for url, payload in deliveries]

    def lifecycle(self, subscription_id: str, event: str) -> int:
        """A lifecycle notification ("reauthorizationRequired", "subscriptionRemoved", "missed") to the
        subscription's lifecycleNotificationUrl (change-notifications-lifecycle-events); "subscriptionRemoved"
        also deletes the subscription, "reauthorizationRequired" pauses its change notifications until it is
        reauthorized or renewed. Returns the HTTP status received."""
        if event not in ("reauthorizationRequired", "subscriptionRemoved", "missed"):
            raise ValueError(event)
        with self.lock:
            sub = self.subscriptions[subscription_id]
            if sub.lifecycle_url is None:
                raise ValueError("lifecycle notifications go only to subscriptions created with "
                                 "lifecycleNotificationUrl")
            change: dict[str, Any] = {"subscriptionId": sub.id,
                                      "subscriptionExpirationDateTime": _iso_ms(sub.expires),
                                      "tenantId": sub.tenant, "lifecycleEvent": event}
            if sub.client_state is not None:
                change["clientState"] = sub.client_state
            if event == "subscriptionRemoved":
                del self.subscriptions[sub.id]
            if event == "reauthorizationRequired":
                sub.paused = True
            url = sub.lifecycle_url
        return self._post(url, {"value": [change]}, self.notification_timeout)

    @staticmethod
    def _post(url: str, payload: dict[str, Any], timeout: float) -> int:
        try:
            return httpx.post(url, json=payload, timeout=timeout).status_code
        except httpx.HTTPError:
            return 0

    # --- HTTP: login -------------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return self.failing(Starlette(routes=[
            Route("/login/{tenant}/v2.0/.well-known/openid-configuration", self._discovery, methods=["GET"]),
            Route("/login/{tenant}/discovery/instance", self._instance, methods=["GET"]),
            Route("/login/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
            Route("/login/{tenant}/oauth2/v2.0/devicecode", self._devicecode, methods=["POST"]),
            Route("/graph/v1.0/{rest:path}", self._graph, methods=["GET", "POST", "PATCH", "DELETE", "PUT"]),
        ]))

    async def _discovery(self, request: Request) -> Response:
        return await self._login(request, "GET /login/{tenant}/v2.0/.well-known/openid-configuration",
                                 lambda name, form: self.login.openid_configuration(name))

    async def _instance(self, request: Request) -> Response:
        """Instance discovery: MSAL asks it for the authority's aliases when its cache misses."""
        return await self._login(request, "GET /login/{tenant}/discovery/instance",
                                 lambda name, form: self.login.instance_metadata())

    async def _token(self, request: Request) -> Response:
        def answer(name: str, form: dict[str, str]) -> dict[str, Any]:
            endpoint = f"https://login.microsoftonline.com/{name}/oauth2/v2.0/token"
            return self.login.token(name, form, endpoint)
        return await self._login(request, "POST /login/{tenant}/oauth2/v2.0/token", answer)

    async def _devicecode(self, request: Request) -> Response:
        language = request.query_params.get("mkt") or request.headers.get("accept-language", "en")
        return await self._login(request, "POST /login/{tenant}/oauth2/v2.0/devicecode",
                                 lambda name, form: self.login.devicecode(name, form, language))

    async def _login(self, request: Request, route: str,
                     answer: Callable[[str, dict[str, str]], dict[str, Any]]) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:
            return Response(status_code=499)
        form = dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
        correlation = request.headers.get("client-request-id") or str(uuid.uuid4())
        headers = {"client-request-id": correlation, "x-ms-request-id": str(uuid.uuid4()),
                   "Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        with self.lock:
            fault = self._take_fault(request.url.path, login=True)
            try:
                if fault is not None:
                    raise fault
                content, status = answer(request.path_params["tenant"], form), 200
            except LoginError as exc:
                content, status = exc.body(self.clock(), correlation), exc.status
            except GraphError as exc:
                content, status = {"error": "temporarily_unavailable", "error_description": exc.message}, exc.status
                headers.update(exc.headers)
            self.recorded.append(Recorded(request.method, route, status, "", form.get("client_id", "")))
        return JSONResponse(content, status_code=status, headers=headers)

    # --- HTTP: Graph -------------------------------------------------------------------------------------------

    async def _graph(self, request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:
            return Response(status_code=499)
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id") or request_id
        headers = {"request-id": request_id, "client-request-id": client_request_id}
        route, mailbox, client_id, key = f"{request.method} ?", "", "", None
        try:
            ctx = self._ctx(request, body)
            template, handler, params = self._route(request.method, request.path_params["rest"])
            route = f"{request.method} {template}"
            with self.lock:
                admitted = self._admit(request, params)
                mailbox = admitted.box.address if admitted.box else ""
                client_id = admitted.grant.client_id
                fault = self._take_fault(request.url.path, login=False)
                if admitted.box is not None:
                    key = (client_id, admitted.box.address)
                    if self.concurrency is not None and self.in_flight.get(key, 0) >= self.concurrency:
                        key = None
                        raise GraphError(429, "ApplicationThrottled",
                                         "Application is over its MailboxConcurrency limit.", {"Retry-After": "1"})
                    self.in_flight[key] = self.in_flight.get(key, 0) + 1
            if fault is not None:
                if isinstance(fault, _Timeout):
                    await asyncio.sleep(self.timeout_delay)
                raise fault
            while self.paused.is_set():
                await asyncio.sleep(0.005)
            if handler == "create_subscription":
                reply = await self._create_subscription(ctx, admitted.grant)
            else:
                with self.lock:
                    reply = self._dispatch(handler, ctx, admitted)
        except GraphError as exc:
            reply = Reply(exc.status, exc.body(self.clock(), request_id, client_request_id), exc.headers)
            if exc.status == 401:
                reply.headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE)
        finally:
            if key is not None:
                with self.lock:
                    self.in_flight[key] -= 1
        with self.lock:
            self.recorded.append(Recorded(request.method, route, reply.status, mailbox, client_id))
        headers.update(reply.headers)
        if reply.body is None:
            return Response(status_code=reply.status, headers=headers)
        return Response(json.dumps(reply.body), status_code=reply.status, headers=headers, media_type=GRAPH_JSON)

    @staticmethod
    def _ctx(request: Request, body: bytes) -> Ctx:
        prefer: dict[str, str] = {}
        for header in request.headers.getlist("prefer"):
            for part in header.split(","):
                name, _, value = part.strip().partition("=")
                if name:
                    prefer[name.strip().lower()] = value.strip().strip('"')
        base = f"{request.url.scheme}://{request.url.netloc}/graph/v1.0"
        return Ctx(request.url.path, base, dict(request.query_params.items()), prefer, body,
                   request.headers.get("content-type", "application/json").lower())

    @staticmethod
    def _route(http: str, rest: str) -> tuple[str, str, dict[str, str]]:
        matched = False
        for verb, template, handler, pattern in _ROUTES:
            match = pattern.match(rest)
            if match:
                matched = True
                if verb == http:
                    return template, handler, {k: v for k, v in match.groupdict().items() if v is not None}
        if matched:
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        segment = rest.split("/")[-1] if rest else ""
        raise bad_request("BadRequest", f"Resource not found for the segment '{segment}'.")

    def _admit(self, request: Request, params: dict[str, str]) -> _Admitted:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not token:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        grant = self.login.grants.get(token)
        if grant is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")  # [?] wording
        if grant.expires <= self.clock():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        tenant = self.tenants[grant.tenant]
        if not tenant.apps[grant.client_id].consented:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")  # [?] wording
        box = self._target(grant, params.get("m"), params.get("user")) if "m" in params else None
        return _Admitted(grant, box, params)

    def _target(self, grant: Grant, segment: str | None, user: str | None) -> Mailbox:
        tenant = self.tenants[grant.tenant]
        if (segment or "").lower() == "me":
            if grant.user is None:  # msgraph-sdk-php#1163 (a live 400)
                raise bad_request("BadRequest", "/me request is only valid with delegated authentication flow.")
            user = grant.user
        box = tenant.mailbox(user or "")
        if box is None:
            if any(t.mailbox(user or "") for t in self.tenants.values()):
                raise GraphError(401, "InvalidAuthenticationToken",  # another tenant's mailbox [?]
                                 "Access token validation failure. Invalid audience.")
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        if grant.user is not None and grant.user.lower() != box.address.lower():
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return box

    def _take_fault(self, path: str, *, login: bool) -> GraphError | None:
        for i, fault in enumerate(self.faults):
            if (fault.path_contains is None and not login) or (fault.path_contains and fault.path_contains in path):
                del self.faults[i]
                return _fault_error(fault.kind)
        return None

    def _dispatch(self, handler: str, ctx: Ctx, admitted: _Admitted) -> Reply:
        params, box = admitted.params, admitted.box
        if handler.endswith("subscription") or handler in ("list_subscriptions", "reauthorize"):
            return getattr(self, f"_{handler}")(ctx, admitted.grant, params.get("id"))
        assert box is not None  # every other route names a mailbox
        needed = PERMISSIONS.get(handler)
        if needed is not None and needed not in self._permissions(admitted.grant):
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        if handler == "list_messages":
            return self.list_messages(ctx, box, params.get("folder"))
        if handler == "get_folder":
            return self.get_folder(ctx, box, params["folder"])
        if handler in ("create_event", "list_events", "delta"):
            return getattr(self, handler)(ctx, box, params.get("cal"))
        if "id" in params:
            return getattr(self, handler)(ctx, box, params["id"])
        return getattr(self, handler)(ctx, box)

    def _permissions(self, grant: Grant) -> set[str]:
        """An app token's roles (what the administrator consented to), or a delegated token's scopes."""
        if grant.user is None:
            return set(self.tenants[grant.tenant].apps[grant.client_id].roles)
        return {s.rpartition("/")[2] for s in grant.scopes}

    # --- subscriptions -----------------------------------------------------------------------------------------

    async def _create_subscription(self, ctx: Ctx, grant: Grant) -> Reply:
        with self.lock:
            sub = self._new_subscription(ctx.json(), grant)
        for url in filter(None, (sub.notification_url, sub.lifecycle_url)):
            failure = await anyio.to_thread.run_sync(self._validate_url, url)
            if failure:
                raise bad_request("InvalidRequest", failure)
        with self.lock:
            self.subscriptions[sub.id] = sub
        return Reply(201, {"@odata.context": f"{ctx.base}/$metadata#subscriptions/$entity",
                           **self._subscription_json(sub)})

    def _new_subscription(self, data: dict[str, Any], grant: Grant) -> Subscription:
        for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not data.get(name):
                raise bad_request("InvalidRequest", f"{name} is a required property for subscription creation.")
        change_types = [c.strip() for c in str(data["changeType"]).split(",")]
        if any(c not in ("created", "updated", "deleted") for c in change_types):
            raise bad_request("InvalidRequest", f"Invalid changeType '{data['changeType']}'.")  # [?] wording
        match = _RESOURCE.match(str(data["resource"]))
        if not match:
            raise bad_request("InvalidRequest", f"The sandbox does not serve notifications for resource "
                                                f"'{data['resource']}'.")
        box = self._target(grant, "me" if match.group("user") is None else "users", match.group("user"))
        for name in ("notificationUrl", "lifecycleNotificationUrl"):
            url = data.get(name)
            if url is not None:
                self._check_url(str(url), name)
        state = data.get("clientState")
        if state is not None and len(str(state)) > 128:
            raise bad_request("InvalidRequest", "clientState must not exceed 128 characters.")  # [?] wording
        expires = self._expiry(data["expirationDateTime"])
        return Subscription(str(uuid.uuid4()), grant.tenant, grant.client_id, box.address,
                            "events" if match.group("kind").lower().endswith("events") else "messages",
                            str(data["resource"]), change_types, str(data["notificationUrl"]),
                            data.get("lifecycleNotificationUrl"), expires, None if state is None else str(state),
                            box.oid if grant.user else str(uuid.uuid5(uuid.NAMESPACE_URL, grant.client_id)))

    def _check_url(self, url: str, name: str) -> None:
        parts = urlsplit(url)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme == "http" and not (self.allow_http_notifications and loopback):
            # a live answer, microsoftgraph/microsoft-graph-docs#2751 ("by design")
            raise bad_request("InvalidRequest", f"{'NotificationUrl' if name == 'notificationUrl' else name} "
                                                f"scheme='http' is not supported.")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("InvalidRequest", f"Invalid notification url='{url}'.")

    def _expiry(self, text: Any) -> datetime:
        expires = parse_moment(str(text))
        now = self.clock()
        if expires <= now:
            raise bad_request("InvalidRequest", "Subscription expiration must be in the future.")  # [?] wording
        if expires > now + timedelta(minutes=SUBSCRIPTION_MAX_MINUTES):
            # wording of a live answer (microsoftgraph/microsoft-graph-docs-contrib#7726), with today's limit
            raise bad_request("ExtensionError", f"Subscription expiration can only be {SUBSCRIPTION_MAX_MINUTES} "
                                                "minutes in the future.")
        return expires

    def _validate_url(self, url: str) -> str | None:
        """The validation handshake: POST url?validationToken=<token> (text/plain); the endpoint must answer 200,
        text/plain, the URL-decoded token, within 10 s (change-notifications-delivery-webhooks, notificationUrl
        validation). Returns what Graph says when it fails (wordings from live answers quoted in third-party
        code; the timeout one in microsoftgraph/microsoft-graph-docs#5554)."""
        token = VALIDATION_TOKEN.format(id=uuid.uuid4())
        target = f"{url}{'&' if '?' in url else '?'}validationToken={quote(token, safe='')}"
        try:
            answer = httpx.post(target, content=b"", timeout=self.validation_timeout,
                                headers={"Content-Type": "text/plain; charset=utf-8"})
        except httpx.TimeoutException:
            return "Subscription validation request timed out."
        except httpx.HTTPError:
            return "Subscription validation request failed. Notification endpoint must respond with 200 OK to " \
                   "validation request."
        if answer.status_code != 200:
            return (f"Subscription validation request failed. HTTP status code is '{answer.status_code}'. "
                    "Notification endpoint must respond with 200 OK to validation request.")
        if not answer.headers.get("content-type", "").startswith("text/plain") or answer.text != token:
            return "Subscription validation request failed. Response must exactly match validationToken query " \
                   "parameter."
        return None

    def _subscription_json(self, sub: Subscription) -> dict[str, Any]:
        return {"id": sub.id, "resource": sub.resource, "applicationId": sub.client_id,
                "changeType": ",".join(sub.change_types), "clientState": sub.client_state,
                "notificationUrl": sub.notification_url, "lifecycleNotificationUrl": sub.lifecycle_url,
                "expirationDateTime": _iso_ms(sub.expires), "creatorId": sub.creator_id,
                "includeResourceData": False, "latestSupportedTlsVersion": "v1_2", "encryptionCertificate": None,
                "encryptionCertificateId": None, "notificationQueryOptions": None, "notificationUrlAppId": None}

    def _subscription(self, grant: Grant, subscription_id: str | None) -> Subscription:
        sub = self.subscriptions.get(subscription_id or "")
        if sub is not None and sub.expires <= self.clock():
            del self.subscriptions[sub.id]  # Graph deletes expired subscriptions
            sub = None
        if sub is None or sub.client_id != grant.client_id or sub.tenant != grant.tenant:
            raise GraphError(404, "ResourceNotFound", "The object was not found.")  # [?] wording
        return sub

    def _list_subscriptions(self, ctx: Ctx, grant: Grant, _: str | None) -> Reply:
        now = self.clock()
        mine = [s for s in self.subscriptions.values() if s.client_id == grant.client_id
                and s.tenant == grant.tenant and s.expires > now]
        return Reply(200, {"@odata.context": f"{ctx.base}/$metadata#subscriptions",
                           "value": [self._subscription_json(s) for s in mine]})

    def _get_subscription(self, ctx: Ctx, grant: Grant, subscription_id: str | None) -> Reply:
        sub = self._subscription(grant, subscription_id)
        return Reply(200, {"@odata.context": f"{ctx.base}/$metadata#subscriptions/$entity",
                           **self._subscription_json(sub)})

    def _renew_subscription(self, ctx: Ctx, grant: Grant, subscription_id: str | None) -> Reply:
        sub = self._subscription(grant, subscription_id)
        data = ctx.json()
        if "expirationDateTime" in data:
            sub.expires = self._expiry(data["expirationDateTime"])
        sub.paused = False  # "renewing your subscription also reauthorizes your endpoint"
        return Reply(200, {"@odata.context": f"{ctx.base}/$metadata#subscriptions/$entity",
                           **self._subscription_json(sub)})

    def _delete_subscription(self, ctx: Ctx, grant: Grant, subscription_id: str | None) -> Reply:
        del self.subscriptions[self._subscription(grant, subscription_id).id]
        return Reply(204)

    def _reauthorize(self, ctx: Ctx, grant: Grant, subscription_id: str | None) -> Reply:
        self._subscription(grant, subscription_id).paused = False
        return Reply(204)  # subscription-reauthorize: "If successful, this action returns a 204 No Content"

    # --- the demo ----------------------------------------------------------------------------------------------

    def demo_settings(self, demo: DemoContext) -> dict[str, Any]:
        self.add_app(DEMO_TENANT_ID, DEMO_CLIENT_ID, secret=DEMO_SECRET)
        address = f"{demo.branch}@{DEMO_DOMAIN}"
        self.add_mailbox(address, branch=demo.branch, name=f"La Cravate Solidaire {demo.branch.title()}")
        return {"tenant_id": DEMO_TENANT_ID, "client_id": DEMO_CLIENT_ID, "auth": "app",
                "client_secret": {"env": default_secret_env(demo.branch, "outlook", "client_secret")},
                "mailbox": address, "login_url": f"{demo.base_url}/login", "graph_url": f"{demo.base_url}/graph/v1.0",
                "calendar": True, "source": True, "source_programme": "Coaching emploi"}

    def demo_environ(self, demo: DemoContext) -> dict[str, str]:
        return {default_secret_env(demo.branch, "outlook", "client_secret"): DEMO_SECRET}

    def demo_actions(self, demo: DemoContext) -> list[DemoAction]:
        """Staff take a booking by phone and put it straight in the Outlook calendar, then move it."""
        address, name = "nadia.belkacem@example.org", "Nadia Belkacem"
        made: dict[str, str] = {}
        day = (demo.now().astimezone(zone("Romance Standard Time")) + timedelta(days=3)).replace(
            hour=14, minute=0, second=0, microsecond=0)

        def book() -> None:
            made["id"] = self.staff_create_event(demo.branch, "Entretien — Nadia B.", day, day + timedelta(hours=1),
                                                 attendees=[address], names={address: name},
                                                 time_zone="Romance Standard Time", location="Antenne, 1er étage")

        def move() -> None:
            earlier = day - timedelta(days=1)
            self.staff_move_event(demo.branch, made["id"], earlier, earlier + timedelta(hours=1))

        return [DemoAction(DemoPhase.BOOK, "Outlook : l'accueil note dans l'agenda un rendez-vous pris par "
                                           "téléphone (Nadia)", book),
                DemoAction(DemoPhase.CHANGE, "Outlook : le rendez-vous de Nadia est avancé d'un jour", move)]

    def describe(self, branch: str) -> str:
        """What the branch's fake mailbox and calendar hold, in French, without addresses."""
        if branch not in self.branches:
            return "(pas de boîte Outlook pour cette antenne)"
        with self.lock:
            box = self.mailbox(branch)
            drafts = sum(1 for m in box.messages.values() if m.folder == "drafts")
            lines = [f"Boîte Outlook : {_plural(len(box.outbox), 'e-mail envoyé', 'e-mails envoyés')}, "
                     f"{_plural(drafts, 'brouillon', 'brouillons')} ; agenda : "
                     f"{_plural(len(box.events), 'rendez-vous', 'rendez-vous')}, "
                     f"{_plural(len(box.cancellations), 'annulation envoyée', 'annulations envoyées')}."]
            for mail in box.outbox:
                lines.append(f"  envoyé le {mail.sent_at.astimezone(UTC):%d/%m/%Y %H:%M} : {mail.subject[:60]}")
            for event in sorted(box.events.values(), key=lambda e: e.start):
                local = event.start.astimezone(zone("Romance Standard Time"))
                lines.append(f"  rendez-vous le {local:%d/%m/%Y %H:%M} : {str(event.data.get('subject', ''))[:60]}")
        return "\n".join(lines)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n <= 1 else many}"


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Timeout(GraphError):
    """A request held `timeout_delay` seconds (the client's own timeout should fire first), then 504."""


def _fault_error(kind: int | str) -> GraphError:
    if kind == "timeout":
        return _Timeout(504, "GatewayTimeout", "The request timed out.")  # [?] shape
    status = int(kind)
    if status == 429:  # the current 429 body per Microsoft Learn's throttling page (reference §2.5)
        return GraphError(429, "TooManyRequests", "Please retry again later.", {"Retry-After": "2"})
    if status == 503:
        return GraphError(503, "ServiceUnavailable", "Service Unavailable")  # [?] wording
    if status == 504:
        return GraphError(504, "GatewayTimeout", "The request timed out.")  # [?] wording
    return GraphError(status, "UnknownError", "An internal server error occurred.")


