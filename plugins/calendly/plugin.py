"""The Calendly connector: bookings, cancellations, reschedules and no-shows from Calendly into the hub.

Polling works on every Calendly plan and is always on; webhooks (Standard plan and above) make bookings
arrive at once and share their dedupe keys with polling, so both may run together harmlessly.

Erasure (`candidate_forgotten`, erasure.py): on the Enterprise plan, with the data_compliance:write scope and
Calendly's data requests permission, the person's bookings are erased through Calendly's data compliance API
(name and answers deleted, e-mail anonymized, within 7 days); on any other plan the receipt tells staff the
admin centre's Data deletion step, with the dates of the bookings. Either way the connector drops what it kept
about the person, and a booking Calendly anonymized is never read back as a new person.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from hub import hookimpl
from hub.api import DataUse, Seconds
from hub_calendly.client import DEFAULT_API_URL

if TYPE_CHECKING:
    import click

    from hub.api import BranchConfig
    from hub.context import HubContext
    from hub.events import Event
    from hub.sandbox import Sandbox
    from hub.sources import Check, Poller, WebhookRoute

PLUGIN = "calendly"
QUESTION_TARGETS = re.compile(
    r"^(phone|first_name|last_name|consent|sex|birth_year|referrer\.(structure|kind|contact_name|contact_email)"
    r"|extra\.[a-z0-9_]+)$")


class EventTypeMapping(BaseModel):
    """Where bookings of one Calendly event type belong in the branch's programmes."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    programme: str = Field(description="programme key of the branch (see [programmes] in the branch file)")
    module: str | None = Field(None, description="module of that programme, if the event type is one module")


class Settings(BaseModel):
    """The `[calendly]` table of a branch file."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    token: SecretStr = Field(description="personal access token (Integrations > API & Webhooks); from the "
                                         "environment: token = { env = \"NAME\" } or HUB_<BRANCH>_CALENDLY_TOKEN")
    api_url: str = Field(DEFAULT_API_URL, description="Calendly API base URL; the sandbox's URL in tests and demos")
    scope: Literal["user", "organization"] = Field(
        "user", description="read the token owner's events ('user') or the whole organisation's (admin token)")
    event_types: dict[str, EventTypeMapping] = Field(
        default_factory=dict,
        description="event type (URI, uuid or name) -> programme/module; when set, other event types are ignored")
    default_programme: str | None = Field(
        "atelier", description="programme of bookings whose event type is not listed (when event_types is empty)")
    questions: dict[str, str] = Field(
        default_factory=lambda: {"Téléphone": "phone", "Numéro de téléphone": "phone",
                                 "Structure qui vous oriente": "referrer.structure"},
        description="booking form question (exact text, case ignored) -> candidate field: phone, first_name, "
                    "last_name, consent, sex, birth_year (a year or a date of birth), "
                    "referrer.structure|kind|contact_name|contact_email or extra.<name>")
    poll_interval: Seconds | None = Field(None, description="seconds (or '5m') between two polls; hub default if unset")
    lookback: Seconds = Field(7 * 86400.0, description="how far back polling re-reads sessions (late cancellations, "
                                                "no-shows marked after the session)")
    poll_budget: float = Field(0.6, gt=0, le=0.9, description="share of the plan's requests per minute (read "
                               "from Calendly's X-RateLimit-Limit) the booking poller may spend reading changed "
                               "sessions; a first sync of a busy branch goes on at the next polls")
    no_show_interval: Seconds = Field(3600.0, description="how often past sessions are re-read for no-shows")
    no_show_budget: float = Field(0.2, gt=0, le=0.5, description="share of the plan's requests per minute (read "
                                  "from Calendly's X-RateLimit-Limit) one run of the no-show sweep may spend")
    webhook_signing_key: SecretStr | None = Field(
        None, description="signing key of the webhook subscription; unset = the key "
                          "`hub calendly subscribe --branch <branch>` stored in the state directory")
    webhook_events: list[str] = Field(
        ["invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted"],
        description="webhook events to subscribe to")
    webhook_tolerance: Seconds = Field(180, description="oldest accepted webhook signature timestamp (seconds)")
    subscription_check_interval: Seconds = Field(
        3600.0, description="how often the webhook subscription is checked and re-created if Calendly disabled it")
    single_use_links: bool = Field(False, description="offer single-use booking links "
                                   "(hub calendly link --branch <branch> --candidate <id>)")
    link_event_type: str | None = Field(None, description="event type URI used for single-use booking links")

    @model_validator(mode="after")
    def _budgets_fit_the_minute(self) -> Settings:
        """The booking poller and the no-show sweep may run in the same minute; a tenth is left for the webhook
        check and anything else using the same Calendly user."""
        if self.poll_budget + self.no_show_budget > 0.9 + 1e-9:
            raise ValueError(f"poll_budget ({self.poll_budget}) + no_show_budget ({self.no_show_budget}) must not "
                             "exceed 0.9 of the plan's requests per minute; lower one of them")
        return self

    @field_validator("questions")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        for question, target in value.items():
            if not QUESTION_TARGETS.match(target):
                raise ValueError(f"question {question!r}: unknown field {target!r}; use phone, first_name, "
                                 "last_name, consent, sex, birth_year, referrer.structure, referrer.kind, "
                                 "referrer.contact_name, referrer.contact_email or extra.<name>")
        return value

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("use an https:// address (http only for a local sandbox)")
        return value.rstrip("/")

    def check_branch(self, branch: BranchConfig) -> list[tuple[str, str, str]]:
        """Programmes and modules named here must be the branch's (called by load_config, see hub.config)."""
        from hub.api import location, programme_checks

        if not self.event_types:  # default_programme is only used when event_types is empty
            return programme_checks(branch, "default_programme", self.default_programme)
        out: list[tuple[str, str, str]] = []
        for event_type, mapping in self.event_types.items():
            key = f"event_types.{location([event_type])}"
            out += programme_checks(branch, f"{key}.programme", mapping.programme, mapping.module, f"{key}.module")
        return out


