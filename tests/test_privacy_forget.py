"""`hub forget`: the person erased in the hub at once and in one transaction, every tool that received their data
told through `candidate_forgotten` with a receipt, tombstones that keep a re-poll from bringing them back, and
no copy of their e-mail, phone or name left in the database file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hub.app import Hub
from hub.cli import cli
from hub.errors import PluginNotReady
from hub.events import Candidate, Event
from hub.hookspecs import hookimpl
from hub.privacy.forget import ForgetError
from hub.testing import T0, FakeClock, RecordingChannel, RecordingSink, make_candidate, make_event, make_session

BRANCH = "lyon"
EMAIL, PHONE, LAST = "aicha.benali@example.org", "+33612345678", "Benali"


class Eraser:
    """A tool that erases what its API allows and names what it cannot."""

    def __init__(self) -> None:
        self.forgotten: list[Event] = []
        self.fail: BaseException | None = None
        self.rows: list[object] = []  # what its state held about the person when told of the erasure

    @hookimpl
    def candidate_registered(self, hub: Any, event: Event) -> None:
        pass

    @hookimpl
    def candidate_forgotten(self, hub: Any, event: Event) -> None:
        self.forgotten.append(event)
        self.rows.append(hub.state_get(hub.person_key(event.candidate.id, "row")) if event.candidate else None)
        if self.fail is not None:
            raise self.fail
        hub.erased("ligne du tableau de suivi")
        hub.erasure_manual("Google Forms garde sa copie : supprimez la réponse dans le formulaire")


class Mute:
    """A tool that received the registration but cannot erase anything (no hook)."""

    @hookimpl
    def candidate_registered(self, hub: Any, event: Event) -> None:
        pass


@pytest.fixture
def plugins(register_plugin: Callable[[str, object], object]) -> dict[str, Any]:
    made = {"sink": RecordingSink(), "chan": RecordingChannel(), "eraser": Eraser(), "mute": Mute()}
    for name, plugin in made.items():
        register_plugin(name, plugin)
    return made


@pytest.fixture
def hub(make_hub: Callable[..., Hub], plugins: dict[str, Any]) -> Hub:
    made = make_hub({BRANCH: {"plugins": ["sink", "chan", "eraser", "mute"], "channels": {"email": "chan"},
                              "schedule": {"reminders": ["48h"], "followups": []},
                              "messages": {"quiet_hours": "00:00-00:00"}},
                     "paris": {"plugins": ["sink"]}})
    return made


def known_person(hub: Hub) -> str:
    """Aïcha registers, books a session in five days (a reminder is waiting), and the branch writes to her."""
    person = make_candidate(ref="row-7", first_name="Aïcha", last_name=LAST, email=EMAIL, phone=PHONE)
    hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=person, source_id="row-7")])
    hub.ingest(BRANCH, "sink", [make_event("session_booked", candidate=person, source_id="booking-1",
                                           session=make_session(T0 + timedelta(days=5), ref="booking-1"))])
    hub.cycle()
    cid = hub.store.find_candidate(BRANCH, email_key=EMAIL, phone_key=None)
    assert cid is not None
    return cid


def database_bytes(hub: Hub) -> bytes:
    path = Path(hub.store.path)
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def test_forget_erases_the_hub_copy_at_once_and_tells_every_tool_that_received_data(
        hub: Hub, plugins: dict[str, Any]) -> None:
    cid = known_person(hub)
    assert hub.store.list_schedule(state="waiting")  # her 48 h reminder
    plan = hub.eraser.forget(BRANCH, cid)
    assert plan.plugins == ["chan", "eraser", "sink"] and plan.manual == ["mute"]
    assert hub.store.get_entity("candidates", cid) == {"id": cid}
    for _, _, _, _, body in hub.store.candidate_events(BRANCH, cid):
        assert EMAIL not in body and LAST not in body and "Aïcha" not in body and "612345678" not in body
    assert hub.store.list_schedule(state="waiting") == []  # no reminder for someone forgotten
    assert hub.cycle().errors == []
    (told,) = plugins["eraser"].forgotten
    assert told.candidate is not None and told.candidate.email == EMAIL  # the record, for that delivery only
    receipts = {r.plugin: r for r in hub.store.receipts(plan.erasure_id)}
    assert receipts["eraser"].state == "done"
    assert receipts["eraser"].items == (("done", "ligne du tableau de suivi"),
                                        ("manual", "Google Forms garde sa copie : supprimez la réponse dans le "
                                                   "formulaire"))
    assert receipts["mute"].state == "manual" and "effacez" in receipts["mute"].items[0][1]
    assert {"sink", "chan"} <= set(receipts)
    (erasure,) = hub.store.list_erasures(BRANCH)
    assert erasure.finished_at is not None  # every tool done: the payload and the links are gone
    assert hub.store.erasure_payload(plan.erasure_id) is None
    assert hub.store.lookup(BRANCH, "candidate", "sink", "row-7") is None


def test_nothing_about_the_person_is_left_in_the_database_file(hub: Hub) -> None:
    cid = known_person(hub)
    assert EMAIL.encode() in database_bytes(hub)  # the check can see it when it is there
    hub.eraser.forget(BRANCH, cid)
    hub.cycle()
    hub.store.checkpoint()
    raw = database_bytes(hub)
    for needle in (EMAIL, LAST, "Aïcha", "612345678"):
        assert needle.encode() not in raw, needle


def test_a_forgotten_person_is_not_registered_again_by_a_later_poll(hub: Hub, plugins: dict[str, Any]) -> None:
    cid = known_person(hub)
    hub.eraser.forget(BRANCH, cid)
    hub.cycle()
    again = make_candidate(ref="row-7", first_name="Aïcha", last_name=LAST, email=EMAIL.upper(), phone=None)
    stored = hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=again, source_id="row-7b")])
    assert stored == []
    by_phone = make_candidate(first_name="A", email=None, phone="06 12 34 56 78")
    assert hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=by_phone,
                                                  source_id="row-9")]) == []
    assert hub.store.count("candidates", BRANCH) == 1  # the erased record alone
    other = make_candidate(first_name="Zoé", email="zoe@example.org", phone=None)
    assert hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=other, source_id="row-8")])


def test_the_tombstone_is_per_branch(hub: Hub) -> None:
    cid = known_person(hub)
    hub.eraser.forget(BRANCH, cid)
    person = make_candidate(first_name="Aïcha", email=EMAIL)
    assert hub.ingest("paris", "sink", [make_event("candidate_registered", candidate=person, source_id="p1")])


# --- what a tombstone blocks: the past, not the person ----------------------------------------------------------

def erased_a_month_later(hub: Hub, clock: FakeClock, reason: str = "request") -> str:
    """Aïcha registers and books at T0; a month later she is erased (and every tool done). Her old hub id."""
    cid = known_person(hub)
    clock.advance(30 * 86400)
    hub.eraser.forget(BRANCH, cid, reason=reason)
    hub.cycle()
    return cid


def test_old_data_dated_up_to_the_erasure_stays_out_whatever_its_kind(hub: Hub, clock: FakeClock) -> None:
    cid = erased_a_month_later(hub, clock)
    erased_at = hub.clock()
    clock.advance(2 * 365 * 86400)  # the form sheet is read again years later
    person = make_candidate(ref="row-7", first_name="Aïcha", last_name=LAST, email=EMAIL, phone=PHONE)
    old_row = make_event("candidate_registered", candidate=person, source_id="row-7-reread", occurred_at=T0)
    in_flight = make_event("session_booked", candidate=person, source_id="booking-2",
                           occurred_at=erased_at + timedelta(minutes=5),  # a tool's clock behind the server's
                           session=make_session(T0 + timedelta(days=40), ref="booking-2"))
    late_webhook = make_event("session_cancelled", candidate=person, source_id="booking-1#cancelled",
                              occurred_at=hub.clock(),  # staff cancel her old booking by hand, long after
                              session=make_session(T0 + timedelta(days=5), ref="booking-1"))
    assert hub.ingest(BRANCH, "sink", [old_row, in_flight, late_webhook]) == []
    assert hub.store.count("candidates", BRANCH) == 1  # the erased record alone
    assert hub.eraser.tombstones.covers(BRANCH, Candidate(email=EMAIL))
    assert hub.store.erasure_returns(BRANCH) == {}
    assert hub.store.get_entity("candidates", cid) == {"id": cid}


def test_a_registration_after_the_erasure_is_a_new_start_under_a_new_id(
        hub: Hub, clock: FakeClock, plugins: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    old = erased_a_month_later(hub, clock, reason="retention")
    (erasure,) = hub.store.list_erasures(BRANCH)
    clock.advance(3 * 365 * 86400)  # years later she fills in the form again
    person = make_candidate(ref="row-31", first_name="Aïcha", last_name=LAST, email=EMAIL.upper(), phone=None)
    stored = hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=person, source_id="row-31",
                                                    occurred_at=hub.clock())])
    assert [e.kind.value for e in stored] == ["candidate_registered"]
    new = stored[0].candidate_id
    assert new and new != old and new.startswith("cnd_")
    assert hub.store.find_candidate(BRANCH, email_key=EMAIL, phone_key=None) == new
    assert hub.store.get_entity("candidates", old) == {"id": old}  # the erased record stays erased
    assert not hub.eraser.tombstones.covers(BRANCH, Candidate(email=EMAIL))  # her e-mail's tombstone went
    assert hub.eraser.tombstones.covers(BRANCH, Candidate(phone=PHONE))  # her old phone still blocks
    welcome = [e for e in hub.store.list_events(branch=BRANCH, kind="message_due") if e.candidate_id == new]
    assert welcome  # her confirmation is planned, like anyone's
    with caplog.at_level("INFO", logger="hub.privacy"):
        hub.cycle()
    assert any(m.purpose == "registration_received" and m.candidate_id == new for m in plugins["chan"].sent())
    (line,) = [r for r in caplog.records if r.getMessage() == "erased person came back: new record"]
    assert (line.erasure, line.candidate) == (erasure.id, new)  # type: ignore[attr-defined]
    assert EMAIL not in caplog.text.lower()
    status = run(hub, "forget", "--status")
    assert f"revenu(e) le {hub.clock():%Y-%m-%d} : nouvelle fiche {new}" in status.output
    later = make_candidate(ref="row-32", first_name="Aïcha", email=EMAIL, phone=None)
    clock.advance(86400)
    assert hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=later, source_id="row-32",
                                                  occurred_at=hub.clock())])  # her later answers flow
    assert hub.store.find_candidate(BRANCH, email_key=EMAIL, phone_key=None) == new


def test_a_booking_after_the_erasure_registers_the_person_anew(hub: Hub, clock: FakeClock) -> None:
    old = erased_a_month_later(hub, clock)
    clock.advance(86400)
    person = make_candidate(first_name="Aïcha", email=EMAIL, phone=PHONE)
    stored = hub.ingest(BRANCH, "sink", [make_event("session_booked", candidate=person, source_id="booking-9",
                                                    occurred_at=hub.clock(),
                                                    session=make_session(hub.clock() + timedelta(days=3),
                                                                         ref="booking-9"))])
    assert [e.kind.value for e in stored] == ["candidate_registered", "session_booked"]
    assert stored[1].candidate_id not in (None, old)
    assert not hub.eraser.tombstones.covers(BRANCH, person)


def test_a_recent_event_a_tool_still_links_to_the_erased_record_stays_out(hub: Hub, plugins: dict[str, Any],
                                                                         clock: FakeClock) -> None:
    cid = known_person(hub)  # the sink's row-7 is linked to her until her erasure is finished
    plugins["eraser"].fail = PluginNotReady("Google Sheets injoignable", retry_after=3600)
    hub.eraser.forget(BRANCH, cid)
    hub.cycle()
    assert hub.store.list_erasures(BRANCH, open_only=True)
    clock.advance(86400)
    same_row = make_candidate(ref="row-7", first_name="Aïcha", email=EMAIL, phone=None)
    assert hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=same_row, source_id="row-7c",
                                                  occurred_at=hub.clock())]) == []  # never under the erased id
    assert hub.eraser.tombstones.covers(BRANCH, Candidate(email=EMAIL))


def test_an_event_naming_the_erased_hub_id_stays_out_even_when_recent(hub: Hub, clock: FakeClock) -> None:
    from hub.events import Outcome, OutcomeCategory

    cid = erased_a_month_later(hub, clock)
    clock.advance(86400)
    typed = Outcome(category=OutcomeCategory.FORMATION, observed_at=hub.clock(), candidate_id=cid)
    outcome = make_event("outcome_recorded", candidate=None, outcome=typed, source_id="suivi:1",
                         occurred_at=hub.clock())
    old_link = make_event("session_booked", candidate=make_candidate(id=cid, email=EMAIL), source_id="booking-5",
                          occurred_at=hub.clock(), session=make_session(hub.clock() + timedelta(days=2)))
    assert hub.ingest(BRANCH, "sink", [outcome, old_link]) == []
    assert hub.eraser.tombstones.covers(BRANCH, Candidate(email=EMAIL))  # nothing lifted
    assert hub.store.count("candidates", BRANCH) == 1


def test_what_was_still_to_go_about_the_person_does_not_go(hub: Hub, plugins: dict[str, Any]) -> None:
    person = make_candidate(first_name="Aïcha", last_name=LAST, email=EMAIL)
    hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=person, source_id="r1")])
    cid = hub.store.find_candidate(BRANCH, email_key=EMAIL, phone_key=None)
    assert cid is not None
    plan = hub.eraser.plan(BRANCH, cid)
    assert plan.pending > 0  # the welcome mail and the sinks' deliveries
    hub.eraser.forget(BRANCH, cid)
    hub.cycle()
    assert plugins["chan"].sent() == []
    assert [k for k in plugins["sink"].kinds() if k != "candidate_forgotten"] == []


def test_a_failing_tool_is_retried_and_shown_until_it_is_done(hub: Hub, plugins: dict[str, Any],
                                                              clock: FakeClock) -> None:
    cid = known_person(hub)
    plugins["eraser"].fail = PluginNotReady("Google Sheets injoignable", retry_after=60)
    plan = hub.eraser.forget(BRANCH, cid)
    hub.cycle()
    receipts = {r.plugin: r for r in hub.store.receipts(plan.erasure_id)}
    assert receipts["eraser"].state == "retrying" and receipts["eraser"].items == ()
    assert hub.store.list_erasures(BRANCH, open_only=True)  # not finished: the payload is kept for the retry
    plugins["eraser"].fail = None
    clock.advance(3600)
    hub.cycle()
    receipts = {r.plugin: r for r in hub.store.receipts(plan.erasure_id)}
    assert receipts["eraser"].state == "done" and len(receipts["eraser"].items) == 2
    assert plugins["eraser"].forgotten[-1].candidate.email == EMAIL  # the retry still had the record
    assert hub.store.list_erasures(BRANCH, open_only=True) == []


def test_an_erasure_interrupted_halfway_changes_nothing(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = known_person(hub)
    before = hub.store.get_entity("candidates", cid)
    bodies = hub.store.candidate_events(BRANCH, cid)
    calls = {"n": 0}

    def dies_on_the_third_event(body: str) -> str:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the process is stopped in the middle of the rewrite
        return "{}"
    monkeypatch.setattr("hub.privacy.forget.scrub", dies_on_the_third_event)
    with pytest.raises(KeyboardInterrupt):
        hub.eraser.forget(BRANCH, cid)
    assert hub.store.get_entity("candidates", cid) == before
    assert hub.store.list_erasures() == []
    assert hub.store.candidate_events(BRANCH, cid) == bodies  # no event rewritten
    monkeypatch.undo()
    hub.eraser.forget(BRANCH, cid)  # and it can be done again, completely
    assert hub.store.get_entity("candidates", cid) == {"id": cid}


def test_the_record_keeps_the_groups_reports_count_never_the_year_of_birth(hub: Hub) -> None:
    """An erased person still counts in the key figures (hub.report): their record keeps the referrer's kind (the
    group a structure's name says, never the name), the declared sex and the age band at registration."""
    from hub.events import Referrer

    person = make_candidate(ref="row-9", email=EMAIL, phone=PHONE, sex="Femme", birth_year=1999,
                            registered_at=T0, referrer=Referrer(structure="Mission Locale de Villeurbanne"))
    [stored] = hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=person, source_id="row-9")])
    cid = str(stored.candidate_id)
    hub.eraser.forget(BRANCH, cid)
    assert hub.store.get_entity("candidates", cid) == {"id": cid, "referrer": {"kind": "mission_locale"},
                                                       "sex": "F", "extra": {"age_band": "25_54"}}
    hub.cycle()  # every tool told: the erasure's payload (the record as it was) goes
    hub.store.checkpoint()
    assert b"birth_year" not in database_bytes(hub) and b"Villeurbanne" not in database_bytes(hub)
    assert hub.context(BRANCH, "sink").candidate(cid) is not None  # still a valid record for the plugins


