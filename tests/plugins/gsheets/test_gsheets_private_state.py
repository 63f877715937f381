"""The connector's private state holds no raw contact data (issue 14 item 6, issue 16 item 5): `row:<id>` keeps the
hub's columns, the person's cells are read from the hub's record when the row is written; state an earlier
version left (with the person's cells) still works and loses them; a record erased before its row was written
gets nothing written."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import timedelta
from typing import Any

from gsheets_helpers import BRANCH, SHEET_ID, poll, sync
from test_gsheets_form import answer
from test_gsheets_tracking import TRACKING, table

from hub.app import Hub
from hub.events import Candidate, EventKind, Outcome, OutcomeCategory, Referrer
from hub.resync import resync
from hub.testing import FakeClock, make_event, make_session
from hub_gsheets.sandbox import FORM_SHEET_FR, SheetsSandbox
from hub_gsheets.tracking import PERSON_FIELDS, erased

ID = "ID hub (ne pas modifier)"
PEOPLE = [  # first, last, e-mail, phone as typed in the form
    ("Zoé", "Lefèvre", "zoe.lefevre@exemple.fr", "06 12 34 56 78"),
    ("Karim", "Haddad", "karim.haddad@exemple.fr", "07 98 76 54 32"),
    ("Inès", "Moreau", "", 698765432),  # no e-mail; a phone Sheets keeps as a number
]
REFERRER_CONTACT = "Mme Durand"  # what `answer` puts in the Référent column


def kv_keys(hub: Hub) -> list[str]:
    """The connector's state keys, listed read-only from the database file (a test may; a plugin may not)."""
    conn = sqlite3.connect(f"file:{hub.store.path}?mode=ro", uri=True)  # type: ignore[attr-defined]
    try:
        rows = conn.execute("SELECT key FROM kv WHERE branch=? AND plugin='gsheets'", (BRANCH,)).fetchall()
    finally:
        conn.close()
    return sorted(str(r[0]) for r in rows)


def private_state(hub: Hub) -> dict[str, Any]:
    return {key: hub.store.kv_get(BRANCH, "gsheets", key) for key in kv_keys(hub)}


def strings(value: Any) -> list[str]:
    """Every text in a JSON value, its keys included."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in [str(k), *strings(v)]]
    if isinstance(value, list):
        return [t for v in value for t in strings(v)]
    return [value] if isinstance(value, str) else []


def contact_data_in(state: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, needle) for each person's name, e-mail, phone (by its last nine digits, however written) or
    referrer contact found in a value of the state."""
    found = []
    for key, value in state.items():
        for text in strings(value):
            digits = re.sub(r"\D", "", text)
            for first, last, email, phone in PEOPLE:
                words = [w for w in (first, last, email, REFERRER_CONTACT) if w]
                found += [(key, w) for w in words if w.casefold() in text.casefold()]
                nine = re.sub(r"\D", "", str(phone))[-9:]
                if nine in digits:
                    found.append((key, str(phone)))
    return found


def register_people(hub: Hub, sandbox: SheetsSandbox) -> dict[str, str]:
    """The three people send the form; their hub ids by first name."""
    for i, (first, last, email, phone) in enumerate(PEOPLE):
        sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(i, first, last, email=email, phone=phone,
                                                           referrer="Mission locale"))
    sync(hub)
    return {r["Prénom"]: r[ID] for r in table(sandbox)}


