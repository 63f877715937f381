"""`candidate_forgotten` in Google Sheets (issue 14): the person's tracking rows deleted, their form answers
cleared, the connector's state about them dropped, Google Forms' own copy and the version history left to staff
in the receipt; idempotent, retried, and a re-poll does not bring them back. Also the sandbox's clear and
delete endpoints, as strict as Sheets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from gsheets_helpers import BRANCH, SHEET_ID, poll, problems, sync
from test_gsheets_form import answer, registered

from hub.app import Hub
from hub.events import EventKind
from hub.resync import resync
from hub.sandbox import serve
from hub.store.rows import ReceiptRow
from hub.testing import FakeClock, make_candidate, make_event
from hub_gsheets.erasure import FORMS_BY_HAND, HISTORY_BY_HAND
from hub_gsheets.sandbox import DEMO_TOKEN, FORM_SHEET_FR, SheetsSandbox

TRACKING = "Suivi"
ID = "ID hub (ne pas modifier)"
EMAIL, PHONE, DIGITS = "zoe.lefevre@exemple.fr", "06 12 34 56 78", "612345678"
OTHER = "karim.haddad@exemple.fr"
TRACKING_DONE = ("done", f"ligne du tableau de suivi (onglet « {TRACKING} »)")
FORM_DONE = ("done", f"réponse(s) au formulaire (onglet « {FORM_SHEET_FR} », cellules vidées)")
FORMS_MANUAL = ("manual", FORMS_BY_HAND.format(tab=FORM_SHEET_FR))
HISTORY_MANUAL = ("manual", HISTORY_BY_HAND)


def traces(sandbox: SheetsSandbox, *needles: str) -> list[tuple[str, str, int, Any]]:
    """Every cell of every tab that holds one of `needles` (a phone by its last nine digits)."""
    found = []
    for book in sandbox.spreadsheets.values():
        for sheet in book.sheets.values():
            for r, row in enumerate(sheet.rows, start=1):
                for value in row:
                    text = str(value) if value is not None else ""
                    digits = re.sub(r"\D", "", text)
                    if any(n.casefold() in text.casefold() or (n.isdigit() and n in digits) for n in needles):
                        found.append((book.spreadsheet_id, sheet.title, r, value))
    return found


def tracking_rows(sandbox: SheetsSandbox) -> list[dict[str, Any]]:
    rows = sandbox.values(SHEET_ID, TRACKING)
    return [{h: (r[i] if i < len(r) else None) for i, h in enumerate(rows[0])} for r in rows[1:]]


def hub_id(sandbox: SheetsSandbox, email: str) -> str:
    [cid] = [r[ID] for r in tracking_rows(sandbox) if r["E-mail"] == email]
    return str(cid)


def receipt(hub: Hub, erasure_id: str) -> ReceiptRow:
    [row] = [r for r in hub.store.receipts(erasure_id) if r.plugin == "gsheets"]
    return row


def private_state(hub: Hub) -> str:
    rows = hub.store._read("SELECT key, value FROM kv WHERE branch=? AND plugin='gsheets'", (BRANCH,)).fetchall()
    return json.dumps([list(r) for r in rows], ensure_ascii=False)


def zoe_and_karim(hub: Hub, sandbox: SheetsSandbox) -> str:
    """Zoé and Karim register through the form and get their tracking rows; staff keep a note on Zoé's row in
    a column of their own. Zoé's hub id."""
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(0, "Zoé", "Lefèvre", email=EMAIL, phone=PHONE))
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(1, "Karim", "Haddad", email=OTHER))
    sync(hub)
    tab = sandbox.sheet(SHEET_ID, TRACKING)
    tab.col_count += 1
    notes = len(tab.rows[0])
    sandbox.set_cell(SHEET_ID, TRACKING, 1, notes, "Notes")
    cid = hub_id(sandbox, EMAIL)
    row = sandbox.find_row(SHEET_ID, TRACKING, "E-mail", EMAIL)
    sandbox.set_cell(SHEET_ID, TRACKING, row, notes, "Zoé rappelle lundi")
    sandbox.set_cell(SHEET_ID, TRACKING, row, "Présence", "Présent")
    poll(hub, "suivi")  # her attendance read: the change waits in the cursor until the next sync folds it in
    assert traces(sandbox, EMAIL, "Zoé", DIGITS) and cid in private_state(hub)
    return cid


