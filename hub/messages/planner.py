"""From a stored event to the messages it implies, each stored as its own outbox entry.

Called inside the transaction that stores the event (ingest, or the schedule firing), so an event and its
messages are committed together: a crash never loses a message nor plans one twice. Each message is a
`message_due` event whose source id names what it is about (`<candidate>:registration_received`,
`<session>:reminder:48h`...), so the store's dedupe makes planning idempotent, and whose id (`msg_...`) is
derived from it, so its delivery key is stable. It goes to the branch's channel for its medium; a message
that cannot or must not go (turned off, no address, an address that bounced) is stored as skipped with the
reason, never dropped silently. A branch with no mail channel at all plans nothing (status says so).

A message to the candidate also goes by each other medium (SMS) whose channel the branch names
(`channels = { sms = "..." }`) when `[messages] sms` lists its purpose: a message of its own, its source id the
e-mail's with `:sms` appended (the e-mail's is unchanged, so nothing stored before is planned again), written
from `<purpose>.sms.j2` to the person's phone (E.164), with no subject and no opt-out link (a STOP reply is
the opt-out, recorded by the channel).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

from hub.config import BranchConfig, HubConfig
from hub.dispatch import Undeliverable
from hub.events import (
    ATTACHMENTS_LIMIT,
    BY_CANDIDATE,
    Attachment,
    Candidate,
    ContactPreference,
    Due,
    Event,
    EventKind,
    Message,
    Outcome,
    OutcomeCategory,
    Session,
)
from hub.identity import email_key
from hub.messages.purposes import BY_KEY
from hub.messages.quiet import next_allowed
from hub.messages.render import Renderer, TemplateProblem, facts
from hub.privacy.minimise import stored_body
from hub.store import Store

if TYPE_CHECKING:
    from hub.followup.links import FollowupLinks
    from hub.privacy.optout import OptOutLinks

__all__ = ["BOUNCED_PREFIX", "MESSAGES", "OTHER_MEDIA", "POSITIVE", "Planner", "message_id", "report_source_id"]

log = logging.getLogger("hub.messages")
MESSAGES = "hub.messages"
"""The source name of planned messages, and the core's namespace in the private state store."""
BOUNCED_PREFIX = "bounced:"
POSITIVE = frozenset({OutcomeCategory.EMPLOI_DURABLE, OutcomeCategory.EMPLOI_TRANSITION, OutcomeCategory.FORMATION,
                      OutcomeCategory.SORTIE_POSITIVE})
Channel = Callable[[str, str], str | None]  # (branch, medium) -> plugin
OTHER_MEDIA = ("sms",)
"""Media a message to a candidate also goes by, beside e-mail, where the branch names their channel."""


def message_id(branch: str, source_id: str) -> str:
    return "msg_" + hashlib.sha256(f"{branch}:{source_id}".encode()).hexdigest()[:20]


def report_source_id(key: str, address: str) -> str:
    """The source id of a monthly report mail: the report and its month (`lyon:2027-01`) and the address."""
    return f"report:{key}:{_digest(address.casefold())}:monthly_report"


@dataclass(frozen=True)
class _Plan:
    purpose: str
    about: str  # what the source id is built from
    candidate: Candidate | None
    session: Session | None = None
    previous: Session | None = None
    outcome: Outcome | None = None
    due_offset: str | None = None
    due_at: datetime | None = None
    not_before: datetime | None = None


