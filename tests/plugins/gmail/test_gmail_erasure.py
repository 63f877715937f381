"""candidate_forgotten: the hub's own traces of a person leave the branch's Gmail mailbox as far as the consent
allows (the sent mails, their bounce reports, unsent drafts), the rest is a manual item, and the sandbox refuses
what Gmail refuses (scopes per method from the discovery document, the trash emptied after 30 days)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from gmail_helpers import ADDRESSES, BRANCH, deliver_directly, poll, registered, token

import hub_gmail.plugin
from hub.app import Hub
from hub.errors import PluginNotReady
from hub.events import Candidate, Event, EventKind, Referrer
from hub.store.rows import ReceiptRow
from hub.testing import FakeClock, make_message
from hub_gmail.client import GmailClient
from hub_gmail.erasure import DRAFTS_DONE
from hub_gmail.sandbox import HUB_SCOPES, MAIL_GOOGLE, GmailSandbox
from hub_gmail.send import gmail_key, person_key, state_key
from hub_google import SCOPES

MODIFY = "https://www.googleapis.com/auth/gmail.modify"
PERSON = "aicha.benali@example.org"
REFERRER = "durand@ml.example.org"
SEARCH = re.compile(r"« (in:(?:anywhere|drafts) rfc822msgid:\S+) »")


@dataclass
class Person:
    candidate: Candidate
    reply_id: str  # the person's own answer in the inbox: the branch's correspondence


def known_person(hub: Hub, sandbox: GmailSandbox, *, email: str = PERSON, bounce: bool = True) -> Person:
    """A person registered through the normal flow: the hub mails them and their referrer (with consent), a
    bounce of the mail to them comes back and is read, and they answer the branch."""
    poll(hub)  # the bounce source starts from now
    candidate = registered(hub, email=email, first_name="Aïcha", last_name="Benali", consent=True,
                           referrer=Referrer(structure="Mission locale", contact_name="Mme Durand",
                                             contact_email=REFERRER))
    report = hub.cycle()
    assert report.errors == []
    recipients = sorted(str(m["To"].addresses[0].addr_spec) for m in sandbox.sent(BRANCH)
                        if "Benali" in str(m["Subject"]) or email in str(m["To"]))
    assert recipients == sorted([email, REFERRER])  # the registration mail and the note to the referrer
    if bounce:
        sandbox.bounce(email)
        (bounced,) = poll(hub)
        assert bounced.kind is EventKind.MESSAGE_BOUNCED
    reply = sandbox.receive(BRANCH, f"From: Aicha Benali <{email}>\r\nTo: {ADDRESSES[BRANCH]}\r\n"
                                    "Subject: Re: inscription\r\nMessage-ID: <r1@example.org>\r\n\r\n"
                                    "Merci, je viendrai.\r\n".encode())
    return Person(candidate, reply)


def forget(hub: Hub, candidate: Candidate) -> str:
    assert candidate.id
    plan = hub.eraser.forget(BRANCH, candidate.id)
    assert "gmail" in plan.plugins
    hub.cycle()
    return plan.erasure_id


def receipt(hub: Hub, erasure_id: str) -> ReceiptRow:
    (row,) = [r for r in hub.store.receipts(erasure_id) if r.plugin == "gmail"]
    return row


def items(row: ReceiptRow, status: str) -> list[str]:
    return sorted(item for s, item in row.items if s == status)


def traces(sandbox: GmailSandbox, person: Person) -> list[str]:
    """Ids of the messages still holding the person's address or name, trash and drafts included."""
    return sorted(m.id for m in sandbox.holding(BRANCH, PERSON, "Benali"))


def no_personal_data(row: ReceiptRow) -> None:
    text = json.dumps(row.items, ensure_ascii=False)
    for personal in (PERSON, REFERRER, "Aïcha", "Benali", "Durand"):
        assert personal not in text
    assert all(len(item) < 300 for _, item in row.items)  # the receipt keeps 300 characters of each


def hub_requests(sandbox: GmailSandbox, *methods: str) -> int:
    return sum(sandbox.count(m, who=BRANCH) for m in methods)


@pytest.fixture
def with_scopes(monkeypatch: pytest.MonkeyPatch, sandbox: GmailSandbox) -> Callable[..., None]:
    """The branch's consent carries `scopes` (what `hub auth google` would ask with a wider SCOPES["gmail"])."""
    def grant(*scopes: str, token_has: tuple[str, ...] | None = None) -> None:
        monkeypatch.setitem(SCOPES, "gmail", [*HUB_SCOPES, *scopes])
        sandbox.grant(token(BRANCH), token_has if token_has is not None else (*HUB_SCOPES, *scopes))
    return grant


