"""message_due through Graph: one mail per delivery key, 2 Graph requests normally, exactly one mail after a crash
at any step, Exchange's limits by deferring, a refused recipient dead-lettered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from hub.app import Hub
from hub.errors import DeliveryRejected, PluginNotReady
from hub.testing import FakeClock, make_candidate, make_event, make_message
from hub_outlook.graph import GraphClient
from hub_outlook.send import PROPERTY_ID, SEND_LAG, marker

from .outlook_helpers import BRANCH, MAILBOX, FakeMicrosoft, deliver_directly, graph_error


class Crash(BaseException):
    """The process dies here: nothing after it runs, nothing uncommitted survives."""


def test_through_the_core_a_registration_mail_leaves(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    """The core plans the message and routes it to the branch's only mail channel: Outlook sends it."""
    candidate = make_candidate(email="aicha.benali@example.org", first_name="Aïcha", phone=None)
    outlook_hub.ingest(BRANCH, "tests", [make_event("candidate_registered", candidate=candidate)])
    report = outlook_hub.cycle()
    assert report.errors == []
    (mail,) = microsoft.sent()
    assert mail["toRecipients"] == [{"emailAddress": {"address": "aicha.benali@example.org",
                                                      "name": "Aïcha Benali"}}]
    assert "inscription" in mail["subject"] and "Bonjour Aïcha" in mail["body"]["content"]
    assert mail["body"]["contentType"] == "html"


def test_normal_case_costs_two_graph_requests_and_one_token(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    calls = microsoft.calls_since()
    first, second = make_message(), make_message(html=None, headers={"X-Cravate-Purpose": "booking",
                                                                     "List-Unsubscribe": "<mailto:u@x.invalid>"})
    deliver_directly(outlook_hub, first, "k1")
    assert calls() == ["create", "send"]
    deliver_directly(outlook_hub, second, "k2")
    assert calls() == ["create", "send"]
    assert microsoft.token_posts == ["client_credentials"]  # one token for both, from MSAL's cache
    assert microsoft.discovery_gets == 1  # one MSAL application for the branch
    one, two = microsoft.sent()
    assert one["body"] == {"contentType": "html", "content": first.html}
    assert two["body"] == {"contentType": "text", "content": second.text}
    assert two["internetMessageHeaders"] == [{"name": "X-Cravate-Purpose", "value": "booking"}]  # x- only
    assert one["from"] == {"emailAddress": {"address": MAILBOX, "name": "La Cravate Solidaire Lyon"}}
    assert one["singleValueExtendedProperties"] == [{"id": PROPERTY_ID, "value": marker("k1")}]
    assert microsoft.drafts() == []


def test_the_same_delivery_twice_sends_one_mail(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    message = make_message()
    deliver_directly(outlook_hub, message, "same-key")
    calls = microsoft.calls_since()
    deliver_directly(outlook_hub, message, "same-key")
    assert calls() == [] and len(microsoft.sent()) == 1


def test_the_private_state_holds_ids_only(outlook_hub: Hub) -> None:
    message = make_message()
    deliver_directly(outlook_hub, message, "k-state")
    ctx = outlook_hub.context(BRANCH, "outlook")
    record = ctx.state_get("send:k-state")
    assert record["s"] == "sent" and record["msg"] == message.id and record["id"]
    dumped = repr(record) + repr(ctx.state_get("window"))
    for personal in (message.to, message.subject, message.text, str(message.to_name), MAILBOX):
        assert personal not in dumped


def test_a_refused_recipient_is_dead_lettered_with_graph_s_code(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    outlook_hub.context(BRANCH, "outlook")
    deliver_directly(outlook_hub, make_message(), "warm-up")
    microsoft.graph_answers.append(httpx.Response(400, json=graph_error(
        "ErrorInvalidRecipients", "At least one recipient isn't valid., Recipient 'x@y' is not resolved.")))
    with pytest.raises(DeliveryRejected) as caught:
        deliver_directly(outlook_hub, make_message(to="pas-une-adresse@example.org"), "bad")
    assert "ErrorInvalidRecipients" in str(caught.value) and "x@y" not in str(caught.value)
    assert "pas-une-adresse" not in str(caught.value)


# --- crashes ------------------------------------------------------------------------------------------------

@pytest.fixture
def crash_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, bool], None]]:
    """crash_at("create_draft", after=True): the process dies right after (or before) that Graph call."""
    def arm(method: str, after: bool) -> None:
        real = getattr(GraphClient, method)

        def crashing(self: GraphClient, *args: Any, **kw: Any) -> Any:
            monkeypatch.setattr(GraphClient, method, real)  # once
            if after:
                real(self, *args, **kw)
            raise Crash(method)
        monkeypatch.setattr(GraphClient, method, crashing)
    yield arm


