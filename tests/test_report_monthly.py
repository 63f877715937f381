"""The monthly report mail (issue 15, point 4): on the 1st at 08:00 (the branch's zone), each branch with
[report] recipients gets last month's report, raw, through its own mail channel, and the network's recipients the
network's, publishable; once per month and address, across daily checks, restarts and crashes; `hub report`
says when the next one goes.

The script: Lyon (recipients: its director) registers 6 people in January 2027, Paris (no recipients) 2; the
network's recipient is the network's coordinator. Paris's 2 are a small count: "< 5" in the network's report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hub.app import Hub
from hub.cli import cli
from hub.config.files import write_config
from hub.events import ATTACHMENTS_LIMIT, Event, EventKind, Message
from hub.messages.planner import MESSAGES
from hub.plugins import PluginRegistry
from hub.report import compute, publishable
from hub.report.html import render_html
from hub.testing import FakeClock, RecordingChannel, RecordingSink, make_candidate, make_event

LYON_STAFF = "direction.lyon@cravate.org"
NETWORK_STAFF = "coordination@cravate.org"
JANUARY = date(2027, 1, 1)


def paris_time(month: int, day: int, hour: int, minute: int = 0, year: int = 2027) -> datetime:
    """A moment given in Paris time (UTC+1 in winter), as the hub's UTC clock holds it."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=1)


def branches(lyon: dict[str, Any] | None = None, paris: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    return {"lyon": {"name": "La Cravate Solidaire Lyon", "plugins": ["carnet", "mail"],
                     "schedule": {"reminders": [], "followups": []},
                     "report": {"recipients": [LYON_STAFF]}, **(lyon or {})},
            "paris": {"name": "La Cravate Solidaire Paris", "plugins": ["carnet", "mail"],
                      "schedule": {"reminders": [], "followups": []}, **(paris or {})}}


NETWORK = {"report": {"network_recipients": [NETWORK_STAFF]}}


@pytest.fixture
def carnet(register_plugin: Callable[[str, object], object]) -> RecordingSink:
    sink = RecordingSink()
    register_plugin("carnet", sink)
    return sink


@pytest.fixture
def hub(make_hub: Callable[..., Hub], channel: RecordingChannel, carnet: RecordingSink, clock: FakeClock) -> Hub:
    clock.now = paris_time(1, 10, 10)
    made = make_hub(branches(), hub=NETWORK)
    register(made, "lyon", 6)
    register(made, "paris", 2)
    made.cycle()
    return made


def register(hub: Hub, branch: str, count: int) -> None:
    for n in range(count):
        person = make_candidate(first_name=f"P{n}", last_name=branch, phone=None,
                                email=f"p{n}.{branch}@example.org")
        hub.ingest(branch, "carnet", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=person,
                                                 occurred_at=hub.clock(), source_id=f"form:{branch}:{n}")])


def reports(channel: RecordingChannel) -> list[Message]:
    return [m for m in channel.sent() if m.purpose == "monthly_report"]


def planned(hub: Hub) -> list[Event]:
    rows = [r for r in hub.store.list_events(limit=10_000) if r.kind == EventKind.MESSAGE_DUE.value]
    events = [Event.model_validate_json(r.body) for r in rows]
    return [e for e in events if e.message is not None and e.message.purpose == "monthly_report"]


def report_cli(hub: Hub, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(hub.config.root), "report", *args], catch_exceptions=False,
                              obj={"registry": hub.registry, "hub": hub})


