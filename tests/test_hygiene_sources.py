"""Input hygiene end to end (issue 11, "Input hygiene"): hostile answers through the real sources and sandboxes.

The form sheet cleans a row itself, to name the row and column of a value it leaves out; a Calendly booking is
cleaned by the core at ingest. Either way the bad value is kept out, the rest kept, one problem reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import hub_calendly.plugin as calendly_plugin
import hub_gsheets.plugin as gsheets_plugin
from hub.app import Hub
from hub.events import Candidate
from hub.sandbox import serve
from hub.testing import FakeClock
from hub_calendly.sandbox import CalendlySandbox
from hub_gsheets.dates import to_serial
from hub_gsheets.sandbox import DEMO_TOKEN, FORM_HEADERS_FR, FORM_SHEET_FR, SheetsSandbox

RLO = "\u202e"
SHEET_ID = "classeur-hygiene"
PARIS = ZoneInfo("Europe/Paris")
WHEN = datetime(2026, 3, 2, 10, 0, tzinfo=PARIS)
SHEETS_CELL_LIMIT = 50_000


def people(hub: Hub, branch: str, plugin: str) -> list[Candidate]:
    """The records of the people `plugin` registered (the hub's own picture, not a plugin's share of it)."""
    rows = hub.store.list_events(branch=branch, limit=1000)
    ids = {row.candidate_id for row in rows if row.kind == "candidate_registered" and row.candidate_id
           and row.source == plugin}
    found = [hub.store.get_entity("candidates", cid) for cid in sorted(ids)]
    return [Candidate.model_validate(c) for c in found if c is not None]


def problems(hub: Hub, branch: str) -> list[tuple[str, str, str, str]]:
    return [(r.plugin, r.ref, r.field, r.message) for r in hub.store.list_problems(branch)]


# --- the Google Forms answer sheet --------------------------------------------------------------------------

@pytest.fixture
def sheets(clock: FakeClock) -> SheetsSandbox:
    fake = SheetsSandbox(clock=clock)
    fake.create(SHEET_ID, {FORM_SHEET_FR: [FORM_HEADERS_FR]})
    return fake


@pytest.fixture
def sheets_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
               sheets: SheetsSandbox) -> Iterator[Hub]:
    register_plugin("gsheets", gsheets_plugin)
    with serve({"gsheets": sheets}) as urls:
        yield make_hub({"lyon": {"plugins": ["gsheets"], "gsheets": {
            "spreadsheet_id": SHEET_ID, "auth": "static_token", "api_endpoint": urls["gsheets"]}}},
            environ={"HUB_LYON_GSHEETS_ACCESS_TOKEN": DEMO_TOKEN})


def answer(i: int, first: str, last: str, phone: Any, email: str | None = None) -> list[Any]:
    return [to_serial(WHEN + timedelta(minutes=i), PARIS), email or f"p{i}@exemple.fr", first, last, phone,
            "France Travail", "Mme Durand"]


def poll_form(hub: Hub) -> int:
    poller = next(p for plugin, p in hub.pollers["lyon"] if plugin == "gsheets" and p.name == "formulaire")
    return hub.poll("lyon", "gsheets", poller)


def test_a_hostile_form_row_keeps_its_person_but_not_its_bad_phone(sheets_hub: Hub, sheets: SheetsSandbox) -> None:
    for i in range(5):
        sheets.append_row(SHEET_ID, FORM_SHEET_FR, answer(i, f"Prénom{i}", "Dupré", "06 12 34 56 7" + str(i)))
    row = sheets.append_row(SHEET_ID, FORM_SHEET_FR, answer(9, f"\x00Zoé{RLO}", "Lefèvre-Nuñez\x07", "=0+33 6"))
    assert row == 7

    assert poll_form(sheets_hub) == 6  # six registrations: the hostile row is not left behind
    zoe = next(c for c in people(sheets_hub, "lyon", "gsheets") if c.last_name == "Lefèvre-Nuñez")
    assert zoe.first_name == "Zoé" and zoe.phone is None and zoe.email == "p9@exemple.fr"
    [(plugin, ref, field, message)] = problems(sheets_hub, "lyon")  # once: the core found nothing more to say
    assert (plugin, ref, field) == ("gsheets", f"{FORM_SHEET_FR}!ligne 7", "Téléphone")
    assert message.startswith(f"{FORM_SHEET_FR}, ligne 7, colonne « Téléphone » : numéro de téléphone invalide")
    assert "Corrigez la cellule" in message
    assert "=0+33" not in message and "Zoé" not in message and "p9@" not in message

    sheets.set_cell(SHEET_ID, FORM_SHEET_FR, row, "Téléphone", "06 98 76 54 32")  # staff correct the cell
    poll_form(sheets_hub)
    assert problems(sheets_hub, "lyon") == []
    again = [c for c in people(sheets_hub, "lyon", "gsheets") if c.last_name == "Lefèvre-Nuñez"]
    assert [(c.id, c.phone) for c in again] == [(zoe.id, "+33698765432")]  # the same person, now reachable


def test_a_form_row_without_any_valid_contact_is_held_back(sheets_hub: Hub, sheets: SheetsSandbox) -> None:
    sheets.append_row(SHEET_ID, FORM_SHEET_FR, answer(0, "Léa", "Roux", "@SUM(A1)", email="pas-une-adresse"))
    assert poll_form(sheets_hub) == 0
    [(_, ref, field, message)] = problems(sheets_hub, "lyon")
    assert (ref, field) == (f"{FORM_SHEET_FR}!ligne 2", "Adresse e-mail / Téléphone")
    assert "adresse e-mail invalide" in message and "téléphone invalide" in message
    assert "pas-une-adresse" not in message and "SUM" not in message


def test_a_60000_character_answer_is_capped_before_it_reaches_a_sheet(sheets_hub: Hub,
                                                                       sheets: SheetsSandbox) -> None:
    """Google refuses cells over 50,000 characters: such an answer would block the tracking sheet's writes."""
    sheet = sheets.sheet(SHEET_ID, FORM_SHEET_FR)
    sheet.rows.append(answer(0, "A" * 60_000, "=HYPERLINK(\"http://x\",\"clic\")", "\t=1+1"))
    sheet.row_count = len(sheet.rows) + 1
    assert poll_form(sheets_hub) == 1
    [person] = people(sheets_hub, "lyon", "gsheets")
    assert len(person.first_name or "") <= 100 and person.phone is None
    assert person.last_name == '=HYPERLINK("http://x","clic")'  # kept as typed; the sheet is written RAW


