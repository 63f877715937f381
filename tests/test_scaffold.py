"""`hub new-plugin`: the package it writes, for each kind, passes its own tests and ruff, without being installed."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import cli
from hub.scaffold import KINDS


def _run(*args: str, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_generated_package_passes_its_tests_and_ruff(tmp_path: Path, kind: str) -> None:
    name = f"my_{kind}"
    result = CliRunner().invoke(cli, ["new-plugin", name, "--kind", kind, "--dir", str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    root = tmp_path / name
    assert f"tests/test_{name}.py" in result.output.replace(os.sep, "/")
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["cravate_hub"] == {name: f"hub_{name}.plugin"}
    assert "cravate-hub" in project["project"]["dependencies"]

    # not installed: pytest imports the package through pyproject's `pythonpath`, the tests register the plugin
    tests = _run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=root)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    lint = _run("-m", "ruff", "check", "--no-cache", ".", cwd=root)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_once_installed_the_generated_tests_check_its_entry_point(tmp_path: Path) -> None:
    """As after `pip install -e .`: a distribution on the path declares the entry point (a dist-info, without pip
    touching the environment), and the generated entry-point test runs instead of being skipped."""
    root = tmp_path / "my_tool"
    assert CliRunner().invoke(cli, ["new-plugin", "my_tool", "--dir", str(root)]).exit_code == 0
    installed = tmp_path / "site" / "hub_my_tool-0.1.0.dist-info"
    installed.mkdir(parents=True)
    (installed / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-my-tool\nVersion: 0.1.0\n", encoding="utf-8")
    (installed / "entry_points.txt").write_text("[cravate_hub]\nmy_tool = hub_my_tool.plugin\n", encoding="utf-8")
    tests = _run("-m", "pytest", "-v", "-p", "no:cacheprovider", "-k", "entry_point", cwd=root,
                 pythonpath=tmp_path / "site")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "test_entry_point_registered PASSED" in tests.stdout, tests.stdout


@pytest.mark.parametrize(("name", "expected"), [
    ("MyTool", "not a valid plugin name"),
    ("my-tool", "not a valid plugin name"),
    ("2fa", "not a valid plugin name"),
    ("class", "Python keyword"),
    ("example", "already installed"),
])
def test_a_bad_name_is_refused_with_its_reason(tmp_path: Path, name: str, expected: str) -> None:
    result = CliRunner().invoke(cli, ["new-plugin", name, "--dir", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert expected in result.output
    assert not (tmp_path / "out").exists()


def test_an_existing_directory_with_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me", encoding="utf-8")
    result = CliRunner().invoke(cli, ["new-plugin", "my_tool", "--dir", str(tmp_path)])
    assert result.exit_code != 0 and "not an empty directory" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert CliRunner().invoke(cli, ["new-plugin", "my_tool", "--dir", str(empty)]).exit_code == 0
