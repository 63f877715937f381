"""The Outlook channel end to end against the sandbox: the real msal and the real Graph client talking to the
strict fakes of Entra ID and Graph over loopback (the respx tests pin each request; these prove the two agree)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import hub_outlook.plugin
from hub.app import Hub
from hub.sandbox import DemoContext
from hub.testing import FakeClock, make_candidate, make_event, make_message
from hub_outlook.sandbox import OutlookSandbox

from .outlook_helpers import deliver_directly

BRANCH = "lyon"


class Crash(BaseException):
    """The process dies here: nothing after it runs, nothing uncommitted survives."""


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


def test_a_registration_mail_leaves_the_branch_mailbox(hub: Hub, sandbox: tuple[OutlookSandbox, str]) -> None:
    fake, _ = sandbox
    person = make_candidate(email="ines.haddad@example.org", first_name="Inès", phone=None)
    hub.ingest(BRANCH, "tests", [make_event("candidate_registered", candidate=person)])
    assert hub.cycle().errors == []
    (mail,) = fake.sent(BRANCH)
    assert mail.to == ["ines.haddad@example.org"] and "Bonjour Inès" in mail.body
    assert fake.drafts(BRANCH) == []
    graph = [r.route for r in fake.requests() if not r.route.startswith(("GET /login", "POST /login"))]
    assert graph == ["POST /users/{m}/messages", "POST /users/{m}/messages/{id}/send"]  # 2 per mail


def test_a_crash_after_the_send_before_its_commit_sends_nothing_more(hub: Hub,
                                                                    sandbox: tuple[OutlookSandbox, str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake, _ = sandbox
    message = make_message()
    from hub_outlook import graph as graph_module

    real_send = graph_module.GraphClient.send_draft

    def send_then_die(self: graph_module.GraphClient, message_id: str) -> None:
        real_send(self, message_id)
        raise Crash
    monkeypatch.setattr(graph_module.GraphClient, "send_draft", send_then_die)
    with pytest.raises(Crash):
        deliver_directly(hub, message, "k-crash")
    monkeypatch.setattr(graph_module.GraphClient, "send_draft", real_send)
    deliver_directly(hub, message, "k-crash")  # the re-delivery after the restart
    assert len(fake.sent(BRANCH)) == 1


def test_revoked_consent_pauses_outlook_for_this_branch_with_the_command(hub: Hub,
                                                                         sandbox: tuple[OutlookSandbox, str]) -> None:
    fake, _ = sandbox
    from hub_outlook.sandbox import DEMO_CLIENT_ID, DEMO_TENANT_ID

    fake.revoke_consent(DEMO_TENANT_ID, DEMO_CLIENT_ID)
    person = make_candidate(email="karim.mansouri@example.org", phone=None)
    hub.ingest(BRANCH, "tests", [make_event("candidate_registered", candidate=person)])
    hub.cycle()
    pause = hub.store.pauses().get((BRANCH, "outlook"))
    assert pause is not None and "hub auth outlook --branch lyon" in pause
    assert fake.sent(BRANCH) == []
