"""`/suivi/<token>` on the hub's web listener: GET shows the question, POST records the answer.

Refused, with a short French page and nothing recorded: a forged, altered or cut link (404), a link past the
branch's `followup_link_days` (410), a person erased or unknown (404, the same page as a forged link: nothing
says the person existed), a POST another site sent (403), too many requests (429: 60 a minute per address,
10 answers an hour per link). Every answer carries `Cache-Control: no-store`, `Referrer-Policy: no-referrer`,
`X-Robots-Tag: noindex` and a Content-Security-Policy without scripts.

Cross-site requests: there is no login and no cookie, the token in the address is the capability, so a forged
cross-site POST gains nothing its sender could not do with the link itself. Still, a POST is refused when the
browser says it comes from another site (`Sec-Fetch-Site` other than same-origin or none) or its `Origin` names
another site. `Origin: null` is accepted: browsers send it for our own form, because the page's referrer policy
is no-referrer (Fetch standard, "append a request Origin header").
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from hub.followup.answers import BY_KEY, person_of, record
from hub.followup.links import PATH
from hub.followup.page import HEADERS, form_page, message_page, thanks_page
from hub.web_limits import RateLimit

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from hub.app import Hub

__all__ = ["ADDRESS_LIMIT", "BODY_LIMIT", "LINK_LIMIT", "routes"]

log = logging.getLogger("hub.followup")
ADDRESS_LIMIT = (60, 60.0)
"""Requests (GET or POST, good link or not) per client address per minute."""
LINK_LIMIT = (10, 3600.0)
"""Answers (POSTs) per link per hour."""
BODY_LIMIT = 4096
"""Bytes of a form: a choice and a word of 200 characters fit many times over."""

UNKNOWN = ("Lien inconnu", "Ce lien n'est pas valable. Vérifiez qu'il est complet : il arrive qu'un lien soit "
                           "coupé en deux dans un message. Vous pouvez aussi répondre simplement à notre message.")
TOO_MANY = ("Trop de tentatives", "Merci de réessayer dans quelques minutes.")
FOREIGN = ("Réponse refusée", "Cette réponse ne vient pas de notre page. Ouvrez le lien reçu par e-mail et "
                              "répondez depuis la page qui s'affiche.")
TOO_LARGE = ("Réponse trop longue", "Revenez à la page précédente et raccourcissez ce que vous avez écrit.")
FAILED = ("Un souci de notre côté", "Votre réponse n'a pas pu être enregistrée. Merci de réessayer dans quelques "
                                    "minutes.")


def routes(hub: Hub) -> list[Route]:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    per_address = RateLimit(*ADDRESS_LIMIT)
    per_link = RateLimit(*LINK_LIMIT)

    def answer(page: str, status: int = 200, **extra: str) -> Response:
        return HTMLResponse(page, status_code=status, headers={**HEADERS, **extra})

    def refused(request: Request, status: int, reason: str, page: tuple[str, str], branch: str | None = None,
                **extra: str) -> Response:
        log.info("follow-up link refused", extra={"status": status, "reason": reason, "client": _client(request)})
        return answer(message_page(*page, branch), status, **extra)

    async def page(request: Request) -> Response:
        wait = per_address.hit(_client(request))
        if wait is not None:
            return refused(request, 429, "too many requests from this address", TOO_MANY,
                           **{"Retry-After": str(int(wait))})
        found = hub.followup_links.read(request.path_params["token"])
        config = hub.config.branches.get(found.branch) if found is not None else None
        if found is None or config is None:
            return refused(request, 404, "unknown or altered link", UNKNOWN)
        days = config.messages.followup_link_days
        if hub.followup_links.expired(found, days):
            phone = (config.messages.phone or "").replace(" ", "\u00a0")
            call = f" ou appelez-nous au {phone}" if phone else ""
            return refused(request, 410, "expired link", (
                "Ce lien a expiré", f"Ce lien était valable {days} jours. Pour nous donner de vos nouvelles, "
                                    f"répondez simplement à notre message{call}."), config.name)
        person = await run_in_threadpool(person_of, hub, found)
        if person is None:
            return refused(request, 404, "person erased or unknown", UNKNOWN)
        if request.method != "POST":
            return answer(form_page(config.name, person.first_name))
        if _foreign(request, hub.config.hub.webhooks.public_url):
            return refused(request, 403, "cross-site post", FOREIGN, config.name)
        wait = per_link.hit(f"{found.branch}:{found.candidate_id}:{found.session_id}:{found.horizon}")
        if wait is not None:
            return refused(request, 429, "too many answers for this link", TOO_MANY, config.name,
                           **{"Retry-After": str(int(wait))})
        form = await _form(request)
        if form is None:
            return refused(request, 413, "form too large", TOO_LARGE, config.name)
        choice = BY_KEY.get(form.get("reponse", ""))
        if choice is None:
            return answer(form_page(config.name, person.first_name, error=(
                "Choisissez une réponse dans la liste, puis appuyez sur «\u00a0Envoyer ma réponse\u00a0».")), 400)
        try:
            done = await run_in_threadpool(record, hub, found, choice, form.get("mot"))
        except Exception as exc:  # never log.exception: a validation error may quote what the person typed
            log.error("follow-up answer not stored", extra={"branch": found.branch, "error": type(exc).__name__})
            return answer(message_page(*FAILED, config.name), 503, **{"Retry-After": "60"})
        if done.status == "gone":
            return refused(request, 404, "person erased meanwhile", UNKNOWN)
        from hub.messages.render import french_date

        until = french_date(found.expires_at(days), hub.config.zone(found.branch))
        return answer(thanks_page(config.name, choice, until, config.messages.phone))

    return [Route(PATH + "{token}", page, methods=["GET", "POST"])]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _foreign(request: Request, public_url: str | None) -> bool:
    """Whether the browser says this POST comes from another site (see the module's docstring)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return False
    ours = {_origin(str(request.url))} | ({_origin(public_url)} if public_url else set())
    return origin.rstrip("/").lower() not in ours


async def _form(request: Request) -> dict[str, str] | None:
    """The posted form's first value per field; None when it is larger than BODY_LIMIT."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > BODY_LIMIT:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_LIMIT:
            return None
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    except ValueError:  # more fields than any form of ours has: treated as no answer
        return {}
    return {name: values[0] for name, values in fields.items() if values}
