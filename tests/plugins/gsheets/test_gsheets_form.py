"""The registration source: form answers -> candidate_registered, through the real client and the sandbox."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gsheets_helpers import BRANCH, SHEET_ID, poll, poller, problems

from hub.app import Hub
from hub.testing import FakeClock
from hub_gsheets.dates import to_serial
from hub_gsheets.form_source import Cursor
from hub_gsheets.sandbox import FORM_SHEET_FR, SheetsSandbox

PARIS = ZoneInfo("Europe/Paris")
WHEN = datetime(2026, 3, 2, 10, 15, 30, tzinfo=PARIS)
ENGLISH = ["Timestamp", "Email Address", "First name", "Last name", "Phone number", "Referring organisation",
           "Referrer"]


def answer(i: int, first: str = "Aïcha", last: str = "Benali", email: str | None = None, phone: Any = "",
           referrer: str = "France Travail") -> list[Any]:
    return [to_serial(WHEN + timedelta(minutes=i), PARIS), email if email is not None else f"p{i}@exemple.fr",
            first, last, phone, referrer, "Mme Durand"]


def registered(hub: Hub) -> list[dict[str, Any]]:
    rows = hub.store.list_events(branch=BRANCH, kind="candidate_registered", limit=100_000)
    return [dataclasses.asdict(r) for r in rows]


def candidates(hub: Hub) -> list[Any]:
    out = []
    for row in registered(hub):
        cid = row["candidate_id"]
        out.append(hub.context(BRANCH, "gsheets").candidate(cid))
    return out


def test_french_form_answers_become_registrations(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(0, "Zoé", "Lefèvre-Nguyễn", phone="06 12 34 56 78"))
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(1, "🌟 Kévin", "O'Brien", email=""))  # no e-mail, no phone
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(2, "Élodie", "Müller", email="", phone=698765432))

    assert poll(gsheets_hub, "formulaire") == 2
    people = {c.first_name: c for c in candidates(gsheets_hub)}
    zoe = people["Zoé"]
    assert zoe.last_name == "Lefèvre-Nguyễn" and zoe.email == "p0@exemple.fr" and zoe.phone == "+33612345678"
    assert zoe.referrer is not None and zoe.referrer.structure == "France Travail"
    assert zoe.registered_at == WHEN  # serial number read in the branch's zone, locale-free
    assert people["Élodie"].phone == "+33698765432"  # a phone stored as a number gets its leading 0 back
    [(ref, field, message)] = problems(gsheets_hub)
    assert ref == f"{FORM_SHEET_FR}!ligne 3" and "Adresse e-mail" in field and "ligne 3" in message


def test_serial_times_are_read_in_the_spreadsheet_s_zone_not_the_branch_s(gsheets_hub: Hub,
                                                                         sandbox: SheetsSandbox) -> None:
    """A form sheet made by an account set to New York holds New York wall-clock serials (issue 11, defect 2):
    read in the branch's zone (Paris) the registration was 6 hours off."""
    new_york = ZoneInfo("America/New_York")
    sandbox.spreadsheets[SHEET_ID].time_zone = "America/New_York"
    answered = datetime(2026, 3, 2, 4, 15, 30, tzinfo=new_york)  # 10:15:30 in Paris
    row = answer(0, "Zoé", "Lefèvre")
    row[0] = to_serial(answered, new_york)
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, row)
    assert poll(gsheets_hub, "formulaire") == 1
    [zoe] = candidates(gsheets_hub)
    assert zoe.registered_at == answered


def test_english_headers_and_emoji_names(make_gsheets_hub: Callable[..., Hub], sandbox: SheetsSandbox) -> None:
    sandbox.create("english", {"Form Responses 1": [ENGLISH, answer(0, "🦊 Renée", "Ørsted")]})
    hub = make_gsheets_hub(spreadsheet_id="english", form_sheet="Form Responses 1")

    assert poll(hub, "formulaire") == 1
    [person] = candidates(hub)
    assert (person.first_name, person.last_name, person.email) == ("🦊 Renée", "Ørsted", "p0@exemple.fr")
    assert person.referrer is not None and person.referrer.contact_name == "Mme Durand"


def test_idle_poll_is_one_request(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    for i in range(30):
        sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(i))
    poll(gsheets_hub, "formulaire")
    before = sandbox.count()
    assert poll(gsheets_hub, "formulaire") == 0
    assert sandbox.count() - before == 1
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(99))
    before = sandbox.count()
    assert poll(gsheets_hub, "formulaire") == 1
    assert sandbox.count() - before == 1  # new rows also come in that one request


