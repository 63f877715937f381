"""A plugin whose setup raises is seen (status, doctor, the cycle report, the log) and retried with backoff."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from hub.app import Hub
from hub.cli import cli
from hub.hookspecs import hookimpl
from hub.lane_setup import RETRY_INITIAL
from hub.sources import Poller, PollResult, WebhookReply, WebhookRoute
from hub.testing import FakeClock
from hub.webhooks import build_app


class Flaky:
    """Its setup fails while `broken` is set (a credential file not there yet, say)."""

    def __init__(self) -> None:
        self.broken = True
        self.setups = 0
        self.polls = 0

    @hookimpl
    def register_sources(self, hub: Any, register: Callable[[Poller], None]) -> None:
        self.setups += 1
        if self.broken:
            raise FileNotFoundError("jeton introuvable: var/secrets/b/flaky/token")

        def poll(cursor: str | None) -> PollResult:
            self.polls += 1
            return PollResult([], cursor)
        register(Poller("inbox", poll))

    @hookimpl
    def register_webhooks(self, hub: Any, register: Callable[[WebhookRoute], None]) -> None:
        register(WebhookRoute(handler=lambda request: WebhookReply()))


@pytest.fixture
def flaky_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object]) -> tuple[Hub, Flaky]:
    flaky = Flaky()
    register_plugin("flaky", flaky)
    return make_hub({"b": {"plugins": ["flaky"]}}), flaky


def _cli(hub: Hub, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(hub.config.root), *args], obj={"registry": hub.registry})
    return result.exit_code, result.output


def test_setup_failure_is_reported_recorded_and_logged(flaky_hub: tuple[Hub, Flaky],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    hub, _ = flaky_hub
    with caplog.at_level(logging.ERROR, logger="hub.setup"):
        report = hub.cycle()
    assert any("b/flaky: setup failed (register_sources)" in e and "FileNotFoundError" in e for e in report.errors)
    [failure] = hub.store.setup_failures()
    assert (failure.branch, failure.plugin, failure.attempts) == ("b", "flaky", 1)
    [record] = [r for r in caplog.records if r.getMessage() == "plugin setup failed"]
    assert record.exc_info is not None and record.fix == "hub doctor --branch b"


def test_setup_is_retried_with_backoff_then_cleared(flaky_hub: tuple[Hub, Flaky], clock: FakeClock) -> None:
    hub, flaky = flaky_hub
    hub.cycle()
    hub.cycle()
    assert flaky.setups == 1, "not retried before its backoff ends"
    clock.advance(seconds=2 * RETRY_INITIAL + 1)
    hub.cycle()
    assert flaky.setups == 2 and hub.store.setup_failures()[0].attempts == 2
    flaky.broken = False
    clock.advance(hours=2)
    report = hub.cycle()
    assert flaky.setups == 3 and flaky.polls == 1 and not report.errors
    assert hub.store.setup_failures() == []


def test_status_shows_the_failed_setup_with_a_fix(flaky_hub: tuple[Hub, Flaky]) -> None:
    hub, _ = flaky_hub
    hub.cycle()
    _, out = _cli(hub, "status", "--json")
    data = json.loads(out)
    [plugin] = data["branches"][0]["plugins"]
    assert data["ok"] is False
    assert plugin["state"] == "failing" and "FileNotFoundError" in plugin["setup_error"]
    assert plugin["fix"] == "hub doctor --branch b"


def test_doctor_tries_the_setup_again_and_fails_naming_it(flaky_hub: tuple[Hub, Flaky]) -> None:
    hub, flaky = flaky_hub
    hub.cycle()
    code, out = _cli(hub, "doctor")
    assert code == 1 and "FAIL  b/flaky setup:" in out and "hub config check" in out
    assert flaky.setups == 2, "doctor does not wait for the backoff"
    flaky.broken = False
    code, out = _cli(hub, "doctor")
    assert "setup" not in out and hub.store.setup_failures() == []


def test_a_webhook_to_a_lane_not_set_up_asks_the_sender_to_retry(flaky_hub: tuple[Hub, Flaky]) -> None:
    hub, flaky = flaky_hub
    client = TestClient(build_app(hub))
    assert client.post("/webhooks/b/flaky", content=b"{}").status_code == 503
    assert client.post("/webhooks/b/nobody", content=b"{}").status_code == 404
    flaky.broken = False
    hub.setup.get(("b", "flaky"), force=True)
    assert client.post("/webhooks/b/flaky", content=b"{}").status_code == 200
