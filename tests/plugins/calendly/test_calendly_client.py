"""The httpx client alone, against respx: auth, pagination, rate limits and error mapping."""

from __future__ import annotations

import httpx
import pytest
import respx
from tenacity import wait_none

from hub.errors import PluginAuthFailed, PluginNotReady
from hub.testing import FakeClock
from hub_calendly.client import CalendlyClient, CalendlyConflict, CalendlyForbidden, CalendlyNotFound

from .conftest import fixture

API = "https://api.calendly.com"


@pytest.fixture
def client(clock: FakeClock) -> CalendlyClient:
    return CalendlyClient("tok-123", clock=clock, retry_wait=wait_none())


@respx.mock
def test_me_sends_the_bearer_token(client: CalendlyClient) -> None:
    route = respx.get(f"{API}/users/me").respond(200, json=fixture("users_me.json"))
    me = client.me()
    assert me["current_organization"].endswith("/organizations/AAAAAAAAAAAAAAAA")
    assert route.calls.last.request.headers["authorization"] == "Bearer tok-123"


@respx.mock
def test_pagination_follows_page_tokens(client: CalendlyClient) -> None:
    route = respx.get(f"{API}/scheduled_events").mock(side_effect=[
        httpx.Response(200, json=fixture("list_scheduled_events_page1.json")),
        httpx.Response(200, json=fixture("list_scheduled_events_page2.json")),
    ])
    items = list(client.collect("/scheduled_events", {"user": f"{API}/users/AAAAAAAAAAAAAAAA"}))
    assert [i["uri"].rsplit("/", 1)[-1] for i in items] == ["EV0000000000001", "EV0000000000002"]
    first, second = (call.request.url.params for call in route.calls)
    assert "page_token" not in first and first["count"] == "100"
    assert second["page_token"] == "PAGE2TOKEN" and second["user"].endswith("AAAAAAAAAAAAAAAA")


@respx.mock
def test_full_uris_stay_on_the_configured_api(clock: FakeClock) -> None:
    client = CalendlyClient("t", "http://127.0.0.1:9", clock=clock)
    route = respx.get("http://127.0.0.1:9/scheduled_events/EV0000000000001").respond(
        200, json=fixture("get_scheduled_event.json"))
    client.get(f"{API}/scheduled_events/EV0000000000001")
    assert route.called  # api.calendly.com was never contacted (assert_all_mocked would fail)


@respx.mock
def test_429_raises_not_ready_with_the_reset_and_blocks_until_then(client: CalendlyClient, clock: FakeClock) -> None:
    route = respx.get(f"{API}/users/me").mock(side_effect=[
        httpx.Response(429, json=fixture("error_429.json"),
                       headers={"X-RateLimit-Limit": "500", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "42"}),
        httpx.Response(200, json=fixture("users_me.json")),
    ])
    with pytest.raises(PluginNotReady) as caught:
        client.me()
    assert caught.value.retry_after == 42
    clock.advance(10)
    with pytest.raises(PluginNotReady) as again:
        client.me()
    assert again.value.retry_after == pytest.approx(32)
    assert route.call_count == 1  # no request while blocked
    clock.advance(33)
    assert client.me()["uri"].endswith("AAAAAAAAAAAAAAAA")
    assert route.call_count == 2


@respx.mock
def test_remaining_zero_stops_before_calendly_says_429(client: CalendlyClient) -> None:
    route = respx.get(f"{API}/users/me").respond(
        200, json=fixture("users_me.json"),
        headers={"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "15"})
    client.me()
    with pytest.raises(PluginNotReady) as caught:
        client.me()
    assert caught.value.retry_after == 15 and route.call_count == 1


@respx.mock
def test_401_is_auth_failed(client: CalendlyClient) -> None:
    respx.get(f"{API}/users/me").respond(401, json={"title": "Unauthenticated", "message": "invalid"})
    with pytest.raises(PluginAuthFailed):
        client.me()


@pytest.mark.parametrize(("status", "name", "error"), [
    (403, "create_webhook_subscription_error_403_plan.json", CalendlyForbidden),
    (409, "create_webhook_subscription_error_409_exists.json", CalendlyConflict),
    (404, "error_404.json", CalendlyNotFound),
])
@respx.mock
def test_client_errors_are_typed(client: CalendlyClient, status: int, name: str, error: type[Exception]) -> None:
    respx.post(f"{API}/webhook_subscriptions").respond(status, json=fixture(name))
    with pytest.raises(error) as caught:
        client.create_webhook_subscription({"url": "https://x"})
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert caught.value.title == fixture(name)["title"]  # type: ignore[attr-defined]


@respx.mock
def test_5xx_is_retried_then_not_ready(client: CalendlyClient) -> None:
    route = respx.get(f"{API}/users/me").respond(503)
    with pytest.raises(PluginNotReady):
        client.me()
    assert route.call_count == 3 and client.requests == 3


@respx.mock
def test_a_transient_5xx_then_success_returns_the_body(client: CalendlyClient) -> None:
    respx.get(f"{API}/users/me").mock(side_effect=[httpx.Response(502), httpx.ConnectError("boom"),
                                                   httpx.Response(200, json=fixture("users_me.json"))])
    assert client.me()["slug"] == "cravate-lyon"


@respx.mock
def test_scheduling_link_body(client: CalendlyClient) -> None:
    route = respx.post(f"{API}/scheduling_links").respond(201, json=fixture("create_scheduling_link_201.json"))
    link = client.create_scheduling_link(f"{API}/event_types/ET0000000000001")
    assert link["booking_url"].startswith("https://calendly.com/d/")
    import json
    assert json.loads(route.calls.last.request.content) == {
        "max_event_count": 1, "owner": f"{API}/event_types/ET0000000000001", "owner_type": "EventType"}
