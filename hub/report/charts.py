"""The HTML report's charts: horizontal bars drawn as SVG on the server by pygal, made to sit inline in one
self-contained page.

Why pygal (Kozea, LGPL-3.0+, pure Python, one small dependency): it writes SVG natively, so a chart is text in
the page (no image files, no browser-side script, prints sharp at any size), it needs no compiled wheels nor a
display, is 1.3 MB installed, imports in about 50 ms and draws a chart in about 5; matplotlib, the fallback
weighed, brings numpy, Pillow and fonttools and writes SVG text as paths by default. It is imported only when a
chart is drawn. What it does that a self-contained, printable, reproducible page cannot have is undone here,
once:

- a random id per chart (its CSS is scoped by it) → an id made from the chart's name;
- comments with the date of the day and the project's web address, a `<script>` with the chart's options and
  the tooltip layer it drives → removed: the page carries no script at all and no network address;
- the same ids on every chart's legend → removed;
- an English "No data" → French;
- no room for a last legend row that is not full → made;
- no accessible name → `role="img"`, a `<title>` and a `<desc>` the root points to with `aria-labelledby`.

Same data, same bytes. Colours: the Okabe-Ito palette (safe for the common colour-vision deficiencies); every
other series is hatched, so bars stay apart in black and white. A value that is hidden (a small count, a
secret) or not computable is given to pygal as None: no bar is drawn; the caller writes its text ("< 5")
beside the chart, in the chart's list of what is not drawn and in the table that repeats every number.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["PALETTE", "Series", "bar_chart"]

PALETTE = ("#0072B2", "#009E73", "#56B4E9", "#E69F00", "#E0E0E0", "#D55E00", "#CC79A7", "#F0E442")
"""Okabe & Ito (2008), "Color Universal Design": blue, bluish green, sky blue, orange, a light grey (the
"other" of five), vermilion, reddish purple, yellow. In this order the solid ones (1st, 3rd, 5th) are far apart
in grey levels and the hatched ones (2nd, 4th) lean opposite ways; every bar has a dark outline."""
FONT = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif"
"""The page's own fonts, none downloaded."""
WIDTH = 720
"""The charts' drawing width, about A4's printable width in CSS pixels: text sizes read as written."""
_HATCH = ('<pattern id="{id}" patternUnits="userSpaceOnUse" width="7" height="7" patternTransform="rotate({angle})">'
          '<rect width="7" height="7" fill="{color}"/><line x1="0" y1="0" x2="0" y2="7" stroke="#ffffff" '
          'stroke-width="2.5"/></pattern>')
_SVG_NS = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Series:
    """One colour of a chart: a value per row (None: nothing drawn), in the order of the chart's labels, and
    the text printed at the end of each bar (the report's own, "27,3 %"; default: the number)."""

    name: str
    values: tuple[float | None, ...]
    texts: tuple[str, ...] = ()


