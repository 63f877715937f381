"""`hub doctor` for Gmail, and the core's conformance suite run against the plugin and its sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gmail_helpers import BRANCH, gmail_table, token, write_token

import hub_gmail.plugin
from hub.app import Hub
from hub.testing import ConnectorConformance
from hub_gmail.sandbox import GmailSandbox


def doctor(hub: Hub, branch: str = BRANCH) -> dict[str, str]:
    return {check.name: check.run() for check in hub.branches[branch].checks("gmail")}


def oauth_hub(make: Callable[..., Hub], url: str, **settings: Any) -> Hub:
    hub = make(auth="oauth", token_uri=f"{url}/token", **settings)
    write_token(hub, url, "1//refresh", expired=False)
    return hub


def test_a_workspace_mailbox_is_told_to_use_an_internal_consent_screen(make_gmail_hub: Callable[..., Hub],
                                                                       sandbox_url: str) -> None:
    results = doctor(oauth_hub(make_gmail_hub, sandbox_url))
    assert results["boîte Gmail"] == "boîte …@cravate.org accessible (envoi et lecture des rebonds)"
    consent = results["compte Google et consentement"]
    assert "Google Workspace" in consent and "« Interne »" in consent and "2000 envois" in consent


def test_a_consumer_mailbox_must_be_published(make_gmail_hub: Callable[..., Hub], sandbox: GmailSandbox,
                                              sandbox_url: str) -> None:
    sandbox.add_mailbox("antenne.lyon@gmail.com", token(BRANCH), branch=BRANCH)
    hub = oauth_hub(make_gmail_hub, sandbox_url, account="consumer")
    consent = doctor(hub)["compte Google et consentement"]
    assert "publiée" in consent and "7 jours" in consent and "vérification" in consent and "500 envois" in consent
    assert "antenne.lyon" not in consent


def test_a_consumer_mailbox_declared_workspace_fails(make_gmail_hub: Callable[..., Hub],
                                                     sandbox: GmailSandbox, sandbox_url: str) -> None:
    sandbox.add_mailbox("antenne.lyon@gmail.com", token(BRANCH), branch=BRANCH)
    check = next(c for c in oauth_hub(make_gmail_hub, sandbox_url).branches[BRANCH].checks("gmail")
                 if c.name == "compte Google et consentement")
    with pytest.raises(RuntimeError, match='account = "consumer"'):
        check.run()


def test_a_sender_that_is_not_the_mailbox_is_pointed_out(make_gmail_hub: Callable[..., Hub]) -> None:
    results = doctor(make_gmail_hub(sender="contact@cravate.org"))
    assert "alias « Envoyer des e-mails en tant que »" in results["boîte Gmail"]
    assert "contact@" not in results["boîte Gmail"]
    assert results["compte Google et consentement"].startswith("jeton fixe")


def test_a_refused_token_fails_the_check(make_gmail_hub: Callable[..., Hub], sandbox: GmailSandbox) -> None:
    sandbox.revoke(token(BRANCH))
    check = next(c for c in make_gmail_hub().branches[BRANCH].checks("gmail") if c.name == "boîte Gmail")
    from hub.errors import PluginAuthFailed

    with pytest.raises(PluginAuthFailed, match="hub auth google --branch lyon"):
        check.run()


class TestGmailConformance(ConnectorConformance):
    plugin_name = "gmail"
    plugin = hub_gmail.plugin

    @pytest.fixture
    def connector_hub(self, make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
                      sandbox: GmailSandbox, sandbox_url: str) -> Iterator[Hub]:
        register_plugin("gmail", hub_gmail.plugin)
        self.sandbox = sandbox
        yield make_hub({"conformance": {"plugins": ["gmail"], "gmail": gmail_table(sandbox_url)}},
                       environ={"HUB_CONFORMANCE_GMAIL_ACCESS_TOKEN": token("conformance")})

    def effect_snapshot(self, hub: Hub) -> Any:
        return [(str(m["To"]), str(m["Subject"])) for m in self.sandbox.sent("conformance")]
