"""`candidate_forgotten` against the Outlook sandbox: the mails the hub sent the person, its leftover drafts and the
events of their sessions are purged (permanentDelete, never left in Deleted Items), staff-booked events go or
stay for others, the rest of the correspondence is a manual item; retried after a fault, harmless when repeated,
paused when the permission is missing. Then the sandbox's new routes, as strict as Graph."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from hub.app import Hub
from hub.sandbox import DemoContext
from hub.store.rows import ReceiptRow
from hub.testing import T0, FakeClock, make_candidate, make_event, make_session
from hub_outlook import erasure
from hub_outlook.sandbox import DEMO_CLIENT_ID, DEMO_SECRET, DEMO_TENANT_ID, OutlookSandbox

from .sandbox_helpers import Graph, app_token

BRANCH = "lyon"
EMAIL = "ines.haddad@example.org"
OTHER_EMAIL = "karim.mansouri@example.org"
PURGE_MAIL = "POST /users/{m}/messages/{id}/permanentDelete"
PURGE_EVENT = "POST /users/{m}/events/{id}/permanentDelete"





def ines(**kw: Any) -> Any:
    return make_candidate(ref="p1", email=EMAIL, first_name="Inès", last_name="Haddad", phone="+33 6 11 11 11 11",
                          **kw)


def karim() -> Any:
    return make_candidate(ref="p2", email=OTHER_EMAIL, first_name="Karim", last_name="Mansouri",
                          phone="+33 6 22 22 22 22")


def register_and_book(hub: Hub, person: Any, ref: str, hours: int, **session: Any) -> None:
    start = T0 + timedelta(days=3, hours=hours)
    hub.ingest(BRANCH, "tests", [make_event("candidate_registered", candidate=person, source_id=f"{ref}-reg"),
                                 make_event("session_booked", candidate=person, source_id=ref,
                                            session=make_session(start, ref=ref, **session))])


def candidate_id(hub: Hub, ref: str = "p1") -> str:
    found = hub.store.lookup(BRANCH, "candidate", "tests", ref)
    assert found is not None
    return found


def forget(hub: Hub, cid: str) -> str:
    plan = hub.eraser.forget(BRANCH, cid)
    assert "outlook" in plan.plugins
    return plan.erasure_id


def receipt(hub: Hub, erasure_id: str) -> ReceiptRow:
    (row,) = [r for r in hub.store.receipts(erasure_id) if r.plugin == "outlook"]
    return row


def state(hub: Hub, key: str) -> Any:
    return hub.store.kv_get(BRANCH, "outlook", key)


def routes(sandbox: OutlookSandbox) -> list[str]:
    return [r.route for r in sandbox.requests() if "/login/" not in r.route]


# --- what the hub put in Outlook ------------------------------------------------------------------------------

def test_the_persons_mails_and_events_are_purged_and_the_receipt_says_so(
        make_sandbox_hub: Callable[..., Hub], fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub(invite_candidates=True)
    register_and_book(hub, ines(), "s1", 9)
    register_and_book(hub, karim(), "k1", 11)
    assert hub.cycle().errors == []
    hub.ingest(BRANCH, "tests", [make_event("session_booked", candidate=ines(), source_id="s2", session=make_session(
        T0 + timedelta(days=4, hours=9), ref="s2", replaces_ref="s1"))])  # moved: the same event, a new mail
    assert hub.cycle().errors == [] and hub.cycle().errors == []
    assert len([m for m in sandbox.sent(BRANCH) if m.to == [EMAIL]]) == 3
    assert len(sandbox.holding(BRANCH, EMAIL)) == 4  # 3 mails in Sent Items, 1 event she is invited to
    cid = candidate_id(hub)
    sends = [f"send:{key}" for key in state(hub, f"mails:{cid}")]
    assert len(sends) == 3

    erasure_id = forget(hub, cid)
    assert hub.cycle().errors == []

    # the clock did not move: Exchange's search index has not caught up, the hub found its mails by their ids
    for trace in (EMAIL, "Inès", "Haddad"):
        assert sandbox.holding(BRANCH, trace) == [], trace
    assert len(sandbox.holding(BRANCH, OTHER_EMAIL)) == 3 and sandbox.holding(BRANCH, "Karim")  # not him
    assert sandbox.count(PURGE_MAIL) == 3 and sandbox.count(PURGE_EVENT) == 1
    assert not [r for r in routes(sandbox) if r.startswith("DELETE")]  # nothing left in Deleted Items
    row = receipt(hub, erasure_id)
    assert row.state == "done" and row.items == (("done", erasure.MAILS_ERASED), ("done", erasure.HUB_EVENTS_ERASED))
    assert state(hub, f"mails:{cid}") is None
    assert [state(hub, key) for key in sends] == [{"s": "sent"}] * 3  # no id, no person; never sent again


def test_an_event_in_a_coachs_calendar_is_purged_there(make_sandbox_hub: Callable[..., Hub],
                                                       fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    coach = "coach.martin@cravate-demo.onmicrosoft.com"
    sandbox.add_mailbox(coach)
    hub = make_sandbox_hub(coach_mailboxes={"Paul Martin": coach})
    register_and_book(hub, ines(), "s1", 9, host="Paul Martin")
    assert hub.cycle().errors == []
    assert len(sandbox.events(coach)) == 1 and hub.store.external_ids(
        BRANCH, "session", hub.store.lookup(BRANCH, "session", "tests", "s1") or "", "outlook")[0].startswith(coach)
    erasure_id = forget(hub, candidate_id(hub))
    assert hub.cycle().errors == []
    assert sandbox.holding(coach, "Inès") == [] and sandbox.events(coach) == []
    assert [r.mailbox for r in sandbox.requests(PURGE_EVENT)] == [coach]
    assert receipt(hub, erasure_id).state == "done"


@pytest.mark.parametrize("left_as", ["draft", "new"],
                         ids=["its id recorded", "created, its id never committed (found by the property)"])
def test_the_draft_of_a_delivery_the_erasure_stopped_is_purged(make_sandbox_hub: Callable[..., Hub],
                                                                fake: tuple[OutlookSandbox, str],
                                                                left_as: str) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub(calendar=False)
    sandbox.fail_next(503, count=5, path_contains="/send")  # the welcome mail stays a draft, its delivery retried
    hub.ingest(BRANCH, "tests", [make_event("candidate_registered", candidate=ines())])
    hub.cycle()
    (draft,) = sandbox.drafts(BRANCH)
    assert draft["toRecipients"][0]["emailAddress"]["address"] == EMAIL and sandbox.sent(BRANCH) == []
    cid = candidate_id(hub)
    (key,) = state(hub, f"mails:{cid}")
    assert state(hub, f"send:{key}")["s"] == "draft"
    if left_as == "new":
        hub.store.kv_put(BRANCH, "outlook", f"send:{key}", {"s": "new"})
    erasure_id = forget(hub, cid)  # the mail's delivery is skipped from now on
    assert hub.cycle().errors == []
    assert sandbox.drafts(BRANCH) == [] and sandbox.holding(BRANCH, EMAIL) == [] and sandbox.sent(BRANCH) == []
    assert receipt(hub, erasure_id).state == "done"
    assert state(hub, f"send:{key}") is None and state(hub, f"mails:{cid}") is None


def test_older_hub_mails_are_found_by_search_and_the_rest_is_left_to_staff(make_sandbox_hub: Callable[..., Hub],
                                                                           fake: tuple[OutlookSandbox, str],
                                                                           clock: FakeClock) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub(calendar=False)
    hub.ingest(BRANCH, "tests", [make_event("candidate_registered", candidate=ines())])
    assert hub.cycle().errors == []
    cid = candidate_id(hub)
    hub.store.kv_delete(BRANCH, "outlook", f"mails:{cid}")  # a mail sent before the hub kept that list
    sandbox.staff_send_mail(BRANCH, EMAIL, "Votre CV", "Bonjour Inès, voici les corrections.")
    sandbox.receive_mail(BRANCH, EMAIL, "RE: Votre CV", "Merci !", name="Inès Haddad")
    clock.advance(minutes=2)  # the search index has caught up
    erasure_id = forget(hub, cid)
    assert hub.cycle().errors == []
    assert sorted(sandbox.holding(BRANCH, EMAIL)) == ["message in inbox: RE: Votre CV",
                                                      "message in sentitems: Votre CV"]
    assert sandbox.count(PURGE_MAIL) == 1  # the hub's welcome mail, recognised by its property
    row = receipt(hub, erasure_id)
    assert row.state == "done"
    assert set(row.items) == {("done", erasure.MAILS_ERASED), ("manual", erasure.OTHER_MAILS)}


# --- events staff booked in Outlook, read by the calendar source ------------------------------------------------

def test_staff_booked_events_go_unless_others_attend_and_are_never_read_again(
        make_sandbox_hub: Callable[..., Hub], fake: tuple[OutlookSandbox, str], clock: FakeClock) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub(calendar=False, source=True)
    day = T0.replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=2)
    alone = sandbox.staff_create_event(BRANCH, "Entretien Inès Haddad", day, day + timedelta(hours=1),
                                       attendees=[EMAIL], names={EMAIL: "Inès Haddad"})
    group = sandbox.staff_create_event(BRANCH, "Atelier CV", day + timedelta(days=1), day + timedelta(days=1, hours=2),
                                       attendees=[EMAIL, OTHER_EMAIL])
    assert [e for e in hub.cycle(force_poll=True).errors if " delivery " not in e] == []
    booked = hub.store.list_events(branch=BRANCH, kind="session_booked")
    assert len(booked) == 2 and len({row.candidate_id for row in booked}) == 1  # both read as hers
    cid = str(booked[0].candidate_id)
    assert set(state(hub, "calendar_known")) == {alone, group}

    erasure_id = forget(hub, cid)
    assert hub.cycle().errors == []

    assert [e["id"] for e in sandbox.events(BRANCH)] == [group]  # kept for the other participant
    assert sandbox.holding(BRANCH, "Entretien") == [] and sandbox.holding(BRANCH, "Inès") == []
    assert sandbox.holding(BRANCH, EMAIL) == ["event in calendar: Atelier CV"]  # staff take her off by hand
    row = receipt(hub, erasure_id)
    assert row.state == "done"
    assert ("done", erasure.STAFF_EVENTS_ERASED) in row.items and ("manual", erasure.GROUP_EVENT) in row.items
    known = state(hub, "calendar_known")
    assert set(known) == {group} and known[group]["erased"] and "ref" not in known[group]

    sandbox.staff_move_event(BRANCH, group, day + timedelta(days=5), day + timedelta(days=5, hours=2))
    clock.advance(minutes=5)
    stored = len(hub.store.list_events(branch=BRANCH, limit=1000))
    assert [e for e in hub.cycle(force_poll=True).errors if " delivery " not in e] == []
    assert len(hub.store.list_events(branch=BRANCH, limit=1000)) == stored  # neither the move nor the removal


# --- delivery contract ---------------------------------------------------------------------------------------

def test_a_fault_midway_is_retried_and_ends_done(make_sandbox_hub: Callable[..., Hub], fake: tuple[OutlookSandbox, str],
                                                 clock: FakeClock) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub()
    register_and_book(hub, ines(), "s1", 9)
    assert hub.cycle().errors == []
    erasure_id = forget(hub, candidate_id(hub))
    sandbox.fail_next(503, path_contains="/messages/")  # the event went, then the first mail's purge fails
    hub.cycle()
    assert receipt(hub, erasure_id).state == "retrying"
    assert sandbox.events(BRANCH) == [] and len(sandbox.holding(BRANCH, EMAIL)) == 2
    clock.advance(minutes=30)
    assert hub.cycle().errors == []
    assert sandbox.holding(BRANCH, EMAIL) == [] and sandbox.holding(BRANCH, "Inès") == []
    row = receipt(hub, erasure_id)
    assert row.state == "done" and row.items == (("done", erasure.MAILS_ERASED),
                                                 ("done", erasure.HUB_EVENTS_ERASED))


def test_a_second_delivery_changes_nothing(make_sandbox_hub: Callable[..., Hub],
                                           fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub()
    register_and_book(hub, ines(), "s1", 9)
    register_and_book(hub, karim(), "k1", 11)
    assert hub.cycle().errors == []
    erasure_id = forget(hub, candidate_id(hub))
    assert hub.cycle().errors == []
    first = receipt(hub, erasure_id)
    before = (len(sandbox.requests()), sandbox.holding(BRANCH, OTHER_EMAIL), sandbox.events(BRANCH))
    (forgotten,) = hub.store.list_events(branch=BRANCH, kind="candidate_forgotten")
    with hub.store.transaction():
        hub.store.redeliver(forgotten.seq, "outlook", hub.clock())
    assert hub.cycle().errors == []
    assert receipt(hub, erasure_id) == first and first.state == "done"
    assert (len(sandbox.requests()), sandbox.holding(BRANCH, OTHER_EMAIL), sandbox.events(BRANCH)) == before


def test_without_mail_readwrite_the_erasure_pauses_outlook_naming_the_permission(
        make_sandbox_hub: Callable[..., Hub], fake: tuple[OutlookSandbox, str], clock: FakeClock) -> None:
    sandbox, _ = fake
    hub = make_sandbox_hub(calendar=False)
    hub.ingest(BRANCH, "tests", [make_event("candidate_registered", candidate=ines())])
    assert hub.cycle().errors == []
    sandbox.set_roles(DEMO_TENANT_ID, DEMO_CLIENT_ID, ("Mail.Send", "Calendars.ReadWrite"))  # no Mail.ReadWrite
    erasure_id = forget(hub, candidate_id(hub))
    hub.cycle()
    pause = hub.store.pauses().get((BRANCH, "outlook"))
    assert pause is not None and "Mail.ReadWrite" in pause and "hub auth outlook --branch lyon" in pause
    assert len(sandbox.holding(BRANCH, EMAIL)) == 1 and receipt(hub, erasure_id).state != "done"
    sandbox.set_roles(DEMO_TENANT_ID, DEMO_CLIENT_ID, ("Mail.Send", "Mail.ReadWrite", "Calendars.ReadWrite"))
    assert hub.store.resume(BRANCH, "outlook")  # what `hub auth outlook` ends with
    clock.advance(minutes=30)
    assert hub.cycle().errors == []
    assert sandbox.holding(BRANCH, EMAIL) == [] and receipt(hub, erasure_id).state == "done"


# --- the sandbox: $search, Deleted Items, permanentDelete ---------------------------------------------------------

@pytest.fixture
def graph(fake: tuple[OutlookSandbox, str], clock: FakeClock) -> Graph:
    sandbox, url = fake
    sandbox.demo_settings(DemoContext(branch=BRANCH, base_url=url, people=[], now=clock))
    return Graph(url, app_token(url, tenant=DEMO_TENANT_ID, client_id=DEMO_CLIENT_ID, secret=DEMO_SECRET))


def mailbox(sandbox: OutlookSandbox) -> str:
    return sandbox.mailbox(BRANCH).address


def error_of(reply: httpx.Response) -> tuple[int, str]:
    return reply.status_code, str(reply.json()["error"]["code"])


def test_search_lags_behind_and_refuses_filter_orderby_and_an_unquoted_value(
        graph: Graph, fake: tuple[OutlookSandbox, str], clock: FakeClock) -> None:
    sandbox, _ = fake
    box = mailbox(sandbox)
    sent = sandbox.staff_send_mail(BRANCH, EMAIL, "Votre CV", "Bonjour")
    clock.advance(seconds=30)
    reply = sandbox.receive_mail(BRANCH, EMAIL, "RE: Votre CV", "Merci", name="Inès Haddad")
    sandbox.staff_send_mail(BRANCH, OTHER_EMAIL, "Atelier", "Bonjour")

    def search(value: str, **extra: str) -> httpx.Response:
        return graph("GET", f"/users/{box}/messages", params={"$search": value, **extra},
                     prefer='IdType="ImmutableId"')
    assert search(f'"participants:{EMAIL}"').json()["value"] == []  # not indexed yet
    clock.advance(minutes=2)
    assert [m["id"] for m in search(f'"participants:{EMAIL}"').json()["value"]] == [reply, sent]  # newest first
    assert [m["id"] for m in search(f'"to:{EMAIL}"').json()["value"]] == [sent]
    assert [m["id"] for m in search('"from:Haddad"').json()["value"]] == [reply]  # a display name matches
    assert error_of(search(f'"to:{EMAIL}"', **{"$filter": "isRead eq false"})) == (400, "SearchWithFilter")
    assert error_of(search(f'"to:{EMAIL}"', **{"$orderby": "receivedDateTime desc"})) == (400, "SearchWithOrderBy")
    assert search(f"to:{EMAIL}").status_code == 400
    page = search(f'"participants:{EMAIL}"', **{"$top": "1"}).json()
    assert len(page["value"]) == 1 and "$skiptoken" in page["@odata.nextLink"]


def test_delete_leaves_items_in_deleted_items_permanent_delete_does_not(graph: Graph,
                                                                        fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    box = mailbox(sandbox)
    message = sandbox.staff_send_mail(BRANCH, EMAIL, "Votre CV", "Bonjour Inès")
    assert graph("DELETE", f"/users/{box}/messages/{message}").status_code == 204
    assert sandbox.holding(BRANCH, EMAIL) == ["message in deleteditems: Votre CV"]
    listed = graph("GET", f"/users/{box}/mailFolders/deleteditems/messages", prefer='IdType="ImmutableId"').json()
    assert [m["id"] for m in listed["value"]] == [message]
    assert graph("POST", f"/users/{box}/messages/{message}/permanentDelete").status_code == 204
    assert sandbox.holding(BRANCH, EMAIL) == []
    assert error_of(graph("POST", f"/users/{box}/messages/{message}/permanentDelete")) == (404, "ErrorItemNotFound")

    start = T0 + timedelta(days=2)
    event = sandbox.staff_create_event(BRANCH, "Entretien Inès", start, start + timedelta(hours=1), attendees=[EMAIL])
    assert graph("DELETE", f"/users/{box}/events/{event}").status_code == 204
    assert sandbox.holding(BRANCH, "Inès") == ["event in deleted items: Entretien Inès"]
    assert graph("POST", f"/users/{box}/events/{event}/permanentDelete").status_code == 204
    assert sandbox.holding(BRANCH, "Inès") == []
    assert error_of(graph("POST", f"/users/{box}/events/{event}/permanentDelete")) == (404, "ErrorItemNotFound")


def test_permanent_delete_needs_the_readwrite_permissions(graph: Graph, fake: tuple[OutlookSandbox, str]) -> None:
    sandbox, _ = fake
    box = mailbox(sandbox)
    message = sandbox.staff_send_mail(BRANCH, EMAIL, "Votre CV", "Bonjour")
    start = T0 + timedelta(days=2)
    event = sandbox.staff_create_event(BRANCH, "Entretien", start, start + timedelta(hours=1))
    sandbox.set_roles(DEMO_TENANT_ID, DEMO_CLIENT_ID, ("Mail.Send",))
    assert error_of(graph("POST", f"/users/{box}/messages/{message}/permanentDelete")) == (403, "ErrorAccessDenied")
    assert error_of(graph("POST", f"/users/{box}/events/{event}/permanentDelete")) == (403, "ErrorAccessDenied")
    assert json.dumps(sandbox.holding(BRANCH, EMAIL)) == '["message in sentitems: Votre CV"]'
