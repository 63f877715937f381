"""A strict fake of the Gmail API v1 (the endpoints the channel uses), served on loopback.

Driven by the real google-api-python-client through `client_options={"api_endpoint": ...}`, it speaks the wire
format of the discovery document shipped with the client: users.getProfile, drafts.create/get/list/send/delete,
messages.send/get/list/trash/delete (the search operators the channel uses: rfc822msgid:, in:, from:, to:,
newer_than:, after:, before:, subject:, {a b} for OR, plain words, which match the subject, the addresses and the
text but no other header, as in Gmail; another operator is an error, so a test never passes on a query the fake
ignores: sandbox_mailbox.py), threads.get, history.list, labels.list, and an OAuth token endpoint (refresh; a
revoked token gets `invalid_grant`). It refuses what Gmail refuses, with Google's error JSON: a bad Authorization
(401), another user's mailbox (403), a token without one of the method's scopes (403 insufficientPermissions, the
scopes read from the discovery document: messages.trash needs gmail.modify or https://mail.google.com/,
messages.delete the latter only, drafts.delete allows gmail.compose), a missing `raw` or one that is not base64
(URL-safe or standard, as proto3 JSON accepts), a missing or invalid To header, a message (attachments included)
larger than Gmail takes (`max_message_bytes()`: 35 MB, the `maxSize` of drafts.create and messages.send in the
discovery document; answered 413 as third-party senders meet it, jennybc/send-email-with-r#6,
FlowCrypt/flowcrypt-browser#1688, with a wording [?]; they met it below 35 MB on the JSON route, an undocumented
limit the sandbox does not guess), unknown ids (404 notFound, the same body as an expired historyId). A message
trashed more than 30 days ago is gone, as Gmail empties its trash. Faults can be injected: 429 (with Gmail's
"Retry after <time>"), 5xx, the daily sending limit (403 dailyLimitExceeded), a bounce arriving later, history
expiry. Every request is recorded (`count()`, `methods()`), every sent mail kept as sent (`sent(branch)` parses
it back, RFC 5322).
"""

from __future__ import annotations

import binascii
import functools
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api import default_secret_env
from hub.sandbox import DemoContext, Sandbox
from hub_gmail.sandbox_mailbox import SYSTEM_LABELS, Mailbox, Stored, dsn, parse_mail, payload, rewrite_headers

DEMO_DOMAIN = "cravate-demo.org"
MAIL_GOOGLE = "https://mail.google.com/"
GMAIL = "https://www.googleapis.com/auth/gmail."
HUB_SCOPES = (GMAIL + "compose", GMAIL + "readonly")
"""What a token is granted unless a test says otherwise: what the hub asks (hub_google.SCOPES["gmail"],
checked by a test)."""
USER_UNITS_PER_MINUTE = 15_000
UNITS = {"messages.send": 100, "drafts.send": 100, "drafts.create": 10, "drafts.get": 5, "drafts.list": 5,
         "drafts.delete": 10, "messages.get": 5, "messages.list": 5, "messages.trash": 5, "messages.delete": 10,
         "threads.get": 10, "history.list": 2, "getProfile": 1, "labels.list": 1}
"""Quota units per method and the per-user limit, https://developers.google.com/gmail/api/reference/quota
(reference C4; drafts.create/delete and threads.get are not in our excerpt: the page lists them at 10)."""
_BASE64 = re.compile(r"^[A-Za-z0-9_+/-]*={0,2}$")  # proto3 JSON bytes: URL-safe or standard, padded or not
_ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    (method, http, re.compile(pattern)) for method, http, pattern in [
        ("getProfile", "GET", r"^profile$"),
        ("labels.list", "GET", r"^labels$"),
        ("drafts.list", "GET", r"^drafts$"),
        ("drafts.create", "POST", r"^drafts$"),
        ("drafts.send", "POST", r"^drafts/send$"),
        ("drafts.get", "GET", r"^drafts/(?P<id>[^/]+)$"),
        ("drafts.delete", "DELETE", r"^drafts/(?P<id>[^/]+)$"),
        ("messages.list", "GET", r"^messages$"),
        ("messages.send", "POST", r"^messages/send$"),
        ("messages.get", "GET", r"^messages/(?P<id>[^/]+)$"),
        ("messages.delete", "DELETE", r"^messages/(?P<id>[^/]+)$"),
        ("messages.trash", "POST", r"^messages/(?P<id>[^/]+)/trash$"),
        ("threads.get", "GET", r"^threads/(?P<id>[^/]+)$"),
        ("history.list", "GET", r"^history$"),
    ]]


