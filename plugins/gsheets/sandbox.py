"""A fake of the Google Sheets API v4 (the parts this connector uses), served on loopback.

Driven by the real google-api-python-client through `client_options={"api_endpoint": ...}`, it speaks the
wire format of the discovery document shipped with the client: `values.get/batchGet/append/update/
batchUpdate`, `spreadsheets.get/batchUpdate` (addSheet, setDataValidation, repeatCell, appendDimension),
Google's error JSON (401 UNAUTHENTICATED, 429 RESOURCE_EXHAUSTED with the per-user quota in
`details`), and an OAuth token endpoint (refresh and code exchange; a revoked token gets `invalid_grant`).
Every request is recorded so tests and benchmarks count them. Reads outside the grid are clipped (as
Google does); writes outside it are refused with "exceeds grid limits" (append adds rows).
"""

from __future__ import annotations

import ast
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.sandbox import DemoAction, DemoContext, DemoPhase, Sandbox
from hub_gsheets.a1 import A1, col_letters, parse, quote_title
from hub_gsheets.dates import to_serial

DEMO_TOKEN = "gsheets-sandbox-token"
FORM_HEADERS_FR = ["Horodateur", "Adresse e-mail", "Prénom", "Nom", "Téléphone", "Structure orientatrice",
                   "Référent"]
FORM_SHEET_FR = "Réponses au formulaire 1"
READ_METHODS = {"values.get", "values.batchGet", "spreadsheets.get"}
EPOCH = datetime(1899, 12, 30)


def forbidden_body(cause: str) -> dict[str, Any]:
    """Google's three 403 answers, told apart by `error.details[].reason` (Google's error model,
    https://cloud.google.com/apis/design/errors; reference E1)."""
    if cause == "SERVICE_DISABLED":
        return error_body(403, "PERMISSION_DENIED", "Google Sheets API has not been used in project 123456789 before "
                          "or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
                          "sheets.googleapis.com/overview?project=123456789 then retry.",
                          [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                            "domain": "googleapis.com", "metadata": {"service": "sheets.googleapis.com",
                                                                    "consumer": "projects/123456789"}}])
    if cause == "ACCESS_TOKEN_SCOPE_INSUFFICIENT":
        return error_body(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.",
                          [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com",
                            "metadata": {"service": "sheets.googleapis.com"}}])
    return error_body(403, "PERMISSION_DENIED", "The caller does not have permission")


def error_body(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def quota_body(kind: str) -> dict[str, Any]:
    """The 429 Google sends when a per-user-per-minute quota is spent (shape of n8n-io/n8n#16750)."""
    metric = "Read" if kind == "read" else "Write"
    return error_body(429, "RESOURCE_EXHAUSTED",
                      f"Quota exceeded for quota metric '{metric} requests' and limit '{metric} requests per minute "
                      "per user' of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'.",
                      [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                        "domain": "googleapis.com",
                        "metadata": {"quota_metric": f"sheets.googleapis.com/{kind}_requests",
                                     "quota_limit": f"{metric}RequestsPerMinutePerUser", "quota_limit_value": "60",
                                     "quota_location": "global", "service": "sheets.googleapis.com",
                                     "consumer": "projects/000000000000"}}])


