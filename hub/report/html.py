"""The key figures as one self-contained HTML page (issue 15): French, charts as inline SVG (hub.report.charts,
drawn by pygal), no script, no font nor anything else fetched: it opens from a mail or a USB stick, offline, and
prints on A4 (a page per branch, no chart cut across two pages, legible in black and white).

    html = render_html(publishable(report), made=date.today())     # `hub report --format html`
    page = render_html(report, banner=who_and_period_picker)        # the live page /tableau: the same page

What it holds, in order: the title part (scopes, period, when it was made, whether it may leave the branch, how
to read it); the lead scope's key figures (the network's, or the one branch's of a `--branch` report); the
funnel from registration to the situation known after the session; the situations at each follow-up horizon
with their response rate; the branches side by side (network only); then every scope's tables (the network's,
then each branch's, each on a new page), and every definition as a numbered note at the end. Every number of
a chart is in the table beside it. A hidden cell is written as the report writes it ("< 5", "s"), never drawn.

`banner` is put at the top as it is, not escaped: callers pass trusted HTML only (markup they built, with any
user-supplied text in it escaped by them). It is left out when printing. The page has inline `<style>`
elements (the page's and each chart's) and no script: a Content-Security-Policy for it needs
`style-src 'unsafe-inline'` and can say `script-src 'none'`.

Same report and arguments, same bytes: nothing here reads the clock (`made` is the caller's).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from hub.report.charts import Series, bar_chart
from hub.report.model import NETWORK, Cell, Figure, Report, ScopeFigures, Section

__all__ = ["KEY_FIGURES", "POSITIVE", "file_name", "render_html"]

TEMPLATES = Path(__file__).parent / "templates"
KEY_FIGURES = ("registered", "sessions.held", "sessions.no_show_rate", "journey.honoured_30",
               "journey.median_days")
"""The lead scope's figures shown large on the first page (then the first horizon's response rate)."""
POSITIVE = ("emploi_durable", "emploi_transition", "formation", "sortie_positive")
"""The categories of the funnel's last step: every situation but "autre"."""
FUNNEL_NOTE = (
    "Du premier contact à la situation : les étapes comptent, pour la période, des personnes (inscrites ; "
    "situation connue et issue positive parmi les suivis arrivés à échéance) et des rendez-vous (prévus, "
    "honorés) ; ce ne sont pas tout à fait les mêmes personnes d'une étape à l'autre (une personne inscrite à la "
    "fin de la période a son rendez-vous et son suivi après). Issue positive = emploi durable + emploi de "
    "transition + formation + sortie positive, c'est-à-dire toute situation connue sauf « autre situation » ; "
    "masquée (« s ») si l'une d'elles l'est.")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def render_html(report: Report, *, banner: str = "", made: date | None = None) -> str:
    """The whole page. `banner`: trusted HTML put first, unescaped (the live page's login and period picker);
    `made`: the day the report was made, shown on the title part (nothing shown without it)."""
    return _environment().get_template("report.html.j2").render(page=_Page.of(report, made),
                                                                 banner=Markup(banner))  # trusted: see above


def file_name(report: Report) -> str:
    """`rapport-<scope>-<first day>-<last day>.html`, scope being the network (`reseau`) or the one branch;
    `-interne` before `.html` for the raw view, so that the file's name already says it stays in."""
    scope = NETWORK if len(report.scopes) != 1 else report.scopes[0].scope
    last = (report.end - timedelta(days=1)).isoformat()
    return f"rapport-{scope}-{report.start.isoformat()}-{last}{'-interne' if report.view == 'raw' else ''}.html"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def french_date(day: date) -> str:
    """ "1er mars 2026", "15 janvier 2027"."""
    return f"{'1er' if day.day == 1 else day.day} {MONTHS[day.month - 1]} {day.year}"


# --- what the template walks ----------------------------------------------------------------------------------

@dataclass
class _Notes:
    """Every definition, numbered once in the order first met."""

    numbers: dict[str, int] = field(default_factory=dict)

    def __call__(self, text: str) -> int:
        return self.numbers.setdefault(text, len(self.numbers) + 1)


@dataclass(frozen=True)
class _Value:
    label: str
    text: str
    hidden: bool
    note: int | None = None


@dataclass(frozen=True)
class _Chart:
    svg: Markup | None
    caption: str
    not_drawn: tuple[str, ...]


