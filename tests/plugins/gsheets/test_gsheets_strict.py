"""The fake as strict as Sheets: batchUpdate bodies and field masks checked against the discovery document,
the 50,000-character cell limit, and Google's 403 bodies (issue 11, stricter fakes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub_gsheets.sandbox import forbidden_body


def refused(call: Any) -> dict[str, Any]:
    from googleapiclient.errors import HttpError

    with pytest.raises(HttpError) as caught:
        call.execute()
    assert caught.value.resp.status == 400
    error: dict[str, Any] = json.loads(caught.value.content)["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    return error


@pytest.fixture
def book(documented: Any) -> Any:
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

    fake, values = documented
    url = values._baseUrl  # the same served fake, through the spreadsheets resource
    service = build("sheets", "v4", credentials=Credentials(token="gsheets-sandbox-token"), static_discovery=True,
                    client_options={"api_endpoint": url}, cache_discovery=False)
    return fake, service.spreadsheets()


def batch(book: Any, *requests: dict[str, Any]) -> Any:
    return book[1].batchUpdate(spreadsheetId="SPREADSHEET_ID", body={"requests": list(requests)})


def sheet_id(book: Any) -> int:
    return int(book[0].sheet("SPREADSHEET_ID", "Sheet1").sheet_id)


@pytest.mark.parametrize(("request_", "says"), [
    ({"frobnicateSheet": {}}, "Unknown name \"frobnicateSheet\" at 'requests[0]': Cannot find field."),
    ({"addSheet": {"properties": {"title": "X", "gridProperties": {"frozenRowCounts": 1}}}},
     "Unknown name \"frozenRowCounts\" at 'requests[0].add_sheet.properties.grid_properties'"),
])
def test_unknown_request_kinds_and_fields_are_400(book: Any, request_: dict[str, Any], says: str) -> None:
    error = refused(batch(book, request_))
    assert error["message"] == f"Invalid JSON payload received. {says}" or says in error["message"]
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"


def test_a_bad_enum_value_is_400_and_nothing_is_applied(book: Any) -> None:
    grid = book[0].sheet("SPREADSHEET_ID", "Sheet1")
    rows = grid.row_count
    error = refused(batch(book, {"appendDimension": {"sheetId": sheet_id(book), "dimension": "ROWS", "length": 5}},
                          {"appendDimension": {"sheetId": sheet_id(book), "dimension": "ROW", "length": 5}}))
    assert error["message"] == ("Invalid value at 'requests[1].append_dimension.dimension' "
                                "(type.googleapis.com/google.apps.sheets.v4.Dimension), \"ROW\"") or \
        "Invalid value at 'requests[1].append_dimension.dimension'" in error["message"]
    assert grid.row_count == rows  # all or nothing


def test_field_masks_are_checked_against_the_schema(book: Any) -> None:
    cell = {"userEnteredFormat": {"numberFormat": {"type": "DATE_TIME", "pattern": "dd/mm/yyyy"}}}
    grid = {"sheetId": sheet_id(book), "startRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": 1}
    batch(book, {"repeatCell": {"range": grid, "cell": cell, "fields": "userEnteredFormat.numberFormat"}}).execute()
    batch(book, {"repeatCell": {"range": grid, "cell": cell, "fields": "userEnteredFormat(numberFormat)"}}).execute()
    error = refused(batch(book, {"repeatCell": {"range": grid, "cell": cell,
                                                "fields": "userEnteredFormat.numberFormatt"}}))
    assert "numberFormatt" in error["message"] and "requests[0].repeatCell" in error["message"]


def test_cells_over_50000_characters_are_refused_like_google(documented: Any) -> None:
    _, values = documented
    long = "x" * 50_001
    error = refused(values.update(spreadsheetId="SPREADSHEET_ID", range="Sheet1!A1", valueInputOption="RAW",
                                  body={"values": [[long]]}))
    assert error["message"] == "Your input contains more than the maximum of 50000 characters in a single cell."
    error = refused(values.batchUpdate(spreadsheetId="SPREADSHEET_ID", body={"valueInputOption": "RAW", "data": [
        {"range": "Sheet1!A1", "values": [["ok"]]}, {"range": "Sheet1!B1", "values": [[long]]}]}))
    assert error["message"].startswith("Invalid data[1]: Your input contains more than the maximum of 50000")
    values.update(spreadsheetId="SPREADSHEET_ID", range="Sheet1!A1", valueInputOption="RAW",
                  body={"values": [["x" * 50_000]]}).execute()  # the limit itself is fine


def test_403_bodies_have_google_s_error_info() -> None:
    disabled = forbidden_body("SERVICE_DISABLED")["error"]
    info = disabled["details"][0]
    assert (disabled["code"], disabled["status"]) == (403, "PERMISSION_DENIED")
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" and info["domain"] == "googleapis.com"
    assert info["reason"] == "SERVICE_DISABLED" and info["metadata"]["consumer"] == "projects/123456789"
    assert info["metadata"]["activationUrl"].startswith("https://console.developers.google.com/apis/api/sheets")
    scope = forbidden_body("ACCESS_TOKEN_SCOPE_INSUFFICIENT")["error"]
    assert scope["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT" and "method" in scope["details"][0][
        "metadata"]
    assert forbidden_body("PERMISSION_DENIED")["error"] == {
        "code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}
