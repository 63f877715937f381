"""A1 notation: the few shapes this connector writes and reads (used by the client side and the sandbox).

Ranges are 0-based, end-exclusive internally; None means "open on that side" ('A2:M' has no last row,
'2:5001' no columns). Sheet titles are quoted when they hold anything but letters, digits and '_'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PART = re.compile(r"^([A-Za-z]*)(\d*)$")
_PLAIN_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CELL = re.compile(r"^[A-Za-z]{1,3}\d+$")


def col_letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(65 + rest) + out
    return out


def col_index(letters: str) -> int:
    value = 0
    for char in letters.upper():
        value = value * 26 + (ord(char) - 64)
    return value - 1


def quote_title(title: str) -> str:
    return title if _PLAIN_TITLE.match(title) else "'" + title.replace("'", "''") + "'"


@dataclass(frozen=True)
class A1:
    sheet: str | None
    row0: int = 0
    col0: int = 0
    row1: int | None = None
    col1: int | None = None

    def render(self) -> str:
        head = quote_title(self.sheet) + "!" if self.sheet is not None else ""
        rows_only = self.col0 == 0 and self.col1 is None
        cols_only = self.row0 == 0 and self.row1 is None
        if rows_only and cols_only:
            return quote_title(self.sheet) if self.sheet is not None else ""
        if rows_only:
            end = "" if self.row1 is None else str(self.row1)
            return f"{head}{self.row0 + 1}:{end}"
        start = col_letters(self.col0) + ("" if cols_only else str(self.row0 + 1))
        end = ("" if self.col1 is None else col_letters(self.col1 - 1)) + ("" if self.row1 is None else str(self.row1))
        return f"{head}{start}:{end}" if end else f"{head}{start}"


def split_sheet(text: str) -> tuple[str | None, str]:
    """("Sheet title" or None, cell part) of "'Réponses au formulaire 1'!A2:M"."""
    if text.startswith("'"):
        i, chars = 1, []
        while i < len(text):
            if text[i] == "'":
                if text[i + 1:i + 2] == "'":
                    chars.append("'")
                    i += 2
                    continue
                break
            chars.append(text[i])
            i += 1
        rest = text[i + 1:]
        return "".join(chars), rest[1:] if rest.startswith("!") else rest
    if "!" in text:
        title, cells = text.split("!", 1)
        return title, cells
    return None, text


def parse(text: str) -> A1:
    """Parse a range; a bare word that is not a cell reference is a sheet title (the whole sheet)."""
    sheet, cells = split_sheet(text)
    if not cells:
        return A1(sheet)
    if sheet is None and ":" not in cells and not _CELL.match(cells):
        return A1(cells)  # a bare sheet title
    ends = _ends(cells)
    if ends is None:
        if sheet is None:
            return A1(text)
        raise ValueError(f"Unable to parse range: {text}")
    if len(ends) == 1:
        return _one_end(sheet, *ends[0])
    return _two_ends(sheet, ends[0], ends[1])


def _ends(cells: str) -> list[tuple[str, str]] | None:
    """(column letters, row digits) of each end of 'B2:M', '2:5' or 'B2', either possibly empty; None when
    `cells` is no such range. Kept apart so `parse` reads as the decision between title, range and error."""
    parts = cells.split(":")
    if len(parts) > 2 or not parts[0]:
        return None
    ends: list[tuple[str, str]] = []
    for part in parts:
        match = _PART.match(part)
        if match is None:
            return None
        ends.append((match.group(1), match.group(2)))
    return ends


def _start(letters: str, digits: str) -> tuple[int, int]:
    """0-based (row, column) where a range starting at 'B2', 'B' or '2' starts: an absent part means the first."""
    return int(digits) - 1 if digits else 0, col_index(letters) if letters else 0


def _one_end(sheet: str | None, letters: str, digits: str) -> A1:
    """'B2' is one cell, 'B' one whole column, '2' one whole row."""
    row0, col0 = _start(letters, digits)
    return A1(sheet, row0, col0, row0 + 1 if digits else None, col0 + 1 if letters else None)


def _two_ends(sheet: str | None, start: tuple[str, str], end: tuple[str, str]) -> A1:
    """'A2:M' and the like: the end's absent row (or column) leaves the range open on that side."""
    row0, col0 = _start(*start)
    end_letters, end_digits = end
    row1 = int(end_digits) if end_digits else None
    col1 = col_index(end_letters) + 1 if end_letters else None
    return A1(sheet, row0, col0, row1, col1)
