"""message_due after `hub restore` put back an older database (`HubContext.reconciling`): the channel's private
state may not know a mail it sent after the backup, so a delivery with no record looks the mail up by its
marker before creating one. Against the served sandbox (the real msal and Graph client)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hub.app import Hub
from hub.errors import PluginNotReady
from hub.testing import FakeClock, make_message
from hub_outlook import send
from hub_outlook.graph import GraphClient
from hub_outlook.sandbox import OutlookSandbox

from .outlook_helpers import BRANCH, deliver_directly

CREATE, FIND, GET, SEND = ("POST /users/{m}/messages", "GET /users/{m}/messages", "GET /users/{m}/messages/{id}",
                           "POST /users/{m}/messages/{id}/send")


class Crash(BaseException):
    """The process dies here: nothing after it runs, nothing uncommitted survives."""


@pytest.fixture
def hub(make_sandbox_hub: Callable[..., Hub]) -> Hub:
    return make_sandbox_hub(calendar=False)


@pytest.fixture
def graph_calls(fake: tuple[OutlookSandbox, str]) -> Callable[[], list[str]]:
    """A reader of the Graph requests made since it was last called; login aside, and the 401 an access token
    expired meanwhile gets (the client takes a new one and asks again: the token's cost, not the channel's)."""
    sandbox, _ = fake
    mark = [len(sandbox.requests())]

    def read() -> list[str]:
        done = sandbox.requests()
        out, mark[0] = done[mark[0]:], len(done)
        return [r.route for r in out if "/login" not in r.route and r.status != 401]
    return read


@pytest.fixture
def crash_after(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """crash_after("create_draft"): the process dies right after that Graph call (once)."""
    def arm(method: str) -> None:
        real = getattr(GraphClient, method)

        def crashing(self: GraphClient, *args: Any, **kw: Any) -> Any:
            monkeypatch.setattr(GraphClient, method, real)
            real(self, *args, **kw)
            raise Crash(method)
        monkeypatch.setattr(GraphClient, method, crashing)
    yield arm


def restore(hub: Hub, clock: FakeClock, key: str, *, restored: bool = True, keep: bool = False) -> None:
    """What `hub restore` leaves: a backup taken before this delivery was recorded (its `send:` record gone,
    or kept when the backup came after the "new" commit), and the store's `restored_at` (when `restored`)."""
    if not keep:
        hub.context(BRANCH, "outlook").state_delete(send.state_key(key))
    if restored:
        hub.store.meta_put("restored_at", clock().isoformat())


