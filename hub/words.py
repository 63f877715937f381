"""What the hub's events are called in a coordinator's words (singular, plural): the demo's summary, the export
of a person's data and the receipts of an erasure say the same thing the same way."""

from __future__ import annotations

KIND_WORDS: dict[str, tuple[str, str]] = {
    "candidate_registered": ("inscription", "inscriptions"),
    "session_booked": ("réservation", "réservations"),
    "session_cancelled": ("annulation", "annulations"),
    "present": ("présence", "présences"),
    "absent": ("absence", "absences"),
    "outcome_recorded": ("résultat", "résultats"),
    "session_reminder_due": ("rappel", "rappels"),
    "followup_due": ("suivi", "suivis"),
    "message_due": ("mail", "mails"),
    "message_bounced": ("adresse en échec", "adresses en échec"),
    "candidate_needs_call": ("appel à passer", "appels à passer"),
    "candidate_forgotten": ("demande d'effacement", "demandes d'effacement"),
    "candidate_opted_out": ("désinscription", "désinscriptions"),
    "candidate_opted_in": ("retour aux messages", "retours aux messages"),
}


def kind_word(kind: str, count: int = 1) -> str:
    one, many = KIND_WORDS.get(kind, (kind, kind))
    return one if count <= 1 else many


TOOL_NAMES: dict[str, str] = {"calendly": "Calendly", "example": "Carnet", "gsheets": "Google Sheets",
                              "gmail": "Gmail", "outlook": "Outlook",
                              "webhooks_out": "Webhooks sortants"}
"""First-party plugins as staff name their tools; another plugin is shown by its own name."""


def tool_name(plugin: str) -> str:
    return TOOL_NAMES.get(plugin, plugin)
