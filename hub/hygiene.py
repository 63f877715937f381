"""Cleaning what people typed, in one place: every source's values pass here at ingest (hub.ingest).

What a person types in a form or a booking reaches the store, staff's sheets, mails and reports. So, before
it is stored: text is NFC-normalised, stripped of control characters (NUL, C0, C1) and of the invisible
bidirectional controls that can make a name display reversed, and capped in length (far below Sheets'
50,000 characters a cell); names are put on one line; e-mails are validated (email-validator) and phones
parsed to E.164 (phonenumbers), in the branch's region. A bad e-mail or phone is not stored: the field is
left empty, the rest of the record kept, and the caller reports the problem (`Rejected` says which field).

`clean_candidate` is idempotent: a source that cleans first (to report a problem with its row and column)
hands the hub a record the hub's own pass leaves unchanged, so the two never disagree nor report twice.

`spreadsheet_safe` is for files the hub writes (CSV, spreadsheets written as typed): OWASP's rule against
formula injection, see https://owasp.org/www-community/attacks/CSV_Injection.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.events import Candidate, Event, Outcome, Referrer, Session

__all__ = [
    "DEFAULT_PHONE_REGION",
    "LIMITS",
    "InvalidValue",
    "Rejected",
    "clean_birth_year",
    "clean_candidate",
    "clean_email",
    "clean_event",
    "clean_name",
    "clean_phone",
    "clean_sex",
    "clean_text",
    "display_phone",
    "phone_regions",
    "spreadsheet_safe",
]

DEFAULT_PHONE_REGION = "FR"
LIMITS = {  # characters kept per kind of field; all far below Sheets' 50,000 a cell
    "name": 100,
    "email": 254,  # RFC 5321's longest address
    "phone": 40,  # as typed, before parsing (spaces, dots, +33...): longer is no phone number
    "referrer": 200,
    "text": 2_000,  # free text and extra answers
    "key": 100,  # the name of an extra answer
}
_BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # embeddings, overrides, isolates
_DIRECTION_MARKS = "\u200e\u200f\u061c"  # LRM, RLM, ALM: harmless in prose, pointless in a name or address
_INVISIBLE = "\ufeff"  # a byte-order mark pasted inside a value
_DROP_ALWAYS = dict.fromkeys(map(ord, _BIDI_CONTROLS + _INVISIBLE))
_DROP_IN_LINES = dict.fromkeys(map(ord, _BIDI_CONTROLS + _INVISIBLE + _DIRECTION_MARKS))
_SPACES = re.compile(r"\s+")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ELLIPSIS = "…"


class InvalidValue(ValueError):
    """A value that cannot be kept (an e-mail or phone that is none); the message is French, for staff, and
    never quotes the value."""


@dataclass(frozen=True)
class Rejected:
    """A value left out of a record: `field` is its path in the Candidate ('phone', 'referrer.contact_email')."""

    field: str
    reason: str


# --- text ---------------------------------------------------------------------------------------------------

def clean_text(value: Any, limit: int = LIMITS["text"], *, one_line: bool = False) -> str | None:
    """NFC text without control or bidi-override characters, capped at `limit` (an ellipsis shows the cut);
    line breaks are kept unless `one_line`, where every run of spaces becomes one. None when nothing is left."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value))
    text = text.translate(_DROP_IN_LINES if one_line else _DROP_ALWAYS)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = "".join(_without_control(c) for c in text)
    text = _SPACES.sub(" ", text) if one_line else "\n".join(line.rstrip() for line in text.split("\n"))
    text = text.strip()
    if len(text) > limit:
        text = text[:limit - 1].rstrip() + _ELLIPSIS
    return text or None


def _without_control(char: str) -> str:
    """C0, DEL, C1 (category Cc) and lone surrogates (Cs) are never meaningful in what a person typed: gone,
    except a line break, and a space for the spacing ones (vertical tab, form feed...)."""
    if char == "\n" or unicodedata.category(char) not in ("Cc", "Cs"):
        return char
    return " " if char.isspace() else ""


