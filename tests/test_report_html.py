"""`hub report --format html` (issue 15, point 3): the scripted year of tests/test_report.py gives exactly the
expected figures in the page's tables, every definition is there, the page needs no network, a hidden cell is
written and never drawn, a branch with no data renders, the same report gives the same bytes, and the page is
built for a screen reader (one h1, headed tables, charts with a name).
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hub.app import Hub
from hub.report import Report, compute, publishable
from hub.report.charts import Series, bar_chart
from hub.report.html import render_html
from hub.testing import RecordingSink
from tests.test_report import BORDEAUX, LYON, NETWORK, Year, report_cli, year  # noqa: F401  (year: the fixture)

ROOT = Path(__file__).resolve().parents[1]
BAR = re.compile(r'<rect [^>]*class="rect reactive tooltip-trigger"')
Tables = dict[tuple[str, str, str], dict[tuple[str, str], str]]


class _Tables(HTMLParser):
    """Every table of the page: (scope, section heading, caption) -> (row heading, column heading) -> text.
    The scope is the `perimetre-<scope>` section the table is in ("" before the first); footnote marks left out."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: Tables = {}
        self.scope = self.heading = self.caption = ""
        self.columns: list[str] = []
        self.row: list[str] = []
        self.text: list[str] | None = None
        self.in_sup = self.in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section" and (found.get("id") or "").startswith("perimetre-"):
            self.scope = (found["id"] or "").removeprefix("perimetre-")
        elif tag == "sup":
            self.in_sup = True
        elif tag == "table":
            self.caption, self.columns = "", []
        elif tag == "thead":
            self.in_head = True
        elif tag == "tr":
            self.row = []
        elif tag in ("h3", "caption", "th", "td"):
            self.text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "sup":
            self.in_sup = False
        elif tag == "thead":
            self.in_head = False
        elif tag in ("h3", "caption") and self.text is not None:
            text = " ".join("".join(self.text).split())
            if tag == "h3":
                self.heading = text
            else:
                self.caption = text
            self.text = None
        elif tag in ("th", "td") and self.text is not None:
            self.row.append(" ".join("".join(self.text).split()))
            self.text = None
        elif tag == "tr":
            if self.in_head:
                self.columns = self.row
            elif self.row:
                cells = self.tables.setdefault((self.scope, self.heading, self.caption), {})
                for column, text in zip(self.columns[1:], self.row[1:], strict=True):
                    cells[(self.row[0], column)] = text

    def handle_data(self, data: str) -> None:
        if self.text is not None and not self.in_sup:
            self.text.append(data)


def tables_of(page: str) -> Tables:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def shown(page: str, report: Report, scope: str, key: str) -> str:
    """What the page's tables say for 'figure' or 'figure dimension:part' (tests/test_report.py's keys)."""
    figure_key, _, group = key.partition(" ")
    scope_figures = report.scope(scope)
    section = next(s for s in scope_figures.sections if any(f.key == figure_key for f in s.figures))
    figure = scope_figures.figure(figure_key)
    tables = tables_of(page)
    if not group:
        return tables[(scope, section.title, "")][(figure.label, "Valeur")]
    dimension, part = group.split(":")
    breakdown = figure.breakdown(dimension)
    assert breakdown is not None, key
    label = next(p.label for p in breakdown.parts if p.key == part)
    caption = f"{section.title} : {breakdown.label.lower()}"
    return tables[(scope, section.title, caption)][(figure.label, label)]


def svgs(page: str) -> dict[str, str]:
    """Each chart of the page by its id: its whole <svg> element."""
    return {m.group(1): m.group(0) for m in re.finditer(r'<svg [^>]*id="([^"]+)".*?</svg>', page, re.S)}


@pytest.fixture(scope="module")
def raw(year: Year) -> Report:  # noqa: F811  (the imported fixture)
    return compute(year.hub.store, year.hub.config, date(2026, 1, 1), date(2027, 1, 1), now=year.clock.now)


