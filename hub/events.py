"""Domain models (Candidate, Session, Outcome) and the event envelope every plugin receives.

All models are frozen: one event object is shared by every plugin, so none may change it for the others.
Sources build events with the tool's own ids in the `ref` fields; the hub fills in its own ids (`id`) when it
stores the event, so sinks always see both.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from enum import StrEnum
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ATTACHMENTS_LIMIT",
    "ATTENDANCE",
    "BY_CANDIDATE",
    "DURABLE_MONTHS",
    "Attachment",
    "Bounce",
    "Candidate",
    "ContactPreference",
    "ContractType",
    "Due",
    "Event",
    "EventKind",
    "Message",
    "Outcome",
    "OutcomeCategory",
    "Referrer",
    "Session",
    "SessionStatus",
    "classify_contract",
    "new_id",
]

def new_id(prefix: str) -> str:
    """A hub id: short, URL-safe, unguessable, and telling what it names (cnd_, ses_, out_, evt_)."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, defer_build=True)


class EventKind(StrEnum):
    """The one list of event kinds: each is also the name of its plugin hook (hub.hookspecs), and says which
    payload parts its events must carry. Adding a kind is one line here plus its documented hookspec; the
    hook list, the validation and the testing kit's RecordingSink follow (tests/test_event_kinds.py checks).
    """

    requires: tuple[str, ...]

    def __new__(cls, value: str, requires: tuple[str, ...] = ()) -> EventKind:
        member = str.__new__(cls, value)
        member._value_ = value
        member.requires = requires
        return member

    CANDIDATE_REGISTERED = "candidate_registered", ("candidate",)
    SESSION_BOOKED = "session_booked", ("session",)
    SESSION_CANCELLED = "session_cancelled", ("session",)
    OUTCOME_RECORDED = "outcome_recorded", ("outcome",)
    SESSION_REMINDER_DUE = "session_reminder_due", ("session", "due")
    FOLLOWUP_DUE = "followup_due", ("session", "due")
    MESSAGE_DUE = "message_due", ("message",)
    MESSAGE_BOUNCED = "message_bounced", ("bounce",)
    CANDIDATE_NEEDS_CALL = "candidate_needs_call", ("candidate",)
    CANDIDATE_FORGOTTEN = "candidate_forgotten", ("candidate",)
    CANDIDATE_OPTED_OUT = "candidate_opted_out", ("candidate",)
    CANDIDATE_OPTED_IN = "candidate_opted_in", ("candidate", "preference")


class OutcomeCategory(StrEnum):
    """What came of the journey, in the vocabulary of French integration policy (DARES / IAE)."""

    EMPLOI_DURABLE = "emploi_durable"
    EMPLOI_TRANSITION = "emploi_transition"
    FORMATION = "formation"
    SORTIE_POSITIVE = "sortie_positive"
    AUTRE = "autre"
    PRESENT = "present"
    ABSENT = "absent"
    ABSENCE_WITHDRAWN = "absence_withdrawn"  # an "absent" taken back (staff un-marked a no-show)


ATTENDANCE = frozenset({OutcomeCategory.PRESENT, OutcomeCategory.ABSENT, OutcomeCategory.ABSENCE_WITHDRAWN})
"""The categories that say whether the person came, not what came of the journey (never derived from a contract)."""
BY_CANDIDATE = "candidate"
"""`Outcome.recorded_by` of an answer the person gave themselves (the follow-up page); anything else is staff's."""


class ContractType(StrEnum):
    """The kind of contract or training an outcome reports; with its length it decides the outcome's category."""

    CDI = "CDI"
    CDD = "CDD"
    INTERIM = "interim"
    ALTERNANCE = "alternance"
    FORMATION = "formation"
    CREATION_ENTREPRISE = "creation_entreprise"
    FONCTION_PUBLIQUE = "fonction_publique"
    CONTRAT_AIDE = "contrat_aide"
    AUTRE = "autre"


DURABLE_MONTHS = 6
"""A CDD or interim of at least this many months is 'emploi durable' (DARES); a shorter one is 'de transition'."""


def classify_contract(contract: ContractType, months: float | None) -> OutcomeCategory:
    """The outcome category a contract counts as, derived from its type and length (never typed by hand)."""
    if contract in (ContractType.CDI, ContractType.CREATION_ENTREPRISE, ContractType.FONCTION_PUBLIQUE):
        return OutcomeCategory.EMPLOI_DURABLE
    if contract in (ContractType.CDD, ContractType.INTERIM, ContractType.ALTERNANCE):
        if months is not None and months >= DURABLE_MONTHS:
            return OutcomeCategory.EMPLOI_DURABLE
        return OutcomeCategory.EMPLOI_TRANSITION
    if contract is ContractType.CONTRAT_AIDE:
        return OutcomeCategory.EMPLOI_TRANSITION
    if contract is ContractType.FORMATION:
        return OutcomeCategory.FORMATION
    return OutcomeCategory.AUTRE


