"""The operator's commands: listings in JSON, retry, resync (idempotent; --force re-delivers under the same key)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.app import Hub
from hub.cli import cli
from hub.events import EventKind
from hub.hookspecs import hookimpl
from hub.resync import resync
from hub.sources import Poller, PollResult
from hub.testing import RecordingSink, make_candidate, make_event


class Feed(RecordingSink):
    """A source of three registrations (stable source ids) that also records what it is delivered."""

    def __init__(self) -> None:
        super().__init__()
        self.people = [make_candidate(email=f"p{i}@example.org", phone=None) for i in range(3)]

    @hookimpl
    def register_sources(self, hub, register):  # type: ignore[no-untyped-def]
        def poll(cursor: str | None) -> PollResult:
            start = int(cursor or 0)
            events = [make_event(EventKind.CANDIDATE_REGISTERED, candidate=p, source_id=f"row-{i}")
                      for i, p in enumerate(self.people) if i >= start]
            return PollResult(events, cursor=str(len(self.people)), progress=(len(self.people), len(self.people)))
        register(Poller("rows", poll, resync_cursor=lambda since: None))


@pytest.fixture
def feed_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object]) -> tuple[Hub, Feed]:
    feed = register_plugin("feed", Feed())
    return make_hub({"b": {"plugins": ["feed"]}}), feed  # type: ignore[return-value]


def test_resync_is_idempotent_and_force_redelivers_with_the_same_keys(feed_hub: tuple[Hub, Feed]) -> None:
    hub, feed = feed_hub
    hub.cycle(force_poll=True)
    assert len(feed.calls) == 3
    assert resync(hub, echo=lambda _: None).new == 0
    hub.cycle()
    assert len(feed.calls) == 3  # nothing delivered twice
    result = resync(hub, plugin="feed", force=True, echo=lambda _: None)
    assert (result.new, result.redelivered) == (0, 3)
    hub.cycle()
    keys = [key for _, key, _ in feed.calls]
    assert len(keys) == 6 and set(keys[:3]) == set(keys[3:])  # same keys: sinks keep effects single


def _invoke(hub: Hub, *args: str) -> object:
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(hub.config.root), *args], obj={"registry": hub.registry},
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--json" in args else result.output


def test_listings_in_json(feed_hub: tuple[Hub, Feed]) -> None:
    hub, feed = feed_hub
    feed.fail["candidate_registered"] = RuntimeError("boom for p0@example.org")
    hub.cycle(force_poll=True)
    status = _invoke(hub, "status", "--json")
    [branch] = status["branches"]
    [plugin] = branch["plugins"]
    assert (branch["branch"], plugin["plugin"], plugin["state"]) == ("b", "feed", "degraded")
    assert (plugin["pending"], plugin["retrying"], plugin["dead"]) == (0, 3, 0)
    assert plugin["fix"] == "hub deliveries --failed --branch b --plugin feed" and status["ok"] is False
    events = _invoke(hub, "events", "--json")
    assert [e["kind"] for e in events] == ["candidate_registered"] * 3
    assert "example.org" not in json.dumps(events)
    failed = _invoke(hub, "deliveries", "--failed", "--json")
    assert len(failed) == 3 and "<email>" in failed[0]["last_error"]
    assert "3 deliveries will be retried" in _invoke(hub, "retry", "--plugin", "feed")


def test_status_lists_input_problems(feed_hub: tuple[Hub, Feed], tmp_path: Path) -> None:
    hub, _ = feed_hub
    hub.context("b", "feed").report_problem("Réponses au formulaire 1!ligne 12", "E-mail",
                                            "ni e-mail ni téléphone : complétez la ligne")
    output = _invoke(hub, "status")
    assert "1 row(s) or answer(s) for staff to fix" in output and "ligne 12" in output
