"""The webhook subscription: create it with our own signing key, re-use it, re-create it when disabled.

Calendly disables a subscription after deliveries keep failing (the `state` field turns `disabled`), so an
hourly check re-creates it. Plans below Standard answer 403 to the creation: polling then stays the only
source, which is fine (https://developer.calendly.com/docs/getting-started/frequently-asked-questions).
Only that 403 means "no webhooks on this plan": a missing scope or organization scope without admin rights
is a PluginAuthFailed with its own fix (access.py), never reported as the plan.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from hub.context import HubContext
from hub.sources import Check, PollResult
from hub_calendly.access import SCOPE_HELP, WEBHOOK_SCOPES, CalendlyScopeMissing
from hub_calendly.account import Account, calendly_time, make_client
from hub_calendly.client import (
    CalendlyClient,
    CalendlyConflict,
    CalendlyError,
    CalendlyForbidden,
    CalendlyNotFound,
    uuid_of,
)
from hub_calendly.plugin import Settings

SIGNATURE_HEADER = "calendly-webhook-signature"
SIGNING_KEY_FILE = "webhook_signing_key"
SUBSCRIPTION_KEY = "subscription"
NO_PLAN = "Cette offre Calendly ne permet pas les webhooks : le relevé périodique (polling) reste actif."


@dataclass(frozen=True)
class SubscribeResult:
    status: str  # created | exists | recreated | no_plan
    uri: str | None
    message: str


def signing_key(hub: HubContext, settings: Settings) -> str | None:
    """The configured key, else the one `hub calendly subscribe` stored (0600 file in the state directory).

    A stored key other accounts can read is refused (PluginAuthFailed saying `chmod 600 <file>`)."""
    if settings.webhook_signing_key is not None:
        return settings.webhook_signing_key.get_secret_value()
    return (hub.read_secret(SIGNING_KEY_FILE) or "").strip() or None


def _store_key(hub: HubContext, key: str) -> None:
    hub.write_secret(SIGNING_KEY_FILE, key + "\n")  # atomic and 0600, even over an older file


def subscribe(hub: HubContext, settings: Settings, client: CalendlyClient, url: str) -> SubscribeResult:
    """Register `url` for this branch's invitee events (idempotent: an existing subscription is re-used)."""
    account = Account(hub, settings, client).get()
    key = signing_key(hub, settings)
    fresh = key is None
    key = key or secrets.token_hex(32)
    body: dict[str, Any] = {"url": url, "events": list(settings.webhook_events),
                            "organization": account["organization"], "scope": settings.scope, "signing_key": key}
    if settings.scope == "user":
        body["user"] = account["user"]
    status = "created"
    try:
        try:
            resource = client.create_webhook_subscription(body)
        except CalendlyConflict:
            existing = _find(client, settings, account, url)
            if existing is not None and not fresh and _reusable(hub, settings, existing):
                _remember(hub, existing, url)
                return SubscribeResult("exists", existing["uri"], "Abonnement déjà actif : réutilisé.")
            if existing is not None:  # disabled, or made with a key we do not hold: replace it
                client.delete(existing["uri"])
            resource = client.create_webhook_subscription(body)
            status = "recreated"
    except CalendlyForbidden:  # only the plan's refusal; other 403s are PluginAuthFailed and go up
        hub.state_put(SUBSCRIPTION_KEY, {"status": "no_plan", "url": url})
        return SubscribeResult("no_plan", None, NO_PLAN)
    except CalendlyError as exc:
        if exc.status != 400:
            raise
        # our body is well formed: Calendly answers 400 to a token without scheduled_events:read
        # (https://github.com/n8n-io/n8n/pull/33286)
        raise CalendlyScopeMissing(list(WEBHOOK_SCOPES)) from None
    if fresh and settings.webhook_signing_key is None:
        _store_key(hub, key)
    _remember(hub, resource, url)
    hub.log.info("webhook subscription ready", extra={"subscription": uuid_of(resource["uri"]), "status": status})
    return SubscribeResult(status, resource["uri"], "Abonnement créé." if status == "created" else
                           "Abonnement recréé avec une nouvelle clé de signature.")


