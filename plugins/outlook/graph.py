"""A small Microsoft Graph client over httpx, with Graph's failures mapped to the hub's.

Every request carries `Prefer: IdType="ImmutableId"`: otherwise an item's id changes when it moves folder (a
draft once sent moves to Sent Items), and the id the send recorded would no longer find it
(https://learn.microsoft.com/graph/outlook-immutable-id, reference §4).

    401                      the cached token is dropped and the request made once more with a new one; a
                             second 401 -> PluginAuthFailed (`hub auth outlook --branch B`)
    403                      PluginAuthFailed naming the permission the request needs (ErrorAccessDenied:
                             "Access is denied. Check credentials and try again.") and the Exchange RBAC scope
    404 on a lookup          None (`missing_ok`); a mailbox that does not exist -> PluginAuthFailed
    429, 5xx                 PluginNotReady with Retry-After (Graph sends seconds); 429 is `Throttled`, which
                             send.py remembers so the next mails wait without asking
    410, syncStateNotFound   SyncReset: a delta link Graph no longer knows; the reader starts a full round
    400 and other 4xx        OutlookRejected (DeliveryRejected) with Graph's error code, never the body

At most `max_concurrency` (Outlook allows 4 per app and mailbox, reference §2.5) requests are in flight per
(graph_url, mailbox) across the whole process: several lanes and branches may share one mailbox, so the
semaphore lives in a module-level dict, not in the client. Logs carry the status, Graph's error code and the
request-id, never a URL (it holds the mailbox's address).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from hub.api import failure_for, retry_after
from hub.errors import DeliveryRejected, PluginAuthFailed, PluginNotReady
from hub_outlook.auth import SERVICE, auth_command, auth_failed

if TYPE_CHECKING:
    from hub_outlook.auth import OutlookAuth
    from hub_outlook.settings import Settings

log = logging.getLogger("hub.plugin.outlook")
IMMUTABLE_IDS = 'IdType="ImmutableId"'
SLOT_WAIT = 120.0
"""Seconds a request waits for one of the mailbox's slots before giving up (PluginNotReady)."""
MAILBOX_MISSING = frozenset({"ErrorInvalidUser", "MailboxNotEnabledForRESTAPI", "MailboxNotSupportedForRESTAPI",
                             "ErrorMailboxNotFound"})

_SLOTS_LOCK = threading.Lock()
_SLOTS: dict[tuple[str, str], threading.BoundedSemaphore] = {}


