"""What a built distribution holds: every package of the hub and of the first-party plugins, with their
templates (an editable install hides a package missing from pyproject's list; a wheel does not)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_directory_is_listed_for_the_distribution() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    dirs = {name: Path(ROOT / path) for name, path in setuptools["package-dir"].items()}
    found = set()
    for name, base in dirs.items():
        for init in base.rglob("__init__.py"):
            relative = init.parent.relative_to(base).parts
            found.add(".".join((name, *relative)))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert (ROOT / "hub" / "py.typed").is_file()  # third-party connectors type-check against the hub
