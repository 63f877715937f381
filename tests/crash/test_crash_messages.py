"""Crash test for messages: 300 welcome mails through the Gmail channel and its fake, the daemon killed with
SIGKILL at 10 random moments between planning and commit. Afterwards the fake's Sent folder holds exactly one
mail per message: none lost, none twice (the channel creates a draft and records it before sending, so a
re-delivery after a kill finds what it did). The kill moments come from a seeded generator."""

from __future__ import annotations

import os
import random
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from hub.sandbox import serve
from hub.testing import write_config
from hub_gmail.mime import delivery_key_of
from hub_gmail.sandbox import GmailSandbox
from tests.crash.harness import ROOT, kill_repeatedly, messages_done, run_until, write_feed

PEOPLE, KILLS, SEED = 300, 10, 20261202
TOKEN, MAILBOX = "ya29.crash-test", "crash@cravate.example.org"



def sent_keys(sandbox: GmailSandbox) -> Counter[str]:
    return Counter(str(delivery_key_of(str(mail["Message-ID"]))) for mail in sandbox.sent(MAILBOX))




@pytest.mark.slow
def test_each_message_is_sent_exactly_once_across_ten_sigkills(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    write_feed(feed, PEOPLE)
    # keep our Message-ID (the test reads the key back from it); no per-minute quota here, which would make the
    # test last minutes (test_gmail_quota.py covers it)
    sandbox = GmailSandbox(rewrite_message_id=False, units_per_minute=None)
    sandbox.add_mailbox(MAILBOX, TOKEN, branch="crash")
    with serve({"gmail": sandbox}) as urls:
        write_config(tmp_path / "config", {"crash": {
            "plugins": ["feed", "gmail"], "schedule": {"followups": [], "reminders": []},
            "messages": {"quiet_hours": "00:00-00:00", "daily_cap": 10_000, "per_person_daily": 10,
                         "referrer_notes": False},
            "gmail": {"auth": "static_token", "api_endpoint": urls["gmail"], "sender": MAILBOX,
                      "bounce_interval": 3600}}}, {"delivery": {"batch_size": 20}})
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update({"HUB_PLUGINS": "", "HUB_LOAD_PLUGINS": "feed=tests.crash.plugins:feed,gmail=hub_gmail.plugin",
                    "HUB_CONFIG": str(tmp_path / "config"), "CRASH_FEED": str(feed),
                    "HUB_CRASH_GMAIL_ACCESS_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)})
        interrupted = kill_repeatedly(env, KILLS, random.Random(SEED),
                                      lambda: sum(sent_keys(sandbox).values()) < PEOPLE, 0.5, 1.5)
        assert interrupted >= KILLS // 2, "the kills should land while mails are being sent"
        run_until(env, lambda: messages_done(tmp_path) >= PEOPLE, tmp_path / "daemon.log")
        counts = sent_keys(sandbox)
        drafts_left = len(sandbox.drafts(MAILBOX))

    hub_db = sqlite3.connect(tmp_path / "config" / "var" / "hub.db")
    keys = {row[0] for row in hub_db.execute("SELECT key FROM deliveries WHERE kind='message_due'"
                                             " AND state != 'skipped'")}  # referrer notes are turned off
    states = dict(hub_db.execute("SELECT state, COUNT(*) FROM deliveries WHERE kind='message_due'"
                                 " AND state != 'skipped' GROUP BY state"))
    assert len(keys) == PEOPLE and states == {"done": PEOPLE}  # one message per person, every one delivered
    assert set(counts) == keys, "every message is in Sent"
    assert [key for key, n in counts.items() if n > 1] == [], "no message sent twice"
    assert drafts_left == 0
    log = (tmp_path / "daemon.log").read_text(encoding="utf-8")
    assert "@example.org" not in log, "the daemon's log holds no one's address"  # person<i>@example.org
    print(f"message crash test: {KILLS} kills ({interrupted} mid-send), {sum(counts.values())} mails for {PEOPLE}")
