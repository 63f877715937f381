"""Staff picks in Présence/Résultat become one outcome_recorded each; bad labels are reported; resync rebuilds."""

from __future__ import annotations

from gsheets_helpers import BRANCH, SHEET_ID, poll, problems, sync
from test_gsheets_tracking import TRACKING, register, table

from hub.app import Hub
from hub.events import ContractType, Event, EventKind, Outcome, OutcomeCategory
from hub.resync import resync
from hub.testing import make_candidate, make_event
from hub_gsheets.sandbox import SheetsSandbox


def outcomes(hub: Hub) -> list[Event]:
    rows = hub.store.list_events(branch=BRANCH, kind="outcome_recorded", limit=1000)
    return [Event.model_validate_json(r.body) for r in reversed(rows)]


def test_staff_pick_becomes_exactly_one_event(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    register(gsheets_hub, sandbox, 2)
    cid = table(sandbox)[1]["ID hub (ne pas modifier)"]
    sandbox.set_cell(SHEET_ID, TRACKING, 3, "Présence", "Présent")
    sandbox.set_cell(SHEET_ID, TRACKING, 3, "Résultat", "CDI")

    assert poll(gsheets_hub, "suivi") == 2
    sync(gsheets_hub)  # delivered to every sink, the sheet's own included: nothing comes back
    assert poll(gsheets_hub, "suivi") == 0
    present, hired = outcomes(gsheets_hub)
    assert present.candidate_id == cid and present.outcome is not None
    assert present.outcome.category is OutcomeCategory.PRESENT and present.outcome.label == "Présent"
    assert hired.outcome is not None and hired.outcome.contract_type is ContractType.CDI
    assert hired.outcome.category is OutcomeCategory.EMPLOI_DURABLE
    assert table(sandbox)[1]["Présence"] == "Présent"

    sandbox.set_cell(SHEET_ID, TRACKING, 3, "Présence", "Absent")  # staff change their mind
    assert poll(gsheets_hub, "suivi") == 1
    assert outcomes(gsheets_hub)[-1].outcome.category is OutcomeCategory.ABSENT  # type: ignore[union-attr]


def test_staff_pick_survives_a_pending_hub_write(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    register(gsheets_hub, sandbox, 1)
    cid = table(sandbox)[0]["ID hub (ne pas modifier)"]
    sandbox.set_cell(SHEET_ID, TRACKING, 2, "Résultat", "Formation qualifiante")  # staff type...
    other = Outcome(category=OutcomeCategory.SORTIE_POSITIVE, observed_at=gsheets_hub.clock())
    who = make_candidate(id=cid, ref=None, email=None, phone=None)
    gsheets_hub.ingest(BRANCH, "calendly", [make_event(EventKind.OUTCOME_RECORDED, outcome=other, candidate=who)])
    gsheets_hub.dispatcher.drain()  # ...while the hub has another value to write in that cell
    sync(gsheets_hub)
    assert table(sandbox)[0]["Résultat"] == "Formation qualifiante"
    staff = [e for e in outcomes(gsheets_hub) if e.source == "gsheets"]
    assert [e.outcome.category for e in staff] == [OutcomeCategory.FORMATION]  # type: ignore[union-attr]


def test_unknown_label_is_reported_with_its_row(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    register(gsheets_hub, sandbox, 3)
    sandbox.set_cell(SHEET_ID, TRACKING, 4, "Présence", "Présente ?")
    assert poll(gsheets_hub, "suivi") == 0
    [(ref, field, message)] = problems(gsheets_hub)
    assert (ref, field) == (f"{TRACKING}!ligne 4", "Présence") and "ligne 4" in message and "Présent" in message
    assert poll(gsheets_hub, "suivi") == 0  # not an event, and not reported twice as a change

    sandbox.set_cell(SHEET_ID, TRACKING, 4, "Présence", "présent")  # fixed (case does not matter)
    assert poll(gsheets_hub, "suivi") == 1
    assert problems(gsheets_hub) == []


def test_label_in_the_wrong_column_and_unknown_ids(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    register(gsheets_hub, sandbox, 1)
    sandbox.set_cell(SHEET_ID, TRACKING, 2, "Présence", "CDI")
    sandbox.set_cell(SHEET_ID, TRACKING, 3, "ID hub (ne pas modifier)", "cnd_inventé")
    sandbox.set_cell(SHEET_ID, TRACKING, 3, "Présence", "Présent")
    assert poll(gsheets_hub, "suivi") == 0
    found = {(ref, field) for ref, field, _ in problems(gsheets_hub)}
    assert found == {(f"{TRACKING}!ligne 2", "Présence"), (f"{TRACKING}!ligne 3", "ID hub (ne pas modifier)")}


def test_resync_rebuilds_hub_columns_without_duplicates(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    register(gsheets_hub, sandbox, 4)
    sandbox.delete_row(SHEET_ID, TRACKING, 3)  # staff deleted a row
    sandbox.set_cell(SHEET_ID, TRACKING, 2, "Prénom", "gribouillé")  # and overwrote a hub cell
    result = resync(gsheets_hub, branch=BRANCH, plugin="gsheets", echo=lambda _: None)
    assert result.new == 0  # the form re-read found nothing new
    rows = table(sandbox)
    assert len(rows) == 4 and len({r["ID hub (ne pas modifier)"] for r in rows}) == 4
    assert sorted(r["Prénom"] for r in rows) == ["Prénom0", "Prénom1", "Prénom2", "Prénom3"]
