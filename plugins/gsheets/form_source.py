"""Registrations: new rows of the Google Forms answers tab become `candidate_registered` events.

Each poll is one `values.batchGet` (the header row + the rows from the last one seen), so an idle poll costs
one read and a new header (a question added to the form) is noticed at once. Rows have no stable id in
Sheets, so an answer's id comes from its content: the timestamp + a keyed hash (`HubContext.pseudonym`) of its
e-mail or phone, which names nobody to whoever lacks the hub's key, so the id can stay in the event log after
the person is erased. An answer the hub stored before ids were keyed (an unkeyed SHA-256 then) keeps its old id:
the hub's link for that id, written with the event, says so (`answer_id`). Re-reading
a row is then harmless (the hub dedupes on it), which makes staff's sorting and deleting safe: the last row
seen is read again as a sentinel, and when it moved the whole tab is re-read (also done every
`full_reread` seconds, to pick up rows corrected by staff). A bad row is reported with its row number and
column, and read again on every poll until it is corrected.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from hub.api import InvalidValue, clean_birth_year, clean_candidate, clean_sex
from hub.events import Candidate, Event, EventKind, Referrer
from hub.sources import PollResult
from hub_gsheets.a1 import quote_title
from hub_gsheets.dates import from_serial, parse_cell_time
from hub_gsheets.settings import FormColumns, Settings

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub_gsheets.client import SheetsClient

SOURCE = "formulaire"
_YES = {"oui", "yes", "true", "vrai", "1", "j'accepte", "i agree", "d'accord"}


def normalize(text: Any) -> str:
    """Header comparison ignoring case, accents, spaces and a trailing ':' or '*'."""
    plain = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return re.sub(r"\s+", " ", plain).strip(" :*?").casefold()


def map_columns(header: list[Any], columns: FormColumns) -> dict[str, int]:
    """field -> column index, by exact (normalised) header text; the timestamp defaults to column A."""
    by_text = {normalize(h): i for i, h in reversed(list(enumerate(header))) if str(h).strip()}
    found: dict[str, int] = {}
    for name, aliases in columns.model_dump().items():
        for alias in aliases:
            if normalize(alias) in by_text:
                found[name] = by_text[normalize(alias)]
                break
    found.setdefault("timestamp", 0)
    return found


def phone_digits(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("00"):
        digits = digits[2:]
    if len(digits) == 10 and digits.startswith("0"):
        digits = "33" + digits[1:]
    return digits


def clean_phone(value: Any) -> str:
    """Phones typed as numbers lose their leading 0 in Sheets (612345678): put it back."""
    if isinstance(value, bool) or value in (None, ""):
        return ""
    if isinstance(value, int | float):
        text = str(int(value))
        return "0" + text if len(text) == 9 else text
    return str(value).strip()


ID_HASH_LENGTH = 20
"""Hex characters of the keyed hash in an answer's id (80 bits). The key, not the length, keeps the contact from
being guessed; the length keeps two people who answer in the same second from sharing an id (one would be
dropped as a duplicate): one chance in 2**80, and 80 bits is RFC 2104's floor for a truncated HMAC. Not 12,
the legacy ids' length, so an id says which way it was made."""
LEGACY_HASH_LENGTH = 12


def contact_of(email: str, phone: str) -> str:
    """Who answered, as an answer's id names them: the casefolded e-mail, else the phone's digits."""
    return email.strip().casefold() or phone_digits(phone)


def answer_key(when: datetime, email: str, phone: str, pseudonym: Callable[[str], str]) -> str:
    """An answer's id from its content, not its row: stable when staff sort or delete rows. The contact enters
    it through `pseudonym`, the hub's keyed hash (HubContext.pseudonym)."""
    return f"form:{when:%Y%m%dT%H%M%S}:{pseudonym(contact_of(email, phone))[:ID_HASH_LENGTH]}"


def legacy_answer_key(when: datetime, email: str, phone: str) -> str:
    """The id versions before keyed ids gave an answer (an unkeyed SHA-256 of the contact, which anyone with a
    guess of the address recomputes): only to find an answer the hub already stored under it."""
    digest = hashlib.sha256(contact_of(email, phone).encode()).hexdigest()
    return f"form:{when:%Y%m%dT%H%M%S}:{digest[:LEGACY_HASH_LENGTH]}"


def answer_id(hub: HubContext, when: datetime, email: str, phone: str) -> str:
    """The id the source gives an answer: its legacy id when the hub stored it under that one (ingest links the
    answer's id to the person in the event's transaction; erasure alone drops the link), so a full re-read or
    `hub resync` after the upgrade registers nobody again; else the keyed id. No state of the plugin's needed."""
    legacy = legacy_answer_key(when, email, phone)
    if hub.lookup("candidate", legacy) is not None:
        return legacy
    return answer_key(when, email, phone, hub.pseudonym)


