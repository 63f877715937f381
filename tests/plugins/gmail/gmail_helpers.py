"""Helpers shared by the gmail tests (a module of its own: conftest files are not for importing)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import hub_gmail.plugin
from hub.app import Hub
from hub.events import Candidate, Event, EventKind, Message
from hub.sources import Poller
from hub.testing import make_candidate, make_event, make_message
from hub_google import token_path

BRANCH = "lyon"
OTHER = "paris"
ADDRESSES = {BRANCH: "lyon@cravate.org", OTHER: "paris@cravate.org", "conformance": "conformance@cravate.org"}


def token(branch: str) -> str:
    return f"tok-{branch}"


def gmail_table(url: str, **overrides: Any) -> dict[str, Any]:
    return {"auth": "static_token", "api_endpoint": url, **overrides}


def registered(hub: Hub, branch: str = BRANCH, **fields: Any) -> Candidate:
    """A candidate the hub knows (so a message and its bounce can carry the hub id)."""
    fields.setdefault("phone", None)  # make_candidate's phone is the same for all: one person otherwise
    event = make_event(EventKind.CANDIDATE_REGISTERED, candidate=make_candidate(**fields))
    stored = hub.ingest(branch, "tests", [event])
    candidate = stored[0].candidate
    assert candidate is not None and candidate.id
    return candidate


def message_for(candidate: Candidate | None = None, **fields: Any) -> Message:
    return make_message(candidate or make_candidate(), **fields)


def due(message: Message) -> Event:
    return make_event(EventKind.MESSAGE_DUE, message=message, source_id=f"due-{message.id}")


def send(hub: Hub, message: Message, branch: str = BRANCH) -> Any:
    """What the daemon does: store the message_due event, then deliver it."""
    hub.ingest(branch, "messages", [due(message)])
    return hub.cycle()


def deliver_directly(hub: Hub, message: Message, key: str, branch: str = BRANCH) -> None:
    """Call the hook as the dispatcher does, and commit its state with the outcome as the dispatcher does,
    whether the hook returned or raised; a BaseException (a test's simulated crash) commits nothing."""
    ctx = hub.context(branch, "gmail").for_delivery(key)
    try:
        hub_gmail.plugin.message_due(ctx, due(message))
    finally:
        if sys.exc_info()[0] is None or isinstance(sys.exc_info()[1], Exception):
            with hub.store.transaction():
                ctx.flush_state()


def poller(hub: Hub, branch: str = BRANCH) -> Poller:
    return next(p for plugin, p in hub.pollers[branch] if plugin == "gmail" and p.name == "rebonds")


def poll(hub: Hub, branch: str = BRANCH) -> list[Event]:
    """Poll the bounce source once (with its stored cursor); the events it stored."""
    before = {e.id for e in hub.store.list_events(branch=branch, limit=10_000)}
    hub.poll(branch, "gmail", poller(hub, branch), max_pages=1)
    rows = [e for e in hub.store.list_events(branch=branch, limit=10_000) if e.id not in before]
    return [Event.model_validate_json(r.body) for r in rows]


def write_token(hub: Hub, url: str, refresh: str, *, expired: bool, branch: str = BRANCH) -> Path:
    """The token file `hub auth google` writes; not expired, its access token is the sandbox's for `branch`."""
    path = token_path(hub.context(branch, "gmail"))
    expiry = datetime(2020, 1, 1) if expired else datetime.now() + timedelta(hours=1)
    path.write_text(json.dumps({"token": "ya29.old" if expired else token(branch), "refresh_token": refresh,
                                "token_uri": f"{url}/token", "client_id": "client.apps.googleusercontent.com",
                                "client_secret": "s3cret", "scopes": ["https://www.googleapis.com/auth/gmail.compose"],
                                "expiry": expiry.isoformat() + "Z"}))
    path.chmod(0o600)
    return path


class Crash(BaseException):
    """The process dies here: nothing after it runs, nothing uncommitted survives."""


def new_requests(sandbox: Any) -> Callable[[], list[str]]:
    """A reader of the requests made since it was created (then since its last call)."""
    mark = [len(sandbox.methods(BRANCH))]

    def read() -> list[str]:
        methods = sandbox.methods(BRANCH)
        out, mark[0] = methods[mark[0]:], len(methods)
        return out
    return read
