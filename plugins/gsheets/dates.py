"""Sheets date-time serial numbers <-> aware datetimes.

Values are read with dateTimeRenderOption=SERIAL_NUMBER ("days since 1899-12-30", fraction = time of day),
so the sheet's display locale never matters; the wall time is read in the branch's time zone.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

EPOCH = datetime(1899, 12, 30)
_TEXT_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                 "%Y-%m-%d %H:%M", "%Y-%m-%d", "%m/%d/%Y %H:%M:%S")
_SERIAL_RANGE = (20_000, 80_000)  # 1954..2119: anything else is not a plausible answer date


def to_serial(when: datetime, zone: ZoneInfo) -> float:
    local = when.astimezone(zone).replace(tzinfo=None)
    return round((local - EPOCH) / timedelta(days=1), 8)


def from_serial(value: float, zone: ZoneInfo) -> datetime:
    naive = EPOCH + timedelta(days=value)
    # serials carry float noise: round to the second Forms records
    naive = (naive + timedelta(microseconds=500_000)).replace(microsecond=0)
    return naive.replace(tzinfo=zone)


def parse_cell_time(value: Any, zone: ZoneInfo) -> datetime | None:
    """A timestamp cell: a serial number, or (typed by hand) a French/ISO date text; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return from_serial(float(value), zone) if _SERIAL_RANGE[0] <= value <= _SERIAL_RANGE[1] else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = re.sub(r"\s+", " ", value.strip())
    for fmt in _TEXT_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    return None
