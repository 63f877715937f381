"""Webhook subscription lifecycle against the sandbox, end to end with signed deliveries, and the CLI."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import hub_calendly.plugin as calendly_plugin
from hub.app import Hub
from hub.plugins import PluginRegistry
from hub.testing import FakeClock, make_event, write_config
from hub_calendly.account import make_client
from hub_calendly.plugin import settings_of
from hub_calendly.sandbox import CalendlySandbox
from hub_calendly.subscription import NO_PLAN, SIGNING_KEY_FILE, subscribe

from .conftest import BRANCH, kinds, poller, webhook_sender

URL = "http://127.0.0.1:1/webhooks/antenne/calendly"


@pytest.fixture
def keyless_hub(make_hub: Callable[..., Hub], register_plugin: Callable[..., object], sandbox: CalendlySandbox,
                sandbox_url: str) -> Hub:
    """A branch without a configured signing key: `subscribe` generates one and stores it."""
    register_plugin("calendly", calendly_plugin)
    return make_hub({BRANCH: {"plugins": ["calendly"], "calendly": {"api_url": sandbox_url}}},
                    environ={"HUB_ANTENNE_CALENDLY_TOKEN": sandbox.token_for(BRANCH)})


def run_subscribe(hub: Hub, url: str = URL) -> str:
    ctx = hub.context(BRANCH, "calendly")
    settings = settings_of(ctx)
    return subscribe(ctx, settings, make_client(ctx, settings), url).status


def test_subscribe_creates_with_a_private_generated_key_and_signed_deliveries_flow(
        keyless_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    assert run_subscribe(keyless_hub) == "created"
    key_file = keyless_hub.context(BRANCH, "calendly").secret_path(SIGNING_KEY_FILE)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) == 64
    account = sandbox.account(BRANCH)
    [sub] = account.subscriptions.values()
    assert sub["callback_url"] == URL and sub["scope"] == "user"
    assert set(sub["events"]) == {"invitee.created", "invitee.canceled", "invitee_no_show.created",
                                  "invitee_no_show.deleted"}
    assert account.signing_keys[sub["uri"]] == key
    sandbox.sender = webhook_sender(keyless_hub)
    uri = sandbox.book(BRANCH, email="a@exemple.invalid", first_name="A", last_name="B",
                       start=clock() + timedelta(days=1))
    sandbox.cancel(uri)
    assert [d.status for d in sandbox.outbox] == [200, 200]
    assert kinds(keyless_hub) == ["candidate_registered", "session_booked", "session_cancelled"]


def test_a_key_file_others_can_read_is_refused_and_the_sender_retries(keyless_hub: Hub, sandbox: CalendlySandbox,
                                                                      clock: FakeClock) -> None:
    run_subscribe(keyless_hub)
    key_file = keyless_hub.context(BRANCH, "calendly").secret_path(SIGNING_KEY_FILE)
    key_file.chmod(0o644)
    sandbox.sender = webhook_sender(keyless_hub)
    sandbox.book(BRANCH, email="a@exemple.invalid", first_name="A", last_name="B", start=clock() + timedelta(days=1))
    assert [d.status for d in sandbox.outbox] == [503]  # not a traceback, not a 200 that loses the booking
    assert kinds(keyless_hub) == []


def test_subscribing_twice_reuses_the_subscription(keyless_hub: Hub, sandbox: CalendlySandbox) -> None:
    run_subscribe(keyless_hub)
    key_file = keyless_hub.context(BRANCH, "calendly").secret_path(SIGNING_KEY_FILE)
    key = key_file.read_text()
    [first] = sandbox.account(BRANCH).subscriptions
    assert run_subscribe(keyless_hub) == "exists"  # Calendly answered 409
    assert list(sandbox.account(BRANCH).subscriptions) == [first]
    assert key_file.read_text() == key


def test_an_existing_subscription_missing_events_is_replaced_not_reused(keyless_hub: Hub,
                                                                       sandbox: CalendlySandbox) -> None:
    """Issue 11, defect 3: on 409 a subscription for invitee.created alone was re-used, so cancellations and
    no-shows never arrived. Made with our own key (an older setup), it is still replaced by one with every event."""
    run_subscribe(keyless_hub)
    ctx = keyless_hub.context(BRANCH, "calendly")
    key = ctx.secret_path(SIGNING_KEY_FILE).read_text().strip()
    account = sandbox.account(BRANCH)
    account.subscriptions.clear()
    narrow = sandbox.subscribe_directly(BRANCH, URL, key, events=("invitee.created",))
    ctx.state_put("subscription", {"status": "active", "uri": narrow, "url": URL})
    assert run_subscribe(keyless_hub) == "recreated"
    [sub] = account.subscriptions.values()
    assert set(sub["events"]) == {"invitee.created", "invitee.canceled", "invitee_no_show.created",
                                  "invitee_no_show.deleted"}


def test_a_subscription_made_elsewhere_is_replaced_since_its_key_is_unknown(keyless_hub: Hub,
                                                                            sandbox: CalendlySandbox) -> None:
    sandbox.subscribe_directly(BRANCH, URL, "someone-elses-key")
    assert run_subscribe(keyless_hub) == "recreated"
    [sub] = sandbox.account(BRANCH).subscriptions.values()
    key = keyless_hub.context(BRANCH, "calendly").secret_path(SIGNING_KEY_FILE).read_text().strip()
    assert sandbox.account(BRANCH).signing_keys[sub["uri"]] == key


def test_plan_without_webhooks_says_polling_stays_on(keyless_hub: Hub, sandbox: CalendlySandbox) -> None:
    sandbox.account(BRANCH).webhooks_allowed = False
    ctx = keyless_hub.context(BRANCH, "calendly")
    settings = settings_of(ctx)
    result = subscribe(ctx, settings, make_client(ctx, settings), URL)
    assert result.status == "no_plan" and "polling" in result.message
    assert sandbox.account(BRANCH).subscriptions == {}
    assert not ctx.secret_path(SIGNING_KEY_FILE).exists()
    assert poller(keyless_hub, "calendly-bookings") is not None  # polling still registered


def test_the_check_recreates_a_subscription_disabled_after_failed_deliveries(
        keyless_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    run_subscribe(keyless_hub)
    check = poller(keyless_hub, "calendly-webhook-check")
    before = sandbox.request_count(BRANCH)
    assert keyless_hub.poll(BRANCH, "calendly", check) == 0
    assert sandbox.request_count(BRANCH) - before == 1  # one GET per check while active
    sandbox.sender = lambda delivery: 503  # the receiver is down
    for n in range(3):
        sandbox.book(BRANCH, email=f"p{n}@exemple.invalid", first_name="A", last_name="B",
                     start=clock() + timedelta(days=1))
    [old] = sandbox.account(BRANCH).subscriptions.values()
    assert old["state"] == "active"  # Calendly retries for 24 hours before disabling (webhook-errors page)
    for _ in range(12):
        clock.advance(hours=3)
        sandbox.retry_due()
    assert old["state"] == "disabled"
    assert keyless_hub.poll(BRANCH, "calendly", check) == 0
    [new] = sandbox.account(BRANCH).subscriptions.values()
    assert new["state"] == "active" and new["uri"] != old["uri"] and new["callback_url"] == URL
    # polling, the safety net, caught the three bookings the webhooks lost
    keyless_hub.poll(BRANCH, "calendly", poller(keyless_hub, "calendly-bookings"))
    assert kinds(keyless_hub).count("session_booked") == 3


def test_check_without_subscription_costs_nothing(keyless_hub: Hub, sandbox: CalendlySandbox) -> None:
    before = sandbox.request_count(BRANCH)
    keyless_hub.poll(BRANCH, "calendly", poller(keyless_hub, "calendly-webhook-check"))
    assert sandbox.request_count(BRANCH) == before


def _cli(tmp_path: Path, sandbox: CalendlySandbox, sandbox_url: str, args: list[str],
         extra: dict[str, object] | None = None) -> tuple[int, str]:
    from hub.cli import cli
    root = write_config(tmp_path / "cli", {BRANCH: {"plugins": ["calendly"], "calendly": {
        "api_url": sandbox_url, **(extra or {})}}})
    registry = PluginRegistry()
    registry.add("calendly", calendly_plugin)
    result = CliRunner().invoke(cli, ["--config", str(root), "calendly", *args], obj={"registry": registry},
                                env={"HUB_ANTENNE_CALENDLY_TOKEN": sandbox.token_for(BRANCH)})
    return result.exit_code, result.output


def test_cli_subscribe(tmp_path: Path, sandbox: CalendlySandbox, sandbox_url: str) -> None:
    code, out = _cli(tmp_path, sandbox, sandbox_url, ["subscribe", "--branch", BRANCH, "--url", URL])
    assert code == 0, out
    assert "créé" in out and len(sandbox.account(BRANCH).subscriptions) == 1
    sandbox.account(BRANCH).webhooks_allowed = False
    sandbox.account(BRANCH).subscriptions.clear()
    code, out = _cli(tmp_path, sandbox, sandbox_url, ["subscribe", "--branch", BRANCH, "--url", URL + "2"])
    assert code == 0 and NO_PLAN in out


def test_cli_link_needs_the_option_and_a_known_candidate(tmp_path: Path, sandbox: CalendlySandbox,
                                                         sandbox_url: str) -> None:
    code, out = _cli(tmp_path, sandbox, sandbox_url, ["link", "--branch", BRANCH, "--candidate", "cnd_x"])
    assert code != 0 and "inconnu" in out
    event_type = sandbox.account(BRANCH).event_types[0]["uri"]
    extra = {"single_use_links": True, "link_event_type": event_type}
    # register a candidate in the CLI's store through the same config
    from hub.app import Hub
    from hub.config import load_config
    registry = PluginRegistry()
    registry.add("calendly", calendly_plugin)
    config = load_config(tmp_path / "cli", registry.settings_models(),
                         environ={"HUB_ANTENNE_CALENDLY_TOKEN": sandbox.token_for(BRANCH)})
    hub = Hub(config, registry)
    [registered] = hub.ingest(BRANCH, "forms", [make_event("candidate_registered")])
    hub.close()
    code, out = _cli(tmp_path, sandbox, sandbox_url,
                     ["link", "--branch", BRANCH, "--candidate", str(registered.candidate_id)], extra)
    assert code == 0, out
    assert out.strip().startswith("https://calendly.com/d/")
    assert out.strip().endswith(f"utm_content={registered.candidate_id}")
    assert sandbox.account(BRANCH).links[-1]["owner"] == event_type


def test_doctor_checks(keyless_hub: Hub, sandbox: CalendlySandbox) -> None:
    checks = {check.name: check for check in keyless_hub.branches[BRANCH].checks("calendly")}
    assert checks["calendly-token"].run().startswith("jeton accepté")
    assert "hub calendly subscribe" in checks["calendly-webhook"].run()
    run_subscribe(keyless_hub)
    assert checks["calendly-webhook"].run() == "abonnement webhook actif"
    [sub] = sandbox.account(BRANCH).subscriptions.values()
    sandbox.disable(sub["uri"])
    with pytest.raises(RuntimeError, match="disabled"):
        checks["calendly-webhook"].run()