def _reusable(hub: HubContext, settings: Settings, existing: dict[str, Any]) -> bool:
    """Re-use a subscription only when it is active, ours (the one we created, so signed with the key we hold:
    Calendly never shows a subscription's key) and for every event we need (one for invitee.created alone would
    never bring cancellations or no-shows)."""
    ours = (hub.state_get(SUBSCRIPTION_KEY) or {}).get("uri") == existing.get("uri")
    events = set(existing.get("events") or [])
    return existing.get("state") == "active" and ours and set(settings.webhook_events) <= events


def _find(client: CalendlyClient, settings: Settings, account: dict[str, str], url: str) -> dict[str, Any] | None:
    for item in client.webhook_subscriptions(account["organization"], settings.scope, account["user"]):
        if item.get("callback_url") == url:
            return item
    return None


def _remember(hub: HubContext, resource: dict[str, Any], url: str) -> None:
    hub.state_put(SUBSCRIPTION_KEY, {"status": "active", "uri": resource["uri"], "url": url})


class SubscriptionCheck:
    """A poller that emits nothing: re-creates a subscription Calendly has disabled or deleted (1 request/h)."""

    name = "calendly-webhook-check"

    def __init__(self, hub: HubContext, settings: Settings, client: CalendlyClient | None = None) -> None:
        self.hub, self.settings = hub, settings
        self.client = client or make_client(hub, settings)

    def poll(self, cursor: str | None) -> PollResult:
        known = self.hub.state_get(SUBSCRIPTION_KEY)
        if not isinstance(known, dict) or known.get("status") != "active":
            return PollResult([], cursor)  # no subscription (or a plan without webhooks): polling only
        try:
            state = self.client.get(known["uri"]).get("state")
        except CalendlyNotFound:
            state = "deleted"
        if state != "active":
            self.hub.log.warning("webhook subscription not active; re-creating", extra={"state": state})
            result = subscribe(self.hub, self.settings, self.client, known["url"])
            if result.status == "no_plan":
                self.hub.report_problem("webhook", "subscription", NO_PLAN)
            else:
                self.hub.resolve_problem("webhook")
        return PollResult([], calendly_time(self.hub.now()))


def checks_for(hub: HubContext, settings: Settings) -> list[Check]:
    client = make_client(hub, settings)

    def token() -> str:
        me = client.me()
        return f"jeton accepté (utilisateur {uuid_of(str(me['uri']))})"

    def webhook() -> str:
        known = hub.state_get(SUBSCRIPTION_KEY)
        if not isinstance(known, dict):
            return ("pas d'abonnement webhook (relevé périodique seul) ; voir : "
                    f"hub calendly subscribe --branch {hub.branch}")
        if known.get("status") == "no_plan":
            return NO_PLAN
        state = client.get(known["uri"]).get("state")
        if state != "active":
            raise RuntimeError(f"abonnement webhook {state} : relancer hub calendly subscribe --branch {hub.branch}")
        return "abonnement webhook actif"

    def scopes() -> str:
        return probe_scopes(hub, settings, client)

    return [Check("calendly-token", token), Check("calendly-scopes", scopes), Check("calendly-webhook", webhook)]


def probe_scopes(hub: HubContext, settings: Settings, client: CalendlyClient) -> str:
    """Which scopes the token lacks, by two cheap reads (scheduled events, subscriptions); write scopes cannot
    be probed without writing, `hub calendly subscribe` tells about webhooks:write."""
    missing: list[str] = []
    account = Account(hub, settings, client)
    probes = [lambda: client.page("/scheduled_events", {**account.scope_params(), "count": 1}),
              lambda: client.page("/webhook_subscriptions", {"organization": account.get()["organization"],
                                                              "scope": "user", "user": account.get()["user"],
                                                              "count": 1})]
    for probe in probes:
        try:
            probe()
        except CalendlyScopeMissing as exc:
            missing += exc.scopes
    known = hub.state_get(SUBSCRIPTION_KEY)
    webhooks_used = isinstance(known, dict) and known.get("status") == "active"
    if missing and not webhooks_used and all(m.startswith("webhooks:") for m in missing):
        return "portées du relevé périodique accordées ; pour les webhooks, il faudra aussi webhooks:write"
    if missing:
        raise RuntimeError(f"portées manquantes sur le jeton : {', '.join(missing)} ; créez un jeton avec les "
                           f"portées ({SCOPE_HELP})")
    return "portées de lecture accordées (scheduled_events:read, webhooks:read)"
