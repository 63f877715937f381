"""The `[gsheets]` table of a branch file (re-exported by plugin.py as `Settings`)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from hub_google import GoogleAuthSettings

SHEET_URL = re.compile(r"^\s*(?:https?://)?docs\.google\.com/spreadsheets/(?:u/\d+/)?d/([^/?#\s]+)")


class FormColumns(BaseModel):
    """Header texts (any of them, case and accents ignored) for each field of the form-responses sheet.

    Defaults cover French and English Google Forms; add your form's own question titles here.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    timestamp: list[str] = Field(["Horodateur", "Horodatage", "Timestamp"],
                                 description="when the answer was sent (Google Forms' first column)")
    email: list[str] = Field(["Adresse e-mail", "Adresse email", "Adresse mail", "E-mail", "Email", "Courriel",
                              "Email Address", "Email address"], description="the candidate's e-mail")
    first_name: list[str] = Field(["Prénom", "First name", "First Name", "Given name"], description="first name")
    last_name: list[str] = Field(["Nom", "Nom de famille", "Last name", "Last Name", "Surname", "Family name"],
                                 description="last name")
    phone: list[str] = Field(["Téléphone", "Numéro de téléphone", "Portable", "Phone", "Phone number",
                              "Phone Number", "Mobile"], description="the candidate's phone number")
    referrer: list[str] = Field(["Structure orientatrice", "Structure prescriptrice", "Prescripteur",
                                 "Referring organisation", "Referring organization", "Referrer organisation"],
                                description="the referring structure (France Travail, mission locale...)")
    referrer_contact: list[str] = Field(["Référent", "Nom du référent", "Conseiller", "Referrer", "Caseworker"],
                                        description="the referrer's contact person")
    referrer_email: list[str] = Field(["E-mail du référent", "Email du référent", "Referrer email"],
                                      description="the referrer's e-mail")
    consent: list[str] = Field(["Consentement", "J'accepte", "Consent"],
                               description="consent to data processing (Oui/Yes/true counts as given)")
    sex: list[str] = Field(["Sexe", "Vous êtes", "Sex"], description=(
        "declared sex, only where the branch asks (Femme/F -> F, Homme/H/M -> M, any other answer -> X)"))
    birth_year: list[str] = Field(["Année de naissance", "Date de naissance", "Year of birth", "Date of birth"],
                                  description="year or date of birth, only where the branch asks (the year is kept)")


class Settings(GoogleAuthSettings):
    """A branch's Google Sheets: the form-responses tab it reads and the tracking tab it keeps true."""

    spreadsheet_id: str = Field(description="id of the workbook holding the tracking sheet (from its URL: "
                                            "docs.google.com/spreadsheets/d/<id>/edit)")
    tracking_sheet: str = Field("Suivi", description="tab the hub keeps up to date (created if missing)")
    form_spreadsheet_id: str | None = Field(None, description="workbook of the form answers; unset = spreadsheet_id")
    form_sheet: str | None = Field("Réponses au formulaire 1", description=(
        "tab where Google Forms writes answers ('Form Responses 1' in English); empty = no registrations read"))
    columns: FormColumns = Field(default_factory=FormColumns, description="header texts of the form's columns")
    form_interval: float | None = Field(None, gt=0, description="seconds between two reads of the form answers "
                                                                "(unset = the branch's poll interval)")
    sync_interval: float = Field(10, gt=0, description=(
        "seconds between two syncs of the tracking sheet (writes pending rows, reads staff outcomes): "
        "one read per sync when nothing changed"))
    full_reread: float = Field(3600, gt=0, description=(
        "seconds between two full reads of the form tab, which catch rows staff corrected, re-sorted or deleted"))
    read_chunk: int = Field(5000, ge=10, le=50_000, description="form rows read per request")
    flush_max: int = Field(1000, ge=1, le=10_000, description="tracking rows written per sync at most")

    @field_validator("spreadsheet_id", "form_spreadsheet_id", mode="before")
    @classmethod
    def _sheet_id(cls, value: Any, info: ValidationInfo) -> Any:
        """A whole address pasted from the browser becomes its id (with a note for the user); the rest must
        look like an id."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        match = SHEET_URL.match(text)
        if match:
            text = match.group(1)
            notes = info.context.get("notes") if isinstance(info.context, dict) else None
            if isinstance(notes, list):
                notes.append((info.field_name, "a whole sheet address was given; only its id is used",
                              "keep only the id, the part between /d/ and /edit"))
        if not text or "/" in text or any(c.isspace() for c in text):
            raise ValueError("not a spreadsheet id; copy the part of the sheet's address between /d/ and /edit")
        return text
