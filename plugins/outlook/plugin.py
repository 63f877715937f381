"""The Outlook channel (Microsoft 365): the hub's e-mails leave from the branch's Exchange mailbox.

- auth (auth.py, msal_http.py): one MSAL application per branch, its token cache kept 0600 in the state
  directory, MSAL speaking through the branch's httpx client; `hub auth outlook --branch B` (commands.py)
  tests app credentials or signs a person in with the device code flow.
- `message_due` (send.py): a draft with a property naming the delivery, its immutable id committed before
  it is sent, so a crash at any point sends it once; 2 Graph requests per mail normally; Exchange's 30 mails
  a minute and 10,000 recipients a day counted by the hub, a 429 honoured.
- Graph (graph.py): failures mapped to the hub's, at most 4 requests in flight per mailbox in the process.
- `hub doctor` (checks.py): a token, its permissions, the mailbox.
- `candidate_forgotten` (erasure.py, RGPD art. 17): the mails the hub sent the person and its leftover drafts,
  the events of their sessions (the hub's, and those staff booked in Outlook when the person is the only outside
  attendee) go with `permanentDelete` (DELETE would leave them in Deleted Items); the rest of the mailbox's
  correspondence with the person, found by `$search`, and events others attend too, are manual items for staff.

Permissions (Microsoft Graph): Mail.Send and Mail.ReadWrite (drafts); application permissions for auth =
"app" (an administrator grants them and should restrict the app to the branch's mailbox with Exchange
Online's RBAC for Applications), delegated ones for auth = "delegated". MSAL is imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hub import hookimpl
from hub.api import DataUse
from hub.errors import DeliveryRejected
from hub_outlook.settings import Settings

if TYPE_CHECKING:
    import click
    from pydantic import BaseModel

    from hub.context import HubContext
    from hub.events import Event
    from hub.sandbox import Sandbox
    from hub.sources import Check, Poller, WebhookRoute

__all__ = ["Settings"]


@hookimpl
def register_settings(register: Callable[[type[BaseModel]], None]) -> None:
    register(Settings)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from hub_outlook.commands import add_auth_command

    add_auth_command(cli)


@hookimpl
def register_checks(hub: HubContext, register: Callable[[Check], None]) -> None:
    from hub_outlook.checks import checks
    from hub_outlook.mailbox import mailbox
    from hub_outlook.notifications import subscription_check

    for check in checks(mailbox(hub)):
        register(check)
    if hub.settings_as(Settings).source:
        subscription = subscription_check(hub, hub.settings_as(Settings), mailbox(hub))
        if subscription is not None:
            register(subscription)


@hookimpl
def close_lane(hub: HubContext) -> None:
    """The mailbox's httpx client (login and Graph connections) closes with the lane."""
    from hub_outlook.mailbox import close_mailbox

    close_mailbox(hub)


@hookimpl
def message_due(hub: HubContext, event: Event) -> None:
    from hub_outlook.mailbox import mailbox
    from hub_outlook.send import deliver

    if event.message is None:  # the event model requires it; kept for the type checker
        raise DeliveryRejected("message_due sans message")
    deliver(hub, event.message, mailbox(hub))


@hookimpl
def register_sources(hub: HubContext, register: Callable[[Poller], None]) -> None:
    """`source = true`: the calendar staff book in, read with calendarView delta (calendar_source.py); with a
    public https address, the subscription that makes Graph signal its changes (notifications.py)."""
    settings = hub.settings_as(Settings)
    if not settings.source:
        return
    from hub_outlook.calendar_source import CalendarSource
    from hub_outlook.mailbox import mailbox
    from hub_outlook.notifications import keeper_poller

    register(CalendarSource(hub, settings, mailbox(hub)).poller())
    keeper = keeper_poller(hub, settings, mailbox(hub))
    if keeper is not None:
        register(keeper)


@hookimpl
def register_webhooks(hub: HubContext, register: Callable[[WebhookRoute], None]) -> None:
    """Graph's change and lifecycle notifications (validation handshake included), when notifications are on."""
    settings = hub.settings_as(Settings)
    if not settings.source:
        return
    from hub_outlook.mailbox import mailbox
    from hub_outlook.notifications import routes

    for route in routes(hub, settings, mailbox(hub)):
        register(route)


@hookimpl
def register_data_uses(register: Callable[[DataUse], None]) -> None:
    register(DataUse(
        where="les mails envoyés (boîte Microsoft 365 de l'antenne)",
        sends=("email", "first_name", "last_name", "referrer.contact_name", "referrer.contact_email"),
        why="envoyer à la personne (et, avec son accord, à son ou sa référent·e) les mails de l'antenne",
        kept="dans « Éléments envoyés » ; effacés définitivement à l'effacement de la personne"))
    register(DataUse(
        where="le calendrier de l'antenne ou des coachs (Outlook)",
        sends=("first_name", "last_name", "email"),
        reads=("first_name", "last_name", "email"),
        why="le rendez-vous dans l'agenda de l'équipe (prénom et initiale du nom), la personne invitée si "
            "invite_candidates ; les rendez-vous pris par téléphone et notés dans l'agenda sont lus par le hub",
        kept="jusqu'à l'effacement de la personne : ses rendez-vous sont supprimés"))


@hookimpl
def register_sandbox(register: Callable[[Sandbox], None]) -> None:
    from hub_outlook.sandbox import OutlookSandbox

    register(OutlookSandbox())


@hookimpl
def session_booked(hub: HubContext, event: Event) -> None:
    """An event in the branch's Outlook calendar (`calendar = true`), moved on a reschedule (calendar.py)."""
    from hub_outlook.calendar import booked
    from hub_outlook.mailbox import mailbox

    if hub.settings_as(Settings).calendar:
        booked(hub, event, mailbox(hub).client())


@hookimpl
def candidate_forgotten(hub: HubContext, event: Event) -> None:
    """Erase in the branch's mailbox and calendars what the hub put there about the person (erasure.py)."""
    from hub_outlook.erasure import forget
    from hub_outlook.mailbox import mailbox

    forget(hub, event, mailbox(hub))


@hookimpl
def session_cancelled(hub: HubContext, event: Event) -> None:
    from hub_outlook.calendar import cancelled
    from hub_outlook.mailbox import mailbox

    if hub.settings_as(Settings).calendar:
        cancelled(hub, event, mailbox(hub).client())