def record(hub: Hub, key: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = hub.context(BRANCH, "outlook").state_get(send.state_key(key))
    return found


def test_a_mail_sent_after_the_backup_is_found_not_sent_again(hub: Hub, fake: tuple[OutlookSandbox, str],
                                                              clock: FakeClock,
                                                              graph_calls: Callable[[], list[str]]) -> None:
    sandbox, _ = fake
    message = make_message(subject="Votre inscription")
    deliver_directly(hub, message, "k")
    assert graph_calls() == [CREATE, SEND]
    restore(hub, clock, "k")
    clock.advance(600)
    deliver_directly(hub, message, "k")  # the restored hub re-delivers the same key
    assert graph_calls() == [FIND]  # one lookup, no second mail
    assert [m.subject for m in sandbox.sent(BRANCH)] == ["Votre inscription"]
    kept = record(hub, "k")
    assert kept is not None and kept["s"] == "sent" and kept["id"] == sandbox.sent(BRANCH)[0].id
    window = hub.context(BRANCH, "outlook").state_get("window")
    assert window["recent"] == []  # sent ten minutes ago: not in this minute's count...
    assert sum(window["buckets"].values()) == 2  # ...but in the day's (the restored window had lost it)
    deliver_directly(hub, message, "k")
    assert graph_calls() == []  # recorded "sent"


def test_without_the_restore_mark_the_same_situation_sends_twice(hub: Hub, fake: tuple[OutlookSandbox, str],
                                                                  clock: FakeClock,
                                                                  graph_calls: Callable[[], list[str]]) -> None:
    """What reconciling prevents (and proof the test above can fail): a lost record alone makes a second mail."""
    sandbox, _ = fake
    message = make_message()
    deliver_directly(hub, message, "k")
    restore(hub, clock, "k", restored=False)
    deliver_directly(hub, message, "k")
    assert graph_calls() == [CREATE, SEND, CREATE, SEND]
    assert len(sandbox.sent(BRANCH)) == 2


def test_while_reconciling_a_mail_never_made_costs_one_lookup_more(hub: Hub, fake: tuple[OutlookSandbox, str],
                                                                    clock: FakeClock,
                                                                    graph_calls: Callable[[], list[str]]) -> None:
    sandbox, _ = fake
    deliver_directly(hub, make_message(), "before")
    hub.store.meta_put("restored_at", clock().isoformat())
    graph_calls()
    deliver_directly(hub, make_message(), "new-key")
    assert graph_calls() == [FIND, CREATE, SEND] and len(sandbox.sent(BRANCH)) == 2
    clock.advance(8 * 86400)  # a week later the restored state has caught up: 2 requests again
    deliver_directly(hub, make_message(), "later")
    assert graph_calls() == [CREATE, SEND]


@pytest.mark.parametrize("keep", [False, True], ids=["no record", "a 'new' record"])
def test_a_draft_left_unsent_before_the_backup_is_sent_once(hub: Hub, fake: tuple[OutlookSandbox, str],
                                                             clock: FakeClock,
                                                             graph_calls: Callable[[], list[str]],
                                                             crash_after: Callable[[str], None], keep: bool) -> None:
    """The draft was made, the process died before its id was committed, and the backup holds no record of it
    (or only the "new" one): found by its marker, it waits SEND_LAG (the restored state cannot say whether a
    send was tried a moment ago), then goes once."""
    sandbox, _ = fake
    message = make_message(subject="Rappel de votre rendez-vous")
    crash_after("create_draft")
    with pytest.raises(Crash):
        deliver_directly(hub, message, "k")
    assert len(sandbox.drafts(BRANCH)) == 1 and sandbox.sent(BRANCH) == []
    restore(hub, clock, "k", keep=keep)
    graph_calls()
    with pytest.raises(PluginNotReady) as caught:
        deliver_directly(hub, message, "k")
    assert graph_calls() == [FIND] and caught.value.retry_after == send.SEND_LAG
    clock.advance(send.SEND_LAG)
    deliver_directly(hub, message, "k")
    assert graph_calls() == [GET, SEND]
    assert [m.subject for m in sandbox.sent(BRANCH)] == ["Rappel de votre rendez-vous"]
    assert sandbox.drafts(BRANCH) == []
    assert sum(hub.context(BRANCH, "outlook").state_get("window")["buckets"].values()) == 1


def test_a_send_still_settling_when_the_restored_hub_looks_is_not_repeated(
        hub: Hub, fake: tuple[OutlookSandbox, str], clock: FakeClock, graph_calls: Callable[[], list[str]],
        crash_after: Callable[[str], None]) -> None:
    """The old daemon sent the draft just before it stopped; Exchange still shows it in Drafts (the lag after the
    202) when the restored hub finds it: it waits instead of sending it a second time."""
    sandbox, _ = fake
    crash_after("send_draft")
    with pytest.raises(Crash):
        deliver_directly(hub, make_message(), "k")
    (mail,) = sandbox.sent(BRANCH)
    box = sandbox.mailbox(BRANCH)
    with sandbox.lock:  # Exchange's lag: the message still reads as a draft
        settling = box.messages[mail.id]
        sent_at, settling.sent, settling.folder = settling.sent, None, "drafts"
    restore(hub, clock, "k")
    with pytest.raises(PluginNotReady):
        deliver_directly(hub, make_message(), "k")
    with sandbox.lock:  # Exchange caught up
        settling.sent, settling.folder = sent_at, "sentitems"
    clock.advance(send.SEND_LAG)
    graph_calls()
    deliver_directly(hub, make_message(), "k")
    assert graph_calls() == [GET] and len(sandbox.sent(BRANCH)) == 1
    kept = record(hub, "k")
    assert kept is not None and kept["s"] == "sent"
