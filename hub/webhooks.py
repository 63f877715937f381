"""The optional webhook receiver: `/webhooks/<branch>/<plugin>[/<path>]` and `/healthz`.

It answers only after the events a handler returned are committed, so a 2xx always means "stored"; when
storing fails it answers 503 and the sender retries. Bodies over the limit get 413 before being read whole.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hub.app import Hub
from hub.deferred import DeferredWrites, deferring
from hub.events import Event
from hub.sources import WebhookReply, WebhookRequest, WebhookRoute

log = logging.getLogger("hub.webhooks")


class BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _refused(request: Request, status: int, reason: str, branch: str = "", plugin: str = "") -> None:
    """One line per refused webhook: why and from where (never the body, the headers or an unknown path)."""
    level = logging.INFO if status in (404, 405) else logging.WARNING
    where = {"branch": branch, "plugin": plugin} if branch else {}
    log.log(level, "webhook refused", extra={"status": status, "reason": reason,
                                              "client": request.client.host if request.client else "unknown",
                                              **where})


class _HandlerFailed(Exception):
    """The plugin's handler raised (its cause is the exception): 500, and nothing it wrote is kept."""


def _handle_and_store(hub: Hub, branch: str, plugin: str, route: WebhookRoute,
                      incoming: WebhookRequest) -> tuple[WebhookReply, list[Event]]:
    """Run the handler with its writes held back, then store its events and those writes in one group-committed
    transaction; returns once durable, so the 2xx that follows always means "stored"."""
    writes = DeferredWrites()
    try:
        with deferring(writes):
            reply = route.handler(incoming)
    except Exception as exc:
        raise _HandlerFailed() from exc
    if not reply.events and not writes:
        return reply, []
    return reply, hub.store_webhook(branch, plugin, reply.events, writes)


def build_app(hub: Hub) -> Starlette:
    limit = hub.config.hub.webhooks.max_body_bytes

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})  # no branch names: the address is public

    async def receive(request: Request) -> Response:
        branch, plugin = request.path_params["branch"], request.path_params["plugin"]
        path = request.path_params.get("rest", "")
        path = "/" + path if path else ""
        plugins = hub.branches.get(branch)
        if plugins is None or plugin not in plugins.names:
            _refused(request, 404, "no such branch or plugin")
            return PlainTextResponse("no such webhook", status_code=404)
        contributions = hub.setup.ready((branch, plugin)) or await run_in_threadpool(
            hub.lane_contributions, (branch, plugin))
        if contributions is None:  # its setup failed (recorded, retried): the sender retries later
            _refused(request, 503, "plugin not set up yet", branch, plugin)
            return PlainTextResponse("not set up yet, retry later", status_code=503)
        route = next((r for r in contributions.routes if r.path == path), None)
        if route is None:
            _refused(request, 404, "no such route", branch, plugin)
            return PlainTextResponse("no such webhook", status_code=404)
        if request.method not in route.methods:
            _refused(request, 405, f"method {request.method} not allowed", branch, plugin)
            return PlainTextResponse("method not allowed", status_code=405)
        try:
            body = await _read_body(request, limit)
        except BodyTooLarge:
            _refused(request, 413, f"body over {limit} bytes", branch, plugin)
            return PlainTextResponse("body too large", status_code=413)
        except ClientDisconnect:  # gone, or cut by the body deadline (hub.web_limits answered 408)
            _refused(request, 408, "body not received", branch, plugin)
            return Response(status_code=408)
        incoming = WebhookRequest(method=request.method, path=path,
                                  headers={k.lower(): v for k, v in request.headers.items()},
                                  query=dict(request.query_params), body=body, received_at=datetime.now(UTC))
        try:  # one hop to a thread: the handler, then the group commit of what it gave
            reply, stored = await run_in_threadpool(_handle_and_store, hub, branch, plugin, route, incoming)
        except _HandlerFailed:
            log.exception("webhook handler failed", extra={"branch": branch, "plugin": plugin})
            return PlainTextResponse("handler error", status_code=500)
        except Exception:
            log.exception("webhook events not stored", extra={"branch": branch, "plugin": plugin})
            return PlainTextResponse("not stored, retry later", status_code=503)
        if reply.status >= 400:
            _refused(request, reply.status, "refused by the plugin's handler", branch, plugin)
        else:
            log.info("webhook stored", extra={"branch": branch, "plugin": plugin, "status": reply.status,
                                              "events": len(stored)})
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    from hub.followup.routes import routes as followup_routes
    from hub.privacy.optout import routes as optout_routes
    from hub.report.live import routes as tableau_routes
    return Starlette(routes=[
        Route("/healthz", healthz),
        *optout_routes(hub),
        *followup_routes(hub),
        *tableau_routes(hub),
        Route("/webhooks/{branch}/{plugin}", receive, methods=methods),
        Route("/webhooks/{branch}/{plugin}/{rest:path}", receive, methods=methods),
    ])
