"""After `hub restore` put back an older database: a mail the channel sent since the backup is not sent again.

The restore is simulated as what it leaves: the channel's private state about the delivery is gone (its
`send:` record and the `gm:` record of its Gmail id), and the store says when the database was restored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from gmail_helpers import ADDRESSES, BRANCH, Crash, deliver_directly, new_requests

from hub.app import Hub
from hub.testing import FakeClock, make_message
from hub_gmail import send
from hub_gmail.sandbox import GmailSandbox
from hub_gmail.sandbox_mailbox import parse_query

TO = "aicha.benali@example.org"





def lose(hub: Hub, key: str) -> None:
    """What a restore from a backup taken before this delivery leaves of it: no `send:` record, no `gm:`."""
    ctx = hub.context(BRANCH, "gmail")
    record = ctx.state_get(send.state_key(key))
    if isinstance(record, dict) and record.get("g"):
        ctx.state_delete(send.gmail_key(str(record["g"])))
    ctx.state_delete(send.state_key(key))


def restored(hub: Hub) -> None:
    hub.store.meta_put("restored_at", hub.clock().isoformat())


def sent_with(sandbox: GmailSandbox, subject: str) -> int:
    return [str(m["Subject"]) for m in sandbox.sent(BRANCH)].count(subject)


@pytest.fixture
def hub(make_gmail_hub: Callable[..., Hub]) -> Hub:
    return make_gmail_hub(sender=ADDRESSES[BRANCH])  # no getProfile in the counts


@pytest.mark.parametrize("rewrite", [True, False], ids=["gmail-rewrites-message-id", "gmail-keeps-it"])
def test_a_mail_sent_after_the_backup_is_not_sent_again(hub: Hub, sandbox: GmailSandbox, rewrite: bool) -> None:
    sandbox.rewrite_message_id = rewrite
    message = make_message(to=TO, subject="Votre inscription")
    deliver_directly(hub, message, "k1")
    lose(hub, "k1")
    restored(hub)
    requests = new_requests(sandbox)
    deliver_directly(hub, message, "k1")
    assert requests() == ["messages.list", "messages.get"]  # found by its marker: nothing sent
    assert sent_with(sandbox, "Votre inscription") == 1
    deliver_directly(hub, message, "k1")
    assert requests() == []  # recorded as sent again
    record = hub.context(BRANCH, "gmail").state_get(send.state_key("k1"))
    assert record["s"] == "sent" and record["msg"] == message.id
    assert hub.context(BRANCH, "gmail").state_get(send.gmail_key(record["g"])) == "k1"  # its bounces match again


def test_without_the_restore_mark_the_lost_delivery_is_sent_twice(hub: Hub, sandbox: GmailSandbox) -> None:
    """What the look-up prevents, and what it costs nothing outside a restore: 2 requests per mail."""
    message = make_message(to=TO, subject="Votre inscription")
    deliver_directly(hub, message, "k1")
    lose(hub, "k1")
    requests = new_requests(sandbox)
    deliver_directly(hub, message, "k1")
    assert requests() == ["drafts.create", "drafts.send"]
    assert sent_with(sandbox, "Votre inscription") == 2


def test_after_the_reconciliation_week_there_is_no_look_up(hub: Hub, sandbox: GmailSandbox, clock: FakeClock) -> None:
    restored(hub)
    clock.advance(8 * 86400)
    requests = new_requests(sandbox)
    deliver_directly(hub, make_message(to=TO), "k-late")
    assert requests() == ["drafts.create", "drafts.send"]


def test_every_mail_carries_its_marker_a_hash_not_the_key(hub: Hub, sandbox: GmailSandbox) -> None:
    deliver_directly(hub, make_message(to=TO, headers={"x-cravate-delivery": "forged"}), "msg_123:gmail")
    (mail,) = sandbox.sent(BRANCH)
    assert mail.get_all("X-Cravate-Delivery") == [send.marker("msg_123:gmail")]
    assert "msg_123" not in send.marker("msg_123:gmail")




def test_an_unsent_draft_from_before_the_restore_is_sent_once(hub: Hub, sandbox: GmailSandbox,
                                                            crash_at: Callable[[str, bool], None]) -> None:
    message = make_message(to=TO, subject="Votre rendez-vous")
    crash_at("send_draft", False)
    with pytest.raises(Crash):
        deliver_directly(hub, message, "k2")
    assert len(sandbox.drafts(BRANCH)) == 1 and sandbox.sent(BRANCH) == []
    lose(hub, "k2")
    restored(hub)
    requests = new_requests(sandbox)
    deliver_directly(hub, message, "k2")
    assert requests() == ["messages.list", "messages.get", "drafts.list", "drafts.send"]
    assert sent_with(sandbox, "Votre rendez-vous") == 1 and sandbox.drafts(BRANCH) == []
    deliver_directly(hub, message, "k2")
    assert requests() == []


def test_a_restored_new_record_whose_mail_went_since_is_not_sent_again(hub: Hub, sandbox: GmailSandbox) -> None:
    """The backup was taken while the draft was being made ("new"); the mail went after it. Without the
    look-up the "new" path finds no draft (it was sent) and would make another."""
    message = make_message(to=TO, subject="Votre inscription")
    deliver_directly(hub, message, "k3")
    lose(hub, "k3")
    hub.context(BRANCH, "gmail").state_put(send.state_key("k3"), {"s": "new", "c": message.candidate_id})
    restored(hub)
    requests = new_requests(sandbox)
    deliver_directly(hub, message, "k3")
    assert requests() == ["messages.list", "messages.get"]
    assert sent_with(sandbox, "Votre inscription") == 1


def test_other_mails_to_the_address_are_read_once_and_known_ones_not_at_all(hub: Hub,
                                                                           sandbox: GmailSandbox) -> None:
    first, second, third = (make_message(to=TO, subject=f"Message {n}") for n in (1, 2, 3))
    deliver_directly(hub, first, "a")  # before the backup: its gm: record is restored
    deliver_directly(hub, second, "b")
    deliver_directly(hub, third, "c")
    sandbox.receive(BRANCH, f"From: Aicha <{TO}>\r\nTo: {ADDRESSES[BRANCH]}\r\nSubject: Merci\r\n\r\nMerci !\r\n"
                    .encode())  # her answer: not a sent mail, not listed
    lose(hub, "b")
    lose(hub, "c")
    restored(hub)
    requests = new_requests(sandbox)
    deliver_directly(hub, second, "b")
    assert requests() == ["messages.list", "messages.get", "messages.get"]  # c (newest) then b; a is known
    deliver_directly(hub, third, "c")
    assert requests() == ["messages.list", "messages.get"]  # b is known now; c read again as it is ours
    deliver_directly(hub, make_message(to=TO, subject="Message 4"), "d")  # a new mail meanwhile
    assert requests() == ["messages.list", "drafts.create", "drafts.send"]
    assert [str(m["Subject"]) for m in sandbox.sent(BRANCH)] == [f"Message {n}" for n in (1, 2, 3, 4)]


def test_staff_mail_to_the_same_address_is_not_taken_for_ours(hub: Hub, sandbox: GmailSandbox) -> None:
    restored(hub)
    box = sandbox.mailbox(BRANCH)
    box.add(f"From: {ADDRESSES[BRANCH]}\r\nTo: {TO}\r\nSubject: Votre inscription\r\n"
            f"X-Cravate-Delivery: {send.marker('someone-else')}\r\n\r\nBonjour\r\n".encode(), ["SENT"], sandbox.clock())
    requests = new_requests(sandbox)
    deliver_directly(hub, make_message(to=TO, subject="Votre inscription"), "k4")
    assert requests() == ["messages.list", "messages.get", "drafts.create", "drafts.send"]
    assert sent_with(sandbox, "Votre inscription") == 2


def test_a_sent_mail_staff_trashed_still_counts_as_sent(hub: Hub, sandbox: GmailSandbox) -> None:
    message = make_message(to=TO, subject="Votre inscription")
    deliver_directly(hub, message, "k5")
    record = hub.context(BRANCH, "gmail").state_get(send.state_key("k5"))
    sandbox.mailbox(BRANCH).trash(record["g"], sandbox.clock())
    lose(hub, "k5")
    restored(hub)
    deliver_directly(hub, message, "k5")
    assert sum(1 for m in sandbox.mailbox(BRANCH).messages.values() if "SENT" in m.labels) == 1


def test_a_mail_sent_before_the_reach_is_not_looked_at(hub: Hub, sandbox: GmailSandbox, clock: FakeClock) -> None:
    message = make_message(to=TO, subject="Votre inscription")
    deliver_directly(hub, message, "k6")
    clock.advance(send.REACH_DAYS * 86400 + 3600)
    lose(hub, "k6")
    restored(hub)
    requests = new_requests(sandbox)
    deliver_directly(hub, message, "k6")
    assert requests() == ["messages.list", "drafts.create", "drafts.send"]


# --- the sandbox is strict about what the look-up relies on ----------------------------------------------------

def test_the_marker_survives_the_send_but_no_search_finds_it(hub: Hub, sandbox: GmailSandbox,
                                                             clock: FakeClock) -> None:
    deliver_directly(hub, make_message(to=TO, subject="Votre inscription"), "k7")
    box = sandbox.mailbox(BRANCH)
    (stored,) = [m for m in box.messages.values() if "SENT" in m.labels]
    value = send.marker("k7")
    assert stored.mail["X-Cravate-Delivery"] == value  # kept in the Sent copy
    assert box.search(value, clock()) == []  # a plain word is not a header search
    assert [m.id for m in box.search(f"to:{TO} {{in:sent in:drafts}}", clock())] == [stored.id]
    now = int(clock().timestamp())
    assert [m.id for m in box.search(f"after:{now - 60}", clock())] == [stored.id]
    assert box.search(f"after:{now + 60}", clock()) == []
    assert [m.id for m in box.search((clock() + timedelta(days=2)).strftime("before:%Y/%m/%d"), clock())] \
        == [stored.id]
    assert [m.id for m in box.search("votre inscription", clock())] == [stored.id]  # the subject: yes
    with pytest.raises(ValueError, match="not faked"):
        parse_query("{in:sent header:x-cravate-delivery}")
    with pytest.raises(ValueError, match="not a date"):
        parse_query("after:2026-12-03T10:00:00Z")  # Gmail reads a date or seconds, not a time of day