def test_the_scripted_year_gives_exactly_the_expected_figures_in_html(year: Year, raw: Report,  # noqa: F811
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "bilan.html"
    result = report_cli(year.hub, "--from", "2026-01-01", "--to", "2026-12-31", "--raw", "--format", "html",
                        "--output", str(out))
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "réservé à l'équipe" in result.output
    assert os.stat(out).st_mode & 0o777 == 0o600
    page = out.read_text(encoding="utf-8")
    for scope, expected in (("lyon", LYON), ("bordeaux", BORDEAUX), ("reseau", NETWORK)):
        assert {k: shown(page, raw, scope, k) for k in expected} == expected, scope
    # and every figure of every scope is in its table, with the report's own text
    for scope in raw.scopes:
        for figure in scope.figures():
            assert shown(page, raw, scope.scope, figure.key) == figure.cell.text
    assert "Du 1er janvier 2026 au 31 décembre 2026" in page and "Interne — ne pas diffuser" in page
    assert "Testperson" not in page and "Mission Locale de Lyon" not in page  # counts only, as the JSON


def test_every_definition_is_a_numbered_note_and_every_figure_points_to_its_own(raw: Report) -> None:
    page = render_html(raw)
    notes = dict(re.findall(r'<li id="def-(\d+)" value="\d+">([^<]*)</li>', page))
    texts = {_unescape(text): number for number, text in notes.items()}
    for scope in raw.scopes:
        for footnote in scope.footnotes:
            assert footnote in texts, footnote[:60]
        for figure in scope.figures():
            row = re.search(rf'{re.escape(_escape(figure.label))}<sup class="renvoi"><a href="#def-(\d+)"', page)
            assert row and notes[row.group(1)] == _escape(figure.footnote), figure.key
    for note in raw.notes:
        assert _escape(note) in page


def test_the_page_needs_no_network_and_has_no_script(raw: Report) -> None:
    page = render_html(publishable(raw), banner='<p>Connecté·e : <a href="/tableau/sortie">sortir</a></p>')
    namespaces = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    addresses = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>)]*", page))
    assert addresses <= namespaces, addresses - namespaces
    lowered = page.lower()
    for outside in ("<script", "<link", "@import", "<iframe", "<img", "javascript:"):
        assert outside not in lowered, outside
    assert not re.search(r"url\((?!#)", page)  # only the charts' own hatching patterns
    assert '<p>Connecté·e : <a href="/tableau/sortie">sortir</a></p>' in page  # the banner, not escaped
    assert page.index("Connecté·e") < page.index("<h1>")


def test_the_page_is_built_for_a_screen_reader(raw: Report) -> None:
    page = render_html(raw)
    assert re.search(r'<html lang="fr">', page) and page.count("<h1") == 1
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "ids must be unique in the page"
    assert not re.search(r"<th(?=[ >])(?![^>]*scope=)[^>]*>", page), "every header cell says what it heads"
    charts = svgs(page)
    assert len(charts) == 4  # the funnel, the situations, the branches' counts and their rates
    for chart_id, svg in charts.items():
        opening = svg[:svg.index(">")]
        assert 'role="img"' in opening, chart_id
        labelled = re.search(r'aria-labelledby="([^"]+)"', opening)
        assert labelled, chart_id
        for ref in labelled.group(1).split():
            text = re.search(rf'<(title|desc) id="{re.escape(ref)}">([^<]+)</\1>', svg)
            assert text and text.group(2).strip(), (chart_id, ref)
    funnel = charts["chart-graphique-parcours"]
    assert "Personnes inscrites : 12" in funnel and "Issue positive à 1 mois : 6" in funnel  # its <desc>
    assert page.index("chart-graphique-parcours") < page.index("<caption>Du premier contact")  # then its table