def test_forgetting_twice_is_refused_with_the_command_that_shows_the_first(hub: Hub) -> None:
    cid = known_person(hub)
    hub.eraser.forget(BRANCH, cid)
    with pytest.raises(ForgetError, match="hub forget --status"):
        hub.eraser.forget(BRANCH, cid)


# --- the commands ----------------------------------------------------------------------------------------------

def run(hub: Hub, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, ["--config", str(hub.config.root), *args], input=input, catch_exceptions=False,
                              obj={"registry": hub.registry, "hub": hub})


def test_export_lists_every_field_the_journey_and_every_recipient(hub: Hub) -> None:
    import json

    cid = known_person(hub)
    result = run(hub, "export", "--candidate", EMAIL)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["personne"]["email"] == EMAIL and data["personne"]["phone"] == PHONE
    assert data["personne"]["id"] == cid
    assert [s["statut"] for s in data["rendez_vous"]] == ["réservé"]
    assert any(m["destinataire"] == "la personne" and m["etat"] == "fait" for m in data["messages"])
    tools = {(r["outil"], r["role"]) for r in data["destinataires"]}
    assert {("sink", "a transmis au hub"), ("sink", "a reçu"), ("chan", "a reçu"), ("mute", "a reçu")} <= tools
    page = run(hub, "export", "--candidate", cid, "--format", "html")
    assert "Qui a reçu vos informations" in page.output and "Aïcha" in page.output


