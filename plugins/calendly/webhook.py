"""Calendly webhooks: signature check over the raw body, both payload shapes, same facts as polling.

Signature: header `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex>`, v1 = HMAC-SHA256(signing key,
"<t>.<raw body>"); a timestamp older than 3 minutes is refused, as in Calendly's own sample
(https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures). Unlike n8n we never skip the
check when no key is known: without a key every delivery is refused (polling still brings the facts).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from hub.context import HubContext
from hub.errors import PluginAuthFailed, PluginNotReady
from hub.events import Event, EventKind
from hub.sources import WebhookReply, WebhookRequest
from hub_calendly.account import make_client
from hub_calendly.client import CalendlyClient, CalendlyError, uuid_of
from hub_calendly.mapping import forget_no_show, known_no_show, remember_no_show, safe_facts, withdrawal
from hub_calendly.plugin import Settings
from hub_calendly.subscription import SIGNATURE_HEADER, signing_key

HANDLED = frozenset({"invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted"})


def sign(key: str, body: bytes, timestamp: int) -> str:
    """The header value Calendly would send (used by the sandbox and tests)."""
    digest = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(header: str | None, body: bytes, key: str, now: datetime, tolerance: float = 180) -> str | None:
    """None when the signature is good; otherwise why not (a short reason, safe to log)."""
    if not header:
        return "missing signature"
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(name, []).append(value.strip())
    timestamp = (parts.get("t") or [""])[0]
    given = [v for v in parts.get("v1", []) if v]  # several during a key rotation: any may be the right one
    if not timestamp.isdigit() or not given:
        return "malformed signature"
    age = now.timestamp() - int(timestamp)
    if age > tolerance or age < -tolerance:
        return "signature timestamp out of tolerance"
    expected = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, v.lower()) for v in given):
        return "bad signature"
    return None


def _reply(status: int, text: str, events: list[Event] | None = None) -> WebhookReply:
    return WebhookReply(status=status, body=text.encode(), events=events or [])


class WebhookHandler:
    """The route at /webhooks/<branch>/calendly."""

    def __init__(self, hub: HubContext, settings: Settings, client: CalendlyClient | None = None) -> None:
        self.hub = hub
        self.settings = settings
        self._client = client

    @property
    def client(self) -> CalendlyClient:
        if self._client is None:
            self._client = make_client(self.hub, self.settings)
        return self._client

    def __call__(self, request: WebhookRequest) -> WebhookReply:
        try:
            key = signing_key(self.hub, self.settings)
        except PluginAuthFailed as exc:  # the stored key is readable by other accounts: refused until fixed
            self.hub.log.error("webhook refused: signing key file not private", extra={"problem": str(exc)})
            return _reply(503, "signing key unusable; retry later")
        if key is None:
            self.hub.log.warning("webhook refused: no signing key",
                                 extra={"fix": f"hub calendly subscribe --branch {self.hub.branch}"})
            return _reply(401, "no signing key configured")
        problem = verify_signature(request.headers.get(SIGNATURE_HEADER), request.body, key,
                                   self.hub.now(), self.settings.webhook_tolerance)
        if problem is not None:
            self.hub.log.warning("webhook refused", extra={"reason": problem})
            return _reply(401, problem)
        try:
            delivery = json.loads(request.body)
            if not isinstance(delivery, dict) or not isinstance(delivery.get("payload"), dict):
                raise ValueError("no payload object")
        except ValueError:
            self.hub.report_problem(f"webhook {request.headers.get(SIGNATURE_HEADER, '')[:12]}", "body",
                                    "notification Calendly illisible (JSON invalide) : rien n'a été enregistré ; "
                                    "le relevé périodique rattrapera la réservation")
            return _reply(400, "malformed JSON")
        kind = str(delivery.get("event", ""))
        if kind not in HANDLED:
            return _reply(200, f"ignored: {kind or 'no event kind'}")
        payload: dict[str, Any] = delivery["payload"]
        try:
            invitee = self._invitee(payload)
            scheduled_event = self._scheduled_event(payload, invitee)
        except PluginNotReady as exc:
            return _reply(503, f"Calendly unavailable: {exc}")
        except (PluginAuthFailed, CalendlyError):
            return _reply(503, "could not read the scheduled event; polling will catch up")
        if scheduled_event is None:
            self.hub.report_problem(str(invitee.get("uri") or "webhook"), "event",
                                    "notification Calendly sans rendez-vous (champ 'event' absent)")
            return _reply(200, "no scheduled event: recorded as a problem")
        events = safe_facts(self.hub, self.settings, scheduled_event, invitee)
        if kind == "invitee_no_show.created":
            events = [e for e in events if e.outcome is not None]
            remember_no_show(self.hub, uuid_of(str(invitee.get("uri", ""))), _no_show_id(payload, invitee) or "")
        elif kind == "invitee_no_show.deleted":  # staff took a wrong "absent" back
            events = self._withdrawn(events, str(delivery.get("created_at") or ""), payload, invitee)
        self.hub.log.debug("webhook accepted", extra={"kind": kind, "events": len(events)})  # the core logs it once
        return _reply(200, "ok", events)

    def _withdrawn(self, events: list[Event], when: str, payload: dict[str, Any],
                   invitee: dict[str, Any]) -> list[Event]:
        """One withdrawal, keyed by the deleted no-show's id (from the payload, else as remembered when it was
        created) so that the sweep noticing the same withdrawal gives the same event."""
        key = uuid_of(str(invitee.get("uri", "")))
        no_show_id = _no_show_id(payload, invitee) or known_no_show(self.hub, key)
        forget_no_show(self.hub, key)
        return [withdrawal(e, when, invitee, no_show_id) for e in events if e.kind is EventKind.SESSION_BOOKED][:1]

    def _invitee(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The invitee: the payload itself, or (a bare no-show resource) the invitee it points to."""
        inner = payload.get("invitee")
        if isinstance(inner, dict):
            return inner
        if isinstance(inner, str) and "email" not in payload:
            return self.client.get(inner)
        return payload

    def _scheduled_event(self, payload: dict[str, Any], invitee: dict[str, Any]) -> dict[str, Any] | None:
        """Current payloads embed `scheduled_event`; older ones only give its URI in `event`: fetch it then."""
        for holder in (payload, invitee):
            embedded = holder.get("scheduled_event")
            if isinstance(embedded, dict) and embedded.get("start_time"):
                return embedded
        uri = invitee.get("event")
        if not isinstance(uri, str) or not uri:
            return None
        return self.client.get(uri)


def _no_show_id(payload: dict[str, Any], invitee: dict[str, Any]) -> str | None:
    """The no-show's id: a bare no-show resource as payload, or the invitee's `no_show` object."""
    uri = payload.get("uri")
    if isinstance(uri, str) and "/invitee_no_shows/" in uri:
        return uuid_of(uri)
    no_show = invitee.get("no_show")
    if isinstance(no_show, dict) and no_show.get("uri"):
        return uuid_of(str(no_show["uri"]))
    return None