def test_crossing_the_first_sends_each_report_once_with_last_month_attached(hub: Hub, channel: RecordingChannel,
                                                                           clock: FakeClock) -> None:
    clock.now = paris_time(2, 1, 7, 59)  # Monday 1 February 2027, a minute before the hour
    hub.cycle()
    assert reports(channel) == [] and planned(hub) == []
    clock.now = paris_time(2, 1, 8)
    assert hub.cycle().errors == []
    by_address = {m.to: m for m in reports(channel)}
    assert sorted(by_address) == [NETWORK_STAFF, LYON_STAFF]  # Paris has no recipients: nothing for it
    lyon, network = by_address[LYON_STAFF], by_address[NETWORK_STAFF]

    # Lyon's own report, raw, the page of January attached, the key figures in the text
    (page,) = lyon.attachments
    assert page.filename == "rapport-lyon-2027-01-01-2027-01-31-interne.html" and page.content_type == "text/html"
    expected = compute(hub.store, hub.config, JANUARY, date(2027, 2, 1), "lyon", now=clock.now)
    assert page.data.decode() == render_html(expected, made=date(2027, 2, 1))
    assert "La Cravate Solidaire Lyon" in page.data.decode()
    assert lyon.subject == "[cravate-hub] La Cravate Solidaire Lyon : les chiffres clés de janvier 2027"
    assert "- Personnes inscrites : 6" in lyon.text and "réservés à l'équipe" in lyon.text
    assert lyon.recipient == "staff" and lyon.candidate_id is None
    assert "rapport-lyon-2027-01-01-2027-01-31-interne.html" in lyon.text

    # the network's, publishable: every branch, Paris's 2 shown "< 5"
    (shared,) = network.attachments
    assert shared.filename == "rapport-reseau-2027-01-01-2027-01-31.html"
    whole = publishable(compute(hub.store, hub.config, JANUARY, date(2027, 2, 1), now=clock.now))
    assert whole.scope("paris").figure("registered").cell.text == "< 5"
    assert shared.data.decode() == render_html(whole, made=date(2027, 2, 1))
    assert "&lt; 5" in shared.data.decode() and "La Cravate Solidaire Paris" in shared.data.decode()
    assert "- Personnes inscrites : 8" in network.text and "masqués" in network.text
    assert network.subject == "[cravate-hub] Réseau : les chiffres clés de janvier 2027"

    # the next daily checks of the month send nothing more
    for _ in range(3):
        clock.advance(days=1)
        hub.cycle()
    assert len(reports(channel)) == 2 and len(planned(hub)) == 2


def test_a_restart_sends_nothing_more(hub: Hub, channel: RecordingChannel, clock: FakeClock) -> None:
    clock.now = paris_time(2, 1, 9)
    hub.cycle()
    assert len(reports(channel)) == 2
    config, registry = hub.config, hub.registry
    hub.close()
    again = Hub(config, registry, clock=clock)  # the same state: the new process knows nothing in memory
    try:
        again.cycle()
        clock.advance(hours=3)
        again.cycle()
        assert len(reports(channel)) == 2
        assert len([r for r in again.store.list_events(limit=10_000) if r.source == MESSAGES
                    and "monthly_report" in r.source_id]) == 2
    finally:
        again.close()


