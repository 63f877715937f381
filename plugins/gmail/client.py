"""A thin Gmail API v1 client over google-api-python-client, with Gmail's failures mapped to the hub's.

The discovery document ships inside google-api-python-client (no network call to build the service);
`api_endpoint` points the same code at the sandbox. Each request is made once (`num_retries=0`): a limit or a
5xx becomes PluginNotReady and the hub retries later, so nothing here sleeps. Statuses go through the core's
`hub.api.failure_for`; what only Gmail says (its `reason` codes, the sending limit, "Retry after <time>" in
the message of a per-user limit) is read here.

    429, or 403 rateLimitExceeded / userRateLimitExceeded / dailyLimitExceeded, or a message saying the
        sending limit is exceeded          -> RateLimited (PluginNotReady): wait Retry-After, else the time
                                              Gmail names, else (sending limit) until the 24 h window frees
    5xx                                    -> PluginNotReady
    401, a refused token refresh           -> hub_google.auth_failed: the plugin pauses for this branch
    403 other (a scope missing, delegation denied), 400 failedPrecondition (Gmail not enabled for the
        account, no domain-wide delegation) -> PluginAuthFailed: a person must act; a missing scope
        (insufficientPermissions / ACCESS_TOKEN_SCOPE_INSUFFICIENT) is its subclass ScopeMissing, which the
        erasure catches around trash and delete (it then leaves the step to staff, erasure.py)
    400 other (invalid To header...)       -> GmailRejected (DeliveryRejected): dead letter at once
    404                                    -> None from the methods that look something up (`missing_ok`)
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.api import failure_for, failure_from_exception, retry_after
from hub.errors import DeliveryRejected, PluginAuthFailed, PluginNotReady

if TYPE_CHECKING:
    from hub_google import GoogleAuth

log = logging.getLogger("hub.plugin.gmail")
SERVICE = "Gmail"
RATE_LIMIT_REASONS = ("rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded")
MAX_WAIT = 24 * 3600.0
"""Going over the sending limit blocks sending for up to 24 h (https://support.google.com/a/answer/166852)."""
QUOTA_WAIT = 60.0
"""Per-user request quotas are counted per minute (https://developers.google.com/gmail/api/reference/quota)."""
_RETRY_AT = re.compile(r"Retry after (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)")
METHODS = frozenset({"users.getProfile", "users.labels.list", "users.drafts.create", "users.drafts.get",
                     "users.drafts.list", "users.drafts.send", "users.drafts.delete", "users.threads.get",
                     "users.messages.list", "users.messages.get", "users.messages.trash", "users.messages.delete",
                     "users.history.list"})
"""The only Gmail methods this channel calls (the service object is built with these alone)."""
_SENDING = re.compile(r"sending (limit|quota)|limit for sending", re.IGNORECASE)
SCOPE_REASONS = ("insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
"""A 403 for a token without the method's scope: `errors[].reason` and `details[].reason` of Google's body
(a real one: https://github.com/kenn-io/msgvault/issues/11)."""


class GmailRejected(DeliveryRejected):
    """A message Gmail refuses for good (an invalid recipient header...): dead letter, no retry."""


class ScopeMissing(PluginAuthFailed):
    """The token lacks the method's scope (403 insufficientPermissions): the consent given does not allow it."""


class RateLimited(PluginNotReady):
    """Gmail asks to wait. `sending_limit` when the mailbox's daily sending limit is reached: the caller then
    estimates the wait from its own record of sends when Gmail named no time (`retry_after` None)."""

    def __init__(self, message: str, *, retry_after: float | None, sending_limit: bool) -> None:
        super().__init__(message, retry_after=retry_after)
        self.sending_limit = sending_limit


class GmailClient:
    """Only the calls the channel needs, on the mailbox of the credentials (`userId="me"`)."""

    def __init__(self, *, branch: str, auth: GoogleAuth | None = None, api_endpoint: str | None = None,
                 http: Any = None, clock: Callable[[], datetime] | None = None) -> None:
        from hub_google.discovery import lean_service

        self.branch = branch
        self.auth = auth
        self.clock = clock or (lambda: datetime.now(UTC))
        self.requests = 0
        self.markers: dict[str, frozenset[str]] = {}
        """Gmail id -> the delivery markers its headers carry, as send.py's look-up after a restore read them. A
        message's headers never change once it exists (replacing a draft makes a new message id), so the look-up
        reads each message once per process, not once per delivery to the same address."""
        credentials = auth.credentials if auth is not None and http is None else None
        self.service = lean_service("gmail", "v1", METHODS, credentials=credentials, http=http,
                                    api_endpoint=api_endpoint)
        # each resource built once (the library builds a new one, docstrings included, on every call)
        self.users = self.service.users()
        self._labels, self._drafts = self.users.labels(), self.users.drafts()
        self._threads, self._messages, self._history = self.users.threads(), self.users.messages(), self.users.history()

    def close(self) -> None:
        """Close the service's httplib2 connections: httplib2 keeps its sockets open until told (httplib2 issue
        148). A test stand-in without close() (HttpMockSequence) has nothing to close."""
        if callable(getattr(self.service._http, "close", None)):
            self.service.close()

    # --- the mailbox ----------------------------------------------------------------------------------------

    def profile(self) -> dict[str, Any]:
        """{emailAddress, historyId, messagesTotal, threadsTotal}: 1 quota unit."""
        return self._execute(self.users.getProfile(userId="me"))

    def labels(self) -> list[dict[str, Any]]:
        return list(self._execute(self._labels.list(userId="me")).get("labels", []))

    # --- sending: drafts (reference E2, pattern a) -----------------------------------------------------------

    def create_draft(self, raw: str) -> dict[str, Any]:
        """{id, message: {id, threadId, labelIds}}."""
        return self._execute(self._drafts.create(userId="me", body={"message": {"raw": raw}}))

    def get_draft(self, draft_id: str, fmt: str = "minimal") -> dict[str, Any] | None:
        """The draft, or None once it is gone (Gmail deletes a draft when it is sent)."""
        return self._execute(self._drafts.get(userId="me", id=draft_id, format=fmt), missing_ok=True)

    def delete_draft(self, draft_id: str) -> bool:
        """drafts.delete ("Immediately and permanently deletes the specified draft"; gmail.compose allows it):
        True when deleted, False when it was already gone (404)."""
        return self._execute(self._drafts.delete(userId="me", id=draft_id), missing_ok=True) is not None

    def find_drafts(self, query: str, *, max_results: int = 10) -> list[dict[str, Any]]:
        """[{id, message: {id, threadId}}] of the drafts matching `query` (first page)."""
        request = self._drafts.list(userId="me", q=query, maxResults=max_results)
        return list(self._execute(request).get("drafts", []))

    def send_draft(self, draft_id: str) -> dict[str, Any]:
        """The sent message {id, threadId, labelIds}: a new message id, the draft is deleted (drafts guide)."""
        return self._execute(self._drafts.send(userId="me", body={"id": draft_id}))

    # --- reading ----------------------------------------------------------------------------------------------

    def get_thread(self, thread_id: str, fmt: str = "minimal", headers: list[str] | None = None
                   ) -> dict[str, Any] | None:
        request = self._threads.get(userId="me", id=thread_id, format=fmt, metadataHeaders=headers)
        return self._execute(request, missing_ok=True)

    def list_messages(self, query: str, *, page_token: str | None = None, max_results: int = 100,
                      include_spam_trash: bool = False) -> dict[str, Any]:
        """{messages: [{id, threadId}], nextPageToken}, newest first; drafts included (they are messages
        labelled DRAFT); the trash and spam only with `include_spam_trash`."""
        return self._execute(self._messages.list(userId="me", q=query, pageToken=page_token,
                                                 maxResults=max_results,
                                                 includeSpamTrash=include_spam_trash or None))

    def get_message(self, message_id: str, fmt: str, headers: list[str] | None = None) -> dict[str, Any] | None:
        request = self._messages.get(userId="me", id=message_id, format=fmt, metadataHeaders=headers)
        return self._execute(request, missing_ok=True)

    # --- erasing (erasure.py) -----------------------------------------------------------------------------------

    def trash_message(self, message_id: str) -> bool:
        """messages.trash (gmail.modify or https://mail.google.com/): True when moved to the trash (or already
        there), False when the message is gone (404); ScopeMissing without the scope."""
        return self._execute(self._messages.trash(userId="me", id=message_id), missing_ok=True) is not None

    def delete_message(self, message_id: str) -> bool:
        """messages.delete, permanent (https://mail.google.com/ only): True when deleted, False when already
        gone (404); ScopeMissing without the scope."""
        return self._execute(self._messages.delete(userId="me", id=message_id), missing_ok=True) is not None

    def history(self, start: str, *, page_token: str | None = None) -> dict[str, Any] | None:
        """Messages added to the inbox since history id `start`; None on 404 (the id is too old: full sync;
        told by the endpoint, not the body, which is the same as any notFound)."""
        request = self._history.list(userId="me", startHistoryId=start, historyTypes=["messageAdded"],
                                            labelId="INBOX", pageToken=page_token, maxResults=100)
        return self._execute(request, missing_ok=True)

    # --- errors -----------------------------------------------------------------------------------------------

    def _execute(self, request: Any, *, missing_ok: bool = False) -> Any:
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import HttpError
        from httplib2 import ServerNotFoundError

        from hub_google import auth_failed

        self.requests += 1
        try:
            reply = request.execute(num_retries=0)
        except RefreshError as exc:
            self._forget()
            raise auth_failed(self.branch, refresh_reason(exc)) from None
        except HttpError as exc:
            if missing_ok and int(exc.resp.status) == 404:
                return None
            raise self.failure(int(exc.resp.status), exc.resp, exc.content) from None
        except (TransportError, ServerNotFoundError, OSError) as exc:
            raise failure_from_exception(exc, service=SERVICE, network=(TransportError, ServerNotFoundError)) \
                from None
        if self.auth is not None:
            self.auth.persist()
        if reply == "":  # drafts.delete and messages.delete answer with an empty body
            return {}
        if not isinstance(reply, dict):
            raise PluginNotReady(f"{SERVICE} a répondu sans objet JSON ({type(reply).__name__})")
        return reply

    def _forget(self) -> None:
        if self.auth is not None:
            self.auth.forget()  # re-read the token file at the next try (after `hub auth google`)

    def failure(self, status: int, headers: Any, content: bytes) -> Exception:
        """The hub's failure for a Gmail error answer (see the module's table); never echoes an address."""
        from hub_google import auth_failed
        from hub_google.auth import auth_command

        reason, message = error_detail(content)
        headers = headers if isinstance(headers, Mapping) else None
        sending = reason == "dailyLimitExceeded" or bool(_SENDING.search(message))
        if status == 429 or (status == 403 and (reason in RATE_LIMIT_REASONS or sending)):
            wait = self._wait(headers, message)
            what = "limite d'envoi quotidienne atteinte" if sending else "trop de requêtes"
            log.warning("gmail rate limited", extra={"status": status, "reason": reason, "branch": self.branch,
                                                     "sending_limit": sending})
            return RateLimited(f"{SERVICE} : {what} ({status} {reason})".strip(), retry_after=wait,
                               sending_limit=sending)
        if status == 401:
            self._forget()
            return auth_failed(self.branch, "Gmail a refusé le jeton (401)")
        if status == 403 and reason in SCOPE_REASONS:
            return ScopeMissing(
                f"{SERVICE} refuse cette opération (403 {reason}) : l'autorisation donnée au hub ne la permet pas ; "
                f"reconnectez le compte : {auth_command(self.branch)}", fix=auth_command(self.branch))
        if status == 403:
            return PluginAuthFailed(
                f"{SERVICE} refuse l'accès (403 {reason}) : il manque une autorisation (envoi ou lecture) ou la "
                f"délégation du compte de service ; reconnectez le compte : {auth_command(self.branch)}",
                fix=auth_command(self.branch))
        if status == 400 and reason == "failedPrecondition":
            return PluginAuthFailed(
                f"{SERVICE} refuse ce compte (400 failedPrecondition) : le service Gmail n'est pas activé pour "
                "lui, ou le compte de service n'a pas la délégation au niveau du domaine (voir hub doctor)")
        failure = failure_for(status, service=SERVICE, headers=headers, detail=reason,
                              auth_fix=auth_command(self.branch), forbidden="auth")
        if isinstance(failure, DeliveryRejected):
            said = message if message and "@" not in message and len(message) <= 80 else ""
            return GmailRejected(f"{SERVICE} a refusé le message ({status} {reason})" + (f" : {said}" if said else ""))
        if isinstance(failure, PluginNotReady):
            log.warning("gmail not ready", extra={"status": status, "branch": self.branch})
        return failure or PluginNotReady(f"{SERVICE} a répondu {status} sans réponse utilisable")

    def _wait(self, headers: Mapping[str, str] | None, message: str) -> float | None:
        """Retry-After (either form), else the time in Gmail's "Retry after 2026-...Z"; None when neither."""
        now = self.clock()
        wait = retry_after(_header(headers, "retry-after"), now=now)
        if wait is None:
            match = _RETRY_AT.search(message)
            if match:
                when = datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
                wait = (when - now).total_seconds()
        return None if wait is None else min(MAX_WAIT, max(1.0, wait))


def error_detail(content: bytes) -> tuple[str, str]:
    """(reason, message) of Google's error JSON: `errors[].reason`, else `details[].reason`, else `status`."""
    try:
        error = json.loads(content).get("error", {})
    except (ValueError, AttributeError, TypeError):
        return "", ""
    if not isinstance(error, dict):
        return str(error)[:40], ""
    reasons = [d.get("reason", "") for d in error.get("errors", []) + error.get("details", []) if isinstance(d, dict)]
    reason = next((r for r in reasons if r), "") or str(error.get("status", ""))
    return reason, str(error.get("message", ""))[:300]


def refresh_reason(exc: Exception) -> str:
    """'invalid_grant' and the like, without echoing whatever else the token endpoint said."""
    text = " ".join(str(a) for a in exc.args)
    for reason in ("invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"):
        if reason in text:
            return f"{reason} : autorisation expirée ou révoquée" if reason == "invalid_grant" else reason
    return "le jeton ne peut pas être renouvelé"


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value)
    return None
