"""The fake Carnet service: sign-ups (read with a cursor), a journal that honours Idempotency-Key, and the
erasure of a person (their journal lines and sign-up)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.sandbox import DemoAction, DemoContext, DemoPhase, Sandbox

DEMO_TOKEN = "carnet-demo-token"


class CarnetSandbox(Sandbox):
    name = "example"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.signups: dict[str, list[dict[str, Any]]] = {}
        self.journal: dict[str, list[dict[str, Any]]] = {}
        self.keys: dict[str, set[str]] = {}
        self.revoked: set[str] = set()
        self.requests = 0

    def add_signup(self, token: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            items = self.signups.setdefault(token, [])
            item = {"id": len(items) + 1, "created_at": datetime.now(UTC).isoformat(), **fields}
            items.append(item)
            return item

    def _token(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") and len(auth) > 7 else None
        return None if token in self.revoked else token

    def app(self) -> Starlette:
        async def signups(request: Request) -> JSONResponse:
            self.requests += 1
            token = self._token(request)
            if token is None:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            after, limit = int(request.query_params.get("after", "0")), int(request.query_params.get("limit", "100"))
            items = [i for i in self.signups.get(token, []) if i["id"] > after]
            page = items[:limit]
            return JSONResponse({"items": page, "last_id": page[-1]["id"] if page else after,
                                 "has_more": len(items) > limit})

        async def journal(request: Request) -> JSONResponse:
            self.requests += 1
            token = self._token(request)
            if token is None:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            if request.method == "GET":
                return JSONResponse({"items": self.journal.get(token, [])})
            key = request.headers.get("idempotency-key", "")
            # read the body before taking the lock: awaiting while holding a threading lock would block the
            # event loop for every other request (two concurrent posts deadlocked the fake)
            body = await request.json()
            with self.lock:
                seen = self.keys.setdefault(token, set())
                if key and key in seen:
                    return JSONResponse({"replayed": True}, status_code=200)
                seen.add(key)
                entry = {**body, "at": datetime.now(UTC).isoformat()}
                self.journal.setdefault(token, []).append(entry)
            return JSONResponse(entry, status_code=201)

        async def person(request: Request) -> Response:
            """DELETE /people/{candidate}?signup={id}: Carnet erases the person's journal lines (by the hub id)
            and their sign-up (by its id); 204 whether or not anything was left (erasing twice is harmless)."""
            self.requests += 1
            token = self._token(request)
            if token is None:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            candidate, signup = request.path_params["candidate"], request.query_params.get("signup")
            with self.lock:
                self.journal[token] = [e for e in self.journal.get(token, []) if e.get("candidate") != candidate]
                if signup:
                    self.signups[token] = [i for i in self.signups.get(token, []) if str(i["id"]) != signup]
            return Response(status_code=204)

        return self.failing(Starlette(routes=[
            Route("/signups", signups), Route("/journal", journal, methods=["GET", "POST"]),
            Route("/people/{candidate}", person, methods=["DELETE"])]))

    def demo_settings(self, demo: DemoContext) -> dict[str, Any]:
        return {"url": demo.base_url, "poll_interval": 1}

    def demo_environ(self, demo: DemoContext) -> dict[str, str]:
        return {f"HUB_{demo.branch.upper()}_EXAMPLE_TOKEN": f"{DEMO_TOKEN}-{demo.branch}"}

    def demo_actions(self, demo: DemoContext) -> list[DemoAction]:
        token = f"{DEMO_TOKEN}-{demo.branch}"
        person = demo.people[-1]
        return [DemoAction(DemoPhase.REGISTER, f"Carnet : {person.first_name} s'inscrit",
                           lambda: self.add_signup(token, first_name=person.first_name, last_name=person.last_name,
                                                   email=person.email, phone=person.phone))]

    def describe(self, branch: str) -> str:
        lines = self.journal.get(f"{DEMO_TOKEN}-{branch}", [])
        return "\n".join(f"  - {entry['text']}" for entry in lines) or "  (vide)"