class Planner:
    def __init__(self, store: Store, config: HubConfig, channel: Channel,
                 optout: OptOutLinks | None = None, followup: FollowupLinks | None = None) -> None:
        self.bounces: list[tuple[str, str | None]] = []  # (branch, candidate) to tell staff after the commit
        self.optout = optout  # each candidate's personal opt-out link (hub.privacy.optout)
        self.followup = followup  # the follow-up mail's answer link (hub.followup.links)
        self.store = store
        self.config = config
        self.channel = channel
        self._renderers: dict[str, Renderer] = {}

    def renderer(self, branch: str) -> Renderer:
        if branch not in self._renderers:
            self._renderers[branch] = Renderer(self.config.root, branch)
        return self._renderers[branch]

    def on_stored(self, event: Event, now: datetime) -> None:
        """Plan and store the messages `event` implies (inside the caller's transaction)."""
        if event.kind is EventKind.MESSAGE_DUE or event.branch not in self.config.branches:
            return
        if event.kind is EventKind.MESSAGE_BOUNCED and event.bounce is not None:
            self._bounced(event)
            return
        if event.kind in (EventKind.CANDIDATE_OPTED_OUT, EventKind.CANDIDATE_OPTED_IN):
            self._preference(event)
            return
        if self.channel(event.branch, "email") is None:  # a branch without a mail channel sends nothing (hub
            return                                        # status and hub messages list say so)
        branch = self.config.branches[event.branch]
        for plan in self._plans(branch, event, now):
            self._store(branch, event, plan, now, "email")
            if BY_KEY[plan.purpose].recipient == "candidate":
                for medium in self.media(branch, plan.purpose):
                    self._store(branch, event, plan, now, medium)

    def media(self, branch: BranchConfig, purpose: str) -> list[str]:
        """The other media (SMS) a candidate's message of `purpose` also goes by in this branch."""
        return [m for m in OTHER_MEDIA if purpose in branch.messages.sms and self.channel_of(branch, m) is not None]

    def channel_of(self, branch: BranchConfig, medium: str) -> str | None:
        """The branch's channel for `medium`; another medium than e-mail only where `channels` names it (the
        one plugin able to send is a mail channel, not an SMS gateway)."""
        if medium != "email" and medium not in branch.channels:
            return None
        return self.channel(branch.id, medium)

    # --- which messages --------------------------------------------------------------------------------------

    def _plans(self, branch: BranchConfig, event: Event, now: datetime) -> list[_Plan]:
        candidate, session = self._current(event)
        kind = event.kind
        if kind is EventKind.CANDIDATE_REGISTERED and candidate is not None and candidate.id:
            plans = [_Plan("registration_received", candidate.id, candidate)]
            if branch.messages.booking_url:
                start = candidate.registered_at or event.occurred_at
                plans.append(_Plan("booking_relance", candidate.id, candidate,
                                   not_before=start + timedelta(seconds=branch.messages.relance_after)))
            return [*plans, _Plan("referrer_registered", candidate.id, candidate)]
        if session is None or session.id is None:
            return self._outcome_plans(event, candidate)
        if kind is EventKind.SESSION_BOOKED:
            if session.replaces:
                previous = self._session(session.replaces)
                return [_Plan("session_moved", session.id, candidate, session, previous=previous)]
            return [_Plan("booking_confirmed", session.id, candidate, session)]
        if kind is EventKind.SESSION_CANCELLED:
            return [_Plan("session_cancelled", session.id, candidate, session)]
        if kind in (EventKind.SESSION_REMINDER_DUE, EventKind.FOLLOWUP_DUE) and event.due is not None:
            purpose = "reminder" if kind is EventKind.SESSION_REMINDER_DUE else "followup"
            return [_Plan(purpose, f"{session.id}:{event.due.offset}", candidate, session,
                          due_offset=event.due.offset, due_at=event.due.due_at)]
        return self._outcome_plans(event, candidate)

    def _outcome_plans(self, event: Event, candidate: Candidate | None) -> list[_Plan]:
        outcome = event.outcome
        if event.kind is not EventKind.OUTCOME_RECORDED or outcome is None or candidate is None:
            return []
        about = outcome.id or event.source_id
        session = self._session(outcome.session_id) if outcome.session_id else None
        if outcome.category in (OutcomeCategory.PRESENT, OutcomeCategory.ABSENT):
            return [_Plan("referrer_attended", about, candidate, session, outcome=outcome)]
        if outcome.category in POSITIVE and outcome.recorded_by != BY_CANDIDATE:
            # the person's own answer (the follow-up page) is no news for the referrer: they may correct it
            # within the link's life, and a staff entry wins over it; staff's entry sends the note
            return [_Plan("referrer_outcome", about, candidate, session, outcome=outcome)]
        return []

    def _current(self, event: Event) -> tuple[Candidate | None, Session | None]:
        """The hub's picture now (the event's own copy for what the store does not have)."""
        cid = event.candidate_id
        body = self.store.get_entity("candidates", cid) if cid else None
        candidate = Candidate.model_validate(body) if body else event.candidate
        session = event.session
        if session is not None and session.id:
            session = self._session(session.id) or session
        return candidate, session

    def _session(self, session_id: str | None) -> Session | None:
        body = self.store.get_entity("sessions", session_id) if session_id else None
        return Session.model_validate(body) if body else None

    # --- storing one -----------------------------------------------------------------------------------------

    def _store(self, branch: BranchConfig, origin: Event, plan: _Plan, now: datetime, medium: str) -> None:
        """Store the message as what it is (purpose, medium, recipient, ids, the facts it speaks of): its address
        and text are written from the record when it is delivered (`compose`), so the log keeps no copy of them."""
        purpose = BY_KEY[plan.purpose]
        source_id = f"{plan.about}:{plan.purpose}" + ("" if medium == "email" else f":{medium}")
        if self.store.event_exists(branch.id, MESSAGES, source_id, EventKind.MESSAGE_DUE.value):
            return
        to, _ = self._recipient(purpose.recipient, plan.candidate, medium)
        skipped = self._why_not(branch, purpose.key, purpose.recipient, plan.candidate, to, medium)
        channel = self.channel_of(branch, medium)
        mid = message_id(branch.id, source_id)
        message = Message(
            id=mid, purpose=purpose.key, medium=medium, recipient=purpose.recipient,
            from_name=branch.messages.from_name or branch.name, reply_to=branch.messages.reply_to,
            candidate_id=plan.candidate.id if plan.candidate else None,
            session_id=plan.session.id if plan.session else None)
        not_before = plan.not_before
        if purpose.recipient == "candidate" and skipped is None:
            not_before = next_allowed(max(not_before or now, now), self.config.zone(branch.id),
                                      branch.messages.quiet_hours)
        due = Due(offset=plan.due_offset, due_at=plan.due_at) if plan.due_offset and plan.due_at else None
        event = Event(id=mid, kind=EventKind.MESSAGE_DUE, branch=branch.id, source=MESSAGES, source_id=source_id,
                      occurred_at=now, candidate=plan.candidate, session=plan.session, outcome=plan.outcome, due=due,
                      message=message)
        self.store.insert_event(
            event_id=mid, branch=branch.id, kind=EventKind.MESSAGE_DUE.value, source=MESSAGES, source_id=source_id,
            occurred_at=now, candidate_id=message.candidate_id, session_id=message.session_id,
            body=stored_body(event), sinks=[channel or medium], now=now,
            not_before=not_before if not_before and not_before > now else None, skipped=skipped)
        log.info("message planned", extra={"branch": branch.id, "msg_id": mid, "purpose": purpose.key,
                                           "medium": medium, "origin": origin.id, "skipped": skipped or ""})

    # --- writing one, when it is delivered ---------------------------------------------------------------------

    def compose(self, event: Event, candidate: Candidate | None) -> Message:
        """The message of a stored `message_due` event written out for its channel: the address and name from
        the person's record now, the subject and text from the branch's templates. Undeliverable (the delivery is
        skipped with the reason) when there is no longer an address, or the template cannot be rendered."""
        message = event.message
        assert message is not None
        branch = self.config.branches.get(event.branch)
        if branch is None:
            raise Undeliverable(f"branch {event.branch} is no longer configured")
        purpose = BY_KEY.get(message.purpose)
        if purpose is None:
            raise Undeliverable(f"unknown message purpose {message.purpose!r}")
        medium = message.medium
        to, to_name = self._recipient(purpose.recipient, candidate, medium)
        no_address = _no_address(medium, to)
        if no_address:
            raise Undeliverable(no_address)
        person = candidate.id if candidate is not None and purpose.recipient == "candidate" else None
        links = self.optout if medium == "email" else None  # by SMS, a STOP reply is the opt-out
        optout = links.link(branch.id, person) if links is not None and person else None
        session = event.session
        previous = self._session(session.replaces) if session is not None and session.replaces else None
        due = event.due
        values = facts(branch, self.config.zone(branch.id), candidate=candidate, session=session, previous=previous,
                       outcome=event.outcome, due_offset=due.offset if due else None,
                       due_at=due.due_at if due else None, booking_link=_booking_link(branch, candidate),
                       optout_link=optout, followup_link=self._followup_link(branch.id, purpose.key, person, event))
        try:
            rendered = self.renderer(branch.id).render(purpose.key, values, medium)
        except TemplateProblem as exc:  # hub config check reports it
            log.error("message template unusable", extra={"branch": branch.id, "purpose": purpose.key,
                                                          "problem": exc.message, "fix": "hub config check"})
            raise Undeliverable(f"template {purpose.key} unusable: {exc.message}") from None
        return message.model_copy(update={
            "to": to, "to_name": to_name, "subject": rendered.subject, "text": rendered.text, "html": rendered.html,
            "headers": links.headers(branch.id, person) if links is not None and person else {}})

    def _followup_link(self, branch: str, purpose: str, person: str | None, event: Event) -> str | None:
        """The personal answer link of a follow-up mail (its horizon, its session, its person); None for any
        other message, or when the hub has no public address (the mail then asks for a reply)."""
        if purpose != "followup" or self.followup is None or person is None or event.due is None or \
                event.session is None or not event.session.id:
            return None
        return self.followup.link(branch, person, event.due.offset, event.session.id)

    def _recipient(self, recipient: str, candidate: Candidate | None,
                   medium: str = "email") -> tuple[str | None, str | None]:
        if candidate is None:
            return None, None
        if recipient == "referrer":
            referrer = candidate.referrer
            return (referrer.contact_email, referrer.contact_name) if referrer else (None, None)
        if medium == "sms":
            return candidate.phone, candidate.display_name
        return candidate.email, candidate.display_name

    def _why_not(self, branch: BranchConfig, purpose: str, recipient: str, candidate: Candidate | None,
                 to: str | None, medium: str = "email") -> str | None:
        settings = branch.messages
        if not settings.enabled:
            return "messages are turned off for this branch ([messages] enabled = false)"
        if purpose in settings.off:
            return f"{purpose} is turned off ([messages] off)"
        if recipient == "referrer":
            if not settings.referrer_notes:
                return "notes to referrers are turned off ([messages] referrer_notes = false)"
            if candidate is None or candidate.consent is not True:
                return "the candidate has not consented to news being sent to the referrer"
        no_address = _no_address(medium, to)
        if no_address:
            return no_address
        if medium == "email" and to and self.bounced(branch.id, to):
            return "this address bounced earlier: no more mail until it changes"
        return None

    # --- mail to staff (alerts) -------------------------------------------------------------------------------

    def staff_mail(self, branch_id: str, address: str, key: str, problem: str, fix: str, now: datetime) -> bool:
        """Plan one alert mail to a staff address through the branch's channel (atomic); False when the
        branch has no mail channel. `key` names the problem: the same problem is mailed once a day."""
        branch = self.config.branches.get(branch_id)
        channel = self.channel(branch_id, "email")
        if branch is None or channel is None:
            return False
        day = now.astimezone(self.config.zone(branch_id)).date().isoformat()
        source_id = f"alert:{key}:{day}:{_digest(address.casefold())}:staff_alert"
        if self.store.event_exists(branch.id, MESSAGES, source_id, EventKind.MESSAGE_DUE.value):
            return True
        values = {**facts(branch, self.config.zone(branch_id), candidate=None), "probleme": problem, "a_faire": fix}
        self._store_staff(branch, channel, "staff_alert", source_id, address, values, now)
        return True

    def login_link(self, branch_id: str, address: str, link: str, link_id: str, life: str, scope: str,
                   now: datetime) -> bool:
        """Plan the mail carrying a login link of the live page /tableau (hub.report.live) to a viewer through
        the branch's channel (atomic); False when the branch has no mail channel. `link_id` names the link (one
        mail per link), `life` says how long it is valid ("15 minutes"), `scope` what it opens."""
        branch = self.config.branches.get(branch_id)
        channel = self.channel(branch_id, "email")
        if branch is None or channel is None:
            return False
        source_id = f"login:{link_id}:login_link"
        if self.store.event_exists(branch.id, MESSAGES, source_id, EventKind.MESSAGE_DUE.value):
            return True
        values = {**facts(branch, self.config.zone(branch_id), candidate=None), "lien_connexion": link,
                  "validite": life, "tableau": scope}
        self._store_staff(branch, channel, "login_link", source_id, address, values, now)
        return True

    def staff_report(self, branch_id: str, address: str, key: str, values: dict[str, object],
                     attachments: tuple[Attachment, ...], now: datetime) -> bool:
        """Plan one monthly report mail (hub.report.monthly) to a staff address through the branch's channel
        (atomic), its text from `values` (the template's report variables) and the report's page attached;
        False when the branch has no mail channel. `key` names the report and its month (`lyon:2027-01`): it is
        mailed once to an address, whatever the day. Attachments of ATTACHMENTS_LIMIT bytes or more (Microsoft
        Graph takes less in one request) make it skipped, with the reason, and are not stored."""
        branch = self.config.branches.get(branch_id)
        channel = self.channel(branch_id, "email")
        if branch is None or channel is None:
            return False
        source_id = report_source_id(key, address)
        if self.store.event_exists(branch.id, MESSAGES, source_id, EventKind.MESSAGE_DUE.value):
            return True
        weight = sum(a.size for a in attachments)
        skipped = None
        if weight >= ATTACHMENTS_LIMIT:
            skipped = (f"the report weighs {weight / 1e6:.1f} MB: a mail channel takes files under "
                       f"{ATTACHMENTS_LIMIT / 1e6:.0f} MB in one request (Microsoft Graph); make the page by hand: "
                       "hub report --format html")
            attachments = ()
        values = {**facts(branch, self.config.zone(branch_id), candidate=None), **values}
        self._store_staff(branch, channel, "monthly_report", source_id, address, values, now,
                          attachments=attachments, skipped=skipped)
        return True

    def _store_staff(self, branch: BranchConfig, channel: str, purpose: str, source_id: str, address: str,
                     values: dict[str, object], now: datetime, *, attachments: tuple[Attachment, ...] = (),
                     skipped: str | None = None) -> None:
        """A mail to a staff address, written out now (it names no person: the log keeps it whole, its
        attachments included, and the records' retention removes it after `[records] operational`)."""
        rendered = self.renderer(branch.id).render(purpose, values)
        mid = message_id(branch.id, source_id)
        message = Message(id=mid, purpose=purpose, recipient="staff", to=address, subject=rendered.subject,
                          text=rendered.text, html=rendered.html, from_name=branch.messages.from_name or branch.name,
                          reply_to=branch.messages.reply_to, attachments=attachments)
        event = Event(id=mid, kind=EventKind.MESSAGE_DUE, branch=branch.id, source=MESSAGES, source_id=source_id,
                      occurred_at=now, message=message)
        with self.store.transaction():
            self.store.insert_event(event_id=mid, branch=branch.id, kind=EventKind.MESSAGE_DUE.value,
                                    source=MESSAGES, source_id=source_id, occurred_at=now, candidate_id=None,
                                    session_id=None, body=stored_body(event), sinks=[channel], now=now,
                                    skipped=skipped)
        if skipped:
            log.warning("message planned as skipped", extra={"branch": branch.id, "msg_id": mid, "purpose": purpose,
                                                             "skipped": skipped})

    # --- bounces ---------------------------------------------------------------------------------------------

    def bounced(self, branch: str, address: str) -> bool:
        key = email_key(address)
        return key is not None and self.store.kv_get(branch, MESSAGES, BOUNCED_PREFIX + _digest(key)) is not None

    def _bounced(self, event: Event) -> None:
        bounce = event.bounce
        if bounce is None or not bounce.permanent or bounce.medium != "email":  # an SMS failure says nothing of
            return                                                           # the person's e-mail
        address = bounce.address
        if address is None:
            body = self.store.get_entity("candidates", event.candidate_id) if event.candidate_id else None
            address = (body or {}).get("email")
        key = email_key(address)
        if key is None:
            return
        self.store.kv_put(event.branch, MESSAGES, BOUNCED_PREFIX + _digest(key),
                          {"since": event.occurred_at.isoformat(), "message": bounce.message_id})
        log.warning("address bounced: no more mail to it", extra={"branch": event.branch, "msg_id": bounce.message_id,
                                                                   "candidate": event.candidate_id})
        self.bounces.append((event.branch, event.candidate_id))  # told once the transaction is committed


    # --- contact preferences ------------------------------------------------------------------------------

    def _preference(self, event: Event) -> None:
        """The event is the fact; the store's `optouts` row, which the message policy reads, follows it (the
        latest per person and medium wins, so a late STOP does not undo a later opt-in)."""
        if event.candidate_id is None:
            return
        preference = event.preference or ContactPreference(medium="email", via="link")
        self.store.set_contact_preference(event.branch, event.candidate_id, preference.medium,
                                          event.kind is EventKind.CANDIDATE_OPTED_OUT,
                                          preference.via or event.source, event.occurred_at)


def _no_address(medium: str, to: str | None) -> str | None:
    """Why a message by `medium` cannot reach `to` (None when it can): a phone in E.164 for SMS, else an e-mail."""
    if medium == "sms":
        return None if to and to.startswith("+") else "no mobile number"
    return None if to and email_key(to) is not None else "no usable e-mail address"


def _digest(key: str) -> str:
    """Bounced addresses are remembered by a digest, not in clear (the private state holds no contact data)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _booking_link(branch: BranchConfig, candidate: Candidate | None) -> str | None:
    """The booking page with the candidate's hub id as utm_content (Calendly hands it back with the booking)."""
    url = branch.messages.booking_url
    if not url or candidate is None or not candidate.id:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"utm_content": candidate.id})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
