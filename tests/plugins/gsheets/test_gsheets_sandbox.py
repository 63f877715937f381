"""The sandbox against Google's documented examples, driven by the real google-api-python-client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.sandbox import DemoContext, DemoPerson, DemoPhase, serve
from hub.testing import T0
from hub_gsheets.a1 import A1, col_letters, parse
from hub_gsheets.client import SheetsClient, SheetsError
from hub_gsheets.dates import from_serial, parse_cell_time, to_serial
from hub_gsheets.sandbox import DEMO_TOKEN, SheetsSandbox

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def test_update_batchupdate_append_answer_like_googles_examples(documented: Any) -> None:
    fake, values = documented
    request = fixture("sheets_values_update_request")
    got = values.update(spreadsheetId="SPREADSHEET_ID", range=request["range"], valueInputOption="USER_ENTERED",
                        body=request).execute()
    assert got == fixture("sheets_values_update_response")

    fake.create("SPREADSHEET_ID", {"Sheet1": []})
    request = fixture("sheets_values_batchupdate_request")
    got = values.batchUpdate(spreadsheetId="SPREADSHEET_ID",
                             body={**request, "valueInputOption": "USER_ENTERED"}).execute()
    assert got == fixture("sheets_values_batchupdate_response")

    request = fixture("sheets_values_append_request")
    fake.create("SPREADSHEET_ID", {"Sheet1": [["Item", "Cost", "Stocked", "Ship Date"],
                                              ["Wheel", "$20.50", "4", "3/1/2016"]]})
    got = values.append(spreadsheetId="SPREADSHEET_ID", range=request["range"], valueInputOption="USER_ENTERED",
                        body=request).execute()
    assert got == fixture("sheets_values_append_response")
    assert [r.method for r in fake.requests] == ["values.update", "values.batchUpdate", "values.append"]


def test_reads_trim_trailing_empties_and_clip_to_the_grid(documented: Any) -> None:
    fake, values = documented
    fake.create("SPREADSHEET_ID", {"Sheet1": [["a", None, "c", None], [], ["x"], [None]]}, row_count=5)
    got = values.get(spreadsheetId="SPREADSHEET_ID", range="Sheet1!2:5000000").execute()
    assert got == {"range": "Sheet1!A2:Z5", "majorDimension": "ROWS", "values": [[], ["x"]]}
    got = values.get(spreadsheetId="SPREADSHEET_ID", range="Sheet1!A1:D1").execute()
    assert got["values"] == [["a", "", "c"]]


def test_writes_outside_the_grid_are_refused(documented: Any) -> None:
    from googleapiclient.errors import HttpError

    fake, values = documented
    fake.create("SPREADSHEET_ID", {"Sheet1": []}, row_count=10)
    with pytest.raises(HttpError) as caught:
        values.update(spreadsheetId="SPREADSHEET_ID", range="Sheet1!A11", valueInputOption="RAW",
                      body={"values": [["x"]]}).execute()
    assert caught.value.status_code == 400 and "exceeds grid limits" in str(caught.value)


def test_unknown_spreadsheet_is_a_clear_error(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from pydantic import SecretStr

    from hub_google import GoogleAuth, GoogleAuthSettings

    fake = SheetsSandbox()
    settings = GoogleAuthSettings(auth="static_token", access_token=SecretStr(DEMO_TOKEN))
    auth = GoogleAuth(SimpleNamespace(state_dir=tmp_path, branch="lyon"), settings, [])
    with serve({"gsheets": fake}) as urls:
        client = SheetsClient(branch="lyon", auth=auth, api_endpoint=urls["gsheets"])
        with pytest.raises(SheetsError, match="spreadsheet_id"):
            client.batch_get("nope", ["A1"])
    assert [r.status for r in fake.requests] == [404] and DEMO_TOKEN not in repr(settings)


def test_a1_and_serial_helpers() -> None:
    assert [col_letters(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]
    assert parse("'Réponses au formulaire 1'!2:5001") == A1("Réponses au formulaire 1", 1, 0, 5001, None)
    assert parse("'L''antenne'!M2:M") == A1("L'antenne", 1, 12, None, 13)
    assert parse("Suivi") == A1("Suivi")
    zone = T0.tzinfo
    assert from_serial(to_serial(T0, zone), zone) == T0  # type: ignore[arg-type]
    from zoneinfo import ZoneInfo
    paris = ZoneInfo("Europe/Paris")
    assert parse_cell_time(46083.5, paris).hour == 12  # type: ignore[union-attr]
    assert parse_cell_time("02/03/2026 10:15:30", paris).month == 3  # type: ignore[union-attr]
    assert parse_cell_time("bientôt", paris) is None and parse_cell_time(3.5, paris) is None


def test_demo_story_and_description() -> None:
    from hub_gsheets.sandbox import FORM_SHEET_FR

    fake = SheetsSandbox()
    people = [DemoPerson("Zoé", "Lefèvre", "zoe@exemple.fr", "0611223344", "Mission locale"),
              DemoPerson("🌻 Amadou", "Diallo", "amadou@exemple.fr", "0622334455", "France Travail")]
    demo = DemoContext(branch="demo-lyon", base_url="http://127.0.0.1:1", people=people, now=lambda: T0)
    settings = fake.demo_settings(demo)
    assert settings["api_endpoint"] == demo.base_url and settings["auth"] == "static_token"
    assert fake.demo_environ(demo) == {"HUB_DEMO_LYON_GSHEETS_ACCESS_TOKEN": DEMO_TOKEN}
    actions = fake.demo_actions(demo)
    for action in actions:
        if action.phase is DemoPhase.REGISTER:
            action.run()
    answers = fake.values("demo-demo-lyon", FORM_SHEET_FR)
    assert [r[2] for r in answers[1:]] == ["Zoé", "🌻 Amadou"]
    assert {a.phase for a in actions} == {DemoPhase.REGISTER, DemoPhase.ATTEND, DemoPhase.OUTCOME}
    assert "pas encore" in fake.describe("demo-lyon")


@pytest.mark.parametrize("call", ["update", "append", "batchUpdate"])
def test_writes_without_value_input_option_are_refused_like_google(documented: Any, call: str) -> None:
    """Google answers 400 when valueInputOption is missing (the fake used to assume RAW: issue 11)."""
    from googleapiclient.errors import HttpError

    _, values = documented
    rows = {"values": [["a"]]}
    request = {"update": lambda: values.update(spreadsheetId="SPREADSHEET_ID", range="Sheet1!A1", body=rows),
               "append": lambda: values.append(spreadsheetId="SPREADSHEET_ID", range="Sheet1!A1", body=rows),
               "batchUpdate": lambda: values.batchUpdate(spreadsheetId="SPREADSHEET_ID", body={
                   "data": [{"range": "Sheet1!A1", **rows}]})}[call]()
    with pytest.raises(HttpError) as caught:
        request.execute()
    assert caught.value.resp.status == 400
    assert "'valueInputOption' is required but not specified" in caught.value.content.decode()


def test_user_entered_values_become_formulas_raw_ones_stay_text(documented: Any) -> None:
    """The fake evaluates USER_ENTERED like Sheets, so a connector writing names RAW -> USER_ENTERED is caught."""
    _, values = documented
    for option in ("USER_ENTERED", "RAW"):
        values.update(spreadsheetId="SPREADSHEET_ID", range="Sheet1!A1", valueInputOption=option,
                      body={"values": [["=1+1", "+33 6 12 34 56 78", "Zoé", "12,5"]]}).execute()
        got = values.get(spreadsheetId="SPREADSHEET_ID", range="Sheet1!A1:D1",
                         valueRenderOption="UNFORMATTED_VALUE").execute()["values"][0]
        assert got == ([2, "#ERROR!", "Zoé", 12.5] if option == "USER_ENTERED" else
                       ["=1+1", "+33 6 12 34 56 78", "Zoé", "12,5"]), option


def test_the_tracking_sheet_neutralises_formula_like_names_and_shows_phones_as_dialled(
        gsheets_hub: Any, sandbox: SheetsSandbox) -> None:
    from gsheets_helpers import SHEET_ID, sync

    from hub.events import EventKind
    from hub.testing import make_candidate, make_event

    gsheets_hub.ingest("lyon", "form", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=make_candidate(
        first_name="=1+1", last_name="@SUM(A1)", phone="+33 6 12 34 56 78"))])
    sync(gsheets_hub)
    header, row = sandbox.values(SHEET_ID, "Suivi")[:2]
    cells = dict(zip(header, row, strict=False))
    # a CSV or Excel download of the sheet does not run them (OWASP CSV injection); a French number as dialled
    assert (cells["Prénom"], cells["Nom"], cells["Téléphone"]) == ("'=1+1", "'@SUM(A1)", "06 12 34 56 78")