def test_a_crash_between_two_addresses_plans_only_the_missing_one(make_hub: Callable[..., Hub],
                                                                  channel: RecordingChannel, carnet: RecordingSink,
                                                                  clock: FakeClock,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    clock.now = paris_time(1, 20, 10)
    second = "accueil.lyon@cravate.org"
    hub = make_hub(branches(lyon={"report": {"recipients": [LYON_STAFF, second]}}))
    register(hub, "lyon", 1)
    real = hub.planner.staff_report
    calls: list[str] = []

    def dies_on_the_second(branch: str, address: str, *args: Any) -> bool:
        calls.append(address)
        if address == second and calls.count(second) == 1:
            raise RuntimeError("the process stops here")
        return real(branch, address, *args)
    monkeypatch.setattr(hub.planner, "staff_report", dies_on_the_second)
    clock.now = paris_time(2, 1, 8)
    hub.cycle()  # the failure is logged; the first address is planned
    assert [e.message.to for e in planned(hub) if e.message] == [LYON_STAFF]
    clock.advance(hours=1)
    hub.cycle()
    assert sorted(e.message.to for e in planned(hub) if e.message) == [second, LYON_STAFF]
    assert sorted(m.to for m in reports(channel)) == [second, LYON_STAFF]


def test_a_branch_without_recipients_sends_nothing_and_hub_report_says_so(hub: Hub, channel: RecordingChannel,
                                                                         clock: FakeClock, tmp_path: Path) -> None:
    clock.now = paris_time(2, 1, 8)
    hub.cycle()
    assert "paris" not in {e.branch for e in planned(hub)}
    result = report_cli(hub, "--output", str(tmp_path / "fevrier.json"))
    assert result.exit_code == 0, result.output
    assert "Aucun envoi automatique (paris) : ajoutez [report] recipients au fichier de l'antenne" in result.output
    assert "Prochain envoi automatique : lundi 1 mars 2027 à 08:00 à 1 adresse (lyon)" in result.output
    assert "Prochain envoi automatique : lundi 1 mars 2027 à 08:00 à 1 adresse (réseau)" in result.output
    data = json.loads(report_cli(hub).output)
    nexts = {n["scope"]: n for n in data["next_sends"]}
    assert nexts["paris"]["at"] is None and nexts["lyon"]["recipients"] == 1
    assert nexts["lyon"]["at"] == "2027-03-01T08:00:00+01:00"


def test_the_next_send_is_right_across_months_and_years(make_hub: Callable[..., Hub], channel: RecordingChannel,
                                                        carnet: RecordingSink, clock: FakeClock,
                                                        tmp_path: Path) -> None:
    clock.now = paris_time(12, 31, 23, 30, year=2026)
    hub = make_hub(branches(lyon={"report": {"recipients": [LYON_STAFF, "accueil.lyon@cravate.org"]}}), hub=NETWORK)

    def lines() -> str:
        result = report_cli(hub, "--output", str(tmp_path / "r.json"))
        assert result.exit_code == 0, result.output
        return str(result.output)
    assert "Prochain envoi automatique : vendredi 1 janvier 2027 à 08:00 à 2 adresses (lyon)" in lines()
    clock.now = paris_time(1, 1, 7, 30)
    hub.cycle()
    assert reports(channel) == []
    assert "Prochain envoi automatique : vendredi 1 janvier 2027 à 08:00 à 2 adresses (lyon)" in lines()
    clock.now = paris_time(1, 1, 8, 5)
    hub.cycle()
    assert {m.attachments[0].filename for m in reports(channel)} == {"rapport-lyon-2026-12-01-2026-12-31-interne.html",
                                                                      "rapport-reseau-2026-12-01-2026-12-31.html"}
    assert "Prochain envoi automatique : lundi 1 février 2027 à 08:00 à 2 adresses (lyon)" in lines()
    clock.now = paris_time(1, 31, 23, 59)
    assert "Prochain envoi automatique : lundi 1 février 2027 à 08:00 à 1 adresse (réseau)" in lines()


def test_quiet_hours_and_the_day_and_time_settings(make_hub: Callable[..., Hub], channel: RecordingChannel,
                                                   carnet: RecordingSink, clock: FakeClock) -> None:
    clock.now = paris_time(2, 20, 12)
    hub = make_hub(branches(lyon={"messages": {"quiet_hours": "20:00-09:30"}}),
                   hub={"report": {"monthly_day": 3, "monthly_time": "07:00"}})
    clock.now = paris_time(3, 3, 9, 29)  # the 3rd at 07:00 falls in Lyon's quiet hours: it waits for 09:30
    hub.cycle()
    assert reports(channel) == []
    clock.now = paris_time(3, 3, 9, 30)
    hub.cycle()
    (mail,) = reports(channel)
    assert mail.attachments[0].filename == "rapport-lyon-2027-02-01-2027-02-28-interne.html"


def test_a_hub_stopped_over_the_moment_catches_up_within_the_week_only(make_hub: Callable[..., Hub],
                                                                     channel: RecordingChannel,
                                                                     carnet: RecordingSink, clock: FakeClock) -> None:
    clock.now = paris_time(1, 20, 12)
    hub = make_hub(branches())
    clock.now = paris_time(2, 5, 15)  # down from before the 1st to the 5th: February's mail goes now
    hub.cycle()
    assert [m.attachments[0].filename for m in reports(channel)] == ["rapport-lyon-2027-01-01-2027-01-31-interne.html"]
    clock.now = paris_time(4, 12, 15)  # down over the whole first week of April: March's is left to hub report
    hub.cycle()
    assert len(reports(channel)) == 1


def test_a_report_too_heavy_for_a_mail_is_skipped_with_the_reason(make_hub: Callable[..., Hub],
                                                                  channel: RecordingChannel, carnet: RecordingSink,
                                                                  clock: FakeClock,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    clock.now = paris_time(1, 20, 12)
    hub = make_hub(branches())
    monkeypatch.setattr("hub.report.html.render_html", lambda report, **kw: "x" * ATTACHMENTS_LIMIT)
    clock.now = paris_time(2, 1, 8)
    hub.cycle()
    assert reports(channel) == []
    (event,) = planned(hub)
    assert event.message is not None and event.message.attachments == ()  # not stored either
    (row,) = [d for d in hub.store.list_deliveries(limit=100) if d.event_id == event.id]
    assert row.state == "skipped" and "files under 3 MB" in (row.last_error or "")


def test_config_check_flags_recipients_no_channel_can_reach(tmp_path: Path, plugin_registry: PluginRegistry,
                                                            register_plugin: Callable[[str, object], object]) -> None:
    register_plugin("carnet", RecordingSink())
    register_plugin("mail", RecordingChannel())
    root = write_config(tmp_path / "config", {
        "lyon": {"plugins": ["carnet"], "report": {"recipients": [LYON_STAFF]}},
        "paris": {"plugins": ["carnet", "mail"]}},
        {"report": {"network_recipients": [NETWORK_STAFF], "network_channel_branch": "lyon"}})
    result = CliRunner().invoke(cli, ["--config", str(root), "config", "check", "--json"],
                                obj={"registry": plugin_registry})
    problems = {(p["key"], p["message"]) for p in json.loads(result.output)["problems"]}
    assert ("report.recipients", "the branch has no mail channel to send its monthly report") in problems
    assert ("report.network_channel_branch", "branch 'lyon' has no mail channel to send the network's report") \
        in problems
    assert result.exit_code == 1
    fixed = write_config(tmp_path / "fixed", {
        "lyon": {"plugins": ["carnet"]}, "paris": {"plugins": ["carnet", "mail"]}},
        {"report": {"network_recipients": [NETWORK_STAFF]}})  # the first branch with a channel sends it
    ok = CliRunner().invoke(cli, ["--config", str(fixed), "config", "check"], obj={"registry": plugin_registry})
    assert ok.exit_code == 0, ok.output


def test_messages_list_and_preview_know_the_purpose(hub: Hub) -> None:
    runner = CliRunner()
    obj = {"registry": hub.registry, "hub": hub}
    listing = runner.invoke(cli, ["--config", str(hub.config.root), "messages", "list", "--branch", "lyon"], obj=obj)
    assert listing.exit_code == 0 and "monthly_report" in listing.output
    preview = runner.invoke(cli, ["--config", str(hub.config.root), "messages", "preview", "--branch", "lyon",
                                  "--kind", "monthly_report"], obj=obj)
    assert preview.exit_code == 0, preview.output
    assert preview.output.startswith("Objet : [cravate-hub] La Cravate Solidaire Lyon : les chiffres clés de")


def test_the_mails_stay_in_the_log_a_year_at_most(hub: Hub, channel: RecordingChannel, clock: FakeClock) -> None:
    from hub.privacy import records

    clock.now = paris_time(2, 1, 8)
    hub.cycle()
    stored = [r for r in hub.store.list_events(limit=10_000) if "monthly_report" in r.source_id]
    assert len(stored) == 2
    page = next(m for m in reports(channel) if m.to == LYON_STAFF).attachments[0]
    lyon_row = next(r for r in stored if r.branch == "lyon" and "lyon:2027-01" in r.source_id)
    assert len(lyon_row.body) < page.size * 4 / 3 + 20_000  # the page once, base64, and the mail's text
    clock.now = paris_time(2, 2, 8, year=2028)  # a year and a day later: [records] operational has passed
    assert records.purge(hub, clock.now)["staff_alerts"] >= 2
    assert [r for r in hub.store.list_events(limit=10_000) if "monthly_report" in r.source_id] == []