@pytest.mark.parametrize(("method", "after", "wait", "redelivery"), [
    ("create_draft", False, 0, ["find", "create", "send"]),  # "new", no draft made
    ("create_draft", True, 0, ["find", "send"]),  # "new", the draft exists: found by its property
    ("send_draft", False, SEND_LAG, ["get", "send"]),  # "draft", still a draft once the lag is over
    ("send_draft", True, 0, ["get"]),  # "draft", already sent: isDraft false (same immutable id)
])
def test_a_crash_at_each_step_still_sends_exactly_one_mail(outlook_hub: Hub, microsoft: FakeMicrosoft,
                                                          clock: FakeClock, crash_at: Callable[[str, bool], None],
                                                          method: str, after: bool, wait: float,
                                                          redelivery: list[str]) -> None:
    message = make_message(subject="Le message sous test")
    deliver_directly(outlook_hub, make_message(), "warm-up")
    crash_at(method, after)
    with pytest.raises(Crash):
        deliver_directly(outlook_hub, message, "key-1")
    clock.advance(wait)
    calls = microsoft.calls_since()
    deliver_directly(outlook_hub, message, "key-1")  # the hub starts again and re-delivers under the same key
    assert calls() == redelivery
    deliver_directly(outlook_hub, message, "key-1")
    assert calls() == []
    assert [m["subject"] for m in microsoft.sent()].count(message.subject) == 1
    assert len(microsoft.sent()) == 2 and microsoft.drafts() == []


@pytest.mark.parametrize("after", [False, True], ids=["before the send", "after the send"])
def test_a_send_is_counted_in_the_minute_once_even_across_a_crash(outlook_hub: Hub, microsoft: FakeMicrosoft,
                                                                   clock: FakeClock,
                                                                   crash_at: Callable[[str, bool], None],
                                                                   after: bool) -> None:
    """Counted with the draft's id, before the send: a process killed right after a send still has it in the
    minute's count, so the next daemon cannot send a 31st that minute (Exchange would answer 429)."""
    crash_at("send_draft", after)
    with pytest.raises(Crash):
        deliver_directly(outlook_hub, make_message(), "k")
    assert len(outlook_hub.context(BRANCH, "outlook").state_get("window")["recent"]) == 1
    clock.advance(SEND_LAG)
    deliver_directly(outlook_hub, make_message(), "k")  # the re-delivery (sends, or finds it sent)
    assert sum(outlook_hub.context(BRANCH, "outlook").state_get("window")["buckets"].values()) == 1  # not twice
    assert len(microsoft.sent()) == 1


def test_a_draft_still_a_draft_right_after_the_send_is_not_sent_again(
        outlook_hub: Hub, microsoft: FakeMicrosoft, clock: FakeClock,
        crash_at: Callable[[str, bool], None]) -> None:
    """The send's 202 came, the process died, Exchange has not moved the message out of Drafts yet: the repeat
    within SEND_LAG waits instead of sending; once the lag is over the message reads as sent."""
    message = make_message()
    crash_at("send_draft", True)
    with pytest.raises(Crash):
        deliver_directly(outlook_hub, message, "k")
    (sent_id,) = [i for i, m in microsoft.messages.items() if not m["isDraft"]]
    microsoft.messages[sent_id]["isDraft"] = True  # Exchange's lag: still reads as a draft
    clock.advance(10)
    calls = microsoft.calls_since()
    with pytest.raises(PluginNotReady) as caught:
        deliver_directly(outlook_hub, message, "k")
    assert calls() == ["get"] and caught.value.retry_after == SEND_LAG - 10
    microsoft.messages[sent_id]["isDraft"] = False  # Exchange caught up
    clock.advance(SEND_LAG)
    deliver_directly(outlook_hub, message, "k")
    assert calls() == ["get"] and len(microsoft.sent()) == 1