def test_forget_dry_run_changes_nothing_then_forget_and_its_status(hub: Hub) -> None:
    cid = known_person(hub)
    dry = run(hub, "forget", "--candidate", PHONE, "--dry-run")
    assert dry.exit_code == 0 and "Rien n'a été changé" in dry.output and "mute" in dry.output
    assert hub.store.list_erasures() == []
    refused = run(hub, "forget", "--candidate", cid, input="n\n")
    assert refused.exit_code == 1 and hub.store.list_erasures() == []
    done = run(hub, "forget", "--candidate", cid, "--yes")
    assert done.exit_code == 0 and "hub forget --status --branch lyon" in done.output
    assert EMAIL not in done.output
    hub.cycle()
    status = run(hub, "forget", "--status")
    assert status.exit_code == 0
    assert "À FAIRE À LA MAIN" in status.output and "terminé" in status.output
    again = run(hub, "forget", "--candidate", EMAIL)
    assert again.exit_code != 0 and "effacée" in again.output


def test_lift_lets_a_re_poll_import_the_person_again(hub: Hub, clock: FakeClock,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    old = erased_a_month_later(hub, clock)
    person = make_candidate(ref="row-7", first_name="Aïcha", last_name=LAST, email=EMAIL, phone=PHONE)
    old_row = make_event("candidate_registered", candidate=person, source_id="row-7-reread", occurred_at=T0)
    assert hub.ingest(BRANCH, "sink", [old_row]) == []
    dry = run(hub, "forget", "--lift", "--candidate", EMAIL, "--dry-run")
    assert dry.exit_code == 0 and "2 marques" in dry.output and "Rien n'a été changé" in dry.output, dry.output
    assert hub.eraser.tombstones.covers(BRANCH, Candidate(email=EMAIL))
    refused = run(hub, "forget", "--lift", "--candidate", EMAIL, input="n\n")
    assert refused.exit_code == 1 and hub.eraser.tombstones.covers(BRANCH, Candidate(email=EMAIL))
    with caplog.at_level("INFO", logger="hub.privacy"):
        lifted = run(hub, "forget", "--lift", "--candidate", EMAIL.upper(), "--yes")
    assert lifted.exit_code == 0 and "2 marques d'effacement levées (antenne lyon)" in lifted.output, lifted.output
    assert EMAIL not in lifted.output.lower() and EMAIL not in caplog.text.lower()
    assert not hub.eraser.tombstones.covers(BRANCH, person)  # her phone's too: the same erasure
    stored = hub.ingest(BRANCH, "sink", [old_row])
    assert [e.kind.value for e in stored] == ["candidate_registered"]
    assert stored[0].candidate_id not in (None, old)


def test_lift_of_an_address_no_tombstone_matches_exits_1_with_a_command(hub: Hub, clock: FakeClock) -> None:
    erased_a_month_later(hub, clock)
    result = run(hub, "forget", "--lift", "--candidate", "nobody@example.org", "--branch", BRANCH, "--yes")
    assert result.exit_code == 1
    assert "rien à lever" in result.output and "hub forget --status --branch lyon" in result.output
    assert "nobody" not in result.output
    by_id = run(hub, "forget", "--lift", "--candidate", "cnd_123")
    assert by_id.exit_code == 2 and "e-mail address or phone number" in by_id.output
    assert hub.eraser.tombstones.covers(BRANCH, Candidate(email=EMAIL))  # hers untouched


def test_forget_status_fails_while_a_tool_could_not_erase(hub: Hub, plugins: dict[str, Any]) -> None:
    cid = known_person(hub)
    plugins["eraser"].fail = RuntimeError("boom")
    hub.eraser.forget(BRANCH, cid)
    for _ in range(6):  # unexpected errors: dead after max_attempts
        hub.cycle()
        hub.clock.advance(3600)  # type: ignore[attr-defined]
    status = run(hub, "forget", "--status")
    assert status.exit_code == 1
    assert "hub retry --branch lyon --plugin eraser" in status.output


def test_consent_is_recorded_with_its_date_and_source(hub: Hub, clock: FakeClock) -> None:
    person = make_candidate(first_name="Aïcha", email=EMAIL, consent=True)
    hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=person, source_id="r1")])
    cid = hub.store.find_candidate(BRANCH, email_key=EMAIL, phone_key=None)
    record = hub.store.get_entity("candidates", cid or "")
    assert record is not None and record["consent"] is True
    assert (record["consent_at"], record["consent_source"]) == (T0.isoformat().replace("+00:00", "Z"), "sink")
    clock.advance(86400)
    hub.ingest(BRANCH, "eraser", [make_event("candidate_registered", candidate=person, source_id="r2",
                                             occurred_at=hub.clock())])
    assert hub.store.get_entity("candidates", cid or "")["consent_at"] == record["consent_at"]  # type: ignore[index]
    withdrawn = make_candidate(first_name="Aïcha", email=EMAIL, consent=False)
    hub.ingest(BRANCH, "eraser", [make_event("candidate_registered", candidate=withdrawn, source_id="r3",
                                             occurred_at=hub.clock())])
    now = hub.store.get_entity("candidates", cid or "")
    assert now is not None and now["consent"] is False and now["consent_source"] == "eraser"
    assert now["consent_at"] != record["consent_at"]


