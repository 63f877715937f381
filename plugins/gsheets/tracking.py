"""The tracking sheet: one row per candidate, keyed by the hub id in a hub-owned column.

Event hooks never call Google: they record the row the hub wants (`row:<id>` in the plugin's durable
state) and mark it pending. The `suivi` poller then writes every pending row at once: one read of the id
column (rows are found by hub id, never by a remembered row number, because staff sort the sheet), then one
`values.batchUpdate` for every row, new or not. A write repeated after a crash finds the row by its id and
updates it: it never duplicates.

`row:<id>` holds the hub's columns only (dates, programme, Présence/Résultat, the hub's note, the id), with
versions and ids: the person's cells (name, e-mail, phone, referrer) are read from the hub's record as the row
is written, so the plugin's private state is no second store of anyone's contact data for an erasure to chase
(issue 14). A record erased meanwhile (its id alone left) gets nothing written.

New rows go to explicit ranges the hub computed from that same read: the row after the last non-empty row of
the tab, in the columns found by header name. `values.append` is not used: Google appends "starting with the
first column of the table" it detects itself, and rows came out shifted right when staff left column A blank
or put a title above the header (reference E1; https://github.com/burnash/gspread/issues/537, #828), so the
hub id landed in the wrong column and a rebuild added the row again. The header row is found by its texts in
the first rows of the tab, so a title row above it is fine too. Only the hub's columns are written, cell
by cell; staff columns (anything else) are never touched. Présence/Résultat belong to both: the hub writes
them only when the cell still holds what the hub last saw, so a value staff just typed is never overwritten.

Résultat and the person's own answer (the follow-up page, `recorded_by == BY_CANDIDATE`): a staff entry wins.
The row state remembers who set the result (`result_by`: "staff" or "candidate"); a candidate's answer does
not replace a staff entry, a staff entry replaces anything, and among the person's answers the latest wins. A
result staff typed in the sheet is staff's from the moment the poller sees it (`seen[<id>]["result"]["staff"]`),
before its own event comes back: `flush` never writes a candidate's answer over it. A cell staff cleared is no
entry: the person's next answer fills it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

from hub.api import display_phone, spreadsheet_safe
from hub.events import ATTENDANCE, BY_CANDIDATE, Candidate, Event, EventKind, Outcome, OutcomeCategory, Session
from hub_gsheets.a1 import col_letters, quote_title
from hub_gsheets.dates import to_serial
from hub_gsheets.form_source import normalize
from hub_gsheets.settings import Settings

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub_gsheets.client import SheetsClient

HEADERS: dict[str, str] = {
    "registered": "Inscription", "first_name": "Prénom", "last_name": "Nom", "email": "E-mail",
    "phone": "Téléphone", "referrer": "Structure orientatrice", "referrer_contact": "Référent",
    "next_session": "Prochain RDV", "programme": "Programme/module", "attendance": "Présence",
    "result": "Résultat", "hub_note": "Suivi hub", "updated": "Mis à jour", "hub_id": "ID hub (ne pas modifier)",
}
FIELDS = list(HEADERS)
PERSON_FIELDS = ("registered", "first_name", "last_name", "email", "phone", "referrer", "referrer_contact")
"""The cells `candidate_values` makes from the hub's record at write time; never kept in `row:<id>`."""
DATE_FIELDS = ("registered", "next_session", "updated")
OUTCOME_FIELDS = ("attendance", "result")
DATE_PATTERN = "dd/mm/yyyy hh:mm"
HEAD_ROWS = 10
"""Rows searched for the header (staff may put a title and notes above it)."""
MAX_ROW = 10_000_000
"""An open end for row ranges: no tab is taller (10 million cells a spreadsheet); Google clips the range it
echoes to the tab's grid, which tells the hub the tab's row count."""
GROW_MARGIN = 500
"""Rows added at once when new rows would go past the grid (explicit writes do not grow it, append did)."""
NEEDS_CALL = "À appeler : inscrit(e), aucun rendez-vous pris"
BOUNCED = "E-mail en échec : corriger l'adresse"
BOUNCED_SMS = "SMS non distribué : vérifier le numéro"
OPTED_OUT = "Ne souhaite plus recevoir de messages (lien de désinscription)"
OPTED_OUT_OF = "Ne souhaite plus recevoir de messages par {medium}"
"""The note for an opt-out by another medium or way than the mail's link (an SMS STOP, staff)."""


