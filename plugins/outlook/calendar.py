"""Sessions in the branch's Outlook calendar: `session_booked` makes (or moves) an event, `session_cancelled`
cancels it. Enabled by `calendar = true` in the branch's [outlook] table.

- A new session: `POST /users/{mb}/events` (or `/calendars/{id}/events`) with a `transactionId` made from the
  delivery key. The event resource page says of it: "A custom identifier specified by a client app for the
  server to avoid redundant POST operations in case of client retries to create the same event"
  (https://learn.microsoft.com/graph/api/resources/event), so a create retried after a timeout or a crash
  before its link was committed gives back the same event, not a second one.
- A reschedule (a session whose `replaces` names the old one): the old session's event is moved
  (`PATCH`), and the new session is linked to the same event: the attendees see one event that moved.
- A cancellation: `POST .../events/{id}/cancel` with the branch's French comment when attendees were invited
  (they get the cancellation; only the organizer may cancel), else `DELETE`. Gone already (404): done.

The event id is immutable (`Prefer: IdType="ImmutableId"` on every request) and kept as the session's identity
link for this tool. The event carries the candidate's first name and initial, never a contact detail, unless
the branch invites candidates (then their address, as an attendee).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hub_outlook.settings import Settings

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub.events import Event, Session
    from hub_outlook.graph import GraphClient

PERMISSION = "Calendars.ReadWrite"
CANCEL_COMMENT = "Ce rendez-vous avec {branch} est annulé. N'hésitez pas à nous contacter pour en fixer un autre."


def transaction_id(delivery_key: str) -> str:
    """Graph's transactionId from the delivery key: stable across retries, no personal data."""
    return hashlib.sha256(delivery_key.encode()).hexdigest()[:40]


def _events_path(client: GraphClient, settings: Settings, event_id: str | None = None) -> str:
    if event_id is not None:
        return client.mailbox_path(f"/events/{quote(event_id, safe='')}")
    if settings.calendar_id:
        return client.mailbox_path(f"/calendars/{quote(settings.calendar_id, safe='')}/events")
    return client.mailbox_path("/events")


def _when(session: Session) -> dict[str, Any]:
    """Start and end in UTC, as Graph writes them (no offset), with the zone named."""
    def utc(moment: datetime) -> dict[str, str]:
        return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
    return {"start": utc(session.start), "end": utc(session.end or session.start)}


def _body(hub: HubContext, event: Event, settings: Settings) -> dict[str, Any]:
    session = event.session
    assert session is not None
    candidate = event.candidate
    short = "une personne"
    if candidate is not None and candidate.first_name:
        short = f"{candidate.first_name} {(candidate.last_name or '')[:1]}.".rstrip(" .") + (
            "." if candidate.last_name else "")
    title = session.programme or "Rendez-vous"
    body: dict[str, Any] = {
        "subject": f"{title} — {short}",
        "body": {"contentType": "text", "content": f"Rendez-vous pris par l'intermédiaire du hub ({hub.branch})."},
        **_when(session),
        "isReminderOn": True,
    }
    if session.location:
        body["location"] = {"displayName": session.location}
    if settings.invite_candidates and candidate is not None and candidate.email:
        body["attendees"] = [{"emailAddress": {"address": candidate.email, "name": candidate.display_name},
                              "type": "required"}]
    return body


def booked(hub: HubContext, event: Event, client: GraphClient) -> None:
    settings = hub.settings_as(Settings)
    session = event.session
    if not settings.calendar or session is None or session.id is None:
        return
    body = _body(hub, event, settings)
    known = hub.external_id("session", session.id)
    moved_from = hub.external_id("session", session.replaces) if session.replaces else None
    target = known or moved_from
    if target is not None:
        updated = client.request("PATCH", _events_path(client, settings, target), json_body=body,
                                 permission=PERMISSION, missing_ok=True)
        if updated is not None:
            hub.link("session", session.id, target)
            return
    body["transactionId"] = transaction_id(hub.delivery_key or session.id)
    created = client.request("POST", _events_path(client, settings), json_body=body, permission=PERMISSION) or {}
    hub.link("session", session.id, str(created["id"]))


def cancelled(hub: HubContext, event: Event, client: GraphClient) -> None:
    settings = hub.settings_as(Settings)
    session = event.session
    if not settings.calendar or session is None or session.id is None:
        return
    event_id = hub.external_id("session", session.id)
    if event_id is None:
        return
    path = _events_path(client, settings, event_id)
    if settings.invite_candidates:
        comment = CANCEL_COMMENT.format(branch=hub.branch_config.name or hub.branch)
        client.request("POST", path + "/cancel", json_body={"Comment": comment}, permission=PERMISSION,
                       missing_ok=True)
    else:
        client.request("DELETE", path, permission=PERMISSION, missing_ok=True)
