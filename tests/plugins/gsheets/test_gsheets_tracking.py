"""The tracking sheet: one row per candidate kept true by the hub, staff columns untouched, batched writes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from gsheets_helpers import BRANCH, SHEET_ID, poll, sync
from test_gsheets_form import PARIS, answer, candidates

from hub.app import Hub
from hub.events import EventKind, Outcome, OutcomeCategory
from hub.testing import FakeClock, make_candidate, make_event, make_session
from hub_gsheets.dates import from_serial
from hub_gsheets.sandbox import FORM_SHEET_FR, SheetsSandbox
from hub_gsheets.tracking import HEADERS, TrackingSheet

TRACKING = "Suivi"


def table(sandbox: SheetsSandbox) -> list[dict[str, Any]]:
    rows = sandbox.values(SHEET_ID, TRACKING)
    header = rows[0]
    return [{h: (r[i] if i < len(r) else None) for i, h in enumerate(header)} for r in rows[1:]]


def register(hub: Hub, sandbox: SheetsSandbox, count: int) -> None:
    for i in range(count):
        sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(i, first=f"Prénom{i}", last="Dupré"))
    sync(hub)


def test_rows_created_with_french_headers_and_dropdowns(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    register(gsheets_hub, sandbox, 3)

    header = sandbox.values(SHEET_ID, TRACKING)[0]
    assert header == list(HEADERS.values())
    rows = table(sandbox)
    assert [r["Prénom"] for r in rows] == ["Prénom0", "Prénom1", "Prénom2"]
    assert all(r["ID hub (ne pas modifier)"].startswith("cnd_") for r in rows)
    assert from_serial(rows[0]["Inscription"], PARIS) == from_serial(answer(0)[0], PARIS)
    sheet = sandbox.sheet(SHEET_ID, TRACKING)
    presence, result = header.index("Présence"), header.index("Résultat")
    listed = [[v["userEnteredValue"] for v in sheet.validations[c]["condition"]["values"]] for c in (presence, result)]
    config = gsheets_hub.config.branches[BRANCH]
    assert listed == [config.attendance_labels(), config.result_labels()]
    assert sheet.validations[presence]["condition"]["type"] == "ONE_OF_LIST"
    assert "Présent" in listed[0] and "CDI" in listed[1]


def test_bookings_cancellations_and_reschedules_update_the_row(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                              clock: FakeClock) -> None:
    register(gsheets_hub, sandbox, 1)
    cid = table(sandbox)[0]["ID hub (ne pas modifier)"]
    person = gsheets_hub.context(BRANCH, "gsheets").candidate(cid)
    start = clock() + timedelta(days=3)
    first = make_session(start=start, module="Module 1")
    gsheets_hub.ingest(BRANCH, "calendly", [make_event(EventKind.SESSION_BOOKED, candidate=person, session=first)])
    sync(gsheets_hub)
    row = table(sandbox)[0]
    assert from_serial(row["Prochain RDV"], PARIS) == start.astimezone(PARIS)
    assert row["Programme/module"] == "Atelier Coup de Pouce / Module 1"

    clock.advance(minutes=5)
    moved = make_session(start=start + timedelta(days=2), replaces_ref=first.ref)
    gsheets_hub.ingest(BRANCH, "calendly", [make_event(EventKind.SESSION_BOOKED, candidate=person, session=moved,
                                                       occurred_at=clock())])
    sync(gsheets_hub)
    assert from_serial(table(sandbox)[0]["Prochain RDV"], PARIS) == (start + timedelta(days=2)).astimezone(PARIS)

    clock.advance(minutes=5)
    gsheets_hub.ingest(BRANCH, "calendly", [make_event(EventKind.SESSION_CANCELLED, candidate=person,
                                                       session=moved.model_copy(update={"status": "cancelled"}),
                                                       occurred_at=clock())])
    sync(gsheets_hub)
    assert table(sandbox)[0]["Prochain RDV"] is None
    assert len(table(sandbox)) == 1


def test_staff_columns_are_never_written(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    headers = list(HEADERS.values())
    staff_header = [*headers[:3], "Notes de l'équipe", *headers[3:], "Relance"]
    sandbox.create(SHEET_ID, {FORM_SHEET_FR: sandbox.values(SHEET_ID, FORM_SHEET_FR), TRACKING: [staff_header]})
    sandbox.set_cell(SHEET_ID, TRACKING, 2, "Notes de l'équipe", "ligne saisie à la main")
    register(gsheets_hub, sandbox, 2)
    sandbox.set_cell(SHEET_ID, TRACKING, 3, "Notes de l'équipe", "très motivée")
    sandbox.set_cell(SHEET_ID, TRACKING, 3, "Relance", "appeler lundi")
    cid = table(sandbox)[1]["ID hub (ne pas modifier)"]
    person = gsheets_hub.context(BRANCH, "gsheets").candidate(cid)
    gsheets_hub.ingest(BRANCH, "calendly", [make_event(EventKind.SESSION_BOOKED, candidate=person)])
    sync(gsheets_hub)

    rows = table(sandbox)
    assert sandbox.values(SHEET_ID, TRACKING)[0] == staff_header  # no header added or moved
    assert rows[0]["Notes de l'équipe"] == "ligne saisie à la main" and rows[0]["Prénom"] is None
    assert (rows[1]["Notes de l'équipe"], rows[1]["Relance"]) == ("très motivée", "appeler lundi")
    assert rows[1]["Prochain RDV"] is not None and len(rows) == 3


def test_burst_of_500_stays_far_under_the_write_quota(make_gsheets_hub: Any, sandbox: SheetsSandbox) -> None:
    """The figures quoted in the report: requests for 500 registrations then 500 bookings."""
    sandbox.quota.enabled = True  # Google's per-user and per-project quotas: a 429 would fail the test
    hub = make_gsheets_hub()
    sync(hub)  # setup of the tracking sheet, once
    setup = {k: sandbox.count(k) for k in ("read", "write")}
    sheet = sandbox.sheet(SHEET_ID, FORM_SHEET_FR)
    sheet.rows += [answer(i) for i in range(500)]
    sheet.row_count = 501
    sync(hub)
    registrations = {k: sandbox.count(k) - setup[k] for k in ("read", "write")}
    assert len(table(sandbox)) == 500
    people = [hub.context(BRANCH, "gsheets").candidate(r["ID hub (ne pas modifier)"]) for r in table(sandbox)]
    hub.ingest(BRANCH, "calendly", [make_event(EventKind.SESSION_BOOKED, candidate=p) for p in people])
    before = {k: sandbox.count(k) for k in ("read", "write")}
    sync(hub)
    bookings = {k: sandbox.count(k) - before[k] for k in ("read", "write")}
    print(f"\nsetup: {setup}; 500 registrations: {registrations}; 500 bookings: {bookings}")
    assert all(r.status == 200 for r in sandbox.requests)
    assert registrations["write"] == 1 and bookings["write"] == 1  # one append, then one values.batchUpdate
    assert registrations["read"] <= 3 and bookings["read"] <= 3
    assert all(r["Prochain RDV"] for r in table(sandbox)) and len(table(sandbox)) == 500


def test_crash_mid_batch_then_restart_upserts(gsheets_hub: Hub, sandbox: SheetsSandbox, clock: FakeClock,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    register(gsheets_hub, sandbox, 2)
    for i in range(2, 6):
        sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(i, first=f"Prénom{i}", last="Dupré"))
    gsheets_hub.cycle(force_poll=True)  # 4 new pending rows (+ nothing else)
    people = candidates(gsheets_hub)
    assert len(people) == 6 and len(table(sandbox)) == 2
    gsheets_hub.ingest(BRANCH, "calendly", [make_event(EventKind.SESSION_BOOKED, candidate=p) for p in people])
    gsheets_hub.dispatcher.drain()  # 2 existing rows to update, 4 to add

    def crash_on_write(self: TrackingSheet, *args: Any) -> Any:
        raise SystemExit("💥")

    monkeypatch.setattr(TrackingSheet, "write", crash_on_write)
    with pytest.raises(SystemExit):
        poll(gsheets_hub, "suivi")
    assert len(table(sandbox)) == 2  # one request for new and changed rows: nothing went through
    monkeypatch.undo()

    restarted = Hub(gsheets_hub.config, gsheets_hub.registry, clock=clock)  # same store, new process
    try:
        poll(restarted, "suivi")
        rows = table(sandbox)
        assert len(rows) == 6 and len({r["ID hub (ne pas modifier)"] for r in rows}) == 6
        assert all(r["Prochain RDV"] for r in rows)
        assert restarted.context(BRANCH, "gsheets").state_get("pending") == {}
    finally:
        restarted.close()


def test_outcome_from_another_tool_is_written_and_not_echoed(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    register(gsheets_hub, sandbox, 1)
    cid = table(sandbox)[0]["ID hub (ne pas modifier)"]
    person = make_candidate(id=cid, email=None, phone=None, first_name=None, last_name=None, ref=None)
    outcome = Outcome(category=OutcomeCategory.ABSENT, observed_at=gsheets_hub.clock())
    gsheets_hub.ingest(BRANCH, "calendly", [make_event(EventKind.OUTCOME_RECORDED, candidate=person,
                                                       outcome=outcome)])
    sync(gsheets_hub)
    assert table(sandbox)[0]["Présence"] == "Absent"
    assert poll(gsheets_hub, "suivi") == 0
    assert gsheets_hub.store.list_events(branch=BRANCH, kind="outcome_recorded")[0].source == "calendly"
    assert len(gsheets_hub.store.list_events(branch=BRANCH, kind="outcome_recorded")) == 1


def test_suivi_hub_says_who_to_call_and_whose_address_bounced(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                              clock: FakeClock) -> None:
    from hub.events import Candidate
    from hub_gsheets.tracking import BOUNCED, NEEDS_CALL

    register(gsheets_hub, sandbox, 2)
    first, second = (r["ID hub (ne pas modifier)"] for r in table(sandbox))
    clock.advance(days=11)
    gsheets_hub.cycle()  # the hub notices that nobody booked: one candidate_needs_call each
    sync(gsheets_hub)
    assert [r["Suivi hub"] for r in table(sandbox)] == [NEEDS_CALL, NEEDS_CALL]
    gsheets_hub.ingest(BRANCH, "calendly", [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(id=first),
                                                       session=make_session(start=clock() + timedelta(days=2)))])
    gsheets_hub.ingest(BRANCH, "gmail", [make_event(EventKind.MESSAGE_BOUNCED, candidate=Candidate(id=second),
                                                    bounce={"message_id": "msg_x", "reason": "5.1.1"})])
    sync(gsheets_hub)
    notes = {r["ID hub (ne pas modifier)"]: r["Suivi hub"] for r in table(sandbox)}
    assert notes[first] in ("", None) and notes[second] == BOUNCED  # booked: no more to call (a cleared cell)
    assert len([e for e in gsheets_hub.store.list_events(kind="candidate_needs_call")]) == 2  # once per person


def test_suivi_hub_shows_who_asked_for_no_more_messages(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    from hub.privacy.optout import record as opt_out
    from hub_gsheets.tracking import OPTED_OUT

    register(gsheets_hub, sandbox, 2)
    first, second = (r["ID hub (ne pas modifier)"] for r in table(sandbox))
    assert opt_out(gsheets_hub, BRANCH, second) is True  # her link's button, as the web page records it
    assert opt_out(gsheets_hub, BRANCH, second) is False  # twice: nothing more
    sync(gsheets_hub)
    notes = {r["ID hub (ne pas modifier)"]: r["Suivi hub"] for r in table(sandbox)}
    assert notes[second] == OPTED_OUT and notes[first] in ("", None)
    assert len(gsheets_hub.store.list_events(branch=BRANCH, kind="candidate_opted_out")) == 1


def test_suivi_hub_shows_the_latest_contact_preference(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                       clock: FakeClock) -> None:
    """Issue 16: an opt-out by SMS names the medium; opting back in clears the note."""
    register(gsheets_hub, sandbox, 1)
    (cid,) = (r["ID hub (ne pas modifier)"] for r in table(sandbox))
    ctx = gsheets_hub.context(BRANCH, "gsheets")
    ctx.record_contact_preference(cid, "sms", opted_out=True, via="sms STOP")
    sync(gsheets_hub)
    assert [r["Suivi hub"] for r in table(sandbox)] == ["Ne souhaite plus recevoir de messages par SMS"]
    clock.advance(60)
    ctx.record_contact_preference(cid, "sms", opted_out=False, via="staff")
    sync(gsheets_hub)
    assert [r["Suivi hub"] for r in table(sandbox)] in ([""], [None])