def test_the_person_s_rows_answers_and_state_are_erased_and_the_rest_kept(gsheets_hub: Hub,
                                                                          sandbox: SheetsSandbox) -> None:
    cid = zoe_and_karim(gsheets_hub, sandbox)
    form_before = sandbox.values(SHEET_ID, FORM_SHEET_FR)
    grid = sandbox.sheet(SHEET_ID, TRACKING).row_count
    before = len(sandbox.requests)

    plan = gsheets_hub.eraser.forget(BRANCH, cid)
    assert "gsheets" in plan.plugins
    gsheets_hub.cycle()

    assert traces(sandbox, EMAIL, "Zoé", "Lefèvre", DIGITS) == []
    form = sandbox.values(SHEET_ID, FORM_SHEET_FR)
    assert form == [form_before[0], [], form_before[2]]  # her row cleared, not deleted: Karim's keeps its number
    assert [(r["Prénom"], r["Notes"]) for r in tracking_rows(sandbox)] == [("Karim", None)]  # her row deleted
    assert sandbox.sheet(SHEET_ID, TRACKING).row_count == grid  # the grid keeps its size
    # four requests: read the tracking tab, delete her row; read the form tab, clear her answer
    assert [r.method for r in sandbox.requests[before:]] == ["values.batchGet", "spreadsheets.batchUpdate",
                                                             "values.batchGet", "values.batchClear"]
    done = receipt(gsheets_hub, plan.erasure_id)
    assert done.state == "done" and set(done.items) == {TRACKING_DONE, FORM_DONE, FORMS_MANUAL, HISTORY_MANUAL}
    assert not any(word in item for _, item in done.items for word in ("Zoé", "Lefèvre", EMAIL, DIGITS))
    poll(gsheets_hub, "suivi")  # the next sync does not bring back what was seen of her
    assert cid not in private_state(gsheets_hub) and EMAIL not in private_state(gsheets_hub)


def test_a_second_delivery_changes_nothing(gsheets_hub: Hub, sandbox: SheetsSandbox, clock: FakeClock) -> None:
    cid = zoe_and_karim(gsheets_hub, sandbox)
    plan = gsheets_hub.eraser.forget(BRANCH, cid)
    gsheets_hub.cycle()
    first = receipt(gsheets_hub, plan.erasure_id)
    cells = {t: sandbox.values(SHEET_ID, t) for t in (FORM_SHEET_FR, TRACKING)}
    writes = sandbox.count(kind="write")

    [event] = gsheets_hub.store.list_events(branch=BRANCH, kind=EventKind.CANDIDATE_FORGOTTEN.value)
    with gsheets_hub.store.transaction():
        gsheets_hub.store.redeliver(event.seq, "gsheets", clock())
    gsheets_hub.cycle()

    assert receipt(gsheets_hub, plan.erasure_id) == first
    assert {t: sandbox.values(SHEET_ID, t) for t in cells} == cells
    assert sandbox.count(kind="write") == writes  # nothing left to delete or clear: no write at all


def test_a_failure_halfway_is_retried_and_ends_done(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                     clock: FakeClock) -> None:
    cid = zoe_and_karim(gsheets_hub, sandbox)
    sandbox.fail_next(503, kind="values.batchClear")  # the tracking row goes, the form answer does not (yet)
    plan = gsheets_hub.eraser.forget(BRANCH, cid)
    gsheets_hub.cycle()

    retrying = receipt(gsheets_hub, plan.erasure_id)
    assert retrying.state == "retrying" and "503" in (retrying.last_error or "")
    assert traces(sandbox, EMAIL) == [(SHEET_ID, FORM_SHEET_FR, 2, EMAIL)]
    clock.advance(hours=1)
    gsheets_hub.cycle()

    done = receipt(gsheets_hub, plan.erasure_id)
    assert done.state == "done" and set(done.items) == {TRACKING_DONE, FORM_DONE, FORMS_MANUAL, HISTORY_MANUAL}
    assert traces(sandbox, EMAIL, "Zoé", DIGITS) == []
    assert [r["Prénom"] for r in tracking_rows(sandbox)] == ["Karim"]  # the retry deleted nobody else's row


