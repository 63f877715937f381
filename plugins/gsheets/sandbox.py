"""A fake of the Google Sheets API v4 (the parts this connector uses), served on loopback.

Driven by the real google-api-python-client through `client_options={"api_endpoint": ...}`, it speaks the
wire format of the discovery document shipped with the client: `values.get/batchGet/append/update/
batchUpdate/clear/batchClear`, `spreadsheets.get/batchUpdate` (addSheet, setDataValidation, repeatCell,
appendDimension, deleteDimension),
Google's error JSON (401 UNAUTHENTICATED, 429 RESOURCE_EXHAUSTED with the per-user quota in
`details`), and an OAuth token endpoint (refresh and code exchange; a revoked token gets `invalid_grant`).
Every request is recorded so tests and benchmarks count them. Reads outside the grid are clipped (as
Google does); writes outside it are refused with "exceeds grid limits" (append adds rows).

As strict as Sheets where a difference could hide a bug: append finds its table as Google does
(sandbox_tables), batchUpdate bodies and field masks are checked against the discovery document
(sandbox_schema) and applied all or none, quotas are counted per user and per project when `quota` is on
(sandbox_quota), cells over 50,000 characters are refused (sandbox_values), clearing and deleting rows follow
Google's rules (sandbox_rows), a token is refused a method none of its scopes allows (the scopes the
discovery document lists per method; `scopes`), and the 403s carry Google's bodies (sandbox_model).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.sandbox import DemoAction, DemoContext, DemoPhase, Sandbox
from hub_gsheets.a1 import A1, parse
from hub_gsheets.dates import to_serial
from hub_gsheets.sandbox_model import (
    ApiError,
    Recorded,
    Sheet,
    Spreadsheet,
    error_body,
    forbidden_body,
    invalid,
    quota_body,
)
from hub_gsheets.sandbox_quota import Quota
from hub_gsheets.sandbox_rows import clear_ranges, delete_dimension
from hub_gsheets.sandbox_schema import check_batch_update, check_body, method_scopes
from hub_gsheets.sandbox_tables import find_table
from hub_gsheets.sandbox_values import check_cells, formatted, input_option, rows_of, shown, user_entered

DEMO_TOKEN = "gsheets-sandbox-token"
FORM_HEADERS_FR = ["Horodateur", "Adresse e-mail", "Prénom", "Nom", "Téléphone", "Structure orientatrice",
                   "Référent"]
FORM_SHEET_FR = "Réponses au formulaire 1"
READ_METHODS = {"values.get", "values.batchGet", "spreadsheets.get"}
__all__ = ["DEMO_TOKEN", "FORM_HEADERS_FR", "FORM_SHEET_FR", "ApiError", "SheetsSandbox", "error_body",
           "forbidden_body", "quota_body"]


class SheetsSandbox(Sandbox):
    """One fake Sheets service; spreadsheets are keyed by id (one per branch in the demo)."""

    name = "gsheets"
    failing_paths = ("/v4/",)

    def __init__(self, *, tokens: set[str] | None = None, quota: bool = False,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.tokens: set[str] = set(tokens or {DEMO_TOKEN})
        self.scopes: dict[str, set[str]] = {}  # access token -> its scopes; a token not listed has them all
        self.refresh_tokens: dict[str, bool] = {}  # refresh token -> still valid
        self.codes: set[str] = set()
        self.requests: list[Recorded] = []
        self.failures: list[tuple[int | str, str | None]] = []  # (status or 403 cause, "read"/"write"/None)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.quota = Quota(self.clock, enabled=quota)  # Google's per-user and per-project minute quotas
        self._next_sheet_id = 1000
        self.branch_sheets: dict[str, str] = {}

    # --- the state tests and the demo drive -------------------------------------------------------------------

    def create(self, spreadsheet_id: str, sheets: dict[str, list[list[Any]]], title: str = "Suivi des candidats",
               *, row_count: int = 1000) -> Spreadsheet:
        with self.lock:
            book = Spreadsheet(spreadsheet_id, title)
            for name, rows in sheets.items():
                self._next_sheet_id += 1
                book.sheets[name] = Sheet(self._next_sheet_id, name, [list(r) for r in rows],
                                          row_count=max(row_count, len(rows) + 1))
            self.spreadsheets[spreadsheet_id] = book
            return book

    def sheet(self, spreadsheet_id: str, title: str) -> Sheet:
        return self.spreadsheets[spreadsheet_id].sheet(title)

    def values(self, spreadsheet_id: str, title: str) -> list[list[Any]]:
        """A copy of a tab's cells, trailing empties removed (what a person sees)."""
        with self.lock:
            sheet = self.sheet(spreadsheet_id, title)
            rows = [list(r) for r in sheet.rows[:sheet.last_row()]]
        for row in rows:
            while row and row[-1] in (None, ""):
                row.pop()
        return rows

    def append_row(self, spreadsheet_id: str, title: str, row: list[Any]) -> int:
        """What Google Forms does with a new answer; returns the 1-based row number."""
        with self.lock:
            sheet = self.sheet(spreadsheet_id, title)
            index = sheet.last_row()
            for col, value in enumerate(row):
                sheet.set(index, col, value)
            sheet.row_count = max(sheet.row_count, index + 1)
            return index + 1

    def set_cell(self, spreadsheet_id: str, title: str, row: int, column: int | str, value: Any) -> None:
        """Staff typing in a cell: `row` is 1-based, `column` an index or a header text of row 1."""
        with self.lock:
            sheet = self.sheet(spreadsheet_id, title)
            col = column if isinstance(column, int) else sheet.rows[0].index(column)
            sheet.set(row - 1, col, value)

    def find_row(self, spreadsheet_id: str, title: str, column: str, value: Any) -> int | None:
        """1-based number of the first row whose `column` (a header) holds `value`."""
        with self.lock:
            sheet = self.sheet(spreadsheet_id, title)
            col = sheet.rows[0].index(column)
            for i, row in enumerate(sheet.rows[1:], start=2):
                if col < len(row) and row[col] == value:
                    return i
        return None

    def sort_rows(self, spreadsheet_id: str, title: str, key: Callable[[list[Any]], Any],
                  reverse: bool = False) -> None:
        """Staff sorting the data rows (the header stays)."""
        with self.lock:
            sheet = self.sheet(spreadsheet_id, title)
            data = sheet.rows[1:sheet.last_row()]
            sheet.rows[1:sheet.last_row()] = sorted(data, key=key, reverse=reverse)

    def delete_row(self, spreadsheet_id: str, title: str, row: int) -> None:
        with self.lock:
            del self.sheet(spreadsheet_id, title).rows[row - 1]

    def insert_row(self, spreadsheet_id: str, title: str, row: int, values: list[Any] | None = None) -> None:
        """Staff inserting a row before `row` (1-based), e.g. a title above the header."""
        with self.lock:
            self.sheet(spreadsheet_id, title).insert_row(row - 1, values)

    def insert_column(self, spreadsheet_id: str, title: str, column: int = 0) -> None:
        """Staff inserting an empty column before `column` (0-based: 0 is a new column A)."""
        with self.lock:
            self.sheet(spreadsheet_id, title).insert_column(column)

    def fail_next(self, status: int | str = 429, count: int = 1, kind: str | None = None) -> None:
        """Answer the next `count` API requests (of `kind` read/write, or of one method such as
        "values.batchClear", or any) with this error: a status, or a 403 cause (PERMISSION_DENIED,
        SERVICE_DISABLED, ACCESS_TOKEN_SCOPE_INSUFFICIENT)."""
        with self.lock:
            self.failures += [(status, kind)] * count

    def revoke(self, refresh_token: str) -> None:
        with self.lock:
            self.refresh_tokens[refresh_token] = False

    def count(self, kind: str | None = None, method: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if (kind is None or r.kind == kind)
                       and (method is None or r.method == method))

    # --- HTTP ---------------------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        async def api(request: Request) -> JSONResponse:
            raw = request.scope.get("raw_path") or request.url.path.encode()
            path = raw.decode("latin-1").split("?", 1)[0]
            method = self._method(request.method, path)
            kind = "read" if method in READ_METHODS else "write"
            body = await request.body()
            try:
                with self.lock:
                    self._admit(request, kind, method)
                    payload = self._handle(method, request.method, path, request.query_params.multi_items(), body)
                status = 200
            except ApiError as exc:
                payload, status = exc.body, exc.status
            self._record(method, request.method, path, status, kind)
            return JSONResponse(payload, status_code=status)

        async def token(request: Request) -> JSONResponse:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            payload, status = self._token(form)
            self._record("token", "POST", "/token", status, "token")
            return JSONResponse(payload, status_code=status)

        return self.failing(Starlette(routes=[Route("/token", token, methods=["POST"]),
                                              Route("/v4/spreadsheets/{rest:path}", api,
                                                    methods=["GET", "POST", "PUT"])]))

    def _record(self, method: str, http: str, path: str, status: int, kind: str) -> None:
        with self.lock:
            self.requests.append(Recorded(method, http, path, status, kind))

    @staticmethod
    def _method(http: str, path: str) -> str:
        rest = path[len("/v4/spreadsheets/"):]
        if "/values" in rest:
            tail = rest.split("/values", 1)[1]
            if tail in (":batchGet", ":batchUpdate", ":batchClear"):
                return "values" + tail.replace(":", ".")
            if tail.endswith(":append"):
                return "values.append"
            if tail.endswith(":clear") and http == "POST":
                return "values.clear"
            return "values.update" if http == "PUT" else "values.get"
        return "spreadsheets.batchUpdate" if rest.endswith(":batchUpdate") else "spreadsheets.get"

    def _admit(self, request: Request, kind: str, method: str) -> None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            raise ApiError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                           "access token, login cookie or other valid authentication credential.")
        granted = self.scopes.get(auth[7:])
        if granted is not None and not granted & method_scopes(method):
            raise ApiError(403, "", "", forbidden_body("ACCESS_TOKEN_SCOPE_INSUFFICIENT", method=method))
        for i, (status, only) in enumerate(self.failures):
            if only in (None, kind, method):
                del self.failures[i]
                if isinstance(status, str):
                    raise ApiError(403, "", "", forbidden_body(status, method=method))
                body = quota_body(kind) if status == 429 else error_body(status, "UNAVAILABLE",
                                                                        "The service is currently unavailable.")
                raise ApiError(status, "", "", body)
        self.quota.charge(auth[7:], kind)

    def _token(self, form: dict[str, str]) -> tuple[dict[str, Any], int]:
        with self.lock:
            grant = form.get("grant_type")
            if grant == "refresh_token":
                if not self.refresh_tokens.get(form.get("refresh_token", ""), False):
                    return {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, 400
                refresh = None
            elif grant == "authorization_code" and form.get("code") in self.codes:
                self.codes.discard(form["code"])
                refresh = f"1//sandbox-refresh-{len(self.refresh_tokens) + 1}"
                self.refresh_tokens[refresh] = True
            else:
                return {"error": "invalid_grant", "error_description": "Bad Request"}, 400
            access = f"ya29.sandbox-{len(self.tokens) + 1}"
            self.tokens.add(access)
        reply = {"access_token": access, "expires_in": 3599, "token_type": "Bearer",
                 "scope": "https://www.googleapis.com/auth/spreadsheets"}
        if refresh:
            reply["refresh_token"] = refresh
        return reply, 200

    # --- the API ------------------------------------------------------------------------------------------------

    def _book(self, path: str) -> tuple[Spreadsheet, str]:
        rest = path[len("/v4/spreadsheets/"):]
        sid = unquote(rest.split("/", 1)[0].split(":", 1)[0])
        if sid not in self.spreadsheets:
            raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
        return self.spreadsheets[sid], rest

    def _handle(self, method: str, http: str, path: str, query: list[tuple[str, str]], body: bytes) -> dict[str, Any]:
        book, rest = self._book(path)
        params: dict[str, list[str]] = {}
        for key, value in query:
            params.setdefault(key, []).append(value)
        data = json.loads(body) if body else {}
        option = params.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        if method == "spreadsheets.get":
            return self._describe(book)
        if method == "spreadsheets.batchUpdate":
            check_batch_update(data)  # before anything is applied: Google applies all requests or none
            return {"spreadsheetId": book.spreadsheet_id, "replies": self._requests(book, data["requests"])}
        if method == "values.batchClear":
            check_body(data, "BatchClearValuesRequest")
            return {"spreadsheetId": book.spreadsheet_id, "clearedRanges": clear_ranges(book, data.get("ranges", []))}
        if method == "values.batchGet":
            return {"spreadsheetId": book.spreadsheet_id,
                    "valueRanges": [self._get(book, r, option) for r in params.get("ranges", [])]}
        if method == "values.batchUpdate":
            raw = input_option(data.get("valueInputOption"))
            for i, vr in enumerate(data.get("data", [])):  # all or nothing, as Google does
                check_cells(rows_of(vr), f"Invalid data[{i}]: ")
            responses = [self._write(book, vr["range"], rows_of(vr), raw) for vr in data.get("data", [])]
            rows: set[tuple[str, int]] = set()
            cols: set[tuple[str, int]] = set()
            for reply in responses:
                ref = parse(reply["updatedRange"])
                rows |= {(str(ref.sheet), r) for r in range(ref.row0, ref.row1 or ref.row0)}
                cols |= {(str(ref.sheet), c) for c in range(ref.col0, ref.col1 or ref.col0)}
            return {"spreadsheetId": book.spreadsheet_id, "totalUpdatedRows": len(rows),
                    "totalUpdatedColumns": len(cols),
                    "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
                    "totalUpdatedSheets": len({sheet for sheet, _ in rows}), "responses": responses}
        range_text = unquote(rest.split("/values/", 1)[1])
        if method == "values.clear":
            check_body(data, "ClearValuesRequest")
            [cleared] = clear_ranges(book, [range_text[:-len(":clear")]])
            return {"spreadsheetId": book.spreadsheet_id, "clearedRange": cleared}
        if method in ("values.append", "values.update"):
            given = params.get("valueInputOption")
            raw = input_option(given[0] if given else None)
            check_cells(rows_of(data))
        if method == "values.append":
            return self._append(book, range_text[:-len(":append")], rows_of(data), raw,
                                params.get("insertDataOption", ["OVERWRITE"])[0])
        if method == "values.update":
            return self._write(book, range_text, rows_of(data), raw)
        return self._get(book, range_text, option)

    def _describe(self, book: Spreadsheet) -> dict[str, Any]:
        return {"spreadsheetId": book.spreadsheet_id,
                "properties": {"title": book.title, "locale": "fr_FR", "timeZone": book.time_zone},
                "sheets": [{"properties": {"sheetId": s.sheet_id, "title": s.title, "index": i, "sheetType": "GRID",
                                           "gridProperties": _grid(s)}} for i, s in enumerate(book.sheets.values())]}

    def _get(self, book: Spreadsheet, text: str, option: str) -> dict[str, Any]:
        ref = parse(text)
        sheet = book.sheet(ref.sheet)
        row1 = min(ref.row1 if ref.row1 is not None else sheet.row_count, sheet.row_count)
        col1 = min(ref.col1 if ref.col1 is not None else sheet.col_count, sheet.col_count)
        rows = []
        for r in range(ref.row0, min(row1, len(sheet.rows))):
            cells = sheet.rows[r][ref.col0:col1]
            while cells and cells[-1] in (None, ""):
                cells = cells[:-1]
            rows.append(["" if v is None else (v if option == "UNFORMATTED_VALUE" else formatted(v)) for v in cells])
        while rows and not rows[-1]:
            rows.pop()
        out: dict[str, Any] = {"range": A1(sheet.title, ref.row0, ref.col0, row1, col1).render(),
                               "majorDimension": "ROWS"}
        if rows:
            out["values"] = rows
        return out

    def _write(self, book: Spreadsheet, text: str, values: list[list[Any]], raw: bool) -> dict[str, Any]:
        ref = parse(text)
        sheet = book.sheet(ref.sheet)
        height, width = len(values), max([len(r) for r in values] or [0])
        if ref.row0 + height > sheet.row_count or ref.col0 + width > sheet.col_count:
            raise invalid(f"Range ({text}) exceeds grid limits. Max rows: "
                          f"{sheet.row_count}, max columns: {sheet.col_count}")
        cells = 0
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                if value is None:  # null leaves the cell as it is
                    continue
                sheet.set(ref.row0 + i, ref.col0 + j, value if raw else user_entered(value))
                cells += 1
        return {"spreadsheetId": book.spreadsheet_id,
                "updatedRange": A1(sheet.title, ref.row0, ref.col0, ref.row0 + height, ref.col0 + width).render(),
                "updatedRows": height, "updatedColumns": width, "updatedCells": cells}

    def _append(self, book: Spreadsheet, text: str, values: list[list[Any]], raw: bool, insert: str) -> dict[str, Any]:
        """Appended after the table Google finds, from the table's first column (sandbox_tables)."""
        ref = parse(text)
        sheet = book.sheet(ref.sheet)
        table = find_table(sheet, ref)
        row, col = (table.row1, table.col0) if table else (ref.row0, ref.col0)
        if insert == "INSERT_ROWS":
            sheet.rows[row:row] = [[] for _ in values] if row < len(sheet.rows) else []
            sheet.row_count += len(values)
        else:
            sheet.row_count = max(sheet.row_count, row + len(values))
        updates = self._write(book, A1(sheet.title, row, col, row + 1, col + 1).render(), values, raw)
        return {"spreadsheetId": book.spreadsheet_id, "tableRange": table.render(sheet.title) if table else "",
                "updates": updates}

    def _requests(self, book: Spreadsheet, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Applied in order, all or none: a request Google refuses undoes those before it (in place: a test's
        reference to a tab stays good)."""
        before = {title: (sheet, copy.deepcopy(vars(sheet))) for title, sheet in book.sheets.items()}
        next_id = self._next_sheet_id
        try:
            return [self._request(book, r, i) for i, r in enumerate(requests)]
        except ApiError:
            book.sheets, self._next_sheet_id = {title: sheet for title, (sheet, _) in before.items()}, next_id
            for sheet, saved in before.values():
                vars(sheet).update(saved)
            raise

    def _request(self, book: Spreadsheet, request: dict[str, Any], i: int) -> dict[str, Any]:
        (name, spec), = request.items()
        if name == "addSheet":
            props = spec.get("properties", {})
            title = props.get("title") or f"Feuille {len(book.sheets) + 1}"
            if any(s.title.casefold() == title.casefold() for s in book.sheets.values()):
                raise invalid(f"Invalid requests[{i}].addSheet: A sheet with the name \"{title}\" already exists. "
                              "Please enter another name.")
            self._next_sheet_id += 1
            grid = props.get("gridProperties", {})
            sheet = Sheet(props.get("sheetId", self._next_sheet_id), title, row_count=grid.get("rowCount", 1000),
                          col_count=grid.get("columnCount", 26), frozen_rows=grid.get("frozenRowCount", 0))
            book.sheets[title] = sheet
            return {"addSheet": {"properties": {"sheetId": sheet.sheet_id, "title": title,
                                                "index": len(book.sheets) - 1, "sheetType": "GRID",
                                                "gridProperties": {"rowCount": sheet.row_count,
                                                                   "columnCount": sheet.col_count}}}}
        sheet = self._by_id(book, (spec.get("range") or spec).get("sheetId", 0))
        if name == "setDataValidation":
            grid = spec["range"]
            for col in range(grid.get("startColumnIndex", 0), grid.get("endColumnIndex", sheet.col_count)):
                if spec.get("rule"):
                    sheet.validations[col] = spec["rule"]
                else:
                    sheet.validations.pop(col, None)
            return {}
        if name == "repeatCell":
            grid = spec["range"]
            for col in range(grid.get("startColumnIndex", 0), grid.get("endColumnIndex", sheet.col_count)):
                sheet.formats[col] = spec.get("cell", {}).get("userEnteredFormat", {})
            return {}
        if name == "appendDimension":
            if spec.get("dimension") == "COLUMNS":
                sheet.col_count += int(spec["length"])
            else:
                sheet.row_count += int(spec["length"])
            return {}
        if name == "deleteDimension":
            delete_dimension(sheet, spec, f"requests[{i}]")
            return {}
        if name == "updateSheetProperties":
            return {}
        raise invalid(f"the sandbox does not implement {name} (a request the discovery document allows)")

    @staticmethod
    def _by_id(book: Spreadsheet, sheet_id: int) -> Sheet:
        for sheet in book.sheets.values():
            if sheet.sheet_id == sheet_id:
                return sheet
        raise invalid(f"No grid with id: {sheet_id}")

    # --- the demo -----------------------------------------------------------------------------------------------

    def demo_settings(self, demo: DemoContext) -> dict[str, Any]:
        sid = f"demo-{demo.branch}"
        with self.lock:
            if sid not in self.spreadsheets:
                self.create(sid, {FORM_SHEET_FR: [FORM_HEADERS_FR]}, title=f"Antenne {demo.branch}")
            self.branch_sheets[demo.branch] = sid
        return {"spreadsheet_id": sid, "auth": "static_token", "api_endpoint": demo.base_url,
                "sync_interval": 1, "form_interval": 1}

    def demo_environ(self, demo: DemoContext) -> dict[str, str]:
        return {f"HUB_{demo.branch.upper()}_GSHEETS_ACCESS_TOKEN".replace("-", "_"): DEMO_TOKEN}

    def demo_actions(self, demo: DemoContext) -> list[DemoAction]:
        sid = f"demo-{demo.branch}"
        zone = ZoneInfo("Europe/Paris")
        actions = []
        for i, person in enumerate(demo.people):
            def register(person: Any = person, i: int = i) -> None:
                self.append_row(sid, FORM_SHEET_FR, [to_serial(demo.now() + timedelta(seconds=i), zone), person.email,
                                                     person.first_name, person.last_name, person.phone,
                                                     person.referrer, ""])
            actions.append(DemoAction(DemoPhase.REGISTER, f"Formulaire Google : {person.first_name} s'inscrit",
                                      register))
        # people[0] is marked absent in Calendly, [1] cancels, [2] moves her session: staff record the rest
        staff = [("Présence", "Présent", DemoPhase.ATTEND, 2), ("Résultat", "CDI", DemoPhase.OUTCOME, 2),
                 ("Résultat", "Formation qualifiante", DemoPhase.OUTCOME, 3)]
        for column, label, phase, index in staff:
            person = demo.people[index % len(demo.people)]
            def type_label(person: Any = person, column: str = column, label: str = label) -> None:
                row = self.find_row(sid, "Suivi", "E-mail", person.email) if "Suivi" in self._titles(sid) else None
                if row is not None:
                    self.set_cell(sid, "Suivi", row, column, label)
            actions.append(DemoAction(phase, f"Tableau de suivi : l'équipe note « {label} » pour {person.first_name}",
                                      type_label))
        return actions

    def _titles(self, sid: str) -> list[str]:
        with self.lock:
            return [s.title for s in self.spreadsheets[sid].sheets.values()]

    def describe(self, branch: str) -> str:
        sid = self.branch_sheets.get(branch, f"demo-{branch}")
        if sid not in self.spreadsheets or "Suivi" not in self._titles(sid):
            return "(pas encore de tableau de suivi)"
        rows = self.values(sid, "Suivi")
        header = rows[0] if rows else []
        picked = [i for i, h in enumerate(header) if h in _DESCRIBED] or [
            i for i, h in enumerate(header) if h and not str(h).startswith("ID hub")]
        table = [[shown(row[i] if i < len(row) else None, header[i]) for i in picked] for row in rows]
        widths = [max(len(r[k]) for r in table) for k in range(len(picked))]
        lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table]
        if len(lines) > 1:
            lines.insert(1, "-+-".join("-" * w for w in widths))
        return "\n".join(lines)


def _grid(sheet: Sheet) -> dict[str, int]:
    """gridProperties as Google shows them: frozenRowCount only when some rows are frozen."""
    grid = {"rowCount": sheet.row_count, "columnCount": sheet.col_count}
    if sheet.frozen_rows:
        grid["frozenRowCount"] = sheet.frozen_rows
    return grid


# the columns describe() shows: what staff look at, without contact details (and narrow enough for a terminal)
_DESCRIBED = ("Prénom", "Nom", "Prochain RDV", "Programme/module", "Présence", "Résultat")
