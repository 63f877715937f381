"""Attachments (the monthly report's HTML page): what the recipient's mail client reads back, and Gmail's size
limit, which the sandbox holds as Gmail does."""

from __future__ import annotations

import pytest
from gmail_helpers import BRANCH, deliver_directly, new_requests

from hub.app import Hub
from hub.errors import DeliveryRejected
from hub.events import Attachment
from hub.testing import make_message
from hub_gmail.sandbox import GmailSandbox, max_message_bytes

PAGE = "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Bilan</title></head>" \
       "<body><h1>Réseau — janvier 2027</h1><svg viewBox=\"0 0 10 10\"><rect width=\"5\" height=\"5\"/></svg>" \
       "</body></html>\n"


def staff_mail(*attachments: Attachment) -> object:
    return make_message(purpose="monthly_report", recipient="staff", to="direction@cravate.org", to_name=None,
                        candidate_id=None, subject="[cravate-hub] Réseau : les chiffres de janvier 2027",
                        text="Bonjour,\n\nLe rapport est en pièce jointe.\n", html="<p>Le rapport est en pièce "
                        "jointe.</p>", attachments=attachments)


def test_an_attachment_arrives_as_multipart_mixed_with_its_name(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    name = "bilan réseau — janvier 2027.html"  # non-ASCII: RFC 2231 in the header, the name read back whole
    message = staff_mail(Attachment.of(name, "text/html", PAGE.encode()))
    deliver_directly(gmail_hub, message, "report-key")
    (mail,) = sandbox.sent(BRANCH)
    assert mail.get_content_type() == "multipart/mixed"
    body, attached = list(mail.iter_parts())
    assert body.get_content_type() == "multipart/alternative"  # the text and HTML body, then the file
    text = mail.get_body(("plain",))
    assert text is not None and "pièce jointe" in text.get_content()
    assert attached.get_content_disposition() == "attachment"
    assert attached.get_filename() == name
    assert attached.get_content_type() == "text/html"
    assert attached.get_payload(decode=True) == PAGE.encode()
    assert list(mail.iter_attachments()) == [attached]


def test_a_filename_is_written_with_rfc_2231_when_not_ascii(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    message = staff_mail(Attachment.of("rapport-réseau.html", "text/html", b"<p>x</p>"))
    deliver_directly(gmail_hub, message, "k-2231")
    raw = sandbox.mailbox(BRANCH).messages
    stored = next(m for m in raw.values() if "SENT" in m.labels)
    assert b"filename*=utf-8''rapport-r%C3%A9seau.html" in stored.raw
    assert stored.raw.isascii()  # nothing 8-bit on the wire


def test_a_message_bigger_than_gmail_takes_is_refused_and_not_sent(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    limit = max_message_bytes()
    assert limit == 36_700_160  # 35 MB: drafts.create's maxSize in the discovery document
    too_big = Attachment.of("enorme.bin", "application/octet-stream", b"\0" * (limit * 3 // 4 + 1024))
    requests = new_requests(sandbox)
    with pytest.raises(DeliveryRejected, match="413"):  # dead letter: trying again changes nothing
        deliver_directly(gmail_hub, staff_mail(too_big), "too-big")
    assert "drafts.create" in requests()
    assert [r.status for r in sandbox.requests if r.method == "drafts.create"] == [413]
    assert sandbox.sent(BRANCH) == [] and sandbox.drafts(BRANCH) == []
