"""Messages per medium (issue 16): a branch naming an SMS channel (`channels = { sms = "..." }`) sends the
purposes `[messages] sms` lists by SMS as well as by mail, each its own message (the e-mail's id unchanged),
written from `<purpose>.sms.j2` to the person's phone in E.164, short, with the STOP mention; the policy's quiet
hours hold for SMS, the daily ceiling counts per medium, an SMS opt-out stops SMS only."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hub.app import Hub
from hub.cli import cli
from hub.config import load_config
from hub.config.files import write_config
from hub.errors import ConfigError
from hub.events import Candidate, Event, EventKind, Message
from hub.messages.planner import message_id
from hub.messages.render import Renderer, sample_facts
from hub.plugins import PluginRegistry
from hub.testing import FakeClock, RecordingChannel, make_candidate, make_event, make_session

BRANCH = "lyon"
PHONE = "+33612345678"
ADDRESS = "12 rue de la Charité, Lyon 2e"
MESSAGES: dict[str, Any] = {"address": ADDRESS, "phone": "04 78 00 00 00", "quiet_hours": "21:00-08:00"}


@pytest.fixture
def channels(register_plugin: Callable[[str, object], object]) -> tuple[RecordingChannel, RecordingChannel]:
    """A recording mail channel ('mail') and a recording SMS gateway ('sms')."""
    mail, sms = RecordingChannel(), RecordingChannel()
    register_plugin("mail", mail)
    register_plugin("sms", sms)
    return mail, sms


def sms_branch(**messages: Any) -> dict[str, Any]:
    return {"name": "La Cravate Solidaire Lyon", "plugins": ["mail", "sms"],
            "channels": {"email": "mail", "sms": "sms"}, "schedule": {"reminders": ["48h"], "followups": []},
            "messages": {**MESSAGES, **messages}}


@pytest.fixture
def hub(make_hub: Callable[..., Hub], channels: tuple[RecordingChannel, RecordingChannel]) -> Hub:
    return make_hub({BRANCH: sms_branch()})


def book(hub: Hub, start: datetime, branch: str = BRANCH, **person: Any) -> Event:
    person.setdefault("phone", "06 12 34 56 78")
    events = hub.ingest(branch, "feed", [make_event(EventKind.SESSION_BOOKED, occurred_at=hub.clock(),
                                                    candidate=make_candidate(**person),
                                                    session=make_session(start=start))])
    return events[-1]


def sid(event: Event) -> str:
    assert event.session is not None and event.session.id
    return event.session.id


def by_purpose(channel: RecordingChannel, purpose: str) -> list[Message]:
    return [m for m in channel.sent() if m.purpose == purpose]


def skipped(hub: Hub) -> dict[str, str]:
    return {r.event_id: r.last_error or "" for r in hub.store.list_deliveries(states=("skipped",))}


def test_a_booking_sends_one_mail_and_one_short_sms_to_the_e164_phone(
        hub: Hub, channels: tuple[RecordingChannel, RecordingChannel]) -> None:
    mail, sms = channels
    book(hub, datetime(2026, 3, 9, 13, 0, tzinfo=UTC))  # Monday 9 March, 14:00 in Lyon
    hub.cycle()
    [email] = by_purpose(mail, "booking_confirmed")
    [text] = by_purpose(sms, "booking_confirmed")
    assert email.medium == "email" and "@" in email.to and email.subject
    assert text.medium == "sms" and text.to == PHONE and text.subject == "" and text.html is None
    assert text.text == ("La Cravate Solidaire Lyon : votre RDV est confirmé le lundi 9 mars à 14h, "
                         f"{ADDRESS}. Répondez STOP pour ne plus recevoir de SMS.")
    assert len(text.text) < 160 and "STOP" in text.text
    assert text.headers == {} and "desinscription" not in text.text
    assert {m.medium for m in mail.sent()} == {"email"} and [m.medium for m in sms.sent()] == ["sms"]


def test_a_reminder_goes_by_mail_and_by_sms(hub: Hub, channels: tuple[RecordingChannel, RecordingChannel],
                                           clock: FakeClock) -> None:
    mail, sms = channels
    start = datetime(2026, 3, 12, 13, 30, tzinfo=UTC)  # Thursday 12 March, 14:30 in Lyon
    book(hub, start)
    hub.cycle()
    clock.now = start - timedelta(hours=47)  # the 48 h reminder is due
    hub.cycle()
    hub.cycle()
    assert len(by_purpose(mail, "reminder")) == 1
    [text] = by_purpose(sms, "reminder")
    assert text.to == PHONE and text.subject == "" and "STOP" in text.text and len(text.text) < 160
    assert text.text.startswith("La Cravate Solidaire Lyon : rappel, votre RDV est le jeudi 12 mars à 14h30, ")


def test_a_registration_goes_by_mail_only(hub: Hub, channels: tuple[RecordingChannel, RecordingChannel]) -> None:
    mail, sms = channels
    hub.ingest(BRANCH, "feed", [make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=hub.clock(),
                                           candidate=make_candidate())])
    hub.cycle()
    assert [m.purpose for m in mail.sent()] == ["registration_received"] and sms.sent() == []
    assert not [e for e in hub.store.list_events(branch=BRANCH, kind="message_due") if e.source_id.endswith(":sms")]
    book(hub, datetime(2026, 3, 9, 13, 0, tzinfo=UTC))  # a purpose of the sms list does go by SMS
    hub.cycle()
    assert [m.purpose for m in sms.sent()] == ["booking_confirmed"]


def test_no_phone_no_sms_skipped_with_the_reason_but_the_mail_goes(
        hub: Hub, channels: tuple[RecordingChannel, RecordingChannel]) -> None:
    mail, sms = channels
    booked = book(hub, datetime(2026, 3, 9, 13, 0, tzinfo=UTC), phone=None)
    hub.cycle()
    assert len(by_purpose(mail, "booking_confirmed")) == 1 and sms.sent() == []
    sms_id = message_id(BRANCH, f"{sid(booked)}:booking_confirmed:sms")
    assert skipped(hub)[sms_id].endswith("no mobile number")


def test_an_sms_opt_out_stops_sms_only(hub: Hub, channels: tuple[RecordingChannel, RecordingChannel],
                                      clock: FakeClock) -> None:
    mail, sms = channels
    start = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)
    booked = book(hub, start)
    hub.cycle()
    assert len(by_purpose(sms, "booking_confirmed")) == 1
    hub.context(BRANCH, "sms").record_contact_preference(str(booked.candidate_id), "sms", opted_out=True,
                                                          via="sms STOP")
    clock.now = start - timedelta(hours=47)
    hub.cycle()
    hub.cycle()
    assert len(by_purpose(mail, "reminder")) == 1 and by_purpose(sms, "reminder") == []
    sms_id = message_id(BRANCH, f"{sid(booked)}:48h:reminder:sms")
    assert "opt-out" in skipped(hub)[sms_id]


def test_without_an_sms_channel_a_branch_plans_what_it_did_before(
        make_hub: Callable[..., Hub], channels: tuple[RecordingChannel, RecordingChannel]) -> None:
    _, sms = channels
    hub = make_hub({BRANCH: sms_branch(), "paris": {"plugins": ["mail"], "messages": MESSAGES}})
    start = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    in_lyon, in_paris = book(hub, start), book(hub, start, branch="paris", phone="06 98 76 54 32")
    hub.cycle()
    planned = {b: sorted(e.id for e in hub.store.list_events(branch=b, kind="message_due")
                         if ":booking_confirmed" in e.source_id) for b in (BRANCH, "paris")}
    assert planned["paris"] == [message_id("paris", f"{sid(in_paris)}:booking_confirmed")]
    assert planned[BRANCH] == sorted([message_id(BRANCH, f"{sid(in_lyon)}:booking_confirmed"),
                                      message_id(BRANCH, f"{sid(in_lyon)}:booking_confirmed:sms")])
    assert [m.to for m in sms.sent()] == [PHONE]


def test_a_branch_override_of_an_sms_template_is_used(
        hub: Hub, channels: tuple[RecordingChannel, RecordingChannel]) -> None:
    _, sms = channels
    folder = hub.config.root / "branches" / BRANCH / "templates"
    folder.mkdir(parents=True)
    (folder / "booking_confirmed.sms.j2").write_text(
        "{{ prenom }}, RDV le {{ date_courte }} à {{ heure_courte }} chez {{ antenne }}. STOP au 36180\n",
        encoding="utf-8")
    hub.planner._renderers.clear()  # the override was written after the hub started
    book(hub, datetime(2026, 3, 9, 13, 0, tzinfo=UTC))
    hub.cycle()
    [text] = sms.sent()
    assert text.text == "Aïcha, RDV le lundi 9 mars à 14h chez La Cravate Solidaire Lyon. STOP au 36180"


def test_quiet_hours_hold_for_sms_and_the_daily_ceiling_counts_per_medium(
        make_hub: Callable[..., Hub], channels: tuple[RecordingChannel, RecordingChannel],
        clock: FakeClock) -> None:
    mail, sms = channels
    hub = make_hub({BRANCH: sms_branch(per_person_daily=1)})
    clock.now = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)  # 22:30 in Lyon
    book(hub, datetime(2026, 3, 9, 13, 0, tzinfo=UTC))
    hub.cycle()
    assert sms.sent() == [] and mail.sent() == []
    clock.now = datetime(2026, 3, 3, 7, 5, tzinfo=UTC)  # 08:05 in Lyon
    hub.cycle()
    hub.cycle()
    assert len(mail.sent()) == 1 and len(sms.sent()) == 1  # one a day each, not one a day in all


def test_config_check_reads_sms_templates_and_the_sms_list(tmp_path: Path) -> None:
    root = write_config(tmp_path / "config", {BRANCH: {"plugins": [], "messages": {"sms": ["referrer_outcome"]}}})
    folder = root / "branches" / BRANCH / "templates"
    folder.mkdir(parents=True)
    (folder / "reminder.sms.j2").write_text("Rappel {{ heur }}\n", encoding="utf-8")
    (folder / "rappel.sms.j2").write_text("Rappel\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(root, {})
    assert {p.key for p in caught.value.problems} == {"messages.sms[0]", ""}
    files = sorted(Path(p.file).name for p in caught.value.problems if not p.key)
    assert files == ["rappel.sms.j2"]  # reminder is not in this branch's sms list: not rendered
    (folder / "rappel.sms.j2").unlink()
    root = write_config(tmp_path / "config", {BRANCH: {"plugins": []}})
    with pytest.raises(ConfigError) as caught:
        load_config(root, {})
    [problem] = caught.value.problems
    assert problem.file.endswith("templates/reminder.sms.j2") and "'heur' is undefined" in problem.message


def test_preview_shows_the_sms(tmp_path: Path) -> None:
    root = write_config(tmp_path / "config", {BRANCH: {"name": "La Cravate Solidaire Lyon", "plugins": [],
                                                       "messages": MESSAGES}})
    result = CliRunner().invoke(cli, ["--config", str(root), "messages", "preview", "--branch", BRANCH,
                                      "--kind", "booking_confirmed", "--medium", "sms"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("La Cravate Solidaire Lyon : votre RDV est confirmé le ")
    assert "Objet" not in result.output and "STOP" in result.output and "caractères" in result.output


def test_an_sms_is_not_stopped_by_a_bounced_mail(hub: Hub,
                                                 channels: tuple[RecordingChannel, RecordingChannel]) -> None:
    mail, sms = channels
    booked = book(hub, datetime(2026, 3, 9, 13, 0, tzinfo=UTC))
    [confirmation] = [e for e in hub.store.list_events(branch=BRANCH, kind="message_due")
                      if e.source_id.endswith(":booking_confirmed")]
    hub.ingest(BRANCH, "mail", [make_event(EventKind.MESSAGE_BOUNCED, occurred_at=hub.clock(),
                                           candidate=Candidate(id=booked.candidate_id),
                                           bounce={"message_id": confirmation.id, "permanent": True,
                                                   "medium": "email"})])
    hub.cycle()
    assert mail.sent() == [] and len(sms.sent()) == 1


def test_a_reschedule_sends_one_moved_sms_not_a_cancellation(
        hub: Hub, channels: tuple[RecordingChannel, RecordingChannel]) -> None:
    mail, sms = channels
    first = book(hub, datetime(2026, 3, 10, 13, 0, tzinfo=UTC))
    hub.cycle()
    moved = make_session(start=datetime(2026, 3, 12, 9, 0, tzinfo=UTC), replaces=sid(first))
    hub.ingest(BRANCH, "feed", [make_event(EventKind.SESSION_BOOKED, occurred_at=hub.clock(),
                                           candidate=Candidate(id=first.candidate_id), session=moved)])
    hub.cycle()
    assert [m.purpose for m in sms.sent()] == ["booking_confirmed", "session_moved"]
    assert sms.sent()[-1].text.startswith("La Cravate Solidaire Lyon : votre RDV est déplacé au jeudi 12 mars à 10h")
    assert [m.purpose for m in mail.sent()][-1] == "session_moved"


@pytest.mark.parametrize("purpose", ["booking_confirmed", "reminder", "session_moved", "session_cancelled"])
def test_every_default_sms_is_short_french_and_says_stop_for_every_example_branch(tmp_path: Path,
                                                                                  purpose: str) -> None:
    root = tmp_path / "config"
    shutil.copytree(Path(__file__).resolve().parents[1] / "config" / "examples", root)
    config = load_config(root, PluginRegistry.discover().settings_models(), strict=False,
                         environ={"CALENDLY_TOKEN_BORDEAUX": "x", "CALENDLY_TOKEN_LYON": "x"})
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    for branch_id, branch in config.branches.items():
        assert purpose in branch.messages.sms
        rendered = Renderer(config.root, branch_id).render(
            purpose, sample_facts(branch, config.zone(branch_id), now, purpose), "sms")
        assert rendered.subject == "" and rendered.html is None and "\n" not in rendered.text
        assert rendered.text.startswith(branch.name + " : ") and "RDV" in rendered.text
        assert rendered.text.endswith("Répondez STOP pour ne plus recevoir de SMS.") and len(rendered.text) < 160
        assert "None" not in rendered.text and "{{" not in rendered.text
