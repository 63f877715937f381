"""The Gmail channel: the hub's e-mails leave from the branch's Gmail mailbox; their bounces come back.

- `message_due` (send.py): one MIME message (mime.py) per delivery key, sent through a draft whose ids are
  committed before the send, so a crash at any point sends it once; 2 Gmail requests per mail normally.
- source `rebonds` (bounces.py): the mailbox's history since the last poll; a delivery-status notification
  about a mail the hub sent becomes `message_bounced`. One cheap request when nothing came.
- `candidate_forgotten` (erasure.py): the person is erased (RGPD art. 17). The hub's own traces in the
  mailbox go as far as the consent allows: the mails it sent to the person or about them (to the referrer,
  to staff), their bounce reports, its unsent drafts. With today's scopes (below) Gmail allows only the
  drafts (drafts.delete: gmail.compose); for each mail the receipt gives staff the exact Gmail search
  (`in:anywhere rfc822msgid:<id>`) and what to delete. With gmail.modify the mails are trashed (Gmail
  empties the trash after 30 days), with https://mail.google.com/ deleted for good. The person's own mails
  and staff's hand-written ones are the branch's correspondence: a manual item. Its private state about
  the person (`send:`, `gm:`, `p:`) goes.
- `hub doctor` (checks.py): the token, the mailbox and sender, the account kind and its consent screen.
- sandbox (sandbox.py): a strict fake of the Gmail v1 endpoints used, driven by the real client.

Scopes (hub_google.SCOPES["gmail"], asked by `hub auth google --branch B` together with the Sheets one):

    gmail.compose   drafts.create / drafts.get / drafts.list / drafts.send (the crash-safe send needs drafts,
                    which gmail.send does not allow); it also allows messages.send, so gmail.send is not asked
    gmail.readonly  history.list, messages.list with q (rfc822msgid:, from:), messages.get format=raw (the
                    DSN's body), threads.get, labels.list: gmail.metadata would not allow q nor the body

That is the narrowest pair that does the job: gmail.modify would add changing labels and trashing, which
only the erasure would use (messages.trash needs gmail.modify or https://mail.google.com/, messages.delete
the latter alone: the discovery document's scopes per method). Without it an erasure leaves the sent mails
to staff, with the exact search for each; a branch that wants the hub to trash them needs gmail.modify in
its consent (hub_google.SCOPES["gmail"], then `hub auth google` again). Both are *restricted* scopes: on a
Workspace account the OAuth consent screen should be "Internal" (exempt from Google's verification); a
consumer account needs a published app ("In testing", refresh tokens expire after 7 days) and Google's
verification. `hub doctor` says which applies.
Google libraries are imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hub import hookimpl
from hub.api import DataUse
from hub.errors import DeliveryRejected, PluginAuthFailed
from hub.sources import Check, Poller, PollResult
from hub_gmail.settings import Settings

if TYPE_CHECKING:
    import click
    from pydantic import BaseModel

    from hub.context import HubContext
    from hub.events import Event
    from hub.sandbox import Sandbox

__all__ = ["Settings"]


@hookimpl
def register_settings(register: Callable[[type[BaseModel]], None]) -> None:
    register(Settings)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from hub_google.commands import add_auth_command

    add_auth_command(cli)


@hookimpl
def register_sources(hub: HubContext, register: Callable[[Poller], None]) -> None:
    from hub_gmail.bounces import SOURCE, BounceSource
    from hub_gmail.mailbox import mailbox

    source = BounceSource(hub, mailbox(hub))

    def poll(cursor: str | None) -> PollResult:
        try:
            return source.poll(cursor)
        except PluginAuthFailed:
            mailbox(hub).forget()  # re-read the token file next time (after `hub auth google`)
            raise

    register(Poller(SOURCE, poll, interval=hub.settings_as(Settings).bounce_interval,
                    resync_cursor=source.resync_cursor))


@hookimpl
def close_lane(hub: HubContext) -> None:
    """The mailbox's Gmail client (its httplib2 connections) closes with the lane."""
    from hub_gmail.mailbox import close_mailbox

    close_mailbox(hub)


@hookimpl
def register_checks(hub: HubContext, register: Callable[[Check], None]) -> None:
    from hub_gmail.checks import checks
    from hub_gmail.mailbox import mailbox

    for check in checks(mailbox(hub)):
        register(check)


@hookimpl
def register_data_uses(register: Callable[[DataUse], None]) -> None:
    register(DataUse(
        where="les mails envoyés (boîte Gmail de l'antenne)",
        sends=("email", "first_name", "last_name", "referrer.contact_name", "referrer.contact_email"),
        why="envoyer à la personne (et, avec son accord, à son ou sa référent·e) les mails de l'antenne",
        kept="dans « Messages envoyés » de la boîte ; à l'effacement, mis à la corbeille ou à effacer à la main "
             "selon l'autorisation donnée (le reçu de l'effacement le dit)"))


@hookimpl
def register_sandbox(register: Callable[[Sandbox], None]) -> None:
    from hub_gmail.sandbox import GmailSandbox

    register(GmailSandbox())


@hookimpl
def candidate_forgotten(hub: HubContext, event: Event) -> None:
    from hub_gmail.erasure import forget
    from hub_gmail.mailbox import mailbox

    box = mailbox(hub)
    try:
        forget(hub, event, box)
    except PluginAuthFailed:
        box.forget()  # the next try re-reads the token file (after `hub auth google`)
        raise


@hookimpl
def message_due(hub: HubContext, event: Event) -> None:
    from hub_gmail.mailbox import mailbox
    from hub_gmail.send import deliver

    if event.message is None:  # the event model requires it; kept for the type checker
        raise DeliveryRejected("message_due sans message")
    deliver(hub, event.message, mailbox(hub))
