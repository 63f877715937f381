"""One delivery of one event to every endpoint that receives it: signed, each endpoint served once, failures
mapped onto the hub's taxonomy, a log per endpoint and an alert when one keeps failing.

The hub hands the plugin one delivery per event; with several endpoints the delivery is resumable: each
endpoint's success is recorded under the delivery key (`sent:<key>`, endpoint names only) and committed at once
(`hub.checkpoint()`), so a retry, or a re-delivery after a crash, posts only to the endpoints not served yet,
with the same `webhook-id` (receivers dedupe on it). The delivery ends when every endpoint is served; while one
is not, it raises that endpoint's failure:

| the receiver answers | the endpoint | the delivery |
|---|---|---|
| 2xx | served | done once every endpoint is |
| 429, 5xx, 408, a timeout, a network error | tried again | `PluginNotReady` (Retry-After honoured): retried |
| 401, 403 (it refuses our signature) | its key is wrong | `PluginAuthFailed`: paused (branch) until `hub retry` |
| 410 (Gone), another 4xx, a redirect | will not take it | `DeliveryRejected`: dead letter, the branch is alerted |
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from hub import DeliveryRejected, PluginAuthFailed, PluginNotReady
from hub.api import LaneClients, check_response, failure_from_exception
from hub.context import HubContext
from hub.events import Event
from hub_webhooks_out import signing
from hub_webhooks_out.payload import build
from hub_webhooks_out.settings import Endpoint, Settings

LOG_SIZE = 50
"""Sends kept per endpoint in its log (`hub webhooks-out log`)."""

CLIENTS = LaneClients()
"""The lane's client, reused by its deliveries (one TLS pool), rebuilt when the timeout changes."""


def _client(hub: HubContext, timeout: float) -> httpx.Client:
    return CLIENTS.get(hub, timeout, lambda: httpx.Client(timeout=timeout, follow_redirects=False,
                                                          headers={"user-agent": "cravate-hub webhooks_out"}))


def close_clients(hub: HubContext | None = None) -> None:
    """Close the lane's client of `hub`, or every lane's."""
    CLIENTS.close(hub)


def service(endpoint: Endpoint) -> str:
    """How messages name an endpoint: `webhook crm`."""
    return f"webhook {endpoint.name}"


def secret_fix(hub: HubContext, endpoint: Endpoint) -> str:
    """What staff run when a receiver refuses the signature: print the secret it must hold."""
    return f"hub webhooks-out secret --branch {hub.branch} --endpoint {endpoint.name}"


def post(hub: HubContext, settings: Settings, endpoint: Endpoint, event: Event, msg_id: str) -> int:
    """Send the event to one endpoint; the status code of a 2xx answer, else the taxonomy's failure raised."""
    body = json.dumps(build(hub, event, endpoint.fields), separators=(",", ":"), ensure_ascii=False).encode()
    secret = signing.endpoint_secret(settings.secret.get_secret_value(), endpoint.name)
    # the receiver compares webhook-timestamp with its own clock: the wall clock, not the hub's (tests move it)
    headers = signing.headers(secret, msg_id, int(time.time()), body)
    try:
        reply = _client(hub, settings.timeout).post(endpoint.url, content=body, headers=headers)
    except httpx.TransportError as exc:  # `from None`: the error's text holds the URL
        raise failure_from_exception(exc, service=service(endpoint)) from None
    try:
        if reply.status_code == 410:
            raise DeliveryRejected(f"{service(endpoint)} n'existe plus (410) : retirez-le de [webhooks_out] ou "
                                   "corrigez son adresse")
        if 300 <= reply.status_code < 400:
            raise DeliveryRejected(f"{service(endpoint)} redirige ailleurs ({reply.status_code}) : les redirections "
                                   "ne sont pas suivies, mettez l'adresse finale dans [webhooks_out]")
        check_response(reply, service=service(endpoint), auth_fix=secret_fix(hub, endpoint))
    except (PluginNotReady, PluginAuthFailed, DeliveryRejected) as exc:
        setattr(exc, "webhook_status", reply.status_code)  # noqa: B010 (for the endpoint's log)
        raise
    return reply.status_code


