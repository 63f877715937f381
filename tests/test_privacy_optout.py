"""One-click opt-out: every message to a candidate carries a personal signed link and the List-Unsubscribe
headers; the link's page asks before it acts (a scanner following links opts nobody out), its POST records the
opt-out; a forged or altered link does nothing; an opted-out person receives only essential messages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.app import Hub
from hub.testing import T0, FakeClock, RecordingChannel, make_candidate, make_event, make_session
from hub.webhooks import build_app

BRANCH = "lyon"
PUBLIC = "https://hub.cravate-lyon.org"


@pytest.fixture
def channel(register_plugin: Callable[[str, object], object]) -> RecordingChannel:
    chan = RecordingChannel()
    register_plugin("chan", chan)
    return chan


def make(make_hub: Callable[..., Hub], public_url: str | None = PUBLIC) -> Hub:
    hub_table: dict[str, Any] = {"webhooks": {"public_url": public_url}} if public_url else {}
    return make_hub({BRANCH: {"plugins": ["chan"], "schedule": {"reminders": ["48h"], "followups": []},
                              "messages": {"quiet_hours": "00:00-00:00"}}}, hub=hub_table)


def book(hub: Hub, email: str = "aicha@example.org", days: int = 5, ref: str = "b1") -> str:
    person = make_candidate(first_name="Aïcha", last_name="Benali", email=email, phone=None)
    hub.ingest(BRANCH, "tests", [make_event("session_booked", candidate=person, source_id=ref,
                                            session=make_session(T0 + timedelta(days=days), ref=ref))])
    cid = hub.store.find_candidate(BRANCH, email_key=email, phone_key=None)
    assert cid is not None
    return cid


def test_every_candidate_message_carries_the_personal_link_and_the_one_click_headers(
        make_hub: Callable[..., Hub], channel: RecordingChannel) -> None:
    hub = make(make_hub)
    cid = book(hub)
    hub.cycle()
    sent = channel.sent()
    assert sent and all(m.recipient == "candidate" for m in sent)
    link = hub.optout_links.link(BRANCH, cid)
    assert link is not None and link.startswith(f"{PUBLIC}/desinscription/")
    for message in sent:
        assert message.headers == {"List-Unsubscribe": f"<{link}>",
                                   "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        assert f"Pour ne plus recevoir nos messages : {link}" in message.text
    assert "aicha" not in link.lower() and cid not in link  # the token does not show who it is


def test_without_a_public_address_no_link_is_promised(make_hub: Callable[..., Hub],
                                                      channel: RecordingChannel) -> None:
    hub = make(make_hub, public_url=None)
    book(hub)
    hub.cycle()
    assert channel.sent() and all(not m.headers and "ne plus recevoir" not in m.text for m in channel.sent())


def test_the_page_asks_first_and_the_post_opts_out(make_hub: Callable[..., Hub], channel: RecordingChannel) -> None:
    hub = make(make_hub)
    cid = book(hub)
    link = hub.optout_links.link(BRANCH, cid)
    assert link is not None
    path = link.removeprefix(PUBLIC)
    client = TestClient(build_app(hub))
    page = client.get(path)
    assert page.status_code == 200 and '<form method="post">' in page.text
    assert hub.store.optout_of(BRANCH, cid, "email") is None  # looking is not opting out
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "C'est noté" in done.text
    assert hub.store.optout_of(BRANCH, cid, "email") is not None
    assert client.post(path).status_code == 200  # twice: no harm, no second record


def test_a_forged_or_altered_link_does_nothing(make_hub: Callable[..., Hub], channel: RecordingChannel) -> None:
    hub = make(make_hub)
    aicha, zoe = book(hub), book(hub, "zoe@example.org", ref="b2")
    link = hub.optout_links.link(BRANCH, aicha)
    assert link is not None
    token = link.rsplit("/", 1)[1]
    payload, _, signature = token.rpartition(".")
    import base64
    import json
    other = base64.urlsafe_b64encode(json.dumps([BRANCH, zoe]).encode()).decode().rstrip("=")
    client = TestClient(build_app(hub))
    for bad in (f"{other}.{signature}", token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "abc", payload):
        answer = client.post(f"/desinscription/{bad}")
        assert answer.status_code == 404, bad
    assert hub.store.optout_of(BRANCH, zoe, "email") is None
    assert hub.store.optout_of(BRANCH, aicha, "email") is None
    assert hub.optout_links.read(token) == (BRANCH, aicha)


def test_an_opted_out_person_gets_no_reminder_but_hears_of_her_cancelled_session(
        make_hub: Callable[..., Hub], channel: RecordingChannel, clock: FakeClock) -> None:
    hub = make(make_hub)
    cid = book(hub)
    hub.cycle()
    assert [m.purpose for m in channel.sent()] == ["registration_received", "booking_confirmed"]
    hub.store.set_optout(BRANCH, cid, "email", "link", hub.clock())
    clock.advance(timedelta(days=3, hours=1).total_seconds())  # the 48 h reminder is due
    hub.cycle()
    assert [m.purpose for m in channel.sent()] == ["registration_received", "booking_confirmed"]
    skipped = [d for d in hub.store.list_deliveries(states=["skipped"]) if d.kind == "message_due"]
    assert any("opt-out" in (d.last_error or "") for d in skipped)
    person = make_candidate(email="aicha@example.org", phone=None)
    hub.ingest(BRANCH, "tests", [make_event("session_cancelled", candidate=person, source_id="b1-x",
                                            session=make_session(T0 + timedelta(days=5), ref="b1"))])
    hub.cycle()
    assert channel.sent()[-1].purpose == "session_cancelled"  # essential: about her own session


def test_hub_status_counts_the_opt_outs(make_hub: Callable[..., Hub], channel: RecordingChannel) -> None:
    from hub import status as st

    hub = make(make_hub)
    cid = book(hub)
    hub.store.set_optout(BRANCH, cid, "email", "link", hub.clock())
    (branch,) = st.collect(hub)
    assert branch.opted_out == 1
    assert "1 person(s) asked for no more messages" in st.render([branch], {}, style=lambda text, state: text)