# --- with the scopes the hub asks today: drafts only, the mails are left to staff with their exact search ---

def test_with_todays_scopes_each_mail_is_a_manual_item_with_its_exact_search(gmail_hub: Hub, sandbox: GmailSandbox,
                                                                            sandbox_url: str) -> None:
    person = known_person(gmail_hub, sandbox)
    before = traces(sandbox, person)
    erasure = forget(gmail_hub, person.candidate)
    row = receipt(gmail_hub, erasure)
    assert row.state == "done" and row.last_error is None
    manual = items(row, "manual")
    searches = [m.group(1) for m in map(SEARCH.search, manual) if m]
    assert len(searches) == 3  # the mail to the person, the note to the referrer, the bounce report
    assert sum("avis de non-distribution" in item for item in manual) == 1
    assert any("correspondance de l'antenne" in item and "recherchez l'adresse de la personne" in item
               for item in manual)
    assert items(row, "done") == [DRAFTS_DONE]
    no_personal_data(row)
    # what staff type finds exactly one of the hub's messages each, all about the person, none of the reply
    found = []
    for q in searches:
        status, body, _ = call(sandbox_url, "GET", "messages?" + urllib.parse.urlencode({"q": q}), token(BRANCH))
        assert status == 200
        (hit,) = body["messages"]
        found.append(hit["id"])
    assert sorted(found) == sorted(set(before) - {person.reply_id})
    # Gmail refuses trash and delete to these scopes: the hub did not even ask
    assert hub_requests(sandbox, "messages.trash", "messages.delete") == 0
    assert traces(sandbox, person) == before  # nothing removed: staff do it
    ctx = gmail_hub.context(BRANCH, "gmail")
    assert person.candidate.id and ctx.state_get(person_key(person.candidate.id)) is None


# --- gmail.modify: the trash, which Gmail empties after 30 days ------------------------------------------------

def test_with_gmail_modify_the_mails_and_the_report_go_to_the_trash(gmail_hub: Hub, sandbox: GmailSandbox,
                                                                   clock: FakeClock,
                                                                   with_scopes: Callable[..., None]) -> None:
    with_scopes(MODIFY)
    other = registered(gmail_hub, email="bojo@example.org", first_name="Jo", last_name="Martin")
    person = known_person(gmail_hub, sandbox)
    others_mail = sandbox.holding(BRANCH, "bojo@example.org")
    assert len(others_mail) == 1 and other.id
    erasure = forget(gmail_hub, person.candidate)
    row = receipt(gmail_hub, erasure)
    assert row.state == "done"
    assert items(row, "done") == sorted([
        "avis de non-distribution de ces e-mails (boîte Gmail de l'antenne) : mis dans la corbeille, que Gmail "
        "vide définitivement au bout de 30 jours",
        DRAFTS_DONE,
        "e-mails envoyés par le hub à la personne ou à son sujet (boîte Gmail de l'antenne) : mis dans la "
        "corbeille, que Gmail vide définitivement au bout de 30 jours"])
    assert [i for i in items(row, "manual") if "correspondance" not in i] == []
    no_personal_data(row)
    assert hub_requests(sandbox, "messages.trash") == 3
    box = sandbox.mailbox(BRANCH)
    left = [m for m in traces(sandbox, person) if "TRASH" not in box.messages[m].labels]
    assert left == [person.reply_id]  # outside the trash: only the person's own answer (manual item)
    clock.advance(days=31)
    assert traces(sandbox, person) == [person.reply_id]  # Gmail emptied its trash
    assert sandbox.holding(BRANCH, "bojo@example.org") == others_mail  # someone else's mail untouched