def clean_name(value: Any, limit: int = LIMITS["name"]) -> str | None:
    """A person's or structure's name: clean text on one line."""
    return clean_text(value, limit, one_line=True)


# --- e-mail and phone ---------------------------------------------------------------------------------------

def clean_email(value: Any) -> str | None:
    """The address in email-validator's normalised form (domain lower-cased, Unicode normalised); None when
    blank. InvalidValue when it is no address. No DNS lookup: ingest and tests stay offline."""
    from email_validator import EmailNotValidError, validate_email

    _accept_reserved_invalid()
    text = clean_name(value, LIMITS["email"] + 1)
    if text is None:
        return None
    if len(text) > LIMITS["email"]:
        raise InvalidValue("adresse e-mail trop longue")
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvalidValue("adresse e-mail invalide") from None


@functools.cache
def _accept_reserved_invalid() -> None:
    """Let addresses at `.invalid` through (email-validator refuses special-use names even offline): RFC 2606
    reserves it for addresses that must never be delivered, which is what the demo and sandboxes give people.
    The library documents this list as a setting of its users; loaded when the first address is read."""
    import email_validator

    if "invalid" in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("invalid")


def clean_phone(value: Any, region: str = DEFAULT_PHONE_REGION) -> str | None:
    """The number in E.164 (+33612345678), national numbers read in `region`; None when blank. InvalidValue
    when it is no valid number (a formula, letters, too few digits...)."""
    import phonenumbers  # its metadata is large: loaded when the first phone is read

    text = clean_name(value, LIMITS["phone"] + 1)
    if text is None:
        return None
    if len(text) > LIMITS["phone"]:
        raise InvalidValue(_phone_reason(region))
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidValue(_phone_reason(region)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue(_phone_reason(region))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_reason(region: str) -> str:
    """Why a phone was refused, with a made-up example of the region's format (never the value typed)."""
    import phonenumbers

    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    shown = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL) if example else ""
    return "numéro de téléphone invalide" + (f" (format attendu, par exemple : {shown})" if shown else "")


def display_phone(value: str | None, region: str = DEFAULT_PHONE_REGION) -> str:
    """A stored phone as staff read it: national format for the branch's region (06 12 34 56 78), international
    for others (+32 470 12 34 56). A value stored before phones were normalised is shown cleaned, as it was."""
    import phonenumbers

    text = clean_name(value, LIMITS["phone"]) or ""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_valid_number(number):
        return text
    national = phonenumbers.region_code_for_number(number) == region
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL if national
                                      else phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone_regions() -> frozenset[str]:
    """The region codes phonenumbers knows (FR, BE, CH...), for checking a branch's `phone_region`."""
    import phonenumbers

    return frozenset(phonenumbers.SUPPORTED_REGIONS)


# --- declared sex and year of birth (asked only where a branch counts by them for its funders) ---------------

_FEMALE = frozenset({"f", "femme", "feminin", "female", "woman", "w", "madame", "mme"})
_MALE = frozenset({"m", "h", "homme", "masculin", "male", "man", "monsieur", "mr"})
OLDEST_BIRTH_YEAR = 1900


def clean_sex(value: Any) -> str | None:
    """F or M from the usual answers (Femme, F, féminin / Homme, H, M, masculin; case and accents ignored); X for
    any other answer (the person chose another word); None when blank."""
    text = clean_name(value, LIMITS["key"])
    if text is None:
        return None
    word = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold().strip(" .")
    return "F" if word in _FEMALE else "M" if word in _MALE else "X"


