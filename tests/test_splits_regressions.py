"""Behaviour pinned before splitting the long functions of issue 9 (point 7): A1 parsing, Calendly invitees
-> candidates, the gsheets tracking row an event implies, and how ingestion finds, merges or registers people.

Table-driven on purpose: every branch of the former long functions has its row, so a split that changes a
single answer shows here.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.app import Hub
from hub.events import (
    Candidate,
    ContractType,
    Due,
    Event,
    EventKind,
    Outcome,
    OutcomeCategory,
    Referrer,
    Session,
)
from hub.testing import T0, FakeClock, make_candidate, make_event, make_session
from hub_calendly.mapping import candidate_from
from hub_calendly.plugin import Settings as CalendlySettings
from hub_gsheets.a1 import A1, parse, split_sheet
from hub_gsheets.dates import to_serial
from hub_gsheets.tracking import record

# --- hub_gsheets.a1.parse ----------------------------------------------------------------------------------------

A1_CASES: list[tuple[str, A1]] = [
    # whole sheets
    ("Suivi", A1("Suivi")),
    ("'Suivi'", A1("Suivi")),
    ("Suivi!", A1("Suivi")),
    ("'L''antenne'", A1("L'antenne")),
    ("", A1(None)),
    ("Data 2024", A1("Data 2024")),  # a bare word that is no cell reference is a title...
    ("A", A1("A")),  # ...even a lone column letter
    ("7", A1("7")),
    ("ABCD1", A1("ABCD1")),  # four letters: not a column this connector writes
    ("A1:B2:C3", A1("A1:B2:C3")),  # not a range either: a title
    (":B", A1(":B")),
    ("A1:B-2", A1("A1:B-2")),
    # quoted titles, apostrophes doubled
    ("'L''antenne de Lyon'!A1:C3", A1("L'antenne de Lyon", 0, 0, 3, 3)),
    ("'It''s'''!B2", A1("It's'", 1, 1, 2, 2)),
    ("'''Quoted'''!A1", A1("'Quoted'", 0, 0, 1, 1)),
    ("'Réponses au formulaire 1'!A2:M", A1("Réponses au formulaire 1", 1, 0, None, 13)),
    ("'Réponses au formulaire 1'!2:5001", A1("Réponses au formulaire 1", 1, 0, 5001, None)),
    ("'Suivi'A1", A1("Suivi", 0, 0, 1, 1)),  # a quoted title without '!' still ends at its quote
    ("Sheet 1!A1", A1("Sheet 1", 0, 0, 1, 1)),
    # single cells, whole columns, whole rows
    ("B3", A1(None, 2, 1, 3, 2)),
    ("b3", A1(None, 2, 1, 3, 2)),
    ("AA10", A1(None, 9, 26, 10, 27)),
    ("Suivi!B", A1("Suivi", 0, 1, None, 2)),
    ("Suivi!7", A1("Suivi", 6, 0, 7, None)),
    ("A:C", A1(None, 0, 0, None, 3)),
    ("Suivi!M:M", A1("Suivi", 0, 12, None, 13)),
    ("2:5", A1(None, 1, 0, 5, None)),
    ("Suivi!2:", A1("Suivi", 1, 0, None, None)),
    ("A1:", A1(None, 0, 0, None, None)),
    ("A2:M", A1(None, 1, 0, None, 13)),
    ("B2:D", A1(None, 1, 1, None, 4)),
    ("B:D9", A1(None, 0, 1, 9, 4)),
    ("3:C", A1(None, 2, 0, None, 3)),
    ("Suivi!A1:Z1000", A1("Suivi", 0, 0, 1000, 26)),
]


@pytest.mark.parametrize(("text", "expected"), A1_CASES)
def test_a1_parse(text: str, expected: A1) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["Suivi!A1:B2:C3", "Suivi!:B", "'Suivi'!A-1", "Suivi!B2:C 3", "'x'!1A",
                                  "Feuille 1!A1:?"])
def test_a1_parse_refuses_a_bad_range_after_a_sheet_title(text: str) -> None:
    with pytest.raises(ValueError, match="Unable to parse range"):
        parse(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("'L''antenne'!A1", ("L'antenne", "A1")),
    ("'unterminated", ("unterminated", "")),
    ("Suivi!A1!B2", ("Suivi", "A1!B2")),
    ("A1", (None, "A1")),
])
def test_a1_split_sheet(text: str, expected: tuple[str | None, str]) -> None:
    assert split_sheet(text) == expected


# --- hub_calendly.mapping.candidate_from ---------------------------------------------------------------------------

QUESTIONS = {"Numéro de téléphone": "phone", "Structure qui vous oriente": "referrer.structure",
             "Type de structure": "referrer.kind", "Votre référent": "referrer.contact_name",
             "Poste recherché": "extra.poste", "J'accepte d'être contacté(e)": "consent", "Prénom": "first_name"}


def qa(question: Any, answer: Any) -> dict[str, Any]:
    return {"question": question, "answer": answer}


CANDIDATE_CASES: list[tuple[str, dict[str, Any], Candidate]] = [
    ("nothing at all", {}, Candidate()),
    ("names, e-mail and SMS number",
     {"first_name": "Aïcha", "last_name": "Benali", "name": "ignored", "email": "a@example.org",
      "text_reminder_number": "+33 6 12 34 56 78"},
     Candidate(first_name="Aïcha", last_name="Benali", email="a@example.org", phone="+33 6 12 34 56 78")),
    ("legacy name split at the first space", {"name": "  Aïcha Benali Ep. Martin "},
     Candidate(first_name="Aïcha", last_name="Benali Ep. Martin")),
    ("legacy name of one word", {"name": "Aïcha"}, Candidate(first_name="Aïcha")),
    ("blank names fall back to name", {"first_name": "", "last_name": None, "name": "Léa Dupré"},
     Candidate(first_name="Léa", last_name="Dupré")),
    ("one name given: name unused", {"first_name": "Léa", "name": "Autre Personne"}, Candidate(first_name="Léa")),
    ("blank e-mail and phone are None", {"email": "", "text_reminder_number": ""}, Candidate()),
    ("questions None", {"questions_and_answers": None}, Candidate()),
    ("questions empty", {"questions_and_answers": []}, Candidate()),
    ("blank and missing answers are skipped",
     {"text_reminder_number": "0700000000",
      "questions_and_answers": [qa("Numéro de téléphone", "   "), qa("Structure qui vous oriente", None),
                                {"question": "Poste recherché"}]},
     Candidate(phone="0700000000")),
    ("unknown and missing questions are ignored",
     {"questions_and_answers": [qa("Autre chose ?", "oui"), {"answer": "sans question"}, qa(None, "x")]},
     Candidate()),
    ("question text matched ignoring case and spaces; the answer wins over the SMS number",
     {"text_reminder_number": "0700000000", "questions_and_answers": [qa("  numéro DE téléphone ", " 06 01 ")]},
     Candidate(phone="06 01")),
    ("referrer fields and extras",
     {"questions_and_answers": [qa("Structure qui vous oriente", "Mission locale"),
                                qa("Type de structure", "mission_locale"), qa("Votre référent", "M. Durand"),
                                qa("Poste recherché", "Vendeuse")]},
     Candidate(referrer=Referrer(structure="Mission locale", kind="mission_locale", contact_name="M. Durand"),
               extra={"poste": "Vendeuse"})),
    ("consent yes", {"questions_and_answers": [qa("J'accepte d'être contacté(e)", " Oui ")]}, Candidate(consent=True)),
    ("consent j'accepte", {"questions_and_answers": [qa("J'accepte d'être contacté(e)", "J'ACCEPTE")]},
     Candidate(consent=True)),
    ("consent no", {"questions_and_answers": [qa("J'accepte d'être contacté(e)", "non merci")]},
     Candidate(consent=False)),
    ("a later answer to the same field wins",
     {"questions_and_answers": [qa("Numéro de téléphone", "01"), qa("numéro de téléphone", "02")]},
     Candidate(phone="02")),
    ("a first-name answer wins over the booking's name", {"first_name": "Aicha", "questions_and_answers": [
        qa("Prénom", "Aïcha")]}, Candidate(first_name="Aïcha")),
    ("utm_content carrying a hub id", {"tracking": {"utm_content": " cnd_0123 "}}, Candidate(id="cnd_0123")),
    ("utm_content of a campaign", {"tracking": {"utm_content": "newsletter"}}, Candidate()),
    ("utm_content None", {"tracking": {"utm_content": None}}, Candidate()),
    ("tracking None", {"tracking": None}, Candidate()),
]


@pytest.mark.parametrize(("invitee", "expected"), [c[1:] for c in CANDIDATE_CASES], ids=[c[0] for c in CANDIDATE_CASES])
def test_candidate_from(invitee: dict[str, Any], expected: Candidate) -> None:
    settings = CalendlySettings.model_validate({"token": "t", "questions": QUESTIONS})
    assert candidate_from(settings, invitee) == expected


def test_candidate_from_default_questions() -> None:
    settings = CalendlySettings.model_validate({"token": "t"})
    invitee = {"questions_and_answers": [qa("Téléphone", "06"), qa("Poste recherché", "Vendeuse")]}
    assert candidate_from(settings, invitee) == Candidate(phone="06")


# --- hub_gsheets.tracking.record -----------------------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")
CID = "cnd_00000000000000000042"


class FakeHub:
    """The part of HubContext `record` uses; state goes through JSON like the real store's."""

    def __init__(self, people: dict[str, Candidate] | None = None) -> None:
        self.state: dict[str, Any] = {}
        self.people = people or {}
        self.zone = PARIS
        self.branch_config = SimpleNamespace(phone_region="FR",
            programmes={"atelier": SimpleNamespace(label="Atelier Coup de Pouce")},
            outcomes={"Présent(e)": SimpleNamespace(category=OutcomeCategory.PRESENT, contract_type=None),
                      "Absent(e)": SimpleNamespace(category=OutcomeCategory.ABSENT, contract_type=None),
                      "CDI signé": SimpleNamespace(category=OutcomeCategory.EMPLOI_DURABLE,
                                                   contract_type=ContractType.CDI)})

    def state_get(self, key: str, default: Any = None) -> Any:
        value = self.state.get(key)
        return default if value is None else copy.deepcopy(value)

    def state_put(self, key: str, value: Any) -> None:
        self.state[key] = json.loads(json.dumps(value))

    def candidate(self, hub_id: str) -> Candidate | None:
        return self.people.get(hub_id)

    def programme_label(self, key: str | None) -> str:
        programme = self.branch_config.programmes.get(key) if key else None
        return programme.label if programme is not None else (key or "")


