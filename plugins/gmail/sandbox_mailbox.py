"""The sandbox's mailboxes: messages, drafts, threads, history ids, search, and the DSNs Gmail writes.

Behaviour copied from Gmail (sandbox.py serves it over HTTP):
- a draft is a message labelled DRAFT; sending it deletes the draft and creates a new message with a new id
  and the SENT label, in the draft's thread (drafts guide);
- on an API send Gmail gives the mail a Message-ID of its own (reference E2, lieer#198; FlowCrypt
  flowcrypt-browser#4273: without even keeping the original in X-Google-Original-Message-ID):
  `rewrite_message_id` (on by default) does the same, so the hub's code cannot rely on its own;
- the sender's Sent copy is the message as the client built it, every other header included: "the Sent Mail
  email will show your HTML parts and Plain Text parts just as you constructed them"
  (https://www.gmass.co/blog/gmail-api-html-plain-text-messages/ , which also says the copy the recipient gets
  may differ: Gmail regenerates its text/plain part from the HTML), the Bcc header is kept in the Sent copy
  only (different-ai/openwork#3630), headers Gmail ignored for delivery still "appear correctly in the sent
  message metadata" (googleworkspace/cli#569). So a custom header (the hub's X-Cravate-Delivery) is read back
  from the Sent copy with messages.get format=metadata; the sandbox keeps it and rewrites only the Message-ID
  (and a From that is not the mailbox's);
- search (messages.list / drafts.list `q`) is Gmail's search box syntax (https://support.google.com/mail/answer/7190,
  "most of the same advanced search syntax", https://developers.google.com/gmail/api/guides/filtering): no
  operator reads an arbitrary header (the header ones are from: to: cc: bcc: subject: list: deliveredto:
  rfc822msgid:), so a plain word here matches the subject, the addresses and the text parts, never another
  header; `after:`/`before:` take a date (midnight Pacific time, as the filtering guide warns) or seconds since
  the epoch; `{a b}` is an OR; an operator not faked is an error;
- a From address that is not the mailbox's is replaced by the mailbox's (Gmail does so unless it is a
  "Send mail as" alias);
- every change gets the next history id; `expire_history()` makes older ids answer 404, as Gmail does after
  about a week;
- a bounce arrives later from mailer-daemon@googlemail.com as multipart/report; report-type=delivery-status,
  in the thread of the mail that bounced, quoting its Message-ID (X-Original-Message-ID, In-Reply-To,
  References, and the returned headers);
- messages.trash adds the TRASH label (a labelAdded history record); a search leaves the trash out unless
  asked (includeSpamTrash, or in:trash / in:anywhere in q); Gmail deletes what has been in the trash for 30
  days ("Messages that have been in Trash for more than 30 days will be automatically deleted. Once a
  message has been permanently deleted, it cannot be recovered",
  https://utk.teamdynamix.com/TDClient/2277/OIT-Portal/KB/PrintArticle?ID=137489 ; the same in
  https://gojira.its.maine.edu/confluence/display/ITR/Decide+whether+to+Delete+or+Archive+in+GMail ;
  Google's own page is https://support.google.com/mail/answer/7401).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

MAILER_DAEMON = "mailer-daemon@googlemail.com"
SYSTEM_LABELS = ["INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "CHAT",
                 "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES",
                 "CATEGORY_FORUMS"]
TRASH_DAYS = 30
_TERM = re.compile(r'\{([^}]*)\}|(\w+):\(([^)]*)\)|(\w+):("[^"]*"|\S+)|("[^"]*"|\S+)')
PACIFIC = ZoneInfo("America/Los_Angeles")


def new_id() -> str:
    """Gmail ids look like 16 hex digits."""
    return secrets.token_hex(8)


def parse_mail(raw: bytes) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)  # policy.default builds EmailMessage objects
    return parsed


@dataclass
class Stored:
    id: str
    thread_id: str
    labels: list[str]
    raw: bytes
    history_id: int
    internal_ms: int
    trashed_at: datetime | None = None

    @property
    def mail(self) -> EmailMessage:
        return parse_mail(self.raw)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "threadId": self.thread_id, "labelIds": list(self.labels)}


@dataclass
class History:
    id: int
    kind: str  # messageAdded, messageDeleted, labelAdded
    message: Stored
    labels: list[str] = field(default_factory=list)  # for labelAdded


@dataclass
class Mailbox:
    address: str
    history_id: int = 1000
    oldest_history: int = 0
    messages: dict[str, Stored] = field(default_factory=dict)
    drafts: dict[str, str] = field(default_factory=dict)  # draft id -> message id
    history: list[History] = field(default_factory=list)
    sends: list[datetime] = field(default_factory=list)
    aliases: set[str] = field(default_factory=set)

    def next_history(self) -> int:
        self.history_id += 1
        return self.history_id

    def add(self, raw: bytes, labels: list[str], now: datetime, thread_id: str | None = None) -> Stored:
        stored = Stored(new_id(), thread_id or new_id(), labels, raw, self.next_history(),
                        int(now.timestamp() * 1000))
        self.messages[stored.id] = stored
        self.history.append(History(stored.history_id, "messageAdded", stored))
        return stored

    def remove(self, message_id: str) -> None:
        stored = self.messages.pop(message_id)
        self.history.append(History(self.next_history(), "messageDeleted", stored))

    def trash(self, message_id: str, now: datetime) -> None:
        stored = self.messages[message_id]
        if "TRASH" not in stored.labels:
            stored.labels.append("TRASH")
            stored.trashed_at = now
            self.history.append(History(self.next_history(), "labelAdded", stored, ["TRASH"]))

    def purge_trash(self, now: datetime) -> None:
        """Gmail empties the trash of what has been there 30 days."""
        for stored in [m for m in self.messages.values() if m.trashed_at is not None
                       and now - m.trashed_at >= timedelta(days=TRASH_DAYS)]:
            for draft_id in [d for d, m in self.drafts.items() if m == stored.id]:
                del self.drafts[draft_id]
            self.remove(stored.id)

    def expire_history(self) -> None:
        """History ids up to now stop working (Gmail keeps them about a week): history.list answers 404."""
        self.oldest_history = self.next_history()
        self.history = [h for h in self.history if h.id >= self.oldest_history]

    def thread(self, thread_id: str) -> list[Stored]:
        return sorted((m for m in self.messages.values() if m.thread_id == thread_id), key=lambda m: m.history_id)

    def search(self, query: str, now: datetime, *, label_ids: list[str] | None = None,
               include_spam_trash: bool = False) -> list[Stored]:
        """Messages matching `query` (Gmail search syntax, the operators the channel uses), newest first."""
        terms = parse_query(query)
        asked = {v for operator, values in terms if operator == "in" for v in values}
        include_spam_trash = include_spam_trash or bool(asked & {"trash", "spam", "anywhere"})
        found = []
        for stored in self.messages.values():
            labels = set(stored.labels)
            if not include_spam_trash and labels & {"SPAM", "TRASH"}:
                continue
            if label_ids and not set(label_ids) <= labels:
                continue
            if matches(stored, terms, now):
                found.append(stored)
        return sorted(found, key=lambda m: (m.internal_ms, m.history_id), reverse=True)


OPERATORS = {"", "rfc822msgid", "in", "from", "to", "newer_than", "older_than", "subject", "after", "before"}


def parse_query(query: str) -> list[tuple[str, list[str]]]:
    """[(operator, values)] of a Gmail search ("" for a plain word, "{" for an OR of the terms in braces);
    ValueError for an operator not faked."""
    terms = []
    for either, operator, group, op2, value, word in (m.groups() for m in _TERM.finditer(query or "")):
        if either is not None:
            alternatives = [m.group(0) for m in _TERM.finditer(either)]
            for alternative in alternatives:
                parse_query(alternative)  # an operator not faked is an error here too
            terms.append(("{", alternatives))
            continue
        name = (operator or op2 or "").lower()
        if name not in OPERATORS:
            raise ValueError(f"search operator {name!r} is not faked by the Gmail sandbox")
        values = [v.strip('"').lower() for v in re.split(r"\s+OR\s+|\s+", group) if v] if group \
            else [(value or word or "").strip('"').lower()]
        if name in ("after", "before") and _instant(values[0]) is None:
            raise ValueError(f"{name}:{values[0]} is not a date Gmail reads")
        terms.append((name, values))
    return terms


def matches(stored: Stored, terms: list[tuple[str, list[str]]], now: datetime) -> bool:
    mail = stored.mail
    for operator, values in terms:
        if operator == "{":
            if not any(matches(stored, parse_query(alternative), now) for alternative in values):
                return False
        elif not operator:
            if values[0] and values[0] not in searchable(mail):
                return False
        elif operator == "rfc822msgid":
            if str(mail.get("Message-ID", "")).strip().strip("<>").lower() not in [v.strip("<>") for v in values]:
                return False
        elif operator == "in":
            label = {"sent": "SENT", "inbox": "INBOX", "drafts": "DRAFT", "draft": "DRAFT", "spam": "SPAM",
                     "trash": "TRASH"}.get(values[0])
            if values[0] != "anywhere" and label not in stored.labels:
                return False
        elif operator in ("from", "to"):
            addresses = [a.lower() for _, a in getaddresses([str(mail.get(operator, ""))])]
            if not any(v in a for v in values for a in addresses):
                return False
        elif operator in ("after", "before"):
            bound = _instant(values[0])
            if bound is None:  # refused by parse_query already
                return False
            if (stored.internal_ms >= bound * 1000) != (operator == "after"):
                return False
        elif operator in ("newer_than", "older_than"):
            match = re.fullmatch(r"(\d+)([dmy])", values[0])
            if not match:
                return False
            days = int(match.group(1)) * {"d": 1, "m": 31, "y": 366}[match.group(2)]
            newer = stored.internal_ms >= (now - timedelta(days=days)).timestamp() * 1000
            if newer != (operator == "newer_than"):
                return False
        elif values[0] not in str(mail.get("Subject", "")).lower():  # subject:
            return False
    return True


def searchable(mail: EmailMessage) -> str:
    """What a plain word is matched against, lower-cased: the subject, the addresses and names, the text parts
    (decoded). Not the other headers: Gmail has no operator for them, and a plain word is not one either."""
    parts = [str(mail.get(name, "")) for name in ("Subject", "From", "To", "Cc")]
    for part in mail.walk():
        if part.get_content_maintype() == "text" and isinstance(part, EmailMessage):
            try:
                parts.append(str(part.get_content()))
            except (LookupError, ValueError):
                continue
    return "\n".join(parts).lower()


def _instant(value: str) -> int | None:
    """Seconds since the epoch of an after:/before: value: seconds as they are, a date (2026/12/03 or 2026-12-03)
    at midnight Pacific time ("All dates used in the search query are interpreted as midnight on that date in
    the PST timezone", https://developers.google.com/gmail/api/guides/filtering)."""
    if value.isdigit():
        return int(value)
    match = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value)
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    return int(datetime(year, month, day, tzinfo=PACIFIC).timestamp())


