"""A complete, small connector for "Carnet", a fictional sign-up and journal web service.

It shows every part a connector has: a settings model, a poller with a cursor, an idempotent sink using the
delivery key, the failure taxonomy, a health check and a sandbox. The demo uses it as the branch's journal:
every event becomes one line a coordinator can read.

The vendor boundary is the core's, not the connector's: `hub.api.check_response` turns Carnet's answers into
the failure taxonomy (429/5xx not ready with Retry-After, 401/403 auth failed, another 4xx rejected) and
`hub.api.failure_from_exception` does the same for network errors, naming the service and the error's type
but never its text. Carnet's token comes from the settings (the environment), so this connector keeps no
secret file; one that must (an OAuth refresh token, a webhook signing key it generated) uses
`hub.write_secret(name, text)` (atomic, 0600) and `hub.read_secret(name, fix=...)` (refuses a file others can
read), as the Calendly and Google connectors do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from hub import DeliveryRejected, hookimpl
from hub.api import LaneClients, check_response, failure_from_exception
from hub.context import HubContext
from hub.events import Candidate, Event, EventKind
from hub.sources import Check, Poller, PollResult


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    url: str = Field(description="base address of the Carnet service")
    token: SecretStr = Field(description="API token (from the environment: token = { env = \"NAME\" })")
    poll_interval: float | None = Field(None, description="seconds between polls (branch default if unset)")


CLIENTS = LaneClients()
"""The lane's client (one per state directory and branch), reused by its polls, deliveries and checks so its
connection pool is kept (issue 12); rebuilt when the branch's settings change, closed by `close_lane`."""


def _client(hub: HubContext) -> httpx.Client:
    settings = hub.settings_as(Settings)
    return CLIENTS.get(hub, settings, lambda: httpx.Client(
        base_url=settings.url, timeout=10, headers={"Authorization": f"Bearer {settings.token.get_secret_value()}"}))


def close_clients(hub: HubContext | None = None) -> None:
    """Close the branch's client of `hub`, or every lane's; the next use builds a new one."""
    CLIENTS.close(hub)


SERVICE = "Carnet"  # how staff name the service: every failure message starts with it


# The `--8<--` lines mark what the docs site shows of this file (pymdownx.snippets): the pages show this
# tested code, never a copy of it.
# --8<-- [start:poll]
def _poll_signups(hub: HubContext) -> Callable[[str | None], PollResult]:
    def poll(cursor: str | None) -> PollResult:
        client = _client(hub)
        try:
            reply = client.get("/signups", params={"after": cursor or "0", "limit": 100})
        except httpx.TransportError as exc:  # `from None`: the error's text may hold the URL
            raise failure_from_exception(exc, service=SERVICE) from None
        # Carnet has no login command: a refused token is replaced in the environment, so no auth_fix
        # (staff are sent to `hub doctor`, then `hub retry`)
        page = check_response(reply, service=SERVICE).json()
        events = []
        for item in page["items"]:
            try:
                events.append(Event(kind=EventKind.CANDIDATE_REGISTERED, occurred_at=item["created_at"],
                                    source_id=f"signup:{item['id']}",
                                    candidate=Candidate(ref=str(item["id"]), first_name=item.get("first_name"),
                                                        last_name=item.get("last_name"), email=item.get("email"),
                                                        phone=item.get("phone"))))
            except (KeyError, ValueError) as exc:
                hub.report_problem(f"signup {item.get('id')}", "signup", f"unreadable sign-up ({type(exc).__name__});"
                                   " fix it in Carnet")
        return PollResult(events=events, cursor=str(page["last_id"]) if page["items"] else cursor,
                          more=bool(page.get("has_more")))
    return poll
# --8<-- [end:poll]


def _known_before(event: Event) -> bool:
    """A second registration of a person the hub knew (from another tool): no new arrival to announce."""
    first = event.candidate.registered_at if event.candidate else None
    return first is not None and first < event.occurred_at


def _de(name: str) -> str:
    """French elision: "d'Aïcha", "de Jérôme"."""
    return f"d'{name}" if name[:1].casefold() in "aàâäeéèêëiîïoôöuùûüy" else f"de {name}"


def journal_line(event: Event, zone: ZoneInfo) -> str:
    """The French line staff read in the journal (no contact details, only names and local dates)."""
    who = event.candidate.display_name if event.candidate else "?"
    when = event.session.start.astimezone(zone).strftime("%d/%m/%Y %H:%M") if event.session else ""
    texts = {
        EventKind.CANDIDATE_REGISTERED: f"Informations complétées pour {who}" if _known_before(event)
        else f"Inscription {_de(who)}",
        EventKind.SESSION_BOOKED: (f"RDV déplacé pour {who} au {when}" if event.session and event.session.replaces
                                   else f"RDV réservé pour {who} le {when}"),
        EventKind.SESSION_CANCELLED: f"RDV annulé pour {who} (prévu le {when})",
        EventKind.OUTCOME_RECORDED: f"Résultat pour {who} : {event.outcome.label or event.outcome.category.value}"
        if event.outcome else "",
        EventKind.SESSION_REMINDER_DUE: f"Rappel à envoyer à {who} ({event.due.offset} avant le {when})"
        if event.due else "",
        EventKind.FOLLOWUP_DUE: f"Suivi à faire avec {who} ({event.due.offset} après le {when})" if event.due else "",
        EventKind.MESSAGE_DUE: f"Mail envoyé à {event.message.to_name or who} : « {event.message.subject} »"
        if event.message else "",
        EventKind.MESSAGE_BOUNCED: f"Adresse e-mail en échec pour {who} : plus de mail jusqu'à ce qu'elle change",
    }
    return texts[event.kind]