# --- a Calendly booking -------------------------------------------------------------------------------------

@pytest.fixture
def calendly(clock: FakeClock) -> CalendlySandbox:
    return CalendlySandbox(clock=clock)


@pytest.fixture
def calendly_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
                 calendly: CalendlySandbox) -> Iterator[Hub]:
    register_plugin("calendly", calendly_plugin)
    with serve({"calendly": calendly}) as urls:
        yield make_hub({"antenne": {"plugins": ["calendly"], "calendly": {"api_url": urls["calendly"]}}},
                       environ={"HUB_ANTENNE_CALENDLY_TOKEN": calendly.token_for("antenne"),
                                "HUB_ANTENNE_CALENDLY_WEBHOOK_SIGNING_KEY": "test-signing-key"})


def poll_bookings(hub: Hub) -> int:
    poller = next(p for _, p in hub.pollers["antenne"] if p.name == "calendly-bookings")
    return hub.poll("antenne", "calendly", poller)


def test_a_hostile_calendly_booking_is_cleaned_at_ingest(calendly_hub: Hub, calendly: CalendlySandbox,
                                                         clock: FakeClock) -> None:
    uri = calendly.book("antenne", email="Zoe@EXEMPLE.FR", first_name=f"{RLO}Zoé\x00", last_name="Lefèvre\u2066",
                        phone="=0+33 6", start=clock() + timedelta(days=2))
    assert poll_bookings(calendly_hub) == 2  # the registration and the booking
    [zoe] = people(calendly_hub, "antenne", "calendly")
    assert (zoe.first_name, zoe.last_name, zoe.email, zoe.phone) == ("Zoé", "Lefèvre", "Zoe@exemple.fr", None)
    [(plugin, ref, field, message)] = problems(calendly_hub, "antenne")
    assert (plugin, field) == ("calendly", "téléphone") and str(zoe.id) in ref
    assert "numéro de téléphone invalide" in message and uri in message
    assert "=0+33" not in message and "Zoé" not in message and "Zoe@" not in message


def test_a_good_calendly_booking_passes_unchanged_in_meaning(calendly_hub: Hub, calendly: CalendlySandbox,
                                                             clock: FakeClock) -> None:
    calendly.book("antenne", email="zoe@exemple.fr", first_name="Zoé", last_name="Lefèvre-Nuñez",
                  phone="+33 6 12 34 56 78", start=clock() + timedelta(days=2))
    poll_bookings(calendly_hub)
    [zoe] = people(calendly_hub, "antenne", "calendly")
    assert (zoe.first_name, zoe.last_name, zoe.phone) == ("Zoé", "Lefèvre-Nuñez", "+33612345678")
    assert problems(calendly_hub, "antenne") == []
