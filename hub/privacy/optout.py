"""One-click opt-out: every message to a candidate carries a personal link, and the `List-Unsubscribe` and
`List-Unsubscribe-Post` headers (RFC 8058) that mail clients show as "Se désabonner".

The link is `<public_url>/desinscription/<token>`: the token names the branch and the person, signed with a
key kept 0600 in the state directory (itsdangerous, HMAC-SHA256), so it cannot be forged, nor changed to name
someone else; using it twice does nothing more. GET shows a page with one button (a mail scanner following
links must not opt anyone out); POST records the opt-out, which is what RFC 8058's one-click POST does.

An opted-out person receives no further message except those the branch calls essential
(`[messages] essential`, by default the move or cancellation of their own session): the message policy skips
the others with the reason. Opt-outs show in `hub status`.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeSerializer

from hub.secrets import read_or_create_key

if TYPE_CHECKING:
    from datetime import datetime

    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from hub.app import Hub
    from hub.events import Event

log = logging.getLogger("hub.privacy")
KEY_FILE = Path("secrets") / "hub" / "optout_key"
SALT = "cravate-hub opt-out"
PATH = "/desinscription/"
MEDIUM = "email"


class OptOutLinks:
    """Makes and reads the personal opt-out links of one hub (one key for every branch)."""

    def __init__(self, state_dir: Path, public_url: str | None) -> None:
        self.path = state_dir / KEY_FILE
        self.public_url = (public_url or "").rstrip("/") or None
        self._serializer: URLSafeSerializer | None = None

    def _signer(self) -> URLSafeSerializer:
        if self._serializer is None:
            key = read_or_create_key(self.path, what="la clé des liens de désinscription")
            self._serializer = URLSafeSerializer(key, salt=SALT)
        return self._serializer

    def link(self, branch: str, candidate_id: str) -> str | None:
        """The person's link, or None when the hub has no public address (no link can reach it then)."""
        if self.public_url is None:
            return None
        return f"{self.public_url}{PATH}{self._signer().dumps([branch, candidate_id])}"

    def headers(self, branch: str, candidate_id: str) -> dict[str, str]:
        link = self.link(branch, candidate_id)
        if link is None:
            return {}
        return {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}

    def read(self, token: str) -> tuple[str, str] | None:
        """(branch, candidate id) a genuine token names; None for anything forged or damaged."""
        try:
            value = self._signer().loads(token)
        except BadSignature:
            return None
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            return None
        return value[0], value[1]


def routes(hub: Hub) -> list[Route]:
    """GET: the page with its button; POST: the opt-out (also the mail client's one-click POST)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def page(request: Request) -> Response:
        found = hub.optout_links.read(request.path_params["token"])
        if found is None or found[0] not in hub.branches:
            return HTMLResponse(_page("Lien inconnu", "Ce lien n'est pas valable. Si vous ne souhaitez plus "
                                      "recevoir nos messages, répondez simplement à l'un d'eux pour nous le dire."),
                                status_code=404)
        branch, candidate = found
        name = html.escape(hub.config.branches[branch].name)
        if request.method == "GET":
            return HTMLResponse(_page(f"Ne plus recevoir les messages de {name}", (
                f"Vous ne recevrez plus les messages de {name} (rappels, nouvelles), sauf ceux qui concernent "
                "directement un rendez-vous déjà pris, s'il est déplacé ou annulé."), button=True))
        done = await run_in_threadpool(record, hub, branch, candidate)
        if done:
            log.info("opt-out recorded", extra={"branch": branch, "candidate": candidate, "source": "link"})
        return HTMLResponse(_page("C'est noté", f"Vous ne recevrez plus les messages de {name}. Merci de nous "
                                  "l'avoir dit, et bonne continuation."))

    return [Route(PATH + "{token}", page, methods=["GET", "POST"])]


def record(hub: Hub, branch: str, candidate: str) -> bool:
    """The opt-out, as a `candidate_opted_out` event (the store's opt-out follows it at ingest, and the sinks get
    it: the tracking sheet shows it); False when the person is opted out of mail already."""
    if hub.store.optout_of(branch, candidate, MEDIUM) is not None:
        return False
    hub.ingest(branch, "hub", [preference_event(candidate, MEDIUM, opted_out=True, via="link", at=hub.clock())])
    return True


def preference_event(candidate: str, medium: str, *, opted_out: bool, via: str, at: datetime) -> Event:
    """The `candidate_opted_out` / `candidate_opted_in` event saying the person chose so for `medium` at `at`;
    its source id names the fact (person, medium, choice, instant), so each change is stored once."""
    from hub.events import Candidate, ContactPreference, Event, EventKind

    kind = EventKind.CANDIDATE_OPTED_OUT if opted_out else EventKind.CANDIDATE_OPTED_IN
    word = "optout" if opted_out else "optin"
    return Event(kind=kind, occurred_at=at, source_id=f"{word}:{candidate}:{medium}:{at.timestamp():.6f}",
                 candidate=Candidate(id=candidate), preference=ContactPreference(medium=medium, via=via))


def _page(title: str, text: str, *, button: bool = False) -> str:
    form = ('<form method="post"><button type="submit">Ne plus recevoir de messages</button></form>'
            if button else "")
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;"
        "padding:0 1rem;line-height:1.5;color:#1a1a1a}button{font-size:1.1rem;padding:.7rem 1.2rem;"
        "border:0;border-radius:.4rem;background:#1a3a5c;color:#fff;cursor:pointer}"
        "button:focus{outline:3px solid #f0a500;outline-offset:2px}</style></head>"
        f"<body><h1>{title}</h1><p>{text}</p>{form}</body></html>")