class SessionStatus(StrEnum):
    """Where a session stands. A reschedule is a new session whose `replaces` names the old one."""

    BOOKED = "booked"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class Referrer(_Frozen):
    """The structure that referred the person (mission locale, France Travail, social worker...)."""

    structure: str | None = None
    kind: str | None = Field(None, description="e.g. france_travail, mission_locale, cap_emploi, ccas")
    contact_name: str | None = None
    contact_email: str | None = None


class Candidate(_Frozen):
    """The person supported. `id` is the hub's id; `ref` is the source tool's own id for the same person."""

    id: str | None = None
    ref: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = Field(None, description=(
        "normalised once by the hub at ingest (email-validator: domain lower-cased, Unicode NFC); an invalid one "
        "is kept out and reported"))
    phone: str | None = Field(None, description=(
        "E.164 (+33612345678): every phone is parsed by the hub at ingest (phonenumbers, national numbers read in "
        "the branch's phone_region) and an invalid one kept out, so a connector never normalises phones itself "
        "(a record stored before that may hold the number as typed: hub.api.clean_phone makes it E.164); show "
        "it to staff with hub.api.display_phone (06 12 34 56 78)"))
    referrer: Referrer | None = None
    consent: bool | None = None
    consent_at: AwareDatetime | None = Field(None, description="when the person gave (or withdrew) consent")
    consent_source: str | None = Field(None, description="the tool the answer came from (gsheets, calendly...)")
    registered_at: AwareDatetime | None = None
    sex: str | None = Field(None, description=(
        "F, M or X (another answer), as the person declared it; only where the branch asks (the European Social "
        "Fund's participant indicators count by sex)"))
    birth_year: int | None = Field(None, ge=1900, le=2100, description=(
        "year of birth, only where the branch asks: reports count by age band, and a year is all they need"))
    extra: dict[str, str] = Field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """First and last name as known, "?" when neither is (for messages to staff, never for logs)."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or "?"


class Session(_Frozen):
    """A booked meeting. A reschedule is a new session whose `replaces` names the one it replaces."""

    id: str | None = None
    ref: str | None = None
    candidate_id: str | None = None
    programme: str | None = None
    module: str | None = None
    start: AwareDatetime
    end: AwareDatetime | None = None
    location: str | None = None
    video_link: str | None = None
    host: str | None = None
    status: SessionStatus = SessionStatus.BOOKED
    replaces: str | None = None
    replaces_ref: str | None = None
    cancel_reason: str | None = None


class Outcome(_Frozen):
    """What came of a session or a journey. A contract's category is derived from its type and length."""

    id: str | None = None
    ref: str | None = None
    candidate_id: str | None = None
    session_id: str | None = None
    category: OutcomeCategory
    contract_type: ContractType | None = None
    contract_months: float | None = Field(None, ge=0)
    label: str | None = Field(None, description="the branch's own label, as staff picked it")
    observed_at: AwareDatetime
    recorded_by: str | None = Field(None, description=(
        "who recorded it: BY_CANDIDATE ('candidate') for the person's own answer on the follow-up page, else "
        "staff's tool (e.g. 'tableau de suivi'). For one person and one horizon a staff entry wins over the "
        "person's own answer"))
    horizon: str | None = Field(None, description=(
        "the follow-up this outcome answers, as written in [schedule] followups ('1 month', '6 months'); None for "
        "an entry placed by its date (staff's)"))
    comment: str | None = Field(None, description="the person's own words (free text: never sent to a tool "
                                                   "unless the branch names outcome.comment in [privacy.share])")

    @model_validator(mode="before")
    @classmethod
    def _derive_category(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("contract_type") and data.get("category") not in ATTENDANCE:
            derived = classify_contract(ContractType(data["contract_type"]), data.get("contract_months"))
            data = {**data, "category": derived}
        return data


class Due(_Frozen):
    """Why a time-driven event fired: which schedule entry (e.g. '48h' before, '3 months' after) and when."""

    offset: str
    due_at: AwareDatetime


ATTACHMENTS_LIMIT = 3_000_000
"""A message's attachments weigh less than this together (bytes, decoded): the hub plans no heavier one. Microsoft
Graph takes a file attachment in one request only "under 3 MB" (message-post-attachments.md, v1.0; beyond, an
upload session); read as 3,000,000 bytes, the stricter reading. Gmail takes far more (35 MB a message)."""
_FILENAME_BAD = frozenset('/\\"') | {chr(c) for c in range(32)} | {chr(127)}


class Attachment(_Frozen):
    """A file a message carries (the monthly report's HTML page). Its bytes travel base64-encoded in `content`,
    so a stored event stays plain JSON text; `data` gives them back. Build one with `Attachment.of(...)`."""

    filename: str = Field(min_length=1, max_length=200, description=(
        "the file's name as the recipient sees it, any characters but a path, quotes or control characters "
        "(channels encode a non-ASCII name: RFC 2231 in MIME)"))
    content_type: str = Field("application/octet-stream", pattern=r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$",
                              description="the MIME type, e.g. text/html (its charset is the file's business)")
    content: str = Field(description="the file's bytes, base64 (RFC 4648 §4, standard alphabet, padded)")

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if any(c in _FILENAME_BAD for c in value) or value in (".", ".."):
            raise ValueError("a file name without a path, quotes or control characters")
        return value

    @field_validator("content")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("content must be standard base64 (padded)") from None
        return value

    @classmethod
    def of(cls, filename: str, content_type: str, data: bytes) -> Attachment:
        """An attachment from raw bytes (encoded to base64 here, so callers never handle the encoding)."""
        return cls(filename=filename, content_type=content_type, content=base64.b64encode(data).decode("ascii"))

    @property
    def data(self) -> bytes:
        """The file's bytes, decoded from `content`, for a channel to send."""
        return base64.b64decode(self.content)

    @property
    def size(self) -> int:
        """The file's size in bytes, without decoding it."""
        return len(self.content) // 4 * 3 - self.content[-2:].count("=")


class Message(_Frozen):
    """One message the branch sends, planned and rendered by the core (hub.messages), delivered by the branch's
    channel plugin for its medium. `id` is stable: the same planned message always has the same id, and its
    delivery the same `hub.delivery_key`, so a channel can make the send happen once.

    The hub stores what a message is (purpose, recipient, ids) and writes its address, subject and text from the
    person's record when it is delivered: a channel always receives them filled in; they are empty only in the
    stored log (one copy of a person's data, in their record)."""

    id: str
    purpose: str = Field(description="registration_received, booking_confirmed, reminder... (hub.messages)")
    medium: str = "email"
    recipient: str = Field("candidate", description="candidate, referrer or staff")
    to: str = Field("", description="the address (an e-mail address for the email medium)")
    to_name: str | None = None
    subject: str = ""
    text: str = ""
    html: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers, e.g. List-Unsubscribe")
    candidate_id: str | None = None
    session_id: str | None = None
    attachments: tuple[Attachment, ...] = Field((), description=(
        "files sent with it (the monthly report's HTML page, to staff); together under ATTACHMENTS_LIMIT bytes"))


class ContactPreference(_Frozen):
    """Which medium a `candidate_opted_out` / `candidate_opted_in` event is about, and how the person (or staff)
    said so; the event's `occurred_at` says when, its `source` which plugin heard it. The latest fact per
    (person, medium) wins: the message policy skips a non-essential message by a medium the person opted out
    of, until they opt back in. An opt-out event without it (before this model) is about e-mail."""

    medium: str = Field("email", description=(
        "the medium the person chose for, as a branch's `channels` names it: email, sms..."))
    via: str = Field("", description=(
        "how it was said, for staff and the export (no personal data): link (the mail's opt-out link), "
        "sms STOP, staff (a coordinator, at the person's request), person (the person, e.g. on a form)"))


class Bounce(_Frozen):
    """A channel learnt that a message did not reach its recipient: a mail's delivery-status notification, or
    an SMS gateway's delivery report saying "failed" / "undelivered". This is how a channel reports a failed
    delivery receipt, after the fact: emit a `message_bounced` event carrying it. A permanent failure of an
    e-mail stops further mail to that address until it changes; any failure reaches the sinks (the tracking
    sheet shows it). A "delivered" report needs no event (the delivery is already done)."""

    message_id: str = Field(description="the hub's id of the message that bounced (Message.id)")
    address: str | None = Field(None, description=(
        "the address that failed (for e-mail: the person's record's is used when None); kept out of the event "
        "log"))
    reason: str = Field("", description="the service's diagnostic (e.g. '550 5.1.1 user unknown'); kept out of "
                                        "the event log, which can quote the address")
    permanent: bool = Field(True, description=(
        "True: the address will not work (user unknown, number not in service); False: a temporary failure "
        "(mailbox full, phone off for longer than the gateway's retry period)"))
    medium: str = Field("email", description="the medium of the message: email, sms...")


class Event(_Frozen):
    """The envelope: what happened, where, according to which tool, and about whom.

    (`branch`, `source`, `source_id`, `kind`) is the dedupe key: the same fact read twice is stored once.
    """

    id: str = Field(default_factory=lambda: new_id("evt"))
    kind: EventKind
    branch: str = ""
    occurred_at: AwareDatetime
    source: str = ""
    source_id: str
    candidate: Candidate | None = None
    session: Session | None = None
    outcome: Outcome | None = None
    due: Due | None = None
    message: Message | None = None
    bounce: Bounce | None = None
    preference: ContactPreference | None = None

    @model_validator(mode="after")
    def _has_its_payload(self) -> Self:
        missing = [name for name in self.kind.requires if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind.value} event needs {', '.join(missing)}")
        return self

    @property
    def candidate_id(self) -> str | None:
        """The hub id of the person the event is about, from whichever payload part names it; None for none."""
        for part in (self.candidate, self.session, self.outcome, self.message):
            if part is not None:
                cid = part.id if isinstance(part, Candidate) else part.candidate_id
                if cid:
                    return cid
        return None

    def describe(self) -> str:
        """A log-safe one-liner: ids only, never names, e-mails or phone numbers."""
        ids = " ".join(
            f"{k}={v}" for k, v in (("candidate", self.candidate_id),
                                    ("session", self.session.id if self.session else None)) if v
        )
        return f"{self.kind.value} {self.id} branch={self.branch} source={self.source} {ids}".strip()