# --8<-- [start:write]
def _write_journal(hub: HubContext, event: Event, **extra: Any) -> None:
    client = _client(hub)
    try:
        # The delivery key makes a repeated delivery (after a crash) a no-op on Carnet's side.
        reply = client.post("/journal", headers={"Idempotency-Key": str(hub.delivery_key)},
                            json={"kind": event.kind.value, "candidate": event.candidate_id,
                                  "text": journal_line(event, hub.zone), **extra})
    except httpx.TransportError as exc:
        raise failure_from_exception(exc, service=SERVICE) from None
    check_response(reply, service=SERVICE)  # 5xx: retried later; 400 (bad line): dead letter at once
# --8<-- [end:write]


@hookimpl
def register_settings(register: Callable[[type[BaseModel]], None]) -> None:
    register(Settings)


# --8<-- [start:register_sources]
@hookimpl
def register_sources(hub: HubContext, register: Callable[[Poller], None]) -> None:
    settings = hub.settings_as(Settings)
    register(Poller("signups", _poll_signups(hub), interval=settings.poll_interval))
# --8<-- [end:register_sources]


@hookimpl
def close_lane(hub: HubContext) -> None:
    """The hub stops: close this branch's client (not at process exit only: tests and tools open many hubs)."""
    close_clients(hub)


@hookimpl
def register_checks(hub: HubContext, register: Callable[[Check], None]) -> None:
    def reachable() -> str:
        client = _client(hub)
        check_response(client.get("/signups", params={"after": "0", "limit": 1}), service=SERVICE)
        return "Carnet reachable, token accepted"
    register(Check("carnet", reachable))


@hookimpl
def register_data_uses(register: Callable[[Any], None]) -> None:
    from hub.api import DataUse

    register(DataUse(
        where="le carnet de l'antenne (fichier local, connecteur d'exemple)",
        sends=("first_name", "last_name"),
        reads=("first_name", "last_name", "email", "phone"),
        why="une ligne par événement, pour l'équipe ; les inscriptions du carnet sont lues par le hub",
        kept="jusqu'à l'effacement de la personne : ses lignes sont retirées"))


@hookimpl
def register_sandbox(register: Callable[[Any], None]) -> None:
    from hub_example.sandbox import CarnetSandbox
    register(CarnetSandbox())


@hookimpl
def candidate_registered(hub: HubContext, event: Event) -> None:
    _write_journal(hub, event)


# --8<-- [start:session_booked]
@hookimpl
def session_booked(hub: HubContext, event: Event) -> None:
    _write_journal(hub, event)
# --8<-- [end:session_booked]


@hookimpl
def session_cancelled(hub: HubContext, event: Event) -> None:
    _write_journal(hub, event)


@hookimpl
def outcome_recorded(hub: HubContext, event: Event) -> None:
    _write_journal(hub, event)


@hookimpl
def session_reminder_due(hub: HubContext, event: Event) -> None:
    _write_journal(hub, event)


@hookimpl
def followup_due(hub: HubContext, event: Event) -> None:
    _write_journal(hub, event)


# --- a channel: Carnet also sends the branch's mails ----------------------------------------------------------
# Implementing `message_due` makes a plugin a channel: the core plans, renders and schedules each message and
# hands it over once it may go; the channel only delivers it, once, using the delivery key. A branch picks
# its channel with `channels = { email = "example" }` (the only channel-capable plugin is picked otherwise).

# --8<-- [start:message_due]
@hookimpl
def message_due(hub: HubContext, event: Event) -> None:
    message = event.message
    if message is None:
        raise DeliveryRejected("a message_due event without its message")
    _write_journal(hub, event, message={"to": message.to, "subject": message.subject, "text": message.text,
                                        "id": message.id})
# --8<-- [end:message_due]


@hookimpl
def message_bounced(hub: HubContext, event: Event) -> None:
    _write_journal(hub, event)


# --- erasure: the person asked to be forgotten (RGPD art. 17) ---------------------------------------------------
# The hub has erased its own copy; each tool that received data about the person gets `candidate_forgotten`
# with the record the hub had, for this delivery only. Erase through the API, then say what was erased
# (`hub.erased`) and what staff must do by hand (`hub.erasure_manual`): that is the receipt staff read in
# `hub forget --status`. Retried like any delivery, so erasing twice must be harmless.

# --8<-- [start:candidate_forgotten]
@hookimpl
def candidate_forgotten(hub: HubContext, event: Event) -> None:
    person = event.candidate
    if person is None or person.id is None:
        raise DeliveryRejected("candidate_forgotten without the person's id")
    signup = hub.external_id("candidate", person.id)  # the sign-up's id, when the person signed up in Carnet
    client = _client(hub)
    try:
        reply = client.delete(f"/people/{person.id}", params={"signup": signup} if signup else None)
    except httpx.TransportError as exc:
        raise failure_from_exception(exc, service=SERVICE) from None
    check_response(reply, service=SERVICE)
    hub.erased("lignes du journal Carnet")
    if signup:
        hub.erased("inscription reçue par Carnet")
# --8<-- [end:candidate_forgotten]
