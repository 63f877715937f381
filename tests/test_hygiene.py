"""Input hygiene (issue 11, "Input hygiene"): what people type is cleaned once, in the core, at ingest.

Each hostile value the issue names is sent through `hub.hygiene` and through the Ingestor: a 60,000-character
cell, NUL and control characters, a right-to-left override in a name, spreadsheet formulas, `=0+33 6` as a
phone, an invalid e-mail; and good values must keep their meaning.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from hub.app import Hub
from hub.config import BranchConfig
from hub.events import Candidate, EventKind, Referrer
from hub.hygiene import (
    LIMITS,
    InvalidValue,
    Rejected,
    clean_candidate,
    clean_email,
    clean_name,
    clean_phone,
    clean_text,
    display_phone,
    spreadsheet_safe,
)
from hub.identity import email_key, phone_key
from hub.testing import make_event

SHEETS_CELL_LIMIT = 50_000
HUGE = "A" * 60_000
FORMULAS = ['=HYPERLINK("http://x","clic")', "+cmd|' /C calc'!A0", "@SUM(A1)", "\t=1+1", "-2+3", "\r=1+1"]
RLO = "\u202e"


# --- text ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("clean", [clean_name, clean_text])
def test_a_60000_character_cell_is_capped_far_below_sheets_limit(clean: Callable[[Any], str | None]) -> None:
    cleaned = clean(HUGE)
    assert cleaned is not None and len(cleaned) <= LIMITS["text"] < SHEETS_CELL_LIMIT
    assert cleaned.endswith("…") and cleaned.startswith("AAAA")  # the cut shows


def test_nul_and_control_characters_are_removed() -> None:
    assert clean_name("Zo\x00é\x07 \x1b[31mLefèvre\x7f\x9b") == "Zoé [31mLefèvre"
    assert clean_text("ligne 1\r\nligne\x00 2\x0cfin") == "ligne 1\nligne 2 fin"  # line breaks are meaningful
    assert clean_name("Zoé\nLefèvre\t \u2028Nuñez") == "Zoé Lefèvre Nuñez"  # a name is one line
    assert clean_name("\x00\x01 ") is None


@pytest.mark.parametrize("mark", ["\u202a", "\u202b", "\u202c", "\u202d", RLO, "\u2066", "\u2067", "\u2068",
                                  "\u2069"])
def test_bidi_overrides_embeddings_and_isolates_are_removed_everywhere(mark: str) -> None:
    assert clean_name(f"{mark}Zoé Lefèvre{mark}") == "Zoé Lefèvre"
    assert clean_text(f"note {mark}txt.exe") == "note txt.exe"


def test_a_reversed_looking_name_is_restored() -> None:
    """U+202E makes 'Zoé' + RLO + 'ervèfeL' display as 'Zoé Lefèvre' while being something else."""
    assert clean_name(f"Zoé {RLO}ervèfeL") == "Zoé ervèfeL"
    assert RLO not in (clean_name(f"{RLO}Zoé") or "")


def test_direction_marks_leave_names_and_addresses_but_not_prose() -> None:
    assert clean_name("\u200fZoé\u200e") == "Zoé"
    assert clean_email("zoe\u200f@exemple.fr") == "zoe@exemple.fr"
    assert clean_text("שלום\u200e (Paris)") == "שלום\u200e (Paris)"  # legitimate in mixed-direction text


def test_names_keep_their_accents_in_nfc() -> None:
    assert clean_name("Zoé Lefèvre-Nuñez") == "Zoé Lefèvre-Nuñez"
    decomposed = unicodedata.normalize("NFD", "Zoé Lefèvre-Nuñez")
    assert decomposed != "Zoé Lefèvre-Nuñez" and clean_name(decomposed) == "Zoé Lefèvre-Nuñez"
    assert clean_name("  Zoé   Lefèvre  ") == "Zoé Lefèvre"
    assert clean_name("🦊 Renée Ørsted") == "🦊 Renée Ørsted"


# --- e-mail and phone ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["06.12.34.56.78", "+33 6 12 34 56 78", "0612345678", "0033 6 12 34 56 78",
                                   "612345678", " +33 (0)6 12 34 56 78 "])
def test_french_phones_become_e164(typed: str) -> None:
    assert clean_phone(typed) == "+33612345678"


def test_a_belgian_branch_reads_national_numbers_as_belgian() -> None:
    assert clean_phone("0470 12 34 56", "BE") == "+32470123456"
    assert clean_phone("0470 12 34 56", "FR") != "+32470123456"
    assert clean_phone("+33 6 12 34 56 78", "BE") == "+33612345678"  # an international number stays itself


@pytest.mark.parametrize("typed", ["=0+33 6", *FORMULAS, "06 12", "pas de téléphone", HUGE, "0000000000"])
def test_what_is_no_phone_number_is_refused_without_quoting_it(typed: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        clean_phone(typed)
    assert "téléphone invalide" in str(caught.value)
    assert typed.strip() not in str(caught.value) and "=0+33" not in str(caught.value)


def test_email_keeps_its_normalised_form() -> None:
    assert clean_email("Zoe.Lefevre@EXEMPLE.FR") == "Zoe.Lefevre@exemple.fr"  # the domain is case-free
    assert clean_email(" zoé@exemple.fr ") == "zoé@exemple.fr"
    assert clean_email("p@exemple.invalid") == "p@exemple.invalid"  # the demo's reserved domain
    assert clean_email("") is None and clean_email(None) is None


@pytest.mark.parametrize("typed", ["pas-une-adresse", "a@b", "zoe@@exemple.fr", "zoe@exemple", "a b@exemple.fr",
                                   '=HYPERLINK("http://x","clic")', f"{'a' * 250}@exemple.fr", HUGE])
def test_an_invalid_email_is_refused_without_quoting_it(typed: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        clean_email(typed)
    assert "adresse e-mail" in str(caught.value) and typed not in str(caught.value)


def test_display_phone_for_staff() -> None:
    assert display_phone("+33612345678") == "06 12 34 56 78"
    assert display_phone("+32470123456") == "+32 470 12 34 56"
    assert display_phone("+32470123456", "BE") == "0470 12 34 56"
    assert display_phone("06 12 34 56 78") == "06 12 34 56 78"  # stored raw before this change
    assert display_phone(None) == ""


# --- whole records ------------------------------------------------------------------------------------------

def hostile() -> Candidate:
    return Candidate(ref="r1", first_name=f"\x00{RLO}Zoé{RLO}", last_name=HUGE, email="pas-une-adresse",
                     phone="=0+33 6", referrer=Referrer(structure=FORMULAS[0], contact_name="\tM. Durand\x00",
                                                        contact_email="durand@MISSION-LOCALE.fr"),
                     extra={"note\x00": "@SUM(A1)\x00", HUGE: "x", "vide": "\x00"})


def test_a_hostile_candidate_is_cleaned_and_its_bad_values_named() -> None:
    cleaned, rejected = clean_candidate(hostile())
    assert cleaned.first_name == "Zoé" and len(cleaned.last_name or "") <= LIMITS["name"]
    assert cleaned.email is None and cleaned.phone is None
    assert {r.field for r in rejected} == {"email", "phone"}
    assert cleaned.referrer == Referrer(structure=FORMULAS[0], contact_name="M. Durand",
                                        contact_email="durand@mission-locale.fr")
    assert cleaned.extra == {"note": "@SUM(A1)", "A" * (LIMITS["key"] - 1) + "…": "x"}
    assert cleaned.ref == "r1"


def test_cleaning_twice_changes_nothing_and_rejects_nothing_more() -> None:
    """What lets a source clean first (to name its row and column) without the hub reporting it again."""
    once, rejected = clean_candidate(hostile())
    twice, again = clean_candidate(once)
    assert twice == once and again == () and rejected
    for value in (HUGE, *FORMULAS, f"{RLO}x", "a\u0301" * 300):
        text = clean_text(value)
        assert clean_text(text) == text and clean_name(clean_name(value)) == clean_name(value)


def test_a_referrers_bad_address_is_left_out_too() -> None:
    cleaned, rejected = clean_candidate(Candidate(referrer=Referrer(structure="ML", contact_email="durand@")))
    assert cleaned.referrer == Referrer(structure="ML")
    assert rejected == (Rejected("referrer.contact_email", "adresse e-mail invalide"),)


# --- spreadsheet files --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", FORMULAS)
def test_formulas_are_neutralised_for_spreadsheet_files(value: str) -> None:
    assert spreadsheet_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["Zoé Lefèvre", "06 12 34 56 78", "", "a=b", "'déjà cité", 42, 3.5, None])
def test_harmless_values_pass_unchanged(value: Any) -> None:
    assert spreadsheet_safe(value) == value


# --- identity keys ------------------------------------------------------------------------------------------

def test_identity_keys_match_e164_and_values_stored_before() -> None:
    assert phone_key("+33612345678") == phone_key("06 12 34 56 78") == phone_key("06.12.34.56.78")
    assert email_key("Zoe@exemple.fr") == email_key("zoe@EXEMPLE.FR")
    assert email_key(unicodedata.normalize("NFD", "zoé@exemple.fr")) == email_key("zoé@exemple.fr")


# --- the branch setting -------------------------------------------------------------------------------------

def test_phone_region_is_a_checked_branch_setting() -> None:
    assert BranchConfig(id="b", name="B").phone_region == "FR"
    assert BranchConfig(id="b", name="B", phone_region=" be ").phone_region == "BE"
    with pytest.raises(ValidationError, match="unknown phone region"):
        BranchConfig(id="b", name="B", phone_region="XX")


# --- at ingest: the guarantee for every source --------------------------------------------------------------

def problems(hub: Hub, branch: str = "bordeaux") -> list[tuple[str, str, str, str]]:
    return [(r.plugin, r.ref, r.field, r.message) for r in hub.store.list_problems(branch)]


def test_ingest_cleans_every_source_and_reports_what_it_left_out(two_branches: Hub) -> None:
    candidate = Candidate(ref="inv-1", first_name=f"Zoé{RLO}\x00", last_name=HUGE, email="zoe@EXEMPLE.FR",
                          phone="=0+33 6", extra={"motivation": FORMULAS[1] + "\x00"})
    events = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.SESSION_BOOKED, candidate=candidate,
                                                                 source_id="booking-1")])
    person = events[-1].candidate
    assert person is not None and person.first_name == "Zoé" and len(person.last_name or "") <= LIMITS["name"]
    assert person.email == "zoe@exemple.fr" and person.phone is None
    assert person.extra == {"motivation": FORMULAS[1]}  # stored as typed (minus NUL): neutralised when exported
    stored = two_branches.store.get_entity("candidates", str(person.id))
    assert stored is not None and "phone" not in stored and stored["first_name"] == "Zoé"
    [(plugin, ref, field, message)] = problems(two_branches)
    assert (plugin, field) == ("beta", "téléphone") and person.id in ref
    assert "téléphone invalide" in message and "booking-1" in message and "=0+33" not in message

    better = candidate.model_copy(update={"phone": "06 12 34 56 78"})
    two_branches.ingest("bordeaux", "beta", [make_event(EventKind.SESSION_BOOKED, candidate=better,
                                                        source_id="booking-2")])
    assert problems(two_branches) == []  # a valid number from the same tool resolves it
    assert two_branches.store.get_entity("candidates", str(person.id))["phone"] == "+33612345678"


def test_a_bad_value_never_erases_a_good_stored_one(two_branches: Hub) -> None:
    [one] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=Candidate(
        ref="r", email="a@exemple.fr", phone="06 12 34 56 78"))])
    [two] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=Candidate(
        ref="r", email="a@exemple.fr", phone="+cmd|' /C calc'!A0"), source_id="again")])
    assert two.candidate is not None and one.candidate is not None and two.candidate.id == one.candidate.id
    assert two.candidate.phone == "+33612345678"
    assert [field for _, _, field, _ in problems(two_branches)] == ["téléphone"]


def test_people_stored_before_hygiene_are_still_matched(two_branches: Hub, clock: Any) -> None:
    """A person stored with a raw phone ('06 12 34 56 78') is found by the E.164 form a booking now carries."""
    store = two_branches.store
    with store.transaction():
        store.save_candidate("bordeaux", "cnd_old", {"id": "cnd_old", "phone": "06 12 34 56 78",
                                                     "registered_at": clock().isoformat()},
                             email_key(None), phone_key("06 12 34 56 78"), clock())
    [booked] = two_branches.ingest("bordeaux", "beta", [make_event(EventKind.SESSION_BOOKED, candidate=Candidate(
        phone="+33 6 12 34 56 78"))])
    assert booked.candidate is not None and booked.candidate.id == "cnd_old"
    assert booked.candidate.phone == "+33612345678"


def test_a_belgian_branch_stores_belgian_numbers(make_hub: Callable[..., Hub], sinks: Any) -> None:
    hub = make_hub({"liege": {"plugins": ["alpha"], "phone_region": "BE"}})
    [person] = hub.ingest("liege", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=Candidate(
        email="a@exemple.be", phone="0470 12 34 56"))])
    assert person.candidate is not None and person.candidate.phone == "+32470123456"
    assert hub.store.list_problems("liege") == []


def test_session_and_outcome_text_is_cleaned_at_ingest(two_branches: Hub) -> None:
    from hub.testing import make_session

    session = make_session(cancel_reason=f"{RLO}malade\x00 " + HUGE, location="Salle\x001")
    [_, booked] = two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.SESSION_CANCELLED, session=session)])
    assert booked.session is not None and booked.session.location == "Salle1"
    reason = booked.session.cancel_reason or ""
    assert reason.startswith("malade") and RLO not in reason and len(reason) <= LIMITS["text"]