def slots(graph_url: str, mailbox: str, size: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore of one mailbox (the first caller's `size` wins)."""
    key = (graph_url.rstrip("/").lower(), mailbox.lower())
    with _SLOTS_LOCK:
        found = _SLOTS.get(key)
        if found is None:
            found = _SLOTS[key] = threading.BoundedSemaphore(size)
        return found


class OutlookRejected(DeliveryRejected):
    """Graph refuses this request for good (an invalid recipient...): dead letter, no retry."""


class SyncReset(PluginNotReady):
    """A delta or skip token Graph no longer knows (410 Gone, or `syncStateNotFound`): "the client must start
    a full synchronization" (https://learn.microsoft.com/graph/delta-query-overview#synchronization-reset)."""


SYNC_RESET_CODES = frozenset({"syncStateNotFound", "syncStateInvalid", "resyncRequired"})


class Throttled(PluginNotReady):
    """Graph answered 429: the mailbox (or the app) is throttled for `retry_after` seconds."""


class GraphClient:
    """Graph requests on one mailbox (`/users/{mailbox}`); `requests` counts those sent to Graph."""

    def __init__(self, *, branch: str, settings: Settings, auth: OutlookAuth, http: httpx.Client,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.branch = branch
        self.settings = settings
        self.auth = auth
        self.http = http
        self.base = settings.graph_url.rstrip("/")
        self.clock = clock or (lambda: datetime.now(UTC))
        self.requests = 0
        self._count_lock = threading.Lock()
        self._user: str | None = None

    def close(self) -> None:
        self.http.close()

    @property
    def user(self) -> str:
        """`mailbox`, or the signed-in user's id (delegated, mailbox unset): read once."""
        if self._user is None:
            self._user = self.auth.user_id()
        return self._user

    def mailbox_path(self, rest: str = "", mailbox: str | None = None) -> str:
        """`/users/{mailbox}{rest}`: the branch's mailbox, or another one (a coach's) named by address."""
        return f"/users/{quote(mailbox or self.user, safe='@')}{rest}"

    # --- the one place requests are made ----------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                json_body: dict[str, Any] | None = None, permission: str = "Mail.ReadWrite",
                missing_ok: bool = False, prefer: tuple[str, ...] = (),
                mailbox: str | None = None) -> dict[str, Any] | None:
        """One Graph request; its JSON body ({} when empty), or None for a 404 when `missing_ok`.

        `path` is relative to graph_url, or a whole link Graph gave (`@odata.nextLink`, `@odata.deltaLink`),
        which must point under graph_url: the token is never sent elsewhere. `prefer` adds Prefer values
        (`outlook.timezone="UTC"`, `odata.maxpagesize=50`). `mailbox` names the mailbox the request acts on
        when it is not the branch's (a coach's calendar): its own 4 slots."""
        if path.startswith(("https://", "http://")):
            if not path.startswith(self.base + "/"):
                raise PluginNotReady(f"{SERVICE} a donné un lien hors de graph_url : lien ignoré")
            path = path[len(self.base):]
        semaphore = slots(self.base, mailbox or self.user, self.settings.max_concurrency)
        token = self.auth.access_token()
        for attempt in (1, 2):
            response = self._send(semaphore, method, path, params, json_body, token, prefer)
            if response.status_code == 401 and attempt == 1:
                self.auth.drop(token)  # an access token revoked before its expiry: one new one, one retry
                token = self.auth.access_token()
                continue
            break
        status = response.status_code
        if status < 300:
            return _json(response)
        code = error_code(response)
        log.warning("graph error", extra={"branch": self.branch, "status": status, "graph_code": code,
                                          "request_id": response.headers.get("request-id", "")})
        if status == 404 and code not in MAILBOX_MISSING and missing_ok:
            return None
        if status == 410 or code in SYNC_RESET_CODES:
            raise SyncReset(f"{SERVICE} a oublié l'état de synchronisation ({status} {code}) : relecture complète")
        raise self.failure(status, code, response.headers, permission)

    def _send(self, semaphore: threading.BoundedSemaphore, method: str, path: str, params: dict[str, str] | None,
              json_body: dict[str, Any] | None, token: str, prefer: tuple[str, ...] = ()) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "Prefer": ", ".join((IMMUTABLE_IDS, *prefer)),
                   "Accept": "application/json"}
        if not semaphore.acquire(timeout=SLOT_WAIT):
            raise PluginNotReady(f"{SERVICE} : la boîte a déjà {self.settings.max_concurrency} requêtes en cours",
                                 retry_after=30.0)
        try:
            with self._count_lock:
                self.requests += 1
            return self.http.request(method, self.base + path, params=params, json=json_body, headers=headers)
        except httpx.TransportError as exc:  # `from None`: the error's text holds the URL (the address)
            kind = type(exc).__name__
            what = "n'a pas répondu à temps" if isinstance(exc, httpx.TimeoutException) else "injoignable"
            raise PluginNotReady(f"{SERVICE} {what} ({kind})") from None
        finally:
            semaphore.release()

    def failure(self, status: int, code: str, headers: httpx.Headers, permission: str) -> Exception:
        """The hub's failure for a Graph error answer (see the module's table)."""
        branch = self.branch
        if status == 401:
            return auth_failed(branch, f"Microsoft Graph refuse le jeton (401 {code})".rstrip())
        if status == 403:
            return PluginAuthFailed(self.forbidden(code, permission), fix=auth_command(branch))
        if status == 404 and code in MAILBOX_MISSING:
            return PluginAuthFailed(f"{SERVICE}, antenne {branch} : la boîte aux lettres est introuvable ou sans "
                                    f"Exchange Online (404 {code}) : vérifiez mailbox de [outlook]",
                                    fix=auth_command(branch))
        if status == 429:
            wait = retry_after(headers.get("retry-after"), now=self.clock())
            return Throttled(f"{SERVICE} limite le nombre de requêtes (429 {code})".rstrip(),
                             retry_after=60.0 if wait is None else max(1.0, wait))
        failure = failure_for(status, service=SERVICE, headers=headers, detail=code, auth_fix=auth_command(branch),
                              now=self.clock())
        if isinstance(failure, DeliveryRejected):
            return OutlookRejected(f"{SERVICE} a refusé la requête ({status} {code})".rstrip())
        return failure or PluginNotReady(f"{SERVICE} a répondu {status} sans réponse utilisable")

    def forbidden(self, code: str, permission: str) -> str:
        """What a 403 means for staff: which permission the administrator must grant, and where."""
        branch = self.branch
        if self.settings.auth == "app":
            return (f"{SERVICE}, antenne {branch} : accès refusé à la boîte (403 {code}). Un administrateur doit "
                    f"accorder à l'application la permission d'application {permission} (Microsoft Graph, "
                    "consentement administrateur) ; si l'accès de l'application est restreint dans Exchange Online "
                    "(RBAC for Applications, ou une Application Access Policy), la boîte de l'antenne doit être "
                    f"dans son périmètre. Ensuite : {auth_command(branch)}")
        return (f"{SERVICE}, antenne {branch} : accès refusé (403 {code}) : le compte connecté n'a pas la permission "
                f"déléguée {permission} sur cette boîte, ou le consentement manque. Reconnectez-le : "
                f"{auth_command(branch)}")

    # --- messages -----------------------------------------------------------------------------------------------

    def create_draft(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /users/{mb}/messages: a draft in Drafts, {id, isDraft, ...} (201)."""
        return self.request("POST", self.mailbox_path("/messages"), json_body=body, permission="Mail.ReadWrite") or {}

    def send_draft(self, message_id: str) -> None:
        """POST /users/{mb}/messages/{id}/send: 202, no body; the message goes to Sent Items (same id)."""
        self.request("POST", self.mailbox_path(f"/messages/{quote(message_id, safe='')}/send"),
                     permission="Mail.Send")

    def get_message(self, message_id: str) -> dict[str, Any] | None:
        """{id, isDraft} or None when there is no such message (deleted)."""
        return self.request("GET", self.mailbox_path(f"/messages/{quote(message_id, safe='')}"),
                            params={"$select": "id,isDraft"}, missing_ok=True)

    def find_by_property(self, property_id: str, value: str) -> list[dict[str, Any]]:
        """Messages of any folder whose single-value extended property `property_id` is `value`."""
        flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{property_id}' and ep/value eq '{value}')"
        found = self.request("GET", self.mailbox_path("/messages"),
                             params={"$filter": flt, "$select": "id,isDraft", "$top": "10"}) or {}
        return [dict(item) for item in found.get("value", []) if isinstance(item, dict)]

    def permanent_delete(self, message_id: str) -> bool:
        """POST /users/{mb}/messages/{id}/permanentDelete (204): into the dumpster's Purges folder, out of every
        client's reach (a DELETE only moves it to Deleted Items); False when there was no such message."""
        return self.request("POST", self.mailbox_path(f"/messages/{quote(message_id, safe='')}/permanentDelete"),
                            permission="Mail.ReadWrite", missing_ok=True) is not None

    def search_messages(self, query: str, *, select: str = "id") -> list[dict[str, Any]]:
        """GET /users/{mb}/messages?$search="<query>" over the whole mailbox, every page (Graph stops at 1000
        results). `query` is KQL (`participants:someone@example.org`); $search takes no $filter nor $orderby."""
        found: list[dict[str, Any]] = []
        page = self.request("GET", self.mailbox_path("/messages"),
                            params={"$search": f'"{query}"', "$select": select, "$top": "50"}) or {}
        while True:
            found += [dict(item) for item in page.get("value", []) if isinstance(item, dict)]
            link = page.get("@odata.nextLink")
            if not link:
                return found
            page = self.request("GET", str(link)) or {}

    def has_property(self, message_id: str, property_id: str) -> bool | None:
        """Whether a message carries the single-value extended property `property_id` (GET with $expand, the form
        of singlevalueextendedproperty-get.md); None when there is no such message (gone meanwhile)."""
        found = self.request("GET", self.mailbox_path(f"/messages/{quote(message_id, safe='')}"), params={
            "$select": "id", "$expand": f"singleValueExtendedProperties($filter=id eq '{property_id}')"},
            missing_ok=True)
        if found is None:
            return None
        return any(isinstance(prop, dict) and str(prop.get("id", "")).lower() == property_id.lower()
                   for prop in found.get("singleValueExtendedProperties") or [])

    def drafts_folder(self) -> dict[str, Any]:
        """GET /users/{mb}/mailFolders/drafts?$select=id: the mailbox exists and may be read (hub doctor)."""
        return self.request("GET", self.mailbox_path("/mailFolders/drafts"), params={"$select": "id"}) or {}


def error_code(response: httpx.Response) -> str:
    """Graph's `error.code` (ErrorInvalidRecipients, ErrorAccessDenied...), short and free of personal data."""
    try:
        error = json.loads(response.content).get("error", {})
    except (ValueError, AttributeError):
        return ""
    code = error.get("code", "") if isinstance(error, dict) else ""
    return str(code)[:60] if isinstance(code, str) and code.replace("_", "").isalnum() else ""


def _json(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        raise PluginNotReady(f"{SERVICE} a répondu sans JSON lisible ({response.status_code})") from None
    if not isinstance(body, dict):
        raise PluginNotReady(f"{SERVICE} a répondu sans objet JSON ({type(body).__name__})")
    return body
