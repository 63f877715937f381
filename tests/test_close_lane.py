"""Closing a hub closes what each lane built (`close_lane`), once per lane set up, each plugin alone, before
the store; `hub run --once` ends that way too (issue 12, item 4: clients were closed at process exit at best)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from hub.app import Hub
from hub.cli import cli
from hub.context import HubContext
from hub.hookspecs import hookimpl
from hub.sources import Poller, PollResult


class Lane:
    """A plugin with one source that records the contexts it was set up and closed with."""

    def __init__(self, fail: Exception | None = None, setup_fails: bool = False) -> None:
        self.set_up: list[HubContext] = []
        self.closed: list[HubContext] = []
        self.fail = fail
        self.setup_fails = setup_fails

    @hookimpl
    def register_sources(self, hub: HubContext, register: Callable[[Poller], None]) -> None:
        if self.setup_fails:
            raise RuntimeError("no credentials yet")
        self.set_up.append(hub)
        register(Poller("rows", lambda cursor: PollResult([], cursor="0")))

    @hookimpl
    def close_lane(self, hub: HubContext) -> None:
        self.closed.append(hub)
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def lanes(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object]) -> \
        tuple[Hub, Lane, Lane]:
    first, second = Lane(), Lane()
    register_plugin("first", first)
    register_plugin("second", second)
    hub = make_hub({"lyon": {"plugins": ["first", "second"]}, "nice": {"plugins": ["first"]}})
    return hub, first, second


def _store_closed_after(hub: Hub, lanes: list[Lane], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many lanes had been closed each time the store was closed."""
    seen: list[int] = []
    close = hub.store.close

    def recording_close() -> None:
        seen.append(sum(len(lane.closed) for lane in lanes))
        close()
    monkeypatch.setattr(hub.store, "close", recording_close)
    return seen


def test_close_calls_close_lane_once_per_lane_with_its_context_before_the_store(
        lanes: tuple[Hub, Lane, Lane], monkeypatch: pytest.MonkeyPatch) -> None:
    hub, first, second = lanes
    store_closed = _store_closed_after(hub, [first, second], monkeypatch)
    hub.cycle(force_poll=True)
    hub.cycle(force_poll=True)
    assert first.closed == [] and second.closed == []
    hub.close()
    assert first.closed == first.set_up and len(first.closed) == 2  # lyon and nice, the contexts set up
    assert second.closed == second.set_up and len(second.closed) == 1
    assert store_closed == [3]
    hub.close()  # closing again closes nothing twice
    assert len(first.closed) == 2


def test_a_lane_never_set_up_is_not_closed(make_hub: Callable[..., Hub],
                                           register_plugin: Callable[[str, object], object]) -> None:
    broken, idle = Lane(setup_fails=True), Lane()
    register_plugin("broken", broken)
    register_plugin("idle", idle)
    hub = make_hub({"lyon": {"plugins": ["broken", "idle"]}})
    hub.cycle(force_poll=True)
    hub.close()
    assert broken.closed == [] and len(idle.closed) == 1


def test_one_plugin_failing_to_close_is_logged_and_stops_no_other(
        make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
        caplog: pytest.LogCaptureFixture) -> None:
    failing, other = Lane(fail=ConnectionResetError("peer gone")), Lane()
    register_plugin("failing", failing)
    register_plugin("other", other)
    hub = make_hub({"a": {"plugins": ["failing", "other"]}, "b": {"plugins": ["other", "failing"]}})
    hub.cycle(force_poll=True)
    with caplog.at_level(logging.WARNING, logger="hub.plugins"):
        assert sorted(hub.setup.close()) == [("a", "failing"), ("b", "failing")]
    assert len(failing.closed) == 2 and len(other.closed) == 2
    warnings = [r for r in caplog.records if r.getMessage() == "plugin close failed"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    assert {(r.branch, r.plugin) for r in warnings} == {("a", "failing"), ("b", "failing")}  # type: ignore[attr-defined]
    assert all("ConnectionResetError" in r.error for r in warnings)  # type: ignore[attr-defined]
    hub.close()  # and the store still closes


def test_close_of_a_raising_plugin_still_closes_the_store(make_hub: Callable[..., Hub],
                                                         register_plugin: Callable[[str, object], object],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    failing = Lane(fail=RuntimeError("bug"))
    register_plugin("failing", failing)
    hub = make_hub({"a": {"plugins": ["failing"]}})
    store_closed = _store_closed_after(hub, [failing], monkeypatch)
    hub.cycle(force_poll=True)
    hub.close()
    assert store_closed == [1]


def test_hub_run_once_closes_every_lane(lanes: tuple[Hub, Lane, Lane], monkeypatch: pytest.MonkeyPatch) -> None:
    hub, first, second = lanes
    monkeypatch.setattr("hub.logs.setup_logging", lambda *args, **kwargs: None)  # keep pytest's log capture
    monkeypatch.setattr("hub.daemon.signal.signal", lambda *args: None)  # keep pytest's Ctrl-C
    result = CliRunner().invoke(cli, ["--config", str(hub.config.root), "run", "--once"],
                                obj={"registry": hub.registry}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "0 failure(s)" in result.output
    assert len(first.set_up) == 2 and len(second.set_up) == 1  # the cli's own hub set the lanes up
    assert set(first.closed) == set(first.set_up) and second.closed == second.set_up  # lanes ran in threads


def test_a_lane_left_open_is_not_closed(lanes: tuple[Hub, Lane, Lane]) -> None:
    """`hub run` leaves a lane still blocked in a request to the process's exit (hub/daemon.py)."""
    hub, first, second = lanes
    hub.cycle(force_poll=True)
    hub.setup.leave_open(("lyon", "first"))
    hub.close()
    assert [c.branch for c in first.closed] == ["nice"] and len(second.closed) == 1
