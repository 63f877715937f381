"""The live overview `/tableau` on the hub's web listener: the key figures, rendered by the HTML report's own
code (`hub.report.html.render_html`), for the addresses on the access list only (hub.report.access).

    GET  /tableau[?du=YYYY-MM-DD&au=YYYY-MM-DD]  the overview (with a session), else the login form
    POST /tableau/connexion                      asks for a login link (field `adresse`)
    GET  /tableau/entree/<token>                 the link: a page with one button...
    POST /tableau/entree/<token>                 ...that spends it and opens the session (cookie), then /tableau
    POST /tableau/sortie                         logs out

No password: a login link is mailed through the viewer's branch's mail channel (`Planner.login_link`; the
network's viewers: `[report] network_channel_branch`, else the first branch by id with a channel). The answer to
a request is the same page whether the address is listed or not, sent before the mail is planned, so neither
the words nor the timing say who is on the list. The link opens a page with a button rather than the session
itself, because mail scanners follow links: a GET never spends it.

The session cookie (`tableau`) is signed, `HttpOnly`, `SameSite=Lax`, `Path=/tableau`, `Secure` when the
public address is https (or the request came over https), and lasts `[report] session_life`; it holds the
viewer's keyed digest, their scope and a random id, never the address. The scope comes from the cookie alone,
narrowed at each request to what the access list still grants: no parameter chooses a branch.

What each viewer sees (docs/report.md, "Small counts: who sees what"): a branch's staff, their branch's raw
figures (every count: they already know these people) and nothing of another branch; the network's viewers,
every branch and the network in the publishable view (small counts hidden, decided on the whole network), as
anything that leaves a branch.

Refused with a short French page: a POST another site sent (403), too many requests (429: 60 a minute per
client on every /tableau address; 10 link requests per client and 3 per address in 15 minutes), a forged,
expired or spent link (410). Every answer carries `Cache-Control: no-store`, `Referrer-Policy: no-referrer`,
`X-Robots-Tag: noindex` and a Content-Security-Policy without scripts.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from hub.followup.routes import _client, _foreign, _form
from hub.report.access import Access, Scope
from hub.report.live_pages import COOKIE_HEADERS, HEADERS, banner, entry_page, login_page, message_page, sent_page
from hub.report.login import ENTRY_PATH, Passes, Session
from hub.web_limits import RateLimit

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from hub.app import Hub
    from hub.report.model import Report

__all__ = ["CLIENT_LIMIT", "COOKIE", "LOGIN_ADDRESS_LIMIT", "LOGIN_CLIENT_LIMIT", "build_report", "period",
           "routes"]

log = logging.getLogger("hub.report.live")
COOKIE = "tableau"
PATH = "/tableau"
CLIENT_LIMIT = (60, 60.0)
"""Requests to any /tableau address per client address per minute."""
LOGIN_CLIENT_LIMIT = (10, 900.0)
"""Link requests per client address per 15 minutes."""
LOGIN_ADDRESS_LIMIT = (3, 900.0)
"""Link requests per typed e-mail address per 15 minutes (counted for any address, listed or not)."""
LONGEST_PERIOD = timedelta(days=3 * 366)

TOO_MANY = ("Trop de tentatives", "Merci de réessayer dans quelques minutes.")
FOREIGN = ("Demande refusée", "Cette demande ne vient pas de notre page. Ouvrez la page du tableau de bord et "
                              "recommencez depuis celle-ci.")
SPENT = ("Ce lien n'est plus valable", "Un lien de connexion ne sert qu'une fois et pendant peu de temps : "
                                       "celui-ci a expiré, a déjà servi, ou est incomplet.")
FAILED = ("Un souci de notre côté", "Le tableau de bord n'a pas pu être calculé. Merci de réessayer dans quelques "
                                    "minutes.")


def period(du: str | None, au: str | None, today: date) -> tuple[date, date, str | None]:
    """(first day, last day included, a problem to show): the asked period, or the current month to date when
    none is asked or the one asked cannot be used."""
    default = (today.replace(day=1), today)
    if not du and not au:
        return (*default, None)
    try:
        start = date.fromisoformat(du) if du else default[0]
        last = date.fromisoformat(au) if au else today
    except ValueError:
        return (*default, "Dates non comprises : choisissez-les dans le calendrier (AAAA-MM-JJ).")
    if last < start:
        return (*default, "Le dernier jour vient avant le premier : la période du mois en cours est affichée.")
    if start.year < 2000 or last.year > 2100 or last - start > LONGEST_PERIOD:
        return (*default, "Période trop longue : trois ans au plus.")
    return start, last, None


def build_report(hub: Hub, scope: Scope, start: date, last: date) -> Report:
    """The figures a scope sees: the network's in the publishable view (decided on the whole network, as `hub
    report` does), a branch's raw and computed for that branch alone (no other branch is even read)."""
    from hub.report import compute, publishable

    now = hub.clock()
    end = last + timedelta(days=1)
    if scope.network:
        return publishable(compute(hub.store, hub.config, start, end, now=now))
    reports = [compute(hub.store, hub.config, start, end, branch, now=now)
               for branch in scope.branches if branch in hub.config.branches]
    return replace(reports[0], scopes=tuple(s for r in reports for s in r.scopes))


def routes(hub: Hub) -> list[Route]:
    from starlette.background import BackgroundTask
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, RedirectResponse
    from starlette.routing import Route

    from hub.messages.render import LOCALE

    settings = hub.config.hub.report
    public_url = hub.config.hub.webhooks.public_url
    passes = Passes(hub.config.state_dir, public_url, hub.clock, settings.login_link_life, settings.session_life)
    access = Access(hub.config, passes.key)
    per_client = RateLimit(*CLIENT_LIMIT)
    logins_per_client = RateLimit(*LOGIN_CLIENT_LIMIT)
    logins_per_address = RateLimit(*LOGIN_ADDRESS_LIMIT)
    link_life, session_life = _duration(settings.login_link_life, LOCALE), _duration(settings.session_life, LOCALE)
    zone = ZoneInfo(hub.config.hub.timezone)

    def answer(page: str, status: int = 200, **extra: str) -> Response:
        return HTMLResponse(page, status_code=status, headers={**HEADERS, **extra})

    def refused(request: Request, status: int, reason: str, page: tuple[str, str], *, again: bool = True,
                wait: float | None = None) -> Response:
        log.info("tableau request refused", extra={"status": status, "reason": reason, "client": _client(request)})
        extra = {"Retry-After": str(int(wait))} if wait is not None else {}
        return answer(message_page(*page, again=again), status, **extra)

    def throttled(request: Request) -> Response | None:
        wait = per_client.hit(_client(request))
        if wait is None:
            return None
        return refused(request, 429, "too many requests from this address", TOO_MANY, again=False, wait=wait)

    def secure(request: Request) -> bool:
        return request.url.scheme == "https" or (public_url or "").lower().startswith("https://")

    def session_of(request: Request) -> tuple[Session, Scope] | None:
        """The request's session and what it may see now; None without one (or when the address left the list)."""
        value = request.cookies.get(COOKIE)
        session = passes.read_session(value) if value else None
        allowed = access.scope_of(session.viewer) if session is not None else None
        scope = session.scope.within(allowed) if session is not None and allowed is not None else None
        return (session, scope) if session is not None and scope is not None else None

    def set_cookie(response: Response, request: Request, value: str, max_age: int) -> None:
        response.set_cookie(COOKIE, value, max_age=max_age, path=PATH, secure=secure(request), httponly=True,
                            samesite="lax")

    async def overview(request: Request) -> Response:
        if (slow := throttled(request)) is not None:
            return slow
        current = session_of(request)
        if current is None:
            response = HTMLResponse(login_page(link_life), headers=COOKIE_HEADERS)
            if COOKIE in request.cookies:  # expired, altered, logged out, or no longer on the list
                set_cookie(response, request, "", 0)
            return response
        _, scope = current
        today = hub.clock().astimezone(zone).date()
        start, last, problem = period(request.query_params.get("du"), request.query_params.get("au"), today)
        who = access.title(scope)
        top = banner(who, not scope.network, start, last, error=problem)
        try:
            page = await run_in_threadpool(_render, hub, scope, start, last, top)
        except Exception as exc:  # the listener keeps answering; the cause is in the log, never a figure
            log.error("tableau not rendered", extra={"error": type(exc).__name__}, exc_info=True)
            return answer(message_page(*FAILED, again=False), 503, **{"Retry-After": "60"})
        return HTMLResponse(page, status_code=400 if problem else 200, headers=COOKIE_HEADERS)

    async def ask(request: Request) -> Response:
        if (slow := throttled(request)) is not None:
            return slow
        if _foreign(request, public_url):
            return refused(request, 403, "cross-site post", FOREIGN)
        wait = logins_per_client.hit(_client(request))
        if wait is not None:
            return refused(request, 429, "too many link requests from this client", TOO_MANY, wait=wait)
        form = await _form(request)
        typed = (form or {}).get("adresse", "").strip()
        viewer = access.digest(typed) if len(typed) <= 254 else None
        if viewer is None:
            return answer(login_page(link_life, error="Indiquez une adresse e-mail complète, par exemple "
                                                      "prenom.nom@exemple.org."), 400)
        wait = logins_per_address.hit(viewer)
        if wait is not None:
            return refused(request, 429, "too many link requests for one address", TOO_MANY, wait=wait)
        # the same page for every address, sent before anything is looked up or planned
        return HTMLResponse(sent_page(link_life), headers=HEADERS,
                            background=BackgroundTask(_mail_link, hub, access, passes, viewer, link_life))

    async def entry(request: Request) -> Response:
        if (slow := throttled(request)) is not None:
            return slow
        found = passes.read_link(request.path_params["token"])
        if found is None or access.scope_of(found.viewer) is None:
            return refused(request, 410, "forged, expired or spent login link", SPENT)
        if request.method != "POST":
            return answer(entry_page(session_life))
        if _foreign(request, public_url):
            return refused(request, 403, "cross-site post", FOREIGN)
        scope = access.scope_of(found.viewer)
        if scope is None or not passes.spend(found):
            return refused(request, 410, "login link spent meanwhile", SPENT)
        response = RedirectResponse(PATH, status_code=303, headers=HEADERS)
        set_cookie(response, request, passes.open_session(found.viewer, scope), int(settings.session_life))
        log.info("tableau session opened", extra={"scope": ",".join(scope.encode()), "client": _client(request)})
        return response

    async def leave(request: Request) -> Response:
        if (slow := throttled(request)) is not None:
            return slow
        if _foreign(request, public_url):
            return refused(request, 403, "cross-site post", FOREIGN)
        current = session_of(request)
        value = request.cookies.get(COOKIE)
        session = current[0] if current else (passes.read_session(value) if value else None)
        if session is not None:
            passes.end_session(session)
            log.info("tableau session closed", extra={"client": _client(request)})
        response = RedirectResponse(PATH, status_code=303, headers=HEADERS)
        set_cookie(response, request, "", 0)
        return response

    return [
        Route(PATH, overview, methods=["GET"]),
        Route(PATH + "/connexion", ask, methods=["POST"]),
        Route(ENTRY_PATH + "{token}", entry, methods=["GET", "POST"]),
        Route(PATH + "/sortie", leave, methods=["POST"]),
    ]


def _render(hub: Hub, scope: Scope, start: date, last: date, top: str) -> str:
    from hub.report.html import render_html

    return render_html(build_report(hub, scope, start, last), banner=top)


def _mail_link(hub: Hub, access: Access, passes: Passes, viewer: str, life: str) -> None:
    """After the answer: plan the login mail if the address is on the list (else nothing, and nothing logged
    that names it)."""
    scope = access.scope_of(viewer)
    address = access.address_of(viewer)
    if scope is None or address is None:
        return
    made = passes.link(viewer)
    if made is None:
        log.warning("tableau login link not sent: the hub has no public address",
                    extra={"fix": "set webhooks.public_url in hub.toml"})
        return
    branch = access.sender(scope, lambda b: hub.channel(b, "email") is not None)
    if branch is None:
        log.warning("tableau login link not sent: no branch has a mail channel for this viewer",
                    extra={"scope": ",".join(scope.encode()), "fix": "give the branch a mail channel, or set "
                                                                     "[report] network_channel_branch"})
        return
    link, link_id = made
    try:
        hub.planner.login_link(branch, address, link, link_id, life, access.title(scope), hub.clock())
    except Exception as exc:
        log.error("tableau login link not planned", extra={"branch": branch, "error": type(exc).__name__})
        return
    log.info("tableau login link planned", extra={"branch": branch, "scope": ",".join(scope.encode())})


def _duration(seconds: float, locale: str) -> str:
    """"15 minutes", "8 heures"."""
    from babel.dates import format_timedelta

    return str(format_timedelta(timedelta(seconds=seconds), locale=locale, threshold=10))
