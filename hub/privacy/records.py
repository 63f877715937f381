"""The retention of the hub's own operational records (RGPD art. 5.1.e): what the hub keeps to run, not about a
person, and for how long (`[records]` of hub.toml, docs/privacy.md "What the hub keeps for itself").

- `operational` (1 year): the staff alert mails (a staff address, the problem's text) and their deliveries,
  input problems no source has reported again, alert claims, the error texts of finished deliveries;
- `journal` (90 days): the lines of the erasure journal (a restore redoes only the erasures still in it);
- `receipts` (3 years): what proves an erasure was answered, counted from the day it finished.

Never touched: a person's events (they go with the person, `[privacy] retention`), anything still to deliver,
a dead delivery younger than `operational` (staff may still `hub retry` it), the events a source may read again
(hub.store.housekeeping). The daily round of `hub run` (hub.privacy.retention `purge_due`) runs `purge`;
`hub retention --dry-run` shows `due`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.app import Hub

log = logging.getLogger("hub.privacy")

LABELS = {
    "staff_alerts": "mails à l'équipe (alertes, liens de connexion, rapports mensuels), avec leurs envois",
    "problems": "problèmes de saisie qu'aucun outil n'a signalés depuis",
    "alert_claims": "traces des alertes déjà envoyées",
    "delivery_errors": "textes d'erreur de transmissions terminées",
    "receipts": "reçus d'effacements terminés",
    "journal_lines": "lignes du journal des effacements",
}
"""What each kind is, in French for staff, in the order `hub retention --dry-run` lists them."""


def due(hub: Hub, now: datetime) -> dict[str, int]:
    """How many records of each kind `purge` would remove now."""
    operational, journal, receipts = _limits(hub, now)
    return {**hub.store.records_due(operational, receipts), "journal_lines": hub.eraser.journal.older_than(journal)}


def purge(hub: Hub, now: datetime) -> dict[str, int]:
    """Remove the records past their limits (each kind atomically; run again, it finds nothing more) and log
    one line with the counts, when any went (no personal data)."""
    operational, journal, receipts = _limits(hub, now)
    done = {**hub.store.purge_records(operational, receipts), "journal_lines": hub.eraser.journal.prune(journal)}
    if any(done.values()):
        log.info("operational records purged", extra={"purged": done})
    return done


def _limits(hub: Hub, now: datetime) -> tuple[datetime, datetime, datetime]:
    """(operational, journal, receipts): what was written before each is past it."""
    records = hub.config.hub.records
    return (now - timedelta(seconds=float(records.operational)), now - timedelta(seconds=float(records.journal)),
            now - timedelta(seconds=float(records.receipts)))
