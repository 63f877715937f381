"""Contact preferences per medium are evented facts (issue 16): a channel records an opt-out or an opt-in for
its medium (a STOP reply by SMS), the message policy follows the latest fact per person and medium, and sinks
get the events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from hub.app import Hub
from hub.messages.policy import MessagePolicy
from hub.store import DeliveryRow
from hub.testing import FakeClock, RecordingChannel, RecordingSink, make_candidate, make_event, make_message
from tests.test_privacy_optout import BRANCH, PUBLIC, book


@pytest.fixture
def plugins(register_plugin: Callable[[str, object], object]) -> tuple[RecordingChannel, RecordingSink]:
    chan, sink = RecordingChannel(), RecordingSink()
    register_plugin("chan", chan)
    register_plugin("sink", sink)
    return chan, sink


@pytest.fixture
def hub(make_hub: Callable[..., Hub], plugins: tuple[RecordingChannel, RecordingSink]) -> Hub:
    return make_hub({BRANCH: {"plugins": ["chan", "sink"], "channels": {"email": "chan"},
                              "schedule": {"reminders": ["48h"], "followups": []},
                              "messages": {"quiet_hours": "00:00-00:00"}}},
                    hub={"webhooks": {"public_url": PUBLIC}})


def skipped(hub: Hub, cid: str, medium: str) -> str | None:
    """What the message policy says, now, of a non-essential reminder to the person by `medium`."""
    message = make_message(make_candidate(id=cid), medium=medium, purpose="reminder")
    event = make_event("message_due", message=message, branch=BRANCH)
    row = DeliveryRow(id=1, event_seq=1, branch=BRANCH, plugin="chan", kind="message_due", key="k", state="pending",
                      attempts=0, first_failed_at=None, candidate_id=cid, body=event.model_dump_json())
    gate = MessagePolicy(hub.store, hub.config, hub.planner).check(row, event, hub.clock())
    return gate.skip if gate is not None else None


def test_an_sms_stop_stops_only_sms_and_opting_back_in_restarts_them(
        hub: Hub, plugins: tuple[RecordingChannel, RecordingSink], clock: FakeClock) -> None:
    chan, _ = plugins
    cid = book(hub)
    hub.cycle()
    ctx = hub.context(BRANCH, "chan")
    ctx.record_contact_preference(cid, "sms", opted_out=True, via="sms STOP")  # the gateway's STOP reply
    assert "opt-out" in (skipped(hub, cid, "sms") or "") and skipped(hub, cid, "email") is None
    assert hub.store.optout_count(BRANCH) == 1
    clock.advance(timedelta(days=3, hours=1).total_seconds())  # the 48 h reminder by mail still goes
    hub.cycle()
    assert chan.sent()[-1].purpose == "reminder"
    ctx.record_contact_preference(cid, "sms", opted_out=False, via="staff")  # she asked the coordinator
    assert skipped(hub, cid, "sms") is None and hub.store.optout_count(BRANCH) == 0


def test_the_latest_fact_wins_whatever_order_they_arrive_in(hub: Hub, clock: FakeClock) -> None:
    cid = book(hub)
    ctx = hub.context(BRANCH, "chan")
    stop_at = hub.clock()
    clock.advance(60)
    ctx.record_contact_preference(cid, "sms", opted_out=False, via="person")  # back in, a minute later...
    ctx.record_contact_preference(cid, "sms", opted_out=True, via="sms STOP", at=stop_at)  # ...reported late
    assert skipped(hub, cid, "sms") is None
    assert len(hub.store.list_events(branch=BRANCH, kind="candidate_opted_out")) == 1  # the fact is kept


def test_opting_out_and_back_in_reach_the_sinks_with_the_medium(
        hub: Hub, plugins: tuple[RecordingChannel, RecordingSink], clock: FakeClock) -> None:
    _, sink = plugins
    cid = book(hub)
    ctx = hub.context(BRANCH, "chan")
    ctx.record_contact_preference(cid, "sms", opted_out=True, via="sms STOP")
    ctx.record_contact_preference(cid, "sms", opted_out=True, via="sms STOP")  # the same report twice: once
    clock.advance(60)
    ctx.record_contact_preference(cid, "sms", opted_out=False, via="staff")
    clock.advance(60)
    ctx.record_contact_preference(cid, "sms", opted_out=True, via="sms STOP")  # a later STOP is a new fact
    hub.cycle()
    got = [(kind, e.candidate_id, e.preference.medium if e.preference else None, e.preference.via if e.preference
            else None) for kind, _, e in sink.calls if kind.startswith("candidate_opted")]
    assert got == [("candidate_opted_out", cid, "sms", "sms STOP"), ("candidate_opted_in", cid, "sms", "staff"),
                   ("candidate_opted_out", cid, "sms", "sms STOP")]
    assert skipped(hub, cid, "sms") is not None


def test_a_webhook_handler_returns_the_event_instead_of_storing_it(hub: Hub) -> None:
    from hub import deferred

    cid = book(hub)
    ctx = hub.context(BRANCH, "chan")
    event = ctx.contact_preference(cid, "sms", opted_out=True, via="sms STOP")
    assert event.kind == "candidate_opted_out" and event.candidate_id == cid and event.preference is not None
    with deferred.deferring(deferred.DeferredWrites()), pytest.raises(RuntimeError, match="return"):
        ctx.record_contact_preference(cid, "sms", opted_out=True, via="sms STOP")
    hub.ingest(BRANCH, "chan", [event])  # what the receiver does with a handler's events
    assert skipped(hub, cid, "sms") is not None


def test_a_channel_records_a_preference_from_its_delivery_hook(
        make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object]) -> None:
    """E.g. a gateway answering a send with "this number replied STOP": recorded from inside `message_due`."""
    from hub import hookimpl
    from hub.events import Event

    class StopChannel(RecordingChannel):
        @hookimpl
        def message_due(self, hub: Any, event: Event) -> None:
            RecordingChannel.message_due(self, hub, event)
            assert event.message is not None and event.message.candidate_id
            hub.record_contact_preference(event.message.candidate_id, "sms", opted_out=True, via="sms STOP")

    register_plugin("chan", StopChannel())
    made = make_hub({BRANCH: {"plugins": ["chan"], "messages": {"quiet_hours": "00:00-00:00"}}})
    cid = book(made)
    assert made.cycle().errors == []
    assert made.store.optout_of(BRANCH, cid, "sms") is not None and made.store.optout_of(BRANCH, cid, "email") is None
