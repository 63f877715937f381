"""`[webhooks_out]` in a branch file: the branch's signing secret (from the environment) and its endpoints."""

from __future__ import annotations

import ipaddress
from typing import Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from hub.events import EventKind

KINDS = tuple(kind.value for kind in EventKind if kind is not EventKind.MESSAGE_DUE)
"""What an endpoint may subscribe to: every event kind but `message_due` (a plugin implementing it would be taken
for the branch's mail channel; the messages themselves are the channel's business)."""

SENDABLE = ("first_name", "last_name", "email", "phone", "registered_at", "consent", "referrer.structure",
            "referrer.kind", "referrer.contact_name", "referrer.contact_email")
"""The person's fields an endpoint may be given (names of hub.privacy.share.FIELDS): never free text, nor what
is asked for the funders' counts only (sex, year of birth)."""

_LOOPBACK_NAMES = {"localhost"}


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Endpoint(BaseModel):
    """One receiver: where it is, what it follows, what it may know of a person."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description=(
        "the endpoint's name as staff say it (crm, n8n): lowercase letters, digits, '-' or '_'; it names the "
        "endpoint in the delivery log, the alerts and its signing secret (renaming it changes the secret)"))
    url: str = Field(description="its HTTPS address (http:// only for a loopback address, for tests)")
    events: list[str] = Field(min_length=1, description=(
        "the event kinds it receives, e.g. [\"session_booked\", \"session_cancelled\"] (any kind but "
        "message_due); an endpoint given a person's fields also receives candidate_forgotten, to erase them"))
    fields: list[str] = Field(default_factory=list, description=(
        "the person's fields it may receive (first_name, last_name, email, phone, registered_at, consent, "
        "referrer.structure, referrer.kind, referrer.contact_name, referrer.contact_email); default none: the "
        "hub's ids only"))

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value)
        if not parts.hostname or parts.scheme not in ("https", "http"):
            raise ValueError("an https:// address")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError("https:// required (http:// only for a loopback address)")
        if parts.username or parts.password:
            raise ValueError("no credentials in the address: receivers check the signature")
        return value

    @field_validator("events")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        unknown = [kind for kind in value if kind not in KINDS]
        if unknown:
            raise ValueError(f"unknown event kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
        return list(dict.fromkeys(value))

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in SENDABLE]
        if unknown:
            raise ValueError(f"field(s) {', '.join(unknown)} cannot be sent; possible: {', '.join(SENDABLE)}")
        return list(dict.fromkeys(value))

    def receives(self, kind: str) -> bool:
        """True when an event of `kind` goes to this endpoint: it subscribed to it, or it is an erasure and the
        endpoint may have received the person's fields."""
        return kind in self.events or (kind == EventKind.CANDIDATE_FORGOTTEN.value and bool(self.fields))


class Settings(BaseModel):
    """The branch's outgoing webhooks."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    secret: SecretStr = Field(description=(
        "the branch's signing secret, at least 16 characters, from the environment (default variable "
        "HUB_<BRANCH>_WEBHOOKS_OUT_SECRET, or secret = { env = \"NAME\" }); each endpoint's own whsec_ key is "
        "derived from it (printed by: hub webhooks-out secret --branch <branch> --endpoint <name>)"))
    endpoints: list[Endpoint] = Field(default_factory=list, description="the receivers ([[webhooks_out.endpoints]])")
    timeout: float = Field(10.0, gt=0, le=60, description="seconds to wait for a receiver's answer")
    alert_after: int = Field(5, ge=1, description=(
        "failed sends in a row to one endpoint before staff are told (hub status), naming it and what to do"))

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("at least 16 characters (e.g. openssl rand -base64 32)")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [endpoint.name for endpoint in self.endpoints]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"endpoint name(s) used twice: {', '.join(twice)}")
        return self

    def endpoint(self, name: str) -> Endpoint | None:
        """The endpoint called `name`, None when the branch has none by that name."""
        return next((e for e in self.endpoints if e.name == name), None)