@dataclass(frozen=True)
class _Cross:
    """One breakdown dimension of a section: a row per figure that has it, a column per group."""

    caption: str
    note: int
    columns: tuple[str, ...]
    rows: tuple[tuple[_Value, tuple[_Value, ...]], ...]


@dataclass(frozen=True)
class _Table:
    title: str
    rows: tuple[_Value, ...]
    crosses: tuple[_Cross, ...]


@dataclass(frozen=True)
class _Scope:
    id: str
    title: str
    tables: tuple[_Table, ...]


@dataclass(frozen=True)
class _Page:
    title: str
    subtitle: str
    period: str
    made: str
    as_of: str
    raw: bool
    notes: tuple[str, ...]
    lead: str
    tiles: tuple[_Value, ...]
    funnel: _Chart | None
    funnel_rows: tuple[_Value, ...]
    horizons: tuple[str, ...]
    outcomes: _Chart | None
    outcome_rows: tuple[tuple[_Value, tuple[_Value, ...]], ...]
    branches: tuple[_Chart, ...]
    branch_columns: tuple[str, ...]
    branch_rows: tuple[tuple[_Value, tuple[_Value, ...]], ...]
    scopes: tuple[_Scope, ...]
    definitions: tuple[tuple[int, str], ...]

    @classmethod
    def of(cls, report: Report, made: date | None) -> _Page:
        note = _Notes()
        network = next((s for s in report.scopes if s.scope == NETWORK), None)
        branches = [s for s in report.scopes if s.scope != NETWORK]
        lead = network or (report.scopes[0] if report.scopes else None)
        ordered = ([network] if network else []) + branches
        scopes = tuple(_scope(s, note) for s in ordered)  # numbers the definitions in reading order
        last = report.end - timedelta(days=1)
        if network is not None:
            title = "Chiffres clés du réseau"
            subtitle = f"{len(branches)} antenne{'s' if len(branches) > 1 else ''} : " + \
                _listing([b.title for b in branches]) if branches else "Aucune antenne"
        else:
            title = "Chiffres clés de l'antenne"
            subtitle = lead.title if lead else ""
        as_of = report.as_of.date()
        page: dict[str, Any] = dict(
            title=title, subtitle=subtitle,
            period=f"Du {french_date(report.start)} au {french_date(last)}",
            made=f"Établi le {french_date(made)}" if made else "",
            as_of=f"Période en cours : chiffres connus au {french_date(as_of)}" if as_of <= last and as_of != made
            else "",
            raw=report.view == "raw", notes=report.notes, lead=lead.title if lead else "", scopes=scopes,
            tiles=(), funnel=None, funnel_rows=(), horizons=(), outcomes=None, outcome_rows=(), branches=(),
            branch_columns=(), branch_rows=())
        if lead is not None:
            page.update(_overview(lead, note))
            if network is not None and branches:
                page.update(_side_by_side(network, branches, note))
        return cls(**page, definitions=tuple((n, text) for text, n in note.numbers.items()))


# --- the lead scope's charts ------------------------------------------------------------------------------------

