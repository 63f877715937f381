"""Calendly 403s told apart (issue 11, defect 4): a missing token scope, organization scope without admin rights
and a plan without webhooks each get their own French diagnosis and fix, against the fake's scopes and roles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import hub_calendly.plugin as calendly_plugin
from hub.app import Hub
from hub.errors import PluginAuthFailed
from hub.plugins import PluginRegistry
from hub.testing import write_config
from hub_calendly.account import make_client
from hub_calendly.plugin import settings_of
from hub_calendly.sandbox import CalendlySandbox
from hub_calendly.subscription import NO_PLAN, subscribe

from .conftest import BRANCH

URL = "http://127.0.0.1:1/webhooks/antenne/calendly"
POLLING = {"users:read", "scheduled_events:read"}


def _hub(make_hub: Callable[..., Hub], register_plugin: Callable[..., object], sandbox: CalendlySandbox,
         sandbox_url: str, **extra: Any) -> Hub:
    register_plugin("calendly", calendly_plugin)
    return make_hub({BRANCH: {"plugins": ["calendly"], "calendly": {"api_url": sandbox_url, **extra}}},
                    environ={"HUB_ANTENNE_CALENDLY_TOKEN": sandbox.token_for(BRANCH)})


def _subscribe(hub: Hub) -> str:
    ctx = hub.context(BRANCH, "calendly")
    settings = settings_of(ctx)
    return subscribe(ctx, settings, make_client(ctx, settings), URL).status


def test_a_token_without_webhooks_write_is_told_which_scopes_not_that_the_plan_lacks_webhooks(
        make_hub: Callable[..., Hub], register_plugin: Callable[..., object], sandbox: CalendlySandbox,
        sandbox_url: str) -> None:
    """Before: any 403 on the subscription said "your plan has no webhooks", sending staff the wrong way."""
    hub = _hub(make_hub, register_plugin, sandbox, sandbox_url)
    sandbox.set_token(BRANCH, scopes=POLLING)
    with pytest.raises(PluginAuthFailed) as caught:
        _subscribe(hub)
    message = str(caught.value)
    assert "webhooks:write" in message and "scheduled_events:read" in message and "scheduling_links:write" in message
    assert "offre" not in message
    assert hub.context(BRANCH, "calendly").state_get("subscription") is None  # not recorded as no_plan


def test_a_token_without_scheduled_events_read_cannot_subscribe_to_invitee_events(
        make_hub: Callable[..., Hub], register_plugin: Callable[..., object], sandbox: CalendlySandbox,
        sandbox_url: str) -> None:
    """Calendly answers 400 (not 403) to a subscription for invitee events without scheduled_events:read."""
    hub = _hub(make_hub, register_plugin, sandbox, sandbox_url)
    sandbox.set_token(BRANCH, scopes={"users:read", "webhooks:write"})
    with pytest.raises(PluginAuthFailed, match="scheduled_events:read"):
        _subscribe(hub)


def test_a_missing_scope_pauses_polling_with_the_scopes_to_select(
        make_hub: Callable[..., Hub], register_plugin: Callable[..., object], sandbox: CalendlySandbox,
        sandbox_url: str) -> None:
    """Before: the 403 was a rejection, so every poll failed again and the lane never paused."""
    hub = _hub(make_hub, register_plugin, sandbox, sandbox_url)
    sandbox.set_token(BRANCH, scopes={"users:read"})
    report = hub.cycle(force_poll=True)
    assert (BRANCH, "calendly") in hub.store.pauses()
    assert any("scheduled_events:read" in e for e in report.errors)
    before = sandbox.request_count(BRANCH)
    hub.cycle(force_poll=True)
    assert sandbox.request_count(BRANCH) == before  # paused: no more refused requests


def test_organization_scope_without_admin_says_use_user_scope(
        make_hub: Callable[..., Hub], register_plugin: Callable[..., object], sandbox: CalendlySandbox,
        sandbox_url: str) -> None:
    hub = _hub(make_hub, register_plugin, sandbox, sandbox_url, scope="organization")
    sandbox.set_token(BRANCH, role="user")
    with pytest.raises(PluginAuthFailed) as caught:
        _subscribe(hub)
    assert 'scope = "user"' in str(caught.value) and "administrateur" in str(caught.value)
    hub.cycle(force_poll=True)
    [pause] = [p for lane, p in hub.store.pauses().items() if lane == (BRANCH, "calendly")]
    assert 'scope = "user"' in str(pause)


def test_the_free_plan_still_means_polling_only(make_hub: Callable[..., Hub], register_plugin: Callable[..., object],
                                                sandbox: CalendlySandbox, sandbox_url: str) -> None:
    hub = _hub(make_hub, register_plugin, sandbox, sandbox_url)
    sandbox.set_plan(BRANCH, "free")
    assert _subscribe(hub) == "no_plan"
    assert sandbox.account(BRANCH).subscriptions == {}


def test_doctor_names_the_missing_scopes(make_hub: Callable[..., Hub], register_plugin: Callable[..., object],
                                         sandbox: CalendlySandbox, sandbox_url: str) -> None:
    hub = _hub(make_hub, register_plugin, sandbox, sandbox_url)
    checks = {check.name: check for check in hub.branches[BRANCH].checks("calendly")}
    assert checks["calendly-scopes"].run().startswith("portées de lecture accordées")
    sandbox.set_token(BRANCH, scopes={"users:read", "webhooks:read"})
    with pytest.raises(RuntimeError, match="scheduled_events:read"):
        checks["calendly-scopes"].run()
    sandbox.set_token(BRANCH, scopes=POLLING)  # no webhook scope, no subscription: polling is fine
    assert "webhooks:write" in checks["calendly-scopes"].run()


def test_cli_subscribe_prints_the_scope_diagnosis(tmp_path: Path, sandbox: CalendlySandbox,
                                                  sandbox_url: str) -> None:
    from hub.cli import cli
    root = write_config(tmp_path / "cli", {BRANCH: {"plugins": ["calendly"], "calendly": {"api_url": sandbox_url}}})
    registry = PluginRegistry()
    registry.add("calendly", calendly_plugin)
    sandbox.set_token(BRANCH, scopes=POLLING)
    result = CliRunner().invoke(cli, ["--config", str(root), "calendly", "subscribe", "--branch", BRANCH,
                                      "--url", URL], obj={"registry": registry},
                                env={"HUB_ANTENNE_CALENDLY_TOKEN": sandbox.token_for(BRANCH)})
    assert result.exit_code != 0 and "webhooks:write" in result.output and NO_PLAN not in result.output
    assert "Traceback" not in result.output


def test_single_use_links_without_their_scope(make_hub: Callable[..., Hub], register_plugin: Callable[..., object],
                                              sandbox: CalendlySandbox, sandbox_url: str) -> None:
    from hub_calendly.links import single_use_link
    hub = _hub(make_hub, register_plugin, sandbox, sandbox_url, single_use_links=True)
    ctx = hub.context(BRANCH, "calendly")
    settings = settings_of(ctx)
    sandbox.set_token(BRANCH, scopes=POLLING)
    event_type = sandbox.account(BRANCH).event_types[0]["uri"]
    with pytest.raises(PluginAuthFailed, match="scheduling_links:write"):
        single_use_link(settings, make_client(ctx, settings), "cnd_x", event_type)
