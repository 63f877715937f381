"""Reading a delivery-status notification (RFC 3464 inside an RFC 6522 multipart/report).

    Content-Type: multipart/report; report-type=delivery-status
      1. a human-readable part
      2. message/delivery-status: a per-message block (Reporting-MTA, X-Original-Message-ID for Gmail),
         then one block per recipient (Final-Recipient, Action, Status, Diagnostic-Code)
      3. the original message (message/rfc822) or its headers (text/rfc822-headers)

Gmail also adds X-Failed-Recipients, and In-Reply-To/References naming the original Message-ID. Only a
permanent failure (Action: failed, Status 5.x.x) is a bounce; a delay (4.x.x) is Gmail still trying.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import Message as MimeMessage
from email.parser import BytesParser, HeaderParser

_EMAIL = re.compile(r"[^\s<>()\[\];:,\"']+@[^\s<>()\[\];:,\"']+")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Dsn:
    original_message_id: str | None  # with its angle brackets
    address: str | None
    status: str  # "5.1.1"
    diagnostic: str  # Diagnostic-Code without addresses

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5.")

    @property
    def reason(self) -> str:
        """"5.1.1 The email account that you tried to reach does not exist..." (no address, 200 chars)."""
        return " ".join(f"{self.status} {self.diagnostic}".split())[:200]


def is_report(content_type: str) -> bool:
    """A Content-Type header (as messages.get format=metadata gives it) of a delivery-status report."""
    text = content_type.lower()
    return "multipart/report" in text and "delivery-status" in text


def parse(raw: bytes) -> Dsn | None:
    """The DSN `raw` is, or None when it is not one (or reports no failed recipient)."""
    mail = BytesParser(policy=policy.compat32).parsebytes(raw)
    if mail.get_content_type() != "multipart/report" or \
            str(mail.get_param("report-type", "")).lower() != "delivery-status":
        return None
    parts = _parts(mail)
    status_part = next((p for p in parts if p.get_content_type() == "message/delivery-status"), None)
    blocks = _parts(status_part) if status_part is not None else []
    if not blocks:
        return None
    per_message, recipients = blocks[0], blocks[1:]
    failed = [b for b in recipients if _action(b) in ("failed", "delayed")]
    if not failed:
        return None
    chosen = next((b for b in failed if _status(b).startswith("5.")), failed[0])
    address = _after_type(chosen.get("Final-Recipient")) or _after_type(chosen.get("Original-Recipient")) \
        or _first_address(mail.get("X-Failed-Recipients"))
    return Dsn(original_message_id=_original_id(mail, per_message, parts), address=address,
               status=_status(chosen), diagnostic=_masked(_after_type(chosen.get("Diagnostic-Code")) or ""))


def _parts(mail: MimeMessage) -> list[MimeMessage]:
    """The sub-messages of a multipart or message/* part (delivery-status blocks are parsed as messages)."""
    payload = mail.get_payload()
    return [p for p in payload if isinstance(p, MimeMessage)] if isinstance(payload, list) else []


def _action(block: MimeMessage) -> str:
    return str(block.get("Action", "")).strip().lower()


def _status(block: MimeMessage) -> str:
    match = _STATUS.search(str(block.get("Status", "")))
    if match:
        return ".".join(match.groups())
    return "5.0.0" if _action(block) == "failed" else "4.0.0"


def _after_type(value: object) -> str | None:
    """'rfc822; someone@example.org' -> 'someone@example.org' (RFC 3464 address-type; address)."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return (text.split(";", 1)[1] if ";" in text else text).strip() or None


def _first_address(value: object) -> str | None:
    match = _EMAIL.search(str(value or ""))
    return match.group(0) if match else None


def _masked(text: str) -> str:
    return _EMAIL.sub("<adresse>", text).replace("<<adresse>>", "<adresse>")


def _original_id(mail: MimeMessage, per_message: MimeMessage, parts: list[MimeMessage]) -> str | None:
    """The Message-ID of the mail that bounced: Gmail's X-Original-Message-ID, else the returned message's or
    headers' Message-ID, else the last id of In-Reply-To / References."""
    candidates: list[object] = [per_message.get("X-Original-Message-ID")]
    for part in parts:
        kind = part.get_content_type()
        if kind == "message/rfc822":
            candidates += [inner.get("Message-ID") for inner in _parts(part)[:1]]
        elif kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(part.get_payload())
            candidates.append(HeaderParser().parsestr(text).get("Message-ID"))
    candidates += [mail.get("In-Reply-To"), mail.get("References")]
    for value in candidates:
        found = _MSGID.findall(str(value or ""))
        if found:
            return found[-1]
    return None