# --- what the event hooks do ------------------------------------------------------------------------------------

def outcome_label(hub: HubContext, outcome: Outcome) -> str:
    """The branch's own label: the one staff picked, else the first configured label of that category."""
    if outcome.label:
        return outcome.label
    for label, meaning in hub.branch_config.outcomes.items():
        if meaning.category == outcome.category or (
                meaning.contract_type is not None and meaning.contract_type == outcome.contract_type):
            return label
    return outcome.category.value


def candidate_values(candidate: Candidate, hub: HubContext) -> dict[str, Any]:
    """The person's cells, made from the hub's record as the row is written (never kept in state). Written RAW,
    Sheets never evaluates them, but staff download the sheet as CSV or Excel: what people typed goes through
    `spreadsheet_safe` (a leading quote before =, +, -, @), and phones are shown as staff dial them
    (06 12 34 56 78; international only for another country)."""
    referrer = candidate.referrer
    phone = display_phone(candidate.phone, hub.branch_config.phone_region) if candidate.phone else None
    values = {
        "first_name": candidate.first_name, "last_name": candidate.last_name, "email": candidate.email,
        "phone": phone, "referrer": referrer.structure if referrer else None,
        "referrer_contact": referrer.contact_name if referrer else None,
    }
    cells = {k: spreadsheet_safe(v) for k, v in values.items() if v is not None}
    if candidate.registered_at:
        cells["registered"] = to_serial(candidate.registered_at, hub.zone)
    return cells


def record(hub: HubContext, event: Event) -> None:
    """Remember the row this event implies and mark it pending; idempotent for a repeated delivery."""
    cid = event.candidate_id
    if not cid:
        return
    state: dict[str, Any] = row_state(hub, cid) or {"values": {}, "v": 0}
    values: dict[str, Any] = state["values"]
    values["hub_id"] = cid
    at = event.occurred_at.astimezone(UTC).isoformat()
    _apply_event(hub, event, state, at)
    if at >= state.get("updated_at", ""):
        state["updated_at"] = at
        values["updated"] = to_serial(event.occurred_at, hub.zone)
    state["v"] = int(state.get("v", 0)) + 1
    hub.state_put(f"row:{cid}", state)
    mark_pending(hub, {cid: state["v"]})
    _index(hub, cid)


def row_state(hub: HubContext, cid: str) -> dict[str, Any] | None:
    """The row's private state. A version before issue 14 kept the person's cells there too: they are dropped
    here, on every read, and `drop_person_cells` rewrites such rows once."""
    state: dict[str, Any] | None = hub.state_get(f"row:{cid}")
    if state:
        state["values"] = {k: v for k, v in state.get("values", {}).items() if k not in PERSON_FIELDS}
    return state


STATE_VERSION = 2
"""1: `row:<id>` held the person's cells; 2: it holds the hub's columns only."""


def drop_person_cells(hub: HubContext) -> int:
    """Once per branch: rewrite every `row:<id>` an earlier version left with the person's cells in it (state
    only, no request to Google); how many rows were rewritten."""
    if int(hub.state_get("state_version", 1)) >= STATE_VERSION:
        return 0
    rewritten = 0
    for cid in known_candidates(hub):
        held = hub.state_get(f"row:{cid}")
        if held and any(k in PERSON_FIELDS for k in held.get("values", {})):
            hub.state_put(f"row:{cid}", row_state(hub, cid))
            rewritten += 1
    hub.state_put("state_version", STATE_VERSION)
    return rewritten


def erased(candidate: Candidate) -> bool:
    """The hub's record of an erased person: the id alone (at most with the referrer's kind, kept for reports)."""
    left = candidate.model_dump(exclude_defaults=True, exclude={"id"})
    if set(left.get("referrer", {})) <= {"kind"}:
        left.pop("referrer", None)
    return not left


