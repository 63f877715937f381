"""Sessions in the branch's Outlook calendar: `session_booked` makes (or moves) an event, `session_cancelled`
cancels it. Enabled by `calendar = true` in the branch's [outlook] table.

- A new session: `POST /users/{mb}/events` (or `/calendars/{id}/events`) with a `transactionId` made from the
  delivery key. The event resource page says of it: "A custom identifier specified by a client app for the
  server to avoid redundant POST operations in case of client retries to create the same event"
  (https://learn.microsoft.com/graph/api/resources/event), so a create retried after a timeout or a crash
  before its link was committed gives back the same event, not a second one.
- A reschedule (a session whose `replaces` names the old one): the old session's event is moved
  (`PATCH`), and the new session is linked to the same event: the attendees see one event that moved.
- A coach's calendar: when the session names a host that `coach_mailboxes` maps to an address, the event is
  made there (`/users/{coach}/events`, its own 4 request slots) and linked as `address/id`; a reschedule to
  another coach cancels the first event and makes a new one.
- A Teams meeting (`teams_meetings = true`) for a remote session without a video link of its own
  (`isOnlineMeeting` + `onlineMeetingProvider: teamsForBusiness`; the invitation carries the link when
  candidates are invited).
- Sessions read from this calendar by the calendar source (event.source == "outlook") are left alone.
- A cancellation: `POST .../events/{id}/cancel` with the branch's French comment when attendees were invited
  (they get the cancellation; only the organizer may cancel), else `DELETE`. Gone already (404): done.

The event id is immutable (`Prefer: IdType="ImmutableId"` on every request) and kept as the session's identity
link for this tool. The event carries the candidate's first name and initial, never a contact detail, unless
the branch invites candidates (then their address, as an attendee).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
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


TRANSACTION_PREFIX = "cravatehub-"
REMOTE = re.compile(r"visio|distance|en ligne|teams|online|remote", re.IGNORECASE)


def transaction_id(delivery_key: str) -> str:
    """Graph's transactionId from the delivery key: stable across retries, no personal data; its prefix tells
    the calendar source (calendar_source.py) that the hub made this event."""
    return TRANSACTION_PREFIX + hashlib.sha256(delivery_key.encode()).hexdigest()[:29]  # 40 characters in all


def is_hub_transaction(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TRANSACTION_PREFIX)


@dataclass(frozen=True)
class Target:
    """Where a session's event lives: the branch's mailbox (`mailbox` None) or a coach's, and its id. Linked as
    the event id alone, or `address/id` for a coach's calendar."""

    mailbox: str | None
    event_id: str | None = None

    @classmethod
    def parse(cls, linked: str) -> Target:
        address, slash, event_id = linked.rpartition("/")
        return cls(address or None, event_id) if slash and "@" in address else cls(None, linked)

    def linked(self) -> str:
        assert self.event_id is not None
        return f"{self.mailbox}/{self.event_id}" if self.mailbox else self.event_id

    def path(self, client: GraphClient, settings: Settings, rest: str = "") -> str:
        if self.event_id is not None:
            return client.mailbox_path(f"/events/{quote(self.event_id, safe='')}{rest}", self.mailbox)
        if settings.calendar_id and self.mailbox is None:
            return client.mailbox_path(f"/calendars/{quote(settings.calendar_id, safe='')}/events")
        return client.mailbox_path("/events", self.mailbox)


def target_for(settings: Settings, session: Session) -> Target:
    """The coach's calendar when the session names a coach the branch maps, else the branch's."""
    wanted = (session.host or "").strip().casefold()
    for host, address in settings.coach_mailboxes.items():
        if wanted and host.strip().casefold() == wanted:
            return Target(address.strip())
    return Target(None)


def is_remote(session: Session) -> bool:
    """Remote, and without a video link of its own: the place says so ("visio", "à distance", "en ligne")."""
    return not session.video_link and bool(session.location and REMOTE.search(session.location))


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
    if settings.teams_meetings and is_remote(session):
        body["isOnlineMeeting"], body["onlineMeetingProvider"] = True, "teamsForBusiness"
    if settings.invite_candidates and candidate is not None and candidate.email:
        body["attendees"] = [{"emailAddress": {"address": candidate.email, "name": candidate.display_name},
                              "type": "required"}]
    return body


def booked(hub: HubContext, event: Event, client: GraphClient) -> None:
    settings = hub.settings_as(Settings)
    session = event.session
    if not settings.calendar or session is None or session.id is None or event.source == hub.plugin:
        return  # a session read from this very calendar is already there
    body = _body(hub, event, settings)
    wanted = target_for(settings, session)
    linked = hub.external_id("session", session.id) or (
        hub.external_id("session", session.replaces) if session.replaces else None)
    if linked is not None:
        known = Target.parse(linked)
        if known.mailbox == wanted.mailbox:
            updated = client.request("PATCH", known.path(client, settings), json_body=body, permission=PERMISSION,
                                     missing_ok=True, mailbox=known.mailbox)
            if updated is not None:
                hub.link("session", session.id, known.linked())
                return
        else:  # another coach now: the event leaves the first one's calendar
            _remove(hub, client, settings, known)
    body["transactionId"] = transaction_id(hub.delivery_key or session.id)
    created = client.request("POST", wanted.path(client, settings), json_body=body, permission=PERMISSION,
                             mailbox=wanted.mailbox) or {}
    hub.link("session", session.id, Target(wanted.mailbox, str(created["id"])).linked())


def cancelled(hub: HubContext, event: Event, client: GraphClient) -> None:
    settings = hub.settings_as(Settings)
    session = event.session
    if not settings.calendar or session is None or session.id is None or event.source == hub.plugin:
        return
    linked = hub.external_id("session", session.id)
    if linked is not None:
        _remove(hub, client, settings, Target.parse(linked))


def _remove(hub: HubContext, client: GraphClient, settings: Settings, target: Target) -> None:
    """Cancel the event (attendees told, in the branch's words) when candidates are invited, else delete it."""
    if settings.invite_candidates:
        comment = CANCEL_COMMENT.format(branch=hub.branch_config.name or hub.branch)
        client.request("POST", target.path(client, settings, "/cancel"), json_body={"Comment": comment},
                       permission=PERMISSION, missing_ok=True, mailbox=target.mailbox)
    else:
        client.request("DELETE", target.path(client, settings), permission=PERMISSION, missing_ok=True,
                       mailbox=target.mailbox)