def fingerprint(row: list[Any]) -> str:
    """Change detection for the cursor's last row, nothing else. Unkeyed on purpose: a hash of the whole row (time
    to the second, names, contact, referrer) is not recomputed from a guess of an address, and it is replaced once
    that row is cleared or moves (the next poll reads the tab again)."""
    return hashlib.sha256(json.dumps(row, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


@dataclass
class Problem:
    field: str
    message: str


@dataclass
class Cursor:
    """Where the form tab was left; stored by the hub with the events it produced, in one transaction."""

    sheet: str = ""
    mode: str = "full"  # "full": reading the whole tab from `pos`; "tail": reading past `last`
    pos: int = 2
    last: int = 1  # row number of the last non-empty row seen (1 = only the header)
    fp: str = ""  # fingerprint of that row: if it changed, rows moved
    bad: dict[str, str] = field(default_factory=dict)  # row number -> problem ref, re-read until fixed
    found_bad: dict[str, str] = field(default_factory=dict)  # bad rows met during the running full read
    full_at: str | None = None
    since: str | None = None
    total: int = 0

    @classmethod
    def load(cls, text: str | None, sheet: str) -> Cursor:
        if text:
            try:
                data = json.loads(text)
                if data.get("sheet") == sheet:
                    return cls(**data)
            except (ValueError, TypeError):
                pass
        return cls(sheet=sheet)

    def dump(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


class FormSource:
    """The `formulaire` poller of one branch."""

    def __init__(self, hub: HubContext, client: Callable[[], SheetsClient]) -> None:
        self.hub = hub
        self.client = client
        self.settings = hub.settings_as(Settings)
        self.spreadsheet_id = self.settings.form_spreadsheet_id or self.settings.spreadsheet_id
        self.sheet = self.settings.form_sheet or ""
        self.tab = quote_title(self.sheet)
        self.zone = hub.zone  # until the spreadsheet's own zone is read (first poll)

    def resync_cursor(self, since: datetime | None) -> str | None:
        """Re-read the whole tab (answers older than `since` are skipped)."""
        cursor = Cursor(sheet=f"{self.spreadsheet_id}/{self.sheet}", since=since.isoformat() if since else None)
        return cursor.dump()

    def poll(self, cursor_text: str | None) -> PollResult:
        cursor = Cursor.load(cursor_text, f"{self.spreadsheet_id}/{self.sheet}")
        now = self.hub.now()
        due = cursor.full_at is None or now - datetime.fromisoformat(cursor.full_at) >= timedelta(
            seconds=self.settings.full_reread)
        if cursor.mode == "tail" and due:
            cursor.mode, cursor.pos, cursor.found_bad = "full", 2, {}
        self.zone = self._sheet_zone(refresh=cursor.mode == "full" and cursor.pos == 2)
        if cursor.mode == "full":
            return self._full(cursor, now)
        return self._tail(cursor)

    def _sheet_zone(self, *, refresh: bool) -> ZoneInfo:
        """The spreadsheet's own time zone (`properties.timeZone`): serial numbers are wall-clock times in it,
        not in the branch's (a sheet made by an account set to New York holds New York times). Read once and
        kept; read again at each full re-read, in case the sheet's settings changed. One request each time."""
        key = f"zone:{self.spreadsheet_id}"
        name = self.hub.state_get(key)
        if name is None or refresh:
            book = self.client().spreadsheet(self.spreadsheet_id)
            name = str(book.get("properties", {}).get("timeZone") or self.hub.zone.key)
            self.hub.state_put(key, name)
        try:
            return ZoneInfo(str(name))
        except (ValueError, KeyError):  # an unknown zone name: the branch's is the best guess, and say so
            self.hub.report_problem(f"{self.sheet} (fuseau du classeur)", "timeZone",
                                    f"fuseau horaire du classeur inconnu ({name}) : heures lues dans celui de "
                                    "l'antenne ; corrigez-le dans Fichier > Paramètres du classeur")
            return self.hub.zone

    def read_rows(self, start: int, end: int) -> tuple[list[Any], list[list[Any]]]:
        """The header and the rows `start`..`end` (1-based) of the form tab, in one read (for an erasure)."""
        header, rows, _ = self._read(start, end)
        return header, rows

    def zone_of_answers(self) -> ZoneInfo:
        """The zone answers' times are read in (part of each answer's id): the spreadsheet's, as last read."""
        return self._sheet_zone(refresh=False)

    # --- reading ------------------------------------------------------------------------------------------------

    def _read(self, start: int, end: int, count_rows: bool = False) -> tuple[list[Any], list[list[Any]], int]:
        # Row-only ranges past the grid's end are fine for reads (googlesheets4 reads '2:5000000', see
        # https://googlesheets4.tidyverse.org/articles/articles/range-specification.html); writes are not.
        ranges = [f"{self.tab}!1:1", f"{self.tab}!{start}:{end}"]
        if count_rows:
            ranges.append(f"{self.tab}!A:A")
        got = self.client().batch_get(self.spreadsheet_id, ranges)
        header = got[0][0] if got and got[0] else []
        total = max(len(got[2]) - 1, 0) if count_rows and len(got) > 2 else 0
        return header, got[1] if len(got) > 1 else [], total

    def _full(self, cursor: Cursor, now: datetime) -> PollResult:
        chunk = self.settings.read_chunk
        start = cursor.pos
        header, rows, total = self._read(start, start + chunk - 1, count_rows=start == 2)
        if start == 2:
            cursor.total, cursor.last, cursor.fp = total, 1, ""
        columns = self._columns(header)
        if columns is None:
            return PollResult([], cursor.dump())
        since = datetime.fromisoformat(cursor.since) if cursor.since else None
        events = self._rows(rows, start, columns, header, cursor, cursor.found_bad, since)
        done = start - 2 + len(rows)
        cursor.total = max(cursor.total, done)
        if len(rows) >= chunk:
            cursor.pos = start + chunk
            return PollResult(events, cursor.dump(), more=True, progress=(done, cursor.total))
        for ref in set(cursor.bad.values()) - set(cursor.found_bad.values()):
            self.hub.resolve_problem(ref)
        cursor.bad, cursor.found_bad = cursor.found_bad, {}
        cursor.mode, cursor.full_at, cursor.since = "tail", now.isoformat(), None
        return PollResult(events, cursor.dump(), progress=(done, cursor.total))

    def _tail(self, cursor: Cursor) -> PollResult:
        chunk = self.settings.read_chunk
        bad_rows = sorted(int(r) for r in cursor.bad)
        start = max(2, min([cursor.last, *bad_rows]))
        end = cursor.last + chunk
        header, rows, _ = self._read(start, end)
        if cursor.last >= 2:
            at = cursor.last - start
            if at >= len(rows) or fingerprint(rows[at]) != cursor.fp:
                # rows were sorted, deleted or edited above the end: re-read everything (dedupe keeps it safe)
                cursor.mode, cursor.pos, cursor.found_bad = "full", 2, {}
                self.hub.log.info("form tab changed above the last row seen: full re-read",
                                  extra={"row": cursor.last})
                return PollResult([], cursor.dump(), more=True)
        columns = self._columns(header)
        if columns is None:
            return PollResult([], cursor.dump())
        recheck = {r - start for r in bad_rows}
        still_bad = {k: v for k, v in cursor.bad.items()}
        for offset in sorted(recheck):
            still_bad.pop(str(start + offset), None)
        picked = [(i, row) for i, row in enumerate(rows) if i in recheck or start + i > cursor.last]
        events = []
        for i, row in picked:
            events += self._rows([row], start + i, columns, header, cursor, still_bad, None)
        for ref in set(cursor.bad.values()) - set(still_bad.values()):
            self.hub.resolve_problem(ref)
        cursor.bad = still_bad
        more = start + len(rows) - 1 >= end
        return PollResult(events, cursor.dump(), more=more)

    def _columns(self, header: list[Any]) -> dict[str, int] | None:
        ref = f"{self.sheet}!ligne 1"
        columns = map_columns(header, self.settings.columns)
        if header and "email" not in columns and "phone" not in columns:
            self.hub.report_problem(ref, "en-têtes", (
                f"{self.sheet}, ligne 1 : aucune colonne e-mail ni téléphone reconnue. Ajoutez le titre de la "
                "question dans [gsheets.columns] (email = [...] ou phone = [...]) du fichier de l'antenne."))
            return None
        self.hub.resolve_problem(ref)
        return columns

    # --- rows ---------------------------------------------------------------------------------------------------

    def _rows(self, rows: list[list[Any]], first: int, columns: dict[str, int], header: list[Any],
              cursor: Cursor, bad: dict[str, str], since: datetime | None) -> list[Event]:
        events: list[Event] = []
        for offset, row in enumerate(rows):
            number = first + offset
            if not any(v not in (None, "") for v in row):
                continue
            if number > cursor.last:
                cursor.last, cursor.fp = number, fingerprint(row)
            ref = f"{self.sheet}!ligne {number}"
            result, left_out = self._evaluate(row, columns, header)
            if isinstance(result, Problem) or left_out:
                bad[str(number)] = ref  # re-read until corrected
                self._report(ref, number, [result] if isinstance(result, Problem) else left_out,
                             kept=not isinstance(result, Problem))
            else:
                self.hub.resolve_problem(ref)
            if isinstance(result, Event) and (since is None or result.occurred_at >= since):
                events.append(result)
        return events

    def _report(self, ref: str, number: int, problems: list[Problem], *, kept: bool) -> None:
        """One problem per row, naming each bad column; `kept`: the row was taken without those values."""
        said = " ; ".join(f"colonne « {p.field} » : {p.message}" for p in problems)
        fix = ("valeur laissée de côté, le reste de la ligne est enregistré. Corrigez la cellule : elle sera "
               "reprise automatiquement." if kept else
               "Corrigez la cellule : la ligne sera reprise automatiquement.")
        self.hub.report_problem(ref, " / ".join(p.field for p in problems),
                                f"{self.sheet}, ligne {number}, {said}. {fix}")

    def _evaluate(self, row: list[Any], columns: dict[str, int],
                  header: list[Any]) -> tuple[Event | Problem, list[Problem]]:
        """The row's registration, or why it cannot be one; and the values hygiene left out of it, by column."""
        def cell(name: str) -> Any:
            index = columns.get(name)
            return row[index] if index is not None and index < len(row) else ""

        def text(name: str) -> str | None:
            value = cell(name)
            return str(value).strip() or None if value not in (None, "") else None

        def title(name: str, default: str) -> str:
            index = columns.get(name)
            return str(header[index]) if index is not None and index < len(header) else default

        when = parse_cell_time(cell("timestamp"), self.zone)
        if when is None:
            return Problem(title("timestamp", "Horodateur"), "date absente ou illisible"), []
        email = text("email") or ""
        phone = clean_phone(cell("phone"))
        if not email and not phone:
            return Problem(f"{title('email', 'Adresse e-mail')} / {title('phone', 'Téléphone')}",
                           "ni e-mail ni téléphone : impossible de recontacter la personne"), []
        key = answer_id(self.hub, when, email, phone)  # from the cells as typed: the same answer keeps its id
        structure, contact, contact_email = text("referrer"), text("referrer_contact"), text("referrer_email")
        consent = text("consent")
        born, born_problem = self._birth_year(cell("birth_year"), title("birth_year", "Année de naissance"))
        try:
            candidate = Candidate(
                ref=key, first_name=text("first_name"), last_name=text("last_name"), email=email or None,
                phone=phone or None, registered_at=when, sex=clean_sex(text("sex")), birth_year=born,
                consent=None if consent is None else normalize(consent) in _YES,
                referrer=Referrer(structure=structure, contact_name=contact, contact_email=contact_email)
                if structure or contact or contact_email else None)
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"]) if exc.errors() else "?"
            return Problem(where, "valeur refusée"), []
        candidate, rejected = clean_candidate(candidate, self.hub.branch_config.phone_region)  # as the hub will
        titles = {"email": title("email", "Adresse e-mail"), "phone": title("phone", "Téléphone"),
                  "referrer.contact_email": title("referrer_email", "E-mail du référent")}
        left_out = [Problem(titles[r.field], r.reason) for r in rejected] + ([born_problem] if born_problem else [])
        if not candidate.email and not candidate.phone:  # nothing left to reach the person by
            where = " / ".join(p.field for p in left_out) or f"{titles['email']} / {titles['phone']}"
            why = " ; ".join(p.message for p in left_out) or "ni e-mail ni téléphone"
            return Problem(where, f"{why} : impossible de recontacter la personne"), []
        source_id = f"{key}#incomplet" if left_out else key  # once corrected, the full answer comes in too
        return Event(kind=EventKind.CANDIDATE_REGISTERED, occurred_at=when, source_id=source_id,
                     candidate=candidate), left_out

    def _birth_year(self, value: Any, column: str) -> tuple[int | None, Problem | None]:
        """The year of a 'year of birth' or 'date of birth' answer (a date cell is a serial number); a value that
        is neither is left out and reported by its column (never quoted)."""
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 3000:
            value = from_serial(float(value), self.zone).date()  # a date cell: days since 1899-12-30
        try:
            return clean_birth_year(value, self.hub.now().year), None
        except InvalidValue as exc:
            return None, Problem(column, str(exc))
