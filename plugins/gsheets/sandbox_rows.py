"""What the Sheets fake does to remove data: `values.clear` / `values.batchClear` and the `deleteDimension`
request of `spreadsheets.batchUpdate`, as Google does them.

- clear: "Only values are cleared -- all other properties of the cell (such as formatting and data validation)
  are kept" (spreadsheets.values/batchClear reference); the answer names each range cleared "bounded to the
  sheet's limits" (BatchClearValuesResponse.clearedRanges in the discovery document). A range that does not
  parse, or names a tab that does not exist, is a 400 and nothing is cleared.
- deleteDimension: the rows go and the rows below move up; the grid shrinks by as many rows. Google refuses to
  delete past the grid ("Cannot delete a row that doesn't exist. Tried to delete row index 1 but there are only
  1 rows.", activepieces/activepieces#5654), every row of a tab ("You can't delete all the rows on the sheet.",
  SteveWinward/GoogleSheetsWrapper#43) or every row below the frozen ones ("Sorry, it is not possible to delete
  all non-frozen rows.", jlolling/talendcomp_tGoogleSheet#19, theoephraim/node-google-spreadsheet#186). The
  messages carry Google's "Invalid requests[i].deleteDimension: " prefix.
"""

from __future__ import annotations

from typing import Any

from hub_gsheets.a1 import A1, parse
from hub_gsheets.sandbox_model import ApiError, Sheet, Spreadsheet, invalid


def clear_ranges(book: Spreadsheet, ranges: list[Any]) -> list[str]:
    """Clear every range (all parsed first: one bad range clears nothing); the ranges cleared, clipped."""
    targets: list[tuple[Sheet, A1]] = []
    for text in ranges:
        try:
            ref = parse(str(text))
            targets.append((book.sheet(ref.sheet), ref))
        except (ValueError, ApiError):  # Google names the whole range it could not read, tab included
            raise invalid(f"Unable to parse range: {text}") from None
    cleared = []
    for sheet, ref in targets:
        row1 = min(ref.row1 if ref.row1 is not None else sheet.row_count, sheet.row_count)
        col1 = min(ref.col1 if ref.col1 is not None else sheet.col_count, sheet.col_count)
        for r in range(ref.row0, min(row1, len(sheet.rows))):
            line = sheet.rows[r]
            for c in range(ref.col0, min(col1, len(line))):
                line[c] = None
        done = A1(sheet.title, ref.row0, ref.col0, row1, col1).render()
        cleared.append(done.split(":")[0] if (row1 - ref.row0, col1 - ref.col0) == (1, 1) else done)  # 'A1'
    return cleared


def delete_dimension(sheet: Sheet, spec: dict[str, Any], where: str) -> None:
    """Apply one deleteDimension (`where` is "requests[i]"); rows only (the connector never deletes columns)."""
    grid = spec.get("range") or {}
    prefix = f"Invalid {where}.deleteDimension: "
    if grid.get("dimension") != "ROWS":
        raise invalid(f"{prefix}the sandbox deletes rows only (dimension ROWS), got {grid.get('dimension')}")
    start = int(grid.get("startIndex", 0))
    end = int(grid.get("endIndex", sheet.row_count))
    if start < 0 or end <= start:
        raise invalid(f"{prefix}Invalid dimension range: startIndex {start}, endIndex {end}")
    if end > sheet.row_count:
        raise invalid(f"{prefix}Cannot delete a row that doesn't exist. Tried to delete row index {end - 1} but "
                      f"there are only {sheet.row_count} rows.")
    left = sheet.row_count - (end - start)
    if left <= 0:
        raise invalid(f"{prefix}You can't delete all the rows on the sheet.")
    if sheet.frozen_rows and left <= sheet.frozen_rows:
        raise invalid(f"{prefix}Sorry, it is not possible to delete all non-frozen rows.")
    del sheet.rows[start:end]
    sheet.row_count = left
    sheet.frozen_rows -= max(0, min(end, sheet.frozen_rows) - start)  # frozen rows deleted are no longer frozen
