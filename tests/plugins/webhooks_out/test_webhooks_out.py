"""Outgoing webhooks: the signature a documented snippet verifies, retries under the same id to the endpoints
not served yet, personal fields only where configured, the erasure, a gone endpoint, the log."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

import hub.cli
from hub.app import Hub
from hub.events import new_id
from hub.privacy.share import FIELDS
from hub.testing import FakeClock, deliver, make_candidate, make_event, pauses, problems, redeliver
from hub_webhooks_out.commands import webhooks_out
from hub_webhooks_out.sandbox import ReceiverSandbox
from hub_webhooks_out.settings import SENDABLE, Settings
from hub_webhooks_out.signing import endpoint_secret

from .conftest import BRANCH, SECRET, endpoint

ROOT = Path(__file__).resolve().parents[3]
Make = Callable[..., Hub]


def documented_verifier() -> Callable[..., dict[str, Any]]:
    """The Python snippet of docs/webhooks-out.md, run as it is written there."""
    page = (ROOT / "docs" / "webhooks-out.md").read_text(encoding="utf-8")
    section = page.split("## Verifying a webhook", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "docs/webhooks-out.md", "exec"), namespace)
    return namespace["verify_webhook"]


def person(**kw: Any) -> Any:
    return make_candidate(id=new_id("cnd"), **kw)


def test_a_send_is_verified_by_the_documented_snippet(receiver: ReceiverSandbox, webhooks_hub: Make) -> None:
    core = webhooks_hub([endpoint(receiver, "crm")])
    delivery = deliver(core, make_event("session_booked", candidate=person()), plugin="webhooks_out", branch=BRANCH)
    assert delivery.done, delivery.last_error
    [got] = receiver.got("crm")
    raw = got["raw"]
    verify = documented_verifier()
    payload = verify(endpoint_secret(SECRET, "crm"), raw["headers"], raw["body"])
    assert payload["type"] == "session_booked" and payload["data"]["reason"] == "booking"
    assert raw["headers"]["webhook-id"] == delivery.key
    assert raw["headers"]["webhook-signature"].startswith("v1,")
    with pytest.raises(ValueError, match="bad signature"):
        verify(endpoint_secret(SECRET, "other"), raw["headers"], raw["body"])
    with pytest.raises(ValueError, match="bad signature"):
        verify(endpoint_secret(SECRET, "crm"), raw["headers"], raw["body"].replace(b"booking", b"bookinG"))


def test_a_retry_reposts_under_the_same_id_only_to_endpoints_not_served(
        receiver: ReceiverSandbox, webhooks_hub: Make, clock: FakeClock) -> None:
    core = webhooks_hub([endpoint(receiver, "crm"), endpoint(receiver, "n8n")])
    receiver.fail_next_request(503, retry_after=120)  # the first request, to crm; n8n answers
    waiting = deliver(core, make_event("outcome_recorded", candidate=person()), plugin="webhooks_out", branch=BRANCH)
    assert waiting.state == "retrying" and "webhook crm" in (waiting.last_error or "")
    assert receiver.posts == {"n8n": 1}
    clock.advance(121)
    again = redeliver(core, waiting)
    assert again.done, again.last_error
    assert receiver.posts == {"n8n": 1, "crm": 1}  # n8n was not posted to again
    assert receiver.got("crm")[0]["id"] == receiver.got("n8n")[0]["id"] == waiting.key


def test_personal_fields_only_where_configured(receiver: ReceiverSandbox, webhooks_hub: Make) -> None:
    core = webhooks_hub([endpoint(receiver, "crm", fields=["first_name", "email"]), endpoint(receiver, "n8n")])
    someone = person(first_name="Aïcha", last_name="Benali", email="aicha.benali@example.org")
    assert deliver(core, make_event("session_booked", candidate=someone), plugin="webhooks_out", branch=BRANCH).done
    crm = receiver.got("crm")[0]["payload"]["data"]
    assert crm["person"] == {"first_name": "Aïcha", "email": "aicha.benali@example.org"}
    n8n = receiver.got("n8n")[0]
    assert "person" not in n8n["payload"]["data"] and n8n["payload"]["data"]["candidate_id"] == someone.id
    for value in ("Aïcha", "Benali", "aicha", "+336"):
        assert value.encode() not in n8n["raw"]["body"] and value not in json.dumps(n8n["payload"])
    assert "Benali" not in json.dumps(crm)


def test_a_branch_share_narrows_what_every_endpoint_gets(receiver: ReceiverSandbox, make_hub: Make,
                                                         register_plugin: Callable[..., object]) -> None:
    import hub_webhooks_out.plugin as plugin

    register_plugin("webhooks_out", plugin)
    core = make_hub({BRANCH: {"plugins": ["webhooks_out"], "privacy": {"share": {"webhooks_out": ["first_name"]}},
                              "webhooks_out": {"endpoints": [endpoint(receiver, "crm", fields=["first_name",
                                                                                               "email"])]}}},
                    environ={"HUB_LYON_WEBHOOKS_OUT_SECRET": SECRET})
    assert deliver(core, make_event("session_booked", candidate=person(first_name="Aïcha")), plugin="webhooks_out",
                   branch=BRANCH).done
    assert receiver.got("crm")[0]["payload"]["data"]["person"] == {"first_name": "Aïcha"}


def test_an_erasure_says_erasure_and_carries_ids_only(receiver: ReceiverSandbox, webhooks_hub: Make) -> None:
    # crm was given names but did not list candidate_forgotten: it is told all the same; n8n follows no erasure
    core = webhooks_hub([endpoint(receiver, "crm", events=("session_booked",), fields=["first_name", "last_name"]),
                         endpoint(receiver, "n8n", events=("session_booked",))])
    someone = person(first_name="Aïcha", last_name="Benali")
    delivery = deliver(core, make_event("candidate_forgotten", candidate=someone), plugin="webhooks_out",
                       branch=BRANCH)
    assert delivery.done, delivery.last_error
    [got] = receiver.got("crm")
    assert got["payload"]["type"] == "candidate_forgotten"
    assert got["payload"]["data"] == {"event_id": got["payload"]["data"]["event_id"], "branch": BRANCH,
                                      "reason": "erasure", "candidate_id": someone.id}
    assert b"Benali" not in got["raw"]["body"] and b"A\\u00efcha" not in got["raw"]["body"]
    assert receiver.got("n8n") == []


def test_cancellation_and_reschedule_say_so(receiver: ReceiverSandbox, webhooks_hub: Make) -> None:
    from hub.testing import make_session

    core = webhooks_hub([endpoint(receiver, "crm")])
    someone = person()
    moved = make_session(replaces="ses_0123456789abcdef0123")
    for event in (make_event("session_cancelled", candidate=someone),
                  make_event("session_booked", candidate=someone, session=moved)):
        assert deliver(core, event, plugin="webhooks_out", branch=BRANCH).done
    assert [g["payload"]["data"]["reason"] for g in receiver.got("crm")] == ["cancellation", "reschedule"]


def test_a_gone_endpoint_is_dead_and_reported(receiver: ReceiverSandbox, webhooks_hub: Make) -> None:
    core = webhooks_hub([endpoint(receiver, "crm")], alert_after=1)
    receiver.gone.add("crm")
    dead = deliver(core, make_event("session_booked", candidate=person()), plugin="webhooks_out", branch=BRANCH)
    assert dead.state == "dead" and "webhook crm n'existe plus (410)" in (dead.last_error or "")
    [problem] = problems(core, plugin="webhooks_out")
    assert problem.ref == "webhook crm" and "hub webhooks-out log --branch lyon --endpoint crm" in problem.message


def test_an_endpoint_failing_in_a_row_is_reported_until_it_answers(
        receiver: ReceiverSandbox, webhooks_hub: Make, clock: FakeClock) -> None:
    core = webhooks_hub([endpoint(receiver, "crm")], alert_after=2)
    for _ in range(2):
        receiver.fail_next_request(503)
        assert deliver(core, make_event("session_booked", candidate=person()), plugin="webhooks_out",
                       branch=BRANCH).state == "retrying"
    assert [p.ref for p in problems(core)] == ["webhook crm"] and "2 fois de suite" in problems(core)[0].message
    clock.advance(hours=2)
    assert deliver(core, make_event("session_booked", candidate=person()), plugin="webhooks_out", branch=BRANCH).done
    assert problems(core) == []


def test_a_refused_signature_pauses_with_the_command_that_fixes_it(receiver: ReceiverSandbox,
                                                                   webhooks_hub: Make) -> None:
    core = webhooks_hub([endpoint(receiver, "crm")])
    receiver.add_receiver("crm", endpoint_secret("another-secret-entirely", "crm"))  # the receiver has an old key
    waiting = deliver(core, make_event("session_booked", candidate=person()), plugin="webhooks_out", branch=BRANCH)
    assert not waiting.done and receiver.refused == {"crm": 1}
    pause = pauses(core)[(BRANCH, "webhooks_out")]
    assert pause.fix is not None and "hub webhooks-out secret --branch lyon --endpoint crm" in pause.fix


def _run(monkeypatch: pytest.MonkeyPatch, core: Hub, *args: str) -> click.testing.Result:
    monkeypatch.setattr(hub.cli, "open_hub", lambda ctx: core)
    return CliRunner().invoke(webhooks_out, list(args))


def test_the_log_command_lists_the_last_sends_per_endpoint(receiver: ReceiverSandbox, webhooks_hub: Make,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    core = webhooks_hub([endpoint(receiver, "crm", fields=["last_name"]), endpoint(receiver, "n8n")])
    receiver.gone.add("n8n")
    event = make_event("session_booked", candidate=person(last_name="Benali"))
    deliver(core, event, plugin="webhooks_out", branch=BRANCH)
    result = _run(monkeypatch, core, "log", "--branch", BRANCH)
    assert result.exit_code == 0, result.output
    crm, n8n = result.output.split("n8n —")
    assert "crm — en ordre" in crm and "204" in crm and event.id in crm and "session_booked" in crm
    assert "1 échec(s) de suite" in n8n and "410" in n8n and event.id in n8n
    assert "Benali" not in result.output
    only = _run(monkeypatch, core, "log", "--branch", BRANCH, "--endpoint", "n8n")
    assert "crm" not in only.output and "410" in only.output
    assert _run(monkeypatch, core, "log", "--branch", BRANCH, "--endpoint", "nope").exit_code == 2


def test_the_secret_command_prints_the_endpoint_key(receiver: ReceiverSandbox, webhooks_hub: Make,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    core = webhooks_hub([endpoint(receiver, "crm")])
    result = _run(monkeypatch, core, "secret", "--branch", BRANCH, "--endpoint", "crm")
    assert result.exit_code == 0 and result.output.strip() == endpoint_secret(SECRET, "crm")
    assert result.output.startswith("whsec_") and endpoint_secret(SECRET, "n8n") != endpoint_secret(SECRET, "crm")


@pytest.mark.parametrize(("change", "message"), [
    ({"url": "http://crm.example.org/hook"}, "https:// required"),
    ({"url": "https://user:pw@crm.example.org/hook"}, "no credentials"),
    ({"events": ["session_boked"]}, "unknown event kind"),
    ({"events": ["message_due"]}, "unknown event kind"),
    ({"fields": ["sex"]}, "cannot be sent"),
    ({"fields": ["outcome.comment"]}, "cannot be sent"),
    ({"name": "Mon CRM"}, "pattern"),
])
def test_settings_refuse_what_cannot_work(change: dict[str, Any], message: str) -> None:
    good = {"name": "crm", "url": "https://crm.example.org/hook", "events": ["session_booked"]}
    with pytest.raises(ValidationError, match=message):
        Settings.model_validate({"secret": SECRET, "endpoints": [{**good, **change}]})
    with pytest.raises(ValidationError, match="16 characters"):
        Settings.model_validate({"secret": "short", "endpoints": [good]})
    with pytest.raises(ValidationError, match="used twice"):
        Settings.model_validate({"secret": SECRET, "endpoints": [good, good]})
    assert Settings.model_validate({"secret": SECRET, "endpoints": [{**good, "url": "http://127.0.0.1:8080/h"}]})


def test_the_sendable_fields_are_the_hub_s_and_never_free_text() -> None:
    assert set(SENDABLE) <= set(FIELDS)
    assert not {"sex", "birth_year", "extra.<question>", "session.cancel_reason", "outcome.comment"} & set(SENDABLE)


def test_the_sandbox_refuses_a_stale_timestamp() -> None:
    from hub_webhooks_out.sandbox import verify
    from hub_webhooks_out.signing import headers

    secret = endpoint_secret(SECRET, "crm")
    signed = headers(secret, "evt_x:webhooks_out", 1_000_000, b"{}")
    assert verify(secret, signed, b"{}", now=1_000_100) == {}
    with pytest.raises(ValueError, match="too old"):
        verify(secret, signed, b"{}", now=1_000_000 + 301)
    with pytest.raises(ValueError, match="too new"):
        verify(secret, signed, b"{}", now=1_000_000 - 301)


def test_a_receiver_that_does_not_answer_is_retried_and_logged(receiver: ReceiverSandbox, webhooks_hub: Make,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = {"name": "down", "url": f"http://127.0.0.1:{port}/hook", "events": ["session_booked"]}
    core = webhooks_hub([down, endpoint(receiver, "crm")])
    waiting = deliver(core, make_event("session_booked", candidate=person()), plugin="webhooks_out", branch=BRANCH)
    assert waiting.state == "retrying" and "webhook down injoignable" in (waiting.last_error or "")
    assert receiver.posts == {"crm": 1}
    result = _run(monkeypatch, core, "log", "--branch", BRANCH, "--endpoint", "down")
    assert "network" in result.output and "1 échec(s) de suite" in result.output
