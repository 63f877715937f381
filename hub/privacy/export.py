"""Everything the hub holds on one person, for an access request (RGPD art. 15) or before an erasure: their
record, their journey (events, sessions, outcomes, the messages sent with subject and date) and the list of
recipients (art. 15 1. c and art. 19: every tool that received their data, what and when, and every tool
that told the hub about them). As JSON, and as a French HTML page a coordinator can hand over or print.

Nothing of it is logged; the page is written 0600.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from hub.store import Store, from_ts
from hub.words import kind_word, tool_name

TEMPLATES = Path(__file__).parent / "templates"
_STATES = {"done": "fait", "pending": "en attente", "retrying": "nouvel essai prévu", "dead": "en échec",
           "skipped": "non envoyé", "manual": "à faire à la main"}
_SESSION_STATES = {"booked": "réservé", "cancelled": "annulé", "rescheduled": "déplacé", "attended": "venu·e",
                   "no_show": "absent·e"}
_RECIPIENT = {"candidate": "la personne", "referrer": "son ou sa référent·e", "staff": "l'équipe"}


def _when(value: float | None, zone: ZoneInfo) -> str | None:
    moment = from_ts(value)
    return moment.astimezone(zone).isoformat(timespec="minutes") if moment else None


def _local(value: Any, zone: ZoneInfo) -> str | None:
    """An ISO date-time from a stored body, in the branch's zone (what staff and the person read)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(zone).isoformat(timespec="minutes")
    except ValueError:
        return value


def export_person(store: Store, branch: str, candidate_id: str, zone: ZoneInfo, now: datetime,
                  subject: Callable[[str], str] = lambda body: "") -> dict[str, Any]:
    """The whole picture, as plain JSON-ready data (French keys where staff read them). The log keeps what each
    message was, not its text: `subject` writes a stored message's subject out again (Hub.message_subject)."""
    record = store.get_entity("candidates", candidate_id) or {"id": candidate_id}
    deliveries = store.delivery_states(branch, candidate_id)
    journey, messages, outcomes = [], [], []
    for seq, kind, source, occurred, body in store.candidate_events(branch, candidate_id):
        data = json.loads(body)
        journey.append({"date": _when(occurred, zone), "quoi": kind_word(kind), "type": kind,
                        "outil": "le hub" if source.startswith("hub") else tool_name(source)})
        message = data.get("message")
        if kind == "message_due" and isinstance(message, dict):
            done = [(plugin, at) for plugin, state, at in deliveries.get(seq, []) if state == "done"]
            states = [state for _, state, _ in deliveries.get(seq, [])]
            messages.append({
                "date": _when(done[0][1] if done else occurred, zone), "objet": message.get("subject") or subject(body),
                "destinataire": _RECIPIENT.get(str(message.get("recipient")), str(message.get("recipient"))),
                "canal": tool_name(done[0][0]) if done else None,
                "etat": _STATES.get(states[-1], states[-1]) if states else "non envoyé"})
        outcome = data.get("outcome")
        if kind == "outcome_recorded" and isinstance(outcome, dict):
            outcomes.append({"date": _local(outcome.get("observed_at"), zone), "categorie": outcome.get("category"),
                             "libelle": outcome.get("label"), "note_par": outcome.get("recorded_by")})
    sessions = [{"id": s.get("id"), "debut": _local(s.get("start"), zone), "fin": _local(s.get("end"), zone),
                 "lieu": s.get("location"),
                 "programme": s.get("programme"), "statut": _SESSION_STATES.get(str(s.get("status")), s.get("status"))}
                for s in store.sessions_of(branch, candidate_id)]
    recipients = [{"outil": tool_name(r.plugin), "role": "a reçu" if r.role == "sink" else "a transmis au hub",
                   "quoi": kind_word(r.kind, r.count), "nombre": r.count, "premiere_fois": _when(r.first_at, zone),
                   "derniere_fois": _when(r.last_at, zone)}
                  for r in sorted(store.recipients(branch, candidate_id), key=lambda r: (r.plugin, r.role, r.kind))]
    erasure = store.erasure_of(candidate_id)
    return {
        "genere_le": now.astimezone(zone).isoformat(timespec="minutes"),
        "antenne": branch,
        "personne": record,
        "effacement": None if erasure is None else {"id": erasure.id, "demande_le": _when(erasure.requested_at, zone),
                                                     "termine_le": _when(erasure.finished_at, zone)},
        "rendez_vous": sessions,
        "resultats": outcomes,
        "messages": messages,
        "parcours": journey,
        "destinataires": recipients,
    }


def render_html(export: dict[str, Any], branch_name: str) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["jour"] = lambda value: _french(value, "%d/%m/%Y")
    env.filters["moment"] = lambda value: _french(value, "%d/%m/%Y à %H:%M")
    return env.get_template("export.html.j2").render(data=export, branch_name=branch_name,
                                                     year=datetime.now(UTC).year)


def _french(value: Any, pattern: str) -> str:
    """An ISO date-time written the French way (already in the branch's zone); '—' when there is none."""
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(str(value)).strftime(pattern)
    except ValueError:
        return str(value)
