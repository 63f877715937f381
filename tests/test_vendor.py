"""The vendor boundary (hub.vendor, re-exported by hub.api): every status family, Retry-After in both forms,
network errors, and messages that never carry a token, a URL or what the service sent back. No network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx
from tenacity import wait_none

from hub.api import check_response, failure_for, failure_from_exception, retry_after
from hub.errors import DeliveryRejected, PluginAuthFailed, PluginNotReady
from hub.testing import FakeClock
from hub.vendor import Forbidden

NOW = datetime(2026, 10, 21, 7, 27, 0, tzinfo=UTC)
IN_A_MINUTE = "Wed, 21 Oct 2026 07:28:00 GMT"
TOKEN = "sk_live_9f8e7d6c5b4a"
EMAIL = "aicha.benali@exemple.invalid"
FIX = "hub auth google --branch lyon"


@pytest.mark.parametrize("status", [200, 201, 204, 301, 302, 304])
def test_success_and_redirects_are_no_failure(status: int) -> None:
    assert failure_for(status, service="Carnet") is None


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 507, 599, 408])
def test_rate_limits_and_server_errors_are_not_ready(status: int) -> None:
    failure = failure_for(status, service="Carnet")
    assert isinstance(failure, PluginNotReady)
    assert failure.retry_after == 60.0  # the default wait: no Retry-After given
    assert str(failure).startswith("Carnet ") and f"({status})" in str(failure)


def test_401_is_auth_failed_with_the_plugins_own_fix() -> None:
    failure = failure_for(401, service="Google Sheets", auth_fix=FIX)
    assert isinstance(failure, PluginAuthFailed) and failure.fix == FIX
    assert "401" in str(failure) and "Google Sheets" in str(failure)
    without = failure_for(401, service="Carnet")
    assert isinstance(without, PluginAuthFailed) and without.fix is None  # staff are sent to hub doctor


@pytest.mark.parametrize("status", [400, 404, 409, 410, 418, 422])
def test_other_client_errors_are_rejected(status: int) -> None:
    failure = failure_for(status, service="Carnet", auth_fix=FIX)
    assert type(failure) is DeliveryRejected and f"({status})" in str(failure)


def test_403_is_auth_by_default_and_as_the_caller_says() -> None:
    default = failure_for(403, service="Carnet", auth_fix=FIX)
    assert isinstance(default, PluginAuthFailed) and default.fix == FIX
    assert type(failure_for(403, service="Carnet", forbidden="rejected")) is DeliveryRejected
    quota = failure_for(403, service="Google Sheets", forbidden="not_ready", detail="rateLimitExceeded")
    assert isinstance(quota, PluginNotReady) and quota.retry_after == 60.0 and "rateLimitExceeded" in str(quota)


def test_a_403_with_retry_after_is_a_rate_limit_whatever_forbidden_says() -> None:
    choices: tuple[Forbidden, ...] = ("auth", "rejected")
    for forbidden in choices:
        failure = failure_for(403, service="GitHub", headers={"Retry-After": "30"}, forbidden=forbidden)
        assert isinstance(failure, PluginNotReady) and failure.retry_after == 30.0


@pytest.mark.parametrize(("header", "expected"), [
    ("120", 120.0),
    (IN_A_MINUTE, 60.0),  # an HTTP-date: seconds from now
    ("Wed, 21 Oct 2026 07:00:00 GMT", 0.0),  # already past: go now
    ("soon", 60.0),  # unreadable: the default wait
    ("", 60.0),
])
def test_retry_after_in_both_forms(header: str, expected: float) -> None:
    for status in (429, 503):
        failure = failure_for(status, service="Carnet", headers={"Retry-After": header}, now=NOW)
        assert isinstance(failure, PluginNotReady) and failure.retry_after == pytest.approx(expected)


def test_retry_after_header_name_ignores_case_in_a_plain_dict() -> None:
    """httplib2 (google-api-python-client) gives a dict of lower-case names; others may not."""
    for headers in ({"retry-after": "7"}, {"Retry-After": "7"}, {"RETRY-AFTER": "7"}):
        failure = failure_for(429, service="Carnet", headers=headers)
        assert isinstance(failure, PluginNotReady) and failure.retry_after == 7.0


def test_default_wait_can_be_changed_or_left_to_the_hub() -> None:
    custom = failure_for(503, service="Carnet", default_wait=5.0)
    assert isinstance(custom, PluginNotReady) and custom.retry_after == 5.0
    backoff = failure_for(503, service="Carnet", default_wait=None)
    assert isinstance(backoff, PluginNotReady) and backoff.retry_after is None
    given = failure_for(503, service="Carnet", headers={"Retry-After": "9"}, default_wait=None)
    assert isinstance(given, PluginNotReady) and given.retry_after == 9.0


def test_retry_after_alone_still_reads_both_forms() -> None:
    assert retry_after("120") == 120.0
    assert retry_after(IN_A_MINUTE, now=NOW) == 60.0
    assert retry_after(None) is None and retry_after("soon") is None


def test_detail_is_appended_collapsed_and_bounded() -> None:
    failure = failure_for(400, service="Carnet", detail="  invalid_range \n  on tab  ")
    assert str(failure) == "Carnet a refusé la requête (400) : invalid_range on tab"
    long = failure_for(400, service="Carnet", detail="x" * 1000)
    assert len(str(long)) < 260


def _mock(handler: Any) -> httpx.Client:
    return httpx.Client(base_url="https://carnet.invalid", transport=httpx.MockTransport(handler))


def test_check_response_returns_a_success_and_raises_the_mapped_failure() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        status = int(request.url.path.strip("/"))
        return httpx.Response(status, headers={"Retry-After": IN_A_MINUTE} if status == 503 else {},
                              json={"error": "nope", "email": EMAIL, "token": TOKEN})

    with _mock(answer) as client:
        ok = client.get("/200")
        assert check_response(ok, service="Carnet") is ok
        with pytest.raises(PluginNotReady) as busy:
            check_response(client.get("/503"), service="Carnet", now=NOW)
        assert busy.value.retry_after == 60.0
        with pytest.raises(PluginAuthFailed) as refused:
            check_response(client.get("/401"), service="Carnet", auth_fix=FIX)
        assert refused.value.fix == FIX
        with pytest.raises(DeliveryRejected):
            check_response(client.get("/422"), service="Carnet")
        with pytest.raises(DeliveryRejected):
            check_response(client.get("/403"), service="Carnet", forbidden="rejected")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
def test_messages_never_carry_the_body_the_url_or_the_token(status: int) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"message": f"unknown invitee {EMAIL}", "token": TOKEN})

    with _mock(answer) as client:
        response = client.get(f"/people/{EMAIL}", params={"access_token": TOKEN},
                              headers={"Authorization": f"Bearer {TOKEN}"})
    failure = failure_for(response.status_code, service="Carnet", headers=response.headers)
    assert failure is not None
    for secret in (TOKEN, EMAIL, "carnet.invalid", "people"):
        assert secret not in str(failure)


@pytest.mark.parametrize(("error", "words"), [
    (httpx.ConnectError(f"cannot reach https://carnet.invalid/x?access_token={TOKEN}"), "injoignable (ConnectError)"),
    (httpx.ReadTimeout(f"timed out on https://carnet.invalid/?token={TOKEN}"), "n'a pas répondu à temps (ReadTimeout)"),
    (httpx.RemoteProtocolError(f"peer closed {TOKEN}"), "injoignable (RemoteProtocolError)"),
    (TimeoutError(f"{EMAIL}"), "n'a pas répondu à temps (TimeoutError)"),
    (ConnectionRefusedError(111, f"refused {TOKEN}"), "injoignable (ConnectionRefusedError)"),
    (ConnectionResetError(104, "reset"), "injoignable (ConnectionResetError)"),
    (OSError(101, "Network is unreachable"), "injoignable (OSError)"),
])
def test_network_errors_are_not_ready_naming_the_type_not_the_text(error: Exception, words: str) -> None:
    failure = failure_from_exception(error, service="Carnet")
    assert isinstance(failure, PluginNotReady) and failure.retry_after is None  # the hub's backoff decides
    assert str(failure) == f"Carnet {words}"
    assert TOKEN not in str(failure) and EMAIL not in str(failure) and "carnet.invalid" not in str(failure)


def test_a_network_error_raised_by_httpx_itself() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"[Errno 111] Connection refused: {request.url}")

    with _mock(down) as client:
        try:
            client.get("/signups", params={"token": TOKEN})
        except httpx.TransportError as exc:
            failure = failure_from_exception(exc, service="Carnet")
    assert isinstance(failure, PluginNotReady) and str(failure) == "Carnet injoignable (ConnectError)"


def test_an_sdk_s_own_network_errors_can_be_named() -> None:
    class SdkTransportError(Exception):
        pass

    assert failure_from_exception(SdkTransportError(TOKEN), service="Google Sheets").__class__ is SdkTransportError
    failure = failure_from_exception(SdkTransportError(TOKEN), service="Google Sheets", network=(SdkTransportError,))
    assert isinstance(failure, PluginNotReady) and str(failure) == "Google Sheets injoignable (SdkTransportError)"


def test_raise_for_status_errors_are_mapped_from_their_response() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(int(request.url.path.strip("/")), headers={"Retry-After": "12"})

    with _mock(answer) as client:
        failures = []
        for status in (429, 401, 404):
            try:
                client.get(f"/{status}").raise_for_status()
            except httpx.HTTPStatusError as exc:
                failures.append(failure_from_exception(exc, service="Carnet", auth_fix=FIX))
    busy, refused, missing = failures
    assert isinstance(busy, PluginNotReady) and busy.retry_after == 12.0
    assert isinstance(refused, PluginAuthFailed) and refused.fix == FIX
    assert type(missing) is DeliveryRejected
    assert all("carnet.invalid" not in str(f) for f in failures)


def test_failures_and_surprises_pass_through() -> None:
    already = PluginAuthFailed("déjà classé", fix=FIX)
    assert failure_from_exception(already, service="Carnet") is already
    bug = KeyError("items")
    assert failure_from_exception(bug, service="Carnet") is bug  # a bug stays a bug: retried, then dead


# --- the connectors built on it --------------------------------------------------------------------------------

API = "https://api.calendly.com"


@respx.mock
def test_calendly_5xx_after_its_retries_keeps_the_retry_after_date(clock: FakeClock) -> None:
    from hub_calendly.client import CalendlyClient

    client = CalendlyClient("tok-123", clock=clock, retry_wait=wait_none())
    date = format_datetime((clock() + timedelta(seconds=90)).replace(microsecond=0), usegmt=True)
    route = respx.get(f"{API}/users/me").respond(503, headers={"Retry-After": date})
    with pytest.raises(PluginNotReady) as caught:
        client.me()
    assert route.call_count == 3 and caught.value.retry_after == pytest.approx(90, abs=1)
    assert "Calendly" in str(caught.value) and "503" in str(caught.value)


@respx.mock
def test_calendly_network_failure_names_the_type_never_the_url(clock: FakeClock) -> None:
    from hub_calendly.client import CalendlyClient

    client = CalendlyClient(TOKEN, clock=clock, retry_wait=wait_none())
    respx.get(f"{API}/users/me").mock(side_effect=httpx.ConnectError(f"refused {API}/users/me {TOKEN}"))
    with pytest.raises(PluginNotReady) as caught:
        client.me()
    assert str(caught.value) == "Calendly injoignable (ConnectError)"
    assert caught.value.__suppress_context__ and caught.value.__cause__ is None


@respx.mock
def test_calendly_401_says_what_to_do_and_other_4xx_stay_typed_rejections(clock: FakeClock) -> None:
    from hub_calendly.client import CalendlyClient, CalendlyError

    client = CalendlyClient(TOKEN, clock=clock, retry_wait=wait_none())
    respx.get(f"{API}/users/me").respond(401, json={"title": "Unauthenticated", "message": TOKEN})
    with pytest.raises(PluginAuthFailed) as refused:
        client.me()
    assert "nouveau jeton" in str(refused.value) and TOKEN not in str(refused.value)
    assert refused.value.fix is None  # no login command: hub doctor, then hub retry
    respx.post(f"{API}/scheduling_links").respond(400, json={"title": "Invalid Argument", "message": "owner"})
    with pytest.raises(CalendlyError) as bad:
        client.create_scheduling_link("x")
    assert bad.value.status == 400
    assert isinstance(bad.value, DeliveryRejected)  # a delivery meeting it is dead at once, not retried


def _http_error(status: int, headers: dict[str, str], body: dict[str, Any]) -> Exception:
    import httplib2
    from googleapiclient.errors import HttpError

    return HttpError(httplib2.Response({"status": status, **headers}), json.dumps(body).encode())


def _sheets() -> Any:
    from hub_gsheets.client import SheetsClient

    client = SheetsClient.__new__(SheetsClient)  # no service: only the error mapping is exercised
    client.branch, client.auth = "lyon", None
    return client


@pytest.mark.parametrize("header", ["30", "HTTP-DATE"])
def test_sheets_reads_retry_after_in_both_forms(header: str) -> None:
    value = format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=True) if header == "HTTP-DATE" else header
    body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded"}}
    failure = _sheets()._http_error(_http_error(429, {"retry-after": value}, body))
    assert isinstance(failure, PluginNotReady)
    assert failure.retry_after == (30.0 if header == "30" else pytest.approx(0, abs=2))
    assert "429" in str(failure) and "RESOURCE_EXHAUSTED" in str(failure)
    none = _sheets()._http_error(_http_error(503, {}, {}))
    assert isinstance(none, PluginNotReady) and none.retry_after == 60.0  # the quota's minute


def test_sheets_keeps_googles_reasons_and_its_french_messages() -> None:
    from hub_gsheets.client import SheetsError

    quota = {"error": {"code": 403, "message": "Rate Limit", "errors": [{"reason": "userRateLimitExceeded"}]}}
    failure = _sheets()._http_error(_http_error(403, {}, quota))
    assert isinstance(failure, PluginNotReady) and "userRateLimitExceeded" in str(failure)
    denied = _sheets()._http_error(_http_error(403, {}, {"error": {"code": 403, "status": "PERMISSION_DENIED"}}))
    assert isinstance(denied, PluginAuthFailed) and "n'a pas accès à ce classeur" in str(denied)
    missing = _sheets()._http_error(_http_error(404, {}, {"error": {"code": 404, "status": "NOT_FOUND"}}))
    assert isinstance(missing, SheetsError) and isinstance(missing, DeliveryRejected)
    assert "spreadsheet_id" in str(missing)
    refused = _sheets()._http_error(_http_error(401, {}, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}))
    assert isinstance(refused, PluginAuthFailed) and refused.fix == "hub auth google --branch lyon"
    bad = _sheets()._http_error(_http_error(400, {}, {"error": {"code": 400, "message": "Unable to parse range"}}))
    assert isinstance(bad, SheetsError) and "Unable to parse range" in str(bad)
