from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from hub.events import ContractType, Event, EventKind, Outcome, OutcomeCategory, classify_contract
from hub.testing import T0, make_event


@pytest.mark.parametrize(("contract", "months", "category"), [
    ("CDI", None, "emploi_durable"),
    ("CDD", 6, "emploi_durable"),
    ("CDD", 5.9, "emploi_transition"),
    ("CDD", None, "emploi_transition"),
    ("interim", 6, "emploi_durable"),
    ("interim", 2, "emploi_transition"),
    ("formation", None, "formation"),
    ("creation_entreprise", None, "emploi_durable"),
    ("contrat_aide", 12, "emploi_transition"),
])
def test_contract_category_follows_the_dares_definition(contract: str, months: float | None, category: str) -> None:
    assert classify_contract(ContractType(contract), months) == category
    outcome = Outcome(category="autre", contract_type=contract, contract_months=months, observed_at=T0)
    assert outcome.category == category  # derived, whatever was typed


def test_outcome_without_category_or_contract_is_refused() -> None:
    with pytest.raises(ValidationError):
        Outcome(observed_at=T0)  # type: ignore[call-arg]


def test_free_text_category_is_refused() -> None:
    with pytest.raises(ValidationError):
        Outcome(category="trouvé un job", observed_at=T0)


def test_times_without_zone_are_refused() -> None:
    with pytest.raises(ValidationError):
        Event(kind=EventKind.CANDIDATE_REGISTERED, occurred_at=datetime(2026, 1, 1), source_id="x",
              candidate={"first_name": "A"})


def test_an_event_needs_its_payload() -> None:
    with pytest.raises(ValidationError, match="needs session"):
        Event(kind=EventKind.SESSION_BOOKED, occurred_at=T0, source_id="x")


def test_events_are_frozen() -> None:
    event = make_event("candidate_registered")
    with pytest.raises(ValidationError):
        event.branch = "other"  # type: ignore[misc]


def test_describe_has_no_personal_data() -> None:
    event = make_event("session_booked")
    text = event.describe()
    for value in (event.candidate.email, event.candidate.first_name, event.candidate.phone):
        assert value not in text


def test_attendance_is_not_reclassified() -> None:
    outcome = Outcome(category=OutcomeCategory.ABSENT, contract_type=None, observed_at=T0)
    assert outcome.category is OutcomeCategory.ABSENT
