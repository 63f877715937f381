"""What a report is: typed, frozen, and laid out the way a page shows it, so the JSON, the CSV and (later) the
HTML report, the monthly mail and the live page all walk the same structure:

    Report
      .scopes: ScopeFigures (one per branch, then the network)
        .title, .sections: Section (.title, .figures: Figure)
          Figure: .label, .kind (count | rate | median), .cell: Cell (.value, .text), .footnote,
                  .breakdowns: Breakdown (.label, .parts: Part (.label, .cell))
        .footnotes: every definition its figures use, in order
      .notes: how to read it (small counts, who may see it)

A report holds counts of people and sessions, never a name, a contact or an id of a person.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

__all__ = ["NETWORK", "Breakdown", "Cell", "Figure", "Kind", "Part", "Ref", "Relation", "Report", "Role",
           "ScopeFigures", "Section", "Suppression", "View"]

NETWORK = "reseau"
"""The scope id of the whole network (a branch id never has an accent nor is it this word by convention)."""
Kind = Literal["count", "rate", "median"]
View = Literal["raw", "publishable"]
Suppression = Literal["small", "secondary"]
Role = Literal["value", "numerator", "denominator"]
Ref = tuple[str, str | None, str | None, Role]
"""A count of a scope: (figure key, breakdown dimension or None, part key or None, which number of the cell)."""
Relation = tuple[Ref, tuple[Ref, ...]]
"""total = sum of parts: a relation a reader could use to deduce a hidden count from the others."""


@dataclass(frozen=True)
class Cell:
    """One number of the report, and its text as shown.

    `value`: a count (int), a rate in percent (one decimal) or a median in days; None when there is nothing to
    compute (a rate out of zero, a median of nobody) or the cell is hidden. `numerator`/`denominator`: what a
    rate is made of (a median's denominator: how many values). `suppressed`: "small" (a count below the
    threshold, shown "< 5"), "secondary" (hidden so that a small count cannot be deduced from the others,
    shown "s"); None when shown."""

    value: int | float | None
    text: str
    numerator: int | None = None
    denominator: int | None = None
    suppressed: Suppression | None = None


@dataclass(frozen=True)
class Part:
    """One group of a breakdown: `key` is stable (france_travail, F, moins_de_25, avec_rappel...)."""

    key: str
    label: str
    cell: Cell


@dataclass(frozen=True)
class Breakdown:
    """A figure split by one dimension (referrer, sex, age_band, reminder); its parts add up to the figure
    (for a rate: its numerators and denominators do)."""

    dimension: str
    label: str
    footnote: str
    parts: tuple[Part, ...]

    def part(self, key: str) -> Cell:
        return next(p.cell for p in self.parts if p.key == key)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    kind: Kind
    cell: Cell
    footnote: str
    breakdowns: tuple[Breakdown, ...] = ()

    def breakdown(self, dimension: str) -> Breakdown | None:
        return next((b for b in self.breakdowns if b.dimension == dimension), None)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class ScopeFigures:
    """The figures of one branch, or of the network (`scope` = NETWORK)."""

    scope: str
    title: str
    sections: tuple[Section, ...]
    relations: tuple[Relation, ...] = field(default=(), repr=False)
    """The additive relations between its counts (breakdowns, sessions booked = held + absent + cancelled +
    unknown...), for the small-count rule; not shown."""

    def figures(self) -> Iterator[Figure]:
        for section in self.sections:
            yield from section.figures

    def figure(self, key: str) -> Figure:
        found = next((f for f in self.figures() if f.key == key), None)
        if found is None:
            raise KeyError(key)
        return found

    @property
    def footnotes(self) -> tuple[str, ...]:
        """Every definition used by this scope's figures and breakdowns, once each, in the order they appear."""
        seen: dict[str, None] = {}
        for figure in self.figures():
            seen[figure.footnote] = None
            for breakdown in figure.breakdowns:
                seen[breakdown.footnote] = None
        return tuple(seen)


@dataclass(frozen=True)
class Report:
    """The key figures of the period [start, end) (end excluded), as known at `as_of`."""

    start: date
    end: date
    as_of: datetime
    view: View
    small_count: int
    scopes: tuple[ScopeFigures, ...]
    notes: tuple[str, ...] = ()

    def scope(self, scope: str) -> ScopeFigures:
        found = next((s for s in self.scopes if s.scope == scope), None)
        if found is None:
            raise KeyError(scope)
        return found

    def only(self, scope: str) -> Report:
        """The same report with one scope (a branch's own figures, suppressed as in the whole report)."""
        return Report(self.start, self.end, self.as_of, self.view, self.small_count, (self.scope(scope),),
                      self.notes)
