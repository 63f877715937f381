"""The daemon's lock, one cycle, clean stop on SIGTERM, and logs free of personal data."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hub.errors import AlreadyRunning
from hub.lock import DaemonLock
from hub.logs import JsonFormatter, redact
from hub.serving import free_port
from hub.testing import write_config


def test_a_second_daemon_on_the_same_database_refuses(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    with DaemonLock(db), pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
        DaemonLock(db).acquire()
    with DaemonLock(db):  # released: a new daemon may start
        pass


def test_redact_masks_contact_details_and_tokens() -> None:
    text = redact("mail aicha.benali+1@example.org tel +33 6 12 34 56 78 / 06.12.34.56.78 Bearer abc.def token=xyz")
    for secret in ("aicha", "12 34", "06.12", "abc.def", "xyz"):
        assert secret not in text
    assert redact("event evt_1a2b3c row 12 at 2026-03-02T09:00:00+00:00") == \
        "event evt_1a2b3c row 12 at 2026-03-02T09:00:00+00:00"


def test_json_logs_are_redacted_even_in_extras() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.warning("failed for %s", "jo@example.org", extra={"error": "to jo@example.org"})
    line = json.loads(stream.getvalue())
    assert "jo@example.org" not in stream.getvalue() and line["error"] == "to <email>"


def _daemon_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_PLUGINS": "", "HUB_CONFIG": str(tmp_path)})
    return env


def test_run_once_webhooks_and_second_daemon_refused(tmp_path: Path) -> None:
    port = free_port()
    write_config(tmp_path, {"b": {"plugins": []}}, {"webhooks": {"listen": f"127.0.0.1:{port}"}})
    env = _daemon_env(tmp_path)
    once = subprocess.run([sys.executable, "-m", "hub", "run", "--once"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert once.returncode == 0, once.stderr
    first = subprocess.Popen([sys.executable, "-m", "hub", "run"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        lock = tmp_path / "var" / "hub.lock"
        while not lock.exists() or lock.read_text() != str(first.pid):  # the first daemon holds the lock
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        health = None
        while health is None:  # the receiver runs inside the daemon
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert health == {"ok": True}
        second = subprocess.run([sys.executable, "-m", "hub", "run"], env=env, capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 1
        assert "already running" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=10) == 0  # stops cleanly on SIGTERM
    assert "daemon stopped" in (first.stderr.read() if first.stderr else "")


def test_a_full_cycle_logs_no_personal_data(two_branches, sinks, clock) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from hub.errors import PluginNotReady
    from hub.events import EventKind
    from hub.testing import make_candidate, make_event, make_session

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    people = [make_candidate(first_name=f"Prénom{i}", last_name=f"Nomfamille{i}", email=f"personne{i}@example.org",
                             phone=f"06 12 34 56 {i:02d}") for i in range(5)]
    sinks["beta"].fail["session_booked"] = PluginNotReady("503 for personne0@example.org")
    try:
        for person in people:
            two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.SESSION_BOOKED, candidate=person,
                                                                 session=make_session(clock() + timedelta(days=4)))])
        two_branches.cycle()
        clock.advance(days=3)
        two_branches.cycle()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    logs = stream.getvalue()
    assert "event stored" in logs and "delivery postponed" in logs  # we did log, at every step
    for person in people:
        for value in (person.first_name, person.last_name, person.email, person.phone):
            assert value not in logs
    stored_errors = " ".join(r.last_error or "" for r in two_branches.store.list_deliveries())
    assert "personne0@example.org" not in stored_errors and "<email>" in stored_errors