def test_a_draft_deleted_before_its_send_is_made_again(outlook_hub: Hub, microsoft: FakeMicrosoft,
                                                      clock: FakeClock,
                                                      crash_at: Callable[[str, bool], None]) -> None:
    message = make_message()
    crash_at("send_draft", False)
    with pytest.raises(Crash):
        deliver_directly(outlook_hub, message, "k")
    microsoft.messages.clear()  # staff deleted the draft (and emptied Deleted Items)
    calls = microsoft.calls_since()
    deliver_directly(outlook_hub, message, "k")
    assert calls() == ["get", "find", "create", "send"] and len(microsoft.sent()) == 1


# --- limits -------------------------------------------------------------------------------------------------

def test_the_31st_mail_of_a_minute_waits_without_a_request(outlook_hub: Hub, microsoft: FakeMicrosoft,
                                                          clock: FakeClock) -> None:
    for n in range(30):
        deliver_directly(outlook_hub, make_message(), f"k{n}")
        clock.advance(1)
    calls = microsoft.calls_since()
    with pytest.raises(PluginNotReady) as caught:
        deliver_directly(outlook_hub, make_message(), "k30")
    assert calls() == [] and caught.value.retry_after == 30  # the first of the 30 leaves the minute then
    clock.advance(30)
    deliver_directly(outlook_hub, make_message(), "k30")
    assert calls() == ["create", "send"]


def test_the_day_s_recipients_limit_defers(make_outlook_hub: Callable[..., Hub], microsoft: FakeMicrosoft,
                                           clock: FakeClock) -> None:
    hub = make_outlook_hub(daily_recipients=3)
    for n in range(3):
        deliver_directly(hub, make_message(), f"k{n}")
        clock.advance(600)
    calls = microsoft.calls_since()
    with pytest.raises(PluginNotReady) as caught:
        deliver_directly(hub, make_message(), "k3")
    assert calls() == [] and "destinataires par 24 h" in str(caught.value)
    assert caught.value.retry_after == 24 * 3600 - 3 * 600 + 300  # the first bucket's end
    assert sum(hub.context(BRANCH, "outlook").state_get("window")["buckets"].values()) == 3


def test_the_default_day_limit_is_exchange_s_ten_thousand(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    ctx = outlook_hub.context(BRANCH, "outlook").for_delivery("k")
    now = int(ctx.now().timestamp()) // 300 * 300
    ctx.state_put("window", {"recent": [], "buckets": {str(now - 300): 9_999}, "blocked_until": 0})
    with outlook_hub.store.transaction():
        ctx.flush_state()
    deliver_directly(outlook_hub, make_message(), "ten-thousandth")  # the 10,000th recipient goes
    calls = microsoft.calls_since()
    with pytest.raises(PluginNotReady, match="10000 destinataires"):
        deliver_directly(outlook_hub, make_message(), "one-more")
    assert calls() == []


def test_a_429_pauses_the_channel_for_retry_after(outlook_hub: Hub, microsoft: FakeMicrosoft,
                                                  clock: FakeClock) -> None:
    deliver_directly(outlook_hub, make_message(), "warm-up")
    microsoft.graph_answers.append(httpx.Response(429, headers={"Retry-After": "17"}, json=graph_error(
        "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")))
    with pytest.raises(PluginNotReady) as caught:
        deliver_directly(outlook_hub, make_message(), "throttled")
    assert caught.value.retry_after == 17
    calls = microsoft.calls_since()
    with pytest.raises(PluginNotReady) as again:
        deliver_directly(outlook_hub, make_message(), "another")
    assert calls() == [] and again.value.retry_after == 17  # no request while Graph's pause lasts
    clock.advance(17)
    deliver_directly(outlook_hub, make_message(), "throttled")
    assert calls() == ["find", "create", "send"]  # "new" was committed before the create that got the 429
    assert len(microsoft.sent()) == 2



def test_a_send_made_minutes_after_its_draft_counts_in_the_minute_it_is_made(
        outlook_hub: Hub, microsoft: FakeMicrosoft, clock: FakeClock,
        crash_at: Callable[[str, bool], None]) -> None:
    """Counted when its draft was committed, sent only after a crash and SEND_LAG: Exchange counts it now, so the
    minute's window must too (else a 31st mail could go that minute)."""
    crash_at("send_draft", False)
    with pytest.raises(Crash):
        deliver_directly(outlook_hub, make_message(), "k")
    clock.advance(SEND_LAG)
    deliver_directly(outlook_hub, make_message(), "k")
    window = outlook_hub.context(BRANCH, "outlook").state_get("window")
    assert window["recent"] == [clock().timestamp()]
    assert sum(window["buckets"].values()) == 1  # one recipient in the day, not two
    assert len(microsoft.sent()) == 1
