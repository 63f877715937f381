"""The retention purge: people whose last contact is older than the branch's `[privacy] retention` (2 years by
default, the CNIL's framework for social support) are erased exactly as `hub forget` erases them, every tool
told. `hub run` does it once a day per branch (`purge = false` leaves it to `hub retention`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hub.privacy import records
from hub.store import from_ts

if TYPE_CHECKING:
    from hub.app import Hub

log = logging.getLogger("hub.privacy")
DAY = 86400.0
ALERT_KEY = "retention-purge"  # claimed once a day per branch (the alerts table), so restarts do not repeat it
RECORDS_KEY = "records-purge"  # the hub's own records (hub.privacy.records), claimed once a day for the whole hub


@dataclass(frozen=True)
class Expired:
    branch: str
    candidate_id: str
    last_contact: datetime


def expired(hub: Hub, branch: str, now: datetime) -> list[Expired]:
    """The branch's people past its retention, oldest contact first."""
    limit = now - timedelta(seconds=float(hub.config.branches[branch].privacy.retention))
    out = []
    for cid, last in hub.store.last_contacts(branch).items():
        moment = from_ts(last)
        if moment is not None and moment < limit:
            out.append(Expired(branch, cid, moment))
    return sorted(out, key=lambda e: e.last_contact)


def purge(hub: Hub, branch: str, now: datetime) -> list[str]:
    """Erase the branch's expired people (module docstring); returns their erasure ids."""
    done = []
    for person in expired(hub, branch, now):
        plan = hub.eraser.forget(branch, person.candidate_id, reason="retention")
        done.append(plan.erasure_id)
    if done:
        log.info("retention purge", extra={"branch": branch, "erased": len(done)})
    return done


def purge_due(hub: Hub, now: datetime) -> int:
    """The daemon's daily purge: each branch with `purge = true`, at most once a day; and, as often, the event
    bodies an earlier version stored with a copy of the person reduced to ids (Store.minimise_events), and the
    hub's own records past `[records]` (hub.privacy.records)."""
    erased = 0
    if hub.store.claim_alert("hub", "minimise-events", now, DAY):  # copies an earlier version left in the log
        rewritten = hub.store.minimise_events()
        if rewritten:
            log.info("event log minimised", extra={"rewritten": rewritten})
    for branch, config in hub.config.branches.items():
        if config.privacy.purge and hub.store.claim_alert(branch, ALERT_KEY, now, DAY):
            erased += len(purge(hub, branch, now))
    if hub.store.claim_alert("hub", RECORDS_KEY, now, DAY):
        records.purge(hub, now)
    return erased
