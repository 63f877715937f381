"""Graph change notifications for the calendar source: a signal to read the calendar now, never data.

- **The keeper** (Poller "calendar-subscription", hourly, emits no event) creates the subscription on the
  calendar's events (changeType created,updated,deleted) with a lifecycleNotificationUrl, asks ~6 days and
  keeps the expiry Graph echoes (Outlook events allow 10,080 minutes), renews it (PATCH) when under a day is
  left, reauthorizes or recreates it when a lifecycle notification asked, recreates it when Graph no longer
  knows it or its resource or addresses changed (reference §2.4, §4).
- **The routes** `/notifications` and `/lifecycle` answer Graph's validation handshake (200, text/plain, the
  URL-decoded token, within 10 s: Graph validates both addresses when the subscription is created) and its
  notifications (202 within 3 s). Only items carrying our clientState and our subscription's id count; a
  change makes the calendar source due (`hub.poll_soon`): the delta query reads what changed, so nothing is
  read from the notification and polling stays on as the safety net. Lifecycle work that needs Graph is left
  to the keeper (a flag in plugin state, then `poll_soon`): one Graph request could eat the 3 s budget.
- **Refused creation** (Graph could not validate webhooks.public_url) is a problem shown by `hub status`,
  tried again every 15 minutes, resolved once it works; polling goes on meanwhile.

Kept: plugin state `calendar_subscription` = id, expiry, last renewal/reauthorization and a digest of the
resource and addresses keyed with the secret (the resource names the mailbox: never stored as such); the
clientState secret in a 0600 file, never in state or logs. Log lines carry counts and ids, never a URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from hub.errors import PluginNotReady
from hub.sources import Check, Poller, PollResult, WebhookReply, WebhookRequest, WebhookRoute
from hub_outlook.graph import OutlookRejected

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub_outlook.graph import GraphClient
    from hub_outlook.mailbox import Mailbox
    from hub_outlook.settings import Settings

CALENDAR = "calendar"
"""The calendar source's Poller name (calendar_source.py): what a notification makes due."""
KEEPER = "calendar-subscription"
STATE = "calendar_subscription"
LIFECYCLE = "calendar_subscription_lifecycle"
SECRET_FILE = "outlook_client_state"
PROBLEM_REF = "notifications"
PROBLEM_FIELD = "webhooks.public_url"
PERMISSION = "Calendars.Read"
CHANGE_TYPES = "created,updated,deleted"
LIFETIME = timedelta(days=6)
RENEW_BEFORE = timedelta(hours=24)
INTERVAL = 3600.0
RETRY_REFUSED = 900.0
"""Seconds before a creation Graph refused is tried again (the fix is usually outside the hub)."""
GAP = timedelta(minutes=10)
"""Graph: "Don't issue a reauthorize request and an update request for the same subscription within a 10-minute
window" (change-notifications-lifecycle-events); a renewal that is due reauthorizes too, in one PATCH."""
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_TOKEN = 2048
REAUTHORIZE, RECREATE = "reauthorize", "recreate"


def wanted(hub: HubContext, settings: Settings) -> bool:
    """Notifications on: the calendar is a source, they are not turned off, and the hub has an https address
    (http only on loopback, for a sandbox: Graph refuses http)."""
    return bool(settings.source and settings.notifications and _base(hub.public_url))