def payload(mail: Message, part_id: str = "", *, headers: list[str] | None = None,
            bodies: bool = True) -> dict[str, Any]:
    """A MessagePart as messages.get(format=full|metadata) shows it."""
    import base64

    shown = [{"name": k, "value": str(v)} for k, v in mail.items()
             if headers is None or k.lower() in {h.lower() for h in headers}]
    out: dict[str, Any] = {"partId": part_id, "mimeType": mail.get_content_type(), "filename": "",
                           "headers": shown}
    if not bodies:
        return out
    if mail.is_multipart():
        parts = mail.get_payload()
        assert isinstance(parts, list)
        out["body"] = {"size": 0}
        out["parts"] = [payload(p, f"{part_id}.{i}" if part_id else str(i)) for i, p in enumerate(parts)]
    else:
        data = mail.get_payload(decode=True)
        content = data if isinstance(data, bytes) else str(mail.get_payload()).encode()
        out["body"] = {"size": len(content), "data": base64.urlsafe_b64encode(content).decode().rstrip("=")}
    return out


def rewrite_headers(raw: bytes, *, sender: str, aliases: set[str], new_message_id: bool, now: datetime) -> bytes:
    """What Gmail does to a mail it sends: its own From when ours is not the mailbox's, its own Message-ID."""
    mail = parse_mail(raw)
    name, address = parseaddr(str(mail.get("From", "")))
    if address.lower() not in {sender.lower(), *(a.lower() for a in aliases)}:
        del mail["From"]
        mail["From"] = f"{name} <{sender}>" if name else sender
    if new_message_id or not mail.get("Message-ID"):
        del mail["Message-ID"]
        mail["Message-ID"] = f"<CA+{secrets.token_urlsafe(24)}@mail.gmail.com>"
    if not mail.get("Date"):
        mail["Date"] = format_datetime(now)
    return mail.as_bytes(policy=policy.SMTP.clone(max_line_length=998))