def clean_birth_year(value: Any, this_year: int) -> int | None:
    """The year of birth from a year (1990, "1990") or a date of birth ("12/03/1990", "1990-03-12", a date);
    None when blank. InvalidValue when it is neither, or not a plausible year (before 1900, or later than this
    year); the message never quotes the value."""
    from datetime import date

    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, date):
        year = value.year
    elif isinstance(value, int | float):
        if value != int(value):
            raise InvalidValue("année de naissance illisible (écrire l'année, par exemple 1990)")
        year = int(value)
    else:
        text = clean_name(value, LIMITS["key"])
        if text is None:
            return None
        found = re.fullmatch(r"(\d{4})|\d{1,2}[/.\- ]\d{1,2}[/.\- ](\d{4})|(\d{4})-\d{1,2}-\d{1,2}", text)
        if found is None:
            raise InvalidValue("année de naissance illisible (écrire l'année, par exemple 1990, ou la date)")
        year = int(next(g for g in found.groups() if g))
    if not OLDEST_BIRTH_YEAR <= year <= this_year:
        raise InvalidValue("année de naissance improbable")
    return year


# --- records ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Checked:
    value: str | None
    rejected: Rejected | None = None


def _checked(field: str, check: Any, value: Any) -> _Checked:
    try:
        return _Checked(check(value))
    except InvalidValue as exc:
        return _Checked(None, Rejected(field, str(exc)))


def clean_candidate(candidate: Candidate, region: str = DEFAULT_PHONE_REGION) -> tuple[Candidate,
                                                                                         tuple[Rejected, ...]]:
    """The candidate with every typed field cleaned, and the values left out (an invalid e-mail or phone)."""
    email = _checked("email", clean_email, candidate.email)
    phone = _checked("phone", lambda v: clean_phone(v, region), candidate.phone)
    referrer, referrer_rejected = _clean_referrer(candidate.referrer)
    extra = {key: text for k, v in candidate.extra.items()
             if (key := clean_name(k, LIMITS["key"])) and (text := clean_text(v)) is not None}
    cleaned = candidate.model_copy(update={
        "first_name": clean_name(candidate.first_name), "last_name": clean_name(candidate.last_name),
        "email": email.value, "phone": phone.value, "referrer": referrer, "extra": extra,
        "sex": clean_sex(candidate.sex)})
    rejected = tuple(r for r in (email.rejected, phone.rejected, referrer_rejected) if r is not None)
    return cleaned, rejected


def _clean_referrer(referrer: Referrer | None) -> tuple[Referrer | None, Rejected | None]:
    if referrer is None:
        return None, None
    email = _checked("referrer.contact_email", clean_email, referrer.contact_email)
    return referrer.model_copy(update={
        "structure": clean_name(referrer.structure, LIMITS["referrer"]),
        "kind": clean_name(referrer.kind, LIMITS["referrer"]),
        "contact_name": clean_name(referrer.contact_name, LIMITS["referrer"]),
        "contact_email": email.value}), email.rejected


def _clean_session(session: Session | None) -> Session | None:
    """The session's typed parts (a cancellation reason is typed by the person; a place or host by staff)."""
    if session is None:
        return None
    return session.model_copy(update={
        "location": clean_text(session.location, LIMITS["referrer"]),
        "host": clean_name(session.host, LIMITS["referrer"]),
        "cancel_reason": clean_text(session.cancel_reason)})


def _clean_outcome(outcome: Outcome | None) -> Outcome | None:
    if outcome is None:
        return None
    return outcome.model_copy(update={"label": clean_name(outcome.label, LIMITS["referrer"]),
                                      "comment": clean_text(outcome.comment)})


def clean_event(event: Event, region: str = DEFAULT_PHONE_REGION) -> tuple[Event, tuple[Rejected, ...]]:
    """The event with its candidate, session and outcome cleaned; the candidate's values left out."""
    candidate, rejected = (None, ()) if event.candidate is None else clean_candidate(event.candidate, region)
    cleaned = event.model_copy(update={"candidate": candidate, "session": _clean_session(event.session),
                                       "outcome": _clean_outcome(event.outcome)})
    return cleaned, rejected


# --- files the hub writes -----------------------------------------------------------------------------------

def spreadsheet_safe(value: Any) -> Any:
    """A cell value a spreadsheet will not run as a formula: text starting with =, +, -, @, tab or CR gets a
    leading single quote (OWASP's CSV-injection rule); numbers, dates and other text pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