def _apply_event(hub: HubContext, event: Event, state: dict[str, Any], at: str) -> None:
    """The cells only some kinds of event change: the next session (a booking newer than the one shown, or the
    cancellation of the one shown) and Présence/Résultat (an outcome). `at` is the event's UTC ISO time."""
    values: dict[str, Any] = state["values"]
    session = event.session
    if event.kind is EventKind.SESSION_BOOKED and session is not None and at >= state.get("session_at", ""):
        values["next_session"] = to_serial(session.start, hub.zone)
        values["programme"] = _programme_text(hub, session)
        state["session"], state["session_at"] = session.id, at
    elif event.kind is EventKind.SESSION_CANCELLED and session is not None and session.id == state.get("session"):
        values["next_session"] = ""
    elif event.kind is EventKind.OUTCOME_RECORDED and event.outcome is not None:
        column = "attendance" if event.outcome.category in ATTENDANCE else "result"
        withdrawn = event.outcome.category is OutcomeCategory.ABSENCE_WITHDRAWN  # an "absent" taken back
        if column == "result" and not _result_applies(state, event.outcome, at):
            return
        values[column] = "" if withdrawn else outcome_label(hub, event.outcome)
    elif event.kind is EventKind.CANDIDATE_NEEDS_CALL and "session" not in state:
        values["hub_note"] = NEEDS_CALL
    elif event.kind is EventKind.MESSAGE_BOUNCED:
        values["hub_note"] = BOUNCED if event.bounce is None or event.bounce.medium == "email" else BOUNCED_SMS
    elif event.kind is EventKind.CANDIDATE_OPTED_OUT:
        values["hub_note"] = _opted_out_note(event)
    elif event.kind is EventKind.CANDIDATE_OPTED_IN and values.get("hub_note") == _opted_out_note(event):
        values["hub_note"] = ""  # the latest fact wins: back in by that medium, the note goes
    if event.kind is EventKind.SESSION_BOOKED and values.get("hub_note") == NEEDS_CALL:
        values["hub_note"] = ""


def _opted_out_note(event: Event) -> str:
    preference = event.preference
    if preference is None or (preference.medium == "email" and preference.via == "link"):
        return OPTED_OUT
    medium = {"email": "e-mail", "sms": "SMS"}.get(preference.medium, preference.medium)
    return OPTED_OUT_OF.format(medium=medium)


def _result_applies(state: dict[str, Any], outcome: Outcome, at: str) -> bool:
    """Whether this outcome may set Résultat (and note who did): a staff entry always; the person's own answer
    unless staff's entry is shown, or a later answer of theirs is."""
    if outcome.recorded_by != BY_CANDIDATE:
        state["result_by"], state["result_at"] = "staff", at
        return True
    if state.get("result_by") == "staff" or (
            state.get("result_by") == "candidate" and at < state.get("result_at", "")):
        return False
    state["result_by"], state["result_at"] = "candidate", at
    return True


def _programme_text(hub: HubContext, session: Session) -> str:
    """'Programme/module' as staff read it: the branch's label of the programme (else its key), then the module."""
    return " / ".join(p for p in (hub.programme_label(session.programme), session.module or "") if p)


def _index(hub: HubContext, cid: str) -> None:
    """Add the candidate to its shard of the index `known_candidates` reads (by the id's last two characters)."""
    shard = f"index:{cid[-2:]}"
    known = hub.state_get(shard, [])
    if cid not in known:
        hub.state_put(shard, [*known, cid])


def mark_pending(hub: HubContext, rows: dict[str, int]) -> None:
    pending: dict[str, int] = hub.state_get("pending", {})
    pending.update(rows)
    hub.state_put("pending", pending)


def forget_candidate(hub: HubContext, cid: str) -> None:
    """Drop everything the connector keeps about a person (an erasure): their row's state, its pending write,
    their entry in the index (a rebuild would write the row again), and the outcome cells last seen."""
    hub.state_delete(f"row:{cid}")
    for key in ("pending", "seen"):
        held: dict[str, Any] = hub.state_get(key, {})
        if cid in held:
            del held[cid]
            hub.state_put(key, held)
    shard = f"index:{cid[-2:]}"
    known = hub.state_get(shard, [])
    if cid in known:
        hub.state_put(shard, [c for c in known if c != cid])


def known_candidates(hub: HubContext) -> list[str]:
    """Every candidate this branch's sheet has a row for (the shards of `record`)."""
    out: list[str] = []
    for i in range(256):
        out += hub.state_get(f"index:{i:02x}", [])
    return out


# --- the sheet ---------------------------------------------------------------------------------------------------