@dataclass
class Sheet:
    sheet_id: int
    title: str
    rows: list[list[Any]] = field(default_factory=list)
    row_count: int = 1000
    col_count: int = 26
    validations: dict[int, dict[str, Any]] = field(default_factory=dict)  # column -> rule
    formats: dict[int, dict[str, Any]] = field(default_factory=dict)

    def cell(self, row: int, col: int) -> Any:
        if row < len(self.rows) and col < len(self.rows[row]):
            return self.rows[row][col]
        return None

    def set(self, row: int, col: int, value: Any) -> None:
        while len(self.rows) <= row:
            self.rows.append([])
        line = self.rows[row]
        while len(line) <= col:
            line.append(None)
        line[col] = None if value == "" else value

    def last_row(self) -> int:
        """Index after the last row holding anything."""
        for i in range(len(self.rows) - 1, -1, -1):
            if any(v not in (None, "") for v in self.rows[i]):
                return i + 1
        return 0


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    sheets: dict[str, Sheet] = field(default_factory=dict)
    time_zone: str = "Europe/Paris"

    def sheet(self, title: str | None) -> Sheet:
        if title is None:
            return next(iter(self.sheets.values()))
        for sheet in self.sheets.values():  # Sheets matches tab names case-insensitively
            if sheet.title.casefold() == title.casefold():
                return sheet
        raise ApiError(400, "INVALID_ARGUMENT", f"Unable to parse range: {quote_title(title)}")


@dataclass(frozen=True)
class Recorded:
    method: str  # discovery method id without the "sheets.spreadsheets." prefix, or "token"
    http: str
    path: str
    status: int
    kind: str  # read, write, token


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.body = status, body or error_body(status, code, message)


