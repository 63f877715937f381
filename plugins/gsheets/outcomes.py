"""The `suivi` poller: staff's attendance/result picks become `outcome_recorded`, pending rows get written.

One read per sync (header + id + Présence + Résultat columns). A cell that differs from what the hub last
saw there, and is not a value the hub wrote itself, is a staff change: one event, whose id carries a
per-cell change number so the same change read twice is stored once. The change numbers travel in the
cursor (stored with the events in one transaction) and are folded into the durable `seen` state at the
start of the next sync: a crash in between re-detects the change under the same id, never loses it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.events import ATTENDANCE, Candidate, Event, EventKind, Outcome, OutcomeCategory
from hub.sources import PollResult
from hub_gsheets.tracking import (
    HEADERS,
    OUTCOME_FIELDS,
    TrackingSheet,
    drop_person_cells,
    known_candidates,
    mark_pending,
    row_state,
)

if TYPE_CHECKING:
    from hub.context import HubContext

SOURCE = "suivi"
RECORDED_BY = "tableau de suivi"


class OutcomeSource:
    def __init__(self, hub: HubContext, sheet: TrackingSheet) -> None:
        self.hub = hub
        self.sheet = sheet

    def resync_cursor(self, since: datetime | None) -> str:
        """Rebuild the hub's columns of every row (rows staff deleted come back; none is duplicated)."""
        return json.dumps({"changes": {}, "rebuild": True})

    def rebuild(self) -> int:
        """Mark every known candidate's row pending and forget the layout (headers, drop-downs re-applied)."""
        cids = known_candidates(self.hub)
        versions = {cid: int((self.hub.state_get(f"row:{cid}") or {}).get("v", 0)) for cid in cids}
        mark_pending(self.hub, versions)
        self.sheet.forget_layout()
        return len(cids)

    def poll(self, cursor_text: str | None) -> PollResult:
        cursor = json.loads(cursor_text) if cursor_text else {}
        drop_person_cells(self.hub)  # once: the state an earlier version left
        seen: dict[str, Any] = self.hub.state_get("seen", {})
        for cid, columns in cursor.get("changes", {}).items():
            if cid not in seen:  # erased since the last sync (hub_gsheets.erasure dropped what was seen of them)
                continue
            for name, (value, number) in columns.items():  # staff's changes only: "staff" marks their entry
                seen.setdefault(cid, {}).setdefault(name, {}).update(v=value, n=number, staff=bool(value))
        total = None
        if cursor.get("rebuild"):
            total = self.rebuild()
        layout, snap = self.sheet.read()
        events, changes = self._detect(snap, seen)
        written, left = self.sheet.flush(layout, snap, seen)
        self.hub.state_put("seen", seen)
        progress = None
        if total is not None or cursor.get("total"):
            total = total if total is not None else int(cursor["total"])
            progress = (total - left, total)
        out: dict[str, Any] = {"changes": changes}
        if left and progress:
            out["total"] = progress[1]
        return PollResult(events, json.dumps(out, ensure_ascii=False), more=left > 0 and written > 0,
                          progress=progress)

    def _detect(self, snap: Any, seen: dict[str, Any]) -> tuple[list[Event], dict[str, dict[str, list[Any]]]]:
        events: list[Event] = []
        changes: dict[str, dict[str, list[Any]]] = {}
        title = self.sheet.title
        first_row: dict[str, int] = {}
        for row, cid in snap.rows:
            ref = f"{title}!ligne {row}"
            if cid in first_row:
                self.hub.report_problem(ref, HEADERS["hub_id"], (
                    f"{title}, ligne {row} : même ID hub que la ligne {first_row[cid]} (ligne copiée ?). Supprimez "
                    "la copie : le hub ne met à jour que la première."))
                continue
            first_row[cid] = row
            if self.hub.candidate(cid) is None:
                self.hub.report_problem(ref, HEADERS["hub_id"], (
                    f"{title}, ligne {row}, colonne « {HEADERS['hub_id']} » : identifiant inconnu du hub. "
                    "Ne modifiez pas cette colonne ; videz-la pour une ligne saisie à la main."))
                continue
            problem = False
            for name in OUTCOME_FIELDS:
                cell = snap.cells.get(name, {}).get(row, "")
                entry = seen.setdefault(cid, {}).setdefault(name, {})
                if cell == entry.get("v", ""):
                    continue
                if cell and cell == entry.get("ours"):  # our own write, read back
                    entry["v"] = cell
                    continue
                number = int(entry.get("n", 0))
                if not cell:  # staff cleared it: remember, and stop the hub writing it back
                    changes.setdefault(cid, {})[name] = ["", number]
                    self._keep_staff_value(cid, name, "")
                    continue
                event = self._event(cid, name, cell, number + 1, row)
                if event is None:
                    problem = True
                    changes.setdefault(cid, {})[name] = [cell, number]
                    self._keep_staff_value(cid, name, cell)
                    continue
                events.append(event)
                changes.setdefault(cid, {})[name] = [cell, number + 1]
            if not problem:
                self.hub.resolve_problem(ref)
        return events, changes

    def _keep_staff_value(self, cid: str, name: str, value: str) -> None:
        """What staff typed (or cleared) stays the row's value; a Résultat typed is staff's entry (a person's
        own answer does not replace it), a Résultat cleared is no entry."""
        state = row_state(self.hub, cid)
        if not state:
            return
        who = f"{name}_by"
        changed = state["values"].get(name) != value
        if name == "result" and state.get(who) != ("staff" if value else None):
            changed = True
            if value:
                state[who] = "staff"
            else:
                state.pop(who, None)
        if changed:
            state["values"][name] = value
            self.hub.state_put(f"row:{cid}", state)

    def _event(self, cid: str, name: str, label: str, number: int, row: int) -> Event | None:
        title, header = self.sheet.title, HEADERS[name]
        ref = f"{title}!ligne {row}"
        meaning = self.hub.branch_config.outcome_for(label)
        if meaning is None:
            choices = self.hub.branch_config.attendance_labels() if name == "attendance" else \
                self.hub.branch_config.result_labels()
            self.hub.report_problem(ref, header, (
                f"{title}, ligne {row}, colonne « {header} » : valeur inconnue. Choisissez dans la liste "
                f"({', '.join(choices)}) ou ajoutez-la dans [outcomes] du fichier de l'antenne."))
            return None
        now = self.hub.now()
        state = self.hub.state_get(f"row:{cid}") or {}
        outcome = Outcome(category=meaning.category or OutcomeCategory.AUTRE, contract_type=meaning.contract_type,
                          contract_months=meaning.contract_months, label=label, observed_at=now,
                          recorded_by=RECORDED_BY, candidate_id=cid,
                          session_id=state.get("session") if name == "attendance" else None)
        if (outcome.category in ATTENDANCE) != (name == "attendance"):
            other = HEADERS["result" if name == "attendance" else "attendance"]
            self.hub.report_problem(ref, header, (
                f"{title}, ligne {row}, colonne « {header} » : cette valeur va dans la colonne « {other} »."))
            return None
        return Event(kind=EventKind.OUTCOME_RECORDED, occurred_at=now, source_id=f"suivi:{cid}:{name}:{number}",
                     candidate=Candidate(id=cid), outcome=outcome)