def _overview(scope: ScopeFigures, note: _Notes) -> dict[str, Any]:
    horizons = _horizons(scope)
    tiles = [_value(scope.figure(k), note) for k in KEY_FIGURES if _has(scope, k)]
    if horizons:
        first = scope.figure(f"outcomes.{horizons[0]}.response_rate")
        tiles.append(_value(first, note, f"{first.label} {_at(horizons[0])}"))
    steps = [_value(scope.figure(k), note) for k in ("registered", "sessions.booked", "sessions.held")
             if _has(scope, k)]
    if horizons:
        h = horizons[0]
        known = scope.figure(f"outcomes.{h}.answered")
        steps.append(_value(known, note, f"{known.label} {_at(h)}"))
        steps.append(_positive(scope, h, note(FUNNEL_NOTE)))
    out: dict[str, Any] = {"tiles": tuple(tiles), "funnel_rows": tuple(steps)}
    if steps:
        description = ("Barres horizontales, une par étape : " + " ; ".join(f"{s.label} : {s.text}" for s in steps)
                       + ".")
        out["funnel"] = _chart(
            "parcours", f"Du premier contact à la situation {_at(horizons[0])}" if horizons else
            "Du premier contact au rendez-vous", description,
            [s.label if _number(s) is not None else f"{s.label} : {s.text}" for s in steps],
            [Series("Nombre", tuple(_number(s) for s in steps), tuple(s.text for s in steps))],
            [f"{s.label} {s.text}" for s in steps if _number(s) is None])
    if horizons:
        categories = [f for f in _section(scope, f"outcomes.{horizons[0]}").figures
                      if f.key.rsplit(".", 1)[-1] not in ("due", "answered", "response_rate")]
        keys = [c.key.rsplit(".", 1)[-1] for c in categories]
        per_horizon = {h: {k: scope.figure(f"outcomes.{h}.{k}") for k in
                           ("due", "answered", "response_rate", *keys)} for h in horizons}
        rows = [(_value(per_horizon[horizons[0]][k], note), tuple(_value(per_horizon[h][k], note) for h in horizons))
                for k in ("due", "answered", "response_rate", *keys)]
        labels = [f"{_at(h).capitalize()} — réponses : {per_horizon[h]['response_rate'].cell.text}"
                  for h in horizons]
        series = [Series(c.label, tuple(_plain(per_horizon[h][k].cell) for h in horizons))
                  for c, k in zip(categories, keys, strict=True)]
        hidden = _grouped((_at(h), c.label, per_horizon[h][k].cell) for h in horizons
                          for c, k in zip(categories, keys, strict=True))
        description = "Barres empilées, une par horizon de suivi, découpées par situation : " + " ; ".join(
            f"{_at(h)} (taux de réponse {per_horizon[h]['response_rate'].cell.text}) : " + ", ".join(
                f"{c.label} {per_horizon[h][k].cell.text}" for c, k in zip(categories, keys, strict=True))
            for h in horizons) + "."
        out.update(horizons=tuple(_at(h) for h in horizons), outcome_rows=tuple(rows), outcomes=_chart(
            "situations", "Situation connue à chaque horizon de suivi", description, labels, series, hidden,
            stacked=True))
    return out


def _side_by_side(network: ScopeFigures, branches: list[ScopeFigures], note: _Notes) -> dict[str, Any]:
    horizons = _horizons(network)
    keys = [k for k in ("registered", "sessions.held", "sessions.no_show_rate") if _has(network, k)]
    if horizons:
        keys.append(f"outcomes.{horizons[0]}.response_rate")
    names = _short_names([b.title for b in branches])

    def label(key: str) -> str:
        figure = network.figure(key)
        return f"{figure.label} {_at(horizons[0])}" if key.startswith("outcomes.") else figure.label

    def cells(scope: ScopeFigures, key: str) -> Cell:
        return scope.figure(key).cell if _has(scope, key) else Cell(None, "—")

    columns = tuple(label(k) for k in keys)
    rows = tuple((_Value(s.title, "", False), tuple(_value(s.figure(k), note, label(k)) if _has(s, k) else
                                                    _Value(label(k), "—", False) for k in keys))
                 for s in [*branches, network])
    charts = []
    for name, title, chosen, percent in (
            ("antennes-effectifs", "Personnes inscrites et rendez-vous honorés, par antenne",
             [k for k in keys if network.figure(k).kind == "count"], False),
            ("antennes-taux", "Taux par antenne", [k for k in keys if network.figure(k).kind == "rate"], True)):
        if not chosen:
            continue
        series = [Series(label(k), tuple(_plain(cells(b, k)) for b in branches),
                         tuple(cells(b, k).text for b in branches)) for k in chosen]
        hidden = _grouped((short, label(k), cells(b, k)) for b, short in zip(branches, names, strict=True)
                          for k in chosen)
        description = f"Barres horizontales groupées, une ligne par antenne ({title.lower()}) : " + " ; ".join(
            f"{short} : " + ", ".join(f"{label(k)} {cells(b, k).text}" for k in chosen)
            for b, short in zip(branches, names, strict=True)) + "."
        charts.append(_chart(name, title, description, names, series, hidden, percent=percent))
    return {"branches": tuple(charts), "branch_columns": columns, "branch_rows": rows}


def _chart(name: str, title: str, description: str, labels: list[str], series: list[Series],
           not_drawn: list[str], *, stacked: bool = False, percent: bool = False) -> _Chart:
    """A chart, or none when every value is hidden or zero (an empty frame says nothing): its table says all."""
    if not any(v for s in series for v in s.values):
        return _Chart(None, title, tuple(not_drawn))
    svg = bar_chart(name, title, description, labels, series, stacked=stacked, percent=percent)
    return _Chart(Markup(svg), title, tuple(not_drawn))  # made here: every text in it escaped by the XML writer


