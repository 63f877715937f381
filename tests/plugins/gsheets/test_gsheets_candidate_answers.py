"""The person's own answer (the follow-up page, recorded_by "candidate") in the tracking sheet's Résultat: shown
like a staff entry, but a staff entry wins: the person's answer never overwrites staff's pick, a later staff pick
overwrites the person's, and among the person's answers the latest wins."""

from __future__ import annotations

from datetime import timedelta

from gsheets_helpers import BRANCH, SHEET_ID, poll, sync
from test_gsheets_outcomes import outcomes
from test_gsheets_tracking import TRACKING, register, table

from hub.app import Hub
from hub.events import BY_CANDIDATE, Candidate, ContractType, Event, EventKind, Outcome, OutcomeCategory
from hub.testing import FakeClock
from hub_gsheets import tracking
from hub_gsheets.sandbox import SheetsSandbox

RESULT = "Résultat"


def answer(hub: Hub, cid: str, label: str, contract: ContractType | None = None, n: int = 0) -> Event:
    now = hub.clock()
    outcome = Outcome(category=OutcomeCategory.AUTRE, contract_type=contract, label=label, observed_at=now,
                      recorded_by=BY_CANDIDATE, horizon="3 months", candidate_id=cid)
    return Event(kind=EventKind.OUTCOME_RECORDED, occurred_at=now, source_id=f"suivi:ses_x:3 months:{n}:{label}",
                 candidate=Candidate(id=cid), outcome=outcome)


def answered(hub: Hub, cid: str, label: str, contract: ContractType | None = None, n: int = 0) -> None:
    assert hub.ingest(BRANCH, "hub.suivi", [answer(hub, cid, label, contract, n)])
    sync(hub)


def test_the_persons_answer_shows_and_the_latest_wins(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                      clock: FakeClock) -> None:
    register(gsheets_hub, sandbox, 1)
    cid = table(sandbox)[0]["ID hub (ne pas modifier)"]
    answered(gsheets_hub, cid, "En recherche")
    assert table(sandbox)[0][RESULT] == "En recherche"
    clock.advance(days=1)
    answered(gsheets_hub, cid, "CDI", ContractType.CDI, n=1)
    assert table(sandbox)[0][RESULT] == "CDI"
    assert poll(gsheets_hub, "suivi") == 0  # the hub's own writes are not read back as staff's
    older = answer(gsheets_hub, cid, "Autre", n=2).model_copy(update={"occurred_at": clock() - timedelta(days=2)})
    tracking.record(gsheets_hub.context(BRANCH, "gsheets"), older)  # an older answer delivered late (a retry)
    poll(gsheets_hub, "suivi")
    assert table(sandbox)[0][RESULT] == "CDI"


def test_a_staff_pick_wins_over_the_persons_answer(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                   clock: FakeClock) -> None:
    register(gsheets_hub, sandbox, 1)
    cid = table(sandbox)[0]["ID hub (ne pas modifier)"]
    sandbox.set_cell(SHEET_ID, TRACKING, 2, RESULT, "Formation qualifiante")  # staff pick first
    sync(gsheets_hub)
    clock.advance(days=1)
    answered(gsheets_hub, cid, "En recherche")  # then the person answers otherwise
    assert table(sandbox)[0][RESULT] == "Formation qualifiante"
    clock.advance(days=1)
    answered(gsheets_hub, cid, "CDI", ContractType.CDI, n=1)  # and again: staff's pick still stays
    assert table(sandbox)[0][RESULT] == "Formation qualifiante"
    staff = [e for e in outcomes(gsheets_hub) if e.source == "gsheets"]
    assert len(staff) == 1  # and nothing the hub did came back as a staff change


def test_a_later_staff_pick_overwrites_the_persons_answer(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                          clock: FakeClock) -> None:
    register(gsheets_hub, sandbox, 1)
    cid = table(sandbox)[0]["ID hub (ne pas modifier)"]
    answered(gsheets_hub, cid, "En recherche")
    clock.advance(days=1)
    sandbox.set_cell(SHEET_ID, TRACKING, 2, RESULT, "CDI")
    sync(gsheets_hub)
    assert table(sandbox)[0][RESULT] == "CDI"
    (staff,) = [e for e in outcomes(gsheets_hub) if e.source == "gsheets"]
    assert staff.outcome is not None and staff.outcome.contract_type is ContractType.CDI
    clock.advance(days=1)
    answered(gsheets_hub, cid, "Autre", n=1)  # the person answers again: staff's pick stays
    assert table(sandbox)[0][RESULT] == "CDI"


def test_a_staff_pick_wins_before_its_own_event_comes_back(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                           clock: FakeClock) -> None:
    register(gsheets_hub, sandbox, 1)
    cid = table(sandbox)[0]["ID hub (ne pas modifier)"]
    sandbox.set_cell(SHEET_ID, TRACKING, 2, RESULT, "CDI")
    assert poll(gsheets_hub, "suivi") == 1  # seen and stored; its delivery back to the sheet not done yet
    poll(gsheets_hub, "suivi")  # the next sync folds it into what the sheet knows
    clock.advance(minutes=5)
    tracking.record(gsheets_hub.context(BRANCH, "gsheets"), answer(gsheets_hub, cid, "En recherche"))
    poll(gsheets_hub, "suivi")  # the person's answer, delivered first, is not written over staff's
    assert table(sandbox)[0][RESULT] == "CDI"


def test_a_cell_staff_cleared_is_filled_by_the_next_answer(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                           clock: FakeClock) -> None:
    register(gsheets_hub, sandbox, 1)
    cid = table(sandbox)[0]["ID hub (ne pas modifier)"]
    sandbox.set_cell(SHEET_ID, TRACKING, 2, RESULT, "CDI")
    sync(gsheets_hub)
    sandbox.set_cell(SHEET_ID, TRACKING, 2, RESULT, "")  # staff take their pick back
    sync(gsheets_hub)
    clock.advance(timedelta(days=1).total_seconds())
    answered(gsheets_hub, cid, "En recherche")
    assert table(sandbox)[0][RESULT] == "En recherche"
