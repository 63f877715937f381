"""A fake receiver of Standard Webhooks: it verifies each request as the spec's reference verifier does (the
three headers, the timestamp within five minutes of its clock, one `v1,` signature matching in constant time),
answers 401 otherwise, keeps what it received once per `webhook-id` (as the spec asks receivers to), and can be
told to fail (`fail_next_request`, `gone`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api import default_secret_env
from hub.sandbox import DemoContext, Sandbox
from hub_webhooks_out.signing import PREFIX, TOLERANCE, endpoint_secret

DEMO_SECRET = "demo-webhooks-out-secret"


def verify(secret: str, headers: Any, body: bytes, now: float | None = None) -> dict[str, Any]:
    """The payload of a request whose Standard Webhooks signature and timestamp are good; ValueError otherwise."""
    msg_id, stamp, signatures = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signatures):
        raise ValueError("missing required headers")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise ValueError("invalid timestamp") from None
    now = time.time() if now is None else now
    if timestamp < now - TOLERANCE:
        raise ValueError("message timestamp too old")
    if timestamp > now + TOLERANCE:
        raise ValueError("message timestamp too new")
    key = base64.b64decode(secret.removeprefix(PREFIX))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    for versioned in signatures.split(" "):
        version, _, signature = versioned.partition(",")
        if version == "v1" and hmac.compare_digest(expected, signature.encode()):
            return dict(json.loads(body))
    raise ValueError("no matching signature found")


class ReceiverSandbox(Sandbox):
    """Receivers at `/hooks/<name>`, each with its `whsec_` secret (`add_receiver`)."""

    name = "webhooks_out"
    failing_paths = ("/hooks/",)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.secrets: dict[str, str] = {}
        self.received: dict[str, dict[str, dict[str, Any]]] = {}  # receiver -> webhook-id -> what came
        self.posts: dict[str, int] = {}  # receiver -> verified requests, repeats included
        self.refused: dict[str, int] = {}  # receiver -> requests refused (bad signature or timestamp)
        self.gone: set[str] = set()  # receivers answering 410

    def add_receiver(self, name: str, secret: str) -> None:
        """Accept requests at `/hooks/<name>` signed with `secret` (`whsec_...`)."""
        with self.lock:
            self.secrets[name] = secret
            self.received.setdefault(name, {})

    def got(self, name: str) -> list[dict[str, Any]]:
        """What `name` received, once per webhook-id, oldest first: `{"id", "timestamp", "payload", "raw"}` (`raw`:
        the request's three headers and its body, as they came)."""
        with self.lock:
            return list(self.received.get(name, {}).values())

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            name = request.path_params["name"]
            body = await request.body()
            if name in self.gone:
                return JSONResponse({"error": "gone"}, status_code=410)
            secret = self.secrets.get(name)
            if secret is None:
                return JSONResponse({"error": "no such receiver"}, status_code=404)
            try:
                payload = verify(secret, request.headers, body)
            except ValueError as exc:
                with self.lock:
                    self.refused[name] = self.refused.get(name, 0) + 1
                return JSONResponse({"error": str(exc)}, status_code=401)
            with self.lock:
                self.posts[name] = self.posts.get(name, 0) + 1
                msg_id = request.headers["webhook-id"]
                self.received[name].setdefault(msg_id, {
                    "id": msg_id, "timestamp": request.headers["webhook-timestamp"], "payload": payload,
                    "raw": {"headers": {h: request.headers[h] for h in ("webhook-id", "webhook-timestamp",
                                                                        "webhook-signature")},
                            "body": body}})
            return Response(status_code=204)

        return self.failing(Starlette(routes=[Route("/hooks/{name}", hook, methods=["POST"])]))

    def demo_settings(self, demo: DemoContext) -> dict[str, Any]:
        name = f"{demo.branch}-crm"
        self.add_receiver(name, endpoint_secret(f"{DEMO_SECRET}-{demo.branch}", "crm"))
        return {"endpoints": [{"name": "crm", "url": f"{demo.base_url}/hooks/{name}",
                               "events": ["candidate_registered", "session_booked", "session_cancelled",
                                          "outcome_recorded", "candidate_forgotten"]}]}

    def demo_environ(self, demo: DemoContext) -> dict[str, str]:
        return {default_secret_env(demo.branch, "webhooks_out", "secret"): f"{DEMO_SECRET}-{demo.branch}"}

    def describe(self, branch: str) -> str:
        got = self.got(f"{branch}-crm")
        return "\n".join(f"  - {item['payload']['type']} ({item['payload']['data']['reason']})" for item in got) \
            or "  (rien reçu)"
