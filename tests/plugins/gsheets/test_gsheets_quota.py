"""Quotas: the fake counts them per user and per project as Google does, and several branches on one Google
account get a structural warning (computed from their intervals) in `hub status` and `hub doctor`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gsheets_helpers import SHEET_ID, gsheets_table

import hub_gsheets.plugin
from hub.app import Hub
from hub.sandbox import serve
from hub.status import collect
from hub_google import token_path
from hub_gsheets.sandbox import SheetsSandbox

# --- the fake ----------------------------------------------------------------------------------------------------


_SERVICES: dict[tuple[str, str], Any] = {}


def read(url: str, token: str) -> Any:
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

    if (url, token) not in _SERVICES:
        _SERVICES[url, token] = build("sheets", "v4", credentials=Credentials(token=token), static_discovery=True,
                                      client_options={"api_endpoint": url + "/"}, cache_discovery=False)
    return _SERVICES[url, token].spreadsheets().values().get(spreadsheetId="S", range="Sheet1!A1")


def test_quota_is_per_user_across_tokens_and_per_project_across_users(clock: Any) -> None:
    from googleapiclient.errors import HttpError

    fake = SheetsSandbox(tokens={f"t{i}" for i in range(8)}, quota=True, clock=clock)
    fake.create("S", {"Sheet1": [["x"]]})
    fake.quota.users = {"t0": "alice", "t1": "alice"}  # a refreshed token is the same account
    with serve({"gsheets": fake}) as urls:
        for i in range(60):
            read(urls["gsheets"], f"t{i % 2}").execute()
        with pytest.raises(HttpError) as caught:
            read(urls["gsheets"], "t1").execute()
        error = json.loads(caught.value.content)["error"]
        assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
        info = error["details"][0]
        assert info["reason"] == "RATE_LIMIT_EXCEEDED" and info["@type"].endswith("google.rpc.ErrorInfo")
        assert (info["metadata"]["quota_limit"], info["metadata"]["quota_limit_value"]) == (
            "ReadRequestsPerMinutePerUser", "60")
        for user in range(2, 7):  # five more accounts of the same project: 300 reads in all, then refused
            for _ in range(60 if user < 6 else 1):
                try:
                    read(urls["gsheets"], f"t{user}").execute()
                except HttpError as exc:
                    error = json.loads(exc.content)["error"]
                    break
        assert error["details"][0]["metadata"]["quota_limit"] == "ReadRequestsPerMinutePerProject"
        assert error["details"][0]["metadata"]["quota_limit_value"] == "300"
        clock.advance(minutes=1)  # quotas refill every minute
        assert read(urls["gsheets"], "t1").execute()["values"] == [["x"]]


# --- the structural warning --------------------------------------------------------------------------------------

@pytest.fixture
def fleet(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object], sandbox_url: str,
          tmp_path: Path) -> Callable[..., Hub]:
    """A hub of `count` branches, all on one service account unless `key` says otherwise per branch."""
    register_plugin("gsheets", hub_gsheets.plugin)

    def key(name: str, email: str, project: str = "antennes") -> Path:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"type": "service_account", "client_email": email, "project_id": project}))
        path.chmod(0o600)
        return path

    def make(count: int, keys: Callable[[int], Path] | None = None, **overrides: Any) -> Hub:
        shared = key("shared", "hub@antennes.iam.gserviceaccount.com")
        branches = {f"antenne{i}": {"plugins": ["gsheets"], "gsheets": gsheets_table(
            sandbox_url, auth="service_account", service_account_file=str(keys(i) if keys else shared),
            **overrides)} for i in range(count)}
        hub = make_hub(branches)
        for branch in branches:
            hub.setup.get((branch, "gsheets"), force=True)  # what the daemon does at start
        return hub

    make.key = key  # type: ignore[attr-defined]
    return make


def warnings(hub: Hub) -> dict[str, str]:
    return {b.branch: p["problem"] for b in collect(hub) for p in b.problems if p["where"] == "quota Google"}


def doctor(hub: Hub, branch: str) -> Callable[[], str]:
    return next(c.run for c in hub.branches[branch].checks("gsheets") if c.name == "quota Google partagé")


def test_ten_branches_on_one_account_are_warned_with_the_interval_that_fits(fleet: Any) -> None:
    hub = fleet(10)
    shown = warnings(hub)
    assert sorted(shown) == [f"antenne{i}" for i in range(10)]
    message = shown["antenne3"]
    # 10 branches x (60/10 s suivi + 60/300 s formulaire + 2 per hour of full re-read) = 62 reads a minute
    assert "10 antennes (antenne3, antenne0, antenne1, antenne2, antenne4" in message
    assert "62 lectures" in message and "60 par minute et par utilisateur" in message
    assert "sync_interval = 30 et form_interval = 30" in message and "hub doctor --branch antenne3" in message
    with pytest.raises(RuntimeError, match="poll_interval = 30s conviendrait"):
        doctor(hub, "antenne0")()

    fitted = fleet(10, sync_interval=30, form_interval=30)  # the fix the message gives
    assert warnings(fitted) == {}
    assert "lectures par minute" in doctor(fitted, "antenne0")()


def test_two_branches_sharing_one_account_versus_one_account_each(fleet: Any) -> None:
    both = fleet(2, sync_interval=2)  # 2 x 30 reads a minute (+ the forms') on one account
    assert sorted(warnings(both)) == ["antenne0", "antenne1"]
    message = warnings(both)["antenne1"]
    assert "2 antennes (antenne1, antenne0)" in message and "60 lectures" in message

    own = fleet(2, keys=lambda i: fleet.key(f"k{i}", f"hub{i}@antennes.iam.gserviceaccount.com"), sync_interval=2)
    assert warnings(own) == {}  # 30 each: under the per-user quota, 60 under the project's 300


def test_one_project_for_many_accounts_hits_the_project_quota(fleet: Any) -> None:
    hub = fleet(10, keys=lambda i: fleet.key(f"p{i}", f"hub{i}@antennes.iam.gserviceaccount.com"), sync_interval=2)
    message = warnings(hub)["antenne0"]  # 30 reads a minute each, 302 for the project
    assert "même projet Google Cloud" in message and "300 par minute et par projet" in message


def test_a_copied_oauth_token_is_one_account(make_hub: Callable[..., Hub],
                                             register_plugin: Callable[[str, object], object],
                                             sandbox_url: str) -> None:
    register_plugin("gsheets", hub_gsheets.plugin)
    branches = {b: {"plugins": ["gsheets"], "gsheets": gsheets_table(sandbox_url, auth="oauth", sync_interval=2)}
                for b in ("lyon", "nantes")}
    hub = make_hub(branches)
    for branch in branches:  # staff copied one branch's token file to the other
        path = token_path(hub.context(branch, "gsheets"))
        path.write_text(json.dumps({"token": "ya29.x", "refresh_token": "1//le-meme", "client_id": "c.apps",
                                    "client_secret": "s", "token_uri": f"{sandbox_url}/token"}))
        path.chmod(0o600)
    for branch in branches:
        hub.setup.get((branch, "gsheets"), force=True)
    assert sorted(warnings(hub)) == ["lyon", "nantes"]
    assert "1//le-meme" not in warnings(hub)["lyon"] and SHEET_ID not in warnings(hub)["lyon"]
