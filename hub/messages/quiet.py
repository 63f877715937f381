"""Quiet hours: no message to a candidate at night, in the branch's own time zone.

A window such as "21:00-08:00" wraps midnight; "12:00-14:00" does not. A message due inside the window waits
for its end; the computation is done on local wall-clock times, so a daylight-saving change moves nothing.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["next_allowed", "parse_window"]


def parse_window(text: str) -> tuple[time, time]:
    start, end = (time.fromisoformat(part.strip()) for part in text.split("-", 1))
    return start, end


def _inside(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    return start <= local < end if start < end else (local >= start or local < end)


def next_allowed(when: datetime, zone: ZoneInfo, window: str) -> datetime:
    """`when` itself, or the end of the quiet window it falls in (as an aware UTC-comparable datetime)."""
    start, end = parse_window(window)
    local = when.astimezone(zone)
    if not _inside(local.time(), start, end):
        return when
    day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)