class SheetsSandbox(Sandbox):
    """One fake Sheets service; spreadsheets are keyed by id (one per branch in the demo)."""

    name = "gsheets"

    def __init__(self, *, tokens: set[str] | None = None, quota_per_minute: int | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.tokens: set[str] = set(tokens or {DEMO_TOKEN})
        self.refresh_tokens: dict[str, bool] = {}  # refresh token -> still valid
        self.codes: set[str] = set()
        self.requests: list[Recorded] = []
        self.failures: list[tuple[int | str, str | None]] = []  # (status or 403 cause, "read"/"write"/None)
        self.quota_per_minute = quota_per_minute
        self.clock = clock or (lambda: datetime.now(UTC))
        self._quota: dict[tuple[str, str, int], int] = {}
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

    def fail_next(self, status: int | str = 429, count: int = 1, kind: str | None = None) -> None:
        """Answer the next `count` API requests (of `kind` read/write, or any) with this error: a status, or a
        403 cause (PERMISSION_DENIED, SERVICE_DISABLED, ACCESS_TOKEN_SCOPE_INSUFFICIENT)."""
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
                    self._admit(request, kind)
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

        return Starlette(routes=[Route("/token", token, methods=["POST"]),
                                 Route("/v4/spreadsheets/{rest:path}", api, methods=["GET", "POST", "PUT"])])

    def _record(self, method: str, http: str, path: str, status: int, kind: str) -> None:
        with self.lock:
            self.requests.append(Recorded(method, http, path, status, kind))

    @staticmethod
    def _method(http: str, path: str) -> str:
        rest = path[len("/v4/spreadsheets/"):]
        if "/values" in rest:
            tail = rest.split("/values", 1)[1]
            if tail == ":batchGet":
                return "values.batchGet"
            if tail == ":batchUpdate":
                return "values.batchUpdate"
            if tail.endswith(":append"):
                return "values.append"
            return "values.update" if http == "PUT" else "values.get"
        return "spreadsheets.batchUpdate" if rest.endswith(":batchUpdate") else "spreadsheets.get"

    def _admit(self, request: Request, kind: str) -> None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            raise ApiError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                           "access token, login cookie or other valid authentication credential.")
        for i, (status, only) in enumerate(self.failures):
            if only in (None, kind):
                del self.failures[i]
                if isinstance(status, str):
                    raise ApiError(403, "", "", forbidden_body(status))
                body = quota_body(kind) if status == 429 else error_body(status, "UNAVAILABLE",
                                                                        "The service is currently unavailable.")
                raise ApiError(status, "", "", body)
        if self.quota_per_minute is not None:
            key = (auth[7:], kind, int(self.clock().timestamp() // 60))
            if self._quota.get(key, 0) >= self.quota_per_minute:
                raise ApiError(429, "", "", quota_body(kind))
            self._quota[key] = self._quota.get(key, 0) + 1

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
            return {"spreadsheetId": book.spreadsheet_id, "replies": [self._request(book, r) for r in data["requests"]]}
        if method == "values.batchGet":
            return {"spreadsheetId": book.spreadsheet_id,
                    "valueRanges": [self._get(book, r, option) for r in params.get("ranges", [])]}
        if method == "values.batchUpdate":
            raw = _input_option(data.get("valueInputOption"))
            responses = [self._write(book, vr["range"], _rows(vr), raw) for vr in data.get("data", [])]
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
        if method in ("values.append", "values.update"):
            given = params.get("valueInputOption")
            raw = _input_option(given[0] if given else None)
        if method == "values.append":
            return self._append(book, range_text[:-len(":append")], _rows(data), raw,
                                params.get("insertDataOption", ["OVERWRITE"])[0])
        if method == "values.update":
            return self._write(book, range_text, _rows(data), raw)
        return self._get(book, range_text, option)

    def _describe(self, book: Spreadsheet) -> dict[str, Any]:
        return {"spreadsheetId": book.spreadsheet_id,
                "properties": {"title": book.title, "locale": "fr_FR", "timeZone": book.time_zone},
                "sheets": [{"properties": {"sheetId": s.sheet_id, "title": s.title, "index": i, "sheetType": "GRID",
                                           "gridProperties": {"rowCount": s.row_count, "columnCount": s.col_count}}}
                           for i, s in enumerate(book.sheets.values())]}

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
            rows.append(["" if v is None else (v if option == "UNFORMATTED_VALUE" else _formatted(v)) for v in cells])
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
            raise ApiError(400, "INVALID_ARGUMENT", f"Range ({text}) exceeds grid limits. Max rows: "
                           f"{sheet.row_count}, max columns: {sheet.col_count}")
        cells = 0
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                if value is None:  # null leaves the cell as it is
                    continue
                sheet.set(ref.row0 + i, ref.col0 + j, value if raw else _user_entered(value))
                cells += 1
        return {"spreadsheetId": book.spreadsheet_id,
                "updatedRange": A1(sheet.title, ref.row0, ref.col0, ref.row0 + height, ref.col0 + width).render(),
                "updatedRows": height, "updatedColumns": width, "updatedCells": cells}

    def _append(self, book: Spreadsheet, text: str, values: list[list[Any]], raw: bool, insert: str) -> dict[str, Any]:
        ref = parse(text)
        sheet = book.sheet(ref.sheet)
        start = ref.row0  # the table: rows from the range's top down to the first empty row
        end = start
        while end < len(sheet.rows) and any(v not in (None, "") for v in sheet.rows[end]):
            end += 1
        table = A1(sheet.title, start, 0, end, max([len(r) for r in sheet.rows[start:end]] or [0])).render()
        if insert == "INSERT_ROWS":
            sheet.rows[end:end] = [[] for _ in values]
            sheet.row_count += len(values)
        else:
            sheet.row_count = max(sheet.row_count, end + len(values))
        updates = self._write(book, f"{quote_title(sheet.title)}!{col_letters(ref.col0)}{end + 1}", values, raw)
        return {"spreadsheetId": book.spreadsheet_id, "tableRange": table if end > start else "",
                "updates": updates}

    def _request(self, book: Spreadsheet, request: dict[str, Any]) -> dict[str, Any]:
        (name, spec), = request.items()
        if name == "addSheet":
            props = spec.get("properties", {})
            title = props.get("title") or f"Feuille {len(book.sheets) + 1}"
            if any(s.title.casefold() == title.casefold() for s in book.sheets.values()):
                raise ApiError(400, "INVALID_ARGUMENT", f"Invalid requests[0].addSheet: A sheet with the name "
                               f"\"{title}\" already exists. Please enter another name.")
            self._next_sheet_id += 1
            grid = props.get("gridProperties", {})
            sheet = Sheet(props.get("sheetId", self._next_sheet_id), title, row_count=grid.get("rowCount", 1000),
                          col_count=grid.get("columnCount", 26))
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
        if name == "updateSheetProperties":
            return {}
        raise ApiError(400, "INVALID_ARGUMENT", f"Invalid JSON payload received. Unknown name \"{name}\".")

    @staticmethod
    def _by_id(book: Spreadsheet, sheet_id: int) -> Sheet:
        for sheet in book.sheets.values():
            if sheet.sheet_id == sheet_id:
                return sheet
        raise ApiError(400, "INVALID_ARGUMENT", f"No grid with id: {sheet_id}")

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
        shown = [i for i, h in enumerate(header) if h in _DESCRIBED] or [
            i for i, h in enumerate(header) if h and not str(h).startswith("ID hub")]
        table = [[_shown(row[i] if i < len(row) else None, header[i]) for i in shown] for row in rows]
        widths = [max(len(r[k]) for r in table) for k in range(len(shown))]
        lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table]
        if len(lines) > 1:
            lines.insert(1, "-+-".join("-" * w for w in widths))
        return "\n".join(lines)


# the columns describe() shows: what staff look at, without contact details (and narrow enough for a terminal)
_DESCRIBED = ("Prénom", "Nom", "Prochain RDV", "Programme/module", "Présence", "Résultat")


def _input_option(value: str | None) -> bool:
    """True for RAW, False for USER_ENTERED; Google refuses a write without it, or with another value (400)."""
    if value is None or value == "INPUT_VALUE_OPTION_UNSPECIFIED":
        raise ApiError(400, "INVALID_ARGUMENT", "'valueInputOption' is required but not specified")
    if value not in ("RAW", "USER_ENTERED"):
        raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value at 'value_input_option' ({value})")
    return value == "RAW"


def _rows(value_range: dict[str, Any]) -> list[list[Any]]:
    """A ValueRange's values as rows (majorDimension COLUMNS is transposed)."""
    values = value_range.get("values", [])
    if value_range.get("majorDimension") != "COLUMNS":
        return values
    height = max([len(c) for c in values] or [0])
    return [[c[i] if i < len(c) else None for c in values] for i in range(height)]


def _formatted(value: Any) -> Any:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, int | float) else value


