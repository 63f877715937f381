"""When a planned message may go: the checks made just before its delivery, against the hub's state now.

A message waits (without using up a try) for the end of quiet hours, for the next day when the branch's daily
cap per channel or the person's daily ceiling is reached, and for `changed_interval` after the last "moved" or
"cancelled" mail to that person. It is skipped, with the reason, when it no longer applies: a confirmation,
reminder or "moved" mail for a session cancelled or moved since; a relance once something was booked; a
cancellation for a session that was in fact moved; any mail to an address that bounced since.

Per medium: quiet hours hold for an SMS as for a mail; the person's daily ceiling and `changed_interval` are
counted per medium (the SMS twin of a confirmation does not use up a mail, nor hold back the other's "moved"
note), the ceiling by the medium's channel; an opt-out stops that medium only; a bounced address is an e-mail
matter (an SMS failure says nothing of the person's mailbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hub.config import HubConfig
from hub.events import Event, Session, SessionStatus
from hub.messages.planner import Planner
from hub.messages.purposes import CHANGED
from hub.messages.quiet import next_allowed
from hub.store import DeliveryRow, Store

__all__ = ["Gate", "MessagePolicy"]

_NEEDS_BOOKED = {"booking_confirmed", "reminder", "session_moved"}


@dataclass(frozen=True)
class Gate:
    """`wait` seconds before trying (no try used) and why, or `skip` with the reason."""

    wait: float | None = None
    skip: str | None = None
    why: str = ""


class MessagePolicy:
    def __init__(self, store: Store, config: HubConfig, planner: Planner) -> None:
        self.store = store
        self.config = config
        self.planner = planner

    def check(self, row: DeliveryRow, event: Event, now: datetime) -> Gate | None:
        message = event.message
        if message is None or row.branch not in self.config.branches:
            return None
        skip = self._no_longer(row.branch, event, now)
        if skip is not None:
            return Gate(skip=skip)
        if message.recipient != "candidate" or not message.candidate_id:
            return self._branch_cap(row, now)
        settings = self.config.branches[row.branch].messages
        zone = self.config.zone(row.branch)
        allowed = next_allowed(now, zone, settings.quiet_hours)
        if allowed > now:
            return Gate(wait=(allowed - now).total_seconds(), why="quiet hours")
        if message.purpose in CHANGED:
            suffixes = [p if message.medium == "email" else f"{p}:{message.medium}" for p in sorted(CHANGED)]
            last = self.store.last_sent_at(row.branch, message.candidate_id, suffixes)
            if last is not None and now.timestamp() - last < settings.changed_interval:
                return Gate(wait=settings.changed_interval - (now.timestamp() - last),
                            why="a change was announced to this person less than changed_interval ago")
        today = _midnight(now, zone)
        if self.store.sent_count(row.branch, today, candidate_id=message.candidate_id,
                                 plugin=row.plugin) >= settings.per_person_daily:
            return Gate(wait=self._tomorrow(now, zone, settings.quiet_hours), why="per_person_daily reached")
        return self._branch_cap(row, now)

    def _branch_cap(self, row: DeliveryRow, now: datetime) -> Gate | None:
        settings = self.config.branches[row.branch].messages
        zone = self.config.zone(row.branch)
        if self.store.sent_count(row.branch, _midnight(now, zone), plugin=row.plugin) >= settings.daily_cap:
            return Gate(wait=self._tomorrow(now, zone, settings.quiet_hours), why="daily_cap reached")
        return None

    def _no_longer(self, branch: str, event: Event, now: datetime) -> str | None:
        message = event.message
        assert message is not None
        if message.medium == "email" and message.to and self.planner.bounced(branch, message.to):
            return "the address bounced since this message was planned"
        if message.recipient == "candidate" and message.candidate_id and \
                message.purpose not in self.config.branches[branch].messages.essential and \
                self.store.optout_of(branch, message.candidate_id, message.medium) is not None:
            return "the person asked for no more messages (opt-out); this one is not essential"
        if message.purpose == "booking_relance" and message.candidate_id and self.store.has_session(
                message.candidate_id):
            return "a session was booked since: no relance needed"
        session = _session(self.store, message.session_id)
        if session is None:
            return None
        if message.purpose in _NEEDS_BOOKED and session.status in (SessionStatus.CANCELLED, SessionStatus.RESCHEDULED):
            return f"superseded: the session was {session.status.value} since"
        if message.purpose == "reminder" and session.start <= now:
            return "the session has started: a reminder is too late"
        if message.purpose == "session_cancelled" and session.status is SessionStatus.RESCHEDULED:
            return "the session was moved, not cancelled: the 'moved' mail says so"
        return None

    @staticmethod
    def _tomorrow(now: datetime, zone: ZoneInfo, quiet: str) -> float:
        start = _midnight(now, zone) + timedelta(days=1)
        return (next_allowed(start, zone, quiet) - now).total_seconds()


def _midnight(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    return datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)


def _session(store: Store, session_id: str | None) -> Session | None:
    body = store.get_entity("sessions", session_id) if session_id else None
    return Session.model_validate(body) if body else None