def record_on(hub: FakeHub, event: Event) -> None:
    """`record` given the fake as its HubContext."""
    record(hub, event)  # type: ignore[arg-type]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def person(**kw: Any) -> Candidate:
    return Candidate(**{"id": CID, "first_name": "Aïcha", "last_name": "Benali", "email": "a@example.org", **kw})


def booking(session: Session, minutes: int, kind: EventKind = EventKind.SESSION_BOOKED) -> Event:
    return Event(kind=kind, occurred_at=at(minutes), source_id=f"s{minutes}", candidate=Candidate(id=CID),
                 session=session)


def outcome_event(minutes: int, **kw: Any) -> Event:
    return Event(kind=EventKind.OUTCOME_RECORDED, occurred_at=at(minutes), source_id=f"o{minutes}",
                 candidate=Candidate(id=CID), outcome=Outcome(observed_at=at(minutes), **kw))


def test_record_without_a_candidate_does_nothing() -> None:
    hub = FakeHub()
    record_on(hub, Event(kind=EventKind.OUTCOME_RECORDED, occurred_at=T0, source_id="x",
                      outcome=Outcome(category=OutcomeCategory.PRESENT, observed_at=T0)))
    assert hub.state == {}


def test_record_a_registration_keeps_no_person_cell_and_indexes_them() -> None:
    """The person's cells are read from the hub's record when the row is written, never kept (issue 14)."""
    registered = T0 - timedelta(days=1)
    who = person(phone="0612345678", registered_at=registered,
                 referrer=Referrer(structure="Mission locale", contact_name="M. Durand"))
    hub = FakeHub({CID: who})
    record_on(hub, Event(kind=EventKind.CANDIDATE_REGISTERED, occurred_at=T0, source_id="r",
                      candidate=who))
    assert hub.state == {
        f"row:{CID}": {"v": 1, "updated_at": T0.isoformat(), "values": {
            "hub_id": CID, "updated": to_serial(T0, PARIS)}},
        "pending": {CID: 1},
        "index:42": [CID],
    }


