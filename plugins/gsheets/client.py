"""A thin Sheets API client over google-api-python-client, with Google's failures mapped to the hub's.

The discovery document ships inside google-api-python-client (no network call to build the service, built once
per client with only the methods used: hub_google.discovery);
`api_endpoint` points the same code at the sandbox. Requests are made once (`num_retries=0`): a 429 or 5xx
becomes PluginNotReady and the hub retries later (a source keeps its cursor, a sink its pending rows), so
nothing here ever sleeps. A refused token refresh becomes PluginAuthFailed. Statuses are mapped by the core's
`hub.api.failure_for` (Retry-After in both forms); Google's own reasons and the French 403/404 messages for
staff stay here.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hub.api import failure_for, failure_from_exception
from hub.errors import DeliveryRejected, PluginAuthFailed, PluginNotReady

if TYPE_CHECKING:
    from hub_google import GoogleAuth

log = logging.getLogger("hub.plugin.gsheets")
SERVICE = "Google Sheets"
QUOTA_WAIT = 60.0
"""Sheets per-user quotas refill every minute (https://developers.google.com/sheets/api/limits)."""
RATE_LIMIT_REASONS = ("rateLimitExceeded", "userRateLimitExceeded")
"""Reasons Google gives with a 403 that only mean "too many requests": wait, nothing to re-authorise."""
METHODS = frozenset({"spreadsheets.get", "spreadsheets.batchUpdate", "spreadsheets.values.batchGet",
                     "spreadsheets.values.batchUpdate", "spreadsheets.values.batchClear"})
"""The only Sheets methods this connector calls (the service object is built with these alone)."""


class SheetsError(DeliveryRejected):
    """A request Google refused for a reason retrying cannot fix (bad range, unknown spreadsheet)."""


class SheetsClient:
    """Only the calls this connector needs; values are read unformatted (locale-free)."""

    def __init__(self, *, branch: str, auth: GoogleAuth | None = None, api_endpoint: str | None = None,
                 http: Any = None) -> None:
        from hub_google.discovery import lean_service

        self.branch = branch
        self.auth = auth
        self.requests = 0
        credentials = auth.credentials if auth is not None and http is None else None
        # built once: each `service.spreadsheets()` of the full document cost ~0.5 s and ~130 MB (issue 12)
        self.service = lean_service("sheets", "v4", METHODS, credentials=credentials, http=http,
                                    api_endpoint=api_endpoint)
        self._spreadsheets = self.service.spreadsheets()
        self._values = self._spreadsheets.values()

    def close(self) -> None:
        """Close the service's httplib2 connections: httplib2 keeps its sockets open until told (httplib2 issue
        148). A test stand-in without close() (HttpMockSequence) has nothing to close."""
        if callable(getattr(self.service._http, "close", None)):
            self.service.close()

    # --- reads --------------------------------------------------------------------------------------------------

    def batch_get(self, spreadsheet_id: str, ranges: list[str]) -> list[list[list[Any]]]:
        """Several ranges in one request (one read against the quota); each as rows of cells."""
        return [vr.get("values", []) for vr in self.batch_get_ranges(spreadsheet_id, ranges)]

    def batch_get_ranges(self, spreadsheet_id: str, ranges: list[str]) -> list[dict[str, Any]]:
        """The same, as Google's ValueRanges: `range` is the one asked, clipped to the tab's grid (so an
        open range tells the tab's row count), `values` omits trailing empty rows and cells."""
        reply = self._execute(self._values.batchGet(
            spreadsheetId=spreadsheet_id, ranges=ranges, majorDimension="ROWS",
            valueRenderOption="UNFORMATTED_VALUE", dateTimeRenderOption="SERIAL_NUMBER"))
        return [vr for vr in reply.get("valueRanges", []) if isinstance(vr, dict)]

    def spreadsheet(self, spreadsheet_id: str) -> dict[str, Any]:
        return self._execute(self._spreadsheets.get(
            spreadsheetId=spreadsheet_id, fields="spreadsheetId,properties(title,timeZone),sheets(properties)"))

    # --- writes -------------------------------------------------------------------------------------------------

    def batch_update_values(self, spreadsheet_id: str, data: list[dict[str, Any]]) -> dict[str, Any]:
        """RAW: a name starting with '=' or a phone starting with '+' stays text, never a formula."""
        return self._execute(self._values.batchUpdate(
            spreadsheetId=spreadsheet_id, body={"valueInputOption": "RAW", "data": data}))

    def batch_clear_values(self, spreadsheet_id: str, ranges: list[str]) -> dict[str, Any]:
        """Clear the values of several ranges in one request (formats and drop-downs stay); for an erasure."""
        return self._execute(self._values.batchClear(spreadsheetId=spreadsheet_id, body={"ranges": ranges}))

    def batch_update(self, spreadsheet_id: str, requests: list[dict[str, Any]]) -> dict[str, Any]:
        return self._execute(self._spreadsheets.batchUpdate(
            spreadsheetId=spreadsheet_id, body={"requests": requests}))

    # --- errors -------------------------------------------------------------------------------------------------

    def _execute(self, request: Any) -> dict[str, Any]:
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import HttpError
        from httplib2 import ServerNotFoundError

        from hub_google import auth_failed

        self.requests += 1
        try:
            reply = request.execute(num_retries=0)
        except RefreshError as exc:
            if self.auth is not None:
                self.auth.forget()
            raise auth_failed(self.branch, _refresh_reason(exc)) from None
        except HttpError as exc:
            raise self._http_error(exc) from None
        except (TransportError, ServerNotFoundError, OSError) as exc:
            raise failure_from_exception(exc, service=SERVICE, network=(TransportError, ServerNotFoundError)) \
                from None
        if self.auth is not None:
            self.auth.persist()
        if not isinstance(reply, dict):  # the discovery client decodes JSON: every Sheets answer is an object
            raise PluginNotReady(f"{SERVICE} a répondu sans objet JSON ({type(reply).__name__})")
        return reply

    def _http_error(self, exc: Any) -> Exception:
        """HttpError -> the hub's failure; `exc.resp` is httplib2's answer (a dict of lower-case headers)."""
        status = int(exc.resp.status)
        reason, message = _error_detail(exc.content)
        if status == 403 and reason not in RATE_LIMIT_REASONS:
            return self._forbidden(reason, message)
        if status == 404:
            return SheetsError("classeur introuvable (404) : vérifiez spreadsheet_id dans [gsheets]")
        from hub_google.auth import auth_command

        if status == 401 and self.auth is not None:
            self.auth.forget()  # re-read the token file at the next try (after `hub auth google`)
        headers = exc.resp if isinstance(exc.resp, Mapping) else None
        failure = failure_for(status, service=SERVICE, headers=headers, detail=reason, default_wait=QUOTA_WAIT,
                              auth_fix=auth_command(self.branch), forbidden="not_ready")
        if isinstance(failure, PluginNotReady):
            log.warning("sheets not ready", extra={"status": status, "branch": self.branch})
        elif isinstance(failure, DeliveryRejected):
            return SheetsError(f"Google Sheets a refusé la requête ({status}): {message}")
        return failure or SheetsError(f"Google Sheets a répondu {status} sans réponse utilisable")


    def _forbidden(self, reason: str, message: str) -> PluginAuthFailed:
        """Each 403 with its own fix (reference E1): an API not enabled, a token without the Sheets scope, or
        a sheet not shared with the account (then the account's address is what staff need)."""
        from hub_google.auth import auth_command

        if reason == "SERVICE_DISABLED":
            project = re.search(r"project[= ](\d+)", message)
            where = f" {project.group(1)}" if project else ""
            return PluginAuthFailed(f"l'API Google Sheets n'est pas activée dans le projet Google Cloud{where} (403) : "
                                    "activez-la dans la console (API et services > Bibliothèque > Google Sheets API)")
        if reason in ("ACCESS_TOKEN_SCOPE_INSUFFICIENT", "insufficientPermissions"):
            return PluginAuthFailed("le jeton Google n'a pas le droit d'écrire dans Google Sheets (403, portée "
                                    "insuffisante) : refaites l'autorisation", fix=auth_command(self.branch))
        account = self.account_email()
        who = f"le compte {account}" if account else "le compte Google connecté"
        return PluginAuthFailed(f"{who} n'a pas accès à ce classeur (403) : partagez-le en modification avec "
                                f"{account or 'ce compte'}")

    def account_email(self) -> str | None:
        """The service account's address (what a sheet must be shared with); None for a person's account."""
        try:
            credentials = self.auth.credentials if self.auth is not None else None
        except Exception:  # only for a message: never fail because of it
            return None
        email = getattr(credentials, "service_account_email", None)
        return str(email) if email and "@" in str(email) else None


def _error_detail(content: bytes) -> tuple[str, str]:
    try:
        error = json.loads(content).get("error", {})
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return str(error), ""
    reasons = [d.get("reason", "") for d in error.get("details", []) + error.get("errors", []) if isinstance(d, dict)]
    return (reasons[0] if reasons else error.get("status", "")), str(error.get("message", ""))[:200]


def _refresh_reason(exc: Exception) -> str:
    """'invalid_grant' and the like, without echoing whatever else the token endpoint said."""
    text = str(exc.args[0]) if exc.args else ""
    for reason in ("invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"):
        if reason in text or reason in repr(exc.args):
            return f"{reason}: autorisation expirée ou révoquée" if reason == "invalid_grant" else reason
    return "le jeton ne peut pas être renouvelé"
