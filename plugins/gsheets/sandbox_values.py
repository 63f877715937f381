"""What the Sheets fake makes of written values: the input option (RAW or USER_ENTERED, required), the
50,000-character cell limit, USER_ENTERED parsing, and FORMATTED_VALUE rendering."""

from __future__ import annotations

import ast
import re
from datetime import datetime, timedelta
from typing import Any

from hub_gsheets.sandbox_model import invalid

CELL_LIMIT = 50_000
"""Google refuses a cell longer than this: https://support.google.com/drive/answer/37603 (50,000 characters
per cell); the error text is Google's, as seen in bellingcat/auto-archiver logs ('Invalid data[4]: Your input
contains more than the maximum of 50000 characters in a single cell.')."""
EPOCH = datetime(1899, 12, 30)


def input_option(value: str | None) -> bool:
    """True for RAW, False for USER_ENTERED; Google refuses a write without it, or with another value (400)."""
    if value is None or value == "INPUT_VALUE_OPTION_UNSPECIFIED":
        raise invalid("'valueInputOption' is required but not specified")
    if value not in ("RAW", "USER_ENTERED"):
        raise invalid(f"Invalid value at 'value_input_option' ({value})")
    return value == "RAW"


def check_cells(values: list[list[Any]], where: str = "") -> None:
    """400 for a cell over 50,000 characters; `where` is Google's prefix ('Invalid data[4]: ') in a batch."""
    for row in values:
        for value in row:
            if isinstance(value, str) and len(value) > CELL_LIMIT:
                raise invalid(f"{where}Your input contains more than the maximum of {CELL_LIMIT} characters in a "
                              "single cell.")


def rows_of(value_range: dict[str, Any]) -> list[list[Any]]:
    """A ValueRange's values as rows (majorDimension COLUMNS is transposed)."""
    values = value_range.get("values", [])
    if value_range.get("majorDimension") != "COLUMNS":
        return list(values)
    height = max([len(c) for c in values] or [0])
    return [[c[i] if i < len(c) else None for c in values] for i in range(height)]


def formatted(value: Any) -> Any:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, int | float) else value


_ARITHMETIC = re.compile(r"^[\d\s.,+\-*/()]+$")


def _arithmetic(node: ast.AST) -> float:
    """Numbers and + - * / only (never eval)."""
    operators = {ast.Add: float.__add__, ast.Sub: float.__sub__, ast.Mult: float.__mul__, ast.Div: float.__truediv__}
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _arithmetic(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in operators:
        return operators[type(node.op)](_arithmetic(node.left), _arithmetic(node.right))
    raise ValueError("not plain arithmetic")


def user_entered(value: Any) -> Any:
    """What Sheets makes of a value typed by a user (USER_ENTERED): numbers parsed, and a leading '=' or '+' a
    formula, evaluated (plain arithmetic here; anything else, or a formula that does not parse, is #ERROR!).
    So a hub that wrote names or phones USER_ENTERED instead of RAW would see "=1+1" become 2."""
    if not isinstance(value, str):
        return value
    if value.startswith(("=", "+")):
        expression = value[1:] if value.startswith("=") else value
        if _ARITHMETIC.match(expression) and not re.search(r"\d\s+\d", expression):
            try:
                return _arithmetic(ast.parse(expression.replace(",", "."), mode="eval").body)
            except (SyntaxError, ZeroDivisionError, TypeError, ValueError):
                return "#ERROR!"
        return "#ERROR!"
    try:
        return float(value.replace(",", ".")) if value.strip() else value
    except ValueError:
        return value


def shown(value: Any, header: str) -> str:
    """A cell as the demo prints it (dates of the tracking sheet as staff see them)."""
    if value is None:
        return ""
    if isinstance(value, int | float) and header in ("Inscription", "Prochain RDV", "Mis à jour") and value > 20000:
        # round to the second first: serials carry float noise (08:30 must not show as 08:29)
        return (EPOCH + timedelta(seconds=round(float(value) * 86400))).strftime("%d/%m/%Y %H:%M")
    return str(value)
