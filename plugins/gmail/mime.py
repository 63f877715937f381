"""The RFC 5322 message for one hub Message, built with the standard library's `email` package.

multipart/alternative (text/plain then text/html, both UTF-8 quoted-printable) or text/plain alone; with
attachments (Message.attachments: the monthly report), multipart/mixed holding that body then each file, base64,
`Content-Disposition: attachment; filename=...` (a non-ASCII name as RFC 2231 `filename*=utf-8''...`, which the
standard library writes). Headers with non-ASCII text are RFC 2047 encoded. Bodies are encoded with the SMTP
policy (76-character QP lines), headers are generated with a 998-character line limit (RFC 5322's hard limit):
folding at 78 would split a long List-Unsubscribe URL into encoded words, which RFC 2369 readers (Gmail's
unsubscribe button) cannot read.

The Message-ID carries the delivery key (base32), so a bounce quoting it can be matched without a lookup when
Gmail keeps it; Gmail is reported to replace it on API sends (reference E2, lieer#198), so matching never
depends on it alone (see bounces.py).
"""

from __future__ import annotations

import base64
import email.errors
import re
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from hub.errors import DeliveryRejected
from hub.events import Message

BODY_POLICY = policy.SMTP
HEADER_POLICY = policy.SMTP.clone(max_line_length=998)
MSGID_SUFFIX = ".cravate-hub"
_MSGID = re.compile(r"<?([a-z2-7]+)" + re.escape(MSGID_SUFFIX) + r"@[^>]+>?", re.IGNORECASE)
# headers the hub sets itself, or that would send the message to someone else: never taken from Message.headers
_RESERVED = {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "reply-to", "sender",
             "return-path", "content-type", "content-transfer-encoding", "resent-to", "resent-cc", "resent-bcc"}


def address(text: str, name: str | None = None, *, what: str) -> Address:
    """An Address from an addr-spec (an IDN domain is punycoded); DeliveryRejected naming only `what`."""
    try:
        local, _, domain = text.strip().rpartition("@")
        if not local or not domain:
            raise ValueError("no @")
        return Address(display_name=name or "", addr_spec=f"{local}@{domain.encode('idna').decode('ascii')}")
    except (ValueError, IndexError, UnicodeError, email.errors.MessageError):
        raise DeliveryRejected(f"adresse {what} invalide ou non ASCII : impossible de l'écrire dans le message") \
            from None


def message_id(delivery_key: str, sender_domain: str) -> str:
    """`<base32(delivery key).cravate-hub@domain>`: stable across retries, unique per delivery."""
    token = base64.b32encode(delivery_key.encode("utf-8")).decode("ascii").rstrip("=").lower()
    return f"<{token}{MSGID_SUFFIX}@{sender_domain}>"


def delivery_key_of(msgid: str) -> str | None:
    """The delivery key a Message-ID made by `message_id` carries, else None (Gmail's own, or another's)."""
    match = _MSGID.search(msgid or "")
    if not match:
        return None
    token = match.group(1).upper()
    try:
        return base64.b32decode(token + "=" * (-len(token) % 8)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def build(message: Message, *, sender: str, from_name: str | None, reply_to: str | None, delivery_key: str,
          now: datetime) -> EmailMessage:
    """The MIME message for `message`; DeliveryRejected for what can never be sent (a bad address or header)."""
    mail = EmailMessage(policy=BODY_POLICY)
    source = address(sender, from_name, what="d'expéditeur")
    try:
        mail["From"] = source
        mail["To"] = address(message.to, message.to_name, what="du destinataire")
        if reply_to:
            mail["Reply-To"] = address(reply_to, what="de réponse")
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(now)
        mail["Message-ID"] = message_id(delivery_key, source.domain)
        for name, value in message.headers.items():
            if name.strip().lower() in _RESERVED:
                raise DeliveryRejected(f"en-tête {name!r} réservé : le hub l'écrit lui-même")
            mail[name] = value
    except (ValueError, email.errors.MessageError):  # a CR/LF in a header: never injected into the mail
        raise DeliveryRejected("un en-tête du message contient un retour à la ligne ou est mal formé") from None
    mail.set_content(message.text, cte="quoted-printable")
    if message.html:
        mail.add_alternative(message.html, subtype="html", cte="quoted-printable")
    for attachment in message.attachments:  # the body becomes the first part of a multipart/mixed
        maintype, _, subtype = attachment.content_type.partition("/")
        mail.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    for part in mail.walk():
        if part is not mail:
            del part["MIME-Version"]  # only the top level carries it
    return mail


def encode(mail: EmailMessage) -> str:
    """What Gmail's `raw` wants: the whole message, base64url encoded (RFC 4648 §5, padded)."""
    return base64.urlsafe_b64encode(mail.as_bytes(policy=HEADER_POLICY)).decode("ascii")


def decode_raw(data: str) -> bytes:
    """`raw` / `body.data` as Gmail sends it: base64url, padding optional; the standard alphabet accepted
    too (some published examples use it), since plain b64decode would silently drop '-' and '_'."""
    text = data.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
