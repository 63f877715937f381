"""The publishable view: what may leave a branch (funders, partners, the network's public figures).

Primary suppression: every count below the threshold (`[report] small_count`, 5 by default; zeros included,
since "none of the three women in training" says something of each of them) is shown "< 5". A rate or a
median is hidden ("s") when a count it is made of is hidden.

Secondary suppression, against differencing: wherever counts add up (the parts of a breakdown and their total,
the branches and the network, sessions booked = held + absent + cancelled + unknown, situations known = the
sum of the categories, a rate's numerator and the count it repeats), a relation with exactly one hidden count
would give it away, so one more count of that relation is hidden ("s"): what a rate or median is made of
first, else the smallest count; until no relation has exactly one. A rate shows its numerator and denominator
together or not at all. Differencing between reports of different periods is not covered (docs/report.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from hub.report.definitions import notes
from hub.report.figures import ROLES
from hub.report.groups import UNKNOWN
from hub.report.model import NETWORK, Cell, Figure, Ref, Report, ScopeFigures, Suppression

__all__ = ["publishable"]

_Key = tuple[str, Ref]  # (scope, ref)
_Relation = tuple[_Key, tuple[_Key, ...]]


def publishable(report: Report, threshold: int | None = None) -> Report:
    """The report with small counts hidden, and whatever would reveal them (`threshold`: the report's own).

    The branches-to-network sums are only protected when the report holds them all: for one branch's
    publishable figures, compute the whole network, make it publishable, then `.only(branch)` (`hub report
    --branch` does), so that the branch's report and the network's hide the same cells."""
    if report.view == "publishable":
        return report
    limit = report.small_count if threshold is None else threshold
    values = dict(_counts(report))
    hidden: dict[_Key, Suppression] = {k: "small" for k, v in values.items() if v < limit}
    relations: list[_Relation] = [((s.scope, total), tuple((s.scope, p) for p in parts))
                 for s in report.scopes for total, parts in s.relations] + _across(report, values)
    pairs: list[tuple[_Key, _Key]] = [
        ((s.scope, (f.key, d, p, "numerator")), (s.scope, (f.key, d, p, "denominator")))
        for s in report.scopes for f in s.figures() if f.kind == "rate"
        for d, p in [(None, None), *((b.dimension, part.key) for b in f.breakdowns for part in b.parts)]]
    changed = True
    while changed:
        changed = False
        for numerator, denominator in pairs:  # a rate shows both or neither
            if (numerator in hidden) != (denominator in hidden):
                hidden[denominator if numerator in hidden else numerator] = "secondary"
                changed = True
        for total, parts in relations:
            members = [m for m in (*parts, total) if m in values]
            shown = [m for m in members if m not in hidden]
            if len(members) - len(shown) == 1 and shown:
                hidden[min(shown, key=lambda m: _cost(m, values))] = "secondary"
                changed = True
    scopes = tuple(_scope(s, hidden, limit) for s in report.scopes)
    return replace(report, view="publishable", small_count=limit, scopes=scopes, notes=notes("publishable", limit))


def _cost(key: _Key, values: dict[_Key, int]) -> tuple[int, int]:
    """Which count to hide in addition: what a rate or a median is made of before a count shown for itself,
    then the smallest (the first of equals: a part before the total)."""
    return (1 if key[1][3] == "value" else 0, values[key])


def _refs(figure: Figure) -> Iterable[tuple[Ref, int | None]]:
    """Every count of a figure: a count's value, a rate's numerator and denominator, a median's number of values."""
    cells = [(None, None, figure.cell)] + [(b.dimension, p.key, p.cell) for b in figure.breakdowns for p in b.parts]
    for dimension, part, cell in cells:
        for role in ROLES[figure.kind]:
            value = int(cell.value or 0) if role == "value" else getattr(cell, role)
            yield (figure.key, dimension, part, role), value


def _counts(report: Report) -> Iterable[tuple[_Key, int]]:
    for scope in report.scopes:
        for figure in scope.figures():
            for ref, value in _refs(figure):
                yield (scope.scope, ref), int(value or 0)


def _across(report: Report, values: dict[_Key, int]) -> list[_Relation]:
    """The network's counts are the sums of the branches' (each person belongs to one branch). A branch that
    does not collect sex or age has no such breakdown: its people are all in the network's 'non renseigné',
    which is then the sum of the other branches' and of that branch's totals."""
    branches = [s.scope for s in report.scopes if s.scope != NETWORK]
    if not any(s.scope == NETWORK for s in report.scopes) or not branches:
        return []
    out: list[_Relation] = []
    for (scope, ref), _ in values.items():
        if scope != NETWORK:
            continue
        figure, dimension, part, role = ref
        parts: list[_Key] = []
        whole: Ref = (figure, None, None, role)
        for branch in branches:
            if (branch, ref) in values:
                parts.append((branch, ref))
            elif dimension in ("sex", "age_band") and part == UNKNOWN and (branch, whole) in values:
                parts.append((branch, whole))
        out.append(((NETWORK, ref), tuple(parts)))
    return out


def _scope(scope: ScopeFigures, hidden: dict[_Key, Suppression], limit: int) -> ScopeFigures:
    def cell(figure: Figure, dimension: str | None, part: str | None, original: Cell) -> Cell:
        keys = [(scope.scope, (figure.key, dimension, part, role)) for role in ROLES[figure.kind]]
        why = [hidden[k] for k in keys if k in hidden]
        if not why:
            return original
        reason: Suppression = "small" if "small" in why else "secondary"
        text = f"< {limit}" if figure.kind == "count" and reason == "small" else "s"
        return Cell(None, text, None, None, reason)

    sections = []
    for section in scope.sections:
        figures = []
        for figure in section.figures:
            breakdowns = tuple(replace(b, parts=tuple(replace(p, cell=cell(figure, b.dimension, p.key, p.cell))
                                                      for p in b.parts)) for b in figure.breakdowns)
            figures.append(replace(figure, cell=cell(figure, None, None, figure.cell), breakdowns=breakdowns))
        sections.append(replace(section, figures=tuple(figures)))
    return replace(scope, sections=tuple(sections))