def test_ten_thousand_rows_in_at_most_five_requests(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    sheet = sandbox.sheet(SHEET_ID, FORM_SHEET_FR)
    sheet.rows += [answer(i) for i in range(10_000)]
    sheet.row_count = 10_001

    assert poll(gsheets_hub, "formulaire") == 10_000
    assert sandbox.count() <= 5
    assert len({r["candidate_id"] for r in registered(gsheets_hub)}) == 10_000


def test_invalid_row_is_reported_then_recovered(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(0))
    row = sandbox.append_row(SHEET_ID, FORM_SHEET_FR, ["pas une date", "p1@exemple.fr", "Léa", "Roux"])
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(2))
    assert poll(gsheets_hub, "formulaire") == 2
    [(ref, field, message)] = problems(gsheets_hub)
    assert (ref, field) == (f"{FORM_SHEET_FR}!ligne {row}", "Horodateur")
    assert "p1@exemple.fr" not in message and "Léa" not in message  # no personal data in problems

    sandbox.set_cell(SHEET_ID, FORM_SHEET_FR, row, "Horodateur", to_serial(WHEN, PARIS))
    before = sandbox.count()
    assert poll(gsheets_hub, "formulaire") == 1  # picked up by the next ordinary poll
    assert sandbox.count() - before == 1
    assert problems(gsheets_hub) == []
    assert {c.first_name for c in candidates(gsheets_hub)} == {"Aïcha", "Léa"}


def test_resorted_and_deleted_rows_neither_duplicate_nor_lose(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    for i in range(5):
        sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(i, first=f"P{i}"))
    assert poll(gsheets_hub, "formulaire") == 5

    sandbox.sort_rows(SHEET_ID, FORM_SHEET_FR, key=lambda r: r[2], reverse=True)  # staff sort by first name
    sandbox.delete_row(SHEET_ID, FORM_SHEET_FR, 3)  # ... and delete a row
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(5, first="P5"))
    assert poll(gsheets_hub, "formulaire") == 1
    assert poll(gsheets_hub, "formulaire") == 0
    assert sorted(c.first_name for c in candidates(gsheets_hub)) == [f"P{i}" for i in range(6)]


def test_periodic_full_read_and_resync_progress(gsheets_hub: Hub, sandbox: SheetsSandbox, clock: FakeClock) -> None:
    for i in range(25):
        sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(i))
    poll(gsheets_hub, "formulaire")
    stored = gsheets_hub.store.cursor(BRANCH, "gsheets", "formulaire")
    assert Cursor.load(stored, f"{SHEET_ID}/{FORM_SHEET_FR}").mode == "tail"
    clock.advance(hours=2)
    source = poller(gsheets_hub, "formulaire")
    assert source.poll(stored).progress == (25, 25)  # a full read, as a resync does

    pages: list[tuple[int, int] | None] = []
    new = gsheets_hub.poll(BRANCH, "gsheets", source, cursor=source.resync_cursor(None), use_stored_cursor=False,
                           on_page=lambda n, progress: pages.append(progress))
    assert new == 0 and pages[-1] == (25, 25)


def test_unknown_headers_are_reported(make_gsheets_hub: Callable[..., Hub], sandbox: SheetsSandbox) -> None:
    sandbox.create("autre", {"Réponses": [["Horodateur", "Courriel perso"], answer(0)[:2]]})
    hub = make_gsheets_hub(spreadsheet_id="autre", form_sheet="Réponses")
    assert poll(hub, "formulaire") == 0
    [(_, field, message)] = problems(hub)
    assert field == "en-têtes" and "[gsheets.columns]" in message

    hub2 = make_gsheets_hub(spreadsheet_id="autre", form_sheet="Réponses",
                            columns={"email": ["Courriel perso"]})
    assert poll(hub2, "formulaire") == 1



def test_sex_and_year_of_birth_where_the_branch_asks(make_gsheets_hub: Callable[..., Hub],
                                                    sandbox: SheetsSandbox) -> None:
    """Femme/F -> F, Homme/H -> M, any other answer -> X; a year, or a date of birth (a date cell), gives the year;
    a value that is neither is left out and reported by row and column, never quoted, the rest registered."""
    header = ["Horodateur", "Adresse e-mail", "Prénom", "Sexe", "Date de naissance"]
    born = to_serial(datetime(1990, 3, 12), PARIS)
    sandbox.create("asks", {"Réponses": [header,
                                         [to_serial(WHEN, PARIS), "p0@exemple.fr", "Zoé", "Femme", born],
                                         [to_serial(WHEN, PARIS) + 0.01, "p1@exemple.fr", "Karim", " h ", "1985"],
                                         [to_serial(WHEN, PARIS) + 0.02, "p2@exemple.fr", "Sam", "non binaire",
                                          "vers 1990"]]})
    hub = make_gsheets_hub(spreadsheet_id="asks", form_sheet="Réponses")
    assert poll(hub, "formulaire") == 3
    records = {r["first_name"]: r for r in (hub.store.get_entity("candidates", row["candidate_id"])
                                            for row in registered(hub)) if r}
    assert (records["Zoé"]["sex"], records["Zoé"]["birth_year"]) == ("F", 1990)
    assert (records["Karim"]["sex"], records["Karim"]["birth_year"]) == ("M", 1985)
    assert records["Sam"]["sex"] == "X" and "birth_year" not in records["Sam"]
    [(ref, field, message)] = problems(hub)
    assert (ref, field) == ("Réponses!ligne 4", "Date de naissance")
    assert "année de naissance illisible" in message and "vers 1990" not in message and "Sam" not in message
    [person] = [c for c in candidates(hub) if c.first_name == "Zoé"]
    assert person.sex is None and person.birth_year is None  # asked for the reports, not handed to the sheet
