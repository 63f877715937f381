"""A channel reports a failed delivery after the fact with `message_bounced` (issue 16): an SMS gateway's
"not delivered" report is a Bounce with its medium, which reaches the sinks and never blocks the person's
e-mail; a permanent e-mail bounce still stops mail to that address."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hub.app import Hub
from hub.events import Bounce
from hub.testing import RecordingChannel, RecordingSink, make_event
from tests.test_privacy_optout import BRANCH, book

EMAIL = "aicha@example.org"


@pytest.fixture
def plugins(register_plugin: Callable[[str, object], object]) -> RecordingSink:
    sink = RecordingSink()
    register_plugin("chan", RecordingChannel())
    register_plugin("sink", sink)
    return sink


@pytest.fixture
def hub(make_hub: Callable[..., Hub], plugins: RecordingSink) -> Hub:
    return make_hub({BRANCH: {"plugins": ["chan", "sink"], "channels": {"email": "chan"},
                              "messages": {"quiet_hours": "00:00-00:00"}}})


def test_an_sms_not_delivered_report_reaches_the_sinks_and_leaves_the_mail_alone(
        hub: Hub, plugins: RecordingSink) -> None:
    book(hub, email=EMAIL)
    hub.cycle()
    message_id = hub.store.list_deliveries(plugin="chan", states=("done",))[0].event_id  # the SMS's, say
    hub.ingest(BRANCH, "chan", [make_event("message_bounced", source_id="dlr-1", bounce=Bounce(
        message_id=message_id, address=None, reason="DLR failed: absent subscriber", permanent=True,
        medium="sms"))])
    hub.cycle()
    assert not hub.planner.bounced(BRANCH, EMAIL)
    got = [e.bounce for kind, _, e in plugins.calls if kind == "message_bounced"]
    assert len(got) == 1 and got[0] is not None and got[0].medium == "sms"


def test_a_permanent_mail_bounce_still_stops_mail_to_the_address(hub: Hub) -> None:
    book(hub, email=EMAIL)
    hub.ingest(BRANCH, "chan", [make_event("message_bounced", source_id="dsn-1", bounce=Bounce(
        message_id="msg_0123456789abcdef0123", address=EMAIL, reason="550 5.1.1 user unknown"))])
    assert hub.planner.bounced(BRANCH, EMAIL)