def test_a_second_delivery_changes_nothing(gmail_hub: Hub, sandbox: GmailSandbox,
                                           with_scopes: Callable[..., None]) -> None:
    with_scopes(MODIFY)
    person = known_person(gmail_hub, sandbox)
    erasure = forget(gmail_hub, person.candidate)
    first = receipt(gmail_hub, erasure)
    assert first.state == "done"
    mark = len(sandbox.methods(BRANCH))
    # the hook again with the whole record (as before the erasure closed), under the same delivery key
    (delivery,) = [d for d in gmail_hub.store.list_deliveries(plugin="gmail") if d.kind == "candidate_forgotten"]
    ctx = gmail_hub.context(BRANCH, "gmail").for_delivery(f"{delivery.event_id}:gmail")
    event = Event(kind=EventKind.CANDIDATE_FORGOTTEN, branch=BRANCH, source="hub", occurred_at=gmail_hub.clock(),
                  source_id=f"erasure:{erasure}", candidate=person.candidate)
    hub_gmail.plugin.candidate_forgotten(ctx, event)
    with gmail_hub.store.transaction():
        ctx.flush_state()
    assert "messages.trash" not in sandbox.methods(BRANCH)[mark:]
    assert receipt(gmail_hub, erasure) == first
    # and through the dispatcher once the erasure is closed (the record is no longer there: its id only)
    (row,) = gmail_hub.store.list_events(branch=BRANCH, kind="candidate_forgotten")
    with gmail_hub.store.transaction():
        gmail_hub.store.redeliver(row.seq, "gmail", gmail_hub.clock())
    gmail_hub.cycle()
    assert receipt(gmail_hub, erasure) == first
    assert "messages.trash" not in sandbox.methods(BRANCH)[mark:]


def test_a_transient_failure_is_retried_and_ends_done(gmail_hub: Hub, sandbox: GmailSandbox, clock: FakeClock,
                                                     with_scopes: Callable[..., None]) -> None:
    with_scopes(MODIFY)
    person = known_person(gmail_hub, sandbox)
    sandbox.fail_next(503, method="messages.trash")
    erasure = forget(gmail_hub, person.candidate)
    assert receipt(gmail_hub, erasure).state == "retrying"
    clock.advance(minutes=10)
    gmail_hub.cycle()
    row = receipt(gmail_hub, erasure)
    assert row.state == "done"
    assert sum("mis dans la corbeille" in item for item in items(row, "done")) == 2
    box = sandbox.mailbox(BRANCH)
    assert [m for m in traces(sandbox, person) if "TRASH" not in box.messages[m].labels] == [person.reply_id]


def test_a_consent_without_the_scope_leaves_the_mails_to_staff_without_pausing(
        gmail_hub: Hub, sandbox: GmailSandbox, with_scopes: Callable[..., None]) -> None:
    """The hub asked for gmail.modify but the person consenting unticked it: Gmail answers 403
    insufficientPermissions; the erasure says what staff must do instead, and the plugin is not paused."""
    with_scopes(MODIFY, token_has=HUB_SCOPES)
    person = known_person(gmail_hub, sandbox)
    erasure = forget(gmail_hub, person.candidate)
    row = receipt(gmail_hub, erasure)
    assert row.state == "done"
    assert len([m for m in map(SEARCH.search, items(row, "manual")) if m]) == 3
    assert [r.status for r in sandbox.requests if r.method == "messages.trash"] == [403]  # asked once
    assert not [i for i in items(row, "done") if "corbeille" in i]
    assert gmail_hub.store.list_deliveries(states=("retrying", "dead"), plugin="gmail") == []


# --- https://mail.google.com/: deleted at once -------------------------------------------------------------------

def test_with_the_full_scope_the_mails_are_deleted_for_good(gmail_hub: Hub, sandbox: GmailSandbox,
                                                          with_scopes: Callable[..., None]) -> None:
    with_scopes(MAIL_GOOGLE)
    person = known_person(gmail_hub, sandbox)
    staff = sandbox.mailbox(BRANCH).add(f"From: {ADDRESSES[BRANCH]}\r\nTo: {PERSON}\r\nSubject: Un mot\r\n"
                                        "Message-ID: <s1@cravate.org>\r\n\r\nA bientot\r\n".encode(), ["SENT"],
                                        sandbox.clock())
    erasure = forget(gmail_hub, person.candidate)
    row = receipt(gmail_hub, erasure)
    assert row.state == "done"
    assert "e-mails envoyés par le hub à la personne ou à son sujet (boîte Gmail de l'antenne) : supprimés " \
           "définitivement" in items(row, "done")
    assert hub_requests(sandbox, "messages.delete") == 3 and hub_requests(sandbox, "messages.trash") == 0
    # what remains is the branch's correspondence: the person's answer and staff's own mail (manual item)
    assert traces(sandbox, person) == sorted([person.reply_id, staff.id])


