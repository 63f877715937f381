"""The Google Sheets connector: registrations from the form answers, a live tracking sheet, staff outcomes.

Sources: `formulaire` (form answers -> candidate_registered) and `suivi` (writes pending tracking rows,
reads staff's Présence/Résultat picks -> outcome_recorded). Event hooks only record the wanted rows (no
network), so a burst of events costs a couple of batched writes. Google libraries load lazily.

Erasure (`candidate_forgotten`, hub_gsheets.erasure): the person's tracking rows are deleted, the cells of their
form answers cleared (rows kept: the form source counts rows), the connector's state about them dropped; the
receipt asks staff to delete the answer in Google Forms too (its API cannot) and names the version history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hub import hookimpl
from hub.api import DataUse
from hub.sources import Check, Poller
from hub_gsheets.settings import FormColumns, Settings

if TYPE_CHECKING:
    import click
    from pydantic import BaseModel

    from hub.context import HubContext
    from hub.events import Event
    from hub.sandbox import Sandbox

__all__ = ["FormColumns", "Settings"]


@hookimpl
def register_settings(register: Callable[[type[BaseModel]], None]) -> None:
    register(Settings)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from hub_gsheets.commands import add_commands

    add_commands(cli)


@hookimpl
def register_sources(hub: HubContext, register: Callable[[Poller], None]) -> None:
    from hub_google.quota import report_shared_quota
    from hub_gsheets.connector import Connector

    for poller in Connector(hub).pollers():
        register(poller)
    report_shared_quota(hub)  # several branches on one Google account: a warning in `hub status`


@hookimpl
def close_lane(hub: HubContext) -> None:
    """The connector's Sheets client (its httplib2 connections) closes with the lane."""
    from hub_gsheets.connector import close_connectors

    close_connectors(hub)


@hookimpl
def register_checks(hub: HubContext, register: Callable[[Check], None]) -> None:
    from hub_google.quota import quota_check
    from hub_gsheets.connector import Connector

    connector = Connector(hub)

    def reachable() -> str:
        settings = hub.settings_as(Settings)
        book = connector.client().spreadsheet(settings.spreadsheet_id)
        tabs = [s.get("properties", {}).get("title", "") for s in book.get("sheets", [])]
        wanted = [t for t in (settings.form_sheet, settings.tracking_sheet) if t]
        missing = [t for t in wanted if t.casefold() not in {x.casefold() for x in tabs}]
        if settings.form_sheet in missing and not settings.form_spreadsheet_id:
            raise RuntimeError(f"onglet « {settings.form_sheet} » introuvable : vérifiez form_sheet")
        return f"classeur accessible ({len(tabs)} onglets)" + (" ; l'onglet de suivi sera créé" if missing else "")

    register(Check("classeur Google Sheets", reachable))
    register(Check("quota Google partagé", lambda: quota_check(hub)))


@hookimpl
def register_data_uses(register: Callable[[DataUse], None]) -> None:
    register(DataUse(
        where="la feuille de suivi (Google Sheets)",
        sends=("registered_at", "first_name", "last_name", "email", "phone", "referrer.structure",
               "referrer.contact_name"),
        why="que l'équipe suive chaque personne : rendez-vous, présence, résultats, désinscription",
        kept="jusqu'à l'effacement de la personne (à sa demande, ou à la fin de la durée de conservation) : sa "
             "ligne est supprimée"))
    register(DataUse(
        where="la feuille des réponses au formulaire d'inscription (Google Forms)",
        reads=("registered_at", "first_name", "last_name", "email", "phone", "referrer.structure",
               "referrer.contact_name", "referrer.contact_email", "consent", "sex", "birth_year"),
        why="l'inscription de la personne, lue par le hub",
        kept="à l'effacement, les cellules de la personne sont vidées ; la copie propre à Google Forms s'efface "
             "à la main (le reçu de l'effacement le dit)"))


@hookimpl
def register_sandbox(register: Callable[[Sandbox], None]) -> None:
    from hub_gsheets.sandbox import SheetsSandbox

    register(SheetsSandbox())


def _record(hub: HubContext, event: Event) -> None:
    from hub_gsheets.tracking import record

    record(hub, event)


@hookimpl
def candidate_needs_call(hub: HubContext, event: Event) -> None:
    _record(hub, event)


@hookimpl
def message_bounced(hub: HubContext, event: Event) -> None:
    _record(hub, event)


@hookimpl
def candidate_opted_out(hub: HubContext, event: Event) -> None:
    _record(hub, event)


@hookimpl
def candidate_opted_in(hub: HubContext, event: Event) -> None:
    _record(hub, event)


@hookimpl
def candidate_registered(hub: HubContext, event: Event) -> None:
    _record(hub, event)


@hookimpl
def session_booked(hub: HubContext, event: Event) -> None:
    _record(hub, event)


@hookimpl
def session_cancelled(hub: HubContext, event: Event) -> None:
    _record(hub, event)


@hookimpl
def outcome_recorded(hub: HubContext, event: Event) -> None:
    _record(hub, event)


@hookimpl
def candidate_forgotten(hub: HubContext, event: Event) -> None:
    """Unlike the hooks above this one calls Google: the erasure is done when the delivery is."""
    from hub_gsheets.erasure import forget

    forget(hub, event)
