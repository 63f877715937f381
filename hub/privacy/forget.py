"""Erasure (RGPD art. 17), told to every recipient of the data (art. 19), with a receipt per tool.

`hub forget` (and the retention purge) calls `Eraser.forget`, which in one transaction:
1. records the erasure with a payload: what the plugins need to find the person in their tools (the record as
   it was), kept only until every plugin's delivery is done;
2. stores a `candidate_forgotten` event delivered to each enabled plugin that received something about the
   person or told the hub about them and implements the hook; a tool that cannot erase (no hook, or no longer
   enabled) gets a manual item naming it;
3. erases the hub's own copies: the record keeps the id and pseudonymous facts only (the referrer's kind, for
   reports), every event about the person is scrubbed (no name, contact or message text), what was still to
   be delivered about them is skipped, their reminders are dropped, problems naming them go;
4. keeps tombstones: keyed hashes (HMAC-SHA256, the key a 0600 file of the state directory) of the e-mail and
   phone, so that a form sheet polled again, or a late webhook, does not bring the person back.

A tombstone blocks the past, not the person (`Eraser.is_forgotten`): what happened up to the erasure (old form
answers read again, late webhooks about old bookings, any cancellation, outcome or bounce) stays out; a
registration or a booking made after it is the person coming back: the tombstones it matches go, in the
ingest's transaction, the return is noted on the erasure (`hub forget --status`), and the ingest registers them
as anyone new, under a new hub id. An event naming the erased hub id stays out whatever its date. Staff lift
tombstones by hand with `hub forget --lift`.

A kill at any point leaves either nothing done or all of it (one transaction); the deliveries are retried
like any other, and `finish` drops the payload and the person's identity links once every one is done.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.events import Candidate, Event, EventKind, new_id
from hub.identity import email_key, phone_key
from hub.privacy.journal import ErasureJournal
from hub.secrets import read_or_create_key
from hub.store import DONE, Store
from hub.words import tool_name

if TYPE_CHECKING:
    from hub.plugins import BranchPlugins

log = logging.getLogger("hub.privacy")
FORGOTTEN = EventKind.CANDIDATE_FORGOTTEN.value
KEY_FILE = Path("secrets") / "hub" / "tombstone_key"
KEPT_FIELDS = ("id",)
"""What the record keeps after an erasure (with the groups the reports count it in, `kept_record`): nothing that
identifies the person."""
CLOCK_TOLERANCE = timedelta(minutes=10)
"""How long after an erasure an event still counts as from before it: a tool's clock may run behind the
server's (a form's timestamp, a booking's created_at), and an answer sent in the minutes the erasure was made
is more likely the old data in flight than the person coming back."""
NEW_START = frozenset({EventKind.CANDIDATE_REGISTERED, EventKind.SESSION_BOOKED})
"""What an erased person coming back does: register, or book. Anything else about them (a cancellation, an
outcome, a bounce, an opt-out) is about what the hub knew before the erasure."""


class ForgetError(ValueError):
    """The erasure cannot start (unknown person, already forgotten); the message says why, for staff."""


@dataclass
class ForgetPlan:
    """What an erasure does (or, for a dry run, would do)."""

    erasure_id: str
    branch: str
    candidate_id: str
    plugins: list[str] = field(default_factory=list)  # told through candidate_forgotten
    manual: list[str] = field(default_factory=list)  # tools that received data but cannot erase it by API
    events: int = 0  # events about the person scrubbed in the hub
    pending: int = 0  # deliveries about the person not made (skipped)


class Tombstones:
    """Keyed hashes of erased people's e-mails and phones: they match a returning address, they cannot be
    reversed into one without the key."""

    def __init__(self, store: Store, state_dir: Path) -> None:
        self.store = store
        self.path = state_dir / KEY_FILE
        self._key: bytes | None = None

    def key(self) -> bytes:
        if self._key is None:
            self._key = bytes.fromhex(read_or_create_key(self.path, what="la clé des effacements"))
        return self._key

    def digests(self, email: str | None, phone: str | None) -> list[tuple[str, str]]:
        out = []
        for kind, value in (("email", email_key(email)), ("phone", phone_key(phone))):
            if value:
                out.append((kind, hmac.new(self.key(), value.encode(), hashlib.sha256).hexdigest()))
        return out

    def add(self, branch: str, candidate: dict[str, Any], now: datetime, erasure_id: str | None = None) -> None:
        for kind, digest in self.digests(candidate.get("email"), candidate.get("phone")):
            self.store.add_tombstone(branch, kind, digest, now, erasure_id)

    def matching(self, branch: str, email: str | None, phone: str | None
                 ) -> list[tuple[str, str, float, str | None]]:
        """(kind, digest, created_at, erasure id) of the branch's tombstones for this e-mail or phone."""
        return self.store.tombstones_for(branch, self.digests(email, phone))

    def covers(self, branch: str, candidate: Candidate | None) -> bool:
        if candidate is None or not (candidate.email or candidate.phone):
            return False
        return any(self.store.tombstoned(branch, kind, [digest])
                   for kind, digest in self.digests(candidate.email, candidate.phone))


