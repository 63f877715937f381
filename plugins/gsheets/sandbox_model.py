"""The Sheets fake's data (spreadsheets, tabs, recorded requests) and Google's error bodies.

Error bodies follow Google's error model (https://cloud.google.com/apis/design/errors): `error.code`,
`error.message`, `error.status`, and `error.details[]` whose `google.rpc.ErrorInfo` entry carries `reason`,
`domain` and `metadata`; clients tell causes apart by `reason` (reference E1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub_gsheets.a1 import quote_title

SERVICE = "sheets.googleapis.com"
PROJECT = "123456789"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RPC = {"spreadsheets.get": "GetSpreadsheet", "spreadsheets.batchUpdate": "BatchUpdateSpreadsheet",
       "values.get": "GetValues", "values.batchGet": "BatchGetValues", "values.update": "UpdateValues",
       "values.batchUpdate": "BatchUpdateValues", "values.append": "AppendValues", "values.clear": "ClearValues",
       "values.batchClear": "BatchClearValues"}
"""The gRPC method behind each REST method, as Google names it in an error's ErrorInfo metadata."""


def error_body(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def error_info(reason: str, metadata: dict[str, str]) -> dict[str, Any]:
    return {"@type": ERROR_INFO, "reason": reason, "domain": "googleapis.com", "metadata": metadata}


def forbidden_body(cause: str, project: str = PROJECT, method: str = "values.batchUpdate") -> dict[str, Any]:
    """Google's three 403 answers, told apart by `error.details[].reason` (reference E1). The shapes are
    those Google sends: SERVICE_DISABLED names the consumer project and links the console (with a Help
    entry), ACCESS_TOKEN_SCOPE_INSUFFICIENT names the method (`method`: the sandbox's name of the call
    refused), and a sheet not shared is a bare PERMISSION_DENIED ("The caller does not have permission", no
    ErrorInfo)."""
    if cause == "SERVICE_DISABLED":
        link = f"https://console.developers.google.com/apis/api/{SERVICE}/overview?project={project}"
        return error_body(403, "PERMISSION_DENIED", f"Google Sheets API has not been used in project {project} "
                          f"before or it is disabled. Enable it by visiting {link} then retry. If you enabled this "
                          "API recently, wait a few minutes for the action to propagate to our systems and retry.",
                          [error_info("SERVICE_DISABLED", {"service": SERVICE, "consumer": f"projects/{project}",
                                                           "serviceTitle": "Google Sheets API",
                                                           "activationUrl": link, "containerInfo": project}),
                           {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                            "message": f"Google Sheets API has not been used in project {project} before or it is "
                                       "disabled."},
                           {"@type": "type.googleapis.com/google.rpc.Help",
                            "links": [{"description": "Google developers console API activation", "url": link}]}])
    if cause == "ACCESS_TOKEN_SCOPE_INSUFFICIENT":
        return error_body(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.",
                          [error_info("ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                                      {"service": SERVICE,
                                       "method": f"google.apps.sheets.v4.SpreadsheetsService.{RPC[method]}"})])
    return error_body(403, "PERMISSION_DENIED", "The caller does not have permission")


def quota_body(kind: str, scope: str = "user", limit: int = 60, project: str = PROJECT) -> dict[str, Any]:
    """The 429 Google sends when a per-minute quota is spent: per user (n8n-io/n8n#16750) or per project
    (n8n-io/n8n#32869), reads and writes apart (https://developers.google.com/sheets/api/limits)."""
    metric = "Read" if kind == "read" else "Write"
    who = "per user" if scope == "user" else "per project"
    suffix = "PerUser" if scope == "user" else "PerProject"
    return error_body(429, "RESOURCE_EXHAUSTED",
                      f"Quota exceeded for quota metric '{metric} requests' and limit '{metric} requests per minute "
                      f"{who}' of service '{SERVICE}' for consumer 'project_number:{project}'.",
                      [error_info("RATE_LIMIT_EXCEEDED", {
                          "quota_metric": f"{SERVICE}/{kind}_requests",
                          "quota_limit": f"{metric}RequestsPerMinute{suffix}", "quota_limit_value": str(limit),
                          "quota_location": "global", "service": SERVICE, "consumer": f"projects/{project}"}),
                       {"@type": "type.googleapis.com/google.rpc.Help", "links": [{
                           "description": "Request a higher quota limit.",
                           "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]}])


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.body = status, body or error_body(status, code, message)


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


@dataclass
class Sheet:
    sheet_id: int
    title: str
    rows: list[list[Any]] = field(default_factory=list)
    row_count: int = 1000
    col_count: int = 26
    frozen_rows: int = 0  # gridProperties.frozenRowCount
    validations: dict[int, dict[str, Any]] = field(default_factory=dict)  # column -> rule
    formats: dict[int, dict[str, Any]] = field(default_factory=dict)

    def cell(self, row: int, col: int) -> Any:
        if row < len(self.rows) and col < len(self.rows[row]):
            return self.rows[row][col]
        return None

    def filled(self, row: int, col: int) -> bool:
        return self.cell(row, col) not in (None, "")

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

    def insert_column(self, col: int) -> None:
        """Staff inserting an empty column: cells at `col` and right of it move one column right."""
        for line in self.rows:
            if len(line) > col:
                line.insert(col, None)
        self.col_count += 1

    def insert_row(self, row: int, values: list[Any] | None = None) -> None:
        self.rows.insert(row, list(values or []))
        self.row_count += 1


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
        raise invalid(f"Unable to parse range: {quote_title(title)}")


@dataclass(frozen=True)
class Recorded:
    method: str  # discovery method id without the "sheets.spreadsheets." prefix, or "token"
    http: str
    path: str
    status: int
    kind: str  # read, write, token
