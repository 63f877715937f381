"""Limits wait (never dead), refused credentials pause Gmail for that branch only, nothing personal in logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from gmail_helpers import ADDRESSES, BRANCH, OTHER, deliver_directly, poll, poller, registered, write_token

from hub.app import Hub
from hub.errors import PluginAuthFailed, PluginNotReady
from hub.testing import FakeClock, make_message
from hub_gmail.client import RateLimited
from hub_gmail.sandbox import GmailSandbox


def test_429_waits_the_time_gmail_names_and_the_next_mail_waits_too(gmail_hub: Hub, sandbox: GmailSandbox,
                                                                    clock: FakeClock) -> None:
    deliver_directly(gmail_hub, make_message(), "warm-up")
    sandbox.fail_next(429, method="drafts.create")
    with pytest.raises(RateLimited) as caught:
        deliver_directly(gmail_hub, make_message(), "k1")
    assert caught.value.retry_after == 900  # "User-rate limit exceeded.  Retry after <now + 15 min>"
    before = len(sandbox.requests)
    with pytest.raises(PluginNotReady) as waiting:
        deliver_directly(gmail_hub, make_message(), "k2")
    assert len(sandbox.requests) == before and waiting.value.retry_after == 900  # no request: Gmail said wait
    clock.advance(901)
    deliver_directly(gmail_hub, make_message(), "k1")
    assert len(sandbox.sent(BRANCH)) == 2


def test_gmails_daily_limit_waits_until_the_24h_window_frees(gmail_hub: Hub, sandbox: GmailSandbox,
                                                             clock: FakeClock) -> None:
    deliver_directly(gmail_hub, make_message(), "first")  # at T0
    clock.advance(hours=5)
    sandbox.fail_next("daily", method="drafts.send")
    message = make_message()
    with pytest.raises(RateLimited) as caught:
        deliver_directly(gmail_hub, message, "later")
    assert caught.value.sending_limit
    assert caught.value.retry_after == pytest.approx(19 * 3600 + 300, abs=1)  # T0's send leaves the window
    assert "limite d'envoi" in str(caught.value) and "@" not in str(caught.value)
    clock.advance(hours=19, minutes=6)
    deliver_directly(gmail_hub, message, "later")  # its draft was kept: drafts.get + drafts.send
    assert len(sandbox.sent(BRANCH)) == 2 and sandbox.drafts(BRANCH) == []


def test_the_hubs_own_count_stops_before_the_limit_without_asking(make_gmail_hub: Callable[..., Hub],
                                                                  sandbox: GmailSandbox, clock: FakeClock) -> None:
    hub = make_gmail_hub(daily_limit=2)
    deliver_directly(hub, make_message(), "a")
    clock.advance(minutes=30)
    deliver_directly(hub, make_message(), "b")
    before = len(sandbox.requests)
    with pytest.raises(RateLimited) as caught:
        deliver_directly(hub, make_message(), "c")
    assert len(sandbox.requests) == before
    assert caught.value.retry_after == pytest.approx(24 * 3600 + 300 - 1800, abs=1)


def test_a_limit_keeps_the_delivery_waiting_never_dead(make_gmail_hub: Callable[..., Hub], sandbox: GmailSandbox,
                                                       clock: FakeClock) -> None:
    """Through the dispatcher: the second registration mail waits for the window, then leaves."""
    hub = make_gmail_hub(daily_limit=1)
    registered(hub, email="une@example.org")
    registered(hub, email="deux@example.org")
    hub.cycle()
    assert len(sandbox.sent(BRANCH)) == 1
    rows = [d for d in hub.store.list_deliveries(branch=BRANCH, limit=100) if d.state != "skipped"]  # referrers
    assert sorted(d.state for d in rows) == ["done", "retrying"]
    waiting = next(d for d in rows if d.state == "retrying")
    assert waiting.next_attempt_at >= clock().timestamp() + 24 * 3600 and "limite" in str(waiting.last_error)
    clock.advance(hours=24, minutes=10)
    hub.cycle()
    assert len(sandbox.sent(BRANCH)) == 2


def test_5xx_is_not_ready(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    sandbox.fail_next(503)
    with pytest.raises(PluginNotReady) as caught:
        deliver_directly(gmail_hub, make_message(), "k")
    assert not isinstance(caught.value, RateLimited) and "503" in str(caught.value)


def test_a_refused_token_pauses_gmail_for_that_branch_only(make_gmail_hub: Callable[..., Hub],
                                                          sandbox: GmailSandbox) -> None:
    hub = make_gmail_hub(BRANCH, OTHER)
    sandbox.revoke("tok-lyon")
    registered(hub, BRANCH, email="lyon.candidate@example.org")
    registered(hub, OTHER, email="paris.candidate@example.org")
    report = hub.cycle()
    assert set(hub.store.pauses()) == {(BRANCH, "gmail")}
    assert any("hub auth google --branch lyon" in e for e in report.errors)
    assert sandbox.sent(OTHER) and sandbox.sent(BRANCH) == []


def test_invalid_grant_says_what_to_run(make_gmail_hub: Callable[..., Hub], sandbox: GmailSandbox,
                                        sandbox_url: str) -> None:
    hub = make_gmail_hub(auth="oauth", token_uri=f"{sandbox_url}/token")
    write_token(hub, sandbox_url, "1//revoked", expired=True)
    sandbox.refresh_tokens["1//revoked"] = (ADDRESSES[BRANCH], False)
    with pytest.raises(PluginAuthFailed) as caught:
        poller(hub).poll(None)
    assert "invalid_grant" in str(caught.value) and caught.value.fix == "hub auth google --branch lyon"
    with pytest.raises(PluginAuthFailed):
        deliver_directly(hub, make_message(), "k")
    assert sandbox.count("drafts.create") == 0


def test_a_refreshed_token_is_saved_and_used(make_gmail_hub: Callable[..., Hub], sandbox: GmailSandbox,
                                             sandbox_url: str) -> None:
    hub = make_gmail_hub(auth="oauth", token_uri=f"{sandbox_url}/token")
    path = write_token(hub, sandbox_url, "1//good", expired=True)
    sandbox.refresh_tokens["1//good"] = (ADDRESSES[BRANCH], True)
    deliver_directly(hub, make_message(), "k")
    assert len(sandbox.sent(BRANCH)) == 1 and sandbox.count("token") == 1
    assert json.loads(path.read_text())["token"].startswith("ya29.gmail-sandbox-")


def test_no_address_name_or_body_in_the_logs(make_gmail_hub: Callable[..., Hub], sandbox: GmailSandbox,
                                            caplog: pytest.LogCaptureFixture, clock: FakeClock) -> None:
    caplog.set_level(logging.DEBUG)
    hub = make_gmail_hub()
    candidate = registered(hub, email="aicha.benali@example.org", first_name="Aïcha", last_name="Benali")
    hub.cycle()  # the core's registration mail
    message = make_message(candidate, subject="Votre rendez-vous très personnel",
                           text="Bonjour Aïcha, votre dossier confidentiel", reply_to="conseillere@cravate.org")
    deliver_directly(hub, message, "k")
    sandbox.fail_next(429)
    with pytest.raises(RateLimited):
        deliver_directly(hub, make_message(candidate), "k2")
    with pytest.raises(PluginNotReady):
        deliver_directly(hub, make_message(to="personne@intranet"), "k3")
    clock.advance(hours=1)
    sandbox.bounce("aicha.benali@example.org")
    assert [e.kind for e in poll(hub)] == ["message_bounced"]
    text = caplog.text + " ".join(repr(r.__dict__) for r in caplog.records)
    for personal in ("aicha.benali", "Aïcha", "Benali", "A=C3=AFcha", "très personnel", "confidentiel",
                     "conseillere", ADDRESSES[BRANCH], "personne@intranet"):
        assert personal not in text, personal


def test_a_later_day_sends_again(gmail_hub: Hub, sandbox: GmailSandbox, clock: FakeClock) -> None:
    """The window forgets sends older than 24 h (no growth of the private state)."""
    for i in range(3):
        deliver_directly(gmail_hub, make_message(), f"k{i}")
        clock.advance(timedelta(hours=9).total_seconds())
    window = gmail_hub.context(BRANCH, "gmail").state_get("window")
    assert len(window["buckets"]) == 3
    deliver_directly(gmail_hub, make_message(), "k9")
    assert len(gmail_hub.context(BRANCH, "gmail").state_get("window")["buckets"]) == 3  # the first one left