def test_record_keeps_no_person_cell_and_works_without_a_record() -> None:
    hub = FakeHub({CID: person(first_name="Stored")})
    record_on(hub, make_event(EventKind.CANDIDATE_REGISTERED, candidate=person(first_name="Event")))
    assert "first_name" not in hub.state[f"row:{CID}"]["values"]
    bare = FakeHub()
    session = make_session(candidate_id=CID)
    record_on(bare, Event(kind=EventKind.SESSION_REMINDER_DUE, occurred_at=T0, source_id="d",
                       session=session, due=Due(offset="48h", due_at=T0)))
    assert bare.state[f"row:{CID}"]["values"] == {"hub_id": CID, "updated": to_serial(T0, PARIS)}
    assert "session" not in bare.state[f"row:{CID}"]


@pytest.mark.parametrize(("programme", "module", "text"), [
    ("atelier", "Module 1", "Atelier Coup de Pouce / Module 1"),
    ("atelier", None, "Atelier Coup de Pouce"),
    ("coaching", "CV", "coaching / CV"),
    (None, "CV", "CV"),
    (None, None, ""),
])
def test_record_a_booking_writes_next_session_and_programme(programme: str | None, module: str | None,
                                                            text: str) -> None:
    hub = FakeHub()
    session = make_session(id="ses_1", programme=programme, module=module)
    record_on(hub, booking(session, 0))
    state = hub.state[f"row:{CID}"]
    assert state["values"]["next_session"] == to_serial(session.start, PARIS)
    assert state["values"]["programme"] == text
    assert (state["session"], state["session_at"]) == ("ses_1", T0.isoformat())