def bar_chart(name: str, title: str, description: str, labels: Sequence[str], series: Sequence[Series], *,
              percent: bool = False, stacked: bool = False, palette: Sequence[str] = PALETTE) -> str:
    """Horizontal bars, one row per label (grouped by series, or stacked), as an SVG element to put inline.

    `name` makes the chart's ids (unique in the page); `title` and `description` are its accessible name and
    description (what it shows, in a sentence). `percent`: values are percentages, the axis runs 0–100 %."""
    import pygal
    from pygal.style import Style

    chart_id = f"graphique-{_slug(name)}"
    colors = []
    defs = []
    for i in range(len(series)):
        color = palette[i % len(palette)]
        if i % 2 and len(series) > 1:
            defs.append(_HATCH.format(id=f"{chart_id}-motif-{i}", color=color, angle=45 if i % 4 == 1 else -45))
            colors.append(f"url(#{chart_id}-motif-{i})")
        else:
            colors.append(color)
    style = Style(
        colors=tuple(colors), font_family=FONT, background="#ffffff", plot_background="#ffffff",
        foreground="#1a1a1a", foreground_strong="#000000", foreground_subtle="#6b6b6b", opacity="1",
        opacity_hover="1", transition="0s", label_font_size=13, major_label_font_size=13, legend_font_size=13,
        value_font_size=12, no_data_font_size=16, value_colors=("#1a1a1a",) * len(series),
        guide_stroke_color="#c8c8c8", major_guide_stroke_color="#c8c8c8")
    rows = len(labels) * (1 if stacked or len(series) == 1 else len(series))
    legend, columns = len(series) > 1, min(len(series), 3)
    height = 40 + rows * 24 + len(labels) * 10 + (20 + 26 * math.ceil(len(series) / 3) if legend else 0)
    top = max((v for s in series for v in s.values if v is not None), default=0.0)
    if stacked:
        top = max((sum(s.values[i] or 0 for s in series) for i in range(len(labels))), default=0.0)
    ticks = _ticks(top, percent)
    value_formatter = _percent if percent else _count
    kind = pygal.HorizontalStackedBar if stacked else pygal.HorizontalBar
    chart = kind(
        style=style, width=WIDTH, height=height, explicit_size=False, disable_xml_declaration=True, js=[],
        show_legend=legend, legend_at_bottom=True, legend_at_bottom_columns=columns,
        legend_box_size=14, truncate_label=-1, truncate_legend=-1, margin=8, spacing=12,
        y_labels=[{"value": t, "label": f"{t} %" if percent else str(t)} for t in ticks],
        show_minor_y_labels=True, show_x_guides=False, show_y_guides=True,
        print_values=not stacked, print_values_position="top", print_zeroes=True,
        value_formatter=value_formatter, no_data_text="Aucun chiffre à dessiner",
        range=(0, ticks[-1]), css=["file://style.css", "file://graph.css",
                                   f"inline:#chart-{chart_id} .text-overlay text.value {{ text-anchor: start }} "
                                   f"#chart-{chart_id} .series rect, #chart-{chart_id} .legends rect "
                                   "{ stroke: #1a1a1a; stroke-width: 0.75 }"])
    chart.uuid = chart_id  # pygal's root id is "chart-" + this: a fixed one keeps the bytes stable
    chart.defs = defs
    chart.x_labels = list(reversed(labels))  # pygal draws the first row at the bottom: read from the top
    for s in series:
        texts = s.texts or tuple(value_formatter(v) if v is not None else "" for v in s.values)
        chart.add(s.name, [{"value": v, "formatter": _fixed(t)} for v, t in zip(reversed(s.values), reversed(texts),
                                                                                 strict=True)])
    # pygal makes room for `len // columns` rows of legend, not for a last row that is not full
    missing_rows = math.ceil(len(series) / columns) - len(series) // columns if legend else 0
    chart.add_xml_filter(_tidy(f"chart-{chart_id}", title, description, missing_rows * 21))
    svg = chart.render(is_unicode=True)
    assert isinstance(svg, str)
    return svg


def _tidy(chart_id: str, title: str, description: str, extra_height: int) -> Callable[[ET.Element], ET.Element]:
    """No comment, no script nor what only it reads (tooltips), no id but the chart's own (pygal gives every
    chart's legend the same ones), an accessible name and description, and the room a legend needs."""

    def apply(root: ET.Element) -> ET.Element:
        for parent in list(root.iter()):
            for child in list(parent):
                tag = child.tag.removeprefix(_SVG_NS) if isinstance(child.tag, str) else ""  # "": a comment
                if tag in ("", "script") or (tag == "desc" and child.get("class")) or \
                        "tooltip-overlay" in child.get("class", ""):  # what the tooltips' script read
                    parent.remove(child)
            if parent.get("id", "").startswith("activate-serie-"):
                del parent.attrib["id"]
        if extra_height:
            x, y, width, height = root.get("viewBox", "0 0 0 0").split()
            root.set("viewBox", f"{x} {y} {width} {float(height) + extra_height:g}")
        root.set("role", "img")
        root.set("aria-labelledby", f"{chart_id}-titre {chart_id}-desc")
        heading = next((c for c in root if c.tag in ("title", f"{_SVG_NS}title")), None)
        if heading is None:
            heading = ET.Element("title")
            root.insert(0, heading)
        heading.text = title
        heading.set("id", f"{chart_id}-titre")
        desc = ET.Element("desc", {"id": f"{chart_id}-desc"})
        desc.text = description
        root.insert(list(root).index(heading) + 1, desc)
        return root

    return apply


def _ticks(top: float, percent: bool) -> list[float]:
    """The value axis' graduations: 0–100 by 20 for percentages; else whole numbers 1, 2 or 5 × 10ⁿ apart,
    at most six steps."""
    if percent:
        return [0, 20, 40, 60, 80, 100]
    step = next(m * 10**n for n in range(12) for m in (1, 2, 5) if max(top, 1) / (m * 10**n) <= 6)
    return list(range(0, int(math.ceil(max(top, 1) / step) * step) + 1, step))


def _fixed(text: str) -> Callable[[object], str]:
    return lambda _: text


def _count(value: float) -> str:
    return f"{value:g}"


def _percent(value: float) -> str:
    return f"{value:.1f} %".replace(".", ",")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "graphique"