def error_body(code: int, status: str, message: str, reason: str, domain: str = "global",
               **extra: str) -> dict[str, Any]:
    """Google's error JSON as Gmail v1 sends it: the legacy `errors` list and the newer `status`."""
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "domain": domain, "reason": reason, **extra}],
                      "status": status}}


NOT_FOUND = error_body(404, "NOT_FOUND", "Requested entity was not found.", "notFound")
UNAUTHENTICATED = error_body(
    401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/"
    "devconsole-project.", "authError", location="Authorization", locationType="header")
_FIELDS = {"messageAdded": "messagesAdded", "messageDeleted": "messagesDeleted",  # historyTypes -> History field
           "labelAdded": "labelsAdded"}
RAW_REQUIRED = "'raw' RFC822 payload message string or uploading message via /upload/* URL required"


@functools.lru_cache(maxsize=1)
def required_scopes() -> dict[str, frozenset[str]]:
    """Each method's scopes (any one suffices), as the discovery document shipped with the client lists them."""
    from googleapiclient.discovery_cache import get_static_doc

    users = json.loads(get_static_doc("gmail", "v1") or "{}")["resources"]["users"]
    out = {name: frozenset(m.get("scopes", [])) for name, m in users.get("methods", {}).items()}
    for resource, body in users.get("resources", {}).items():
        out.update({f"{resource}.{name}": frozenset(m.get("scopes", []))
                    for name, m in body.get("methods", {}).items()})
    return out


@functools.lru_cache(maxsize=1)
def max_message_bytes() -> int:
    """The largest message (RFC 5322 bytes, attachments included) drafts.create takes: its `mediaUpload.maxSize`
    in the discovery document shipped with the client (36700160, the "35MB" of the method's reference page)."""
    from googleapiclient.discovery_cache import get_static_doc

    users = json.loads(get_static_doc("gmail", "v1") or "{}")["resources"]["users"]
    upload = users["resources"]["drafts"]["methods"]["create"].get("mediaUpload", {})
    return int(upload.get("maxSize") or 35 * 1024 * 1024)


def insufficient_scope(method: str) -> ApiError:
    """Gmail's answer to a token without the method's scope: the body of a real one
    (https://github.com/kenn-io/msgvault/issues/11; `metadata.method` follows its
    caribou.api.proto.MailboxService.<Method> pattern) and RFC 6750's header naming the scopes that would do
    (seen on a Google API in https://github.com/kwent/react-google-contacts/issues/6)."""
    noun, _, verb = method.rpartition(".")  # "messages.trash" -> TrashMessage
    rpc = verb[:1].upper() + verb[1:] + noun[:-1].capitalize()
    body = error_body(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.",
                      "insufficientPermissions")
    body["error"]["errors"][0]["message"] = "Insufficient Permission"
    body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                 "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com",
                                 "metadata": {"service": "gmail.googleapis.com",
                                              "method": f"caribou.api.proto.MailboxService.{rpc}"}}]
    scopes = " ".join(sorted(required_scopes().get(method, ())))
    return ApiError(403, body, {"WWW-Authenticate": f'Bearer realm="https://accounts.google.com/", '
                                                    f'error="insufficient_scope", scope="{scopes}"'})


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def invalid(message: str, reason: str = "invalidArgument") -> ApiError:
    return ApiError(400, error_body(400, "INVALID_ARGUMENT", message, reason))


@dataclass(frozen=True)
class Recorded:
    method: str  # "drafts.create", "history.list", ..., or "token"
    http: str
    status: int
    mailbox: str


