"""How `values.append` finds the table it appends to, as Google does it.

Google's reference: the range is "used to search for existing data and find a 'table' within that range.
Values will be appended to the next row of the table, starting with the first column of the table"
(https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.values/append,
https://developers.google.com/sheets/api/guides/values#append_values). The table is found from the data,
not from the range given: users see rows shifted right when the columns left of the data are blank
(https://github.com/burnash/gspread/issues/537) and rows landing under a title instead of under the data
when something sits above the header with a blank row between (https://github.com/burnash/gspread/issues/828).
The fake reproduces both, so a connector that appends cannot pass a test where staff changed the layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub_gsheets.a1 import A1
from hub_gsheets.sandbox_model import Sheet


@dataclass(frozen=True)
class Table:
    row0: int  # first row of the table (0-based)
    row1: int  # row after its last row: where appended values go
    col0: int  # its first column: where appended values start
    col1: int

    def render(self, title: str) -> str:
        if (self.row1 - self.row0, self.col1 - self.col0) == (1, 1):  # one cell: 'Sheet1!A1', not 'A1:A1'
            return A1(title, self.row0, self.col0, self.row1, self.col1).render().split(":")[0]
        return A1(title, self.row0, self.col0, self.row1, self.col1).render()


def find_table(sheet: Sheet, ref: A1) -> Table | None:
    """The first block of non-empty rows at or below the range's top row, within its columns (open to the
    right when the range is one column wide, as 'Sheet1!A1' is), or None when that area is empty."""
    col_lo = ref.col0
    col_hi = ref.col1 if ref.col1 is not None and ref.col1 - ref.col0 > 1 else sheet.col_count
    end = min(len(sheet.rows), sheet.row_count)

    def filled(row: int) -> list[int]:
        return [c for c in range(col_lo, min(col_hi, len(sheet.rows[row]))) if sheet.filled(row, c)]

    start = next((r for r in range(ref.row0, end) if filled(r)), None)
    if start is None:
        return None
    stop, first, last = start, col_hi, col_lo
    while stop < end and (cols := filled(stop)):
        first, last = min(first, cols[0]), max(last, cols[-1] + 1)
        stop += 1
    return Table(start, stop, first, last)
