"""What the branch sends: one purpose per kind of message, who receives it, and when.

The planner (hub/messages/planner.py) decides from each stored event which purposes apply; the templates
(hub/messages/templates/<purpose>.txt.j2, and <purpose>.sms.j2 for the purposes `[messages] sms` lists) say the
words. A branch turns purposes off with `[messages] off = [...]` and overrides any template in its config folder.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BY_KEY", "CHANGED", "PURPOSES", "Purpose"]


@dataclass(frozen=True)
class Purpose:
    key: str
    recipient: str  # "candidate", "referrer" or "staff"
    label: str  # French, for staff (hub messages list)
    when: str  # French, for staff


PURPOSES: tuple[Purpose, ...] = (
    Purpose("registration_received", "candidate", "Inscription reçue, avec le lien pour réserver",
            "dès l'inscription"),
    Purpose("booking_relance", "candidate", "Relance : pas encore de rendez-vous réservé",
            "après relance_after sans réservation (une seule fois)"),
    Purpose("booking_confirmed", "candidate", "Rendez-vous confirmé", "dès la réservation"),
    Purpose("session_moved", "candidate", "Rendez-vous déplacé", "dès le changement"),
    Purpose("session_cancelled", "candidate", "Rendez-vous annulé", "dès l'annulation"),
    Purpose("reminder", "candidate", "Rappel avant le rendez-vous", "à chaque rappel de [schedule] reminders"),
    Purpose("followup", "candidate", "Nouvelles après l'accompagnement", "à chaque suivi de [schedule] followups"),
    Purpose("referrer_registered", "referrer", "Au prescripteur : inscription de la personne",
            "dès l'inscription, si la personne a donné son accord"),
    Purpose("referrer_attended", "referrer", "Au prescripteur : présence au rendez-vous",
            "quand la présence est notée, avec accord"),
    Purpose("referrer_outcome", "referrer", "Au prescripteur : la suite du parcours (emploi, formation...)",
            "quand un résultat est noté, avec accord"),
    Purpose("staff_alert", "staff", "À l'équipe : un problème demande une personne (alerts du fichier d'antenne)",
            "au plus une fois par jour et par problème"),
    Purpose("login_link", "staff", "À l'équipe : lien de connexion au tableau de bord (/tableau)",
            "à chaque demande faite sur la page /tableau par une adresse autorisée"),
    Purpose("monthly_report", "staff", "À l'équipe : les chiffres clés du mois, rapport HTML en pièce jointe "
            "([report] recipients)", "chaque mois, le monthly_day à monthly_time, pour le mois précédent"),
)
BY_KEY = {p.key: p for p in PURPOSES}
CHANGED = frozenset({"session_moved", "session_cancelled"})
"""Messages about a change: at most one per person per `changed_interval`."""