def test_a_re_read_a_rebuild_or_her_answer_back_do_not_bring_her_back_a_new_answer_does(
        gsheets_hub: Hub, sandbox: SheetsSandbox, clock: FakeClock) -> None:
    cid = zoe_and_karim(gsheets_hub, sandbox)
    her_answer = sandbox.values(SHEET_ID, FORM_SHEET_FR)[1]
    gsheets_hub.eraser.forget(BRANCH, cid)
    gsheets_hub.cycle()
    people = len(registered(gsheets_hub))

    # `hub resync`: the form tab read from its first row, every tracking row rewritten from the hub's state
    result = resync(gsheets_hub, branch=BRANCH, plugin="gsheets", echo=lambda _: None)
    sync(gsheets_hub)
    assert result.new == 0 and not result.failures
    assert [r["Prénom"] for r in tracking_rows(sandbox)] == ["Karim"]

    # staff undo the clearing: her old answer is left out (stored already, and older than her tombstone)
    for column, value in enumerate(her_answer):
        sandbox.set_cell(SHEET_ID, FORM_SHEET_FR, 2, column, value)
    clock.advance(hours=2)  # past the full re-read interval too
    poll(gsheets_hub, "formulaire")
    sync(gsheets_hub)
    assert len(registered(gsheets_hub)) == people
    assert [r["Prénom"] for r in tracking_rows(sandbox)] == ["Karim"]
    assert {tab for _, tab, _, _ in traces(sandbox, EMAIL, "Zoé")} == {FORM_SHEET_FR}  # staff's doing, not ours

    # she sends the form again, after the erasure: she comes back, as a new record
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(9, "Zoé", "Lefèvre", email=EMAIL.upper(), phone=PHONE))
    poll(gsheets_hub, "formulaire")
    sync(gsheets_hub)
    assert len(registered(gsheets_hub)) == people + 1
    [back] = [r[ID] for r in tracking_rows(sandbox) if r["Prénom"] == "Zoé"]
    assert back and back != cid


def test_every_row_of_hers_goes_and_only_hers(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    """Two answers (the second with another e-mail, the hub matched her by phone), a copy of her tracking row,
    a row staff typed by hand with her phone: all hers. A hand-made row for someone else stays."""
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(0, "Zoé", "Lefèvre", email=EMAIL, phone=PHONE))
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(1, "Karim", "Haddad", email=OTHER))
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(2, "Zoé", "Lefèvre", email="zoe.pro@exemple.fr",
                                                       phone="+33 6 12 34 56 78"))
    sync(gsheets_hub)
    rows = tracking_rows(sandbox)
    assert len(rows) == 2  # one person for her two answers
    [cid] = [r[ID] for r in rows if r["Prénom"] == "Zoé"]
    header = sandbox.values(SHEET_ID, TRACKING)[0]
    copy = sandbox.values(SHEET_ID, TRACKING)[1 + [r[ID] for r in rows].index(cid)]
    sandbox.append_row(SHEET_ID, TRACKING, copy)  # staff copied her row
    by_hand = {"Prénom": "Z.", "Téléphone": "06.12.34.56.78"}
    stranger = {"Prénom": "Inès", "E-mail": "ines@exemple.fr", "Téléphone": "06 12 34 56 78"}
    for typed in (by_hand, stranger):
        sandbox.append_row(SHEET_ID, TRACKING, [typed.get(h) for h in header])
    poll(gsheets_hub, "suivi")
    assert [ref for ref, _, message in problems(gsheets_hub) if "même ID hub" in message] == [f"{TRACKING}!ligne 4"]

    gsheets_hub.eraser.forget(BRANCH, cid)
    gsheets_hub.cycle()

    assert traces(sandbox, EMAIL, "zoe.pro@", "Zoé", "Z.") == []
    assert [r["Prénom"] for r in tracking_rows(sandbox)] == ["Karim", "Inès"]  # her phone, another e-mail
    assert [row[1] if row else None for row in sandbox.values(SHEET_ID, FORM_SHEET_FR)[1:]] == [None, OTHER]
    assert problems(gsheets_hub) == []  # the copy's problem named a row that is gone


