"""The groups the key figures count people in: the referring structure's kind, the declared sex, the age band.

Pure functions on what a record holds, shared by the report (hub.report.figures) and the erasure, which keeps
the groups (never the year of birth, nor the structure's name) so that an erased person is still counted in
the same cells (hub.privacy.forget.kept_record).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["AGE_BANDS", "REFERRER_GROUPS", "SEXES", "UNKNOWN", "age_band", "referrer_group", "sex_group"]

UNKNOWN = "non_renseigne"

REFERRER_GROUPS: dict[str, str] = {
    "france_travail": "France Travail",
    "mission_locale": "Mission locale",
    "plie": "PLIE",
    "ccas": "CCAS / CIAS",
    "cap_emploi": "Cap emploi",
    "autre": "Autre structure",
    UNKNOWN: "Non renseigné",
}
"""The referrer kinds the report counts, with their French labels, in the order they are shown."""

SEXES: dict[str, str] = {"F": "Femmes", "M": "Hommes", "X": "Autre réponse", UNKNOWN: "Non renseigné"}
AGE_BANDS: dict[str, str] = {
    "moins_de_25": "Moins de 25 ans",
    "25_54": "25 à 54 ans",
    "55_et_plus": "55 ans et plus",
    UNKNOWN: "Non renseigné",
}
"""The European Social Fund's participant age bands (age at registration)."""

# (group, words): the first group one of whose words (or word sequences) the normalised text contains
_REFERRER_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("france_travail", ("france travail", "francetravail", "pole emploi", "poleemploi", "ft", "pe", "anpe")),
    ("mission_locale", ("mission locale", "missions locales", "missionlocale", "ml")),
    ("cap_emploi", ("cap emploi", "capemploi")),
    ("plie", ("plie",)),
    ("ccas", ("ccas", "cias", "centre communal d action sociale", "centre intercommunal d action sociale")),
)


def _words(text: str) -> str:
    """Lower case, no accents, every run of other characters one space, padded: ' mission locale de lyon '."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    return f" {re.sub(r'[^a-z0-9]+', ' ', plain).strip()} "


def referrer_group(kind: str | None, structure: str | None = None) -> str:
    """The report's group for a referrer: from its kind (a free value: "france_travail", "Pôle emploi",
    "Mission Locale"...), else from the structure's name ("Mission locale de Villeurbanne"); "autre" when
    something was given but matches no group, UNKNOWN when nothing was."""
    given = False
    for text in (kind, structure):
        if not text or not text.strip():
            continue
        given = True
        words = _words(text)
        if words.strip() in REFERRER_GROUPS:
            return words.strip()
        if words.strip().replace(" ", "_") in REFERRER_GROUPS:
            return words.strip().replace(" ", "_")
        for group, needles in _REFERRER_WORDS:
            if any(f" {needle} " in words for needle in needles):
                return group
    return "autre" if given else UNKNOWN


def sex_group(sex: str | None) -> str:
    """F, M or X as stored (hub.hygiene.clean_sex normalised it at ingest); UNKNOWN otherwise."""
    return sex if sex in ("F", "M", "X") else UNKNOWN


def age_band(birth_year: int | None, registration_year: int | None) -> str:
    """The age band at registration, from the two years alone (a person born in December counts a year
    older for the registrations of that year: the report needs no more than the year of birth)."""
    if birth_year is None or registration_year is None:
        return UNKNOWN
    age = registration_year - birth_year
    if age < 0:
        return UNKNOWN
    if age < 25:
        return "moins_de_25"
    return "25_54" if age < 55 else "55_et_plus"
