"""A faithful fake of the parts of Calendly API v2 the connector uses, for tests and `hub demo`.

Shapes follow Calendly's OpenAPI examples (users/me, scheduled_events, invitees, invitee_no_shows,
webhook_subscriptions, scheduling_links, data_compliance/deletion/invitees): `{"resource": ...}` or
`{"collection": [...], "pagination": {...}}`, errors as `{"title", "message"}`, and
X-RateLimit-Limit/Remaining/Reset on every response. Resource URIs are always on https://api.calendly.com, as
the real ones; the client only keeps their paths. The data deletion endpoint, its plan and permission checks and
what a processed request erases are in sandbox_compliance.py (`process_data_deletions` plays Calendly's back
office, which takes up to 7 days).

One instance serves several branches: each has its own fake user, organisation and token. The script
methods (`book`, `cancel`, `reschedule`, `mark_no_show`) play the candidates and staff, and deliver signed
webhooks, as Calendly does, to the active subscriptions; deliveries only ever go to loopback addresses.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.sandbox import DemoAction, DemoContext, Sandbox
from hub_calendly import sandbox_compliance
from hub_calendly.sandbox_limits import (
    PLANS,
    ROLES,
    next_retry,
    plan_refusal,
    role_refusal,
    scope_refusal,
    subscription_scope_refusal,
)
from hub_calendly.webhook import sign

BASE = "https://api.calendly.com"
WEBHOOK_EVENTS = {"invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted",
                  "routing_form_submission.created"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
Handler = Callable[[Request, "FakeAccount", dict[str, Any]], tuple[int, dict[str, Any] | None]]


def _id() -> str:
    return uuid.uuid4().hex[:16].upper()


def _ts(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _error(status: int, title: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"title": title, "message": message}


def _invalid(parameter: str, message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"title": "Invalid Argument", "message": "The supplied parameters are invalid.",
                 "details": [{"parameter": parameter, "message": message}]}


@dataclass
class Delivery:
    """One webhook POST the fake made (or would have made): kept so tests can replay or reorder them. A failed
    one is tried again (`next_try`), re-signed each time (see `CalendlySandbox._sign`)."""

    url: str
    kind: str
    body: bytes
    headers: dict[str, str]
    status: int | None = None
    subscription: str = ""
    attempts: int = 0
    first_failure: datetime | None = None
    next_try: datetime | None = None


@dataclass
class FakeAccount:
    branch: str
    token: str
    user: dict[str, Any]
    event_types: list[dict[str, Any]]
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    invitees: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    no_shows: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    signing_keys: dict[str, str] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    webhooks_allowed: bool = True
    plan: str = "standard"
    rate_limit: int = PLANS["standard"]
    scopes: frozenset[str] | None = None  # None: a legacy token, made before scopes existed (full access)
    role: str = "owner"  # in the organisation: user, admin or owner
    data_requests: bool = False  # Calendly's "data requests permission", granted by its support (sandbox_compliance)
    deletion_requests: list[dict[str, Any]] = field(default_factory=list)
    last_success: dict[str, datetime] = field(default_factory=dict)
    window: int = -1
    used: int = 0
    inject: list[tuple[int, int]] = field(default_factory=list)
    inject_after: int = 0
    inject_path: str = ""  # only requests whose path starts with it fail (and count for `inject_after`)

    @property
    def organization(self) -> str:
        return str(self.user["current_organization"])

    def invitee(self, uri: str) -> tuple[dict[str, Any], dict[str, Any]]:
        event_uuid = uri.split("/scheduled_events/")[1].split("/")[0]
        for invitee in self.invitees.get(event_uuid, []):
            if invitee["uri"] == uri:
                return self.events[event_uuid], invitee
        raise KeyError(uri)


class CalendlySandbox(Sandbox):
    name = "calendly"

    def __init__(self, clock: Callable[[], datetime] | None = None,
                 sender: Callable[[Delivery], int] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sender = sender or _post_loopback
        self.auto_deliver = True
        self.legacy_payloads = False  # True: webhooks without the embedded scheduled_event (2020 shape)
        self.accounts: dict[str, FakeAccount] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.outbox: list[Delivery] = []
        self.lock = threading.RLock()
        self._demo: dict[str, dict[str, str]] = {}

    # --- accounts -----------------------------------------------------------------------------------------------

    def account(self, branch: str) -> FakeAccount:
        with self.lock:
            if branch not in self.accounts:
                user_id, org_id = _id(), _id()
                now = _ts(self.clock())
                user = {"uri": f"{BASE}/users/{user_id}", "name": f"Antenne {branch}", "slug": f"cravate-{branch}",
                        "email": f"{branch}@antenne.example.org", "scheduling_url": f"https://calendly.com/cravate-{branch}",
                        "timezone": "Europe/Paris", "avatar_url": None, "created_at": now, "updated_at": now,
                        "current_organization": f"{BASE}/organizations/{org_id}"}
                types = [self._event_type(user, name, slug, minutes) for name, slug, minutes in
                         (("Atelier Coup de Pouce", "atelier", 180), ("Coaching à distance", "coaching", 60))]
                self.accounts[branch] = FakeAccount(branch, f"sandbox-token-{branch}-{_id().lower()}", user, types)
            return self.accounts[branch]

    def _event_type(self, user: dict[str, Any], name: str, slug: str, minutes: int) -> dict[str, Any]:
        return {"uri": f"{BASE}/event_types/{_id()}", "name": name, "active": True, "slug": slug,
                "scheduling_url": f"{user['scheduling_url']}/{slug}", "duration": minutes, "kind": "solo",
                "pooling_type": None, "type": "StandardEventType", "color": "#fff200",
                "created_at": user["created_at"], "updated_at": user["created_at"], "description_plain": None,
                "profile": {"type": "User", "name": user["name"], "owner": user["uri"]}}

    def token_for(self, branch: str) -> str:
        return self.account(branch).token

    def request_count(self, branch: str) -> int:
        with self.lock:
            return sum(1 for b, _, _ in self.requests if b == branch)

    def set_plan(self, branch: str, plan: str) -> None:
        """Free: 50 requests a minute and no webhooks; paid plans: 500 a minute (per user)."""
        with self.lock:
            account = self.account(branch)
            account.plan, account.rate_limit = plan, PLANS[plan]

    def set_token(self, branch: str, *, scopes: set[str] | None = None, role: str | None = None,
                  data_requests: bool | None = None) -> None:
        """The token's scopes (None: a legacy token with full access), its user's role in the organisation, and
        whether Calendly's support granted that user the data requests permission (data compliance endpoints)."""
        with self.lock:
            account = self.account(branch)
            account.scopes = frozenset(scopes) if scopes is not None else None
            if role is not None:
                account.role = ROLES[ROLES.index(role)]
            if data_requests is not None:
                account.data_requests = data_requests

    def fail_next(self, branch: str, status: int = 429, reset: int = 30, times: int = 1, after: int = 0,
                  path: str = "") -> None:
        """Make `times` requests of this branch fail with `status` (429 carries `reset`), once `after` more
        requests have been answered (a failure in the middle of a poll); with `path`, only requests to paths
        starting with it fail or are counted."""
        with self.lock:
            account = self.account(branch)
            account.inject.extend([(status, reset)] * times)
            account.inject_after = after
            account.inject_path = path

    # --- the script: what candidates and staff do in Calendly ---------------------------------------------------

    def book(self, branch: str, *, email: str, first_name: str, last_name: str, start: datetime,
             event_type: str = "atelier", utm_content: str | None = None, phone: str | None = None,
             answers: dict[str, str] | None = None, old_invitee: str | None = None) -> str:
        """A candidate books a slot; returns the new invitee's URI."""
        with self.lock:
            account = self.account(branch)
            etype = next(t for t in account.event_types if event_type in (t["slug"], t["name"], t["uri"]))
            now = _ts(self.clock())
            event_id, invitee_id = _id(), _id()
            event_uri = f"{BASE}/scheduled_events/{event_id}"
            account.events[event_id] = {
                "uri": event_uri, "name": etype["name"], "meeting_notes_plain": None, "meeting_notes_html": None,
                "status": "active", "start_time": _ts(start),
                "end_time": _ts(start + timedelta(minutes=etype["duration"])), "event_type": etype["uri"],
                "location": {"type": "physical", "location": f"Antenne {branch}, salle 1"},
                "invitees_counter": {"total": 1, "active": 1, "limit": 1}, "created_at": now, "updated_at": now,
                "event_memberships": [{"user": account.user["uri"], "user_email": account.user["email"],
                                       "user_name": account.user["name"]}],
                "event_guests": [], "calendar_event": None}
            qa = [{"question": q, "answer": a, "position": i} for i, (q, a) in enumerate((answers or {}).items())]
            account.invitees[event_id] = [{
                "uri": f"{event_uri}/invitees/{invitee_id}", "email": email, "first_name": first_name,
                "last_name": last_name, "name": f"{first_name} {last_name}", "status": "active",
                "questions_and_answers": qa, "timezone": "Europe/Paris", "event": event_uri,
                "created_at": now, "updated_at": now,
                "tracking": {"utm_campaign": None, "utm_source": None, "utm_medium": None,
                             "utm_content": utm_content, "utm_term": None, "salesforce_uuid": None},
                "text_reminder_number": phone, "rescheduled": False, "old_invitee": old_invitee,
                "new_invitee": None, "cancel_url": f"https://calendly.com/cancellations/{invitee_id}",
                "reschedule_url": f"https://calendly.com/reschedulings/{invitee_id}",
                "routing_form_submission": None, "payment": None, "no_show": None, "reconfirmation": None,
                "scheduling_method": None, "invitee_scheduled_by": None}]
            uri = account.invitees[event_id][0]["uri"]
            pending = self._webhooks(account, "invitee.created", uri)
        self._send(pending)
        return str(uri)

    def cancel(self, invitee_uri: str, reason: str = "Empêchement", *, rescheduled: bool = False,
               new_invitee: str | None = None) -> None:
        with self.lock:
            account = self._owner(invitee_uri)
            event, invitee = account.invitee(invitee_uri)
            now = _ts(self.clock())
            cancellation = {"canceled_by": invitee["name"], "reason": reason, "canceler_type": "invitee",
                            "created_at": now}
            invitee.update(status="canceled", updated_at=now, cancellation=cancellation, rescheduled=rescheduled,
                           new_invitee=new_invitee)
            counter = event["invitees_counter"]
            counter["active"] = max(0, counter["active"] - 1)
            event["updated_at"] = now
            if counter["active"] == 0:
                event.update(status="canceled", cancellation=cancellation)
            pending = self._webhooks(account, "invitee.canceled", invitee_uri)
        self._send(pending)

    def reschedule(self, invitee_uri: str, new_start: datetime) -> str:
        """The invitee moves their slot: the old invitee is cancelled (rescheduled) and a new one is created.

        Like Calendly, both `invitee.canceled` and `invitee.created` are sent, in that order; tests replay the
        outbox in the other order too, since Calendly does not document it.
        """
        with self.lock:
            account = self._owner(invitee_uri)
            event, old = account.invitee(invitee_uri)
            slug = next(t["slug"] for t in account.event_types if t["uri"] == event["event_type"])
            auto, self.auto_deliver = self.auto_deliver, False
            start = len(self.outbox)
            try:
                answers = {qa["question"]: qa["answer"] for qa in old["questions_and_answers"]}
                new_uri = self.book(account.branch, email=old["email"], first_name=old["first_name"],
                                    last_name=old["last_name"], start=new_start, event_type=slug,
                                    utm_content=old["tracking"]["utm_content"], phone=old["text_reminder_number"],
                                    answers=answers, old_invitee=invitee_uri)
                created = self.outbox[start:]
                del self.outbox[start:]
                self.cancel(invitee_uri, "Reprogrammé", rescheduled=True, new_invitee=new_uri)
                self.outbox.extend(created)  # canceled first, then created
            finally:
                self.auto_deliver = auto
            pending = self.outbox[start:] if auto else []
        self._send(pending)
        return new_uri

    def mark_no_show(self, invitee_uri: str) -> str:
        with self.lock:
            status, body = self._create_no_show(self._owner(invitee_uri), {"invitee": invitee_uri})
            if status != 201 or body is None:
                raise ValueError(body)
            pending = self._webhooks(self._owner(invitee_uri), "invitee_no_show.created", invitee_uri)
        self._send(pending)
        return str(body["resource"]["uri"])

    def unmark_no_show(self, no_show_uri: str) -> None:
        """Staff take a no-show back in Calendly: the no-show is deleted and `invitee_no_show.deleted` sent,
        its payload the invitee as it is now (no `no_show`), like the other invitee events of this fake."""
        with self.lock:
            uuid = no_show_uri.rstrip("/").rsplit("/", 1)[-1]
            owner = next(a for a in self.accounts.values() if uuid in a.no_shows)
            invitee_uri = owner.no_shows.pop(uuid)["invitee"]
            owner.invitee(invitee_uri)[1]["no_show"] = None
            pending = self._webhooks(owner, "invitee_no_show.deleted", invitee_uri)
        self._send(pending)

    def process_data_deletions(self, branch: str) -> int:
        """Calendly's back office handles the branch's pending data deletion requests (it takes up to 7 days):
        the invitees with those e-mails are anonymized. Returns how many were."""
        with self.lock:
            return sandbox_compliance.process(self.account(branch), _ts(self.clock()))

    def holds(self, branch: str, text: str) -> int:
        """How many times `text` (case ignored) appears in what the fake keeps for the branch: its bookings,
        invitees, no-shows, links, data deletion requests, and every webhook body it sent."""
        with self.lock:
            account = self.account(branch)
            kept = [account.events, account.invitees, account.no_shows, account.links, account.deletion_requests,
                    [json.loads(d.body) for d in self.outbox]]
            blob = json.dumps(kept, ensure_ascii=False)
        return blob.casefold().count(text.casefold())

    def subscribe_directly(self, branch: str, url: str, key: str,
                           events: tuple[str, ...] = ("invitee.created", "invitee.canceled")) -> str:
        """Create a subscription without the API (the demo does so before the hub is running)."""
        with self.lock:
            account = self.account(branch)
            status, body = self._create_subscription(account, {
                "url": url, "events": list(events), "organization": account.organization, "scope": "user",
                "user": account.user["uri"], "signing_key": key})
            if status != 201 or body is None:
                raise ValueError(body)
            return str(body["resource"]["uri"])

    def disable(self, subscription_uri: str) -> None:
        with self.lock:
            for account in self.accounts.values():
                sub = account.subscriptions.get(subscription_uri.rsplit("/", 1)[-1])
                if sub is not None:
                    sub["state"] = "disabled"

    def _owner(self, uri: str) -> FakeAccount:
        event_uuid = uri.split("/scheduled_events/")[1].split("/")[0]
        return next(a for a in self.accounts.values() if event_uuid in a.events)

    # --- webhooks out ---------------------------------------------------------------------------------------------

    def _active(self, account: FakeAccount, kind: str) -> list[dict[str, Any]]:
        return [s for s in account.subscriptions.values() if s["state"] == "active" and kind in s["events"]]

    def _webhooks(self, account: FakeAccount, kind: str, invitee_uri: str) -> list[Delivery]:
        event, invitee = account.invitee(invitee_uri)
        payload = dict(invitee)
        if not self.legacy_payloads:
            payload["scheduled_event"] = event
        made = []
        for sub in self._active(account, kind):
            body = json.dumps({"created_at": _ts(self.clock()), "created_by": account.user["uri"], "event": kind,
                               "payload": payload}).encode()
            made.append(self._sign(Delivery(sub["callback_url"], kind, body, {"Content-Type": "application/json"},
                                            subscription=sub["uri"])))
        self.outbox.extend(made)
        return made if self.auto_deliver else []

    def _sign(self, delivery: Delivery) -> Delivery:
        """Sign with the subscription's key and the time of *this* attempt. Calendly signs each delivery anew
        ("each delivery carries a fresh t/v1 signature": https://community.calendly.com/api-webhook-help-61/
        why-does-the-webhook-callback-signing-key-change-with-every-call-as-opposed-to-using-mine-386, and the
        3-minute tolerance of its own sample, https://developer.calendly.com/api-docs/overview/webhooks/
        webhook-signatures, could not accept a retry hours later otherwise), so a retry carries a fresh `t=`."""
        key = next((a.signing_keys[delivery.subscription] for a in self.accounts.values()
                    if delivery.subscription in a.signing_keys), None)
        if key is not None:
            delivery.headers["Calendly-Webhook-Signature"] = sign(key, delivery.body, int(self.clock().timestamp()))
        return delivery

    def _send(self, deliveries: list[Delivery]) -> None:
        """POST outside the lock: the receiver may call this fake back (old payloads need the event)."""
        for delivery in deliveries:
            with self.lock:
                self._sign(delivery)
            try:
                delivery.status = self.sender(delivery)
            except Exception:
                delivery.status = 0
            self._delivered(delivery)

    def _delivered(self, delivery: Delivery) -> None:
        """A 2xx ends the delivery; anything else schedules a retry with exponential back-off for 24 hours, after
        which the subscription is disabled unless another delivery succeeded meanwhile (webhook-errors page)."""
        with self.lock:
            now = self.clock()
            delivery.attempts += 1
            account = next((a for a in self.accounts.values() if delivery.subscription in
                            {s["uri"] for s in a.subscriptions.values()}), None)
            sub = account.subscriptions.get(delivery.subscription.rsplit("/", 1)[-1]) if account else None
            if delivery.status is not None and 200 <= delivery.status < 300:
                delivery.next_try = None
                if account is not None:
                    account.last_success[delivery.subscription] = now
                return
            delivery.first_failure = delivery.first_failure or now
            delivery.next_try = next_retry(delivery.first_failure, delivery.attempts)
            if account is None or sub is None:
                return
            sub["retry_started_at"] = sub["retry_started_at"] or _ts(now)
            succeeded = account.last_success.get(delivery.subscription)
            if delivery.next_try is None and (succeeded is None or succeeded < delivery.first_failure):
                sub["state"] = "disabled"

    def retry_due(self) -> list[Delivery]:
        """Try again, as Calendly's back-off would by now, the failed deliveries whose time has come (tests move
        the clock; nothing runs in the background)."""
        with self.lock:
            now = self.clock()
            due = [d for d in self.outbox if d.next_try is not None and d.next_try <= now
                   and self._subscription_active(d.subscription)]
        self._send(due)
        return due

    def _subscription_active(self, uri: str) -> bool:
        return any(s["uri"] == uri and s["state"] == "active" for a in self.accounts.values()
                   for s in a.subscriptions.values())

    def deliver_pending(self) -> list[Delivery]:
        """Send what was queued while `auto_deliver` was off."""
        with self.lock:
            pending = [d for d in self.outbox if d.status is None]
        self._send(pending)
        return pending

    # --- the HTTP API -------------------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            Route("/users/me", self._endpoint(self._me)),
            Route("/event_types", self._endpoint(self._list_event_types)),
            Route("/scheduled_events", self._endpoint(self._list_events)),
            Route("/scheduled_events/{uuid}", self._endpoint(self._get_event)),
            Route("/scheduled_events/{uuid}/invitees", self._endpoint(self._list_invitees)),
            Route("/scheduled_events/{uuid}/invitees/{invitee}", self._endpoint(self._get_invitee)),
            Route("/invitee_no_shows", self._endpoint(self._create_no_show_route), methods=["POST"]),
            Route("/invitee_no_shows/{uuid}", self._endpoint(self._no_show), methods=["GET", "DELETE"]),
            Route("/webhook_subscriptions", self._endpoint(self._subscriptions), methods=["GET", "POST"]),
            Route("/webhook_subscriptions/{uuid}", self._endpoint(self._subscription), methods=["GET", "DELETE"]),
            Route("/scheduling_links", self._endpoint(self._create_link), methods=["POST"]),
            Route("/data_compliance/deletion/invitees", self._endpoint(self._delete_invitee_data), methods=["POST"]),
        ]
        return self.failing(Starlette(routes=routes))

    def _endpoint(self, handler: Handler) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            with self.lock:
                return self._answer(request, raw, handler)
        return endpoint

    def _answer(self, request: Request, raw: bytes, handler: Handler) -> Response:
        auth = request.headers.get("authorization", "")
        account = next((a for a in self.accounts.values() if auth == f"Bearer {a.token}"), None)
        if account is None:
            return _respond(401, {"title": "Unauthenticated", "message": "The access token is invalid"})
        self.requests.append((account.branch, request.method, request.url.path))
        now = self.clock().timestamp()
        if int(now // 60) != account.window:
            account.window, account.used = int(now // 60), 0
        account.used += 1
        reset = 60 - int(now % 60)
        limits = {"X-RateLimit-Limit": str(account.rate_limit),
                  "X-RateLimit-Remaining": str(max(0, account.rate_limit - account.used)),
                  "X-RateLimit-Reset": str(reset)}
        targeted = request.url.path.startswith(account.inject_path)
        if account.inject and targeted and account.inject_after > 0:
            account.inject_after -= 1
        elif account.inject and targeted:
            status, injected_reset = account.inject.pop(0)
            if status == 429:
                limits.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(injected_reset)})
                return _respond(429, {"title": "Too Many Requests", "message": "Rate limit exceeded"}, limits)
            return _respond(status, {"title": "Internal Server Error", "message": "Injected failure"}, limits)
        if account.used > account.rate_limit:
            limits["X-RateLimit-Remaining"] = "0"
            return _respond(429, {"title": "Too Many Requests", "message": "Rate limit exceeded"}, limits)
        refused = scope_refusal(account.scopes, request.method, request.url.path)
        if refused is not None:
            return _respond(*refused, limits)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return _respond(400, {"title": "Invalid Argument", "message": "The body is not valid JSON."}, limits)
        status, data = handler(request, account, body if isinstance(body, dict) else {})
        return _respond(status, data, limits)

    def _me(self, request: Request, account: FakeAccount, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"resource": account.user}

    def _scope(self, request: Request, account: FakeAccount) -> tuple[int, dict[str, Any]] | None:
        user, org = request.query_params.get("user"), request.query_params.get("organization")
        if not user and not org:
            return _invalid("user", "user or organization is required")
        if user and user != account.user["uri"]:
            return _error(403, "Permission Denied", "You do not have permission to access this resource.")
        if org and org != account.organization:
            return _error(403, "Permission Denied", "You do not have permission to access this resource.")
        return role_refusal(account.role, bool(org) and not user)

    def _list_event_types(self, request: Request, account: FakeAccount,
                          body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._scope(request, account) or self._paginate(request, account.event_types)

    def _list_events(self, request: Request, account: FakeAccount, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        denied = self._scope(request, account)
        if denied:
            return denied
        q = request.query_params
        items = list(account.events.values())
        try:
            if q.get("min_start_time"):
                items = [e for e in items if _parse(e["start_time"]) >= _parse(q["min_start_time"])]
            if q.get("max_start_time"):
                items = [e for e in items if _parse(e["start_time"]) < _parse(q["max_start_time"])]
        except ValueError:
            return _invalid("min_start_time", "must be a UTC time such as 2020-01-02T03:04:05.678123Z")
        if q.get("status"):
            if q["status"] not in ("active", "canceled"):
                return _invalid("status", "must be active or canceled")
            items = [e for e in items if e["status"] == q["status"]]
        if q.get("invitee_email"):
            wanted = q["invitee_email"].casefold()
            items = [e for e in items if any(i["email"].casefold() == wanted
                                             for i in account.invitees[e["uri"].rsplit("/", 1)[-1]])]
        sort = q.get("sort", "start_time:asc")
        if sort not in ("start_time:asc", "start_time:desc"):
            return _invalid("sort", "must be start_time:asc or start_time:desc")
        items.sort(key=lambda e: (e["start_time"], e["uri"]), reverse=sort.endswith("desc"))
        return self._paginate(request, items)

    def _get_event(self, request: Request, account: FakeAccount, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        event = account.events.get(request.path_params["uuid"])
        return (200, {"resource": event}) if event else _not_found()

    def _list_invitees(self, request: Request, account: FakeAccount,
                       body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        uuid_ = request.path_params["uuid"]
        if uuid_ not in account.events:
            return _not_found()
        q = request.query_params
        items = list(account.invitees[uuid_])
        if q.get("status"):
            items = [i for i in items if i["status"] == q["status"]]
        if q.get("email"):
            items = [i for i in items if i["email"].casefold() == q["email"].casefold()]
        items.sort(key=lambda i: i["created_at"], reverse=q.get("sort", "created_at:asc").endswith("desc"))
        return self._paginate(request, items)

    def _get_invitee(self, request: Request, account: FakeAccount, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        uri = f"{BASE}/scheduled_events/{request.path_params['uuid']}/invitees/{request.path_params['invitee']}"
        try:
            return 200, {"resource": account.invitee(uri)[1]}
        except (KeyError, IndexError):
            return _not_found()

    def _paginate(self, request: Request, items: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        q = request.query_params
        try:
            count = int(q.get("count", "20"))
            offset = int(base64.urlsafe_b64decode(q["page_token"].encode()).decode()) if q.get("page_token") else 0
        except ValueError:
            return _invalid("page_token", "is invalid")
        if not 1 <= count <= 100:
            return _invalid("count", "must be between 1 and 100")
        page = items[offset:offset + count]

        def link(at: int) -> tuple[str, str]:
            token = base64.urlsafe_b64encode(str(at).encode()).decode()
            params = {k: v for k, v in q.items() if k != "page_token"} | {"page_token": token}
            return f"{BASE}{request.url.path}?{urlencode(params)}", token

        nxt = link(offset + count) if offset + count < len(items) else (None, None)
        prev = link(max(0, offset - count)) if offset > 0 else (None, None)
        return 200, {"collection": page, "pagination": {"count": len(page), "next_page": nxt[0],
                                                        "previous_page": prev[0], "next_page_token": nxt[1],
                                                        "previous_page_token": prev[1]}}

    def _create_no_show_route(self, request: Request, account: FakeAccount,
                              body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        return self._create_no_show(account, body)

    def _create_no_show(self, account: FakeAccount, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        uri = body.get("invitee")
        if not isinstance(uri, str):
            return _invalid("invitee", "is required")
        try:
            _, invitee = account.invitee(uri)
        except (KeyError, IndexError):
            return _not_found()
        if invitee["no_show"] is not None:
            return _error(409, "Already Exists", "This invitee is already marked as a no show")
        no_show = {"uri": f"{BASE}/invitee_no_shows/{_id()}", "invitee": uri, "created_at": _ts(self.clock())}
        account.no_shows[no_show["uri"].rsplit("/", 1)[-1]] = no_show
        invitee["no_show"] = {"uri": no_show["uri"], "created_at": no_show["created_at"]}
        return 201, {"resource": no_show}

    def _no_show(self, request: Request, account: FakeAccount,
                 body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        no_show = account.no_shows.get(request.path_params["uuid"])
        if no_show is None:
            return _not_found()
        if request.method == "DELETE":
            del account.no_shows[request.path_params["uuid"]]
            account.invitee(no_show["invitee"])[1]["no_show"] = None
            return 204, None
        return 200, {"resource": no_show}

    def _subscriptions(self, request: Request, account: FakeAccount,
                       body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        if request.method == "POST":
            return self._create_subscription(account, body)
        q = request.query_params
        if not q.get("organization") or q.get("scope") not in ("organization", "user"):
            return _invalid("organization", "organization and scope are required")
        if q["organization"] != account.organization:
            return _error(403, "Permission Denied", "You do not have permission to access this resource.")
        denied = role_refusal(account.role, q["scope"] == "organization")
        if denied is not None:
            return denied
        items = [s for s in account.subscriptions.values() if s["scope"] == q["scope"]
                 and (q["scope"] == "organization" or s["user"] == q.get("user"))]
        return self._paginate(request, items)

    def _create_subscription(self, account: FakeAccount, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        for key in ("url", "events", "organization", "scope"):
            if not body.get(key):
                return _invalid(key, "is required")
        if body["scope"] not in ("organization", "user"):
            return _invalid("scope", "must be organization or user")
        if body["scope"] == "user" and body.get("user") != account.user["uri"]:
            return _invalid("user", "is required for user scope")
        if body["organization"] != account.organization:
            return _error(403, "Permission Denied", "You do not have permission to access this resource.")
        unknown = [e for e in body["events"] if e not in WEBHOOK_EVENTS]
        if unknown:
            return _invalid("events", f"unknown events: {', '.join(unknown)}")
        refused = (subscription_scope_refusal(account.scopes, body["events"])
                   or role_refusal(account.role, body["scope"] == "organization") or plan_refusal(account.plan))
        if refused is not None:
            return refused
        if not account.webhooks_allowed:
            return _error(403, "Permission Denied", "Please upgrade your Calendly account to Professional")
        if any(s["callback_url"] == body["url"] for s in account.subscriptions.values()):
            return _error(409, "Already Exists", "Hook with this url already exists")
        now = _ts(self.clock())
        sub = {"uri": f"{BASE}/webhook_subscriptions/{_id()}", "callback_url": body["url"], "created_at": now,
               "updated_at": now, "retry_started_at": None, "state": "active", "events": list(body["events"]),
               "scope": body["scope"], "organization": account.organization,
               "user": account.user["uri"] if body["scope"] == "user" else None, "creator": account.user["uri"]}
        account.subscriptions[sub["uri"].rsplit("/", 1)[-1]] = sub
        # Calendly signs with the key given at creation (PAT apps); without one we make one up, unknown to callers
        account.signing_keys[sub["uri"]] = str(body.get("signing_key") or uuid.uuid4().hex)
        return 201, {"resource": sub}

    def _subscription(self, request: Request, account: FakeAccount,
                      body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        sub = account.subscriptions.get(request.path_params["uuid"])
        if sub is None:
            return _not_found()
        if request.method == "DELETE":
            del account.subscriptions[request.path_params["uuid"]]
            account.signing_keys.pop(sub["uri"], None)
            return 204, None
        return 200, {"resource": sub}

    def _create_link(self, request: Request, account: FakeAccount,
                     body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        if body.get("max_event_count") != 1:
            return _invalid("max_event_count", "must be 1")
        if body.get("owner_type") != "EventType":
            return _invalid("owner_type", "must be EventType")
        etype = next((t for t in account.event_types if t["uri"] == body.get("owner")), None)
        if etype is None:
            return _not_found()
        link = {"booking_url": f"https://calendly.com/d/{_id().lower()[:10]}/{etype['slug']}",
                "owner": etype["uri"], "owner_type": "EventType"}
        account.links.append(link)
        return 201, {"resource": link}

    def _delete_invitee_data(self, request: Request, account: FakeAccount,
                             body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        return sandbox_compliance.request_deletion(account, body, _ts(self.clock()))

    # --- hub demo (sandbox_demo.py) -----------------------------------------------------------------------------

    def demo_settings(self, demo: DemoContext) -> dict[str, Any]:
        from hub_calendly import sandbox_demo
        return sandbox_demo.demo_settings(self, demo)

    def demo_environ(self, demo: DemoContext) -> dict[str, str]:
        from hub_calendly import sandbox_demo
        return sandbox_demo.demo_environ(self, demo)

    def demo_actions(self, demo: DemoContext) -> list[DemoAction]:
        from hub_calendly import sandbox_demo
        return sandbox_demo.demo_actions(self, demo)

    def describe(self, branch: str) -> str:
        from hub_calendly import sandbox_demo
        return sandbox_demo.describe(self, branch)


def _not_found() -> tuple[int, dict[str, Any]]:
    return _error(404, "Resource Not Found", "The server could not find the requested resource.")


def _respond(status: int, data: dict[str, Any] | None, headers: dict[str, str] | None = None) -> Response:
    if status == 204 or data is None:
        return Response(status_code=status, headers=headers)
    return Response(json.dumps(data), status_code=status, media_type="application/json", headers=headers)


def _post_loopback(delivery: Delivery) -> int:
    """Calendly's POST, refused for anything but loopback: the fake must never reach the internet."""
    host = urlsplit(delivery.url).hostname or ""
    if host not in LOOPBACK:
        return 0
    return httpx.post(delivery.url, content=delivery.body, headers=delivery.headers, timeout=10).status_code
