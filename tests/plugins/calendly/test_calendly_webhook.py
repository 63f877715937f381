"""The webhook route: signatures, payload shapes, unknown kinds, idempotence, reschedules in both orders."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from hub.app import Hub
from hub.testing import FakeClock
from hub_calendly.sandbox import CalendlySandbox
from hub_calendly.webhook import sign, verify_signature

from .conftest import BRANCH, deliver, fixture_bytes, kinds, stored, webhook_sender

KEY = "test-signing-key"


def signed(body: bytes, when: float, key: str = KEY) -> dict[str, str]:
    return {"Content-Type": "application/json", "Calendly-Webhook-Signature": sign(key, body, int(when))}


def test_signature_matches_the_documented_test_vector(clock: FakeClock) -> None:
    # vector from the project's research notes (key = the OpenAPI example's signing_key)
    key = "5mEzn9C-I28UtwOjZJtFoob0sAAFZ95GbZkqj4y3i0I"
    assert sign(key, b'{"event":"invitee.created"}', 1700000000) == (
        "t=1700000000,v1=93729f19118c118dd3e4c50475a64689b39b25bd43630067401342b83f789987")


def test_verify_signature_reasons(clock: FakeClock) -> None:
    body, now = b"{}", clock()
    t = int(now.timestamp())
    assert verify_signature(sign(KEY, body, t), body, KEY, now) is None
    assert verify_signature(None, body, KEY, now) == "missing signature"
    assert verify_signature("v1=abc", body, KEY, now) == "malformed signature"
    assert verify_signature(sign(KEY, body, t - 181), body, KEY, now) == "signature timestamp out of tolerance"
    assert verify_signature(sign(KEY, body, t - 179), body, KEY, now) is None
    assert verify_signature(sign("other", body, t), body, KEY, now) == "bad signature"
    assert verify_signature(sign(KEY, body, t), body + b" ", KEY, now) == "bad signature"


def test_a_header_with_several_v1_values_is_accepted_when_any_matches(clock: FakeClock) -> None:
    """During a signing-key rotation a header can carry several v1 values (Stripe-style `t=...,v1=a,v1=b`); the
    right one need not be last (issue 11, defect 3)."""
    body, now = b"{}", clock()
    t = int(now.timestamp())
    good = sign(KEY, body, t).split("v1=")[1]
    wrong = sign("old-key", body, t).split("v1=")[1]
    assert verify_signature(f"t={t},v1={good},v1={wrong}", body, KEY, now) is None
    assert verify_signature(f"t={t},v1={wrong},v1={good}", body, KEY, now) is None
    assert verify_signature(f"t={t},v1={wrong},v1={wrong}", body, KEY, now) == "bad signature"


def test_a_signed_booking_is_stored_with_its_candidate(calendly_hub: Hub, clock: FakeClock) -> None:
    body = fixture_bytes("webhook_invitee_created.json")
    reply = deliver(calendly_hub, body, signed(body, clock().timestamp()))
    assert reply.status == 200
    assert kinds(calendly_hub) == ["candidate_registered", "session_booked"]
    [booked] = stored(calendly_hub, "session_booked")
    assert booked["session"]["ref"].endswith("/invitees/INV0000000000001")
    assert booked["candidate"]["email"] == "aicha.benali@exemple.invalid"


def test_bad_signature_is_401_and_creates_nothing(calendly_hub: Hub, clock: FakeClock) -> None:
    body = fixture_bytes("webhook_invitee_created.json")
    reply = deliver(calendly_hub, body, signed(body, clock().timestamp(), key="not-the-key"))
    assert reply.status == 401 and reply.events == []
    assert kinds(calendly_hub) == []


def test_missing_signature_is_401(calendly_hub: Hub) -> None:
    reply = deliver(calendly_hub, fixture_bytes("webhook_invitee_created.json"), {})
    assert reply.status == 401 and kinds(calendly_hub) == []


def test_old_timestamp_is_401(calendly_hub: Hub, clock: FakeClock) -> None:
    body = fixture_bytes("webhook_invitee_created.json")
    headers = signed(body, clock().timestamp())
    clock.advance(minutes=3, seconds=1)  # a replay of a genuine delivery, 3 min later
    reply = deliver(calendly_hub, body, headers)
    assert reply.status == 401 and kinds(calendly_hub) == []


def test_tampered_body_is_401(calendly_hub: Hub, clock: FakeClock) -> None:
    body = fixture_bytes("webhook_invitee_created.json")
    headers = signed(body, clock().timestamp())
    reply = deliver(calendly_hub, body.replace(b"aicha", b"mallory"), headers)
    assert reply.status == 401 and kinds(calendly_hub) == []


def test_malformed_json_is_400_and_a_problem_for_staff(calendly_hub: Hub, clock: FakeClock) -> None:
    body = b'{"event": "invitee.created", "payload": {'
    reply = deliver(calendly_hub, body, signed(body, clock().timestamp()))
    assert reply.status == 400 and reply.events == []
    [problem] = calendly_hub.store.list_problems(BRANCH)
    assert problem.plugin == "calendly" and "JSON" in problem.message


def test_unknown_event_kind_is_200_and_ignored(calendly_hub: Hub, clock: FakeClock) -> None:
    body = fixture_bytes("webhook_routing_form_submission_created.json")
    reply = deliver(calendly_hub, body, signed(body, clock().timestamp()))
    assert reply.status == 200 and b"ignored" in reply.body and reply.events == []
    assert kinds(calendly_hub) == []


def test_the_same_webhook_ten_times_is_one_event(calendly_hub: Hub, clock: FakeClock) -> None:
    body = fixture_bytes("webhook_invitee_created.json")
    for _ in range(10):
        assert deliver(calendly_hub, body, signed(body, clock().timestamp())).status == 200
        clock.advance(5)
    assert kinds(calendly_hub) == ["candidate_registered", "session_booked"]


def _book_then(calendly_hub: Hub, clock: FakeClock, *names: str) -> None:
    for name in ("webhook_invitee_created.json", *names):
        body = fixture_bytes(name)
        assert deliver(calendly_hub, body, signed(body, clock().timestamp())).status == 200


def _assert_one_reschedule(calendly_hub: Hub) -> None:
    assert kinds(calendly_hub) == ["candidate_registered", "session_booked", "session_booked"]
    first, moved = stored(calendly_hub, "session_booked")
    assert moved["session"]["replaces"] == first["session"]["id"]
    assert moved["candidate"]["id"] == first["candidate"]["id"]
    assert moved["session"]["start"].startswith("2026-03-09T12:30")


def test_reschedule_cancel_first_then_create(calendly_hub: Hub, clock: FakeClock) -> None:
    _book_then(calendly_hub, clock, "webhook_invitee_canceled_rescheduled.json",
               "webhook_invitee_created_rescheduled.json")
    _assert_one_reschedule(calendly_hub)


def test_reschedule_create_first_then_cancel(calendly_hub: Hub, clock: FakeClock) -> None:
    _book_then(calendly_hub, clock, "webhook_invitee_created_rescheduled.json",
               "webhook_invitee_canceled_rescheduled.json")
    _assert_one_reschedule(calendly_hub)


def test_plain_cancellation(calendly_hub: Hub, clock: FakeClock) -> None:
    _book_then(calendly_hub, clock, "webhook_invitee_canceled.json")
    assert kinds(calendly_hub) == ["candidate_registered", "session_booked", "session_cancelled"]


def test_no_key_means_every_delivery_is_refused(make_hub: Callable[..., Hub], register_plugin: Callable[..., object],
                                                sandbox_url: str, clock: FakeClock) -> None:
    import hub_calendly.plugin as plugin
    register_plugin("calendly", plugin)
    hub = make_hub({BRANCH: {"plugins": ["calendly"], "calendly": {"api_url": sandbox_url}}},
                   environ={"HUB_ANTENNE_CALENDLY_TOKEN": "t"})
    body = fixture_bytes("webhook_invitee_created.json")
    reply = deliver(hub, body, signed(body, clock().timestamp()))
    assert reply.status == 401 and kinds(hub) == []


def test_old_payload_shape_fetches_the_scheduled_event(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                       clock: FakeClock) -> None:
    sandbox.legacy_payloads = True
    sandbox.sender = webhook_sender(calendly_hub)
    sandbox.subscribe_directly(BRANCH, "http://127.0.0.1:1/webhooks/antenne/calendly", KEY)
    before = sandbox.request_count(BRANCH)
    sandbox.book(BRANCH, email="a@exemple.invalid", first_name="Awa", last_name="Diallo",
                 start=clock() + timedelta(days=2))
    assert "scheduled_event" not in json.loads(sandbox.outbox[-1].body)["payload"]
    assert sandbox.outbox[-1].status == 200
    assert sandbox.request_count(BRANCH) - before == 1  # GET the scheduled event
    [booked] = stored(calendly_hub, "session_booked")
    assert booked["session"]["start"].startswith((clock() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"))


def test_current_payload_shape_costs_no_request(calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    sandbox.sender = webhook_sender(calendly_hub)
    sandbox.subscribe_directly(BRANCH, "http://127.0.0.1:1/webhooks/antenne/calendly", KEY)
    before = sandbox.request_count(BRANCH)
    sandbox.book(BRANCH, email="a@exemple.invalid", first_name="Awa", last_name="Diallo",
                 start=clock() + timedelta(days=2))
    assert sandbox.request_count(BRANCH) == before
    assert kinds(calendly_hub) == ["candidate_registered", "session_booked"]


def test_no_show_webhook_in_both_shapes(calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    sandbox.sender = webhook_sender(calendly_hub)
    sandbox.subscribe_directly(BRANCH, "http://127.0.0.1:1/webhooks/antenne/calendly", KEY,
                               events=("invitee.created", "invitee_no_show.created"))
    uri = sandbox.book(BRANCH, email="a@exemple.invalid", first_name="Awa", last_name="Diallo",
                       start=clock() + timedelta(hours=1))
    no_show_uri = sandbox.mark_no_show(uri)
    assert kinds(calendly_hub) == ["candidate_registered", "session_booked", "outcome_recorded"]
    [outcome] = stored(calendly_hub, "outcome_recorded")
    assert outcome["outcome"]["category"] == "absent"
    # a bare no-show resource as payload (shape not documented): the invitee is fetched, same source_id
    body = json.dumps({"event": "invitee_no_show.created", "created_at": "2026-03-02T09:00:00Z",
                       "payload": {"uri": no_show_uri, "invitee": uri, "created_at": "2026-03-02T09:00:00Z"}}).encode()
    reply = deliver(calendly_hub, body, signed(body, clock().timestamp()))
    assert reply.status == 200 and len(reply.events) == 1
    assert kinds(calendly_hub).count("outcome_recorded") == 1


def test_a_no_show_taken_back_retracts_the_absence(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                    clock: FakeClock) -> None:
    """Issue 11, defect 3: `invitee_no_show.deleted` (staff un-marking a wrong no-show) was ignored, so the
    "absent" stayed forever."""
    sandbox.sender = webhook_sender(calendly_hub)
    sandbox.subscribe_directly(BRANCH, "http://127.0.0.1:1/webhooks/antenne/calendly", KEY,
                               events=("invitee.created", "invitee_no_show.created", "invitee_no_show.deleted"))
    uri = sandbox.book(BRANCH, email="a@exemple.invalid", first_name="Awa", last_name="Diallo",
                       start=clock() + timedelta(hours=1))
    clock.advance(hours=2)
    no_show = sandbox.mark_no_show(uri)
    clock.advance(minutes=10)
    sandbox.unmark_no_show(no_show)
    assert [d.status for d in sandbox.outbox] == [200, 200, 200]
    absent, withdrawn = stored(calendly_hub, "outcome_recorded")
    assert absent["outcome"]["category"] == "absent"
    assert withdrawn["outcome"]["category"] == "absence_withdrawn"
    assert withdrawn["outcome"]["label"] == "Absence annulée"
    session = calendly_hub.store.get_entity("sessions", withdrawn["session"]["id"])
    assert session is not None and session["status"] == "booked"  # no longer a no-show


def test_a_no_show_marked_again_after_being_taken_back_is_recorded_again(calendly_hub: Hub, sandbox: CalendlySandbox,
                                                                         clock: FakeClock) -> None:
    """Staff take a wrong "absent" back, then mark it again (the person really did not come): the second absence
    was deduplicated away when absences were keyed by invitee alone."""
    sandbox.sender = webhook_sender(calendly_hub)
    sandbox.subscribe_directly(BRANCH, "http://127.0.0.1:1/webhooks/antenne/calendly", KEY,
                               events=("invitee.created", "invitee_no_show.created", "invitee_no_show.deleted"))
    uri = sandbox.book(BRANCH, email="a@exemple.invalid", first_name="Awa", last_name="Diallo",
                       start=clock() + timedelta(hours=1))
    clock.advance(hours=2)
    sandbox.unmark_no_show(sandbox.mark_no_show(uri))
    clock.advance(minutes=10)
    sandbox.mark_no_show(uri)
    assert [d.status for d in sandbox.outbox] == [200, 200, 200, 200]
    outcomes = [e["outcome"]["category"] for e in stored(calendly_hub, "outcome_recorded")]
    assert outcomes == ["absent", "absence_withdrawn", "absent"]
    session_id = stored(calendly_hub, "outcome_recorded")[-1]["session"]["id"]
    session = calendly_hub.store.get_entity("sessions", session_id)
    assert session is not None and session["status"] == "no_show"


def test_a_failed_delivery_is_retried_re_signed_and_accepted_after_the_tolerance(
        calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock) -> None:
    """Calendly retries a failed delivery with exponential back-off for 24 hours and signs each attempt anew, so a
    retry 10 minutes later carries a fresh t= and passes the 3-minute tolerance (see sandbox._sign)."""
    down = True
    sandbox.sender = lambda d: 503 if down else webhook_sender(calendly_hub)(d)
    sandbox.subscribe_directly(BRANCH, "http://127.0.0.1:1/webhooks/antenne/calendly", KEY)
    sandbox.book(BRANCH, email="a@exemple.invalid", first_name="Awa", last_name="Diallo",
                 start=clock() + timedelta(days=2))
    [delivery] = sandbox.outbox
    first_signature = delivery.headers["Calendly-Webhook-Signature"]
    assert delivery.status == 503 and delivery.next_try is not None
    down = False
    clock.advance(minutes=10)
    assert sandbox.retry_due() == [delivery]
    assert delivery.status == 200 and delivery.next_try is None
    assert delivery.headers["Calendly-Webhook-Signature"] != first_signature
    assert kinds(calendly_hub) == ["candidate_registered", "session_booked"]
    # the first attempt's signature, replayed now, is refused: the tolerance is what makes a fresh t= necessary
    assert deliver(calendly_hub, delivery.body, {"Calendly-Webhook-Signature": first_signature}).status == 401
    assert sandbox.retry_due() == []
