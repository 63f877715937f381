"""A1 notation: the few shapes this connector writes and reads (used by the client side and the sandbox).

Ranges are 0-based, end-exclusive internally; None means "open on that side" ('A2:M' has no last row,
'2:5001' no columns). Sheet titles are quoted when they hold anything but letters, digits and '_'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PART = re.compile(r"^([A-Za-z]*)(\d*)$")
_PLAIN_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
        i, title = 1, []
        while i < len(text):
            if text[i] == "'":
                if text[i + 1:i + 2] == "'":
                    title.append("'")
                    i += 2
                    continue
                break
            title.append(text[i])
            i += 1
        rest = text[i + 1:]
        return "".join(title), rest[1:] if rest.startswith("!") else rest
    if "!" in text:
        title, cells = text.split("!", 1)
        return title, cells
    return None, text


def parse(text: str) -> A1:
    """Parse a range; a bare word that is not a cell reference is a sheet title (the whole sheet)."""
    sheet, cells = split_sheet(text)
    if not cells:
        return A1(sheet)
    if sheet is None and ":" not in cells and not re.match(r"^[A-Za-z]{1,3}\d+$", cells):
        return A1(cells)  # a bare sheet title
    parts = cells.split(":")
    matches = [_PART.match(p) for p in parts]
    if len(parts) > 2 or any(m is None for m in matches) or not parts[0]:
        if sheet is None:
            return A1(text)
        raise ValueError(f"Unable to parse range: {text}")
    c_a, r_a = matches[0].group(1), matches[0].group(2)  # type: ignore[union-attr]
    c_b, r_b = (matches[1].group(1), matches[1].group(2)) if len(parts) == 2 else ("", "")  # type: ignore[union-attr]
    row0 = int(r_a) - 1 if r_a else 0
    col0 = col_index(c_a) if c_a else 0
    if len(parts) == 1:
        return A1(sheet, row0, col0, row0 + 1 if r_a else None, col0 + 1 if c_a else None)
    row1 = int(r_b) if r_b else None
    col1 = col_index(c_b) + 1 if c_b else None
    if not r_a and not r_b:
        row1 = None
    if not c_a and not c_b:
        col1 = None
    return A1(sheet, row0, col0, row1, col1)
