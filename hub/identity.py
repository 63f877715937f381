"""Matching people across tools: normalised e-mail and phone keys used to attach a booking to a candidate.

The keys match a value as stored since input hygiene (an E.164 phone, email-validator's normalised address)
with the same value typed any other way, including those stored raw before it ('06 12 34 56 78').
"""

from __future__ import annotations

import re
import unicodedata

_NON_DIGIT = re.compile(r"\D")


def email_key(email: str | None) -> str | None:
    """Case and Unicode form ignored: 'Zoé@EXAMPLE.org' typed decomposed or not is one address."""
    if not email or "@" not in email:
        return None
    return unicodedata.normalize("NFC", email.strip()).casefold()


def phone_key(phone: str | None) -> str | None:
    """The last nine digits: '+33612345678', '+33 6 12 34 56 78', '0033612345678' and '06.12.34.56.78' all
    match (E.164 as stored now, and raw values stored before phones were normalised)."""
    if not phone:
        return None
    digits = _NON_DIGIT.sub("", phone)
    return digits[-9:] if len(digits) >= 9 else None
