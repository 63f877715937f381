"""Issue 11, defect 5: tracking-sheet writes that staff layout changes cannot shift.

The fake finds the table `values.append` writes to as Google does (a blank first column, a title above the
header), so a connector that appended would see its rows shifted here; the hub writes explicit ranges it
computed from its last read instead."""

from __future__ import annotations

from typing import Any

import pytest
from gsheets_helpers import SHEET_ID, poll, sync
from test_gsheets_form import answer
from test_gsheets_tracking import TRACKING, register

from hub.app import Hub
from hub.resync import resync
from hub_gsheets.sandbox import FORM_SHEET_FR, SheetsSandbox
from hub_gsheets.tracking import HEADERS

ID = HEADERS["hub_id"]


def rows_by_header(sandbox: SheetsSandbox, header_row: int = 1) -> tuple[list[Any], list[dict[str, Any]]]:
    """The header (1-based row), and each row under it as {header: cell}, blank columns ignored."""
    rows = sandbox.values(SHEET_ID, TRACKING)
    header = rows[header_row - 1]
    body = rows[header_row:]
    return header, [{h: (r[i] if i < len(r) else None) for i, h in enumerate(header) if h} for r in body]


def ids(sandbox: SheetsSandbox, header_row: int = 1) -> list[str]:
    return [r[ID] for r in rows_by_header(sandbox, header_row)[1] if r.get(ID)]


# --- the fake: append's table detection as Google does it --------------------------------------------------------

def test_append_starts_at_the_table_s_first_column_not_the_range_s(documented: Any) -> None:
    """gspread#537: a blank column left of the data shifts appended rows right (the table starts at B)."""
    fake, values = documented
    fake.create("SPREADSHEET_ID", {"Sheet1": [[None, "Nom", "ID"], [None, "Zoé", "c1"]]})
    got = values.append(spreadsheetId="SPREADSHEET_ID", range="Sheet1!A1", valueInputOption="RAW",
                        insertDataOption="INSERT_ROWS", body={"values": [["Amadou", "c2"]]}).execute()
    assert got["tableRange"] == "Sheet1!B1:C2" and got["updates"]["updatedRange"] == "Sheet1!B3:C3"
    assert fake.values("SPREADSHEET_ID", "Sheet1")[2] == [None, "Amadou", "c2"]


def test_append_under_a_title_lands_under_the_title(documented: Any) -> None:
    """gspread#828: with a title and a blank row above the header, the first table Google finds is the title."""
    fake, values = documented
    fake.create("SPREADSHEET_ID", {"Sheet1": [["Suivi 2026"], [], ["Nom", "ID"], ["Zoé", "c1"]]})
    got = values.append(spreadsheetId="SPREADSHEET_ID", range="Sheet1!A1", valueInputOption="RAW",
                        insertDataOption="INSERT_ROWS", body={"values": [["Amadou", "c2"]]}).execute()
    assert got["tableRange"] == "Sheet1!A1" and got["updates"]["updatedRange"] == "Sheet1!A2:B2"
    assert fake.values("SPREADSHEET_ID", "Sheet1")[1] == ["Amadou", "c2"]


# --- the tracking sheet ------------------------------------------------------------------------------------------

def test_a_blank_column_a_does_not_shift_new_rows(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    """The defect: appended after a blank column A, the row started one column right (the hub id under
    'Mis à jour'), so the next sync did not find it and wrote it again."""
    register(gsheets_hub, sandbox, 1)
    sandbox.sheet(SHEET_ID, TRACKING).col_count = 26  # Google's default width: room right of the hub's columns
    sandbox.insert_column(SHEET_ID, TRACKING, 0)
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(1, first="Prénom1", last="Dupré"))
    sync(gsheets_hub)
    sync(gsheets_hub)
    header, rows = rows_by_header(sandbox)
    assert header[1:] == list(HEADERS.values())
    assert [r["Prénom"] for r in rows] == ["Prénom0", "Prénom1"]
    assert len(ids(sandbox)) == 2 and all(i.startswith("cnd_") for i in ids(sandbox))


def test_blank_column_a_and_a_title_row_do_not_shift_new_rows(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    register(gsheets_hub, sandbox, 2)
    sandbox.insert_column(SHEET_ID, TRACKING, 0)  # staff insert a blank column A: headers move right
    sandbox.insert_row(SHEET_ID, TRACKING, 1, [None, "Suivi des candidats, antenne de Lyon"])  # and a title
    sandbox.insert_row(SHEET_ID, TRACKING, 2)  # with a blank row under it
    for i in (2, 3):
        sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(i, first=f"Prénom{i}", last="Dupré"))
    sync(gsheets_hub)

    header, rows = rows_by_header(sandbox, header_row=3)
    assert header[0] is None and header[1:] == list(HEADERS.values())  # no header added, none moved
    assert [r["Prénom"] for r in rows] == ["Prénom0", "Prénom1", "Prénom2", "Prénom3"]
    assert all(r[ID].startswith("cnd_") for r in rows)  # every id in the id column
    assert sandbox.values(SHEET_ID, TRACKING)[0] == [None, "Suivi des candidats, antenne de Lyon"]

    before = ids(sandbox, 3)
    sync(gsheets_hub)
    resync(gsheets_hub, branch="lyon", plugin="gsheets", echo=lambda _: None)  # a rebuild finds every row
    assert ids(sandbox, 3) == before and len(set(before)) == 4


def test_rows_staff_typed_below_are_kept_and_new_rows_go_after_them(gsheets_hub: Hub,
                                                                  sandbox: SheetsSandbox) -> None:
    register(gsheets_hub, sandbox, 2)
    sandbox.set_cell(SHEET_ID, TRACKING, 6, HEADERS["last_name"], "Total : 2 inscrits")  # after 2 blank rows
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(2, first="Prénom2", last="Dupré"))
    sync(gsheets_hub)
    rows = rows_by_header(sandbox)[1]
    assert rows[4]["Nom"] == "Total : 2 inscrits" and not rows[4].get(ID)
    assert rows[5]["Prénom"] == "Prénom2" and rows[5][ID].startswith("cnd_")
    assert len(ids(sandbox)) == 3


def test_a_crash_between_the_write_and_its_record_does_not_duplicate(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The write lands but the hub dies before it forgets the pending rows: the next run finds them by id."""
    from hub_gsheets.tracking import TrackingSheet

    register(gsheets_hub, sandbox, 1)
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(1, first="Prénom1", last="Dupré"))
    gsheets_hub.cycle(force_poll=True)
    real = TrackingSheet.write

    def write_then_die(self: TrackingSheet, *args: Any) -> Any:
        real(self, *args)
        raise SystemExit("crash after the write")

    monkeypatch.setattr(TrackingSheet, "write", write_then_die)
    with pytest.raises(SystemExit):
        poll(gsheets_hub, "suivi")
    assert len(ids(sandbox)) == 2  # the write went through
    monkeypatch.undo()
    poll(gsheets_hub, "suivi")
    assert len(ids(sandbox)) == 2 and len(set(ids(sandbox))) == 2


def test_new_rows_beyond_the_grid_grow_it(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    """Explicit writes do not grow the grid as append did: the hub adds rows first (one more request)."""
    register(gsheets_hub, sandbox, 1)
    sheet = sandbox.sheet(SHEET_ID, TRACKING)
    sheet.row_count = 3
    for i in range(1, 5):
        sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(i, first=f"Prénom{i}", last="Dupré"))
    sync(gsheets_hub)
    assert len(ids(sandbox)) == 5 and sheet.row_count >= 6
    assert all(r.status == 200 for r in sandbox.requests)