def test_after_a_restore_plugins_are_told_to_look_up_before_creating(hub: Hub, clock: FakeClock) -> None:
    ctx = hub.context(BRANCH, "sink")
    assert ctx.reconciling is False
    hub.store.meta_put("restored_at", hub.clock().isoformat())
    assert ctx.for_delivery("k").reconciling is True
    clock.advance(8 * 86400)
    assert ctx.reconciling is False  # a week later the restored state has caught up


def test_secret_folders_are_private_all_the_way(hub: Hub) -> None:
    path = hub.context(BRANCH, "sink").secret_path("token")
    for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def test_a_plugin_s_state_tied_to_the_person_goes_once_the_erasure_is_finished(
        hub: Hub, plugins: dict[str, Any]) -> None:
    """Issue 16: state kept under `hub.person_key(cid, ...)` is still there for the plugin's own erasure, then
    deleted with the person's links; other keys, and other people's, stay."""
    cid = known_person(hub)
    other = make_candidate(first_name="Inès", email="ines@example.org", phone=None)
    hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=other, source_id="row-8")])
    other_id = hub.store.find_candidate(BRANCH, email_key="ines@example.org", phone_key=None)
    assert other_id is not None
    ctx = hub.context(BRANCH, "eraser")
    assert ctx.person_key(cid, "row") == f"person:{cid}:row"
    ctx.state_put(ctx.person_key(cid, "row"), 7)
    ctx.state_put(ctx.person_key(other_id, "row"), 8)
    ctx.state_put("cursor", "page-3")
    hub.eraser.forget(BRANCH, cid)
    assert ctx.state_get(ctx.person_key(cid, "row")) == 7  # until every tool has done its part
    assert hub.cycle().errors == []
    assert plugins["eraser"].rows == [7]
    (erasure,) = hub.store.list_erasures(BRANCH)
    assert erasure.finished_at is not None
    assert ctx.state_get(ctx.person_key(cid, "row")) is None
    assert ctx.state_get(ctx.person_key(other_id, "row")) == 8 and ctx.state_get("cursor") == "page-3"
