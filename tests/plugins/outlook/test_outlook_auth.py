"""MSAL auth with real msal at the wire: client credentials (secret, certificate), the token cache persisted 0600
and reused across restarts, the device code flow through `hub auth outlook`, Entra's refusals mapped, and the
forwarding of login requests to `login_url`."""

from __future__ import annotations

import json
import stat
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msal.oauth2cli.oauth2
import pytest
import respx
from click.testing import CliRunner, Result
from pydantic import ValidationError

import hub.cli as hub_cli
import hub_outlook.plugin
from hub.app import Hub
from hub.cli import cli
from hub.errors import PluginAuthFailed, PluginNotReady
from hub.testing import make_message
from hub_outlook.auth import CACHE_FILE
from hub_outlook.mailbox import close_mailbox, mailbox
from hub_outlook.settings import Settings

from .outlook_helpers import (
    BRANCH,
    CLIENT_ID,
    MAILBOX,
    SECRET,
    TENANT,
    USER_OID,
    FakeMicrosoft,
    deliver_directly,
    due,
    entra_error,
    outlook_table,
)


def cache_path(hub: Hub) -> Path:
    return hub.context(BRANCH, "outlook").secret_path(CACHE_FILE)


def restart(hub: Hub) -> None:
    """What a new process does: the branch's mailbox, MSAL application and cache are built again from disk."""
    close_mailbox(hub.context(BRANCH, "outlook"))


def token(hub: Hub) -> str:
    return mailbox(hub.context(BRANCH, "outlook")).auth.access_token()


def run_auth(core: Hub, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """`hub auth outlook --branch lyon ...` on this hub; MSAL's polling does not really sleep."""
    monkeypatch.setattr(msal.oauth2cli.oauth2, "time", types.SimpleNamespace(time=time.time, sleep=lambda s: None))
    monkeypatch.setattr(hub_cli, "open_hub", lambda ctx: core)
    monkeypatch.setattr(cli, "_plugins_added", True)  # keep the shared click objects as they were
    monkeypatch.setattr(cli, "commands", dict(cli.commands))
    auth = cli.commands["auth"]
    monkeypatch.setattr(auth, "commands", dict(auth.commands))  # type: ignore[attr-defined]
    core.registry.add_commands(cli)
    return CliRunner().invoke(cli, ["auth", "outlook", "--branch", BRANCH, *args], obj={"registry": core.registry})


# --- settings -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("table", "says"), [
    ({"client_secret": None}, "needs client_secret"),
    ({"mailbox": None}, "needs mailbox"),
    ({"auth": "delegated"}, "remove client_secret"),
    ({"tenant_id": "common"}, "tenant ID"),
    ({"certificate_file": "/k.pem"}, "go together"),
    ({"per_minute": 31}, "less than or equal to 30"),
])
def test_settings_refuse_what_cannot_work(table: dict[str, Any], says: str) -> None:
    data = {**outlook_table(), "client_secret": SECRET, **table}
    with pytest.raises(ValidationError, match=says):
        Settings.model_validate({k: v for k, v in data.items() if v is not None})


def test_settings_defaults() -> None:
    settings = Settings.model_validate({**outlook_table(), "client_secret": SECRET})
    assert (settings.per_minute, settings.daily_recipients, settings.max_concurrency) == (30, 10_000, 4)
    assert settings.login_url == "https://login.microsoftonline.com"
    assert settings.graph_url == "https://graph.microsoft.com/v1.0"
    assert SECRET not in repr(settings)


# --- client credentials -------------------------------------------------------------------------------------

