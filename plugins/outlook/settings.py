"""The `[outlook]` table of a branch file (re-exported by plugin.py as `Settings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

AUTHORITY_HOST = "https://login.microsoftonline.com"
"""Microsoft Entra's login host. MSAL is always given `{AUTHORITY_HOST}/{tenant}` (it refuses an authority
that is not https); `login_url` only changes where the requests really go (msal_http.py)."""
GRAPH_URL = "https://graph.microsoft.com/v1.0"
GENERIC_TENANTS = frozenset({"common", "organizations", "consumers"})

AuthMode = Literal["app", "delegated"]


class Settings(BaseModel):
    """A branch's Microsoft 365 tenant, app registration and Exchange mailbox.

    auth = "app": the app registration's own identity (client credentials: a secret or a certificate), acting
    on `/users/{mailbox}` with application permissions Mail.Send and Mail.ReadWrite (Calendars.ReadWrite for
    the calendar); an administrator should restrict the app to the branch's mailbox (docs/operations.md).
    auth = "delegated": a staff member signs in once with `hub auth outlook --branch <branch>` (device code);
    the hub then acts as that person with delegated permissions.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    tenant_id: str = Field(description=(
        "Directory (tenant) ID of the organisation (Entra admin centre > Overview), or its domain "
        "(cravate.onmicrosoft.com); not 'common' nor 'organizations'"))
    client_id: str = Field(description="Application (client) ID of the app registration")
    auth: AuthMode = Field("app", description=(
        "app: the app registration acts on the mailbox (client credentials, a secret or a certificate); "
        "delegated: a staff member signs in with `hub auth outlook --branch <branch>` (device code)"))
    client_secret: SecretStr | None = Field(None, description=(
        "client secret VALUE of the app registration (Certificates & secrets), auth = 'app' only; from the "
        "environment: client_secret = { env = \"NAME\" } or HUB_<BRANCH>_OUTLOOK_CLIENT_SECRET"))
    certificate_file: Path | None = Field(None, description=(
        "PEM private key of a certificate uploaded to the app registration (mode 0600), auth = 'app' only, "
        "instead of a secret; with certificate_thumbprint"))
    certificate_thumbprint: str | None = Field(None, description=(
        "thumbprint (SHA-1, hex) of that certificate, as the Entra admin centre shows it"))
    mailbox: str | None = Field(None, description=(
        "address of the branch's Exchange mailbox the mail leaves from; required for auth = 'app'; "
        "unset with 'delegated' = the signed-in person's own mailbox"))
    from_name: str | None = Field(None, description=(
        "name shown in From when the hub gives the message none (e.g. 'La Cravate Solidaire Lyon')"))
    reply_to: str | None = Field(None, description="Reply-To address when the hub gives the message none")
    per_minute: int = Field(30, ge=1, le=30, description=(
        "messages sent per minute at most (Exchange Online allows 30 per mailbox)"))
    daily_recipients: int = Field(10_000, ge=1, le=10_000, description=(
        "recipients per rolling 24 h at most (Exchange Online allows 10,000 per mailbox)"))
    login_url: str = Field(AUTHORITY_HOST, description=(
        "Microsoft login host; another value (a sandbox on loopback) receives every request MSAL makes "
        "to login.microsoftonline.com, same path"))
    graph_url: str = Field(GRAPH_URL, description="Microsoft Graph base URL; a sandbox's in tests and demos")
    max_concurrency: int = Field(4, ge=1, le=4, description=(
        "Graph requests in flight at once on this mailbox, across the whole hub (Outlook allows 4)"))
    calendar: bool = Field(False, description=(
        "put each session booked in the hub into the mailbox's Outlook calendar (moved on a reschedule, "
        "cancelled on a cancellation); needs Calendars.ReadWrite"))
    calendar_id: str | None = Field(None, description="the calendar's id; unset = the mailbox's default calendar")
    invite_candidates: bool = Field(False, description=(
        "add the candidate to the calendar event as an attendee, so Outlook sends them the invitation and, on a "
        "cancellation, the cancellation"))
    coach_mailboxes: dict[str, str] = Field(default_factory=dict, description=(
        "the coach's name as the booking tool gives it (Calendly's host) -> that person's Microsoft 365 address: "
        "the session goes into the coach's calendar instead of the mailbox's (app-only Calendars.ReadWrite on "
        "that mailbox, or a calendar shared with the signed-in person)"))
    teams_meetings: bool = Field(False, description=(
        "a remote session (a place such as 'visio', 'à distance', 'en ligne', and no video link from the booking "
        "tool) gets a Teams meeting in its calendar event"))
    source: bool = Field(False, description=(
        "read the sessions staff book straight in Outlook (in source_calendar_id, or with source_category) as "
        "bookings and cancellations; needs Calendars.Read (Calendars.ReadWrite covers it)"))
    source_calendar_id: str | None = Field(None, description=(
        "the calendar staff book sessions in; unset = calendar_id, else the mailbox's default calendar"))
    source_category: str | None = Field(None, description=(
        "only events with this Outlook category are sessions (e.g. 'Cravate'); unset = every event of that "
        "calendar with at least one attendee from outside"))
    source_programme: str | None = Field(None, description=(
        "programme given to sessions read from Outlook (e.g. 'Coaching emploi')"))
    source_days: int = Field(120, ge=7, le=365, description=(
        "how many days ahead sessions are read; the window moves forward every day"))
    notifications: bool = Field(True, description=(
        "when the hub has a public https address (webhooks.public_url), ask Graph to signal calendar changes "
        "so they arrive within seconds; the regular reading stays on as the safety net"))

    @field_validator("login_url", "graph_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a sandbox on loopback)")
        return value.rstrip("/")

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in GENERIC_TENANTS or not value or "/" in value:
            raise ValueError("give the organisation's tenant ID (a GUID) or domain: the hub acts in one tenant, "
                             "'common', 'organizations' and 'consumers' are not accepted")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Settings:
        has_certificate = self.certificate_file is not None or self.certificate_thumbprint is not None
        if has_certificate and (self.certificate_file is None or self.certificate_thumbprint is None):
            raise ValueError("certificate_file and certificate_thumbprint go together")
        if self.auth == "app":
            if self.client_secret is None and not has_certificate:
                raise ValueError("auth = 'app' needs client_secret (client_secret = { env = \"NAME\" }) or "
                                 "certificate_file + certificate_thumbprint")
            if self.client_secret is not None and has_certificate:
                raise ValueError("give client_secret or a certificate, not both")
            if not self.mailbox:
                raise ValueError("auth = 'app' needs mailbox (the branch's address): an app acts on a named mailbox")
        elif self.client_secret is not None or has_certificate:
            # a public client sending a secret is refused by Entra (AADSTS700025)
            raise ValueError("auth = 'delegated' signs in a person (public client): remove client_secret and "
                             "the certificate, or use auth = 'app'")
        return self