_ARITHMETIC = re.compile(r"^[\d\s.,+\-*/()]+$")


def _arithmetic(node: ast.AST) -> float:
    """Numbers and + - * / only (never eval)."""
    operators = {ast.Add: float.__add__, ast.Sub: float.__sub__, ast.Mult: float.__mul__, ast.Div: float.__truediv__}
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _arithmetic(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in operators:
        return operators[type(node.op)](_arithmetic(node.left), _arithmetic(node.right))
    raise ValueError("not plain arithmetic")


def _user_entered(value: Any) -> Any:
    """What Sheets makes of a value typed by a user (USER_ENTERED): numbers parsed, and a leading '=' or '+' a
    formula, evaluated (plain arithmetic here; anything else, or a formula that does not parse, is #ERROR!).
    So a hub that wrote names or phones USER_ENTERED instead of RAW would see "=1+1" become 2."""
    if not isinstance(value, str):
        return value
    if value.startswith(("=", "+")):
        expression = value[1:] if value.startswith("=") else value
        if _ARITHMETIC.match(expression) and not re.search(r"\d\s+\d", expression):
            try:
                return _arithmetic(ast.parse(expression.replace(",", "."), mode="eval").body)
            except (SyntaxError, ZeroDivisionError, TypeError, ValueError):
                return "#ERROR!"
        return "#ERROR!"
    try:
        return float(value.replace(",", ".")) if value.strip() else value
    except ValueError:
        return value


def _shown(value: Any, header: str) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and header in ("Inscription", "Prochain RDV", "Mis à jour") and value > 20000:
        # round to the second first: serials carry float noise (08:30 must not show as 08:29)
        return (EPOCH + timedelta(seconds=round(float(value) * 86400))).strftime("%d/%m/%Y %H:%M")
    return str(value)
