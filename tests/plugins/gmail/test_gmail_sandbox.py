"""The sandbox speaks Gmail v1 to the real google-api-python-client and refuses what Gmail refuses."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from gmail_helpers import ADDRESSES, BRANCH, deliver_directly, token
from googleapiclient.errors import HttpError

from hub.app import Hub
from hub.testing import make_message
from hub_gmail.sandbox import RAW_REQUIRED, GmailSandbox

MAIL = (b"From: Lyon <lyon@cravate.org>\r\nTo: Aicha <aicha@example.org>\r\nSubject: Bonjour\r\n"
        b"Message-ID: <ours.cravate-hub@cravate.org>\r\n\r\nBonjour\r\n")


def raw(data: bytes = MAIL) -> str:
    return base64.urlsafe_b64encode(data).decode()


@pytest.fixture
def users(sandbox_url: str) -> Any:
    """The real client's `users()` resource, authorised as the lyon mailbox."""
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

    service = build("gmail", "v1", credentials=Credentials(token=token(BRANCH)),
                    client_options={"api_endpoint": sandbox_url + "/"}, static_discovery=True, cache_discovery=False)
    return service.users()


def error_of(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(HttpError) as caught:
        call.execute(num_retries=0)
    return int(caught.value.resp.status), json.loads(caught.value.content)["error"]


def test_unknown_ids_answer_googles_not_found(users: Any) -> None:
    for call in (users.drafts().get(userId="me", id="r123"), users.messages().get(userId="me", id="0123abcd"),
                 users.threads().get(userId="me", id="0123abcd"), users.drafts().send(userId="me", body={"id": "r1"})):
        status, error = error_of(call)
        assert status == 404 and error["status"] == "NOT_FOUND" and error["errors"][0]["reason"] == "notFound"
        assert error["message"] == "Requested entity was not found."


def test_an_expired_history_id_is_the_same_404(users: Any, sandbox: GmailSandbox) -> None:
    start = users.getProfile(userId="me").execute()["historyId"]
    assert users.history().list(userId="me", startHistoryId=start).execute()["historyId"] == start
    sandbox.expire_history(BRANCH)
    status, error = error_of(users.history().list(userId="me", startHistoryId=start))
    assert status == 404 and error == error_of(users.drafts().get(userId="me", id="nope"))[1]


def test_missing_or_malformed_raw_is_refused(users: Any) -> None:
    status, error = error_of(users.messages().send(userId="me", body={}))
    assert status == 400 and error["message"] == RAW_REQUIRED and error["status"] == "INVALID_ARGUMENT"
    status, error = error_of(users.drafts().create(userId="me", body={"message": {"raw": "pas du base64 !"}}))
    assert status == 400 and "Base64 decoding failed" in error["message"]
    status, error = error_of(users.messages().send(userId="me", body={"raw": raw(MAIL.replace(
        b"To: Aicha <aicha@example.org>\r\n", b""))}))
    assert error["message"] == "Recipient address required"
    status, error = error_of(users.messages().send(userId="me", body={"raw": raw(MAIL.replace(
        b"aicha@example.org", b"aicha"))}))
    assert error["message"] == "Invalid To header"


def test_bad_authorization_and_another_mailbox(users: Any, sandbox_url: str) -> None:
    import httpx

    for headers in ({"Authorization": "Bearer forged"}, {"Authorization": token(BRANCH)}, {}):
        reply = httpx.get(f"{sandbox_url}/gmail/v1/users/me/profile", headers=headers)
        error = reply.json()["error"]
        assert reply.status_code == 401 and error["status"] == "UNAUTHENTICATED"
        assert error["errors"][0]["reason"] == "authError"
    status, error = error_of(users.getProfile(userId=ADDRESSES["paris"]))
    assert status == 403


def test_a_sent_draft_is_a_new_message_in_its_thread(users: Any, sandbox: GmailSandbox) -> None:
    draft = users.drafts().create(userId="me", body={"message": {"raw": raw()}}).execute()
    assert draft["message"]["labelIds"] == ["DRAFT"]
    found = users.drafts().list(userId="me", q="rfc822msgid:ours.cravate-hub@cravate.org").execute()
    assert [d["id"] for d in found["drafts"]] == [draft["id"]]
    sent = users.drafts().send(userId="me", body={"id": draft["id"]}).execute()
    assert sent["id"] != draft["message"]["id"] and sent["threadId"] == draft["message"]["threadId"]
    assert sent["labelIds"] == ["SENT"]
    assert error_of(users.drafts().get(userId="me", id=draft["id"]))[0] == 404
    thread = users.threads().get(userId="me", id=sent["threadId"], format="minimal").execute()
    assert [m["labelIds"] for m in thread["messages"]] == [["SENT"]]
    (mail,) = sandbox.sent(BRANCH)
    assert mail["Message-ID"] != "<ours.cravate-hub@cravate.org>"  # Gmail's own on an API send
    assert users.messages().list(userId="me", q="rfc822msgid:ours.cravate-hub@cravate.org").execute() == {
        "resultSizeEstimate": 0}


def test_metadata_and_raw_formats(users: Any) -> None:
    sent = users.messages().send(userId="me", body={"raw": raw()}).execute()
    meta = users.messages().get(userId="me", id=sent["id"], format="metadata",
                                metadataHeaders=["Subject"]).execute()
    assert meta["payload"]["headers"] == [{"name": "Subject", "value": "Bonjour"}]
    full = users.messages().get(userId="me", id=sent["id"], format="raw").execute()
    assert b"Bonjour" in base64.urlsafe_b64decode(full["raw"])
    labels = {label["id"] for label in users.labels().list(userId="me").execute()["labels"]}
    assert {"INBOX", "SENT", "DRAFT"} <= labels


def test_an_operator_the_fake_does_not_know_is_an_error(users: Any) -> None:
    status, error = error_of(users.messages().list(userId="me", q="has:attachment"))
    assert status == 400 and "not faked" in error["message"]


def test_a_from_that_is_not_the_mailbox_is_replaced(users: Any, sandbox: GmailSandbox) -> None:
    users.messages().send(userId="me", body={"raw": raw(MAIL.replace(b"lyon@cravate.org", b"autre@cravate.org"))}
                          ).execute()
    assert sandbox.sent(BRANCH)[0]["From"].addresses[0].addr_spec == ADDRESSES[BRANCH]


def test_sent_mails_are_parsed_and_described_in_french(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    message = make_message(subject="Votre rendez-vous est confirmé")
    deliver_directly(gmail_hub, message, "k")
    (mail,) = sandbox.sent(BRANCH)
    assert mail["Subject"] == "Votre rendez-vous est confirmé"
    assert mail["To"].addresses[0].addr_spec == message.to
    text = mail.get_body(("plain",))
    assert text is not None and text.get_content().replace("\r\n", "\n").strip() == message.text
    sandbox.bounce(message.to)
    table = sandbox.describe(BRANCH)
    assert "Objet" in table and "Votre rendez-vous est confirmé" in table and "Aïcha B." in table
    assert "non (adresse inconnue)" in table and "@" not in table
    assert sandbox.describe("ailleurs") == "(pas de boîte Gmail pour cette antenne)"


def test_faults_can_be_injected(users: Any, sandbox: GmailSandbox) -> None:
    sandbox.fail_next(429)
    status, error = error_of(users.getProfile(userId="me"))
    assert status == 429 and "Retry after" in error["message"] and error["errors"][0]["reason"] == "rateLimitExceeded"
    sandbox.fail_next("daily", method="messages.send")
    users.getProfile(userId="me").execute()  # another method is not affected
    status, error = error_of(users.messages().send(userId="me", body={"raw": raw()}))
    assert status == 403 and error["errors"][0]["reason"] == "dailyLimitExceeded"
    sandbox.fail_next(503)
    assert error_of(users.getProfile(userId="me"))[0] == 503


def test_the_sandboxs_own_daily_limit(users: Any, sandbox: GmailSandbox) -> None:
    sandbox.daily_limit = 1
    users.messages().send(userId="me", body={"raw": raw()}).execute()
    status, error = error_of(users.messages().send(userId="me", body={"raw": raw()}))
    assert status == 429 and "Retry after" in error["message"]
