"""Form answers' ids are keyed (HubContext.pseudonym): no unkeyed hash of an e-mail or phone in the event log,
which keeps ids after an erasure. Installations that stored answers under the old unkeyed ids register nobody
again after the upgrade: the tail skips rows already read, and a full re-read or `hub resync` gives an answer
stored under its old id that id again."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from gsheets_helpers import BRANCH, SHEET_ID, poll, sync
from test_gsheets_erasure import traces, tracking_rows
from test_gsheets_form import answer

import hub_gsheets.form_source
from hub.app import Hub
from hub.resync import resync
from hub.testing import FakeClock
from hub_gsheets.form_source import phone_digits
from hub_gsheets.sandbox import FORM_SHEET_FR, SheetsSandbox

ZOE, KARIM, PHONE = "Zoe.Lefevre@Exemple.fr", "karim.haddad@exemple.fr", "06 12 34 56 78"
KEYED_ID = re.compile(r"form:\d{8}T\d{6}:[0-9a-f]{20}(#incomplet)?")


def unkeyed(contact: str) -> str:
    return hashlib.sha256(contact.encode()).hexdigest()


def old_id(when: datetime, email: str, phone: str) -> str:
    """The id versions before keyed ids gave an answer: form:<time>:<sha256(casefolded e-mail or digits)[:12]>."""
    contact = email.strip().casefold() or phone_digits(phone)
    return f"form:{when:%Y%m%dT%H%M%S}:{unkeyed(contact)[:12]}"


@contextmanager
def before_the_upgrade(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The form source as it was: every answer's id the unkeyed one."""
    with monkeypatch.context() as patch:
        patch.setattr(hub_gsheets.form_source, "answer_id", lambda _hub, when, email, phone: old_id(when, email, phone))
        yield


def source_ids(hub: Hub) -> list[str]:
    return sorted(r.source_id for r in hub.store.list_events(branch=BRANCH, limit=100_000))


def three_answers(sandbox: SheetsSandbox) -> None:
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(0, "Zoé", "Lefèvre", email=ZOE, phone=PHONE))
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(1, "Karim", "Haddad", email=KARIM))
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(2, "Inès", "Martin", email="", phone="07 81 22 33 44"))


def test_no_unkeyed_hash_of_a_contact_in_the_event_log(gsheets_hub: Hub, sandbox: SheetsSandbox) -> None:
    three_answers(sandbox)
    assert poll(gsheets_hub, "formulaire") == 3

    hashes = [unkeyed(c) for c in (ZOE.casefold(), KARIM, phone_digits(PHONE), phone_digits("07 81 22 33 44"))]
    events = gsheets_hub.store.list_events(branch=BRANCH, limit=100)
    for event in events:
        assert KEYED_ID.fullmatch(event.source_id), event.source_id
        for digest in hashes:
            assert digest[:12] not in event.source_id and digest[:12] not in event.body
    hub = gsheets_hub.context(BRANCH, "gsheets")
    keyed = hub.pseudonym(KARIM)[:20]
    assert [e.source_id for e in events if keyed in e.source_id] == [f"form:20260302T101630:{keyed}"]


def test_two_hubs_with_different_keys_give_the_same_answer_different_ids(make_gsheets_hub: Callable[..., Hub],
                                                                         sandbox: SheetsSandbox) -> None:
    three_answers(sandbox)
    first, second = make_gsheets_hub(), make_gsheets_hub()
    assert poll(first, "formulaire") == poll(second, "formulaire") == 3

    ids = source_ids(first), source_ids(second)
    assert not set(ids[0]) & set(ids[1])
    assert [i.rsplit(":", 1)[0] for i in ids[0]] == [i.rsplit(":", 1)[0] for i in ids[1]]  # same answers' times


def test_the_same_answer_keeps_its_id_across_polls_full_reads_and_resync(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                                         clock: FakeClock) -> None:
    three_answers(sandbox)
    assert poll(gsheets_hub, "formulaire") == 3
    ids = source_ids(gsheets_hub)
    assert all(KEYED_ID.fullmatch(i) for i in ids)

    assert poll(gsheets_hub, "formulaire") == 0  # tail
    clock.advance(hours=2)  # past full_reread: the whole tab again
    assert poll(gsheets_hub, "formulaire") == 0
    assert resync(gsheets_hub, branch=BRANCH, plugin="gsheets", echo=lambda _: None).new == 0
    assert source_ids(gsheets_hub) == ids