def test_a_person_from_another_tool_gets_no_forms_item(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    person = make_candidate(ref="inv-1", first_name="Zoé", last_name="Lefèvre", email=EMAIL, phone=PHONE)
    gsheets_hub.ingest(BRANCH, "calendly", [make_event("candidate_registered", candidate=person, source_id="inv-1")])
    sync(gsheets_hub)
    cid = hub_id(sandbox, EMAIL)

    plan = gsheets_hub.eraser.forget(BRANCH, cid)
    gsheets_hub.cycle()

    done = receipt(gsheets_hub, plan.erasure_id)
    assert done.state == "done" and set(done.items) == {TRACKING_DONE, HISTORY_MANUAL}
    assert traces(sandbox, EMAIL, DIGITS) == []


def test_her_row_is_deleted_when_it_is_the_last_below_the_frozen_header(gsheets_hub: Hub,
                                                                        sandbox: SheetsSandbox) -> None:
    """Sheets refuses to delete every row under frozen ones; the erasure adds a row first."""
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(0, "Zoé", "Lefèvre", email=EMAIL))
    sync(gsheets_hub)
    tab = sandbox.sheet(SHEET_ID, TRACKING)
    assert tab.frozen_rows == 1
    tab.row_count = 2  # the header and her row: staff trimmed the tab
    plan = gsheets_hub.eraser.forget(BRANCH, hub_id(sandbox, EMAIL))
    gsheets_hub.cycle()

    assert receipt(gsheets_hub, plan.erasure_id).state == "done"
    assert tab.row_count == 2 and traces(sandbox, EMAIL) == []


# --- the sandbox: clearing and deleting as Sheets does -----------------------------------------------------------


@pytest.fixture
def service(sandbox: SheetsSandbox) -> Any:
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

    with serve({"gsheets": sandbox}) as urls:
        yield build("sheets", "v4", credentials=Credentials(token=DEMO_TOKEN), static_discovery=True,
                    client_options={"api_endpoint": urls["gsheets"] + "/"}, cache_discovery=False).spreadsheets()


def refused(call: Callable[[], Any]) -> tuple[int, str]:
    from googleapiclient.errors import HttpError

    with pytest.raises(HttpError) as caught:
        call()
    error = json.loads(caught.value.content)["error"]
    return int(caught.value.status_code), str(error["message"])


def test_clear_empties_values_only_and_names_the_ranges_clipped(sandbox: SheetsSandbox, service: Any) -> None:
    sandbox.create("book", {"Sheet1": [["h1", "h2"], ["a", "b"], ["c", "d"], ["e", "f"]]}, row_count=10)
    sheet = sandbox.sheet("book", "Sheet1")
    sheet.validations[1] = {"condition": {"type": "ONE_OF_LIST"}}
    values = service.values()

    got = values.batchClear(spreadsheetId="book", body={"ranges": ["Sheet1!2:3", "Sheet1!B4:B"]}).execute()
    assert got == {"spreadsheetId": "book", "clearedRanges": ["Sheet1!A2:Z3", "Sheet1!B4:B10"]}
    assert sandbox.values("book", "Sheet1") == [["h1", "h2"], [], [], ["e"]]
    assert sheet.row_count == 10 and 1 in sheet.validations  # rows and drop-downs stay
    got = values.clear(spreadsheetId="book", range="Sheet1!A1", body={}).execute()
    assert got == {"spreadsheetId": "book", "clearedRange": "Sheet1!A1"}

    # one bad range clears nothing; a field Sheets does not know is refused
    assert refused(lambda: values.batchClear(spreadsheetId="book", body={"ranges": ["Sheet1!A4", "Nope!A1"]})
                   .execute()) == (400, "Unable to parse range: Nope!A1")
    assert sandbox.values("book", "Sheet1")[3] == ["e"]
    status, message = refused(lambda: values.batchClear(spreadsheetId="book", body={"range": ["Sheet1!A4"]})
                              .execute())
    assert status == 400 and 'Unknown name "range"' in message