def dsn(original: Stored, mailbox: str, recipient: str, now: datetime, *, temporary: bool = False,
        status: str | None = None) -> bytes:
    """The delivery-status notification Gmail's mailer-daemon sends for `original` (RFC 3464 / RFC 6522)."""
    mail = original.mail
    msgid = str(mail.get("Message-ID", ""))
    status = status or ("4.4.1" if temporary else "5.1.1")
    domain = recipient.rpartition("@")[2]
    date = format_datetime(now)
    if temporary:
        human = (f"Delivery incomplete\r\n\r\nThere was a temporary problem delivering your message to "
                 f"{recipient}. Gmail will retry for 46 more hours. You'll be notified if the delivery fails "
                 "permanently.\r\n")
        diagnostic = f"smtp; 421-4.4.1 [{domain}] Connection timed out"
    else:
        human = (f"Address not found\r\n\r\nYour message wasn't delivered to {recipient} because the address "
                 "couldn't be found, or is unable to receive mail.\r\n")
        diagnostic = ("smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
                      " 550-5.1.1 double-checking the recipient's email address for typos or\r\n"
                      " 550-5.1.1 unnecessary spaces. For more information, go to\r\n"
                      f" 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser {secrets.token_hex(4)} - gsmtp")
    boundary = f"000000000000{secrets.token_hex(8)}"
    head = re.split(rb"\r?\n\r?\n", original.raw, maxsplit=1)[0]
    returned = head.decode("ascii", "replace").replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n"
    text = (
        f"Delivered-To: {mailbox}\r\nReturn-Path: <>\r\n"
        f"From: Mail Delivery Subsystem <{MAILER_DAEMON}>\r\nTo: {mailbox}\r\nAuto-Submitted: auto-replied\r\n"
        f"Subject: Delivery Status Notification ({'Delay' if temporary else 'Failure'})\r\n"
        f"References: {msgid}\r\nIn-Reply-To: {msgid}\r\n"
        + ("" if temporary else f"X-Failed-Recipients: {recipient}\r\n")
        + f"Message-ID: <{secrets.token_hex(12)}@mx.google.com>\r\nDate: {date}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; boundary="{boundary}"; report-type=delivery-status\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\n{human}\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; googlemail.com\r\nReceived-From-MTA: dns; {mailbox}\r\n"
        f"Arrival-Date: {date}\r\nX-Original-Message-ID: {msgid}\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {'delayed' if temporary else 'failed'}\r\n"
        f"Status: {status}\r\nRemote-MTA: dns; mx.{domain}. (192.0.2.25, the server for the domain {domain}.)\r\n"
        f"Diagnostic-Code: {diagnostic}\r\nLast-Attempt-Date: {date}\r\n"
        + (f"Will-Retry-Until: {format_datetime(now + timedelta(hours=46))}\r\n" if temporary else "")
        + f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers; charset=\"UTF-8\"\r\n\r\n{returned}\r\n"
        f"--{boundary}--\r\n")
    return text.encode("utf-8")
