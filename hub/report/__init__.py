"""The key figures per branch and for the network (issue 15): `compute` reads the store and gives a `Report`
(hub.report.model), `publishable` hides small counts for anything that leaves a branch, `as_dict` / `to_csv`
write it out; `hub report` is the command (hub.report.commands). Definitions: hub.report.definitions and
docs/report.md.

The names are imported on first use, so that `hub --help` (which registers the command) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.report.figures import compute
    from hub.report.model import NETWORK, Breakdown, Cell, Figure, Part, Report, ScopeFigures, Section
    from hub.report.output import as_dict, to_csv
    from hub.report.publish import publishable

__all__ = ["NETWORK", "Breakdown", "Cell", "Figure", "Part", "Report", "ScopeFigures", "Section", "as_dict",
           "compute", "publishable", "to_csv"]

_LAZY = {
    "compute": "hub.report.figures",
    **dict.fromkeys(("NETWORK", "Breakdown", "Cell", "Figure", "Part", "Report", "ScopeFigures", "Section"),
                    "hub.report.model"),
    "as_dict": "hub.report.output",
    "to_csv": "hub.report.output",
    "publishable": "hub.report.publish",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
