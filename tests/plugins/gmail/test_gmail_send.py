"""message_due: one mail per delivery key, the minimum of requests, and exactly one mail after a crash anywhere."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from gmail_helpers import ADDRESSES, BRANCH, Crash, deliver_directly, message_for, new_requests, registered

import hub_gmail.client
from hub.app import Hub
from hub.testing import make_message
from hub_gmail.sandbox import GmailSandbox


def test_through_the_core_a_registration_mail_leaves(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    """The core plans the message, routes it to the branch's only mail channel; the candidate gets it."""
    candidate = registered(gmail_hub, email="aicha.benali@example.org", first_name="Aïcha")
    report = gmail_hub.cycle()
    assert report.errors == []
    (mail,) = sandbox.sent(BRANCH)
    assert mail["To"].addresses[0].addr_spec == "aicha.benali@example.org"
    assert "inscription" in str(mail["Subject"])
    text = mail.get_body(("plain",))
    assert text is not None and "Bonjour Aïcha" in text.get_content()
    assert mail["From"].addresses[0].addr_spec == ADDRESSES[BRANCH]
    assert candidate.id


def test_normal_case_costs_two_requests(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    requests = new_requests(sandbox)
    first, second = make_message(), make_message()
    deliver_directly(gmail_hub, first, f"{first.id}:gmail")
    assert requests() == ["getProfile", "drafts.create", "drafts.send"]  # the sender address, once per process
    deliver_directly(gmail_hub, second, f"{second.id}:gmail")
    assert requests() == ["drafts.create", "drafts.send"]
    assert [m["Subject"] for m in sandbox.sent(BRANCH)] == [first.subject, second.subject]
    assert sandbox.drafts(BRANCH) == []


def test_with_a_configured_sender_no_profile_is_read(make_gmail_hub: Callable[..., Hub],
                                                     sandbox: GmailSandbox) -> None:
    hub = make_gmail_hub(sender=ADDRESSES[BRANCH], from_name="La Cravate Solidaire Lyon")
    requests = new_requests(sandbox)
    message = make_message(from_name=None)
    deliver_directly(hub, message, "k1")
    assert requests() == ["drafts.create", "drafts.send"]
    assert sandbox.sent(BRANCH)[0]["From"].addresses[0].display_name == "La Cravate Solidaire Lyon"


def test_the_same_delivery_twice_sends_one_mail(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    message = make_message()
    deliver_directly(gmail_hub, message, "same-key")
    requests = new_requests(sandbox)
    deliver_directly(gmail_hub, message, "same-key")
    assert requests() == [] and len(sandbox.sent(BRANCH)) == 1


def test_the_private_state_holds_ids_only(gmail_hub: Hub) -> None:
    message = make_message()
    deliver_directly(gmail_hub, message, "k-state")
    ctx = gmail_hub.context(BRANCH, "gmail")
    record = ctx.state_get("send:k-state")
    assert record["s"] == "sent" and record["msg"] == message.id
    assert ctx.state_get(f"gm:{record['g']}") == "k-state"
    dumped = repr(record) + repr(ctx.state_get("window"))
    for personal in (message.to, message.subject, message.text, str(message.to_name), ADDRESSES[BRANCH]):
        assert personal not in dumped


# --- crashes ------------------------------------------------------------------------------------------------



@pytest.mark.parametrize(("method", "after", "redelivery"), [
    ("create_draft", False, ["drafts.list", "drafts.create", "drafts.send"]),  # died while creating: no draft
    ("create_draft", True, ["drafts.list", "drafts.send"]),  # draft made, its id not committed: found again
    ("send_draft", False, ["drafts.get", "drafts.send"]),  # draft committed, not sent
    ("send_draft", True, ["drafts.get", "threads.get"]),  # sent, "sent" not committed: found in its thread
])
def test_a_crash_at_each_step_still_sends_exactly_one_mail(gmail_hub: Hub, sandbox: GmailSandbox,
                                                          crash_at: Callable[[str, bool], None], method: str,
                                                          after: bool, redelivery: list[str]) -> None:
    message = make_message(subject="Le message sous test")
    deliver_directly(gmail_hub, make_message(), "warm-up")  # the sender is known: only the send is counted
    crash_at(method, after)
    with pytest.raises(Crash):
        deliver_directly(gmail_hub, message, "key-1")
    requests = new_requests(sandbox)
    deliver_directly(gmail_hub, message, "key-1")  # the hub starts again and re-delivers under the same key
    assert requests() == redelivery
    deliver_directly(gmail_hub, message, "key-1")
    assert requests() == []
    assert [m["Subject"] for m in sandbox.sent(BRANCH)].count(message.subject) == 1
    assert len(sandbox.sent(BRANCH)) == 2 and sandbox.drafts(BRANCH) == []  # no draft left behind


def test_a_draft_staff_deleted_is_made_again(gmail_hub: Hub, sandbox: GmailSandbox,
                                            crash_at: Callable[[str, bool], None]) -> None:
    message = make_message(subject="Le message sous test")
    deliver_directly(gmail_hub, make_message(), "warm-up")
    crash_at("send_draft", False)
    with pytest.raises(Crash):
        deliver_directly(gmail_hub, message, "key-2")
    box = sandbox.mailbox(BRANCH)
    (draft_id,) = box.drafts
    box.remove(box.drafts.pop(draft_id))
    requests = new_requests(sandbox)
    deliver_directly(gmail_hub, message, "key-2")
    assert requests() == ["drafts.get", "threads.get", "messages.list", "drafts.create", "drafts.send"]
    assert [m["Subject"] for m in sandbox.sent(BRANCH)].count(message.subject) == 1


def test_when_gmail_keeps_our_message_id_a_sent_draft_is_also_found_by_it(
        make_gmail_hub: Callable[..., Hub], sandbox: GmailSandbox, crash_at: Callable[[str, bool], None]) -> None:
    sandbox.rewrite_message_id = False
    hub = make_gmail_hub()
    message = make_message()
    deliver_directly(hub, make_message(), "warm-up")
    crash_at("send_draft", True)
    with pytest.raises(Crash):
        deliver_directly(hub, message, "key-3")
    box = sandbox.mailbox(BRANCH)
    sent = [m for m in box.messages.values() if "SENT" in m.labels][-1]
    sent.thread_id = "moved-elsewhere"  # as if Gmail had put the sent mail in another thread
    requests = new_requests(sandbox)
    deliver_directly(hub, message, "key-3")
    assert requests() == ["drafts.get", "threads.get", "messages.list"]
    assert len(sandbox.sent(BRANCH)) == 2


# --- refusals -----------------------------------------------------------------------------------------------

def test_an_address_gmail_refuses_is_a_dead_letter_without_the_address(gmail_hub: Hub,
                                                                      sandbox: GmailSandbox) -> None:
    from hub.errors import DeliveryRejected

    message = make_message(to="personne@intranet")
    with pytest.raises(DeliveryRejected) as caught:
        deliver_directly(gmail_hub, message, "bad-to")
    assert "Invalid To header" in str(caught.value) and "personne" not in str(caught.value)
    assert isinstance(caught.value, hub_gmail.client.GmailRejected) and sandbox.sent(BRANCH) == []


def test_only_email_is_sent(gmail_hub: Hub) -> None:
    from hub.errors import DeliveryRejected

    with pytest.raises(DeliveryRejected, match="sms"):
        deliver_directly(gmail_hub, message_for(medium="sms"), "sms")