# --- what the index does not list, drafts, other people ------------------------------------------------------------

def test_mail_sent_before_the_index_is_found_by_address_and_the_hub_record(gmail_hub: Hub, sandbox: GmailSandbox,
                                                                         with_scopes: Callable[..., None]) -> None:
    with_scopes(MAIL_GOOGLE)
    person = known_person(gmail_hub, sandbox, bounce=False)
    other = registered(gmail_hub, email="autre@example.org", first_name="Léa", last_name="Morel")
    to_referrer_about_other = make_message(other, to=REFERRER, recipient="referrer", subject="Une autre personne")
    deliver_directly(gmail_hub, to_referrer_about_other, "other-note")
    ctx = gmail_hub.context(BRANCH, "gmail")
    assert person.candidate.id
    ctx.state_delete(person_key(person.candidate.id))  # as a hub from before the index left it
    erasure = forget(gmail_hub, person.candidate)
    assert receipt(gmail_hub, erasure).state == "done"
    assert traces(sandbox, person) == [person.reply_id]
    # the same referrer's note about someone else stays, and so does its record
    assert [m["Subject"] for m in sandbox.sent(BRANCH)
            if m["To"].addresses[0].addr_spec == REFERRER] == ["Une autre personne"]
    assert ctx.state_get(state_key("other-note"))["s"] == "sent"