class GmailSandbox(Sandbox):
    """One fake Gmail service; a mailbox per branch, each reached with its own access token."""

    name = "gmail"
    failing_paths = ("/gmail/",)  # the API fails, not the token endpoint

    def __init__(self, *, clock: Callable[[], datetime] | None = None, rewrite_message_id: bool = True,
                 daily_limit: int | None = None, units_per_minute: int | None = USER_UNITS_PER_MINUTE) -> None:
        self.units_per_minute = units_per_minute
        self.spent: dict[str, list[tuple[datetime, int]]] = {}  # address -> (when, units) of the last minute
        self.lock = threading.RLock()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rewrite_message_id = rewrite_message_id
        self.daily_limit = daily_limit
        self.mailboxes: dict[str, Mailbox] = {}  # address -> mailbox
        self.tokens: dict[str, str] = {}  # access token -> address
        self.granted: dict[str, frozenset[str]] = {}  # access token -> its scopes (HUB_SCOPES unless said)
        self.refresh_tokens: dict[str, tuple[str, bool]] = {}  # refresh token -> (address, still valid)
        self.branches: dict[str, str] = {}  # branch -> address (tests and the demo)
        self.requests: list[Recorded] = []
        self.failures: list[tuple[int | str, str | None]] = []  # (429 / 5xx / "daily", method or None)
        self.bounced: dict[str, set[str]] = {}  # address -> Gmail ids of the mails that bounced

    # --- what tests and the demo drive -----------------------------------------------------------------------

    def add_mailbox(self, address: str, token: str, *, branch: str | None = None,
                    scopes: tuple[str, ...] | None = None) -> Mailbox:
        """A mailbox reached with `token`, which carries `scopes` (default: what the hub asks, HUB_SCOPES)."""
        with self.lock:
            box = self.mailboxes.setdefault(address, Mailbox(address))
            self.tokens[token] = address
            self.granted[token] = frozenset(HUB_SCOPES if scopes is None else scopes)
            if branch:
                self.branches[branch] = address
            return box

    def mailbox(self, who: str) -> Mailbox:
        """A mailbox by branch name or address."""
        with self.lock:
            return self.mailboxes[self.branches.get(who, who)]

    def sent(self, who: str) -> list[EmailMessage]:
        """The mails a branch's mailbox sent, oldest first, parsed (RFC 5322) as the recipient gets them."""
        with self.lock:
            box = self.mailbox(who)
            mails = sorted((m for m in box.messages.values() if "SENT" in m.labels), key=lambda m: m.history_id)
            return [m.mail for m in mails]

    def grant(self, token: str, scopes: tuple[str, ...]) -> None:
        """The scopes an access token carries from now on (a new consent, e.g. with gmail.modify)."""
        with self.lock:
            self.granted[token] = frozenset(scopes)

    def holding(self, who: str, *texts: str) -> list[Stored]:
        """The messages of a mailbox (trash and drafts included) whose headers or text parts contain one of
        `texts` (case-insensitive, decoded): what an erasure must leave at zero."""
        with self.lock:
            box = self.mailbox(who)
            box.purge_trash(self.clock())
            wanted = [t.casefold() for t in texts if t]
            return [m for m in box.messages.values() if any(t in readable(m).casefold() for t in wanted)]

    def drafts(self, who: str) -> list[EmailMessage]:
        with self.lock:
            box = self.mailbox(who)
            return [box.messages[m].mail for m in box.drafts.values()]

    def bounce(self, to_address: str, *, temporary: bool = False, status: str | None = None) -> str:
        """A bounce arriving now for the last mail sent to `to_address`; returns the DSN's Gmail id."""
        with self.lock:
            for box in self.mailboxes.values():
                for stored in sorted(box.messages.values(), key=lambda m: m.history_id, reverse=True):
                    recipients = [a.lower() for _, a in getaddresses([str(stored.mail.get("To", ""))])]
                    if "SENT" in stored.labels and to_address.lower() in recipients:
                        now = self.clock()
                        raw = dsn(stored, box.address, to_address, now, temporary=temporary, status=status)
                        if not temporary:
                            self.bounced.setdefault(box.address, set()).add(stored.id)
                        return box.add(raw, ["INBOX", "UNREAD", "CATEGORY_UPDATES"], now, stored.thread_id).id
            raise KeyError("no mail was sent to this address")

    def receive(self, who: str, raw: bytes) -> str:
        """An ordinary mail arriving in a mailbox's inbox (a candidate's answer)."""
        with self.lock:
            return self.mailbox(who).add(raw, ["INBOX", "UNREAD"], self.clock()).id

    def expire_history(self, who: str) -> None:
        with self.lock:
            self.mailbox(who).expire_history()

    def fail_next(self, failure: int | str = 429, count: int = 1, method: str | None = None) -> None:
        """Answer the next `count` API requests (of `method`, e.g. "drafts.send", or any) with a fault:
        429 (Gmail's per-user limit, "Retry after" 15 minutes), a 5xx, or "daily" (the sending limit)."""
        with self.lock:
            self.failures += [(failure, method)] * count

    def revoke(self, token: str) -> None:
        """An access token or a refresh token Google no longer accepts."""
        with self.lock:
            self.tokens.pop(token, None)
            if token in self.refresh_tokens:
                self.refresh_tokens[token] = (self.refresh_tokens[token][0], False)

    def count(self, method: str | None = None, *, who: str | None = None) -> int:
        with self.lock:
            address = self.branches.get(who, who) if who else None
            return sum(1 for r in self.requests if (method is None or r.method == method)
                       and (address is None or r.mailbox == address))

    def methods(self, who: str | None = None) -> list[str]:
        with self.lock:
            address = self.branches.get(who, who) if who else None
            return [r.method for r in self.requests if address is None or r.mailbox == address]

    # --- HTTP ---------------------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        async def api(request: Request) -> Response:
            rest = request.path_params["rest"]
            user, _, tail = rest.partition("/")
            try:
                body = await request.body()
            except ClientDisconnect:  # the client died mid-request (the crash test kills it): nothing to answer
                return Response(status_code=499)
            method, address = "?", ""
            try:
                with self.lock:
                    method, params = self._route(request.method, tail)
                    address = self._admit(request, user, method)
                    answer = self._handle(method, self.mailboxes[address], params,
                                          request.query_params.multi_items(), body)
                status, headers = (200 if answer is not None else 204), {}
            except ApiError as exc:
                answer, status, headers = exc.body, exc.status, exc.headers
            with self.lock:
                self.requests.append(Recorded(method, request.method, status, address))
            if answer is None:
                return Response(status_code=204)
            return JSONResponse(answer, status_code=status, headers=headers)

        async def token(request: Request) -> JSONResponse:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            answer, status = self._token(form)
            with self.lock:
                self.requests.append(Recorded("token", "POST", status, ""))
            return JSONResponse(answer, status_code=status)

        return self.failing(Starlette(routes=[Route("/token", token, methods=["POST"]),
                                              Route("/gmail/v1/users/{rest:path}", api,
                                                    methods=["GET", "POST", "DELETE", "PUT", "PATCH"])]))

    @staticmethod
    def _route(http: str, tail: str) -> tuple[str, dict[str, str]]:
        for method, verb, pattern in _ROUTES:
            match = pattern.match(tail)
            if match and verb == http:
                return method, match.groupdict()
        raise ApiError(404, NOT_FOUND)

    def _admit(self, request: Request, user: str, method: str) -> str:
        auth = request.headers.get("authorization", "")
        address = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if address is None:
            raise ApiError(401, UNAUTHENTICATED)
        if user not in ("me", address):
            raise ApiError(403, error_body(403, "PERMISSION_DENIED", f"Delegation denied for {address}", "forbidden"))
        needed = required_scopes().get(method, frozenset())
        if needed and not needed & self.granted.get(auth[7:], frozenset(HUB_SCOPES)):
            raise insufficient_scope(method)
        for i, (failure, only) in enumerate(self.failures):
            if only in (None, method):
                del self.failures[i]
                raise self._fault(failure)
        self._spend(address, method)
        return address

    def _spend(self, address: str, method: str) -> None:
        """Gmail's per-user quota: 15,000 units per user per minute, each method its cost (quota page, see
        UNITS); over it, 429 userRateLimitExceeded like the real service."""
        if self.units_per_minute is None:
            return
        now = self.clock()
        window = [(at, units) for at, units in self.spent.get(address, []) if now - at < timedelta(minutes=1)]
        cost = UNITS.get(method, 5)
        if sum(units for _, units in window) + cost > self.units_per_minute:
            self.spent[address] = window
            oldest = min(at for at, _ in window)
            raise self._rate_limited(oldest + timedelta(minutes=1), reason="userRateLimitExceeded")
        self.spent[address] = [*window, (now, cost)]

    def _fault(self, failure: int | str) -> ApiError:
        if failure == "daily":
            return ApiError(403, error_body(403, "PERMISSION_DENIED", "Daily user sending limit exceeded. For more "
                                            "information on Gmail sending limits go to "
                                            "https://support.google.com/a/answer/166852", "dailyLimitExceeded",
                                            domain="usageLimits"))
        if failure == 429:
            return self._rate_limited(self.clock() + timedelta(minutes=15))
        code = int(failure)
        return ApiError(code, error_body(code, "UNAVAILABLE" if code == 503 else "INTERNAL",
                                         "The service is currently unavailable." if code == 503
                                         else "Internal error encountered.", "backendError"))

    @staticmethod
    def _rate_limited(until: datetime, reason: str = "rateLimitExceeded") -> ApiError:
        when = until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{until.microsecond // 1000:03d}Z"
        message = f"User-rate limit exceeded.  Retry after {when}"
        return ApiError(429, error_body(429, "RESOURCE_EXHAUSTED", message, reason, domain="usageLimits"))

    def _token(self, form: dict[str, str]) -> tuple[dict[str, Any], int]:
        with self.lock:
            address, valid = self.refresh_tokens.get(form.get("refresh_token", ""), ("", False))
            if form.get("grant_type") != "refresh_token" or not valid:
                return {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, 400
            access = f"ya29.gmail-sandbox-{len(self.tokens) + 1}"
            self.tokens[access] = address
            self.granted[access] = frozenset(HUB_SCOPES)
        return {"access_token": access, "expires_in": 3599, "token_type": "Bearer",
                "scope": " ".join(HUB_SCOPES)}, 200

    # --- the API ------------------------------------------------------------------------------------------------

    def _handle(self, method: str, box: Mailbox, path: dict[str, str], query: list[tuple[str, str]],
                body: bytes) -> dict[str, Any] | None:
        params: dict[str, list[str]] = {}
        for key, value in query:
            params.setdefault(key, []).append(value)

        def one(name: str, default: str | None = None) -> str | None:
            return params.get(name, [default])[0]

        now = self.clock()
        box.purge_trash(now)
        if method == "getProfile":
            return {"emailAddress": box.address, "messagesTotal": len(box.messages),
                    "threadsTotal": len({m.thread_id for m in box.messages.values()}),
                    "historyId": str(box.history_id)}
        if method == "labels.list":
            return {"labels": [{"id": label, "name": label, "type": "system"} for label in SYSTEM_LABELS]}
        if method == "drafts.create":
            raw = self._raw(_json(body).get("message"), "draft.message.raw")
            stored = box.add(raw, ["DRAFT"], now)
            draft_id = f"r{secrets.randbelow(10**19):019d}"
            box.drafts[draft_id] = stored.id
            return {"id": draft_id, "message": stored.summary()}
        if method in ("drafts.get", "drafts.delete"):
            message_id = box.drafts.get(path["id"])
            if message_id is None:
                raise ApiError(404, NOT_FOUND)
            if method == "drafts.delete":
                del box.drafts[path["id"]]
                box.remove(message_id)
                return None
            return {"id": path["id"], "message": self._shown(box.messages[message_id], one("format") or "full", [])}
        if method == "drafts.list":
            wanted = {m.id for m in self._search(box, one("q") or "", now, [])}
            found = [{"id": d, "message": {"id": m, "threadId": box.messages[m].thread_id}}
                     for d, m in box.drafts.items() if m in wanted]
            return self._page({"drafts": found}, "drafts", one("pageToken"), one("maxResults", "100"))
        if method == "drafts.send":
            wanted_id = str(_json(body).get("id") or "")
            if not wanted_id:
                raise invalid("Invalid draft")
            draft_message = box.drafts.get(wanted_id)
            if draft_message is None:
                raise ApiError(404, NOT_FOUND)
            draft = box.messages[draft_message]
            sent = self._send(box, draft.raw, now, draft.thread_id)
            del box.drafts[wanted_id]
            box.remove(draft_message)
            return sent.summary()
        if method == "messages.send":
            return self._send(box, self._raw(_json(body), "message.raw"), now, None).summary()
        if method in ("messages.trash", "messages.delete"):
            target = box.messages.get(path["id"])
            if target is None:
                raise ApiError(404, NOT_FOUND)
            if method == "messages.delete":  # permanent, and a draft's message takes its draft with it
                for draft_id in [d for d, m in box.drafts.items() if m == target.id]:
                    del box.drafts[draft_id]
                box.remove(target.id)
                return None
            box.trash(target.id, now)  # trashing a message already in the trash changes nothing
            return self._shown(target, "minimal", [])
        if method in ("messages.get", "threads.get"):
            fmt = one("format", "full") or "full"
            if fmt not in ("minimal", "full", "raw", "metadata"):
                raise invalid(f"Invalid value at 'format' ({fmt})")
            headers = params.get("metadataHeaders", [])
            if method == "threads.get":
                messages = box.thread(path["id"])
                if not messages:
                    raise ApiError(404, NOT_FOUND)
                if fmt == "raw":
                    raise invalid("Invalid format: RAW is not supported for threads")
                return {"id": path["id"], "historyId": str(max(m.history_id for m in messages)),
                        "messages": [self._shown(m, fmt, headers) for m in messages]}
            item = box.messages.get(path["id"])
            if item is None:
                raise ApiError(404, NOT_FOUND)
            return self._shown(item, fmt, headers)
        if method == "messages.list":
            hits = self._search(box, one("q") or "", now, params.get("labelIds", []),
                                one("includeSpamTrash", "false") == "true")
            return self._page({"messages": [{"id": m.id, "threadId": m.thread_id} for m in hits]}, "messages",
                              one("pageToken"), one("maxResults", "100"))
        if method == "history.list":
            return self._history(box, params)
        raise ApiError(404, NOT_FOUND)

    def _raw(self, message: Any, field: str) -> bytes:
        if not isinstance(message, dict) or not message.get("raw"):
            raise invalid(RAW_REQUIRED)
        text = str(message["raw"])
        if not _BASE64.match(text):
            raise invalid(f"Invalid value at '{field}' (TYPE_BYTES), Base64 decoding failed", reason="invalid")
        try:
            import base64

            raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise invalid(f"Invalid value at '{field}' (TYPE_BYTES), Base64 decoding failed", reason="invalid") \
                from None
        limit = max_message_bytes()
        if len(raw) > limit:
            raise ApiError(413, error_body(413, "INVALID_ARGUMENT",
                                           f"Request payload size exceeds the limit: {limit} bytes.", "badRequest"))
        header = parse_mail(raw)["To"]
        if header is None or not str(header).strip():
            raise invalid("Recipient address required")
        addresses = getattr(header, "addresses", ())
        if header.defects or not addresses or any(not a.username or "." not in a.domain for a in addresses):
            raise invalid("Invalid To header")
        return raw

    def _send(self, box: Mailbox, raw: bytes, now: datetime, thread_id: str | None) -> Stored:
        if self.daily_limit is not None:
            box.sends = [t for t in box.sends if t > now - timedelta(days=1)]
            if len(box.sends) >= self.daily_limit:
                raise self._rate_limited(box.sends[0] + timedelta(days=1))
        box.sends.append(now)
        raw = rewrite_headers(raw, sender=box.address, aliases=box.aliases,
                              new_message_id=self.rewrite_message_id, now=now)
        return box.add(raw, ["SENT"], now, thread_id)

    @staticmethod
    def _search(box: Mailbox, query: str, now: datetime, labels: list[str],
                include_spam_trash: bool = False) -> list[Stored]:
        try:
            return box.search(query, now, label_ids=labels, include_spam_trash=include_spam_trash)
        except ValueError as exc:
            raise invalid(str(exc)) from None

    @staticmethod
    def _shown(stored: Stored, fmt: str, headers: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {**stored.summary(), "historyId": str(stored.history_id),
                               "internalDate": str(stored.internal_ms), "sizeEstimate": len(stored.raw)}
        if fmt == "minimal":
            return out
        if fmt == "raw":
            import base64

            return {**out, "raw": base64.urlsafe_b64encode(stored.raw).decode("ascii")}
        out["snippet"] = ""
        out["payload"] = payload(stored.mail, headers=(headers or None) if fmt == "metadata" else None,
                                 bodies=fmt == "full")
        return out

    @staticmethod
    def _page(reply: dict[str, Any], key: str, token: str | None, size: str | None) -> dict[str, Any]:
        items = reply[key]
        start, limit = int(token or 0), min(500, int(size or 100))
        page = items[start:start + limit]
        out: dict[str, Any] = {"resultSizeEstimate": len(items)}
        if page:
            out[key] = page
        if start + limit < len(items):
            out["nextPageToken"] = str(start + limit)
        return out

    def _history(self, box: Mailbox, params: dict[str, list[str]]) -> dict[str, Any]:
        text = params.get("startHistoryId", [""])[0]
        if not text.isdigit():
            raise invalid("Invalid startHistoryId")
        start = int(text)
        if start < box.oldest_history:
            raise ApiError(404, NOT_FOUND)  # the same body as any notFound (reference C1)
        kinds = set(params.get("historyTypes", [])) or {"messageAdded", "messageDeleted", "labelAdded",
                                                        "labelRemoved"}
        label = params.get("labelId", [None])[0]
        records = [h for h in box.history if h.id > start and h.kind in kinds
                   and (label is None or label in h.message.labels)]
        limit = min(500, int(params.get("maxResults", ["100"])[0]))
        offset = int(params.get("pageToken", ["0"])[0])
        page = records[offset:offset + limit]
        out: dict[str, Any] = {"historyId": str(box.history_id)}
        if page:
            out["history"] = [{"id": str(h.id), "messages": [{"id": h.message.id, "threadId": h.message.thread_id}],
                               _FIELDS[h.kind]: [{"message": h.message.summary(),
                                                  **({"labelIds": h.labels} if h.labels else {})}]} for h in page]
        if offset + limit < len(records):
            out["nextPageToken"] = str(offset + limit)
        return out

    # --- the demo -----------------------------------------------------------------------------------------------

    def demo_settings(self, demo: DemoContext) -> dict[str, Any]:
        self.add_mailbox(f"{demo.branch}@{DEMO_DOMAIN}", _demo_token(demo.branch), branch=demo.branch)
        return {"auth": "static_token", "api_endpoint": demo.base_url, "bounce_interval": 1,
                "from_name": f"La Cravate Solidaire {demo.branch.title()}"}

    def demo_environ(self, demo: DemoContext) -> dict[str, str]:
        return {default_secret_env(demo.branch, "gmail", "access_token"): _demo_token(demo.branch)}

    def describe(self, branch: str) -> str:
        """The mails a branch sent, as staff would see its Sent folder (first name only, no address)."""
        if branch not in self.branches:
            return "(pas de boîte Gmail pour cette antenne)"
        with self.lock:
            box = self.mailbox(branch)
            sent = sorted((m for m in box.messages.values() if "SENT" in m.labels), key=lambda m: m.history_id)
            bounced = self.bounced.get(box.address, set())
            rows = [["Envoyé le", "À", "Objet", "Remis"]]
            for stored in sent:
                mail = stored.mail
                name = (getaddresses([str(mail.get("To", ""))]) or [("", "")])[0][0].split()
                when = datetime.fromtimestamp(stored.internal_ms / 1000, UTC).strftime("%d/%m/%Y %H:%M")
                rows.append([when, " ".join(name[:1] + [n[0] + "." for n in name[1:2]]) or "?",
                             str(mail.get("Subject", ""))[:60], "non (adresse inconnue)" if stored.id in bounced
                             else "oui"])
        if len(rows) == 1:
            return "(aucun e-mail envoyé)"
        widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
        lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines.insert(1, "-+-".join("-" * w for w in widths))
        return "\n".join(lines)


def readable(stored: Stored) -> str:
    """A stored mail's headers and text parts, decoded (RFC 2047 names, quoted-printable bodies)."""
    mail = stored.mail
    parts = [f"{k}: {v}" for k, v in mail.items()]
    for part in mail.walk():
        if part.get_content_maintype() == "text":
            try:
                parts.append(str(part.get_content()))
            except (LookupError, ValueError):  # an unknown charset: the bytes as UTF-8
                data = part.get_payload(decode=True)
                parts.append(data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data))
    return "\n".join(parts)


def _demo_token(branch: str) -> str:
    return f"gmail-sandbox-{branch}"


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise invalid("Invalid JSON payload received.") from None
    if not isinstance(data, dict):
        raise invalid("Invalid JSON payload received.")
    return data