@dataclass
class Snapshot:
    """What one read of the tracking tab told: where each hub id is, and the outcome cells."""

    header: list[Any]
    header_row: int = 1  # 1-based
    grid_rows: int = 0  # the tab's row count (Google's clipped range)
    end: int | None = None  # last non-empty row of the tab; None when the read could not tell (rows deleted)
    rows: list[tuple[int, str]] = field(default_factory=list)  # (row number, hub id) in sheet order
    where: dict[str, int] = field(default_factory=dict)  # hub id -> first row holding it
    cells: dict[str, dict[int, str]] = field(default_factory=dict)  # outcome field -> row -> text


class TrackingSheet:
    def __init__(self, hub: HubContext, client: Callable[[], SheetsClient]) -> None:
        self.hub = hub
        self.client = client
        self.settings = hub.settings_as(Settings)
        self.sid = self.settings.spreadsheet_id
        self.title = self.settings.tracking_sheet
        self.tab = quote_title(self.title)

    # --- layout: which column holds which hub field -------------------------------------------------------------

    def _labels(self) -> list[list[str]]:
        config = self.hub.branch_config
        return [config.attendance_labels(), config.result_labels()]

    def layout(self) -> dict[str, Any]:
        layout: dict[str, Any] | None = self.hub.state_get("layout")
        if layout and layout.get("key") == f"{self.sid}/{self.title}":
            if layout.get("labels") != self._labels():
                self.client().batch_update(self.sid, self._validations(layout["sheet_id"], layout["cols"],
                                                                       layout.get("header_row", 1)))
                layout["labels"] = self._labels()
                self.hub.state_put("layout", layout)
            return layout
        return self._setup()

    def forget_layout(self) -> None:
        self.hub.state_delete("layout")

    def _setup(self) -> dict[str, Any]:
        """Find or create the tab, its hub headers, drop-downs and date formats (3-4 requests, once)."""
        client = self.client()
        book = client.spreadsheet(self.sid)
        sheets = [s.get("properties", {}) for s in book.get("sheets", [])]
        props = next((p for p in sheets if str(p.get("title", "")).casefold() == self.title.casefold()), None)
        requests: list[dict[str, Any]] = []
        if props is None:
            taken = {p.get("sheetId") for p in sheets}
            sheet_id = zlib.crc32(self.title.encode()) % 2_000_000_000
            while sheet_id in taken:
                sheet_id += 1
            columns = len(FIELDS)
            requests.append({"addSheet": {"properties": {
                "sheetId": sheet_id, "title": self.title,
                "gridProperties": {"rowCount": 1000, "columnCount": columns, "frozenRowCount": 1}}}})
            header: list[Any] = []
            header_row = 1
        else:
            sheet_id = int(props["sheetId"])
            columns = int(props.get("gridProperties", {}).get("columnCount", 26))
            got = client.batch_get(self.sid, [f"{self.tab}!1:{HEAD_ROWS}"])
            header_row = find_header(got[0] if got else [])
            header = got[0][header_row - 1] if got and len(got[0]) >= header_row else []
        cols, missing = self._place(header)
        needed = max(cols.values()) + 1
        if needed > columns:
            requests.append({"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS",
                                                 "length": needed - columns}})
        requests += self._validations(sheet_id, cols, header_row)
        requests += [{"repeatCell": {
            "range": {"sheetId": sheet_id, "startRowIndex": header_row, "startColumnIndex": cols[f],
                      "endColumnIndex": cols[f] + 1},
            "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE_TIME", "pattern": DATE_PATTERN}}},
            "fields": "userEnteredFormat.numberFormat"}} for f in DATE_FIELDS]
        client.batch_update(self.sid, requests)
        if missing:
            client.batch_update_values(self.sid, [
                {"range": f"{self.tab}!{col_letters(cols[f])}{header_row}", "values": [[HEADERS[f]]]}
                for f in missing])
        layout = {"key": f"{self.sid}/{self.title}", "sheet_id": sheet_id, "cols": cols, "labels": self._labels(),
                  "header_row": header_row}
        self.hub.state_put("layout", layout)
        self.hub.log.info("tracking sheet ready", extra={"sheet_id": sheet_id, "added_headers": len(missing)})
        return layout

    @staticmethod
    def _place(header: list[Any]) -> tuple[dict[str, int], list[str]]:
        """Hub fields found by header text (staff may move columns); missing ones go after the last header."""
        at = {normalize(h): i for i, h in reversed(list(enumerate(header))) if str(h).strip()}
        free = max([i + 1 for i, h in enumerate(header) if str(h).strip()] or [0])
        cols: dict[str, int] = {}
        missing: list[str] = []
        for name in FIELDS:
            if normalize(HEADERS[name]) in at:
                cols[name] = at[normalize(HEADERS[name])]
            else:
                cols[name], free = free, free + 1
                missing.append(name)
        return cols, missing

    def _validations(self, sheet_id: int, cols: dict[str, int], header_row: int) -> list[dict[str, Any]]:
        out = []
        for name, labels in zip(OUTCOME_FIELDS, self._labels(), strict=True):
            out.append({"setDataValidation": {
                "range": {"sheetId": sheet_id, "startRowIndex": header_row, "startColumnIndex": cols[name],
                          "endColumnIndex": cols[name] + 1},
                "rule": {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": v} for v in labels]},
                         "inputMessage": "Choisissez une valeur dans la liste",
                         # not strict: a label typed by hand is accepted by Sheets and reported by the hub
                         "strict": False, "showCustomUi": True}}})
        return out

    # --- reading ------------------------------------------------------------------------------------------------

    def read(self, extra: tuple[str, ...] = ()) -> tuple[dict[str, Any], Snapshot]:
        """The top rows (to find the header), the id and outcome columns (and the `extra` hub columns, into
        `cells`), and every row below the last hub row of the previous read (staff's rows there: where new rows
        must not go), in one batchGet; re-places columns if staff moved them or the header row."""
        for attempt in range(2):
            layout = self.layout()
            cols, at = layout["cols"], int(layout.get("header_row", 1))
            names = ["hub_id", *OUTCOME_FIELDS, *extra]
            tail = max(at + 1, min(int(self.hub.state_get("tail", at + 1)), int(self.hub.state_get("grid", MAX_ROW))))
            ranges = [f"{self.tab}!1:{max(HEAD_ROWS, at)}"]
            ranges += [f"{self.tab}!{col_letters(cols[n])}{at + 1}:{col_letters(cols[n])}" for n in names]
            ranges.append(f"{self.tab}!{tail}:{MAX_ROW}")
            got = self.client().batch_get_ranges(self.sid, ranges)
            top = got[0].get("values", []) if got else []
            header = top[at - 1] if len(top) >= at else []
            moved = find_header(top) != at or any(
                cols[n] >= len(header) or normalize(header[cols[n]]) != normalize(HEADERS[n]) for n in FIELDS)
            if moved and attempt == 0:
                self.forget_layout()
                continue
            snap = Snapshot(header, header_row=at, grid_rows=_grid_rows(got[1]))
            for name, answer in zip(names, got[1:1 + len(names)], strict=True):
                column = {i + at + 1: str(r[0]).strip() for i, r in enumerate(answer.get("values", []))
                          if r and str(r[0]).strip()}
                if name == "hub_id":
                    snap.rows = sorted(column.items())
                    for row, cid in snap.rows:
                        snap.where.setdefault(cid, row)
                else:
                    snap.cells[name] = column
            last_id = max([row for row, _ in snap.rows] or [at])
            below = got[1 + len(names)].get("values", [])
            if tail <= last_id + 1:  # the tail covers every row below the last hub row
                snap.end = max(last_id, tail + len(below) - 1)
            self.hub.state_put("tail", last_id + 1)
            self.hub.state_put("grid", snap.grid_rows)
            return layout, snap
        raise AssertionError("unreachable")

    def _end(self, snap: Snapshot) -> int:
        """The last non-empty row when the poll's read could not tell (rows deleted since): one more read."""
        if snap.end is not None:
            return snap.end
        last_id = max([row for row, _ in snap.rows] or [snap.header_row])
        got = self.client().batch_get_ranges(self.sid, [f"{self.tab}!{last_id + 1}:{MAX_ROW}"])
        snap.end = last_id + len(got[0].get("values", []) if got else [])
        return snap.end

    # --- writing ------------------------------------------------------------------------------------------------

    def flush(self, layout: dict[str, Any], snap: Snapshot, seen: dict[str, Any]) -> tuple[int, int]:
        """Write pending rows (at most `flush_max`); returns (written, still pending)."""
        pending: dict[str, int] = self.hub.state_get("pending", {})
        if not pending:
            return 0, 0
        cols: dict[str, int] = layout["cols"]
        batch = list(pending.items())[: self.settings.flush_max]
        updates: list[dict[str, Any]] = []
        appends: list[dict[str, Any]] = []
        for cid, _ in batch:
            state = row_state(self.hub, cid)
            person = self.hub.candidate(cid)
            if not state or person is None or erased(person):  # erased: their row goes with the erasure
                continue
            values = {**state["values"], **candidate_values(person, self.hub)}
            row = snap.where.get(cid)
            for name in OUTCOME_FIELDS:
                want = values.get(name)
                entry = seen.setdefault(cid, {}).setdefault(name, {})
                current = snap.cells.get(name, {}).get(row, "") if row is not None else ""
                staff_typed = current not in ("", entry.get("v", ""), entry.get("ours"))
                staff_shown = entry.get("staff") and state.get(f"{name}_by") == "candidate" and \
                    current == entry.get("v")  # a staff pick seen in the sheet, its own event not back yet
                if want in (None, "") or current == want or staff_typed or staff_shown:
                    values.pop(name, None)
                else:
                    entry["ours"] = want
                    entry["staff"] = False
            if row is None:
                appends.append(values)
            else:
                updates += self._ranges(row, cols, values)
        self.hub.state_put("seen", seen)  # before writing: our own values must never come back as staff's
        grow = 0
        if appends:
            start = self._end(snap) + 1
            grow = max(0, start + len(appends) - 1 - snap.grid_rows)
            updates += self._block(start, cols, appends)
        if grow:
            self.client().batch_update(self.sid, [{"appendDimension": {
                "sheetId": layout["sheet_id"], "dimension": "ROWS", "length": grow + GROW_MARGIN}}])
        if updates:
            self.write(updates)
        pending = self.hub.state_get("pending", {})
        for cid, version in batch:
            if pending.get(cid) == version:  # not changed again while we wrote
                del pending[cid]
        self.hub.state_put("pending", pending)
        self.hub.log.info("tracking rows written", extra={"added": len(appends), "ranges": len(updates),
                                                          "requests": int(bool(grow)) + int(bool(updates))})
        return len(batch), len(pending)

    def write(self, data: list[dict[str, Any]]) -> None:
        """One values.batchUpdate (RAW) for every range of this sync."""
        self.client().batch_update_values(self.sid, data)

    def _block(self, start: int, cols: dict[str, int], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """New rows from `start` down, as one range over the hub's columns; the cells of staff columns in
        between are null, which Google skips ("Null values will be skipped", ValueRange.values in the
        discovery document), so a row staff began there between the read and the write keeps its cells."""
        first, last = min(cols.values()), max(cols.values())
        lines = []
        for values in rows:
            line: list[Any] = [None] * (last - first + 1)
            for name, value in values.items():
                line[cols[name] - first] = value
            lines.append(line)
        return [{"range": f"{self.tab}!{col_letters(first)}{start}:{col_letters(last)}{start + len(rows) - 1}",
                 "majorDimension": "ROWS", "values": lines}]

    def _ranges(self, row: int, cols: dict[str, int], values: dict[str, Any]) -> list[dict[str, Any]]:
        """One ValueRange per run of adjacent hub columns: cells in between (staff's) are not sent."""
        cells = sorted((cols[name], value) for name, value in values.items() if value is not None)
        runs: list[list[tuple[int, Any]]] = []
        for col, value in cells:
            if runs and runs[-1][-1][0] == col - 1:
                runs[-1].append((col, value))
            else:
                runs.append([(col, value)])
        return [{"range": f"{self.tab}!{col_letters(run[0][0])}{row}:{col_letters(run[-1][0])}{row}",
                 "majorDimension": "ROWS", "values": [[v for _, v in run]]} for run in runs]


def find_header(top: list[list[Any]]) -> int:
    """The 1-based row of the header among the tab's first rows: the one with the most hub header texts,
    else the fullest row (a staff tab without hub columns yet), else 1 (an empty tab)."""
    wanted = {normalize(h) for h in HEADERS.values()}
    best, score = 1, (0, 0)
    for i, row in enumerate(top, start=1):
        texts = [normalize(c) for c in row if str(c).strip()]
        mark = (sum(t in wanted for t in texts), len(texts))
        if mark > score:
            best, score = i, mark
    return best


def _grid_rows(answer: dict[str, Any]) -> int:
    """The tab's row count from the range Google echoes for an open-ended range (clipped to the grid)."""
    from hub_gsheets.a1 import parse

    try:
        return parse(str(answer.get("range", ""))).row1 or MAX_ROW
    except ValueError:
        return MAX_ROW