def test_an_unsent_draft_of_the_hub_is_deleted(gmail_hub: Hub, sandbox: GmailSandbox,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A send cut after its draft was made (Gmail unavailable): the erasure skips the delivery and deletes the
    draft (drafts.delete is allowed by gmail.compose, the scope the hub has)."""
    candidate = registered(gmail_hub, email=PERSON, first_name="Aïcha", last_name="Benali")

    def unavailable(self: GmailClient, draft_id: str) -> dict[str, Any]:
        raise PluginNotReady("Gmail indisponible")
    monkeypatch.setattr(GmailClient, "send_draft", unavailable)
    gmail_hub.cycle()
    assert len(sandbox.drafts(BRANCH)) == 1 and sandbox.sent(BRANCH) == []
    monkeypatch.undo()
    erasure = forget(gmail_hub, candidate)
    row = receipt(gmail_hub, erasure)
    assert row.state == "done"
    assert sandbox.drafts(BRANCH) == [] and sandbox.holding(BRANCH, PERSON) == []
    assert sandbox.sent(BRANCH) == []  # the skipped delivery sent nothing
    assert [r.status for r in sandbox.requests if r.method == "drafts.delete"] == [204]


def test_an_orphan_draft_is_found_by_the_hubs_message_id(gmail_hub: Hub, sandbox: GmailSandbox,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The process died between drafts.create and the commit of its id: the record says "new"; the draft is
    found by the hub's Message-ID (drafts keep it) and deleted."""
    candidate = registered(gmail_hub, email=PERSON, first_name="Aïcha", last_name="Benali")
    real = GmailClient.create_draft

    def created_then_lost(self: GmailClient, raw: str) -> dict[str, Any]:
        real(self, raw)
        raise PluginNotReady("réponse perdue")
    monkeypatch.setattr(GmailClient, "create_draft", created_then_lost)
    gmail_hub.cycle()
    monkeypatch.undo()
    ctx = gmail_hub.context(BRANCH, "gmail")
    assert candidate.id
    (key,) = ctx.state_get(person_key(candidate.id))
    assert ctx.state_get(state_key(key))["s"] == "new" and len(sandbox.drafts(BRANCH)) == 1
    erasure = forget(gmail_hub, candidate)
    assert receipt(gmail_hub, erasure).state == "done"
    assert sandbox.drafts(BRANCH) == [] and sandbox.holding(BRANCH, PERSON) == []
    assert ctx.state_get(state_key(key)) is None


def test_the_private_state_about_the_person_goes(gmail_hub: Hub, sandbox: GmailSandbox) -> None:
    person = known_person(gmail_hub, sandbox, bounce=False)
    ctx = gmail_hub.context(BRANCH, "gmail")
    cid = person.candidate.id
    assert cid
    keys = ctx.state_get(person_key(cid))
    assert len(keys) == 2
    gmail_ids = [ctx.state_get(state_key(k))["g"] for k in keys]
    forget(gmail_hub, person.candidate)
    assert ctx.state_get(person_key(cid)) is None
    assert [ctx.state_get(state_key(k)) for k in keys] == [None, None]
    assert [ctx.state_get(gmail_key(g)) for g in gmail_ids] == [None, None]
    assert ctx.state_get("window") is not None  # the sending count is nobody's


# --- the sandbox refuses what Gmail refuses ------------------------------------------------------------------------

def call(url: str, method: str, path: str, access: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One request as any HTTP client makes it; the headers with lower-case names."""
    request = urllib.request.Request(f"{url}/gmail/v1/users/me/{path}", method=method,
                                     headers={"Authorization": f"Bearer {access}"}, data=b"" if method == "POST"
                                     else None)
    try:
        with urllib.request.urlopen(request) as answer:
            body = answer.read()
            return answer.status, json.loads(body) if body else {}, {k.lower(): v for k, v in answer.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), {k.lower(): v for k, v in exc.headers.items()}


def test_the_sandbox_checks_each_methods_scope_like_gmail(sandbox: GmailSandbox, sandbox_url: str) -> None:
    assert tuple(SCOPES["gmail"]) == HUB_SCOPES  # the sandbox's default is what the hub asks
    box = sandbox.mailbox(BRANCH)
    first = box.add(b"From: a@example.org\r\nTo: lyon@cravate.org\r\nSubject: x\r\n\r\nx\r\n", ["INBOX"],
                    sandbox.clock())
    status, body, headers = call(sandbox_url, "POST", f"messages/{first.id}/trash", token(BRANCH))
    assert status == 403 and body["error"]["status"] == "PERMISSION_DENIED"
    assert body["error"]["errors"][0]["reason"] == "insufficientPermissions"
    assert body["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert 'error="insufficient_scope"' in headers["www-authenticate"] and MODIFY in headers["www-authenticate"]
    sandbox.grant(token(BRANCH), (*HUB_SCOPES, MODIFY))
    status, body, headers = call(sandbox_url, "DELETE", f"messages/{first.id}", token(BRANCH))
    assert status == 403  # permanent deletion: https://mail.google.com/ only, gmail.modify is not enough
    assert MAIL_GOOGLE in headers["www-authenticate"] and MODIFY not in headers["www-authenticate"]
    status, body, _ = call(sandbox_url, "POST", f"messages/{first.id}/trash", token(BRANCH))
    assert status == 200 and "TRASH" in body["labelIds"]
    assert call(sandbox_url, "POST", f"messages/{first.id}/trash", token(BRANCH))[0] == 200  # again: same
    assert call(sandbox_url, "POST", "messages/0000000000000000/trash", token(BRANCH))[0] == 404
    sandbox.grant(token(BRANCH), (MAIL_GOOGLE,))
    assert call(sandbox_url, "DELETE", f"messages/{first.id}", token(BRANCH))[0] == 204
    assert call(sandbox_url, "DELETE", f"messages/{first.id}", token(BRANCH))[0] == 404
    assert first.id not in box.messages


def test_the_sandbox_search_and_the_trash(sandbox: GmailSandbox, clock: FakeClock) -> None:
    box = sandbox.mailbox(BRANCH)
    mine = box.add(b"From: lyon@cravate.org\r\nTo: Jo <jo@example.org>\r\nSubject: a\r\nMessage-ID: <m1@x.org>\r\n"
                   b"\r\na\r\n", ["SENT"], clock())
    other = box.add(b"From: lyon@cravate.org\r\nTo: bojo@example.org\r\nSubject: b\r\nMessage-ID: <m2@x.org>\r\n"
                    b"\r\nb\r\n", ["SENT"], clock())
    assert [m.id for m in box.search("rfc822msgid:m1@x.org", clock())] == [mine.id]
    assert [m.id for m in box.search("to:bojo@example.org in:sent", clock())] == [other.id]
    box.trash(mine.id, clock())
    assert box.search("rfc822msgid:m1@x.org", clock()) == []  # the trash is left out of a search
    assert [m.id for m in box.search("in:anywhere rfc822msgid:<m1@x.org>", clock())] == [mine.id]
    with pytest.raises(ValueError):
        box.search("deliveredto:jo@example.org", clock())  # an operator the fake does not know is an error
    clock.advance(days=29)
    assert [m.id for m in sandbox.holding(BRANCH, "jo@example.org")] == [mine.id, other.id]
    clock.advance(days=1)
    assert [m.id for m in sandbox.holding(BRANCH, "jo@example.org")] == [other.id]  # emptied after 30 days
