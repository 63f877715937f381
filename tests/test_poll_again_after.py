"""A source can ask for its next poll sooner than its interval (work left, a vendor window about to reset):
the hub honours it, never later than the interval and never in a spin."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from hub.app import CycleReport, Hub
from hub.hookspecs import hookimpl
from hub.sources import Poller, PollResult


class Catching:
    def __init__(self) -> None:
        self.again_after: float | None = None
        self.calls = 0

    @hookimpl
    def register_sources(self, hub: Any, register: Callable[[Poller], None]) -> None:
        def poll(cursor: str | None) -> PollResult:
            self.calls += 1
            return PollResult([], cursor, again_after=self.again_after)
        register(Poller("catch-up", poll, interval=300))


@pytest.fixture
def catching(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object]) -> tuple[Hub, Catching]:
    plugin = Catching()
    register_plugin("catching", plugin)
    return make_hub({"b": {"plugins": ["catching"]}}), plugin


@pytest.mark.parametrize(("asked", "low", "high"), [(None, 299, 300), (30, 29, 30), (0, 0.9, 1.0), (900, 299, 300)],
                         ids=["interval", "sooner", "never a spin", "never later than the interval"])
def test_the_next_poll_comes_when_the_source_asks(catching: tuple[Hub, Catching], asked: float | None,
                                                   low: float, high: float) -> None:
    hub, plugin = catching
    plugin.again_after = asked
    before = time.monotonic()
    hub.poll_lane(("b", "catching"), CycleReport())
    assert plugin.calls == 1
    wait = hub._next_poll[("b", "catching", "catch-up")] - before
    assert low <= wait <= high + 0.5, wait


def test_a_plugin_asking_to_poll_soon_is_polled_at_the_next_tick_not_after_its_interval(
        catching: tuple[Hub, Catching]) -> None:
    hub, plugin = catching
    hub.poll_lane(("b", "catching"), CycleReport())
    hub.poll_lane(("b", "catching"), CycleReport())
    assert plugin.calls == 1  # within its 300 s interval: not polled again
    hub.context("b", "catching").poll_soon("catch-up")  # e.g. a change notification said "something changed"
    hub.poll_lane(("b", "catching"), CycleReport())
    assert plugin.calls == 2
    hub.poll_lane(("b", "catching"), CycleReport())
    assert plugin.calls == 2  # one signal, one poll
    hub.context("b", "catching").for_delivery("k").poll_soon("catch-up")  # a delivery's context can ask too
    hub.poll_lane(("b", "catching"), CycleReport())
    assert plugin.calls == 3
