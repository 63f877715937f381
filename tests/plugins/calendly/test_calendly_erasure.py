"""Erasure in Calendly (issue 14): `hub forget` reaches the person's bookings in Calendly.

Enterprise plan: Calendly's data compliance API, and once Calendly has done its work (it takes up to 7 days;
the sandbox's `process_data_deletions`) the fake holds nothing of the person. Other plans, or a token without
the scope or the permission: the delivery is done and the receipt tells staff the admin centre's step. The
connector's own state about the person goes; a transient failure is retried; a second delivery changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tenacity import wait_none

from hub.app import Hub
from hub.events import Candidate
from hub.identity import email_key
from hub.store.rows import ReceiptRow
from hub.testing import FakeClock, make_event
from hub_calendly import erasure
from hub_calendly.client import CalendlyClient, uuid_of
from hub_calendly.sandbox import CalendlySandbox
from hub_calendly.sandbox_compliance import NO_DATA_REQUESTS, UPGRADE

from .conftest import BRANCH, poller

EMAIL, FIRST, LAST, PHONE = "aicha.benali@exemple.invalid", "Aïcha", "Benali", "06 11 22 33 44"
ANSWERS = {"Téléphone": PHONE, "Structure qui vous oriente": "Mission locale Sud"}
PATH = "/data_compliance/deletion/invitees"
SCOPED = {"users:read", "scheduled_events:write", "data_compliance:write"}


def enterprise(sandbox: CalendlySandbox) -> None:
    """An Enterprise account whose token owner Calendly's support gave the data requests permission."""
    sandbox.set_plan(BRANCH, "enterprise")
    sandbox.set_token(BRANCH, data_requests=True)


def booked(hub: Hub, sandbox: CalendlySandbox, clock: FakeClock, *, days: float = 2, email: str = EMAIL,
           **kw: Any) -> tuple[str, str]:
    """Aïcha books through Calendly and the booking poller reads it: (her hub id, the invitee URI)."""
    kw.setdefault("answers", ANSWERS)
    uri = sandbox.book(BRANCH, email=email, first_name=FIRST, last_name=LAST, start=clock() + timedelta(days=days),
                       **kw)
    hub.poll(BRANCH, "calendly", poller(hub, "calendly-bookings"))
    cid = hub.store.find_candidate(BRANCH, email_key=email_key(email), phone_key=None)
    assert cid is not None
    return cid, uri


def receipt(hub: Hub, erasure_id: str) -> ReceiptRow:
    (row,) = [r for r in hub.store.receipts(erasure_id) if r.plugin == "calendly"]
    return row


def deletion_requests(sandbox: CalendlySandbox) -> list[dict[str, Any]]:
    return sandbox.account(BRANCH).deletion_requests


def no_personal_data(row: ReceiptRow) -> None:
    for _, item in row.items:
        assert len(item) < 300, item  # whole, not cut by the receipt's limit
        for needle in (EMAIL, FIRST, LAST, "11 22 33", "exemple.invalid"):
            assert needle.casefold() not in item.casefold(), item


