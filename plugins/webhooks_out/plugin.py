"""Outgoing webhooks: the hub's events, as Standard Webhooks, to the tools a branch runs (docs/webhooks-out.md).

Written with the public plugin API only, like any third-party connector: settings (`settings.py`), the payload
(`payload.py`), the signature (`signing.py`), the send with its failure mapping and per-endpoint ledger
(`send.py`), a command (`commands.py`) and a fake receiver (`sandbox.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from pydantic import BaseModel

from hub import hookimpl
from hub.context import HubContext
from hub.events import Event
from hub_webhooks_out.send import close_clients, send
from hub_webhooks_out.settings import SENDABLE, Settings


@hookimpl
def register_settings(register: Callable[[type[BaseModel]], None]) -> None:
    register(Settings)


@hookimpl
def register_data_uses(register: Callable[[Any], None]) -> None:
    from hub.api import DataUse

    register(DataUse(
        where="les outils de l'antenne qui reçoivent ses webhooks (CRM, n8n, Zapier, outil maison)",
        sends=SENDABLE,
        why="suivre les événements de l'antenne sans connecteur sur mesure ; chaque adresse ne reçoit que les "
            "champs que son `fields` nomme (aucun par défaut : les identifiants du hub seulement)",
        kept="chez l'outil qui reçoit ; à l'effacement, il reçoit un avis (raison « erasure ») et l'antenne "
             "vérifie qu'il a effacé la personne"))


@hookimpl
def register_sandbox(register: Callable[[Any], None]) -> None:
    from hub_webhooks_out.sandbox import ReceiverSandbox

    register(ReceiverSandbox())


@hookimpl
def register_commands(cli: click.Group) -> None:
    from hub_webhooks_out.commands import webhooks_out

    cli.add_command(webhooks_out)


@hookimpl
def close_lane(hub: HubContext) -> None:
    close_clients(hub)


@hookimpl
def candidate_registered(hub: HubContext, event: Event) -> None:
    send(hub, event)


@hookimpl
def session_booked(hub: HubContext, event: Event) -> None:
    send(hub, event)


@hookimpl
def session_cancelled(hub: HubContext, event: Event) -> None:
    send(hub, event)


@hookimpl
def outcome_recorded(hub: HubContext, event: Event) -> None:
    send(hub, event)


@hookimpl
def session_reminder_due(hub: HubContext, event: Event) -> None:
    send(hub, event)


@hookimpl
def followup_due(hub: HubContext, event: Event) -> None:
    send(hub, event)


@hookimpl
def message_bounced(hub: HubContext, event: Event) -> None:
    send(hub, event)


@hookimpl
def candidate_needs_call(hub: HubContext, event: Event) -> None:
    send(hub, event)


@hookimpl
def candidate_forgotten(hub: HubContext, event: Event) -> None:
    """The person is erased: endpoints that follow erasures, or were given the person's fields, get the hub's id
    with reason "erasure" and nothing else."""
    send(hub, event)


@hookimpl
def candidate_opted_out(hub: HubContext, event: Event) -> None:
    send(hub, event)


@hookimpl
def candidate_opted_in(hub: HubContext, event: Event) -> None:
    send(hub, event)