def _grouped(cells: Iterable[tuple[str, str, Cell]]) -> list[str]:
    """What a chart does not draw, by row: "Bordeaux : Personnes inscrites < 5, Taux d'absence s"."""
    rows: dict[str, list[str]] = {}
    for row, label, cell in cells:
        if _plain(cell) is None:
            rows.setdefault(row, []).append(f"{label} {cell.text}")
    return [f"{row} : {', '.join(items)}" for row, items in rows.items()]


def _positive(scope: ScopeFigures, horizon: str, footnote: int) -> _Value:
    """Emploi, formation or another positive exit at the horizon: a sum of shown counts, else hidden ("s")."""
    cells = [scope.figure(f"outcomes.{horizon}.{k}").cell for k in POSITIVE if _has(scope, f"outcomes.{horizon}.{k}")]
    label = f"Issue positive {_at(horizon)}"
    if len(cells) != len(POSITIVE) or any(_plain(c) is None for c in cells):
        return _Value(label, "s", True, footnote)
    return _Value(label, str(sum(int(c.value or 0) for c in cells)), False, footnote)


# --- every scope's tables -----------------------------------------------------------------------------------------

def _scope(scope: ScopeFigures, note: _Notes) -> _Scope:
    tables = []
    for section in scope.sections:
        rows = tuple(_value(f, note) for f in section.figures)
        crosses = []
        for dimension in _dimensions(section):
            having = [f for f in section.figures if f.breakdown(dimension) is not None]
            first = having[0].breakdown(dimension)
            assert first is not None
            columns = (*(p.label for p in first.parts), "Ensemble")
            crosses.append(_Cross(first.label, note(first.footnote), columns, tuple(
                (_value(f, note), (*(_cell(p.label, p.cell) for p in _parts(f, dimension)), _value(f, note)))
                for f in having)))
        tables.append(_Table(section.title, rows, tuple(crosses)))
    return _Scope(scope.scope, scope.title, tuple(tables))


def _dimensions(section: Section) -> list[str]:
    seen: dict[str, None] = {}
    for figure in section.figures:
        for breakdown in figure.breakdowns:
            seen[breakdown.dimension] = None
    return list(seen)


def _parts(figure: Figure, dimension: str) -> Iterator[Any]:
    breakdown = figure.breakdown(dimension)
    return iter(breakdown.parts if breakdown else ())


# --- small helpers ------------------------------------------------------------------------------------------------

def _value(figure: Figure, note: _Notes, label: str | None = None) -> _Value:
    return _Value(label or figure.label, figure.cell.text, figure.cell.suppressed is not None, note(figure.footnote))


def _cell(label: str, cell: Cell) -> _Value:
    return _Value(label, cell.text, cell.suppressed is not None)


def _plain(cell: Cell) -> float | None:
    """What a chart may draw: the value, unless hidden or not computable."""
    return None if cell.suppressed is not None or cell.value is None else float(cell.value)


def _number(value: _Value) -> float | None:
    if value.hidden:
        return None
    try:
        return float(value.text.replace(" %", "").replace(",", "."))
    except ValueError:
        return None


def _has(scope: ScopeFigures, key: str) -> bool:
    return any(f.key == key for f in scope.figures())


def _section(scope: ScopeFigures, key: str) -> Section:
    return next(s for s in scope.sections if s.key == key)


def _horizons(scope: ScopeFigures) -> list[str]:
    """The follow-up horizons' keys ("1_mois", "90_jours"), in the report's order (shortest first)."""
    return [s.key.removeprefix("outcomes.") for s in scope.sections if s.key.startswith("outcomes.")]


def _at(horizon: str) -> str:
    """ "1_mois" → "à 1 mois", "7_5_jours" → "à 7,5 jours", "1_jours" → "à 1 jour"."""
    amount, unit = horizon.rsplit("_", 1)
    amount = amount.replace("_", ",")
    return f"à {amount} {'jour' if unit == 'jours' and amount == '1' else unit}"


def _short_names(titles: list[str]) -> list[str]:
    """Branch names for a chart's rows, without the words they all start with ("La Cravate Solidaire")."""
    words = [t.split() for t in titles]
    common = 0
    while len(titles) > 1 and all(len(w) > common + 1 for w in words) and len({w[common] for w in words}) == 1:
        common += 1
    return [" ".join(w[common:]) for w in words]


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " et " + items[-1] if items else ""