def test_delete_dimension_moves_rows_up_and_refuses_what_sheets_refuses(sandbox: SheetsSandbox,
                                                                        service: Any) -> None:
    sandbox.create("book", {"Sheet1": [["h"], ["a"], ["b"], ["c"]]})
    sheet = sandbox.sheet("book", "Sheet1")
    sheet.row_count, sheet.frozen_rows = 4, 1

    def delete(*spans: tuple[int, int]) -> Any:
        requests = [{"deleteDimension": {"range": {"sheetId": sheet.sheet_id, "dimension": "ROWS",
                                                   "startIndex": start, "endIndex": end}}} for start, end in spans]
        return service.batchUpdate(spreadsheetId="book", body={"requests": requests}).execute()

    assert delete((2, 3)) == {"spreadsheetId": "book", "replies": [{}]}
    assert sandbox.values("book", "Sheet1") == [["h"], ["a"], ["c"]] and sheet.row_count == 3
    assert refused(lambda: delete((1, 2), (2, 3))) == (400, (
        "Invalid requests[1].deleteDimension: Cannot delete a row that doesn't exist. Tried to delete row index 2 "
        "but there are only 2 rows."))
    assert sandbox.values("book", "Sheet1") == [["h"], ["a"], ["c"]]  # all or none: the first was undone
    assert sheet.row_count == 3
    assert refused(lambda: delete((1, 3))) == (400, (
        "Invalid requests[0].deleteDimension: Sorry, it is not possible to delete all non-frozen rows."))
    assert refused(lambda: delete((0, 3))) == (400, (
        "Invalid requests[0].deleteDimension: You can't delete all the rows on the sheet."))
    assert sheet.row_count == 3 and sandbox.values("book", "Sheet1") == [["h"], ["a"], ["c"]]


def test_a_read_only_token_cannot_clear(sandbox: SheetsSandbox, service: Any) -> None:
    sandbox.create("book", {"Sheet1": [["a"]]})
    sandbox.scopes[DEMO_TOKEN] = {"https://www.googleapis.com/auth/spreadsheets.readonly"}
    values = service.values()
    assert values.batchGet(spreadsheetId="book", ranges=["Sheet1!A1"]).execute()["valueRanges"]
    status, message = refused(lambda: values.batchClear(spreadsheetId="book", body={"ranges": ["Sheet1!A1"]})
                              .execute())
    assert (status, message) == (403, "Request had insufficient authentication scopes.")
    assert sandbox.values("book", "Sheet1") == [["a"]]
    assert sandbox.requests[-1].status == 403


def test_without_the_sheets_scope_the_erasure_waits_for_a_new_consent(gsheets_hub: Hub,
                                                                       sandbox: SheetsSandbox) -> None:
    """A token without the Sheets scope: the delivery is not dead, it waits for `hub auth google`."""
    cid = zoe_and_karim(gsheets_hub, sandbox)
    sandbox.scopes[DEMO_TOKEN] = {"https://www.googleapis.com/auth/spreadsheets.readonly"}
    plan = gsheets_hub.eraser.forget(BRANCH, cid)
    gsheets_hub.cycle()
    waiting = receipt(gsheets_hub, plan.erasure_id)
    assert waiting.state == "retrying" and "auth" in (waiting.last_error or "")
    assert traces(sandbox, EMAIL)