def test_enterprise_erases_through_the_api_and_the_fake_keeps_no_trace(
        calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    enterprise(sandbox)
    cid, uri = booked(calendly_hub, sandbox, clock, days=-1)  # a session yesterday, marked a no-show
    sandbox.mark_no_show(uri)
    calendly_hub.poll(BRANCH, "calendly", poller(calendly_hub, "calendly-no-shows"))
    ctx = calendly_hub.context(BRANCH, "calendly")
    assert ctx.state_get(f"no_show:{uuid_of(uri)}")  # the connector's own trace of the person
    assert sandbox.holds(BRANCH, EMAIL) and sandbox.holds(BRANCH, LAST) and sandbox.holds(BRANCH, PHONE)

    plan = calendly_hub.eraser.forget(BRANCH, cid)
    assert calendly_hub.cycle().errors == []

    row = receipt(calendly_hub, plan.erasure_id)
    assert row.state == "done"
    assert row.items == (("done", erasure.REQUESTED), ("done", erasure.OWN_STATE))
    no_personal_data(row)
    (request,) = deletion_requests(sandbox)
    assert request["emails"] == [EMAIL] and request["status"] == "pending"  # Calendly works later
    assert ctx.state_get(f"no_show:{uuid_of(uri)}") is None

    assert sandbox.process_data_deletions(BRANCH) == 1
    for needle in (EMAIL, FIRST, LAST, PHONE, "Mission locale Sud"):
        assert sandbox.holds(BRANCH, needle) == 0, needle
    invitee = sandbox.account(BRANCH).invitee(uri)[1]
    assert invitee["email"].endswith("@deleted.calendly.com") and invitee["questions_and_answers"] == []


def test_the_address_the_person_booked_with_is_erased_too(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                          clock: FakeClock) -> None:
    """She booked with one address, then gave the branch another one (the hub keeps the newer): the address of
    the booking, which only Calendly still knows, is sent too."""
    enterprise(sandbox)
    cid, _ = booked(calendly_hub, sandbox, clock)
    newer = Candidate(id=cid, email="aicha.pro@exemple.invalid")
    calendly_hub.ingest(BRANCH, "calendly", [make_event("candidate_registered", candidate=newer, source_id="form-2")])
    assert calendly_hub.store.find_candidate(BRANCH, email_key=email_key("aicha.pro@exemple.invalid"),
                                             phone_key=None) == cid

    plan = calendly_hub.eraser.forget(BRANCH, cid)
    calendly_hub.cycle()

    assert receipt(calendly_hub, plan.erasure_id).items[0] == ("done", erasure.REQUESTED)
    (request,) = deletion_requests(sandbox)
    assert request["emails"] == [EMAIL, "aicha.pro@exemple.invalid"]
    sandbox.process_data_deletions(BRANCH)
    assert sandbox.holds(BRANCH, EMAIL) == 0


@pytest.mark.parametrize(("setup", "expected"), [
    pytest.param(lambda s: None, erasure.PLAN_REFUSED, id="standard-plan"),
    pytest.param(lambda s: s.set_plan(BRANCH, "free"), erasure.PLAN_REFUSED, id="free-plan"),
    pytest.param(lambda s: (s.set_plan(BRANCH, "enterprise"), s.set_token(BRANCH, scopes=SCOPED - {
        "data_compliance:write"}, data_requests=True)), erasure.SCOPE_MISSING, id="no-scope"),
    pytest.param(lambda s: s.set_plan(BRANCH, "enterprise"), erasure.NO_PERMISSION, id="no-data-requests"),
])
def test_without_the_api_the_delivery_is_done_and_staff_are_told_the_step(
        calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock,
        setup: Callable[[CalendlySandbox], object], expected: str) -> None:
    cid, _ = booked(calendly_hub, sandbox, clock, days=-3)  # clock: 2026-03-02 09:00 UTC, 10:00 in Paris
    setup(sandbox)
    plan = calendly_hub.eraser.forget(BRANCH, cid)
    assert calendly_hub.cycle().errors == []

    row = receipt(calendly_hub, plan.erasure_id)
    assert row.state == "done"
    assert row.items == (("manual", expected),
                         ("manual", "Pour retrouver la personne dans Calendly (Meetings) : la réservation "
                                    "du 27/02/2026 10:00"),
                         ("done", erasure.OWN_STATE))
    assert "Admin center > Security > Data deletion" in expected
    no_personal_data(row)
    assert deletion_requests(sandbox) == []
    assert sandbox.holds(BRANCH, EMAIL)  # Calendly keeps it until staff take the step
    assert calendly_hub.store.list_erasures(BRANCH, open_only=True) == []  # nothing left to wait for


def test_a_number_for_sms_reminders_and_a_booking_to_come_are_named_for_staff(
        calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    """Calendly's help centre does not list the SMS reminder number among what its deletion erases; a booking
    still to come is staff's call (cancelling it would mail the person, or a whole workshop)."""
    enterprise(sandbox)
    cid, _ = booked(calendly_hub, sandbox, clock, days=4, phone="+33611223344")
    plan = calendly_hub.eraser.forget(BRANCH, cid)
    calendly_hub.cycle()

    row = receipt(calendly_hub, plan.erasure_id)
    assert row.state == "done"
    statuses = [status for status, _ in row.items]
    assert statuses == ["done", "manual", "manual", "done"]
    sms, coming = row.items[1][1], row.items[2][1]
    assert "numéro de rappel SMS" in sms and "06/03/2026 10:00" in sms
    assert coming.startswith("Réservation Calendly à venir le 06/03/2026 10:00 : annulez-la")
    no_personal_data(row)
    sandbox.process_data_deletions(BRANCH)
    assert sandbox.holds(BRANCH, EMAIL) == 0 and sandbox.holds(BRANCH, "+33611223344") == 1  # as Calendly says


def test_many_bookings_under_two_addresses_are_pointed_to_whole_and_without_personal_data(
        calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    """Seven past bookings, some under a second address and with an SMS number, on a Standard plan: the items
    stay under the receipt's 300 characters, give dates and counts, never an address."""
    cid, _ = booked(calendly_hub, sandbox, clock, days=-6)
    for n in range(6):
        sandbox.book(BRANCH, email="aicha.pro@exemple.invalid" if n % 2 else EMAIL, first_name=FIRST,
                     last_name=LAST, start=clock() - timedelta(days=5 - n * 0.5), utm_content=cid,
                     phone="+33611223344")
    calendly_hub.poll(BRANCH, "calendly", poller(calendly_hub, "calendly-bookings"))
    assert len(calendly_hub.store.sessions_of(BRANCH, cid)) == 7
    plan = calendly_hub.eraser.forget(BRANCH, cid)
    calendly_hub.cycle()

    row = receipt(calendly_hub, plan.erasure_id)
    assert [status for status, _ in row.items] == ["manual", "manual", "manual", "done"]
    finding, sms = row.items[1][1], row.items[2][1]
    assert finding.endswith("et 2 autres ; 2 adresses e-mail différentes, à saisir toutes")
    assert "les réservations des 24/02/2026 10:00, 25/02/2026 10:00, 25/02/2026 22:00" in finding
    assert "les réservations des" in sms and sms.count("/2026") == 3 and "et 3 autres" in sms
    no_personal_data(row)


@pytest.mark.parametrize(("status", "times"), [
    pytest.param(429, 1, id="429"),  # not retried within the call: Calendly said when to come back
    pytest.param(503, 3, id="503"),  # the client's three tries within the call, all failed
])
def test_a_transient_failure_is_retried_and_ends_done(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                      clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
                                                      status: int, times: int) -> None:
    enterprise(sandbox)
    monkeypatch.setattr(erasure, "client_for", lambda hub, settings: CalendlyClient(
        settings.token.get_secret_value(), settings.api_url, clock=hub.now, retry_wait=wait_none()))
    cid, _ = booked(calendly_hub, sandbox, clock)
    sandbox.fail_next(BRANCH, status, reset=30, times=times, path=PATH)  # the deletion request fails
    plan = calendly_hub.eraser.forget(BRANCH, cid)
    calendly_hub.cycle()

    row = receipt(calendly_hub, plan.erasure_id)
    assert row.state == "retrying" and row.items == ()
    assert deletion_requests(sandbox) == []
    assert calendly_hub.store.list_erasures(BRANCH, open_only=True)  # the record is kept for the retry

    clock.advance(3600)
    calendly_hub.cycle()
    row = receipt(calendly_hub, plan.erasure_id)
    assert row.state == "done" and row.items[0] == ("done", erasure.REQUESTED)
    assert len(deletion_requests(sandbox)) == 1
    assert calendly_hub.store.list_erasures(BRANCH, open_only=True) == []


def test_delivered_again_it_changes_nothing(calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    """A second delivery (`resync --force`) comes after the hub dropped the erasure's payload and the person's
    links: the receipt stays what it was and Calendly is asked nothing more."""
    enterprise(sandbox)
    cid, _ = booked(calendly_hub, sandbox, clock)
    plan = calendly_hub.eraser.forget(BRANCH, cid)
    calendly_hub.cycle()
    first = receipt(calendly_hub, plan.erasure_id)
    assert calendly_hub.store.erasure_payload(plan.erasure_id) is None  # finished
    requests = sandbox.request_count(BRANCH)

    (event,) = calendly_hub.store.list_events(branch=BRANCH, kind="candidate_forgotten")
    calendly_hub.store.redeliver(event.seq, "calendly", clock())
    calendly_hub.cycle()

    again = receipt(calendly_hub, plan.erasure_id)
    assert again.state == "done" and again.items == first.items
    assert sandbox.request_count(BRANCH) == requests and len(deletion_requests(sandbox)) == 1


def test_a_booking_calendly_anonymized_is_not_read_back_as_someone_new(
        calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    """After Calendly's deletion the invitee stays, anonymized; a no-show marked on it later, or a full re-read,
    must not register a nameless person."""
    enterprise(sandbox)
    cid, uri = booked(calendly_hub, sandbox, clock, days=-1)
    calendly_hub.eraser.forget(BRANCH, cid)
    calendly_hub.cycle()
    sandbox.process_data_deletions(BRANCH)

    sandbox.mark_no_show(uri)
    calendly_hub.poll(BRANCH, "calendly", poller(calendly_hub, "calendly-no-shows"))
    bookings = poller(calendly_hub, "calendly-bookings")
    calendly_hub.poll(BRANCH, "calendly", bookings, cursor=bookings.resync_cursor(clock() - timedelta(days=30)),
                      use_stored_cursor=False)
    assert calendly_hub.store.count("candidates", BRANCH) == 1  # the erased record alone
    assert calendly_hub.store.list_problems(BRANCH) == []


def _post(url: str, token: str, body: object) -> httpx.Response:
    return httpx.post(url + PATH, json=body, headers={"Authorization": f"Bearer {token}"})


def test_the_fake_endpoint_is_as_strict_as_calendly(sandbox: CalendlySandbox, sandbox_url: str,
                                                    clock: FakeClock) -> None:
    token = sandbox.token_for(BRANCH)
    sandbox.book(BRANCH, email=EMAIL, first_name=FIRST, last_name=LAST, start=clock() + timedelta(days=1))
    body = {"emails": [EMAIL]}

    refused = _post(sandbox_url, token, body)  # a Standard plan
    assert (refused.status_code, refused.json()) == (403, {"title": "Permission Denied", "message": UPGRADE})
    sandbox.set_plan(BRANCH, "enterprise")
    assert _post(sandbox_url, token, body).json()["message"] == NO_DATA_REQUESTS  # not granted by support
    sandbox.set_token(BRANCH, data_requests=True, role="user")
    assert _post(sandbox_url, token, body).json()["message"] == NO_DATA_REQUESTS  # admins and owners only
    sandbox.set_token(BRANCH, scopes={"users:read", "scheduled_events:read"}, role="admin")
    missing = _post(sandbox_url, token, body)
    assert missing.status_code == 403 and missing.json()["required_scopes"] == ["data_compliance:write"]
    sandbox.set_token(BRANCH, scopes=SCOPED)

    for bad in ({}, {"emails": []}, {"emails": EMAIL}, {"emails": ["pas-une-adresse"]},
                {"emails": [f"p{n}@exemple.invalid" for n in range(101)]}):
        answer = _post(sandbox_url, token, bad)
        assert answer.status_code == 400 and answer.json()["details"][0]["parameter"] == "emails", bad
    assert deletion_requests(sandbox) == [] and sandbox.holds(BRANCH, EMAIL)

    accepted = _post(sandbox_url, token, {"emails": [EMAIL.upper()] + [f"p{n}@exemple.invalid" for n in range(99)]})
    assert (accepted.status_code, accepted.json()) == (202, {})
    assert sandbox.holds(BRANCH, LAST)  # nothing changes before Calendly's back office has worked
    assert sandbox.process_data_deletions(BRANCH) == 1
    assert sandbox.holds(BRANCH, EMAIL) == 0 and sandbox.holds(BRANCH, LAST) == 0
    assert deletion_requests(sandbox)[0]["emails"] == 100  # a count, not the addresses
