"""A report as JSON (for machines and the next renderers) and as CSV (one row per scope, figure and breakdown
group, French headers, for a spreadsheet).

The CSV is separated by semicolons, as spreadsheets set to French expect (decimals have a comma); every cell
goes through `hub.hygiene.spreadsheet_safe`, so no text can run as a formula.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from hub.hygiene import spreadsheet_safe
from hub.report.model import Cell, Figure, Report

__all__ = ["CSV_HEADERS", "as_dict", "to_csv"]

CSV_HEADERS = ("Du", "Au", "Périmètre", "Antenne ou réseau", "Rubrique", "Indicateur", "Code", "Ventilation",
               "Groupe", "Valeur", "Numérateur", "Dénominateur", "Masqué", "Définition")
_HIDDEN = {None: "", "small": "petit effectif", "secondary": "secret (déductible sinon)"}


def _cell(kind: str, cell: Cell) -> dict[str, Any]:
    out: dict[str, Any] = {"value": cell.value, "text": cell.text, "suppressed": cell.suppressed}
    if kind != "count":
        out.update(numerator=cell.numerator, denominator=cell.denominator)
    return out


def _figure(figure: Figure) -> dict[str, Any]:
    return {"key": figure.key, "label": figure.label, "kind": figure.kind, **_cell(figure.kind, figure.cell),
            "footnote": figure.footnote,
            "breakdowns": [{"dimension": b.dimension, "label": b.label, "footnote": b.footnote,
                            "parts": [{"key": p.key, "label": p.label, **_cell(figure.kind, p.cell)}
                                      for p in b.parts]} for b in figure.breakdowns]}


def as_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data: the same tree as `hub.report.model`."""
    return {
        "period": {"start": report.start.isoformat(), "end": report.end.isoformat(),
                   "last_day": (report.end - timedelta(days=1)).isoformat()},
        "as_of": report.as_of.isoformat(),
        "view": report.view,
        "small_count": report.small_count,
        "notes": list(report.notes),
        "scopes": [{"scope": s.scope, "title": s.title, "footnotes": list(s.footnotes),
                    "sections": [{"key": section.key, "title": section.title,
                                  "figures": [_figure(f) for f in section.figures]} for section in s.sections]}
                   for s in report.scopes],
    }


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADERS)
    first, last = report.start.isoformat(), (report.end - timedelta(days=1)).isoformat()
    for scope in report.scopes:
        for section in scope.sections:
            for figure in section.figures:
                rows = [("", "", figure.cell, figure.footnote)]  # a breakdown's definition on its first row
                rows += [(b.label, p.label, p.cell, "" if i else b.footnote)
                         for b in figure.breakdowns for i, p in enumerate(b.parts)]
                for breakdown, group, cell, definition in rows:
                    writer.writerow([spreadsheet_safe(v) for v in (
                        first, last, scope.scope, scope.title, section.title, figure.label, figure.key, breakdown,
                        group, cell.text, _number(cell.numerator), _number(cell.denominator),
                        _HIDDEN[cell.suppressed], definition)])
    return out.getvalue()


def _number(value: int | None) -> str:
    return "" if value is None else str(value)
