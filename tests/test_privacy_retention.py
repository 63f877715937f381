"""Retention: the people whose last contact is older than their branch's retention, and only them, are erased
by the daily purge of `hub run` (once a day, through the same path as `hub forget`), or by `hub retention`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from hub.app import Hub
from hub.cli import cli
from hub.testing import FakeClock, RecordingSink, make_candidate, make_event, make_session

DAY = 86400.0


@pytest.fixture
def hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object]) -> Hub:
    register_plugin("sink", RecordingSink())
    return make_hub({"lyon": {"plugins": ["sink"], "privacy": {"retention": "2 ans"},
                              "schedule": {"reminders": [], "followups": []}},
                     "paris": {"plugins": ["sink"], "privacy": {"retention": "30 jours", "purge": False},
                               "schedule": {"reminders": [], "followups": []}}})


def person(hub: Hub, branch: str, name: str, *, days_ago: float, session_in: float | None = None) -> str:
    when = hub.clock() - timedelta(days=days_ago)
    candidate = make_candidate(first_name=name, email=f"{name.lower()}@example.org", phone=None)
    events = [make_event("candidate_registered", candidate=candidate, source_id=f"{name}-r", occurred_at=when)]
    if session_in is not None:
        events.append(make_event("session_booked", candidate=candidate, source_id=f"{name}-s", occurred_at=when,
                                 session=make_session(hub.clock() + timedelta(days=session_in), ref=f"{name}-s")))
    hub.ingest(branch, "sink", events)
    cid = hub.store.find_candidate(branch, email_key=f"{name.lower()}@example.org", phone_key=None)
    assert cid is not None
    return cid


def test_exactly_the_people_past_the_limit_are_erased_by_the_daily_purge(hub: Hub, clock: FakeClock) -> None:
    old = person(hub, "lyon", "Ancienne", days_ago=1)
    recent = person(hub, "lyon", "Recente", days_ago=1)
    future = person(hub, "lyon", "Avenir", days_ago=1, session_in=800)  # her session is still ahead
    paris = person(hub, "paris", "Parisienne", days_ago=1)
    clock.advance(2 * 365 * DAY - 5 * DAY)
    hub.ingest("lyon", "sink", [make_event("outcome_recorded", candidate=make_candidate(
        email="recente@example.org", phone=None), source_id="recent-news", occurred_at=hub.clock())])
    clock.advance(10 * DAY)  # Ancienne: 2 years and 4 days without contact; Recente: news 10 days ago
    hub.cycle()
    erased = {e.candidate_id: e.reason for e in hub.store.list_erasures()}
    assert erased == {old: "retention"}
    assert hub.store.get_entity("candidates", old) == {"id": old}
    assert hub.store.erasure_of(recent) is None and hub.store.erasure_of(future) is None
    assert hub.store.erasure_of(paris) is None  # past Paris's 30 days, but Paris purges by hand only


def test_the_purge_runs_once_a_day(hub: Hub, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.privacy.retention as retention

    runs: list[str] = []
    real = retention.purge
    monkeypatch.setattr(retention, "purge", lambda h, b, now: runs.append(b) or real(h, b, now))
    hub.cycle()
    hub._retention_checked = 0.0  # the hourly look comes again
    hub.cycle()
    assert runs == ["lyon"]  # once today; paris has purge = false
    clock.advance(DAY)
    hub._retention_checked = 0.0
    hub.cycle()
    assert runs == ["lyon", "lyon"]


def run(hub: Hub, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, ["--config", str(hub.config.root), *args], input=input, catch_exceptions=False,
                              obj={"registry": hub.registry, "hub": hub})


def test_hub_retention_lists_then_erases_on_request(hub: Hub, clock: FakeClock) -> None:
    paris = person(hub, "paris", "Parisienne", days_ago=40)
    person(hub, "paris", "Nouvelle", days_ago=2)
    listed = run(hub, "retention", "--dry-run", "--json")
    assert [p["candidate"] for p in json.loads(listed.output)] == [paris]
    assert hub.store.list_erasures() == []
    text = run(hub, "retention", "--branch", "paris", "--dry-run")
    assert paris in text.output and "Rien n'a été effacé" in text.output and "parisienne" not in text.output
    done = run(hub, "retention", "--branch", "paris", "--yes")
    assert done.exit_code == 0
    assert [e.candidate_id for e in hub.store.list_erasures()] == [paris]
    assert "Personne n'a dépassé" in run(hub, "retention").output