def _status_of(exc: Exception) -> str:
    """The receiver's status code for the log, or "network" when it did not answer."""
    return str(getattr(exc, "webhook_status", "network"))


def _record(hub: HubContext, settings: Settings, endpoint: Endpoint, event: Event, status: str, ok: bool) -> None:
    """Append to the endpoint's log (ids, status, time: no personal data) and keep its run of failures."""
    log: list[dict[str, Any]] = list(hub.state_get(f"log:{endpoint.name}", []))
    log.append({"at": hub.now().isoformat(timespec="seconds"), "event": event.id, "type": event.kind.value,
                "status": status})
    hub.state_put(f"log:{endpoint.name}", log[-LOG_SIZE:])
    ref = f"webhook {endpoint.name}"
    if ok:
        if hub.state_get(f"failures:{endpoint.name}", 0):
            hub.state_put(f"failures:{endpoint.name}", 0)
            hub.resolve_problem(ref)
        return
    failures = int(hub.state_get(f"failures:{endpoint.name}", 0)) + 1
    hub.state_put(f"failures:{endpoint.name}", failures)
    if failures >= settings.alert_after:
        hub.report_problem(ref, "url", f"le webhook « {endpoint.name} » a échoué {failures} fois de suite (dernière "
                           f"réponse : {status}) : vérifiez que l'outil qui le reçoit fonctionne, son adresse et son "
                           f"secret (hub webhooks-out log --branch {hub.branch} --endpoint {endpoint.name})")


def send(hub: HubContext, event: Event) -> None:
    """Deliver `event` to each endpoint that receives it and is not served yet for this delivery."""
    settings = hub.settings_as(Settings)
    targets = [endpoint for endpoint in settings.endpoints if endpoint.receives(event.kind.value)]
    if not targets:
        return
    msg_id = hub.delivery_key or f"{event.id}:{hub.plugin}"
    served: dict[str, int] = dict(hub.state_get(f"sent:{msg_id}", {}))
    failures: list[Exception] = []
    for endpoint in targets:
        if endpoint.name in served:
            continue
        try:
            status = post(hub, settings, endpoint, event, msg_id)
        except (PluginNotReady, PluginAuthFailed, DeliveryRejected) as exc:
            failures.append(exc)
            _record(hub, settings, endpoint, event, _status_of(exc), ok=False)
            continue
        served[endpoint.name] = status
        hub.state_put(f"sent:{msg_id}", served)
        _record(hub, settings, endpoint, event, str(status), ok=True)
        hub.checkpoint()  # this endpoint is served for good: a retry or a crash from here on skips it
        if event.kind.value == "candidate_forgotten":
            _erasure_receipt(hub, endpoint)
    if failures:
        raise _worst(failures)


def _erasure_receipt(hub: HubContext, endpoint: Endpoint) -> None:
    if endpoint.fields:
        hub.erasure_manual(f"vérifier que l'outil qui reçoit le webhook « {endpoint.name} » a effacé la personne "
                           "(l'avis d'effacement lui a été envoyé)")
    else:
        hub.erased(f"avis d'effacement envoyé au webhook « {endpoint.name} » (il n'a reçu que des identifiants)")


def _worst(failures: list[Exception]) -> Exception:
    """The failure the delivery raises: a refused signature pauses the plugin; else one not ready is retried
    (after the longest Retry-After); else the rejection dead-letters it. Every endpoint's message is kept."""
    text = " ; ".join(str(exc) for exc in failures)
    auth = [exc for exc in failures if isinstance(exc, PluginAuthFailed)]
    if auth:
        return PluginAuthFailed(text, fix=auth[0].fix)
    waits = [exc for exc in failures if isinstance(exc, PluginNotReady)]
    if waits:
        known = [exc.retry_after for exc in waits if exc.retry_after is not None]
        return PluginNotReady(text, retry_after=max(known) if known else None)
    return DeliveryRejected(text)