def settings_of(hub: HubContext) -> Settings:
    if not isinstance(hub.settings, Settings):
        raise RuntimeError("calendly: the branch has no valid [calendly] settings")
    return hub.settings


@hookimpl
def register_settings(register: Callable[[type[BaseModel]], None]) -> None:
    register(Settings)


@hookimpl
def register_sources(hub: HubContext, register: Callable[[Poller], None]) -> None:
    from hub_calendly.poller import sources_for

    for poller in sources_for(hub, settings_of(hub)):
        register(poller)


@hookimpl
def register_webhooks(hub: HubContext, register: Callable[[WebhookRoute], None]) -> None:
    from hub.sources import WebhookRoute
    from hub_calendly.webhook import WebhookHandler

    register(WebhookRoute(handler=WebhookHandler(hub, settings_of(hub))))


@hookimpl
def close_lane(hub: HubContext) -> None:
    """The branch's clients (the pollers' shared one, the webhook handler's) close with its lane."""
    from hub_calendly.account import close_clients

    close_clients(hub)


@hookimpl
def register_checks(hub: HubContext, register: Callable[[Check], None]) -> None:
    from hub_calendly.subscription import checks_for

    for check in checks_for(hub, settings_of(hub)):
        register(check)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from hub_calendly.commands import calendly

    cli.add_command(calendly)


@hookimpl
def candidate_forgotten(hub: HubContext, event: Event) -> None:
    """The person is forgotten: erase their bookings in Calendly (API on Enterprise, else a manual step)."""
    from hub_calendly.erasure import forget

    forget(hub, settings_of(hub), event)


@hookimpl
def register_data_uses(register: Callable[[DataUse], None]) -> None:
    register(DataUse(
        where="les réservations Calendly",
        sends=(),
        reads=("first_name", "last_name", "email", "phone", "referrer.structure", "referrer.kind",
               "referrer.contact_name", "referrer.contact_email", "consent", "sex", "birth_year", "extra.<question>",
               "session.cancel_reason"),
        why="la personne réserve elle-même son rendez-vous ; le hub ne donne à Calendly que son identifiant "
            "(dans le lien de réservation), les réponses aux questions sont lues selon [calendly] questions",
        kept="chez Calendly ; à l'effacement, suppression par l'API de conformité (offre Enterprise) ou à la "
             "main dans le centre d'administration (le reçu de l'effacement le dit)"))


@hookimpl
def register_sandbox(register: Callable[[Sandbox], None]) -> None:
    from hub_calendly.sandbox import CalendlySandbox

    register(CalendlySandbox())