def test_record_sessions_in_order_of_occurrence() -> None:
    hub = FakeHub()
    first = make_session(id="ses_1", start=T0 + timedelta(days=3))
    later = make_session(id="ses_2", start=T0 + timedelta(days=9), module="M2")
    record_on(hub, booking(later, 10))
    record_on(hub, booking(first, 5))  # delivered late: an older booking does not win
    state = hub.state[f"row:{CID}"]
    assert state["values"]["next_session"] == to_serial(later.start, PARIS)
    assert (state["session"], state["session_at"], state["updated_at"]) == ("ses_2", at(10).isoformat(),
                                                                             at(10).isoformat())
    assert state["values"]["updated"] == to_serial(at(10), PARIS)
    assert state["v"] == 2 and hub.state["pending"] == {CID: 2} and hub.state["index:42"] == [CID]

    record_on(hub, booking(first, 20, EventKind.SESSION_CANCELLED))  # not the session shown: no change
    assert hub.state[f"row:{CID}"]["values"]["next_session"] == to_serial(later.start, PARIS)
    record_on(hub, booking(later, 30, EventKind.SESSION_CANCELLED))
    state = hub.state[f"row:{CID}"]
    assert state["values"]["next_session"] == ""
    assert state["values"]["updated"] == to_serial(at(30), PARIS) and state["v"] == 4


