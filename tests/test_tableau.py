"""The live overview /tableau (issue 15, point 5): only the addresses on the access list, by a one-time login link
mailed through the branch's channel; a signed, HttpOnly, short-lived session cookie; a branch's staff see their
branch alone; forged, expired, spent links and altered cookies open nothing; cross-site POSTs and floods are
refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.app import Hub
from hub.events import EventKind, Message
from hub.report.figures import NETWORK_TITLE
from hub.report.live import COOKIE, LOGIN_ADDRESS_LIMIT, build_report, period
from hub.report.login import KEY_FILE
from hub.testing import T0, FakeClock, RecordingChannel, make_candidate, make_event
from hub.webhooks import build_app

PUBLIC = "https://hub.cravate.example.org"
LYON_STAFF = "Coordination@Cravate-Lyon.example.org"
BORDEAUX_STAFF = "equipe@cravate-bordeaux.example.org"
NETWORK_STAFF = "reseau@cravate.example.org"
LYON, BORDEAUX = "La Cravate Solidaire Lyon", "La Cravate Solidaire Bordeaux"
REGISTERED = {"lyon": 7, "bordeaux": 12}
SAME_PAGE = "Si cette adresse est autorisée, un lien vient de lui être envoyé"


def make(make_hub: Callable[..., Hub], public_url: str = PUBLIC, **report: Any) -> Hub:
    hub_table = {"webhooks": {"public_url": public_url},
                 "report": {"network_viewers": [NETWORK_STAFF], **{k: v for k, v in report.items() if v}}}
    hub = make_hub({
        "lyon": {"name": LYON, "plugins": ["mail"], "report": {"viewers": [LYON_STAFF]},
                 "messages": {"quiet_hours": "00:00-00:00"}},
        "bordeaux": {"name": BORDEAUX, "plugins": ["mail"], "report": {"viewers": [BORDEAUX_STAFF]},
                     "messages": {"quiet_hours": "00:00-00:00"}},
    }, hub=hub_table)
    for branch, count in REGISTERED.items():
        hub.ingest(branch, "tests", [make_event(EventKind.CANDIDATE_REGISTERED, source_id=f"{branch}-{n}",
                                                candidate=make_candidate(phone=None),
                                                occurred_at=T0 - timedelta(hours=1))
                                     for n in range(count)])
    return hub


@pytest.fixture
def hub(make_hub: Callable[..., Hub], channel: RecordingChannel) -> Hub:
    return make(make_hub)


@pytest.fixture
def client(hub: Hub) -> TestClient:
    return TestClient(build_app(hub), base_url=PUBLIC)


def login_mails(hub: Hub, channel: RecordingChannel) -> list[Message]:
    hub.cycle()
    return [m for m in channel.sent() if m.purpose == "login_link"]


def link_in(mail: Message) -> str:
    match = re.search(rf"{re.escape(PUBLIC)}/tableau/entree/\S+", mail.text)
    assert match is not None, mail.text
    return match.group(0).removeprefix(PUBLIC)


def ask(client: TestClient, address: str) -> Any:
    return client.post("/tableau/connexion", data={"adresse": address}, headers={"Sec-Fetch-Site": "same-origin"})


def log_in(client: TestClient, hub: Hub, channel: RecordingChannel, address: str) -> Any:
    before = len(login_mails(hub, channel))
    assert ask(client, address).status_code == 200
    mails = login_mails(hub, channel)
    assert len(mails) == before + 1
    return client.post(link_in(mails[-1]), headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)


def registered_cell(page: str) -> str:
    """The figure "Personnes inscrites" as the page's tables show it (the first one: the lead scope's)."""
    match = re.search(r"Personnes inscrites.*?<td class=\"nombre[^\"]*\">([^<]+)</td>", page, re.S)
    assert match is not None
    return match.group(1)


# --- the login form and the request for a link ---------------------------------------------------------------

def test_without_a_session_the_page_is_the_login_form(client: TestClient) -> None:
    page = client.get("/tableau")
    assert page.status_code == 200
    assert "Recevoir un lien de connexion" in page.text and 'name="adresse"' in page.text
    assert LYON not in page.text and BORDEAUX not in page.text and "Personnes inscrites" not in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-robots-tag"].startswith("noindex")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script" not in csp and "frame-ancestors 'none'" in csp


def test_an_unknown_address_gets_the_same_page_and_no_mail(hub: Hub, client: TestClient,
                                                           channel: RecordingChannel) -> None:
    unknown = ask(client, "quelquun@ailleurs.example.org")
    allowed = ask(client, LYON_STAFF)
    assert unknown.status_code == allowed.status_code == 200
    assert unknown.text == allowed.text and SAME_PAGE in unknown.text
    assert "set-cookie" not in unknown.headers and "set-cookie" not in allowed.headers
    [mail] = login_mails(hub, channel)  # the allowed one only
    assert mail.to is not None and mail.to.casefold() == LYON_STAFF.casefold()


def test_an_allowed_address_gets_one_mail_with_a_one_time_link(hub: Hub, client: TestClient,
                                                               channel: RecordingChannel) -> None:
    assert ask(client, "  coordination@cravate-lyon.EXAMPLE.org ").status_code == 200  # compared as email_key
    [mail] = login_mails(hub, channel)
    assert mail.recipient == "staff" and mail.subject == "Votre lien pour ouvrir le tableau de bord"
    assert mail.text.startswith("Bonjour") and "15 minutes" in mail.text and LYON in mail.text
    assert BORDEAUX not in mail.text
    assert link_in(mail).startswith("/tableau/entree/") and f'href="{PUBLIC}/tableau/entree/' in (mail.html or "")
    events = hub.store.list_events(branch="lyon", kind="message_due", limit=100)
    assert [e for e in events if "login_link" in e.body]  # through Lyon's own channel
    key = hub.config.state_dir / KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600


def test_network_viewers_links_go_through_the_first_branch_with_a_channel_or_the_chosen_one(
        make_hub: Callable[..., Hub], channel: RecordingChannel) -> None:
    for chosen, expected in ((None, "bordeaux"), ("lyon", "lyon")):
        hub = make(make_hub, network_channel_branch=chosen)
        client = TestClient(build_app(hub), base_url=PUBLIC)
        ask(client, NETWORK_STAFF)
        hub.cycle()
        sent = [e for e in hub.store.list_events(kind="message_due", limit=100) if "login_link" in e.body]
        assert [e.branch for e in sent] == [expected]


def test_a_bad_address_is_said_so(client: TestClient) -> None:
    page = ask(client, "pas une adresse")
    assert page.status_code == 400 and "Indiquez une adresse e-mail complète" in page.text


# --- the link and the session ----------------------------------------------------------------------------------

def test_the_link_opens_a_page_with_a_button_and_its_post_sets_the_cookie(hub: Hub, client: TestClient,
                                                                        channel: RecordingChannel) -> None:
    ask(client, LYON_STAFF)
    [mail] = login_mails(hub, channel)
    path = link_in(mail)
    for _ in range(2):  # a mail scanner following the link spends nothing
        shown = client.get(path)
        assert shown.status_code == 200 and "Ouvrir le tableau de bord" in shown.text
        assert "set-cookie" not in shown.headers
    opened = client.post(path, headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/tableau"
    raw = opened.headers["set-cookie"]
    cookie = SimpleCookie(raw)[COOKIE]
    assert cookie["httponly"] and cookie["secure"] and cookie["path"] == "/tableau"
    assert cookie["samesite"].lower() == "lax" and cookie["max-age"] == str(8 * 3600)
    assert "coordination" not in cookie.value.casefold() and "cravate-lyon" not in cookie.value.casefold()
    page = client.get("/tableau")
    assert page.status_code == 200 and LYON in page.text and "Se déconnecter" in page.text


def test_no_secure_flag_on_a_plain_http_address(make_hub: Callable[..., Hub], channel: RecordingChannel) -> None:
    hub = make(make_hub, public_url="http://127.0.0.1:8787")
    client = TestClient(build_app(hub), base_url="http://127.0.0.1:8787")
    ask(client, LYON_STAFF)
    [mail] = login_mails(hub, channel)
    path = re.search(r"http://127\.0\.0\.1:8787(/tableau/entree/\S+)", mail.text).group(1)  # type: ignore[union-attr]
    opened = client.post(path, headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
    assert not SimpleCookie(opened.headers["set-cookie"])[COOKIE]["secure"]


def test_the_branch_s_staff_see_their_branch_raw_and_nothing_of_another(hub: Hub, client: TestClient,
                                                                        channel: RecordingChannel) -> None:
    assert log_in(client, hub, channel, LYON_STAFF).status_code == 303
    page = client.get("/tableau").text
    assert LYON in page and registered_cell(page) == str(REGISTERED["lyon"])
    assert BORDEAUX not in page and "bordeaux" not in page.casefold() and NETWORK_TITLE not in page
    assert "Chiffres bruts" in page
    for trick in ("/tableau?branch=bordeaux", "/tableau?antenne=bordeaux&scope=reseau", "/tableau?du=2026-03-01"):
        tricked = client.get(trick).text
        assert BORDEAUX not in tricked and registered_cell(tricked) == str(REGISTERED["lyon"])
    assert client.get("/tableau/bordeaux").status_code == 404


def test_the_network_s_viewers_see_every_branch_with_small_counts_hidden(hub: Hub, client: TestClient,
                                                                         channel: RecordingChannel) -> None:
    log_in(client, hub, channel, NETWORK_STAFF)
    page = client.get("/tableau").text
    assert LYON in page and BORDEAUX in page and "Petits effectifs masqués" in page
    assert registered_cell(page) == str(sum(REGISTERED.values()))  # the network's, first


def test_the_period_comes_from_the_form_and_a_wrong_one_is_said(hub: Hub, client: TestClient,
                                                               channel: RecordingChannel) -> None:
    log_in(client, hub, channel, LYON_STAFF)
    assert 'value="2026-03-01"' in client.get("/tableau").text  # the current month to date by default
    february = client.get("/tableau?du=2026-02-01&au=2026-02-28").text
    assert 'value="2026-02-01"' in february and registered_cell(february) == "0"
    wrong = client.get("/tableau?du=2026-03-10&au=2026-03-01")
    assert wrong.status_code == 400 and "Le dernier jour vient avant le premier" in wrong.text
    assert period("2026-13-01", None, T0.date())[2] is not None
    assert period("2020-01-01", "2026-03-01", T0.date())[2] == "Période trop longue : trois ans au plus."


def test_a_forged_an_expired_and_a_spent_link_open_nothing(hub: Hub, client: TestClient,
                                                           channel: RecordingChannel, clock: FakeClock) -> None:
    ask(client, LYON_STAFF)
    [mail] = login_mails(hub, channel)
    path = link_in(mail)
    forged = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    for bad in (forged, "/tableau/entree/nimporte.quoi", path.replace("entree/", "entree/x")):
        refused = client.post(bad, headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
        assert refused.status_code == 410 and "set-cookie" not in refused.headers
    assert client.post(path, headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False).status_code == 303
    client.cookies.clear()
    again = client.post(path, headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
    assert again.status_code == 410 and "plus valable" in again.text and "set-cookie" not in again.headers
    assert client.get(path).status_code == 410  # spent: not even the button
    ask(client, LYON_STAFF)
    [_, late] = login_mails(hub, channel)
    clock.advance(minutes=16)
    expired = client.post(link_in(late), headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
    assert expired.status_code == 410 and "set-cookie" not in expired.headers


def test_a_link_signed_before_a_restart_is_refused(make_hub: Callable[..., Hub], hub: Hub,
                                                   channel: RecordingChannel, clock: FakeClock) -> None:
    client = TestClient(build_app(hub), base_url=PUBLIC)
    ask(client, LYON_STAFF)
    [mail] = login_mails(hub, channel)
    clock.advance(seconds=30)
    restarted = TestClient(build_app(hub), base_url=PUBLIC)  # the used links it remembered are gone
    assert restarted.post(link_in(mail), headers={"Sec-Fetch-Site": "same-origin"}).status_code == 410


def test_an_altered_or_expired_cookie_opens_nothing(hub: Hub, client: TestClient, channel: RecordingChannel,
                                                    clock: FakeClock) -> None:
    log_in(client, hub, channel, LYON_STAFF)
    value = client.cookies[COOKIE]
    client.cookies.clear()
    for bad in (value[:-2] + "xx", value.replace(".", "a.", 1), "eyJ2IjoiIiwicyI6WyJyZXNlYXUiXX0.x.y"):
        page = client.get("/tableau", headers={"Cookie": f"{COOKIE}={bad}"})
        assert "Recevoir un lien de connexion" in page.text and LYON not in page.text
        assert 'tableau=""' in page.headers["set-cookie"]  # cleared
    assert LYON in client.get("/tableau", headers={"Cookie": f"{COOKIE}={value}"}).text
    clock.advance(hours=8, seconds=1)
    assert LYON not in client.get("/tableau", headers={"Cookie": f"{COOKIE}={value}"}).text


def test_logging_out_clears_the_cookie_and_ends_the_session(hub: Hub, client: TestClient,
                                                           channel: RecordingChannel) -> None:
    log_in(client, hub, channel, LYON_STAFF)
    value = client.cookies[COOKIE]
    out = client.post("/tableau/sortie", headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/tableau"
    assert 'tableau=""' in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    client.cookies.clear()
    assert LYON not in client.get("/tableau", headers={"Cookie": f"{COOKIE}={value}"}).text  # a copy: refused


def test_cross_site_posts_are_refused(hub: Hub, client: TestClient, channel: RecordingChannel) -> None:
    evil = {"Origin": "https://evil.example.net", "Sec-Fetch-Site": "cross-site"}
    refused = client.post("/tableau/connexion", data={"adresse": LYON_STAFF}, headers=evil)
    assert refused.status_code == 403 and login_mails(hub, channel) == []
    ask(client, LYON_STAFF)
    [mail] = login_mails(hub, channel)
    assert client.post(link_in(mail), headers=evil, follow_redirects=False).status_code == 403
    assert client.post(link_in(mail), headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
                       follow_redirects=False).status_code == 303  # our own form (no-referrer gives Origin: null)
    assert client.post("/tableau/sortie", headers=evil).status_code == 403
    assert LYON in client.get("/tableau").text  # still logged in


def test_link_requests_are_rate_limited_per_address_whether_listed_or_not(hub: Hub, client: TestClient,
                                                                        channel: RecordingChannel) -> None:
    allowed, _ = LOGIN_ADDRESS_LIMIT
    for address in (LYON_STAFF, "personne@ailleurs.example.org"):
        answers = [ask(client, address).status_code for _ in range(allowed + 1)]
        assert answers == [200] * allowed + [429]
    assert len(login_mails(hub, channel)) == allowed


def test_every_address_of_the_page_is_rate_limited_per_client(client: TestClient) -> None:
    codes = [client.get("/tableau").status_code for _ in range(61)]
    assert codes[:60] == [200] * 60 and codes[60] == 429


def test_a_branch_report_is_computed_for_that_branch_alone(hub: Hub) -> None:
    from hub.report.access import Scope

    report = build_report(hub, Scope(False, ("lyon",)), T0.date().replace(day=1), T0.date())
    assert [s.scope for s in report.scopes] == ["lyon"] and report.view == "raw"
    network = build_report(hub, Scope(True), T0.date().replace(day=1), T0.date())
    assert [s.scope for s in network.scopes] == ["bordeaux", "lyon", "reseau"] and network.view == "publishable"


def test_an_address_taken_off_the_list_loses_its_session_at_restart(hub: Hub, client: TestClient,
                                                                    channel: RecordingChannel) -> None:
    log_in(client, hub, channel, LYON_STAFF)
    value = client.cookies[COOKIE]
    hub.config.branches["lyon"].report.viewers = []  # the list as the restarted hub reads it
    restarted = TestClient(build_app(hub), base_url=PUBLIC)
    page = restarted.get("/tableau", headers={"Cookie": f"{COOKIE}={value}"})
    assert "Recevoir un lien de connexion" in page.text and LYON not in page.text


def test_a_viewer_whose_branch_has_no_mail_channel_gets_the_same_page_and_nothing_breaks(
        make_hub: Callable[..., Hub], caplog: pytest.LogCaptureFixture) -> None:
    hub = make_hub({"lyon": {"name": LYON, "plugins": [], "report": {"viewers": [LYON_STAFF]}}},
                   hub={"webhooks": {"public_url": PUBLIC}})
    client = TestClient(build_app(hub), base_url=PUBLIC)
    answer = ask(client, LYON_STAFF)
    assert answer.status_code == 200 and SAME_PAGE in answer.text
    assert hub.store.list_events(kind="message_due", limit=10) == []
    assert "no branch has a mail channel" in caplog.text and LYON_STAFF.casefold() not in caplog.text.casefold()
