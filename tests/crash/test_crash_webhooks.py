"""Group commit must not weaken the promise of the receiver: a webhook answered 2xx is stored, even when the
daemon is SIGKILLed while 16 clients keep sending (and batches are being committed together)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from hub.config.files import write_config
from hub.serving import free_port
from tests.crash.harness import ROOT

KEY = "crash-signing-key-not-a-secret"
CLIENTS = 16


def _delivery(n: int) -> tuple[str, bytes]:
    event_uri = f"https://api.calendly.com/scheduled_events/EV{n:06d}"
    invitee = f"{event_uri}/invitees/IN{n:06d}"
    start = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() + 86400 * 5))
    end = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() + 86400 * 5 + 3600))
    body = {"event": "invitee.created", "created_at": "2026-12-02T10:00:00.000000Z", "payload": {
        "uri": invitee, "email": f"crash{n}@example.org", "first_name": "Camille", "last_name": "Crash",
        "name": "Camille Crash", "status": "active", "event": event_uri, "questions_and_answers": [],
        "created_at": "2026-12-02T10:00:00.000000Z", "updated_at": "2026-12-02T10:00:00.000000Z",
        "tracking": {}, "rescheduled": False,
        "scheduled_event": {"uri": event_uri, "name": "Atelier", "status": "active", "start_time": start,
                            "end_time": end, "event_type": "https://api.calendly.com/event_types/ET1"}}}
    return invitee, json.dumps(body).encode()


def _send(port: int, numbers: list[int], acked: list[str], stop: threading.Event) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for n in numbers:
        if stop.is_set():
            return
        invitee, body = _delivery(n)
        t = str(int(time.time()))
        signature = hmac.new(KEY.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        try:
            headers = {"Content-Type": "application/json", "Calendly-Webhook-Signature": f"t={t},v1={signature}"}
            conn.request("POST", "/webhooks/paris/calendly", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            return  # the daemon died under us: this one was never acknowledged
        if 200 <= response.status < 300:
            acked.append(invitee)


def _stored(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {str(r[0]) for r in conn.execute(
            "SELECT external_id FROM links WHERE entity='session' AND tool='calendly'")}
    finally:
        conn.close()


def _wait_listening(port: int, daemon: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and daemon.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the receiver did not start")


def test_every_acknowledged_webhook_is_stored_across_sigkills_under_load(tmp_path: Path) -> None:
    port = free_port()
    write_config(tmp_path, {"paris": {
        "plugins": ["calendly"], "programmes": {"atelier": {"label": "Atelier"}},
        "calendly": {"token": {"env": "CRASH_TOKEN"}, "api_url": "http://127.0.0.1:9", "poll_interval": "1h",
                     "webhook_signing_key": {"env": "CRASH_KEY"}, "no_show_interval": "1h",
                     "subscription_check_interval": "1h"}}},
        {"webhooks": {"listen": f"127.0.0.1:{port}"}})
    env = {**os.environ, "HUB_CONFIG": str(tmp_path), "CRASH_TOKEN": "x", "CRASH_KEY": KEY}
    rng = random.Random(12)
    acked: list[str] = []
    next_number = 0
    for _ in range(4):
        daemon = subprocess.Popen([sys.executable, "-m", "hub", "run"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_listening(port, daemon)
        stop = threading.Event()
        batch = list(range(next_number, next_number + 4000))
        next_number += 4000
        senders = [threading.Thread(target=_send, args=(port, batch[i::CLIENTS], acked, stop)) for i in range(CLIENTS)]
        for sender in senders:
            sender.start()
        time.sleep(rng.uniform(0.5, 1.5))  # picks the kill moment; nothing is asserted about timing
        daemon.kill()
        daemon.wait()
        stop.set()
        for sender in senders:
            sender.join(30)
    stored = _stored(tmp_path / "var" / "hub.db")
    lost = [uri for uri in acked if uri not in stored]
    print(f"\n{len(acked)} webhooks acknowledged across 4 SIGKILLs, {len(stored)} sessions stored, lost: {len(lost)}")
    assert acked, "no webhook was acknowledged before the kills"
    assert lost == []