@pytest.mark.parametrize(("outcome", "column", "label"), [
    ({"category": OutcomeCategory.PRESENT}, "attendance", "Présent(e)"),
    ({"category": OutcomeCategory.ABSENT, "label": "Excusé"}, "attendance", "Excusé"),
    ({"category": OutcomeCategory.EMPLOI_DURABLE, "contract_type": ContractType.CDI}, "result", "CDI signé"),
    ({"category": OutcomeCategory.FORMATION}, "result", "formation"),
])
def test_record_an_outcome_writes_its_column(outcome: dict[str, Any], column: str, label: str) -> None:
    hub = FakeHub()
    record_on(hub, outcome_event(0, **outcome))
    values = hub.state[f"row:{CID}"]["values"]
    assert values[column] == label
    assert ({"attendance", "result"} - {column}).isdisjoint(values)


# --- hub.ingest.Ingestor._candidate (through Hub.ingest) -----------------------------------------------------------

def stored(hub: Hub, cid: str) -> dict[str, Any]:
    body = hub.store.get_entity("candidates", cid)
    assert body is not None
    return body


def test_merge_by_phone_when_the_email_is_new(two_branches: Hub) -> None:
    [one] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=Candidate(
        ref="r1", first_name="Aïcha", email="old@example.org", phone="+33 6 12 34 56 78"))])
    [booked] = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(
        ref="inv-1", email="new@example.org", phone="06.12.34.56.78"))])
    assert booked.candidate.id == one.candidate.id
    assert (booked.candidate.email, booked.candidate.first_name) == ("new@example.org", "Aïcha")


def test_email_is_matched_before_phone(two_branches: Hub) -> None:
    [a] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=Candidate(
        email="a@example.org", phone="0611111111"))])
    [b] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=Candidate(
        email="b@example.org", phone="0622222222"))])
    assert a.candidate.id != b.candidate.id
    [booked] = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(
        email="A@example.org", phone="0622222222"))])
    assert booked.candidate.id == a.candidate.id


def test_the_tools_own_link_finds_the_person_again(two_branches: Hub) -> None:
    first, second = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(
        ref="inv-7", email="x@example.org"))])
    assert first.kind is EventKind.CANDIDATE_REGISTERED
    [again] = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(
        ref="inv-7", email="changed@example.org"))])
    assert again.candidate.id == second.candidate.id and again.candidate.email == "changed@example.org"
    assert "ref" not in stored(two_branches, again.candidate.id)
    other = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(
        ref="inv-7", email="someone@example.org"))])  # same ref in another tool: someone else
    assert [e.kind for e in other] == [EventKind.CANDIDATE_REGISTERED, EventKind.SESSION_BOOKED]
    assert other[1].candidate.id != again.candidate.id


def test_a_hub_id_of_another_branch_is_not_trusted(two_branches: Hub) -> None:
    [lyon] = two_branches.ingest("lyon", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=Candidate(
        email="l@example.org"))])
    events = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(
        id=lyon.candidate.id, email="b@example.org"))])
    assert [e.kind for e in events] == [EventKind.CANDIDATE_REGISTERED, EventKind.SESSION_BOOKED]
    assert events[1].candidate.id != lyon.candidate.id
    assert two_branches.store.entity_branch("candidates", events[1].candidate.id) == "bordeaux"


def test_the_session_or_the_outcome_names_the_person(two_branches: Hub, clock: FakeClock) -> None:
    session = make_session()
    [_, booked] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.SESSION_BOOKED, session=session,
                                                                       candidate=make_candidate(phone=None))])
    cid = booked.candidate.id
    by_session = Event(kind=EventKind.OUTCOME_RECORDED, occurred_at=clock(), source_id="o1", session=session,
                       outcome=Outcome(category=OutcomeCategory.PRESENT, observed_at=clock()))
    [one] = two_branches.ingest("bordeaux", "alpha", [by_session])
    assert one.candidate is not None and one.candidate.id == cid
    assert one.candidate.model_dump(mode="json", exclude_none=True) == stored(two_branches, cid)
    by_outcome = Event(kind=EventKind.OUTCOME_RECORDED, occurred_at=clock(), source_id="o2",
                       outcome=Outcome(category=OutcomeCategory.FORMATION, observed_at=clock(), candidate_id=cid))
    [two] = two_branches.ingest("bordeaux", "alpha", [by_outcome])
    assert two.candidate is not None and two.candidate.id == cid and two.outcome.candidate_id == cid


