"""A plugin that has nothing to do for an event, by design (an SMS channel and a person without a mobile), says
so with DeliverySkipped: the delivery is recorded as skipped with the reason, never retried, and nobody is
alerted, unlike a rejected one (issue 16: "skipped" as a delivery outcome a third-party channel can use)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub import DeliverySkipped
from hub.app import Hub
from hub.context import HubContext
from hub.events import Event, EventKind
from hub.hookspecs import hookimpl
from hub.testing import FakeClock, deliver, deliveries, make_event, make_session


class NoMobile:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    @hookimpl
    def session_booked(self, hub: HubContext, event: Event) -> None:
        self.calls += 1
        raise self.error


def test_a_skipped_delivery_is_recorded_with_its_reason_and_neither_retried_nor_alerted(
        make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object], clock: FakeClock,
        caplog: Any) -> None:
    sms = NoMobile(DeliverySkipped("pas de numéro de portable pour cette personne"))
    register_plugin("sms", sms)
    hub = make_hub({"conformance": {"plugins": ["sms"]}})
    event = make_event(EventKind.SESSION_BOOKED, occurred_at=clock(), session=make_session(start=clock()))
    done = deliver(hub, event, plugin="sms")
    assert (done.state, done.last_error) == ("skipped", "skipped: pas de numéro de portable pour cette personne")
    clock.advance(days=2)
    hub.cycle()
    assert sms.calls == 1 and [d.state for d in deliveries(hub, plugin="sms")] == ["skipped"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_rejected_one_is_dead_and_alerted_for_comparison(make_hub: Callable[..., Hub],
                                                            register_plugin: Callable[[str, object], object],
                                                            clock: FakeClock, caplog: Any) -> None:
    from hub import DeliveryRejected

    register_plugin("sms", NoMobile(DeliveryRejected("numéro refusé par la passerelle")))
    hub = make_hub({"conformance": {"plugins": ["sms"]}})
    event = make_event(EventKind.SESSION_BOOKED, occurred_at=clock(), session=make_session(start=clock()))
    assert deliver(hub, event, plugin="sms").state == "dead"
    assert [r for r in caplog.records if r.levelname == "ERROR" and r.getMessage() == "delivery dead"]
