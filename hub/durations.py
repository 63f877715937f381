"""Durations as staff write them in config files: "90s", "5m", "48h", "3d", "2w", "1 month", "6 mois".

Months are calendar months (a follow-up "3 months" after 15 January is due on 15 April), so they are kept
apart from fixed lengths of time.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600, "heure": 3600, "heures": 3600,
    "d": 86400, "day": 86400, "days": 86400, "j": 86400, "jour": 86400, "jours": 86400,
    "w": 604800, "week": 604800, "weeks": 604800, "semaine": 604800, "semaines": 604800,
    "y": 365 * 86400, "year": 365 * 86400, "years": 365 * 86400, "an": 365 * 86400, "ans": 365 * 86400,
}
_MONTHS = {"month", "months", "mo", "mois"}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")


@dataclass(frozen=True)
class Offset:
    """A schedule offset: whole calendar months, or a fixed number of seconds."""

    text: str
    months: int = 0
    seconds: float = 0

    def after(self, when: datetime) -> datetime:
        return add_months(when, self.months) + timedelta(seconds=self.seconds)

    def before(self, when: datetime) -> datetime:
        return add_months(when, -self.months) - timedelta(seconds=self.seconds)


@functools.lru_cache(maxsize=256)
def parse_offset(text: str) -> Offset:
    """Cached: the schedule's offsets are parsed for every stored booking (a config string, never personal)."""
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration; write e.g. '48h', '30m', '3d' or '3 months'")
    number, unit = float(match.group(1)), match.group(2).lower()
    if unit in _MONTHS:
        if number != int(number):
            raise ValueError(f"{text!r}: months must be whole")
        return Offset(text=text.strip(), months=int(number))
    if unit not in _UNITS:
        raise ValueError(f"{text!r}: unknown unit {unit!r}; use s, m, h, d, w or months")
    return Offset(text=text.strip(), seconds=number * _UNITS[unit])


def parse_seconds(value: Any) -> float:
    """A fixed duration in seconds, from a number (seconds) or a string such as '5m'."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    offset = parse_offset(str(value))
    if offset.months:
        raise ValueError(f"{value!r}: use a fixed duration here (s, m, h, d), not months")
    return offset.seconds


def add_months(when: datetime, months: int) -> datetime:
    if not months:
        return when
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


Seconds = Annotated[float, BeforeValidator(parse_seconds)]
"""A pydantic field type for intervals written as 300 or '5m'."""
