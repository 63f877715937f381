"""Attachments (the monthly report's HTML page) through Graph: the draft carries a fileAttachment, made with its
marker in one request, so a crash between the draft and its send still sends one mail, with its file; the
sandbox refuses an attachment as Graph does (its type, name and bytes required, under 3 MB)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import hub_outlook.plugin
from hub.app import Hub
from hub.errors import DeliveryRejected
from hub.events import Attachment, Message
from hub.sandbox import DemoContext
from hub.serving import ServerThread
from hub.testing import FakeClock, make_message
from hub_outlook.graph import GraphClient
from hub_outlook.sandbox import OutlookSandbox
from hub_outlook.sandbox_model import SentFile
from hub_outlook.send import SEND_LAG

from .outlook_helpers import deliver_directly
from .sandbox_helpers import CLIENT_ID, MAILBOX, SECRET, TENANT, Graph, app_token, message

BRANCH = "lyon"
PAGE = ("<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Bilan</title></head><body>"
        "<h1>Lyon — janvier 2027</h1><svg viewBox=\"0 0 10 10\"><rect width=\"5\" height=\"5\"/></svg></body></html>")
GRAPH_ROUTES = ("POST /users/{m}/messages", "POST /users/{m}/messages/{id}/send", "GET /users/{m}/messages/{id}",
                "GET /users/{m}/messages")


class Crash(BaseException):
    """The process dies here: nothing after it runs, nothing uncommitted survives."""


def report_mail(name: str = "rapport-lyon-2027-01.html", data: bytes = PAGE.encode()) -> Message:
    return make_message(purpose="monthly_report", recipient="staff", to="direction@cravate.org", to_name=None,
                        candidate_id=None, subject="[cravate-hub] Lyon : les chiffres de janvier 2027",
                        text="Bonjour,\n\nLe rapport est en pièce jointe.\n", html="<p>Le rapport est en pièce "
                        "jointe.</p>", attachments=(Attachment.of(name, "text/html", data),))


@pytest.fixture
def sandbox(outlook_sandbox: tuple[OutlookSandbox, str]) -> tuple[OutlookSandbox, str]:
    return outlook_sandbox


@pytest.fixture
def hub(sandbox: tuple[OutlookSandbox, str], make_hub: Callable[..., Hub], clock: FakeClock,
        register_plugin: Callable[[str, object], object]) -> Hub:
    fake, url = sandbox
    register_plugin("outlook", hub_outlook.plugin)
    demo = DemoContext(branch=BRANCH, base_url=url, people=[], now=clock)
    return make_hub({BRANCH: {"plugins": ["outlook"], "outlook": {**fake.demo_settings(demo), "source": False}}},
                    environ=fake.demo_environ(demo))


def graph_requests(fake: OutlookSandbox) -> list[str]:
    return [r.route for r in fake.requests() if r.route in GRAPH_ROUTES]


def test_the_draft_carries_the_file_and_the_mail_leaves_with_it(hub: Hub, sandbox: tuple[OutlookSandbox, str]) -> None:
    fake, _ = sandbox
    name = "bilan réseau — janvier 2027.html"
    deliver_directly(hub, report_mail(name), "k-report")
    (mail,) = fake.sent(BRANCH)
    assert mail.to == ["direction@cravate.org"] and "pièce jointe" in mail.body
    assert mail.attachments == [SentFile(name, "text/html", PAGE.encode())]
    # the file goes in the draft's own JSON: still 2 requests a mail, no POST .../attachments
    assert graph_requests(fake) == ["POST /users/{m}/messages", "POST /users/{m}/messages/{id}/send"]
    assert fake.drafts(BRANCH) == []


def test_a_crash_between_the_draft_and_its_send_still_sends_one_mail_with_its_file(
        hub: Hub, sandbox: tuple[OutlookSandbox, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, _ = sandbox
    real_send = GraphClient.send_draft

    def die_before_sending(self: GraphClient, message_id: str) -> None:
        raise Crash
    monkeypatch.setattr(GraphClient, "send_draft", die_before_sending)
    mail = report_mail()
    with pytest.raises(Crash):
        deliver_directly(hub, mail, "k-crash")
    (draft,) = fake.drafts(BRANCH)
    assert draft["hasAttachments"] is True  # the draft was made whole, its file in it
    monkeypatch.setattr(GraphClient, "send_draft", real_send)
    clock.advance(SEND_LAG)
    deliver_directly(hub, mail, "k-crash")  # the re-delivery after the restart
    deliver_directly(hub, mail, "k-crash")  # and once more: nothing
    (sent,) = fake.sent(BRANCH)
    assert sent.attachments == [SentFile("rapport-lyon-2027-01.html", "text/html", PAGE.encode())]
    assert fake.drafts(BRANCH) == []


def test_a_crash_after_the_draft_before_its_id_was_kept_sends_the_draft_found(
        hub: Hub, sandbox: tuple[OutlookSandbox, str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake, _ = sandbox
    real_create = GraphClient.create_draft

    def create_then_die(self: GraphClient, body: dict[str, Any]) -> dict[str, Any]:
        real_create(self, body)
        raise Crash
    monkeypatch.setattr(GraphClient, "create_draft", create_then_die)
    mail = report_mail()
    with pytest.raises(Crash):
        deliver_directly(hub, mail, "k-new")
    monkeypatch.setattr(GraphClient, "create_draft", real_create)
    deliver_directly(hub, mail, "k-new")  # found by its marker, with its file: sent, not made again
    (sent,) = fake.sent(BRANCH)
    assert [f.name for f in sent.attachments] == ["rapport-lyon-2027-01.html"]
    assert fake.drafts(BRANCH) == []


def test_a_file_graph_would_refuse_is_a_dead_letter(hub: Hub, sandbox: tuple[OutlookSandbox, str]) -> None:
    fake, _ = sandbox
    with pytest.raises(DeliveryRejected, match="413"):
        deliver_directly(hub, report_mail("gros.html", b"x" * 3_000_000), "k-big")
    assert fake.sent(BRANCH) == [] and fake.drafts(BRANCH) == []


# --- the sandbox alone ----------------------------------------------------------------------------------------

@pytest.fixture
def graph(clock: FakeClock) -> Iterator[Graph]:
    fake = OutlookSandbox(clock=clock)
    fake.add_tenant(TENANT, "cravate-test.onmicrosoft.com")
    fake.add_app(TENANT, CLIENT_ID, secret=SECRET)
    fake.add_mailbox(MAILBOX, branch="lyon", tenant=TENANT)
    with ServerThread(fake.app()) as server:
        yield Graph(server.url, app_token(server.url))


def with_files(*files: dict[str, Any]) -> dict[str, Any]:
    return {**message(), "attachments": list(files)}


def code(reply: httpx.Response) -> tuple[int, str]:
    return reply.status_code, str(reply.json()["error"]["code"])


def test_the_sandbox_refuses_attachments_as_graph_does(graph: Graph) -> None:
    def post(*files: dict[str, Any]) -> httpx.Response:
        return graph("POST", f"/users/{MAILBOX}/messages", with_files(*files))

    content = base64.b64encode(b"<p>bilan</p>").decode()
    good = {"@odata.type": "#microsoft.graph.fileAttachment", "name": "bilan.html", "contentType": "text/html",
            "contentBytes": content}
    made = post(good)
    assert made.status_code == 201 and made.json()["hasAttachments"] is True
    assert code(post({k: v for k, v in good.items() if k != "@odata.type"})) == (400, "RequestBodyRead")
    assert code(post({k: v for k, v in good.items() if k != "name"})) == (400, "ErrorRequiredPropertyMissing")
    assert code(post({k: v for k, v in good.items() if k != "contentBytes"})) == (400, "ErrorRequiredPropertyMissing")
    assert code(post({**good, "contentBytes": "pas du base64 !"})) == (400, "RequestBodyRead")
    assert code(post({**good, "@odata.type": "#microsoft.graph.pieceJointe"})) == (400, "RequestBodyRead")
    just_under = base64.b64encode(b"x" * 2_999_999).decode()
    assert post({**good, "contentBytes": just_under}).status_code == 201
    three_mb = base64.b64encode(b"x" * 3_000_000).decode()
    assert code(post({**good, "contentBytes": three_mb})) == (413, "RequestEntityTooLarge")
    sent = graph("POST", f"/users/{MAILBOX}/sendMail", {"message": with_files({**good, "contentBytes": three_mb})})
    assert sent.status_code == 413  # sendMail's JSON is held to the same rule
