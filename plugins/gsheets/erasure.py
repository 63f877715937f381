"""Erasure in the branch's Google Sheets: `candidate_forgotten` (RGPD art. 17; art. 19, every recipient told).

Through the Sheets API:
- **the tracking tab**: the person's rows are deleted (`deleteDimension`), staff's columns of those rows with
  them (a note about the person is about the person). Deleted, not cleared: the tracking sheet finds rows by
  hub id at every sync and keeps no row number from one sync to the next (tracking.py), so rows moving up is
  what it already copes with when staff delete a row, while a cleared row would leave a hole in staff's table.
  The person's rows are those holding their hub id (a copy staff made too) and rows without a hub id whose
  E-mail (or, without one, Téléphone) is theirs (a row typed by hand). The grid keeps its size: as many empty
  rows are added at its end in the same request, because Sheets refuses to delete the last rows under a
  frozen header ("Sorry, it is not possible to delete all non-frozen rows", sandbox_rows).
- **the form-responses tab**: the cells of the person's answers are cleared (`values.batchClear`), their rows
  stay. The form source's cursor holds row numbers (the last row seen and its fingerprint, bad rows to read
  again, where a chunked full read is): a deleted row would shift the rows below under it, so one could be
  skipped until the next full read and problems would name the wrong rows; an empty row is just skipped. (Where
  Google Forms writes the next answer is not documented: below the last row the next read finds it, in the
  emptied row the periodic full read does, within `full_reread`.) An answer is the person's when the hub linked
  its id (time + keyed hash of the contact, or the legacy id it was stored under: form_source.answer_id) to
  them, when its e-mail is theirs, or, without an e-mail, when its phone is.
- **the connector's own state**: the person's row state (the hub's columns: no name or contact is kept there,
  tracking.py), its pending write, their entry in the index of rows (a rebuild would write the row again) and
  the outcome cells last seen (tracking.forget_candidate).

By hand (manual items of the receipt):
- **Google Forms keeps its own copy of every answer.** The Forms API v1 only reads responses (`forms.responses`
  has `get` and `list`, no delete: forms.v1 discovery document shipped with google-api-python-client), so staff
  delete it in the form (Réponses > Individuelle > Supprimer la réponse). Otherwise linking the form to a
  new sheet would copy the answer back.
- **Version history.** Earlier versions of both tabs keep the erased cells, and no API removes a version of a
  Google Sheets file (Drive API `revisions.delete`: "Revisions for other files, like Google Docs or Sheets
  ... can't be deleted", drive.v3 discovery document): the DPO decides.

Idempotent: rows already gone are simply not found, and the receipt says the same. A re-poll does not bring the
person back: the cleared rows are empty, and the hub's tombstones drop an answer of theirs that shows again
(staff restoring it, a new answer with the same e-mail or phone), so no registration and no tracking row.
Two Sheets requests could race with staff sorting the tab between the read and the write (as the tracking
sheet's own writes do); the window is one request long.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.api import email_key, phone_key
from hub.events import Candidate, Event
from hub_gsheets.dates import parse_cell_time
from hub_gsheets.form_source import FormSource, answer_id, clean_phone, map_columns
from hub_gsheets.tracking import TrackingSheet, forget_candidate

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from hub.context import HubContext

FORMS_BY_HAND = (
    "Google Forms garde sa copie de la réponse (son API ne sait pas la supprimer) : dans le formulaire de "
    "l'onglet « {tab} », Réponses > Individuelle, supprimez la réponse de la personne (corbeille) ; sinon un "
    "nouveau lien vers une feuille la recopierait.")
HISTORY_BY_HAND = (
    "À voir avec le DPO : l'historique des versions du classeur (Fichier > Historique des versions) garde les "
    "cellules effacées, et Google ne permet d'en supprimer aucune version (seule une copie du classeur, "
    "Fichier > Créer une copie, repart sans historique).")


def forget(hub: HubContext, event: Event) -> None:
    """Erase the person's rows and answers, then say so in the receipt (module docstring)."""
    from hub_gsheets.connector import Connector

    cid = event.candidate_id
    if not cid:
        return
    person = event.candidate or Candidate(id=cid)
    forget_candidate(hub, cid)  # first: a rebuild between two tries must not write their row again
    connector = Connector(hub)
    try:
        rows = delete_tracking_rows(hub, connector.tracking, cid, person)
        hub.erased(f"ligne du tableau de suivi (onglet « {connector.tracking.title} »)")
        answers = 0
        if connector.form is not None:
            answers = clear_answers(hub, connector.form, cid, person)
            linked = hub.external_id("candidate", cid) or person.ref or ""
            if answers or linked.startswith("form:"):
                tab = connector.form.sheet
                hub.erased(f"réponse(s) au formulaire (onglet « {tab} », cellules vidées)")
                hub.erasure_manual(FORMS_BY_HAND.format(tab=tab))
        hub.erasure_manual(HISTORY_BY_HAND)
    finally:
        connector.close()
    hub.log.info("person erased in the sheets", extra={"candidate": cid, "tracking_rows": rows, "answers": answers})


