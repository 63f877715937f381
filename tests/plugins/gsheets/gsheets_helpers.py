"""Helpers shared by the gsheets tests (a module of its own: conftest files are not for importing)."""

from __future__ import annotations

from typing import Any

from hub.app import Hub
from hub.sources import Poller

BRANCH = "lyon"
SHEET_ID = "classeur-lyon"


def gsheets_table(url: str, **overrides: Any) -> dict[str, Any]:
    return {"spreadsheet_id": SHEET_ID, "auth": "static_token", "api_endpoint": url, **overrides}


def poller(hub: Hub, name: str, branch: str = BRANCH) -> Poller:
    return next(p for plugin, p in hub.pollers[branch] if plugin == "gsheets" and p.name == name)


def poll(hub: Hub, name: str, branch: str = BRANCH) -> int:
    return hub.poll(branch, "gsheets", poller(hub, name, branch))


def sync(hub: Hub, branch: str = BRANCH) -> None:
    """What the daemon does: poll both sources, deliver, then write the tracking sheet."""
    hub.cycle(force_poll=True)
    poll(hub, "suivi", branch)


def problems(hub: Hub) -> list[tuple[str, str, str]]:
    return [(r.ref, r.field, r.message) for r in hub.store.list_problems(BRANCH)]