def test_no_person_at_all_stores_the_event_alone(two_branches: Hub, clock: FakeClock) -> None:
    [lyon] = two_branches.ingest("lyon", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED)])
    for source_id, candidate_id in (("o1", None), ("o2", lyon.candidate.id), ("o3", "cnd_unknown")):
        event = Event(kind=EventKind.OUTCOME_RECORDED, occurred_at=clock(), source_id=source_id,
                      outcome=Outcome(category=OutcomeCategory.PRESENT, observed_at=clock(),
                                      candidate_id=candidate_id))
        [only] = two_branches.ingest("bordeaux", "alpha", [event])
        assert only.candidate is None
        assert only.outcome.candidate_id == candidate_id
    assert two_branches.store.count("candidates", "bordeaux") == 0


def test_a_new_person_gets_an_id_and_the_events_date(two_branches: Hub, clock: FakeClock) -> None:
    when = clock() - timedelta(days=2)
    registration, booked = two_branches.ingest("bordeaux", "alpha", [make_event(
        EventKind.SESSION_BOOKED, candidate=Candidate(ref="r", email="n@example.org"), occurred_at=when)])
    assert registration.candidate == booked.candidate
    assert booked.candidate.id.startswith("cnd_") and booked.candidate.registered_at == when
    assert registration.source_id == f"{booked.source_id}#registration" and registration.occurred_at == when
    assert stored(two_branches, booked.candidate.id) == booked.candidate.model_dump(mode="json", exclude_none=True)


def test_conflicting_data_the_latest_non_empty_value_wins(two_branches: Hub, clock: FakeClock) -> None:
    first = Candidate(first_name="Aïcha", last_name="Benali", email="c@example.org", phone="0612345678",
                      referrer=Referrer(structure="Mission locale"), consent=True,
                      extra={"a": "1", "b": "2"}, registered_at=clock())
    [one] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=first)])
    update = Candidate(first_name="Aicha", email="C@example.org", phone="0761234567", consent=False,
                       extra={"b": "3", "c": "4"}, registered_at=clock() - timedelta(days=1))
    [two] = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.SESSION_BOOKED, candidate=update,
                                                                occurred_at=clock() + timedelta(hours=1))])
    assert two.candidate == Candidate(
        id=one.candidate.id, first_name="Aicha", last_name="Benali", email="C@example.org", phone="+33761234567",
        referrer=Referrer(structure="Mission locale"), consent=False, extra={"a": "1", "b": "3", "c": "4"},
        registered_at=clock() - timedelta(days=1),  # an earlier registration date is taken
        consent_at=clock() + timedelta(hours=1), consent_source="beta")  # the changed answer, dated and sourced
    assert two_branches.store.find_candidate("bordeaux", email_key="c@example.org", phone_key=None) == one.candidate.id
    assert two_branches.store.find_candidate("bordeaux", email_key=None, phone_key="761234567") == one.candidate.id
    later = Candidate(email="c@example.org", registered_at=clock() + timedelta(days=5))
    [three] = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=later)])
    assert three.candidate.registered_at == clock() - timedelta(days=1)  # the first date is kept
    assert three.candidate.first_name == "Aicha" and three.candidate.extra == {"a": "1", "b": "3", "c": "4"}



def test_the_hub_id_given_by_the_tool_wins_over_link_and_email(two_branches: Hub) -> None:
    [a] = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=Candidate(
        ref="inv-a", email="a@example.org"))])
    [b] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=Candidate(
        email="b@example.org"))])
    [booked] = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(
        id=b.candidate.id, ref="inv-a", email="a@example.org"))])
    assert booked.candidate.id == b.candidate.id != a.candidate.id
    assert two_branches.store.lookup("bordeaux", "candidate", "beta", "inv-a") == b.candidate.id  # link moved