def scrub(body: str) -> str:
    """An event's stored body without anything that identifies the person: the candidate reduced to its id
    (and the referrer's kind), a message to its purpose and ids, a bounce to its message id, an outcome without
    the person's own words (`comment`)."""
    data = json.loads(body)
    if isinstance(data.get("candidate"), dict):
        data["candidate"] = kept_record(data["candidate"])
    message = data.get("message")
    if isinstance(message, dict):
        message.update(to="", to_name=None, subject="", text="", html=None, headers={}, reply_to=None)
    bounce = data.get("bounce")
    if isinstance(bounce, dict):
        bounce.update(address=None, reason="")
    outcome = data.get("outcome")
    if isinstance(outcome, dict) and outcome.get("comment"):  # the person's own words (the follow-up page)
        outcome["comment"] = None
    return json.dumps(data)


def kept_record(candidate: dict[str, Any]) -> dict[str, Any]:
    """The id and the groups the key figures count the person in (hub.report), so that counts survive the
    erasure: the referrer's kind (when only the structure's name was given, the group it names, never the
    name), the declared sex, and the age band at registration in `extra` (never the year of birth)."""
    from hub.report.groups import UNKNOWN, age_band, referrer_group

    kept = {k: candidate[k] for k in KEPT_FIELDS if candidate.get(k)}
    referrer = candidate.get("referrer") or {}
    kind = referrer.get("kind") or (referrer_group(None, referrer.get("structure"))
                                    if referrer.get("structure") else None)
    if kind:
        kept["referrer"] = {"kind": kind}
    if candidate.get("sex") in ("F", "M", "X"):
        kept["sex"] = candidate["sex"]
    born, registered = candidate.get("birth_year"), str(candidate.get("registered_at") or "")[:4]
    band = age_band(born if isinstance(born, int) else None, int(registered) if registered.isdigit() else None)
    if band != UNKNOWN:
        kept["extra"] = {"age_band": band}
    return kept


