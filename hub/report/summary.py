"""The key figures in a few lines of plain text, for a terminal (the end of `hub demo`): per branch and for the
network, people registered, sessions held, the no-show rate and the situations known at the first follow-up
horizon. French, aligned in columns; the texts are the report's own ("< 5", "27,3 %"), so a hidden cell stays
hidden here too.
"""

from __future__ import annotations

from hub.report.model import NETWORK, Cell, Report, ScopeFigures

__all__ = ["key_figures_table"]

_COLUMNS = (("registered", "Inscrits"), ("sessions.held", "RDV honorés"), ("sessions.no_show_rate", "Taux d'absence"))


def key_figures_table(report: Report, names: dict[str, str] | None = None) -> list[str]:
    """One header line, then a line per scope (the branches, then the network). `names`: what to call a scope
    (default: its title; the network is "Réseau")."""
    horizon = next((s.key.removeprefix("outcomes.") for scope in report.scopes for s in scope.sections
                    if s.key.startswith("outcomes.")), None)
    headers = [label for _, label in _COLUMNS]
    if horizon is not None:
        amount, unit = horizon.rsplit("_", 1)
        headers.append(f"Situation connue à {amount.replace('_', ',')} {unit}")
    rows = []
    for scope in sorted(report.scopes, key=lambda s: s.scope == NETWORK):
        name = (names or {}).get(scope.scope) or ("Réseau" if scope.scope == NETWORK else scope.title)
        cells = [_text(scope, key) for key, _ in _COLUMNS]
        if horizon is not None:
            answered, due = _text(scope, f"outcomes.{horizon}.answered"), _text(scope, f"outcomes.{horizon}.due")
            cells.append(f"{answered} sur {due}")
        rows.append([name, *cells])
    table = [["", *headers], *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
            .rstrip() for row in table]


def _text(scope: ScopeFigures, key: str) -> str:
    cell: Cell | None = next((f.cell for f in scope.figures() if f.key == key), None)
    return cell.text if cell is not None else "—"
