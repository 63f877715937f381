"""The answers of the follow-up page and what each records: one `outcome_recorded` by the candidate.

ANSWERS is the one table from what a person clicks to the hub's outcome model (hub/events.py). The category is
never written by hand: the Outcome derives it from the contract type and length with `classify_contract`
(DARES: a CDD or interim of 6 months or more is *emploi durable*), except for the answers that are no contract.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from hub.events import BY_CANDIDATE, Candidate, ContractType, Event, EventKind, Outcome, OutcomeCategory
from hub.hygiene import clean_text

if TYPE_CHECKING:
    from hub.app import Hub
    from hub.followup.links import Found

__all__ = ["ANSWERS", "BY_KEY", "SOURCE", "WORD_LIMIT", "Answer", "Recorded", "record"]

log = logging.getLogger("hub.followup")
SOURCE = "hub.suivi"
"""The events' source: the hub's own follow-up page ('hub.*' sources are not listed as tools that told the hub
about someone)."""
WORD_LIMIT = 200
"""Characters kept of the optional free word (the field says so; a longer one is cut, an ellipsis shows it)."""


@dataclass(frozen=True)
class Answer:
    key: str  # the form's value
    text: str  # what the person reads next to the radio button
    label: str  # Outcome.label: the answer as the tracking sheet and the reports show it
    contract_type: ContractType | None = None
    contract_months: float | None = None
    category: OutcomeCategory | None = None  # only for an answer that is no contract; else derived

    def outcome_category(self) -> OutcomeCategory:
        """What the answer counts as (the Outcome derives the same from the contract)."""
        from hub.events import classify_contract

        if self.contract_type is not None:
            return classify_contract(self.contract_type, self.contract_months)
        return self.category or OutcomeCategory.AUTRE


ANSWERS: tuple[Answer, ...] = (
    Answer("cdi", "En CDI", "CDI", ContractType.CDI),
    # "6 months or more" is stored as 6, the least it means: enough for emploi durable (DARES: "at least 6
    # months"), and never a length the person did not give. CDD and intérim are one answer (people mix them
    # up, and they count alike); the label keeps both words.
    Answer("cdd_long", "En CDD ou en intérim, de 6 mois ou plus", "CDD ou intérim de 6 mois ou plus",
           ContractType.CDD, 6),
    # Under 6 months: the exact length is unknown, so none is stored; classify_contract gives emploi de
    # transition for a CDD without a length.
    Answer("cdd_court", "En CDD ou en intérim, de moins de 6 mois", "CDD ou intérim de moins de 6 mois",
           ContractType.CDD),
    # Alternance: a work contract (apprentissage or professionnalisation) with training. The reference's §5.2
    # (../shared/reference/reliability_privacy_domain.md, DGEFP circular 2008-21 and DARES) counts a contract of
    # 6 months or more as emploi durable and puts training only under sortie positive; an alternance contract is
    # a job of at least 6 months by law (Code du travail L6222-7-1 for apprentissage, L6325-11 for
    # professionnalisation), so it is stored as ALTERNANCE with 6 months, the legal minimum, and counts as
    # emploi durable, as the branches' own "Alternance" label (12 months) already does for staff entries.
    Answer("alternance", "En alternance (apprentissage ou contrat de professionnalisation)", "Alternance",
           ContractType.ALTERNANCE, 6),
    Answer("formation", "En formation", "Formation", ContractType.FORMATION),
    Answer("creation", "J'ai créé mon entreprise", "Création d'entreprise", ContractType.CREATION_ENTREPRISE),
    Answer("recherche", "Toujours en recherche d'emploi", "En recherche", category=OutcomeCategory.AUTRE),
    Answer("autre", "Autre chose", "Autre", category=OutcomeCategory.AUTRE),
)
BY_KEY = {a.key: a for a in ANSWERS}
FREE_WORD_WITH = frozenset({"autre"})
"""The answers whose free word is kept (with another answer it is dropped: less free text held)."""


@dataclass(frozen=True)
class Recorded:
    """What an answer did: `stored` (a new outcome event), `same` (already the latest answer: nothing new),
    or `gone` (the person is erased or unknown: nothing recorded)."""

    status: str
    answer: Answer


def outcome_of(found: Found, answer: Answer, word: str | None, now: datetime) -> Outcome:
    return Outcome.model_validate({
        "category": answer.outcome_category(), "contract_type": answer.contract_type,
        "contract_months": answer.contract_months, "label": answer.label, "observed_at": now,
        "recorded_by": BY_CANDIDATE, "horizon": found.horizon, "session_id": found.session_id,
        "candidate_id": found.candidate_id, "comment": word})


def clean_word(answer: Answer, word: str | None) -> str | None:
    if answer.key not in FREE_WORD_WITH:
        return None
    return clean_text(word, WORD_LIMIT, one_line=True)


def person_of(hub: Hub, found: Found) -> Candidate | None:
    """The person the link names, if still known in that branch and not erased (else nothing is shown or
    recorded)."""
    if hub.store.entity_branch("candidates", found.candidate_id) != found.branch:
        return None
    if hub.store.erasure_of(found.candidate_id) is not None:
        return None
    body = hub.store.get_entity("candidates", found.candidate_id)
    return Candidate.model_validate(body) if body else None


def _previous(hub: Hub, found: Found) -> tuple[int, tuple[str | None, str | None] | None]:
    """How many answers this link already gave, and the latest one's (label, comment)."""
    count, latest = 0, None
    for _, kind, source, _, body in hub.store.candidate_events(found.branch, found.candidate_id):
        if source != SOURCE or kind != EventKind.OUTCOME_RECORDED.value:
            continue
        outcome = json.loads(body).get("outcome") or {}
        if outcome.get("horizon") == found.horizon and outcome.get("session_id") == found.session_id:
            count += 1
            latest = (outcome.get("label"), outcome.get("comment"))
    return count, latest


def record(hub: Hub, found: Found, answer: Answer, word: str | None) -> Recorded:
    """Store the person's answer as one `outcome_recorded` (the sinks get it like any outcome).

    Source id `suivi:<session>:<horizon>:<n>:<digest>`: `n` counts this link's earlier answers and `digest` is a
    keyed hash of the answer. So answering again (another answer, or back to an earlier one) is a new event, the
    latest wins; a double POST of the same form finds its answer already the latest and records nothing; two
    POSTs at the same moment compute the same id and the store keeps one. The free word is never logged.
    """
    word = clean_word(answer, word)
    if person_of(hub, found) is None:
        return Recorded("gone", answer)
    count, latest = _previous(hub, found)
    if latest == (answer.label, word):
        return Recorded("same", answer)
    now = hub.clock()
    digest = hub.followup_links.digest(f"{answer.key}\0{word or ''}")
    event = Event(kind=EventKind.OUTCOME_RECORDED, occurred_at=now,
                  source_id=f"suivi:{found.session_id}:{found.horizon}:{count}:{digest}",
                  candidate=Candidate(id=found.candidate_id), outcome=outcome_of(found, answer, word, now))
    stored = hub.ingest(found.branch, SOURCE, [event])
    if not stored:  # the same form posted twice at once, or the person erased meanwhile
        return Recorded("same" if person_of(hub, found) else "gone", answer)
    log.info("follow-up answer recorded", extra={"branch": found.branch, "candidate": found.candidate_id,
                                                  "horizon": found.horizon, "event": stored[-1].id})
    return Recorded("stored", answer)