def test_after_a_week_of_events_the_state_holds_no_contact_data(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                                  clock: FakeClock) -> None:
    """Registrations through the form, bookings, a cancellation, outcomes from another tool and from staff's
    picks in the sheet, a bounce, a call to make, a rebuild: every row is written, nothing of the people kept."""
    ids = register_people(gsheets_hub, sandbox)
    zoe, karim, ines = (Candidate(id=ids[name]) for name in ("Zoé", "Karim", "Inès"))
    start = clock() + timedelta(days=3)
    booked = {who.id: make_session(start=start, module="Module 1") for who in (zoe, karim)}
    gsheets_hub.ingest(BRANCH, "calendly", [make_event(EventKind.SESSION_BOOKED, candidate=who,
                                                       session=booked[who.id]) for who in (zoe, karim)])
    sync(gsheets_hub)
    clock.advance(minutes=5)
    cancelled = booked[karim.id].model_copy(update={"status": "cancelled"})
    gsheets_hub.ingest(BRANCH, "calendly", [
        make_event(EventKind.SESSION_CANCELLED, candidate=karim, session=cancelled, occurred_at=clock()),
        make_event(EventKind.OUTCOME_RECORDED, candidate=zoe, occurred_at=clock(),
                   outcome=Outcome(category=OutcomeCategory.ABSENT, observed_at=clock()))])
    gsheets_hub.ingest(BRANCH, "gmail", [make_event(EventKind.MESSAGE_BOUNCED, candidate=karim,
                                                    bounce={"message_id": "msg_x", "reason": "5.1.1"})])
    sync(gsheets_hub)
    row = {r[ID]: i + 2 for i, r in enumerate(table(sandbox))}
    sandbox.set_cell(SHEET_ID, TRACKING, row[karim.id], "Présence", "Présent")  # staff's picks
    sandbox.set_cell(SHEET_ID, TRACKING, row[karim.id], "Résultat", "CDI")
    sync(gsheets_hub)
    clock.advance(days=11)
    gsheets_hub.cycle()  # nobody booked for Inès: a call to make
    sync(gsheets_hub)
    resync(gsheets_hub, branch=BRANCH, plugin="gsheets", echo=lambda _: None)
    sync(gsheets_hub)

    rows = {r[ID]: r for r in table(sandbox)}
    assert len(rows) == 3
    assert [(rows[c]["Prénom"], rows[c]["Nom"], rows[c]["Référent"]) for c in ids.values()] == [
        (first, last, REFERRER_CONTACT) for first, last, _, _ in PEOPLE]  # the sheet has them: from the hub
    assert (rows[zoe.id]["E-mail"], rows[zoe.id]["Téléphone"]) == ("zoe.lefevre@exemple.fr", "06 12 34 56 78")
    assert rows[ines.id]["Téléphone"] == "06 98 76 54 32"
    assert (rows[zoe.id]["Présence"], rows[karim.id]["Résultat"]) == ("Absent", "CDI")
    assert rows[karim.id]["Suivi hub"] and rows[ines.id]["Suivi hub"]

    state = private_state(gsheets_hub)
    assert {f"row:{cid}" for cid in ids.values()} <= set(state) and "seen" in state  # the rows' state is there
    assert contact_data_in(state) == []
    assert all(set(state[f"row:{cid}"]["values"]).isdisjoint(PERSON_FIELDS) for cid in ids.values())


def old_row_state(hub: Hub, cid: str, first: str, last: str, email: str, phone: str) -> None:
    """`row:<id>` as the version before issue 14 wrote it: the person's cells among the hub's."""
    state = hub.store.kv_get(BRANCH, "gsheets", f"row:{cid}")
    state["values"].update(first_name=first, last_name=last, email=email, phone=phone, referrer="Mission locale",
                           referrer_contact=REFERRER_CONTACT, registered=46083.43)
    hub.store.kv_put(BRANCH, "gsheets", f"row:{cid}", state)


