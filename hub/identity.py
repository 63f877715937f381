"""Matching people across tools: normalised e-mail and phone keys used to attach a booking to a candidate."""

from __future__ import annotations

import re

_NON_DIGIT = re.compile(r"\D")


def email_key(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.strip().casefold()


def phone_key(phone: str | None) -> str | None:
    """The last nine digits: '+33 6 12 34 56 78', '0033612345678' and '06.12.34.56.78' all match."""
    if not phone:
        return None
    digits = _NON_DIGIT.sub("", phone)
    return digits[-9:] if len(digits) >= 9 else None