def test_a_hidden_cell_is_written_and_never_drawn(raw: Report) -> None:
    report = publishable(raw)
    page = render_html(report)
    funnel = svgs(page)["chart-graphique-parcours"]
    # the network's steps: 12 registered, 14 booked, 8 held, 6 known, and "s" for the positive outcomes (their
    # categories are below 5): four bars, the fifth row written out
    assert len(BAR.findall(funnel)) == 4
    assert ">Issue positive à 1 mois : s<" in funnel and ">12<" in funnel and ">6<" in funnel
    tables = tables_of(page)
    assert tables[("", "Situation connue à chaque horizon de suivi", "Situation connue à chaque horizon de suivi "
                   ": les chiffres")][("Emploi durable", "À 1 mois")] == "< 5"
    assert "chart-graphique-situations" not in page  # every category hidden: no chart, no bar at all...
    assert "Pas de graphique" in page and "à 1 mois : Emploi durable &lt; 5" in page  # ...and said why
    branches = tables[("", "Les antennes côte à côte", "Les antennes côte à côte : les chiffres")]
    assert branches[("Bordeaux", "Personnes inscrites")] == "< 5" and branches[("Lyon", "Personnes inscrites")] == "s"
    assert shown(page, report, "bordeaux", "registered") == "< 5"
    assert '<td class="nombre masque">&lt; 5</td>' in page
    assert "Diffusable" in page and "Interne" not in page


def test_a_chart_draws_no_bar_for_a_missing_value_and_prints_the_report_s_text() -> None:
    svg = bar_chart("essai", "Essai", "Trois lignes, une masquée.", ["Lyon", "Bordeaux", "Paris"],
                    [Series("Personnes inscrites", (12.0, None, 7.0), ("12", "< 5", "7")),
                     Series("Taux d'absence", (25.0, 33.3, None), ("25,0 %", "33,3 %", "s"))])
    assert len(BAR.findall(svg)) == 4
    values = re.findall(r'class="value">([^<]*)<', svg)
    assert sorted(values) == sorted(["12", "7", "25,0 %", "33,3 %"]) and "< 5" not in values and "s" not in values
    assert "Aucun chiffre" not in svg and "No data" not in svg and "pygal" not in svg.lower().replace(
        "pygal-chart", "")


def test_a_branch_with_no_data_renders(make_hub: Callable[..., Hub],
                                      register_plugin: Callable[[str, object], object],
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_plugin("carnet", RecordingSink())
    hub = make_hub({"paris": {"name": "Paris", "plugins": ["carnet"]}})
    hub.cycle()
    monkeypatch.chdir(tmp_path)
    for args, name in (([], "rapport-reseau-2026-02-01-2026-02-28.html"),
                       (["--raw"], "rapport-reseau-2026-02-01-2026-02-28-interne.html"),
                       (["--branch", "paris"], "rapport-paris-2026-02-01-2026-02-28.html")):
        result = report_cli(hub, "--format", "html", *args)
        assert result.exit_code == 0, result.output
        assert name in result.output  # written where the command runs, under a name that says what it holds
        page = (tmp_path / name).read_text(encoding="utf-8")
        assert os.stat(tmp_path / name).st_mode & 0o777 == 0o600
        assert "Paris" in page and "Du 1er février 2026 au 28 février 2026" in page
    raw_page = (tmp_path / "rapport-reseau-2026-02-01-2026-02-28-interne.html").read_text(encoding="utf-8")
    assert "<svg" not in raw_page and "Pas de graphique" in raw_page  # all zeros: nothing to draw, and said
    assert tables_of(raw_page)[("paris", "Inscriptions", "")][("Personnes inscrites", "Valeur")] == "0"


def test_the_same_report_gives_the_same_bytes(raw: Report, tmp_path: Path) -> None:
    first = render_html(raw, made=date(2027, 1, 15))
    assert render_html(raw, made=date(2027, 1, 15)) == first
    saved = tmp_path / "report.pickle"
    saved.write_bytes(pickle.dumps(raw))
    code = ("import pickle, sys; from datetime import date; from hub.report.html import render_html; "
            f"sys.stdout.write(render_html(pickle.loads(open({str(saved)!r}, 'rb').read()), made=date(2027, 1, 15)))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "7"})  # another process, other hashes
    assert other.stdout.decode("utf-8") == first
    assert "Établi le 15 janvier 2027" in first


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace(
        "'", "&#39;")


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)