def test_client_credentials_token_once_then_from_the_cache_across_a_restart(
        outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    first = token(outlook_hub)
    assert token(outlook_hub) == first and microsoft.token_posts == ["client_credentials"]
    path = cache_path(outlook_hub)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SECRET not in path.read_text()  # the cache holds tokens, never the app's secret
    restart(outlook_hub)
    assert token(outlook_hub) == first  # MSAL caches app tokens, and serialises them: nothing asked
    assert microsoft.token_posts == ["client_credentials"] and microsoft.discovery_gets == 2


def test_a_cache_file_others_may_read_is_refused(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    token(outlook_hub)
    cache_path(outlook_hub).chmod(0o644)
    restart(outlook_hub)
    with pytest.raises(PluginAuthFailed, match="chmod 600") as caught:
        token(outlook_hub)
    assert caught.value.fix == "hub auth outlook --branch lyon"


def test_a_wrong_secret_says_what_to_fix(make_outlook_hub: Callable[..., Hub], microsoft: FakeMicrosoft) -> None:
    hub = make_outlook_hub()
    microsoft.token_answers.append(httpx.Response(401, json=entra_error(
        "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request "
                                   "is the client secret value, not the client secret ID.")))
    with pytest.raises(PluginAuthFailed) as caught:
        token(hub)
    text = str(caught.value)
    assert "client_secret" in text and "VALEUR" in text and "AADSTS7000215" in text and "lyon" in text
    assert "Trace ID" not in text and caught.value.fix == "hub auth outlook --branch lyon"


def test_an_unknown_tenant_is_named(make_outlook_hub: Callable[..., Hub], router: respx.MockRouter) -> None:
    router.get("https://login.microsoftonline.com/cravate-inconnu.fr/v2.0/.well-known/openid-configuration").mock(
        return_value=httpx.Response(400, json=entra_error("invalid_tenant", 90002, "Tenant not found.")))
    hub = make_outlook_hub(tenant_id="cravate-inconnu.fr")
    with pytest.raises(PluginAuthFailed, match=r"tenant cravate-inconnu\.fr est introuvable"):
        token(hub)


def test_login_unreachable_or_failing_is_not_ready(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    microsoft.token_answers += [httpx.ConnectError("no route"), httpx.Response(503, text="Service Unavailable")]
    with pytest.raises(PluginNotReady, match="injoignable"):
        token(outlook_hub)
    with pytest.raises(PluginNotReady, match="indisponible"):
        token(outlook_hub)
    posts = len(microsoft.token_posts)
    with pytest.raises(PluginNotReady, match="indisponible"):
        token(outlook_hub)  # MSAL itself holds a 5xx for 5 s (its ThrottledHttpClient): no new request
    assert len(microsoft.token_posts) == posts


def test_a_certificate_key_must_be_private(make_outlook_hub: Callable[..., Hub], microsoft: FakeMicrosoft,
                                          router: respx.MockRouter, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path = tmp_path / "outlook.key"
    path.write_bytes(pem)
    path.chmod(0o644)
    hub = make_outlook_hub(certificate_file=str(path), certificate_thumbprint="A1:B2:C3:D4:E5:F6:07:18:29:3A:"
                                                                              "4B:5C:6D:7E:8F:90:A1:B2:C3:D4")
    with pytest.raises(PluginAuthFailed, match="chmod 600"):
        token(hub)
    path.chmod(0o600)
    assert token(hub)
    form = router.calls.last.request.content.decode()
    assert "client_assertion=" in form and "client_secret" not in form  # signed with the key, no secret sent


def test_login_url_receives_every_login_request(make_hub: Callable[..., Hub],
                                                register_plugin: Callable[[str, object], object]) -> None:
    """The sandbox's way in: MSAL keeps the https authority, the adapter sends everything to login_url."""
    register_plugin("outlook", hub_outlook.plugin)
    fake = FakeMicrosoft(login="http://127.0.0.1:8765/login", graph="http://127.0.0.1:8765/graph/v1.0")
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        fake.install(router)  # no route for login.microsoftonline.com: a request there fails the test
        hub = make_hub({BRANCH: {"plugins": ["outlook"], "outlook": outlook_table(
            login_url="http://127.0.0.1:8765/login/", graph_url="http://127.0.0.1:8765/graph/v1.0")}},
            environ={"OUTLOOK_SECRET_LYON": SECRET})
        deliver_directly(hub, make_message(), "k")
        hosts = {call.request.url.host for call in router.calls}
    assert hosts == {"127.0.0.1"} and fake.discovery_gets == 1 and fake.token_posts == ["client_credentials"]
    assert len(fake.sent()) == 1


# --- delegated: the device code flow ------------------------------------------------------------------------

def signed_in(make_outlook_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Hub:
    hub = make_outlook_hub(auth="delegated", **settings)
    result = run_auth(hub, monkeypatch)
    assert result.exit_code == 0, result.output
    return hub


def test_device_code_sign_in_then_tokens_from_the_cache_across_a_restart(
        make_outlook_hub: Callable[..., Hub], microsoft: FakeMicrosoft, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = make_outlook_hub(auth="delegated")
    result = run_auth(hub, monkeypatch, "--timeout", "60")
    assert result.exit_code == 0, result.output
    assert "https://microsoft.com/devicelogin" in result.output and "FG7KQ2MXP" in result.output
    assert "Compte Microsoft 365 connecté pour lyon (compte …@cravate.org)" in result.output
    assert MAILBOX not in result.output
    assert microsoft.token_posts == ["devicecode", "device_code", "device_code"]  # pending once, then signed in
    assert stat.S_IMODE(cache_path(hub).stat().st_mode) == 0o600
    restart(hub)
    deliver_directly(hub, make_message(), "k")  # a new process: the cached access token, no token request
    assert microsoft.token_posts == ["devicecode", "device_code", "device_code"]
    assert len(microsoft.sent()) == 1


def test_delegated_without_mailbox_acts_on_the_signed_in_user_by_id(
        make_outlook_hub: Callable[..., Hub], microsoft: FakeMicrosoft, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = signed_in(make_outlook_hub, monkeypatch, mailbox=None)
    microsoft.mailbox = USER_OID  # /users/{object id}: no address in any URL
    deliver_directly(hub, make_message(from_name=None), "k")
    assert len(microsoft.sent()) == 1 and "from" not in microsoft.sent()[0]


def test_public_client_flows_off_says_where_to_switch_them_on(
        make_outlook_hub: Callable[..., Hub], microsoft: FakeMicrosoft, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = make_outlook_hub(auth="delegated")
    microsoft.token_answers.append(httpx.Response(401, json=entra_error(
        "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' "
                                   "or 'client_secret'.")))
    result = run_auth(hub, monkeypatch)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert ("App registrations > l'application > Authentication > Advanced settings > Allow public client flows "
            "= Yes") in text and "AADSTS7000218" in text


def test_no_sign_in_within_the_timeout(make_outlook_hub: Callable[..., Hub], microsoft: FakeMicrosoft,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    hub = make_outlook_hub(auth="delegated")
    microsoft.pending_polls = 10**6
    result = run_auth(hub, monkeypatch, "--timeout", "0")
    assert result.exit_code == 1 and "délai (0 s)" in result.output


def test_app_mode_command_tests_the_credentials(outlook_hub: Hub, microsoft: FakeMicrosoft,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_auth(outlook_hub, monkeypatch)
    assert result.exit_code == 0 and "Connexion à Microsoft 365 réussie pour lyon" in result.output
    microsoft.token_answers.append(httpx.Response(401, json=entra_error("invalid_client", 7000222, "expired")))
    cache_path(outlook_hub).unlink()
    result = run_auth(outlook_hub, monkeypatch)
    assert result.exit_code == 1 and "a expiré" in result.output


def expire_access_tokens(hub: Hub) -> None:
    path = cache_path(hub)
    data = json.loads(path.read_text())
    for item in data.get("AccessToken", {}).values():
        item["expires_on"] = item["extended_expires_on"] = str(int(time.time()) - 60)
    path.write_text(json.dumps(data))


def test_revoked_consent_pauses_this_plugin_for_this_branch_with_the_command(
        make_outlook_hub: Callable[..., Hub], microsoft: FakeMicrosoft, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = signed_in(make_outlook_hub, monkeypatch)
    expire_access_tokens(hub)
    restart(hub)
    microsoft.revoked = True
    with pytest.raises(PluginAuthFailed) as caught:
        deliver_directly(hub, make_message(), "k")
    assert "hub auth outlook --branch lyon" in str(caught.value) and "AADSTS50173" in str(caught.value)
    assert caught.value.fix == "hub auth outlook --branch lyon" and microsoft.token_posts[-1] == "refresh_token"
    # through the dispatcher: the plugin pauses for this branch; signing in again resumes it
    hub.ingest(BRANCH, "messages", [due(make_message())])
    hub.cycle()
    assert list(hub.store.pauses()) == [(BRANCH, "outlook")]
    microsoft.revoked = False
    microsoft.pending_polls = 0
    result = run_auth(hub, monkeypatch)
    assert result.exit_code == 0, result.output
    assert hub.store.pauses() == {}


def test_no_signed_in_account_says_to_run_the_command(make_outlook_hub: Callable[..., Hub],
                                                      microsoft: FakeMicrosoft) -> None:
    hub = make_outlook_hub(auth="delegated")
    with pytest.raises(PluginAuthFailed, match="aucun compte Microsoft") as caught:
        token(hub)
    assert caught.value.fix == "hub auth outlook --branch lyon" and microsoft.token_posts == []


def test_client_id_is_what_msal_is_given(outlook_hub: Hub, microsoft: FakeMicrosoft,
                                         router: respx.MockRouter) -> None:
    token(outlook_hub)
    form = router.calls.last.request.content.decode()
    assert f"client_id={CLIENT_ID}" in form and "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default" in form
    assert str(router.calls.last.request.url) == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
