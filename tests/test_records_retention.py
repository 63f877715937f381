"""The retention of the hub's own operational records (`[records]` of hub.toml, hub.privacy.records): staff alert
mails, problems no source reported again, alert claims and finished deliveries' error texts go after
`operational`; the erasure journal's lines after `journal`; an erasure's receipts after `receipts`. A person's
events and anything still to deliver are never touched; the daily round of `hub run` does it once a day, and
`hub retention --dry-run` counts without deleting."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hub.app import Hub
from hub.cli import cli
from hub.config import RecordsSettings
from hub.errors import ConfigError
from hub.events import Event
from hub.hookspecs import hookimpl
from hub.privacy import records
from hub.privacy.backup import new_key
from hub.store import DeliveryOutcome
from hub.store.housekeeping import ERROR_REMOVED
from hub.testing import FakeClock, RecordingChannel, RecordingSink, make_candidate, make_event

DAY = 86400.0
YEAR = 365 * DAY
STAFF = "coord@example.org"
NOTHING = dict.fromkeys(records.LABELS, 0)


@pytest.fixture
def channel(register_plugin: Callable[[str, object], object]) -> RecordingChannel:
    mail = RecordingChannel()
    register_plugin("mail", mail)
    register_plugin("sink", RecordingSink())
    return mail


@pytest.fixture
def hub(make_hub: Callable[..., Hub], channel: RecordingChannel) -> Hub:
    return make_hub({"lyon": {"name": "Lyon", "plugins": ["mail", "sink"], "alerts": [STAFF],
                              "channels": {"email": "mail"}, "schedule": {"reminders": [], "followups": []},
                              "messages": {"quiet_hours": "00:00-00:00", "needs_call_after": "1000 jours"}}})


def register(hub: Hub, name: str) -> str:
    email = f"{name.lower()}@example.org"
    hub.ingest("lyon", "sink", [make_event("candidate_registered", source_id=f"{name}-r", occurred_at=hub.clock(),
                                           candidate=make_candidate(first_name=name, email=email, phone=None))])
    cid = hub.store.find_candidate("lyon", email_key=email, phone_key=None)
    assert cid is not None
    return cid


def staff_alerts(hub: Hub) -> list[Any]:
    return [e for e in hub.store.list_events(kind="message_due", limit=10_000)
            if json.loads(e.body)["message"]["recipient"] == "staff"]


def daily_round(hub: Hub) -> None:
    """What `hub run` does once an hour: the retention round (a new day: it runs)."""
    hub._retention_checked = 0.0
    hub.cycle()


def run(hub: Hub, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(hub.config.root), *args], catch_exceptions=False,
                              obj={"registry": hub.registry, "hub": hub})


# --- the settings -----------------------------------------------------------------------------------------------

def test_the_settings_read_as_staff_write_them_with_documented_defaults(make_hub: Callable[..., Hub]) -> None:
    default = RecordsSettings()
    assert (default.operational, default.journal, default.receipts) == (YEAR, 90 * DAY, 3 * YEAR)
    assert all(field.description for field in RecordsSettings.model_fields.values())
    made = make_hub({"lyon": {}}, hub={"records": {"operational": "180 jours", "journal": "45 jours",
                                                   "receipts": "5 ans"}})
    assert made.config.hub.records.journal == 45 * DAY and made.config.hub.records.receipts == 5 * YEAR
    with pytest.raises(ConfigError) as bad:
        make_hub({"lyon": {}}, hub={"records": {"operational": "2 jours", "journal": "30 jours"}})
    assert "records" in str(bad.value) and "operational must be at least 7 days" in str(bad.value)


# --- operational records ----------------------------------------------------------------------------------------

def test_a_staff_alert_past_the_limit_goes_with_its_delivery_while_a_person_s_events_stay(
        hub: Hub, channel: RecordingChannel, clock: FakeClock) -> None:
    person = register(hub, "Aicha")
    hub.incidents.needs_call("lyon", 1)  # a staff alert mail, through the branch's mail channel
    hub.cycle()
    assert [m.purpose for m in channel.sent()] == ["registration_received", "staff_alert"]
    [alert] = staff_alerts(hub)
    person_events = hub.store.candidate_events("lyon", person)
    assert len(person_events) >= 2  # the registration and the mail to her

    clock.advance(YEAR - DAY)
    daily_round(hub)
    assert [e.id for e in staff_alerts(hub)] == [alert.id]  # not yet a year old
    clock.advance(2 * DAY)
    daily_round(hub)
    assert staff_alerts(hub) == []
    assert [d for d in hub.store.list_deliveries(limit=10_000) if d.event_id == alert.id] == []
    assert hub.store.candidate_events("lyon", person) == person_events  # her journey stays, as it was
    assert hub.store.erasure_of(person) is None
    assert records.purge(hub, clock()) == NOTHING  # done: a second run finds nothing


def test_a_staff_alert_still_to_deliver_is_never_removed(hub: Hub, clock: FakeClock) -> None:
    hub.store.pause("lyon", "mail", "jeton refusé", clock())  # the channel paused: the mail waits
    hub.incidents.needs_call("lyon", 1)
    hub.cycle()
    [alert] = staff_alerts(hub)
    clock.advance(2 * YEAR)
    assert records.purge(hub, clock())["staff_alerts"] == 0
    assert [e.id for e in staff_alerts(hub)] == [alert.id]
    [waiting] = [d for d in hub.store.list_deliveries(limit=10_000) if d.event_id == alert.id]
    assert waiting.state == "pending"


def test_problems_not_reported_again_within_the_limit_go_the_others_stay(hub: Hub, clock: FakeClock) -> None:
    for ref in ("Feuille!ligne 3", "Feuille!ligne 4", "Feuille!ligne 5"):
        hub.store.report_problem("lyon", "sink", ref, "e-mail", "adresse illisible", clock())
    hub.store.resolve_problem("lyon", "sink", "Feuille!ligne 5")  # a resolution deletes the row at once
    assert [p.ref for p in hub.store.list_problems()] == ["Feuille!ligne 3", "Feuille!ligne 4"]
    clock.advance(YEAR - 10 * DAY)
    hub.store.report_problem("lyon", "sink", "Feuille!ligne 4", "e-mail", "adresse illisible", clock())  # still there
    clock.advance(20 * DAY)
    assert records.due(hub, clock())["problems"] == 1
    assert records.purge(hub, clock())["problems"] == 1
    assert [p.ref for p in hub.store.list_problems()] == ["Feuille!ligne 4"]


def test_old_alert_claims_and_finished_deliveries_error_texts_go_a_recent_dead_one_keeps_its_error(
        hub: Hub, clock: FakeClock) -> None:
    person = register(hub, "Aicha")
    hub.cycle()
    assert hub.store.claim_alert("lyon", "sink:dead", clock(), DAY)

    def stored(source_id: str, *, skipped: str | None = None) -> int:
        with hub.store.transaction():
            seq = hub.store.insert_event(event_id=f"evt_{source_id}", branch="lyon", kind="outcome_recorded",
                                         source="sink", source_id=source_id, occurred_at=clock(),
                                         candidate_id=person, session_id=None, body="{}", sinks=["sink"],
                                         now=clock(), skipped=skipped)
        assert seq is not None
        return seq

    def dead(source_id: str) -> int:
        stored(source_id)
        [row] = [d for d in hub.store.list_deliveries(states=("pending",)) if d.event_id == f"evt_{source_id}"]
        with hub.store.transaction():
            hub.store.finish_deliveries([DeliveryOutcome(row.id, "dead", 5, last_error="Calendly a répondu 500 : "
                                                                                      "service indisponible")],
                                        clock())
        return row.id

    stored("skipped-old", skipped="messages are turned off for this branch")
    old_dead = dead("dead-old")
    clock.advance(YEAR - 30 * DAY)
    recent_dead = dead("dead-recent")
    clock.advance(31 * DAY)

    assert records.due(hub, clock())["delivery_errors"] == 3  # with the referrer note skipped at registration
    assert not hub.store.claim_alert("lyon", "sink:dead", clock(), 2 * YEAR)  # the claim is remembered
    records.purge(hub, clock())
    errors = {d.event_id: (d.state, d.last_error) for d in hub.store.list_deliveries(limit=10_000)}
    assert errors["evt_skipped-old"] == ("skipped", None)
    assert errors["evt_dead-old"] == ("dead", ERROR_REMOVED)
    assert errors["evt_dead-recent"] == ("dead", "Calendly a répondu 500 : service indisponible")
    assert all(error is None or state == "dead" for state, error in errors.values())
    assert hub.store.retry_deliveries(clock(), ids=[old_dead, recent_dead]) == 2  # both still retriable
    assert hub.store.claim_alert("lyon", "sink:dead", clock(), 2 * YEAR)  # the old claim is gone


# --- the erasure journal and the receipts -----------------------------------------------------------------------

def journal_people(hub: Hub) -> list[str]:
    return [str(e["candidate"]) for e in hub.eraser.journal.entries()]


def test_journal_lines_older_than_journal_go_newer_stay(hub: Hub, clock: FakeClock) -> None:
    first, second = register(hub, "Premiere"), register(hub, "Seconde")
    hub.eraser.forget("lyon", first)
    clock.advance(60 * DAY)
    hub.eraser.forget("lyon", second)
    clock.advance(31 * DAY)  # the first line is 91 days old, the second 31
    assert records.due(hub, clock())["journal_lines"] == 1
    assert journal_people(hub) == [first, second]
    assert records.purge(hub, clock())["journal_lines"] == 1
    assert journal_people(hub) == [second]
    path = hub.eraser.journal.path
    assert path.stat().st_mode & 0o777 == 0o600
    hub.eraser.forget("lyon", register(hub, "Troisieme"))  # appending still works after the rewrite
    assert len(journal_people(hub)) == 2


def test_a_line_written_while_the_journal_is_pruned_is_never_lost(tmp_path: Path) -> None:
    import threading

    from hub.privacy.journal import ErasureJournal

    journal = ErasureJournal(tmp_path)
    old, new = datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
    for n in range(50):
        journal.record({"erasure": f"era_old{n}", "branch": "lyon", "at": old.isoformat()})

    def write() -> None:
        for n in range(200):
            journal.record({"erasure": f"era_new{n}", "branch": "lyon", "at": new.isoformat()})

    writer = threading.Thread(target=write)
    writer.start()
    pruned = 0
    while writer.is_alive() or pruned < 50:
        pruned += journal.prune(datetime(2025, 1, 1, tzinfo=UTC))
    writer.join()
    assert pruned == 50
    assert [e["erasure"] for e in journal.entries()] == [f"era_new{n}" for n in range(200)]


class Deaf:
    """A tool that receives registrations but cannot erase: its receipt is a manual item."""

    @hookimpl
    def candidate_registered(self, hub: Any, event: Event) -> None:
        return None


def test_receipts_stay_until_receipts_then_go_and_the_person_stays_erased(
        make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object], clock: FakeClock) -> None:
    register_plugin("sink", RecordingSink())
    register_plugin("deaf", Deaf())
    hub = make_hub({"lyon": {"plugins": ["sink", "deaf"], "schedule": {"reminders": [], "followups": []}}})
    person = register(hub, "Aicha")
    hub.cycle()
    plan = hub.eraser.forget("lyon", person)
    hub.cycle()
    [erasure] = hub.store.list_erasures()
    assert erasure.finished_at is not None
    receipt = hub.store.receipts(plan.erasure_id)
    assert {(r.plugin, r.state) for r in receipt} == {("sink", "done"), ("deaf", "manual")}

    clock.advance(3 * YEAR - DAY)
    daily_round(hub)
    assert hub.store.receipts(plan.erasure_id) == receipt  # proof kept for `receipts`
    clock.advance(2 * DAY)
    assert records.due(hub, clock())["receipts"] == 1
    daily_round(hub)
    assert hub.store.receipts(plan.erasure_id) == []
    assert hub.store.list_erasures() == [erasure]  # the hub id stays erased: never erased again, nor brought back
    assert hub.store.erasure_of(person) == erasure and hub.store.get_entity("candidates", person) == {"id": person}
    clock.advance(DAY)
    daily_round(hub)
    assert hub.store.list_erasures() == [erasure] and records.due(hub, clock()) == NOTHING


def test_a_restore_still_redoes_the_erasures_whose_lines_are_kept(
        make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object], tmp_path: Path) -> None:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=200))
    register_plugin("sink", RecordingSink())
    hub = make_hub({"lyon": {"plugins": ["sink"], "schedule": {"reminders": [], "followups": []}}}, clock=clock)
    before, after = register(hub, "Avant"), register(hub, "Apres")
    hub.cycle()
    hub.eraser.forget("lyon", before)  # erased before the backup: the backup knows it
    clock.advance(150 * DAY)
    key = new_key()
    backup = tmp_path / "out" / "hub.backup"
    env = {"HUB_BACKUP_KEY": key}
    made = CliRunner().invoke(cli, ["--config", str(hub.config.root), "backup", "--output", str(backup)],
                              obj={"registry": hub.registry}, env=env, catch_exceptions=False)
    assert made.exit_code == 0, made.output
    hub.eraser.forget("lyon", after)  # after the backup: only the journal knows it
    assert records.purge(hub, clock())["journal_lines"] == 1  # the first line (150 days) is useless: it goes
    assert journal_people(hub) == [after]
    hub.close()

    restored = CliRunner().invoke(cli, ["--config", str(hub.config.root), "restore", str(backup), "--yes"],
                                  obj={"registry": hub.registry}, env=env, catch_exceptions=False)
    assert restored.exit_code == 0, restored.output
    assert "1 effacement fait depuis le" in restored.output and "Attention" not in restored.output
    again = Hub(hub.config, hub.registry, clock=clock)
    try:
        assert again.store.get_entity("candidates", after) == {"id": after}  # erased again by the restore
        assert again.store.get_entity("candidates", before) == {"id": before}  # erased in the backup itself
        assert {e.candidate_id: e.reason for e in again.store.list_erasures()} == {before: "request",
                                                                                   after: "replay"}
    finally:
        again.close()


# --- once a day, and the dry run --------------------------------------------------------------------------------

def test_the_purge_runs_once_a_day(hub: Hub, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[datetime] = []
    real = records.purge
    monkeypatch.setattr(records, "purge", lambda h, now: runs.append(now) or real(h, now))
    daily_round(hub)
    daily_round(hub)
    assert len(runs) == 1
    clock.advance(DAY)
    daily_round(hub)
    assert len(runs) == 2


def test_the_dry_run_counts_per_kind_without_deleting(hub: Hub, clock: FakeClock) -> None:
    hub.incidents.needs_call("lyon", 1)
    hub.store.report_problem("lyon", "sink", "Feuille!ligne 3", "e-mail", "adresse illisible", clock())
    hub.cycle()
    quiet = run(hub, "retention", "--dry-run")
    assert quiet.exit_code == 0 and "Aucun registre de fonctionnement du hub" in quiet.output
    clock.advance(YEAR + DAY)
    text = run(hub, "retention", "--dry-run").output
    assert "Personne n'a dépassé la durée de conservation." in text  # the people's part, as before
    assert f"  {records.LABELS['staff_alerts']} : 1" in text and f"  {records.LABELS['problems']} : 1" in text
    assert f"  {records.LABELS['journal_lines']} : 0" in text
    assert STAFF not in text
    assert len(staff_alerts(hub)) == 1 and len(hub.store.list_problems()) == 1  # nothing deleted
    assert json.loads(run(hub, "retention", "--dry-run", "--json").output) == []  # the JSON lists people only
    daily_round(hub)
    assert staff_alerts(hub) == [] and hub.store.list_problems() == []
    assert "Aucun registre de fonctionnement du hub" in run(hub, "retention", "--dry-run").output
