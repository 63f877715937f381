"""What each tool receives of a person: the fields a connector declares it copies into its tool, narrowed or
widened per branch, and enforced by the hub (a plugin is handed only those fields).

A connector declares its uses with the `register_data_uses` hook: for each place in its tool, the person's
fields it writes there (`sends`) and those the tool tells the hub (`reads`), with why, in French. The hub then
hands the plugin only the fields it sends, in every event and through `hub.candidate()`; a branch changes a
plugin's list with `[privacy.share] <plugin> = [...]`. Free text (a form's other answers, a cancellation's
reason) is never handed over unless a branch names it: people write anything there, health included
(RGPD art. 9). The data map of docs/data-map.md is generated from these declarations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.events import Candidate, Event, EventKind, Session

__all__ = ["FIELDS", "FREE_TEXT", "DataUse", "Share", "check_fields", "visible_candidate", "visible_session"]

FIELDS: dict[str, str] = {
    "first_name": "prénom",
    "last_name": "nom",
    "email": "adresse e-mail",
    "phone": "téléphone",
    "registered_at": "date d'inscription",
    "sex": "sexe déclaré (F, M ou X), si l'antenne le demande",
    "birth_year": "année de naissance, si l'antenne la demande",
    "consent": "accord pour que le ou la référent·e reçoive des nouvelles (avec sa date et sa source)",
    "referrer.structure": "structure qui oriente (mission locale, France Travail...)",
    "referrer.kind": "type de structure qui oriente",
    "referrer.contact_name": "nom du ou de la référent·e",
    "referrer.contact_email": "e-mail du ou de la référent·e",
    "extra.<question>": "autre réponse du formulaire (texte libre), nommée par la branche",
    "session.cancel_reason": "motif d'annulation d'un rendez-vous (texte libre)",
    "outcome.comment": "ce que la personne a écrit en répondant au suivi (texte libre)",
}
"""Every field of a person a tool may receive, with what it is, in the words of the data map."""
FREE_TEXT = frozenset({"extra.<question>", "session.cancel_reason", "outcome.comment"})
"""Never handed to a tool unless a branch names it in `[privacy.share]`."""
ASKED_FOR_REPORTS = frozenset({"sex", "birth_year"})
"""Collected for the funders' counts: not handed to a tool that does not declare them."""
DEFAULT = frozenset(FIELDS) - FREE_TEXT - ASKED_FOR_REPORTS
"""What a plugin that declares no use receives (connectors written before the declaration existed)."""
_EXTRA = re.compile(r"^extra\.[a-z0-9_]+$")


@dataclass(frozen=True)
class DataUse:
    """One place in a tool where a connector puts or finds people's data, for the hub's filter and the data map.

    `where` names the place as staff know it ("la feuille de suivi"); `sends` the fields of FIELDS the connector
    writes there (`extra.<question>` for a named free-text answer); `reads` those the tool tells the hub; `why`
    the purpose, in French; `kept` how long the tool keeps them and who erases them.
    """

    where: str
    sends: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    why: str = ""
    kept: str = ""


def check_fields(fields: Iterable[str]) -> list[str]:
    """The names that are not fields a tool may receive (for config checks and declarations)."""
    return [f for f in fields if f not in FIELDS and not _EXTRA.match(f)]


class Share:
    """The fields each (branch, plugin) is handed: the branch's `[privacy.share]` list, else the plugin's
    declared `sends`, else DEFAULT."""

    def __init__(self, uses: Mapping[str, list[DataUse]], overrides: Mapping[str, Mapping[str, list[str]]]) -> None:
        self.uses = uses
        self.overrides = overrides
        self._cache: dict[tuple[str, str], frozenset[str]] = {}

    def fields(self, branch: str, plugin: str) -> frozenset[str]:
        """The fields `plugin` is handed in `branch` (computed once per pair)."""
        key = (branch, plugin)
        if key not in self._cache:
            chosen = self.overrides.get(branch, {}).get(plugin)
            if chosen is not None:
                self._cache[key] = frozenset(chosen)
            elif plugin in self.uses:
                self._cache[key] = frozenset(f for use in self.uses[plugin] for f in use.sends)
            else:
                self._cache[key] = DEFAULT
        return self._cache[key]

    def event_for(self, branch: str, plugin: str, event: Event) -> Event:
        """The event as `plugin` may see it. An erasure's event keeps what the tool needs to find the person."""
        if event.kind is EventKind.CANDIDATE_FORGOTTEN:
            return event
        fields = self.fields(branch, plugin)
        update: dict[str, Any] = {}
        if event.candidate is not None:
            update["candidate"] = visible_candidate(event.candidate, fields)
        if event.session is not None and event.session.cancel_reason:
            update["session"] = visible_session(event.session, fields)
        if event.outcome is not None and event.outcome.comment and "outcome.comment" not in fields:
            update["outcome"] = event.outcome.model_copy(update={"comment": None})
        return event.model_copy(update=update) if update else event


def visible_candidate(candidate: Candidate, fields: frozenset[str]) -> Candidate:
    """`candidate` with only `fields` (its ids always)."""
    update: dict[str, Any] = {}
    for name in ("first_name", "last_name", "email", "phone", "registered_at", "sex", "birth_year"):
        if name not in fields:
            update[name] = None
    if "consent" not in fields:
        update.update(consent=None, consent_at=None, consent_source=None)
    referrer = candidate.referrer
    if referrer is not None:
        kept = {part: getattr(referrer, part) for part in ("structure", "kind", "contact_name", "contact_email")
                if f"referrer.{part}" in fields}
        update["referrer"] = referrer.model_copy(update={part: kept.get(part) for part in
                                                         ("structure", "kind", "contact_name", "contact_email")}) \
            if any(kept.values()) else None
    extra = {k: v for k, v in candidate.extra.items() if f"extra.{k}" in fields}
    if extra != candidate.extra:
        update["extra"] = extra
    return candidate.model_copy(update=update) if update else candidate


def visible_session(session: Session, fields: frozenset[str]) -> Session:
    """`session` without its cancellation reason (free text) unless `fields` names it."""
    if "session.cancel_reason" in fields or not session.cancel_reason:
        return session
    return session.model_copy(update={"cancel_reason": None})
