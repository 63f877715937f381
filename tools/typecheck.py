"""Type-check the project as CI does: mypy --strict on the core (hub/), mypy's defaults on the plugins.

The plugins live in plugins/<name> but are imported as hub_<name> (pyproject's package-dir), which mypy cannot
follow through an editable install; they are checked from a temporary folder of links named as imported.
Usage: python tools/typecheck.py  (exit status is mypy's).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_dirs = project["tool"]["setuptools"]["package-dir"]
    plugins = {name: ROOT / path for name, path in package_dirs.items() if path.startswith("plugins/")}
    mypy = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    core = subprocess.run([*mypy, "--strict", "-p", "hub"], cwd=ROOT, check=False)
    with tempfile.TemporaryDirectory() as links:
        for name, path in plugins.items():
            os.symlink(path, Path(links) / name)
        env = {**os.environ, "MYPYPATH": links}
        args = [arg for name in sorted(plugins) for arg in ("-p", name)]
        plugin_run = subprocess.run([*mypy, *args], cwd=ROOT, env=env, check=False)
    return core.returncode or plugin_run.returncode


if __name__ == "__main__":
    raise SystemExit(main())
