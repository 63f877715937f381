"""Failures are loud: a pause or a dead letter is logged at error with its fix, and alerted once a day."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from hub.app import Hub
from hub.errors import PluginAuthFailed
from hub.incidents import Incidents
from hub.store import SqliteStore
from hub.testing import FakeClock, RecordingSink, make_event


@pytest.fixture
def sent() -> list[tuple[str, dict[str, str]]]:
    return []


def _incidents(tmp_path: Any, clock: FakeClock, sent: list[Any], targets: list[str]) -> Incidents:
    return Incidents(SqliteStore(tmp_path / "hub.db"), {"lyon": targets}, clock,
                     send=lambda url, body: sent.append((url, body)))


def test_a_pause_is_alerted_once_a_day_with_its_fix(tmp_path: Any, clock: FakeClock, sent: list[Any],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    incidents = _incidents(tmp_path, clock, sent, ["https://chat.example.org/hooks/x"])
    with caplog.at_level(logging.ERROR, logger="hub.incidents"):
        incidents.plugin_paused("lyon", "gsheets", PluginAuthFailed("refusé pour jo@example.org",
                                                                    fix="hub auth google --branch lyon"), clock())
    [(url, body)] = sent
    assert url == "https://chat.example.org/hooks/x"
    assert body["fix"] == "hub auth google --branch lyon, then hub retry --branch lyon --plugin gsheets"
    assert "gsheets est en pause" in body["text"] and "jo@example.org" not in body["text"]
    assert [r.getMessage() for r in caplog.records] == ["plugin paused: credentials refused"]
    assert caplog.records[0].fix == body["fix"]  # type: ignore[attr-defined]
    clock.advance(hours=2)
    incidents.plugin_paused("lyon", "gsheets", PluginAuthFailed("again"), clock())
    assert len(sent) == 1  # the same problem the same day: no second alert
    clock.advance(hours=23)
    incidents.plugin_paused("lyon", "gsheets", PluginAuthFailed("still"), clock())
    assert len(sent) == 2


def test_an_alert_that_cannot_be_sent_never_breaks_the_work(tmp_path: Any, clock: FakeClock,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    def down(url: str, body: dict[str, str]) -> None:
        raise ConnectionError("refused")
    incidents = Incidents(SqliteStore(tmp_path / "hub.db"), {"lyon": ["https://down.example.org", "staff@example.org"]},
                          clock, send=down)
    with caplog.at_level(logging.WARNING, logger="hub.incidents"):
        incidents.delivery_dead("lyon", "calendly", "evt_1", "RuntimeError: boom")
    messages = [r.getMessage() for r in caplog.records]
    assert "delivery dead" in messages and "alert not sent" in messages
    assert "alert not sent: e-mail alerts need a mail channel plugin (Gmail or Outlook)" in messages


def test_a_dead_letter_in_a_cycle_is_logged_at_error_and_alerted(
        make_hub: Callable[..., Hub], register_plugin: Any, sent: list[Any],
        caplog: pytest.LogCaptureFixture) -> None:
    sink = register_plugin("beta", RecordingSink())
    hub = make_hub({"lyon": {"plugins": ["beta"], "alerts": ["https://chat.example.org/hooks/x"]}},
                   hub={"delivery": {"max_attempts": 1}})
    hub.incidents._send = lambda url, body: sent.append((url, body))
    sink.fail["candidate_registered"] = RuntimeError("boom")
    hub.ingest("lyon", "beta", [make_event("candidate_registered")])
    with caplog.at_level(logging.INFO):
        report = hub.cycle()
    dead = [r for r in caplog.records if r.getMessage() == "delivery dead"]
    assert dead and dead[0].levelno == logging.ERROR
    assert "delivery postponed" not in [r.getMessage() for r in caplog.records]
    assert report.errors and "dead" in report.errors[0]
    [(_, body)] = sent
    assert body["problem"] == "dead" and "hub retry --branch lyon --plugin beta" in body["fix"]
