"""The `rebonds` source: a DSN about a mail the hub sent becomes message_bounced; the rest costs little."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from gmail_helpers import BRANCH, deliver_directly, poll, poller, registered

from hub.app import Hub
from hub.events import EventKind
from hub.testing import FakeClock, make_message
from hub_gmail import dsn
from hub_gmail.sandbox import GmailSandbox


def sent_to(hub: Hub, address: str = "aicha@example.org") -> tuple[str, str]:
    """A known candidate and a mail the hub sent to them: (candidate id, hub message id)."""
    candidate = registered(hub, email=address)
    assert candidate.id
    message = make_message(candidate)
    deliver_directly(hub, message, f"{message.id}:gmail")
    return candidate.id, message.id


def test_an_idle_poll_is_one_request(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    assert poll(gmail_hub) == []
    assert sandbox.methods(BRANCH) == ["getProfile"]  # the first poll starts from now
    assert poll(gmail_hub) == []
    assert sandbox.methods(BRANCH)[1:] == ["history.list"]


def test_a_bounce_names_the_hub_message_and_the_candidate(gmail_hub: Hub, sandbox: GmailSandbox,
                                                          clock: FakeClock) -> None:
    poll(gmail_hub)
    candidate_id, message_id = sent_to(gmail_hub)
    clock.advance(minutes=20)
    dsn_id = sandbox.bounce("aicha@example.org")
    mark = len(sandbox.methods(BRANCH))
    (event,) = poll(gmail_hub)
    assert event.kind is EventKind.MESSAGE_BOUNCED and event.source_id == dsn_id and event.source == "gmail"
    assert event.bounce is not None and event.bounce.message_id == message_id
    assert gmail_hub.planner.bounced(BRANCH, "aicha@example.org") and event.bounce.permanent
    assert event.bounce.reason.startswith("5.1.1 ") and "@" not in event.bounce.reason
    assert event.candidate is not None and event.candidate.id == candidate_id
    assert event.occurred_at == clock()
    # history, the DSN's headers, the DSN, then the one search for the Message-ID Gmail gave our mail
    assert sandbox.methods(BRANCH)[mark:] == ["history.list", "messages.get", "messages.get", "messages.list"]
    assert poll(gmail_hub) == []  # read once


def test_when_gmail_keeps_our_message_id_no_search_is_needed(make_gmail_hub: Callable[..., Hub],
                                                             sandbox: GmailSandbox) -> None:
    sandbox.rewrite_message_id = False
    hub = make_gmail_hub()
    poll(hub)
    _, message_id = sent_to(hub)
    sandbox.bounce("aicha@example.org")
    mark = len(sandbox.methods(BRANCH))
    (event,) = poll(hub)
    assert event.bounce is not None and event.bounce.message_id == message_id
    assert sandbox.methods(BRANCH)[mark:] == ["history.list", "messages.get", "messages.get"]


def test_a_temporary_failure_is_not_a_bounce(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    poll(gmail_hub)
    sent_to(gmail_hub)
    sandbox.bounce("aicha@example.org", temporary=True)
    assert poll(gmail_hub) == []
    assert gmail_hub.store.list_events(branch=BRANCH, kind="message_bounced") == []


def test_an_ordinary_mail_costs_one_header_read(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    poll(gmail_hub)
    sandbox.receive(BRANCH, b"From: Aicha <aicha@example.org>\r\nTo: lyon@cravate.org\r\nSubject: Merci\r\n"
                            b"Message-ID: <1@example.org>\r\n\r\nMerci beaucoup !\r\n")
    mark = len(sandbox.methods(BRANCH))
    assert poll(gmail_hub) == []
    assert sandbox.methods(BRANCH)[mark:] == ["history.list", "messages.get"]


def test_a_bounce_of_a_mail_staff_sent_by_hand_is_skipped(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    from datetime import UTC, datetime

    poll(gmail_hub)
    box = sandbox.mailbox(BRANCH)
    box.add(b"From: lyon@cravate.org\r\nTo: ami@example.org\r\nSubject: Bonjour\r\nMessage-ID: <hand@x.org>\r\n"
            b"\r\nA la main\r\n", ["SENT"], datetime.now(UTC))
    sandbox.bounce("ami@example.org")
    assert poll(gmail_hub) == []


def test_an_expired_history_id_means_a_full_sync(gmail_hub: Hub, sandbox: GmailSandbox,
                                                 clock: FakeClock) -> None:
    poll(gmail_hub)
    _, message_id = sent_to(gmail_hub)
    sandbox.bounce("aicha@example.org")
    clock.advance(timedelta(days=2).total_seconds())
    sandbox.expire_history(BRANCH)
    mark = len(sandbox.methods(BRANCH))
    (event,) = poll(gmail_hub)
    assert event.bounce is not None and event.bounce.message_id == message_id
    assert sandbox.methods(BRANCH)[mark:] == ["history.list", "getProfile", "messages.list", "messages.get",
                                              "messages.get", "messages.list"]
    assert sandbox.requests[-6].status == 404  # decided by the endpoint: the body is any notFound's
    assert poll(gmail_hub) == [] and sandbox.methods(BRANCH)[-1] == "history.list"  # back to one request
    assert gmail_hub.store.cursor(BRANCH, "gmail", "rebonds") == str(sandbox.mailbox(BRANCH).history_id)


def test_resync_reads_the_last_days_again(gmail_hub: Hub, sandbox: GmailSandbox, clock: FakeClock) -> None:
    poll(gmail_hub)
    sent_to(gmail_hub)
    sandbox.bounce("aicha@example.org")
    assert len(poll(gmail_hub)) == 1
    source = poller(gmail_hub)
    cursor = source.resync_cursor(clock() - timedelta(days=3))
    assert cursor == "full:4"
    result = source.poll(cursor)
    assert len(result.events) == 1  # the same bounce, which the hub drops as already stored
    assert gmail_hub.ingest(BRANCH, "gmail", result.events) == []


def test_a_dsn_is_read_from_its_parts() -> None:
    raw = (b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\n"
           b"X-Failed-Recipients: x@example.org\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/report; report-type="delivery-status"; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/plain\r\n\r\nNot delivered\r\n"
           b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
           b"Final-Recipient: rfc822;x@example.org\r\nAction: failed\r\nStatus: 5.2.2\r\n"
           b"Diagnostic-Code: smtp; 552 5.2.2 <x@example.org> mailbox full\r\n\r\n"
           b"--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <orig@cravate.org>\r\nSubject: s\r\n\r\nbody\r\n"
           b"--b--\r\n")
    report = dsn.parse(raw)
    assert report is not None and report.permanent
    assert (report.original_message_id, report.address, report.status) == ("<orig@cravate.org>", "x@example.org",
                                                                            "5.2.2")
    assert report.reason == "5.2.2 552 5.2.2 <adresse> mailbox full"
    assert dsn.parse(b"From: a@b.org\r\nSubject: hello\r\n\r\nhi\r\n") is None
