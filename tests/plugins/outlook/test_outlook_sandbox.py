"""The Outlook sandbox speaks Entra ID to the real msal library and Graph v1.0 to httpx, and refuses what they
refuse: sign-in (client credentials, certificate, device code, refresh, consent), mail (drafts and immutable ids,
the extended-property filter, sending limits), calendar (transactionId, delta), subscriptions, throttling."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import msal
import pytest

from hub.sandbox import DemoContext, DemoPhase
from hub.serving import ServerThread
from hub.testing import FakeClock
from hub_outlook.sandbox import DEMO_SECRET, OutlookSandbox

from .sandbox_helpers import (
    AUTHORITY,
    CLIENT_ID,
    GRAPH_SCOPE,
    MAILBOX,
    OTHER,
    OTHER_TENANT,
    PROP,
    PUBLIC_ID,
    SECRET,
    TENANT,
    Graph,
    app_token,
    certificate,
    event,
    message,
    msal_http,
    receiving,
)

TOKEN_ROUTE = "POST /login/{tenant}/oauth2/v2.0/token"


@pytest.fixture
def fake(clock: FakeClock) -> OutlookSandbox:
    sandbox = OutlookSandbox(clock=clock, allow_http_notifications=True, timeout_delay=0.05)
    sandbox.add_tenant(TENANT, "cravate-test.onmicrosoft.com")
    sandbox.add_app(TENANT, CLIENT_ID, secret=SECRET)
    sandbox.add_app(TENANT, PUBLIC_ID, public_client_flows=True)
    sandbox.add_mailbox(MAILBOX, branch="lyon", tenant=TENANT)
    sandbox.add_mailbox(OTHER, branch="paris", tenant=TENANT)
    sandbox.add_tenant(OTHER_TENANT)
    sandbox.add_mailbox("someone@elsewhere.onmicrosoft.com", tenant=OTHER_TENANT)
    return sandbox


@pytest.fixture
def url(fake: OutlookSandbox) -> Iterator[str]:
    with ServerThread(fake.app()) as server:
        yield server.url


@pytest.fixture
def graph(url: str) -> Graph:
    return Graph(url, app_token(url))


def error(reply: httpx.Response) -> dict[str, Any]:
    body = reply.json()["error"]
    assert set(body["innerError"]) == {"date", "request-id", "client-request-id"}
    return dict(body)


def confidential(url: str, **kw: Any) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(kw.pop("client_id", CLIENT_ID),
                                              client_credential=kw.pop("credential", SECRET),
                                              authority=kw.pop("authority", AUTHORITY), http_client=msal_http(url))


def device_sign_in(url: str, fake: OutlookSandbox, client_id: str = PUBLIC_ID) -> tuple[msal.PublicClientApplication,
                                                                                          dict[str, Any]]:
    app = msal.PublicClientApplication(client_id, authority=AUTHORITY, http_client=msal_http(url))
    flow = app.initiate_device_flow(scopes=["Mail.Send", "Calendars.ReadWrite"])
    assert "user_code" in flow, flow
    flow["expires_at"] = 0  # one poll per call, no waiting
    fake.approve_device(flow["user_code"], user="lyon")
    return app, app.acquire_token_by_device_flow(flow)


# --- sign-in with the real msal --------------------------------------------------------------------------------

def test_client_credentials_with_a_secret_then_msal_answers_from_its_cache(url: str, fake: OutlookSandbox) -> None:
    app = confidential(url)
    first = app.acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert first["token_type"] == "Bearer" and first["expires_in"] > 3000
    assert first["token_source"] == "identity_provider"
    second = app.acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert second["token_source"] == "cache" and second["access_token"] == first["access_token"]
    assert fake.count(TOKEN_ROUTE) == 1
    reply = Graph(url, first["access_token"])("GET", f"/users/{MAILBOX}/messages")
    assert reply.status_code == 200 and reply.json()["value"] == []


def test_login_errors_are_entras(url: str, fake: OutlookSandbox) -> None:
    wrong = confidential(url, credential="not-the-secret").acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert wrong["error"] == "invalid_client" and wrong["error_codes"] == [7000215]
    assert wrong["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    unknown = confidential(url, client_id="0f0f0f0f-0000-4000-8000-000000000000").acquire_token_for_client(
        scopes=GRAPH_SCOPE)
    assert unknown["error"] == "unauthorized_client" and unknown["error_codes"] == [700016]
    scoped = confidential(url).acquire_token_for_client(scopes=["https://graph.microsoft.com/Mail.Send"])
    assert scoped["error"] == "invalid_scope" and scoped["error_codes"] == [1002012]
    with pytest.raises(ValueError) as caught:  # MSAL's discovery fails at construction
        confidential(url, authority="https://login.microsoftonline.com/no-such-tenant.onmicrosoft.com")
    assert "AADSTS90002: Tenant 'no-such-tenant.onmicrosoft.com' not found." in str(caught.value.__context__)
    document = httpx.get(f"{url}/login/cravate-test.onmicrosoft.com/v2.0/.well-known/openid-configuration").json()
    assert document["token_endpoint"] == f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
    assert document["issuer"] == f"https://login.microsoftonline.com/{TENANT}/v2.0"


def test_client_credentials_with_a_certificate(url: str, fake: OutlookSandbox) -> None:
    private, public, thumbprint = certificate()
    fake.add_app(TENANT, "3c4d5e6f-7a8b-4c3d-8e1f-2a3b4c5d6e7f", certificate_pem=public)
    app = confidential(url, client_id="3c4d5e6f-7a8b-4c3d-8e1f-2a3b4c5d6e7f",
                       credential={"private_key": private, "thumbprint": thumbprint})
    assert "access_token" in app.acquire_token_for_client(scopes=GRAPH_SCOPE)
    other_private, _, other_thumbprint = certificate()
    forged = confidential(url, client_id="3c4d5e6f-7a8b-4c3d-8e1f-2a3b4c5d6e7f",
                          credential={"private_key": other_private, "thumbprint": other_thumbprint})
    assert forged.acquire_token_for_client(scopes=GRAPH_SCOPE)["error_codes"] == [700027]


def test_device_code_pending_approved_account_cached_then_refresh(url: str, fake: OutlookSandbox) -> None:
    app = msal.PublicClientApplication(PUBLIC_ID, authority=AUTHORITY, http_client=msal_http(url))
    flow = app.initiate_device_flow(scopes=["Mail.Send"])
    assert flow["verification_uri"] == "https://microsoft.com/devicelogin" and flow["interval"] == 5
    assert flow["message"] == (f"To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
                               f"and enter the code {flow['user_code']} to authenticate.")
    flow["expires_at"] = 0
    pending = app.acquire_token_by_device_flow(flow)
    assert pending["error"] == "authorization_pending" and pending["error_codes"] == [70016]
    fake.approve_device(user="lyon")
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result and "refresh_token" in result, result
    [account] = app.get_accounts()
    assert account["username"] == MAILBOX
    me = Graph(url, result["access_token"])
    assert me("GET", "/me/messages").status_code == 200
    assert me("GET", f"/users/{MAILBOX}/messages").status_code == 200
    assert error(me("GET", f"/users/{OTHER}/messages"))["code"] == "ErrorAccessDenied"

    fake.expire_tokens()
    expired = me("GET", "/me/messages")
    assert expired.status_code == 401 and error(expired)["code"] == "InvalidAuthenticationToken"
    assert expired.headers["WWW-Authenticate"].startswith('Bearer realm=""')
    refreshed = app.acquire_token_silent(["Mail.Send"], account=account, force_refresh=True)
    assert refreshed and refreshed["access_token"] != result["access_token"]
    assert me("GET", "/me/messages", token=refreshed["access_token"]).status_code == 200
    assert fake.count(TOKEN_ROUTE) == 3  # pending, approved, refresh


def test_short_lived_tokens_make_msal_use_the_refresh_token(url: str, fake: OutlookSandbox) -> None:
    fake.token_lifetime = timedelta(seconds=120)  # under MSAL's 5-minute margin: the cached token counts as expired
    app, first = device_sign_in(url, fake)
    [account] = app.get_accounts()
    again = app.acquire_token_silent(["Mail.Send"], account=account)
    assert again and again["access_token"] != first["access_token"] and again["token_source"] == "identity_provider"


def test_device_code_refusals(url: str, fake: OutlookSandbox, clock: FakeClock) -> None:
    fake.add_app(TENANT, "4d5e6f7a-8b9c-4d4e-9f2a-3b4c5d6e7f8a")  # "Allow public client flows" left at No
    app = msal.PublicClientApplication("4d5e6f7a-8b9c-4d4e-9f2a-3b4c5d6e7f8a", authority=AUTHORITY,
                                       http_client=msal_http(url))
    flow = app.initiate_device_flow(scopes=["Mail.Send"])
    flow["expires_at"] = 0
    fake.approve_device(flow["user_code"], user="lyon")
    refused = app.acquire_token_by_device_flow(flow)
    assert refused["error"] == "invalid_client" and refused["error_codes"] == [7000218]

    public = msal.PublicClientApplication(PUBLIC_ID, authority=AUTHORITY, http_client=msal_http(url))
    flow = public.initiate_device_flow(scopes=["Mail.Send"])
    with_secret = httpx.post(f"{url}/login/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": PUBLIC_ID,
        "device_code": flow["device_code"], "client_secret": "anything"})
    assert with_secret.status_code == 401 and with_secret.json()["error_codes"] == [700025]
    clock.advance(901)
    flow["expires_at"] = 0
    expired = public.acquire_token_by_device_flow(flow)
    assert expired["error"] == "expired_token" and expired["error_codes"] == [70020]
    french = httpx.post(f"{url}/login/{TENANT}/oauth2/v2.0/devicecode", headers={"Accept-Language": "fr-FR"},
                        data={"client_id": PUBLIC_ID, "scope": "Mail.Send offline_access"}).json()
    assert french["message"].startswith("Pour vous connecter") and french["user_code"] in french["message"]


def test_revoked_consent(url: str, fake: OutlookSandbox) -> None:
    app = confidential(url)
    token = app.acquire_token_for_client(scopes=GRAPH_SCOPE)["access_token"]
    public, _ = device_sign_in(url, fake)
    [account] = public.get_accounts()
    fake.revoke_consent(TENANT, CLIENT_ID)
    fake.revoke_consent(TENANT, PUBLIC_ID)
    refused = Graph(url, token)("GET", f"/users/{MAILBOX}/messages")
    assert refused.status_code == 401 and error(refused)["code"] == "InvalidAuthenticationToken"
    again = confidential(url).acquire_token_for_client(scopes=GRAPH_SCOPE)
    assert again["error"] == "unauthorized_client" and again["error_codes"] == [700016]
    silent = public.acquire_token_silent_with_error(["Mail.Send"], account=account, force_refresh=True)
    assert silent and silent["error"] == "invalid_grant" and silent["error_codes"] == [65001]
    assert silent["suberror"] == "consent_required"


def test_app_only_tokens_and_the_tenant_boundary(url: str, graph: Graph) -> None:
    me = graph("GET", "/me/messages")
    assert me.status_code == 400 and error(me) | {"innerError": None} == {
        "code": "BadRequest", "message": "/me request is only valid with delegated authentication flow.",
        "innerError": None}
    assert graph("GET", "/users/someone@elsewhere.onmicrosoft.com/messages").status_code == 401
    assert error(graph("GET", "/users/nobody@cravate-test.onmicrosoft.com/messages"))["code"] == "ErrorInvalidUser"
    empty = httpx.get(f"{url}/graph/v1.0/users/{MAILBOX}/messages")
    assert empty.status_code == 401 and error(empty)["message"] == "Access token is empty."
    assert "authorization_uri" in empty.headers["WWW-Authenticate"]


# --- mail ------------------------------------------------------------------------------------------------------

IMMUTABLE = 'IdType="ImmutableId"'


def test_draft_then_send_with_immutable_ids_keeps_the_id(graph: Graph, fake: OutlookSandbox) -> None:
    created = graph("POST", f"/users/{MAILBOX}/messages", message(key="k-1"), prefer=IMMUTABLE)
    assert created.status_code == 201
    draft = created.json()
    drafts_folder = fake.mailbox("lyon").folders["drafts"]
    assert draft["isDraft"] is True and draft["parentFolderId"] == drafts_folder
    assert draft["internetMessageId"].startswith("<") and draft["changeKey"] and draft["createdDateTime"]
    assert [d["subject"] for d in fake.drafts("lyon")] == ["Bienvenue"]
    sent = graph("POST", f"/users/{MAILBOX}/messages/{draft['id']}/send", prefer=IMMUTABLE)
    assert sent.status_code == 202 and sent.content == b""
    after = graph("GET", f"/users/{MAILBOX}/messages/{draft['id']}", prefer=IMMUTABLE).json()
    assert after["id"] == draft["id"] and after["isDraft"] is False and after["sentDateTime"]
    assert after["parentFolderId"] == fake.mailbox("lyon").folders["sentitems"]
    [mail] = fake.sent("lyon")
    assert mail.subject == "Bienvenue" and mail.to == ["aicha@example.org"] and mail.body == "<p>Bonjour</p>"
    assert mail.headers == {"X-Cravate-Key": "k-1"} and mail.extended == {PROP: "k-1"}
    assert fake.drafts("lyon") == []
    again = graph("POST", f"/users/{MAILBOX}/messages/{draft['id']}/send", prefer=IMMUTABLE)
    assert again.status_code == 400 and len(fake.sent("lyon")) == 1


def test_without_immutable_ids_the_id_changes_when_sent(graph: Graph, fake: OutlookSandbox) -> None:
    draft = graph("POST", f"/users/{MAILBOX}/messages", message()).json()
    assert graph("POST", f"/users/{MAILBOX}/messages/{draft['id']}/send").status_code == 202
    gone = graph("GET", f"/users/{MAILBOX}/messages/{draft['id']}")
    assert gone.status_code == 404 and error(gone)["code"] == "ErrorItemNotFound"
    assert error(gone)["message"] == "The specified object was not found in the store."
    [moved] = graph("GET", f"/users/{MAILBOX}/mailFolders/sentitems/messages").json()["value"]
    assert moved["id"] != draft["id"] and moved["subject"] == "Bienvenue"
    assert graph("GET", f"/users/{MAILBOX}/mailFolders/drafts/messages").json()["value"] == []
    folder = graph("GET", f"/users/{MAILBOX}/mailFolders/sentitems", params={"$select": "id,totalItemCount"}).json()
    assert folder["id"] == moved["parentFolderId"] and folder["totalItemCount"] == 1
    assert graph("DELETE", f"/users/{MAILBOX}/messages/{moved['id']}").status_code == 204
    assert error(graph("POST", f"/users/{MAILBOX}/messages/AAMkADnope/send"))["code"] == "ErrorItemNotFound"


def test_the_extended_property_filter_finds_a_sent_message(graph: Graph) -> None:
    for key in ("k-1", "k-2"):
        draft = graph("POST", f"/users/{MAILBOX}/messages", message(key=key), prefer=IMMUTABLE).json()
        graph("POST", f"/users/{MAILBOX}/messages/{draft['id']}/send", prefer=IMMUTABLE)
    wanted = f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and ep/value eq 'k-2')"
    found = graph("GET", f"/users/{MAILBOX}/messages", prefer=IMMUTABLE, params={
        "$filter": wanted, "$select": "subject,isDraft,internetMessageHeaders",
        "$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"}).json()["value"]
    assert [(m["isDraft"], m["singleValueExtendedProperties"][0]["value"]) for m in found] == [(False, "k-2")]
    assert set(found[0]) == {"@odata.etag", "id", "subject", "isDraft", "internetMessageHeaders",
                             "singleValueExtendedProperties"}
    none = graph("GET", f"/users/{MAILBOX}/messages", params={"$filter": wanted.replace("k-2", "k-9")})
    assert none.json()["value"] == []
    for other in ("subject eq 'Bienvenue'", f"singleValueExtendedProperties/any(ep: ep/id eq '{PROP}')"):
        refused = graph("GET", f"/users/{MAILBOX}/messages", params={"$filter": other})
        assert refused.status_code == 400 and error(refused)["code"] == "ErrorInvalidUrlQueryFilter"
    unknown = graph("GET", f"/users/{MAILBOX}/messages", params={"$select": "subjekt"})
    assert unknown.status_code == 400


def test_internet_message_headers_rules(graph: Graph) -> None:
    threading_header = graph("POST", f"/users/{MAILBOX}/messages",
                             message(headers=[{"name": "In-Reply-To", "value": "<a@b>"}]))
    assert threading_header.status_code == 400 and error(threading_header)["code"] == "InvalidInternetMessageHeader"
    many = graph("POST", f"/users/{MAILBOX}/messages",
                 message(headers=[{"name": f"X-Key-{i}", "value": "v"} for i in range(6)]))
    assert many.status_code == 400 and error(many)["code"] == "InvalidInternetMessageHeaderCollection"


def test_send_mail_and_the_sending_limits(graph: Graph, fake: OutlookSandbox, clock: FakeClock) -> None:
    for i in range(30):
        reply = graph("POST", f"/users/{MAILBOX}/sendMail", {"message": message(f"n{i}"), "saveToSentItems": "false"})
        assert reply.status_code == 202 and reply.content == b""
    over = graph("POST", f"/users/{MAILBOX}/sendMail", {"message": message("n30")})
    assert over.status_code == 429 and error(over)["code"] == "ErrorExceededMessageLimit"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    clock.advance(61)
    assert graph("POST", f"/users/{MAILBOX}/sendMail", {"message": message("n30")}).status_code == 202
    assert len(fake.sent("lyon")) == 31
    assert len(graph("GET", f"/users/{MAILBOX}/mailFolders/sentitems/messages").json()["value"]) == 1
    fake.recipients_per_day = 32
    crowded = message("many")
    crowded["ccRecipients"] = [{"emailAddress": {"address": "x@example.org"}}]
    refused = graph("POST", f"/users/{MAILBOX}/sendMail", {"message": crowded})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 3600
    mime = httpx.post(f"{graph.base}/graph/v1.0/users/{MAILBOX}/sendMail", content=b"not base64 !",
                      headers={"Authorization": f"Bearer {graph.token}", "Content-Type": "text/plain"})
    assert error(mime)["code"] == "ErrorMimeContentInvalidBase64String"


# --- calendar --------------------------------------------------------------------------------------------------

UTC_TIMES = 'outlook.timezone="UTC"'


def test_events_transaction_id_time_zones_and_teams(graph: Graph, fake: OutlookSandbox) -> None:
    body = event("Atelier CV", "2026-03-10T14:00:00", "2026-03-10T17:00:00", "Romance Standard Time",
                 transactionId="session-42", isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness",
                 attendees=[{"emailAddress": {"address": "aicha@example.org"}, "type": "required"}])
    first = graph("POST", f"/users/{MAILBOX}/events", body, prefer=UTC_TIMES)
    second = graph("POST", f"/users/{MAILBOX}/events", body, prefer=UTC_TIMES)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"] and len(fake.events("lyon")) == 1
    created = first.json()
    assert created["start"] == {"dateTime": "2026-03-10T13:00:00.0000000", "timeZone": "UTC"}
    assert created["originalStartTimeZone"] == "Romance Standard Time"
    assert created["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/l/meetup-join/")
    local = graph("GET", f"/users/{MAILBOX}/events/{created['id']}", prefer='outlook.timezone="Europe/Paris"')
    assert local.json()["start"] == {"dateTime": "2026-03-10T14:00:00.0000000", "timeZone": "Europe/Paris"}
    default = graph("GET", f"/users/{MAILBOX}/events/{created['id']}").json()
    assert default["start"]["timeZone"] == "UTC"  # event.md: "By default, the start time is in UTC."
    bad = graph("POST", f"/users/{MAILBOX}/events", event("x", "2026-03-10T14:00", "2026-03-10T15:00", "Paris"))
    assert bad.status_code == 400 and error(bad)["code"] == "TimeZoneNotSupportedException"
    [calendar] = graph("GET", f"/users/{MAILBOX}/calendars").json()["value"]
    assert calendar["isDefaultCalendar"] is True and calendar["name"] == "Calendar"
    other = fake.add_calendar("lyon", "Ateliers")
    placed = graph("POST", f"/users/{MAILBOX}/calendars/{other}/events",
                   event("Atelier", "2026-03-11T09:00:00", "2026-03-11T10:00:00"))
    assert placed.status_code == 201 and len(fake.events("lyon", other)) == 1


def test_reschedule_cancel_and_delete(graph: Graph, fake: OutlookSandbox) -> None:
    created = graph("POST", f"/users/{MAILBOX}/events", event(
        "Atelier", "2026-03-10T09:00:00", "2026-03-10T10:00:00",
        attendees=[{"emailAddress": {"address": "aicha@example.org"}}])).json()
    moved = graph("PATCH", f"/users/{MAILBOX}/events/{created['id']}",
                  {"start": {"dateTime": "2026-03-12T09:00:00", "timeZone": "UTC"},
                   "end": {"dateTime": "2026-03-12T10:00:00", "timeZone": "UTC"}}, prefer=UTC_TIMES)
    assert moved.status_code == 200 and moved.json()["start"]["dateTime"] == "2026-03-12T09:00:00.0000000"
    assert moved.json()["changeKey"] != created["changeKey"]
    cancelled = graph("POST", f"/users/{MAILBOX}/events/{created['id']}/cancel", {"Comment": "Atelier reporté"})
    assert cancelled.status_code == 202
    assert graph("GET", f"/users/{MAILBOX}/events/{created['id']}").status_code == 404
    [notice] = fake.cancellations("lyon")
    assert notice["attendees"] == ["aicha@example.org"] and notice["comment"] == "Atelier reporté"
    theirs = fake.staff_create_event("lyon", "Réunion", _at("2026-03-13T09:00"), _at("2026-03-13T10:00"),
                                     organizer="director@cravate-test.onmicrosoft.com")
    refused = graph("POST", f"/users/{MAILBOX}/events/{theirs}/cancel", {"Comment": "non"})
    assert refused.status_code == 400 and "You need to be an organizer" in error(refused)["message"]
    assert graph("DELETE", f"/users/{MAILBOX}/events/{theirs}").status_code == 204
    assert fake.events("lyon") == []


def test_calendar_view_delta(graph: Graph, fake: OutlookSandbox) -> None:
    ids = [fake.staff_create_event("lyon", f"Atelier {i}", _at(f"2026-03-1{i}T09:00"), _at(f"2026-03-1{i}T10:00"))
           for i in range(3)]
    fake.staff_create_event("lyon", "Plus tard", _at("2026-05-01T09:00"), _at("2026-05-01T10:00"))
    window = {"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-04-01T00:00:00Z"}
    page = graph("GET", f"/users/{MAILBOX}/calendarView/delta", params=window,
                 prefer=f'odata.maxpagesize=2, {UTC_TIMES}').json()
    assert [e["subject"] for e in page["value"]] == ["Atelier 0", "Atelier 1"]
    assert page["@odata.nextLink"].startswith(f"{graph.base}/graph/v1.0/users/{MAILBOX}/calendarView/delta?")
    last = graph("GET", page["@odata.nextLink"], prefer="odata.maxpagesize=2").json()
    assert [e["subject"] for e in last["value"]] == ["Atelier 2"] and "@odata.nextLink" not in last
    idle = graph("GET", last["@odata.deltaLink"]).json()
    assert idle["value"] == [] and idle["@odata.deltaLink"]

    fake.staff_cancel_event("lyon", ids[0])
    fake.staff_move_event("lyon", ids[1], _at("2026-03-20T09:00"), _at("2026-03-20T10:00"))
    fake.staff_move_event("lyon", ids[2], _at("2026-06-01T09:00"), _at("2026-06-01T10:00"))  # leaves the window
    changes = graph("GET", idle["@odata.deltaLink"], prefer=UTC_TIMES).json()
    shown = {c["id"]: c for c in changes["value"]}
    assert shown[ids[0]] == {"@odata.type": "#microsoft.graph.event", "id": ids[0], "@removed": {"reason": "deleted"}}
    assert shown[ids[1]]["start"]["dateTime"] == "2026-03-20T09:00:00.0000000"
    assert shown[ids[2]]["@removed"] == {"reason": "deleted"}

    for option in ("$select", "$filter", "$expand", "$orderby"):
        refused = graph("GET", f"/users/{MAILBOX}/calendarView/delta", params={**window, option: "subject"})
        assert refused.status_code == 400 and error(refused)["code"] == "ErrorInvalidUrlQuery"
    missing = graph("GET", f"/users/{MAILBOX}/calendarView/delta")
    assert missing.status_code == 400 and error(missing)["code"] == "ErrorInvalidParameter"

    fake.expire_delta("lyon")
    gone = graph("GET", changes["@odata.deltaLink"])
    assert gone.status_code == 410 and error(gone)["code"] == "syncStateNotFound"
    restart = graph("GET", gone.headers["Location"]).json()
    assert [e["subject"] for e in restart["value"]] == ["Atelier 1"] and "@odata.deltaLink" in restart


def _at(text: str) -> Any:
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- subscriptions ---------------------------------------------------------------------------------------------

def _subscription(hook: str, clock: FakeClock, **extra: Any) -> dict[str, Any]:
    expires = (clock() + timedelta(days=6)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    return {"changeType": "created,updated,deleted", "notificationUrl": hook, "resource": f"/users/{MAILBOX}/events",
            "expirationDateTime": expires, "clientState": "cravate-state", **extra}


def test_subscription_handshake_notifications_and_lifecycle(graph: Graph, fake: OutlookSandbox,
                                                            clock: FakeClock) -> None:
    with receiving() as (receiver, hook):
        created = graph("POST", "/subscriptions", _subscription(hook, clock, lifecycleNotificationUrl=hook))
        assert created.status_code == 201, created.text
        sub = created.json()
        assert receiver.validations == ["text/plain; charset=utf-8"] * 2
        assert fake.notify("lyon", "updated") == [202]
        [[change]] = [n["value"] for n in receiver.received]
        assert change["clientState"] == "cravate-state" and change["subscriptionId"] == sub["id"]
        assert change["changeType"] == "updated" and change["tenantId"] == TENANT
        assert fake.lifecycle(sub["id"], "reauthorizationRequired") == 202
        assert receiver.received[-1]["value"][0]["lifecycleEvent"] == "reauthorizationRequired"
        assert graph("POST", f"/subscriptions/{sub['id']}/reauthorize").status_code == 204
        later = (clock() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        renewed = graph("PATCH", f"/subscriptions/{sub['id']}", {"expirationDateTime": later})
        assert renewed.status_code == 200 and renewed.json()["expirationDateTime"].startswith(later[:19])
        assert [s["id"] for s in graph("GET", "/subscriptions").json()["value"]] == [sub["id"]]
        assert graph("DELETE", f"/subscriptions/{sub['id']}").status_code == 204
        assert fake.notify("lyon") == []


def test_subscription_refusals(graph: Graph, fake: OutlookSandbox, clock: FakeClock) -> None:
    for mode, words in (("encoded", "Response must exactly match validationToken"), ("status", "200 OK")):
        with receiving(mode) as (_, hook):
            refused = graph("POST", "/subscriptions", _subscription(hook, clock))
            assert refused.status_code == 400 and words in error(refused)["message"], refused.text
    assert graph("GET", "/subscriptions").json()["value"] == []
    strict = OutlookSandbox(clock=clock)
    strict.add_app(TENANT, CLIENT_ID, secret=SECRET)
    strict.add_mailbox(MAILBOX, tenant=TENANT)
    with ServerThread(strict.app()) as server:
        plain = Graph(server.url, app_token(server.url))("POST", "/subscriptions",
                                                         _subscription("http://127.0.0.1:9/hook", clock))
        assert error(plain)["message"] == "NotificationUrl scheme='http' is not supported."
    too_long = graph("POST", "/subscriptions", _subscription("https://example.invalid/hook", clock,
                                                              expirationDateTime="2026-03-12T09:00:00Z"))
    assert "10080 minutes" in error(too_long)["message"]
    me = graph("POST", "/subscriptions", _subscription("https://example.invalid/hook", clock, resource="/me/events"))
    assert me.status_code == 400


# --- throttling, faults, records -------------------------------------------------------------------------------

def test_a_fifth_concurrent_request_on_a_mailbox_is_throttled(graph: Graph, fake: OutlookSandbox) -> None:
    fake.pause()
    statuses: list[int] = []
    workers = [threading.Thread(target=lambda: statuses.append(
        Graph(graph.base, graph.token)("GET", f"/users/{MAILBOX}/messages").status_code)) for _ in range(4)]
    try:
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 5
        while fake.in_flight_for("lyon") < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        fifth = graph("GET", f"/users/{MAILBOX}/messages")
        assert fifth.status_code == 429 and fifth.headers["Retry-After"]
        assert error(fifth) | {"innerError": None} == {
            "code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit.",
            "innerError": None}
    finally:
        fake.resume()
        for worker in workers:
            worker.join(5)
    assert statuses == [200] * 4


def test_fail_next_and_request_records(graph: Graph, fake: OutlookSandbox) -> None:
    fake.fail_next(429)
    throttled = graph("GET", f"/users/{MAILBOX}/messages")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert error(throttled)["code"] == "TooManyRequests"
    assert graph("GET", f"/users/{MAILBOX}/messages").status_code == 200
    draft = graph("POST", f"/users/{MAILBOX}/messages", message(), prefer=IMMUTABLE).json()
    fake.fail_next(503, path_contains="/send")
    assert graph("GET", f"/users/{MAILBOX}/messages/{draft['id']}").status_code == 200
    assert graph("POST", f"/users/{MAILBOX}/messages/{draft['id']}/send").status_code == 503
    assert graph("POST", f"/users/{MAILBOX}/messages/{draft['id']}/send").status_code == 202
    fake.fail_next("timeout")
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{graph.base}/graph/v1.0/users/{MAILBOX}/messages", timeout=0.01,
                  headers={"Authorization": f"Bearer {graph.token}"})
    assert fake.count("POST /users/{m}/messages/{id}/send", mailbox="lyon") == 2
    assert [r.status for r in fake.requests("/send")] == [503, 202]
    assert fake.count("POST /users/{m}/messages") == 1


def test_demo_settings_environ_and_description(url: str) -> None:
    demo_fake = OutlookSandbox()
    demo = DemoContext(branch="lyon", base_url=url, people=[], now=lambda: _at("2026-03-02T09:00"))
    settings = demo_fake.demo_settings(demo)
    assert settings["login_url"] == f"{url}/login" and settings["graph_url"] == f"{url}/graph/v1.0"
    assert settings["mailbox"] == "lyon@cravate-demo.onmicrosoft.com" and settings["auth"] == "app"
    assert demo_fake.demo_environ(demo) == {settings["client_secret"]["env"]: DEMO_SECRET}
    demo_fake.staff_create_event("lyon", "Atelier CV", _at("2026-03-10T13:00"), _at("2026-03-10T16:00"))
    text = demo_fake.describe("lyon")
    assert "0 e-mail envoyé" in text and "1 rendez-vous" in text and "10/03/2026 14:00" in text
    assert demo_fake.describe("paris") == "(pas de boîte Outlook pour cette antenne)"
    book, move = demo_fake.demo_actions(demo)  # staff book a session by phone in Outlook, then move it
    assert (book.phase, move.phase) == (DemoPhase.BOOK, DemoPhase.CHANGE)
    book.run()
    (booked,) = [e for e in demo_fake.events("lyon") if e["attendees"]]
    assert [a["emailAddress"]["name"] for a in booked["attendees"]] == ["Nadia Belkacem"]
    move.run()
    (moved,) = [e for e in demo_fake.events("lyon") if e["attendees"]]
    assert moved["start"]["dateTime"] < booked["start"]["dateTime"]


def test_an_event_created_with_a_property_graph_does_not_know_is_refused(graph: Graph, fake: OutlookSandbox) -> None:
    body = event("Atelier CV", "2026-03-10T14:00:00", "2026-03-10T17:00:00", transactionId="session-7")
    refused = graph("POST", f"/users/{MAILBOX}/events", {**body, "foo": "bar"})
    assert refused.status_code == 400 and error(refused)["code"] == "RequestBodyRead"
    assert error(refused)["message"] == ("The property 'foo' does not exist on type 'microsoft.graph.event'. Make "
                                         "sure to only use property names that are defined by the type or mark the "
                                         "type as open type.")
    assert fake.events("lyon") == []
    # an event property the sandbox does not model, and an OData annotation, are accepted
    created = graph("POST", f"/users/{MAILBOX}/events", {**body, "@odata.type": "#microsoft.graph.event",
                                                         "allowNewTimeProposals": False})
    assert created.status_code == 201 and len(fake.events("lyon")) == 1
    # the body is read before the transactionId is looked up: a retry with an unknown property is refused too
    again = graph("POST", f"/users/{MAILBOX}/events", {**body, "Foo": 1})
    assert again.status_code == 400 and "'Foo' does not exist" in error(again)["message"]
    assert [e["id"] for e in fake.events("lyon")] == [created.json()["id"]]


def test_an_event_patched_with_a_property_graph_does_not_know_is_left_unchanged(graph: Graph,
                                                                                fake: OutlookSandbox) -> None:
    created = graph("POST", f"/users/{MAILBOX}/events",
                    event("Atelier", "2026-03-10T09:00:00", "2026-03-10T10:00:00")).json()
    [before] = fake.events("lyon")
    refused = graph("PATCH", f"/users/{MAILBOX}/events/{created['id']}",
                    {"subject": "Atelier déplacé", "start": {"dateTime": "2026-03-12T09:00:00", "timeZone": "UTC"},
                     "end": {"dateTime": "2026-03-12T10:00:00", "timeZone": "UTC"}, "graphResponseHeaders": {}})
    assert refused.status_code == 400 and error(refused)["code"] == "RequestBodyRead"
    assert "'graphResponseHeaders' does not exist on type 'microsoft.graph.event'" in error(refused)["message"]
    assert fake.events("lyon") == [before]  # subject, times and changeKey as they were
    moved = graph("PATCH", f"/users/{MAILBOX}/events/{created['id']}", {"subject": "Atelier déplacé",
                                                                       "isAllDay": False})
    assert moved.status_code == 200 and moved.json()["subject"] == "Atelier déplacé"