def delete_tracking_rows(hub: HubContext, sheet: TrackingSheet, cid: str, person: Candidate) -> int:
    """Delete the person's rows of the tracking tab (one read, one batchUpdate); how many."""
    layout, snap = sheet.read(extra=("email", "phone"))
    owners = dict(snap.rows)
    emails, phones = snap.cells.get("email", {}), snap.cells.get("phone", {})
    mine = {row for row, owner in snap.rows if owner == cid}
    mine |= {row for row in set(emails) | set(phones)
             if row not in owners and _same_person(person, emails.get(row), phones.get(row))}
    if not mine:
        return 0
    requests: list[dict[str, Any]] = [{"appendDimension": {"sheetId": layout["sheet_id"], "dimension": "ROWS",
                                                           "length": len(mine)}}]
    requests += [{"deleteDimension": {"range": {"sheetId": layout["sheet_id"], "dimension": "ROWS",
                                                "startIndex": row - 1, "endIndex": row}}}
                 for row in sorted(mine, reverse=True)]  # bottom up: each request sees the rows above unmoved
    sheet.client().batch_update(sheet.sid, requests)
    for row in mine:
        hub.resolve_problem(f"{sheet.title}!ligne {row}")
    return len(mine)


def clear_answers(hub: HubContext, form: FormSource, cid: str, person: Candidate) -> int:
    """Clear the cells of the person's answers in the form tab (the tab read in chunks, one batchClear); how
    many rows."""
    zone = form.zone_of_answers()
    chunk = form.settings.read_chunk
    mine: list[int] = []
    start = 2
    while True:
        header, rows = form.read_rows(start, start + chunk - 1)
        columns = map_columns(header, form.settings.columns)
        mine += [start + i for i, row in enumerate(rows) if _their_answer(hub, cid, person, row, columns, zone)]
        if len(rows) < chunk:
            break
        start += chunk
    if not mine:
        return 0
    runs: list[list[int]] = []
    for row in mine:
        if runs and runs[-1][-1] == row - 1:
            runs[-1].append(row)
        else:
            runs.append([row])
    form.client().batch_clear_values(form.spreadsheet_id, [f"{form.tab}!{r[0]}:{r[-1]}" for r in runs])
    for row in mine:
        hub.resolve_problem(f"{form.sheet}!ligne {row}")
    return len(mine)


def _their_answer(hub: HubContext, cid: str, person: Candidate, row: list[Any], columns: dict[str, int],
                  zone: ZoneInfo) -> bool:
    def cell(name: str) -> Any:
        index = columns.get(name)
        return row[index] if index is not None and index < len(row) else ""

    email = str(cell("email")).strip() if cell("email") not in (None, "") else ""
    phone = clean_phone(cell("phone"))
    if _same_person(person, email, phone):
        return True
    when = parse_cell_time(cell("timestamp"), zone)
    if when is None or not (email or phone):
        return False
    return hub.lookup("candidate", answer_id(hub, when, email, phone)) == cid  # an answer the hub gave to them


def _same_person(person: Candidate, email: Any, phone: Any) -> bool:
    """The row's e-mail is the person's; or, the row having none, its phone is theirs."""
    row_email = email_key(str(email)) if email else None
    if row_email is not None:
        return row_email == email_key(person.email)
    wanted = phone_key(person.phone)
    return wanted is not None and phone_key(str(phone) if phone else None) == wanted