class Eraser:
    def __init__(self, store: Store, branches: dict[str, BranchPlugins], tombstones: Tombstones,
                 clock: Callable[[], datetime], journal: ErasureJournal) -> None:
        self.journal = journal
        self.store = store
        self.branches = branches
        self.tombstones = tombstones
        self.clock = clock

    def plan(self, branch: str, candidate_id: str) -> ForgetPlan:
        """What `forget` would do; ForgetError when it cannot."""
        if self.store.entity_branch("candidates", candidate_id) != branch:
            raise ForgetError(f"aucune personne {candidate_id} dans l'antenne {branch}")
        done = self.store.erasure_of(candidate_id)
        if done is not None:
            raise ForgetError(f"la personne {candidate_id} a déjà été effacée (effacement {done.id}) ; voir : "
                              f"hub forget --status --branch {branch}")
        plugins = self.branches[branch]
        able = set(plugins.sinks_for(FORGOTTEN))
        tools = {r.plugin for r in self.store.recipients(branch, candidate_id)}
        tools |= {plugin for states in self.store.delivery_states(branch, candidate_id).values()  # may have acted
                  for plugin, state, _ in states if state in ("retrying", "dead")}
        tools -= {"hub"}
        plan = ForgetPlan(new_id("era"), branch, candidate_id)
        plan.plugins = sorted(t for t in tools if t in able)
        plan.manual = sorted(t for t in tools if t not in able)
        plan.events = len(self.store.candidate_events(branch, candidate_id))
        plan.pending = sum(1 for states in self.store.delivery_states(branch, candidate_id).values()
                           for _, state, _ in states if state in ("pending", "retrying"))
        return plan

    def forget(self, branch: str, candidate_id: str, reason: str = "request") -> ForgetPlan:
        """Erase the person in the hub and start the erasure in every tool (module docstring), atomically; the
        erasure journal (journal.py) has its line first, so a restore can do it again."""
        plan = self.plan(branch, candidate_id)
        record = self.store.get_entity("candidates", candidate_id) or {"id": candidate_id}
        now = self.clock()
        self.journal.record({"erasure": plan.erasure_id, "branch": branch, "candidate": candidate_id,
                             "reason": reason, "at": now.isoformat(),
                             "digests": self.tombstones.digests(record.get("email"), record.get("phone"))})
        with self.store.transaction():
            if self.store.erasure_of(candidate_id) is not None:  # erased meanwhile by another command
                raise ForgetError(f"la personne {candidate_id} vient d'être effacée ; voir : hub forget --status "
                                  f"--branch {branch}")
            self.store.add_erasure(plan.erasure_id, branch, candidate_id, reason, {"candidate": record}, now)
            event = Event(kind=EventKind.CANDIDATE_FORGOTTEN, branch=branch, source="hub", occurred_at=now,
                          source_id=f"erasure:{plan.erasure_id}", candidate=Candidate(id=candidate_id))
            self.store.insert_event(event_id=event.id, branch=branch, kind=FORGOTTEN, source="hub",
                                    source_id=event.source_id, occurred_at=now, candidate_id=candidate_id,
                                    session_id=None, body=event.model_dump_json(), sinks=plan.plugins, now=now)
            for tool in plan.manual:
                self.store.add_erasure_receipt(f"{plan.erasure_id}/{tool}", tool, "manual", _no_hook(tool), now)
            self.tombstones.add(branch, record, now, plan.erasure_id)
            self.store.erase_in_hub(branch, candidate_id, kept_record(record), scrub, now)
        self.store.checkpoint()  # the replaced pages leave the WAL file too (best effort; finish() again)
        log.info("person erased in the hub", extra={"branch": branch, "candidate": candidate_id,
                                                    "erasure": plan.erasure_id, "tools": plan.plugins,
                                                    "manual": plan.manual, "reason": reason})
        return plan

    def hydrate(self, event: Event) -> Event:
        """A `candidate_forgotten` event as its plugins receive it: with the record the erasure kept."""
        if event.kind is not EventKind.CANDIDATE_FORGOTTEN or not event.source_id.startswith("erasure:"):
            return event
        payload = self.store.erasure_payload(event.source_id.removeprefix("erasure:")) or {}
        record = payload.get("candidate")
        if not isinstance(record, dict):
            return event
        return event.model_copy(update={"candidate": Candidate.model_validate(record)})

    def finish(self) -> int:
        """Close the erasures whose every delivery is done: their payload and the person's links go. (And log,
        once, the new hub id of each erased person who came back, now that their event is stored.)"""
        for erasure_id, branch, cid in self.store.settle_erasure_returns():
            log.info("erased person came back: new record", extra={"branch": branch, "erasure": erasure_id,
                                                                   "candidate": cid})
        closed = 0
        for erasure in self.store.list_erasures(open_only=True):
            receipts = self.store.receipts(erasure.id)
            if all(r.state in (DONE, "skipped", "manual") for r in receipts):
                with self.store.transaction():
                    self.store.finish_erasure(erasure.id, erasure.branch, erasure.candidate_id, self.clock())
                log.info("erasure finished", extra={"branch": erasure.branch, "erasure": erasure.id})
                closed += 1
        if closed:
            self.store.checkpoint()
        return closed

    def is_forgotten(self, branch: str, event: Event) -> bool:
        """Whether the ingest leaves the event out: it names an erased hub id (whatever its date), or a tombstone
        matches its e-mail or phone and it is old data (dated up to the erasure, CLOCK_TOLERANCE included, or
        not a NEW_START). A registration or booking after every tombstone it matches is the person coming
        back: those tombstones go and the return is noted on their erasures, in the ingest's transaction, and
        the ingest registers the person as anyone new (a new hub id)."""
        cid = event.candidate_id
        if cid and self.store.erasure_of(cid) is not None:
            return True
        candidate = event.candidate
        if candidate is None or not (candidate.email or candidate.phone):
            return False
        stones = self.tombstones.matching(branch, candidate.email, candidate.phone)
        if not stones:
            return False
        last = max(created for _, _, created, _ in stones)
        if event.kind not in NEW_START or event.occurred_at.timestamp() <= last + CLOCK_TOLERANCE.total_seconds():
            return True
        refs = [ref for ref in (candidate.ref, event.session.ref if event.session else None) if ref]
        if self.store.erased_refs(branch, refs):
            return True  # the tool still names the erased record: the ingest would take it up again
        self.store.lift_tombstones(branch, [(kind, digest) for kind, digest, _, _ in stones])
        erasures = sorted({erasure_id for *_, erasure_id in stones if erasure_id})
        for erasure_id in erasures:
            self.store.add_erasure_return(erasure_id, branch, event.kind.value, event.source_id, event.occurred_at)
        log.info("erased person came back: tombstones lifted, registered anew",
                 extra={"branch": branch, "erasure": erasures, "kind": event.kind.value})
        return False

    def lift(self, branch: str, email: str | None, phone: str | None, *, dry_run: bool = False) -> int:
        """Staff lift the branch's tombstones for this e-mail or phone (`hub forget --lift`), with the others of
        the same erasure (the person's phone when given their e-mail...): a later poll takes the person in again,
        even from answers older than the erasure. How many went (would go, for a dry run)."""
        stones = self.tombstones.matching(branch, email, phone)
        erasures = sorted({erasure_id for *_, erasure_id in stones if erasure_id})
        digests = sorted({(kind, digest) for kind, digest, _, _ in stones}
                         | set(self.store.erasure_tombstones(branch, erasures)))
        if dry_run or not digests:
            return len(digests)
        with self.store.transaction():
            lifted = self.store.lift_tombstones(branch, digests)
        log.info("tombstones lifted by staff", extra={"branch": branch, "count": lifted, "erasure": erasures})
        return lifted


def _no_hook(tool: str) -> str:
    name = tool_name(tool)
    return (f"{name} a reçu des données sur cette personne mais ce connecteur ne sait pas les effacer (ou n'est "
            f"plus branché) : cherchez la personne dans {name} et effacez ce qui la concerne.")