def test_after_the_upgrade_the_tail_skips_answers_already_read(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    three_answers(sandbox)
    with before_the_upgrade(monkeypatch):
        assert poll(gsheets_hub, "formulaire") == 3
    legacy = source_ids(gsheets_hub)

    assert poll(gsheets_hub, "formulaire") == 0  # the cursor is past them: no row of theirs evaluated again
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(3, "Léa", "Roux", email="lea.roux@exemple.fr"))
    assert poll(gsheets_hub, "formulaire") == 1
    [new] = set(source_ids(gsheets_hub)) - set(legacy)
    assert KEYED_ID.fullmatch(new) and len(source_ids(gsheets_hub)) == 4


def test_after_the_upgrade_a_full_re_read_or_resync_registers_nobody_again(gsheets_hub: Hub,
                                                                            sandbox: SheetsSandbox,
                                                                            clock: FakeClock,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    three_answers(sandbox)
    bad = answer(3, "Léa", "Roux", email="lea.roux@exemple.fr", phone="pas un numéro")
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, bad)  # stored as "#incomplet", its phone left out
    with before_the_upgrade(monkeypatch):
        assert poll(gsheets_hub, "formulaire") == 4
        sync(gsheets_hub)
    legacy = source_ids(gsheets_hub)
    assert any(i.endswith("#incomplet") for i in legacy)
    rows = tracking_rows(sandbox)

    clock.advance(hours=2)  # past full_reread: the next poll reads the whole tab again
    assert poll(gsheets_hub, "formulaire") == 0
    assert resync(gsheets_hub, branch=BRANCH, plugin="gsheets", echo=lambda _: None).new == 0
    sync(gsheets_hub)
    assert source_ids(gsheets_hub) == legacy  # nothing new stored, so nothing delivered again
    assert tracking_rows(sandbox) == rows

    # corrected after the upgrade, her complete answer comes in under the id she was registered with
    sandbox.set_cell(SHEET_ID, FORM_SHEET_FR, 5, "Téléphone", "06 55 44 33 22")
    clock.advance(hours=2)
    assert poll(gsheets_hub, "formulaire") == 1
    [complete] = set(source_ids(gsheets_hub)) - set(legacy)
    assert f"{complete}#incomplet" in legacy

    # a new answer from someone registered before the upgrade gets a keyed id (a new answer, a new fact)
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(9, "Zoé", "Lefèvre", email=ZOE, phone=PHONE))
    assert poll(gsheets_hub, "formulaire") == 1
    [again] = set(source_ids(gsheets_hub)) - {*legacy, complete}
    assert KEYED_ID.fullmatch(again)


def test_an_answer_stored_under_its_old_id_is_still_found_for_an_erasure(gsheets_hub: Hub, sandbox: SheetsSandbox,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Her second answer has another e-mail (the hub matched her by phone): only the hub's link for its id says
    it is hers, and that id is the old one."""
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(0, "Zoé", "Lefèvre", email=ZOE, phone=PHONE))
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(1, "Karim", "Haddad", email=KARIM))
    sandbox.append_row(SHEET_ID, FORM_SHEET_FR, answer(2, "Zoé", "Lefèvre", email="zoe.pro@exemple.fr",
                                                       phone="+33 6 12 34 56 78"))
    with before_the_upgrade(monkeypatch):
        sync(gsheets_hub)
    [cid] = [r["ID hub (ne pas modifier)"] for r in tracking_rows(sandbox) if r["Prénom"] == "Zoé"]

    gsheets_hub.eraser.forget(BRANCH, str(cid))
    gsheets_hub.cycle()
    assert traces(sandbox, "zoe", "Zoé", phone_digits(PHONE)[2:]) == []
    assert [r["Prénom"] for r in tracking_rows(sandbox)] == ["Karim"]