def _base(public_url: str | None) -> str | None:
    if not public_url:
        return None
    parts = urlsplit(public_url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return public_url.rstrip("/")
    return None


def urls(hub: HubContext) -> tuple[str, str]:
    """(notificationUrl, lifecycleNotificationUrl): the receiver mounts routes at /webhooks/<branch>/<plugin>."""
    base = f"{_base(hub.public_url)}/webhooks/{quote(hub.branch, safe='')}/{hub.plugin}"
    return f"{base}/notifications", f"{base}/lifecycle"


class _Signals:
    """What the receiver tells the keeper of the same process at once: lifecycle work (its durable copy in plugin
    state commits only with the answer, after `poll_soon` may already have woken the keeper) and how many
    validation requests reached us (so a refused creation can say whether Graph reached the hub at all)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[tuple[str, str], dict[str, str]] = {}
        self.validations: dict[tuple[str, str], int] = {}


_SIGNALS = _Signals()


def _key(hub: HubContext) -> tuple[str, str]:
    return str(hub.state_dir), hub.branch


# --- the routes ------------------------------------------------------------------------------------------------

def routes(hub: HubContext, settings: Settings, mailbox: Mailbox) -> list[WebhookRoute]:
    if not wanted(hub, settings):
        return []
    receiver = Receiver(hub)
    return [WebhookRoute(receiver.notifications, path="/notifications", methods=("POST",)),
            WebhookRoute(receiver.lifecycle, path="/lifecycle", methods=("POST",))]


def _reply(status: int, body: str = "") -> WebhookReply:
    return WebhookReply(status=status, body=body.encode())


class Receiver:
    """The two routes' handlers: answered within Graph's budgets (10 s, 3 s), no Graph request made."""

    def __init__(self, hub: HubContext) -> None:
        self.hub = hub

    def notifications(self, request: WebhookRequest) -> WebhookReply:
        """A change: the calendar source is read at the next tick; the notification's content is not used."""
        answer = self._validation(request)
        if answer is not None:
            return answer
        items = self._ours(request, "change")
        if isinstance(items, WebhookReply):
            return items
        self.hub.poll_soon(CALENDAR)
        return _reply(202)

    def lifecycle(self, request: WebhookRequest) -> WebhookReply:
        """reauthorizationRequired and subscriptionRemoved: a flag for the keeper (Graph requests are made there,
        not within the 3 s this answer has); subscriptionRemoved and missed: the calendar is read again (its delta
        query brings what the missing notifications would have signalled)."""
        answer = self._validation(request)
        if answer is not None:
            return answer
        items = self._ours(request, "lifecycle")
        if isinstance(items, WebhookReply):
            return items
        events = {str(item.get("lifecycleEvent")) for item in items}
        action = RECREATE if "subscriptionRemoved" in events else REAUTHORIZE if "reauthorizationRequired" in events \
            else None
        if action is not None:
            flag = {"id": str(items[0]["subscriptionId"]), "action": action}
            key, stored = _key(self.hub), self.hub.state_get(LIFECYCLE)
            with _SIGNALS.lock:
                if action == REAUTHORIZE and {**flag, "action": RECREATE} in (_SIGNALS.pending.get(key), stored):
                    flag["action"] = RECREATE  # a recreation still to do covers the reauthorization
                _SIGNALS.pending[key] = flag
            self.hub.state_put(LIFECYCLE, flag)
            self.hub.poll_soon(KEEPER)
        if events & {"subscriptionRemoved", "missed"}:
            self.hub.poll_soon(CALENDAR)
        unknown = events - {"reauthorizationRequired", "subscriptionRemoved", "missed"}
        self.hub.log.info("lifecycle notification", extra={"lifecycle_events": sorted(events),
                                                           "ignored_events": len(unknown)})
        return _reply(202)

    def _validation(self, request: WebhookRequest) -> WebhookReply | None:
        """Graph's handshake: the token comes back as it was before URL-encoding (the receiver's query mapping
        is already decoded), as text/plain."""
        token = request.query.get("validationToken")
        if token is None:
            return None
        if len(token) > MAX_TOKEN:
            return _reply(400, "validation token too long")
        with _SIGNALS.lock:
            key = _key(self.hub)
            _SIGNALS.validations[key] = _SIGNALS.validations.get(key, 0) + 1
        return WebhookReply(status=200, body=token.encode(), content_type="text/plain; charset=utf-8")

    def _ours(self, request: WebhookRequest, what: str) -> list[dict[str, Any]] | WebhookReply:
        """The items carrying our clientState and our subscription's id; 400 for a body that is not Graph's, 403
        when no item is ours (logged with counts only: a resource path names the mailbox)."""
        try:
            body = json.loads(request.body)
        except (ValueError, RecursionError):
            self.hub.log.warning("notification refused", extra={"notification": what, "reason": "body is not JSON"})
            return _reply(400, "body is not JSON")
        value = body.get("value") if isinstance(body, dict) else None
        if not isinstance(value, list):
            self.hub.log.warning("notification refused", extra={"notification": what, "reason": "no value list"})
            return _reply(400, "no value list")
        secret = (self.hub.read_secret(SECRET_FILE) or "").strip()
        known = self.hub.state_get(STATE)
        ours_id = known.get("id") if isinstance(known, dict) else None
        items = [item for item in value if isinstance(item, dict) and _genuine(item, secret, ours_id)]
        if len(items) < len(value):
            self.hub.log.warning("notification items ignored: clientState or subscription not ours",
                                 extra={"notification": what, "ignored": len(value) - len(items), "kept": len(items)})
        if not items:
            return _reply(403, "not ours")
        return items


def _genuine(item: dict[str, Any], secret: str, subscription_id: str | None) -> bool:
    state = item.get("clientState")
    if not secret or not subscription_id or not isinstance(state, str):
        return False
    same_state = hmac.compare_digest(state.encode(), secret.encode())
    return same_state and item.get("subscriptionId") == subscription_id


# --- the keeper -------------------------------------------------------------------------------------------------

def keeper_poller(hub: HubContext, settings: Settings, mailbox: Mailbox) -> Poller | None:
    if not wanted(hub, settings):
        if settings.source and settings.notifications and hub.public_url:
            hub.log.info("calendar change notifications off: webhooks.public_url is not https")
        return None
    return Keeper(hub, settings, mailbox).poller()


class SubscriptionRefused(Exception):
    """Graph refused to create the subscription (its validation of our addresses failed, most often)."""


class Keeper:
    """One subscription per branch, its id and expiry in plugin state."""

    def __init__(self, hub: HubContext, settings: Settings, mailbox: Mailbox) -> None:
        self.hub = hub
        self.settings = settings
        self.mailbox = mailbox

    def poller(self) -> Poller:
        return Poller(name=KEEPER, poll=self.poll, interval=INTERVAL)

    def poll(self, cursor: str | None) -> PollResult:
        client = self.mailbox.client()
        secret = self._secret()
        target = self._target(client, secret)
        known = self.hub.state_get(STATE)
        known = known if isinstance(known, dict) and known.get("id") else None
        seen, flag = self._flag(known)
        held: float | None = None
        try:
            if known is None:
                self._create(client, secret, target, old=None)
            elif flag == RECREATE or known.get("target") != target:
                self._create(client, secret, target, old=str(known["id"]))
            else:
                held = self._keep(client, secret, target, known, flag)
        except SubscriptionRefused as exc:
            self.hub.report_problem(PROBLEM_REF, PROBLEM_FIELD, str(exc))
            self._clear(seen)
            return PollResult([], cursor, again_after=RETRY_REFUSED)
        if held is None:
            self._clear(seen)
        return PollResult([], cursor, again_after=held)

    def _keep(self, client: GraphClient, secret: str, target: str, known: dict[str, Any],
              flag: str | None) -> float | None:
        """The subscription we know: recreated when Graph lost it, renewed when due (which reauthorizes too),
        reauthorized when asked. Returns the seconds to wait when Graph's 10-minute rule holds the action back."""
        sid = str(known["id"])
        found = client.request("GET", _path(sid), permission=PERMISSION, missing_ok=True)
        if found is None:
            self.hub.log.warning("calendar subscription gone; recreating", extra={"subscription": sid})
            self._create(client, secret, target, old=None)
            return None
        now = self.hub.now()
        expires = _moment(found.get("expirationDateTime")) or _moment(known.get("expires")) or now
        record = {**known, "expires": _iso(expires)}
        due = expires - now < RENEW_BEFORE
        if due or flag == REAUTHORIZE:
            wait = self._gap(record.get("reauthorized" if due else "renewed"), now)
            if wait is not None and expires - now > timedelta(hours=1):
                self.hub.state_put(STATE, record)
                return wait
            if due:
                renewed = self._renew(client, sid, record, now)
                if renewed is None:  # gone between the GET and the PATCH
                    self._create(client, secret, target, old=None)
                    return None
                record = renewed
            elif client.request("POST", _path(sid, "/reauthorize"), permission=PERMISSION, missing_ok=True) is None:
                self._create(client, secret, target, old=None)
                return None
            else:
                record["reauthorized"] = _iso(now)
                self.hub.log.info("calendar subscription reauthorized", extra={"subscription": sid})
        self.hub.state_put(STATE, record)
        self.hub.resolve_problem(PROBLEM_REF)
        return None

    def _renew(self, client: GraphClient, sid: str, record: dict[str, Any],
               now: datetime) -> dict[str, Any] | None:
        """PATCH expirationDateTime (~6 days ahead); the record with the expiry Graph echoed, None when gone."""
        wanted_until = now + LIFETIME
        renewed = client.request("PATCH", _path(sid), json_body={"expirationDateTime": _graph_time(wanted_until)},
                                 permission=PERMISSION, missing_ok=True)
        if renewed is None:
            return None
        expires = _moment(renewed.get("expirationDateTime")) or wanted_until
        self.hub.log.info("calendar subscription renewed", extra={"subscription": sid, "expires": _iso(expires)})
        return {**record, "expires": _iso(expires), "renewed": _iso(now)}

    def _create(self, client: GraphClient, secret: str, target: str, *, old: str | None) -> None:
        """A new subscription (Graph validates both addresses before answering); the one it replaces is deleted
        after, so no change falls between the two. The calendar is then read again: changes made before the
        subscription existed were signalled to nobody."""
        notification_url, lifecycle_url = urls(self.hub)
        now = self.hub.now()
        body = {"changeType": CHANGE_TYPES, "notificationUrl": notification_url,
                "lifecycleNotificationUrl": lifecycle_url, "resource": self._resource(client),
                "expirationDateTime": _graph_time(now + LIFETIME), "clientState": secret}
        key = _key(self.hub)
        with _SIGNALS.lock:
            before = _SIGNALS.validations.get(key, 0)
        try:
            made = client.request("POST", "/subscriptions", json_body=body, permission=PERMISSION) or {}
        except OutlookRejected as exc:
            with _SIGNALS.lock:
                reached = _SIGNALS.validations.get(key, 0) > before
            raise SubscriptionRefused(self._refused(str(exc), reached)) from None
        sid = str(made.get("id") or "")
        if not sid:
            raise PluginNotReady("Microsoft Graph a créé l'abonnement aux notifications sans en donner l'id")
        expires = _moment(made.get("expirationDateTime")) or now + LIFETIME
        self.hub.state_put(STATE, {"id": sid, "expires": _iso(expires), "target": target})
        self.hub.resolve_problem(PROBLEM_REF)
        self.hub.log.info("calendar subscription created", extra={"subscription": sid, "expires": _iso(expires),
                                                                  "replaces": old})
        if old is not None:
            try:
                client.request("DELETE", _path(old), permission=PERMISSION, missing_ok=True)
            except PluginNotReady:  # it expires on its own; its notifications no longer count
                self.hub.log.warning("old calendar subscription not deleted", extra={"subscription": old})
        self.hub.poll_soon(CALENDAR)

    def _refused(self, graph_said: str, reached: bool) -> str:
        """The staff-facing problem: what failed, what to check, the command to check it with."""
        notification_url, _ = urls(self.hub)
        branch = self.hub.branch
        if reached:
            what = ("Microsoft Graph a bien joint le hub mais a refusé l'abonnement aux notifications de l'agenda "
                    f"({graph_said}) : un relais a pu modifier ou retarder la réponse de validation (10 s au plus)")
        else:
            what = ("Microsoft Graph n'a pas pu valider l'adresse des notifications de l'agenda "
                    f"({graph_said}) : aucune demande de validation n'est arrivée au hub")
        return (f"{what}. Vérifiez que webhooks.public_url ({self.hub.public_url}) est joignable depuis Internet "
                "en https et mène au récepteur de webhooks du hub (webhooks.listen, hub run) : "
                f"curl -X POST '{notification_url}?validationToken=essai' doit répondre essai ; puis "
                f"hub doctor --branch {branch} (le relevé périodique de l'agenda continue ; l'abonnement est "
                "retenté toutes les 15 minutes).")

    def _resource(self, client: GraphClient) -> str:
        calendar = self.settings.source_calendar_id or self.settings.calendar_id
        if calendar:
            return client.mailbox_path(f"/calendars/{quote(calendar, safe='')}/events")
        return client.mailbox_path("/events")

    def _target(self, client: GraphClient, secret: str) -> str:
        """What the subscription must point at, as a digest keyed with the secret: a changed mailbox, calendar
        or public_url (or a new secret) makes a new subscription, and no address is stored."""
        text = "\n".join((self._resource(client), *urls(self.hub)))
        return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()[:32]

    def _secret(self) -> str:
        secret = (self.hub.read_secret(SECRET_FILE) or "").strip()
        if not secret:
            secret = secrets.token_urlsafe(32)  # 43 characters; Graph allows 128
            self.hub.write_secret(SECRET_FILE, secret + "\n")
        return secret

    def _flag(self, known: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
        """The lifecycle flag the receiver left (in memory first, then plugin state) and the action it asks for
        the subscription we know (None for a flag about an older one)."""
        with _SIGNALS.lock:
            seen: Any = _SIGNALS.pending.get(_key(self.hub))
        seen = seen or self.hub.state_get(LIFECYCLE)
        if not isinstance(seen, dict):
            return None, None
        action = seen.get("action")
        ours = known is not None and seen.get("id") == known.get("id") and action in (REAUTHORIZE, RECREATE)
        return seen, action if ours else None

    def _clear(self, seen: dict[str, Any] | None) -> None:
        """Forget the flag acted on; one the receiver wrote meanwhile stays for the next poll."""
        if seen is None:
            return
        with _SIGNALS.lock:
            if _SIGNALS.pending.get(_key(self.hub)) == seen:
                del _SIGNALS.pending[_key(self.hub)]
        if self.hub.state_get(LIFECYCLE) == seen:
            self.hub.state_delete(LIFECYCLE)

    @staticmethod
    def _gap(last: Any, now: datetime) -> float | None:
        """Seconds left of Graph's 10 minutes since `last` (a reauthorize or a renewal), None when past."""
        moment = _moment(last)
        if moment is None or now - moment >= GAP:
            return None
        return (GAP - (now - moment)).total_seconds()


def _path(subscription_id: str, rest: str = "") -> str:
    return f"/subscriptions/{quote(subscription_id, safe='')}{rest}"


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _moment(value: Any) -> datetime | None:
    """Graph's times ("2026-03-08T09:00:00.0000000Z", 7 digits) or ours; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def subscription_check(hub: HubContext, settings: Settings, mailbox: Mailbox) -> Check | None:
    """`hub doctor`: the subscription Graph knows (GET /subscriptions/{id}), when notifications are wanted."""
    if not wanted(hub, settings):
        return None

    def run() -> str:
        known = hub.state_get(STATE)
        if not isinstance(known, dict) or not known.get("id"):
            raise RuntimeError("pas encore d'abonnement aux notifications de l'agenda : le service (hub run) le crée "
                               "et le vérifie toutes les heures ; s'il échoue, la raison est dans : hub status")
        found = mailbox.client().request("GET", f"/subscriptions/{known['id']}", permission=PERMISSION,
                                         missing_ok=True)
        if found is None:
            raise RuntimeError("Microsoft Graph ne connaît plus l'abonnement : le service (hub run) le recrée "
                               "dans l'heure ; l'agenda reste relu régulièrement")
        expires = _moment(found.get("expirationDateTime"))
        return "abonnement aux notifications de l'agenda actif" + (
            f" jusqu'au {expires.astimezone(hub.zone):%d/%m/%Y %H:%M}" if expires else "")
    return Check("notifications de l'agenda Outlook", run)