def test_state_written_by_the_previous_version_still_works_and_loses_the_person_s_cells(
        gsheets_hub: Hub, sandbox: SheetsSandbox, clock: FakeClock) -> None:
    ids = register_people(gsheets_hub, sandbox)
    zoe, karim = ids["Zoé"], ids["Karim"]
    hub_columns = {cid: gsheets_hub.store.kv_get(BRANCH, "gsheets", f"row:{cid}")["values"] for cid in (zoe, karim)}
    for cid, (first, last, email, phone) in zip((zoe, karim), PEOPLE[:2], strict=True):
        old_row_state(gsheets_hub, cid, first, last, email, phone)
    gsheets_hub.store.kv_delete(BRANCH, "gsheets", "state_version")  # as the upgrade finds it
    assert len(contact_data_in(private_state(gsheets_hub))) >= 8

    # an event about Zoé: her row's state is read, rewritten without her cells, the booking added
    start = clock() + timedelta(days=3)
    gsheets_hub.ingest(BRANCH, "calendly", [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(id=zoe),
                                                       session=make_session(start=start))])
    gsheets_hub.dispatcher.drain()
    assert set(gsheets_hub.store.kv_get(BRANCH, "gsheets", f"row:{zoe}")["values"]).isdisjoint(PERSON_FIELDS)
    assert "first_name" in gsheets_hub.store.kv_get(BRANCH, "gsheets", f"row:{karim}")["values"]  # not yet

    # the next sync rewrites the rows no event touched (once), and writes Zoé's row as before: 1 read, 1 write
    before = {k: sandbox.count(k) for k in ("read", "write")}
    poll(gsheets_hub, "suivi")
    assert {k: sandbox.count(k) - before[k] for k in ("read", "write")} == {"read": 1, "write": 1}
    assert contact_data_in(private_state(gsheets_hub)) == []
    assert gsheets_hub.store.kv_get(BRANCH, "gsheets", f"row:{karim}")["values"] == hub_columns[karim]
    assert gsheets_hub.store.kv_get(BRANCH, "gsheets", "state_version") == 2
    rows = {r[ID]: r for r in table(sandbox)}
    assert rows[zoe]["Prochain RDV"] and (rows[zoe]["Prénom"], rows[zoe]["E-mail"]) == ("Zoé", PEOPLE[0][2])

    # and a rebuild writes every row from the hub's records
    sandbox.set_cell(SHEET_ID, TRACKING, 3, "Prénom", "gribouillé")
    resync(gsheets_hub, branch=BRANCH, plugin="gsheets", echo=lambda _: None)
    assert sorted(r["Prénom"] for r in table(sandbox)) == ["Inès", "Karim", "Zoé"]


def test_a_person_erased_before_their_row_was_written_gets_nothing_written(gsheets_hub: Hub,
                                                                            sandbox: SheetsSandbox) -> None:
    """The hub erases the record at once, the connector's delivery comes later: a sync in between used to write
    the row from the connector's own copy of the person."""
    for i, (first, last, email, phone) in enumerate(PEOPLE[:2]):
        sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(i, first, last, email=email, phone=phone))
    gsheets_hub.cycle(force_poll=True)  # registered, rows pending
    [zoe] = [r.candidate_id for r in gsheets_hub.store.list_events(branch=BRANCH, kind="candidate_registered")
             if gsheets_hub.context(BRANCH, "gsheets").candidate(str(r.candidate_id)).first_name == "Zoé"]
    assert zoe and table(sandbox) == []

    gsheets_hub.eraser.forget(BRANCH, zoe)
    poll(gsheets_hub, "suivi")  # before the connector's candidate_forgotten delivery
    assert [r["Prénom"] for r in table(sandbox)] == ["Karim"]
    assert gsheets_hub.context(BRANCH, "gsheets").state_get("pending") == {}

    gsheets_hub.cycle()  # the erasure's delivery: nothing of hers left in the state either
    assert zoe not in json.dumps(private_state(gsheets_hub))
    assert [r["Prénom"] for r in table(sandbox)] == ["Karim"]


def test_an_erased_record_is_the_id_alone() -> None:
    assert erased(Candidate(id="cnd_1"))
    assert erased(Candidate(id="cnd_1", referrer=Referrer(kind="mission_locale")))  # kept for reports
    assert not erased(Candidate(id="cnd_1", phone="+33612345678"))
    assert not erased(Candidate(id="cnd_1", referrer=Referrer(kind="mission_locale", contact_name="Mme Durand")))
    assert not erased(Candidate(id="cnd_1", last_name="Moreau"))
