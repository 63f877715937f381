"""The live overview /tableau in a real headless browser (issue 15, point 5): Debian's Chromium driven by
Playwright against the hub's real web listener. A branch's staff member asks for a link, follows the one the
mail brings, sees the branch's figures and nothing of another branch (whatever the address says), the page has
no accessibility violation axe-core can find, and its screenshot is not blank.

Skipped, with the reason, only where no browser can be used: Playwright or axe-core not installed, no Chromium
executable (`apt-get install chromium`, or HUB_CHROMIUM=/path), or Chromium failing to start. Set
HUB_SCREENSHOT_DIR=docs to write the screenshot docs/tableau.png shows (README).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub
from hub.events import Candidate, EventKind, Outcome, OutcomeCategory, Referrer
from hub.serving import ServerThread, free_port
from hub.testing import FakeClock, RecordingChannel, make_candidate, make_event, make_session
from hub.web_limits import WebLimits
from hub.webhooks import build_app

LYON, BORDEAUX = "La Cravate Solidaire Lyon", "La Cravate Solidaire Bordeaux"
LYON_STAFF, BORDEAUX_STAFF = "coordination@cravate-lyon.example.org", "equipe@cravate-bordeaux.example.org"
FIRST, LAST = datetime(2026, 1, 5, 9, tzinfo=UTC), datetime(2026, 6, 30, 16, tzinfo=UTC)
KINDS = ("France Travail", "Mission locale", "PLIE", "CCAS", None)
CONTRACTS = ({"contract_type": "CDI", "label": "CDI"}, {"contract_type": "CDD", "contract_months": 6, "label": "CDD"},
             {"contract_type": "formation", "label": "Formation"}, {"category": "autre", "label": "En recherche"})


def chromium() -> str:
    """The Chromium executable, or a skip saying why there is none."""
    for candidate in (os.environ.get("HUB_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                      "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no Chromium executable: apt-get install chromium, or set HUB_CHROMIUM to one")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e "
                                                                 "'.[test]'")
    pytest.importorskip("axe_playwright_python", reason="axe-core (axe-playwright-python) is not installed: "
                                                        "pip install -e '.[test]'")
    executable = chromium()
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=executable)
        except Exception as exc:  # a browser that cannot start here (no display libraries, a sandbox refused)
            pytest.skip(f"Chromium ({executable}) did not start: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()


def play(hub: Hub, clock: FakeClock, branches: dict[str, int]) -> None:
    """Half a year of each branch (its number of people), day by day: registrations, bookings (some made by
    people themselves), attendance, results entered by staff; the follow-ups fire on their own."""
    plan: dict[int, list[Callable[[], None]]] = {}
    for seed, (branch, people) in enumerate(branches.items()):
        for n in range(people):
            day = (n * 11 + seed * 5) % 150
            plan.setdefault(day, []).append(functools.partial(person, hub, clock, branch, n, seed))
    for day in range((LAST - FIRST).days + 1):
        clock.now = FIRST + timedelta(days=day)
        for action in plan.get(day, []):
            action()
        hub.cycle()
    clock.now = LAST


def person(hub: Hub, clock: FakeClock, branch: str, n: int, seed: int) -> None:
    kind = KINDS[(n + seed) % len(KINDS)]
    someone = make_candidate(first_name=f"P{n}", phone=None, sex="FM"[(n + seed) % 2], birth_year=1960 + 3 * n,
                             referrer=Referrer(kind=kind) if kind else None)
    [registered] = hub.ingest(branch, "formulaire", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=someone,
                                                                source_id=f"inscription:{n}", occurred_at=clock())])
    cid = str(registered.candidate_id)
    start = clock() + timedelta(days=4 + n % 9)
    tool = "calendly" if n % 3 else "agenda"
    stored = hub.ingest(branch, tool, [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(id=cid),
                                                  session=make_session(start, ref=f"rdv:{n}"),
                                                  source_id=f"rdv:{n}", occurred_at=clock())])
    session = next(e.session for e in stored if e.session is not None)
    present = (n + seed) % 4 != 0
    results = [Outcome(candidate_id=cid, session_id=session.id, observed_at=start + timedelta(hours=4),
                       category=OutcomeCategory.PRESENT if present else OutcomeCategory.ABSENT,
                       recorded_by="tableau de suivi")]
    if present and n % 2 == 0:
        results.append(Outcome.model_validate({"candidate_id": cid, "observed_at": start + timedelta(days=30),
                                               "recorded_by": "tableau de suivi",
                                               **CONTRACTS[(n // 2 + seed) % len(CONTRACTS)]}))
    for index, outcome in enumerate(results):
        hub.ingest(branch, "carnet", [make_event(EventKind.OUTCOME_RECORDED, candidate=Candidate(id=cid),
                                                 outcome=outcome, source_id=f"resultat:{n}:{index}",
                                                 occurred_at=min(outcome.observed_at, LAST))])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, RecordingChannel, str]]:
    """Two branches' half year, and the hub's real web listener (with the limits it runs with) on loopback."""
    from hub.plugins import PluginRegistry
    from hub.testing import build_hub

    channel = RecordingChannel()
    registry = PluginRegistry()
    registry.add("mail", channel)
    clock = FakeClock(FIRST)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    branch = {"plugins": ["mail"], "messages": {"quiet_hours": "00:00-00:00"},
              "schedule": {"reminders": ["48h"], "followups": ["1 month", "3 months"]}}
    hub = build_hub(tmp_path_factory.mktemp("tableau"), registry, {
        "lyon": {**branch, "name": LYON, "report": {"viewers": [LYON_STAFF]}},
        "bordeaux": {**branch, "name": BORDEAUX, "report": {"viewers": [BORDEAUX_STAFF]}},
    }, hub={"webhooks": {"public_url": url}}, clock=clock)
    play(hub, clock, {"lyon": 24, "bordeaux": 9})
    with ServerThread(build_app(hub), port=port, limits=WebLimits.of(hub.config.hub.webhooks)):
        yield hub, channel, url
    hub.close()


def login_link(hub: Hub, channel: RecordingChannel, url: str) -> str:
    hub.cycle()  # what the daemon does within a second: the planned mail goes to the branch's channel
    mails = [m for m in channel.sent() if m.purpose == "login_link"]
    assert mails, "no login mail"
    match = re.search(rf"{re.escape(url)}/tableau/entree/\S+", mails[-1].text)
    assert match is not None, mails[-1].text
    return match.group(0)


def not_blank(page: Any, png: bytes) -> tuple[int, float]:
    """(distinct colours in a sample of the screenshot's pixels, share of pixels that are not white), read by
    drawing the PNG on a canvas in a blank page."""
    blank = page.context.new_page()
    try:
        return tuple(blank.evaluate("""async (source) => {
            const image = new Image();
            image.src = source;
            await image.decode();
            const canvas = document.createElement("canvas");
            canvas.width = image.width; canvas.height = image.height;
            const context = canvas.getContext("2d");
            context.drawImage(image, 0, 0);
            const data = context.getImageData(0, 0, image.width, image.height).data;
            const colours = new Set();
            let inked = 0, seen = 0;
            for (let i = 0; i < data.length; i += 4 * 7) {
                seen++;
                colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
                if (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240) inked++;
            }
            return [colours.size, inked / seen];
        }""", "data:image/png;base64," + base64.b64encode(png).decode()))
    finally:
        blank.close()


def axe_violations(page: Any) -> str:
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]  # no type information

    results = Axe().run(page)
    return "" if results.violations_count == 0 else results.generate_snapshot()


def test_a_branch_s_staff_log_in_with_the_mailed_link_and_see_their_branch_only(
        browser: Any, served: tuple[Hub, RecordingChannel, str], tmp_path: Path) -> None:
    hub, channel, url = served
    context = browser.new_context(viewport={"width": 1100, "height": 1400}, locale="fr-FR")
    page = context.new_page()
    try:
        page.goto(f"{url}/tableau")
        assert page.locator("h1").inner_text() == "Tableau de bord"
        assert axe_violations(page) == ""
        page.get_by_label("Votre adresse e-mail").fill(LYON_STAFF)
        page.get_by_role("button", name="Recevoir un lien de connexion").click()
        assert "Si cette adresse est autorisée, un lien vient de lui être envoyé" in page.inner_text("main")

        page.goto(login_link(hub, channel, url))
        assert axe_violations(page) == ""
        page.get_by_role("button", name="Ouvrir le tableau de bord").click()
        page.wait_for_url(f"{url}/tableau")
        [cookie] = context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/tableau"
        assert LYON_STAFF not in cookie["value"]

        page.get_by_label("Du", exact=True).fill("2026-01-01")
        page.get_by_label("Au (inclus)", exact=True).fill("2026-06-30")
        page.get_by_role("button", name="Afficher").click()
        page.wait_for_url(re.compile(r".*du=2026-01-01&au=2026-06-30$"))
        text = page.inner_text("body")
        assert LYON in text and "Personnes inscrites" in text and "Chiffres bruts" in text
        assert BORDEAUX not in text and "Bordeaux" not in page.content()
        shown = page.content()
        for trick in ("&antenne=bordeaux", "&branch=bordeaux&scope=reseau"):
            page.goto(f"{url}/tableau?du=2026-01-01&au=2026-06-30{trick}")
            assert page.content() == shown  # the scope comes from the cookie alone
        missing = page.goto(f"{url}/tableau/bordeaux")
        assert missing is not None and missing.status == 404
        page.goto(f"{url}/tableau?du=2026-01-01&au=2026-06-30")

        assert axe_violations(page) == ""
        png = page.screenshot(full_page=False)
        colours, inked = not_blank(page, png)
        assert colours > 50 and inked > 0.05, (colours, inked)
        (tmp_path / "tableau.png").write_bytes(png)
        target = os.environ.get("HUB_SCREENSHOT_DIR")
        if target:
            Path(target, "tableau.png").write_bytes(png)

        page.get_by_role("button", name="Se déconnecter").click()
        page.wait_for_url(f"{url}/tableau")
        assert page.get_by_role("button", name="Recevoir un lien de connexion").is_visible()
        assert context.cookies() == []
    finally:
        context.close()


def test_a_person_answers_the_follow_up_question_on_a_small_phone_with_the_keyboard_alone(
        browser: Any, served: tuple[Hub, RecordingChannel, str]) -> None:
    """The follow-up page (issue 15, point 1) in the same browser: no accessibility violation on the question
    nor on the thanks, an answer chosen and sent with the keyboard at a cheap phone's width, and recorded."""
    hub, channel, url = served
    mail = [m for m in channel.sent() if m.purpose == "followup" and f"{url}/suivi/" in m.text][-1]  # unexpired
    match = re.search(rf"{re.escape(url)}/suivi/\S+", mail.text)
    assert match is not None
    before = len(hub.store.list_events(kind=EventKind.OUTCOME_RECORDED.value, limit=100_000))
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="fr-FR", is_mobile=True)
    page = context.new_page()
    try:
        page.goto(match.group(0))
        assert page.locator("h1").inner_text().replace("\xa0", " ") == "Où en êtes-vous aujourd'hui ?"
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
        assert axe_violations(page) == ""
        page.get_by_label("Toujours en recherche d'emploi").focus()
        page.keyboard.press("Space")
        assert page.get_by_label("Toujours en recherche d'emploi").is_checked()
        page.get_by_role("button", name="Envoyer ma réponse").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator("h1").inner_text() == "Merci, c'est noté"
        assert axe_violations(page) == ""
    finally:
        context.close()
    stored = hub.store.list_events(kind=EventKind.OUTCOME_RECORDED.value, limit=100_000)
    assert len(stored) == before + 1
    answered = [row for row in stored if row.source_id.startswith("suivi:")]
    assert len(answered) == 1
    outcome = json.loads(answered[0].body)["outcome"]
    assert (outcome["label"], outcome["recorded_by"], outcome["category"]) == ("En recherche", "candidate", "autre")
