"""Every command, run as a user runs it, against services that are unreachable, refuse the token, or hang:
one sentence naming what failed, never a traceback, and a non-zero exit where something failed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub.testing import write_config

ROOT = Path(__file__).resolve().parents[1]
# (arguments, must fail): the commands that touch the service fail; listings keep working
COMMANDS: list[tuple[list[str], bool]] = [
    (["run", "--once"], True),
    (["resync"], True),
    (["doctor"], True),
    (["doctor", "--json"], True),
    (["status"], False),
    (["status", "--json"], False),
    (["events"], False),
    (["deliveries", "--failed"], False),
    (["retry", "--json"], False),
    (["plugins"], False),
    (["config", "check"], False),
]


def hub_cmd(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    base.update({"HUB_PLUGINS": "example", "HUB_B_EXAMPLE_TOKEN": "t0k3n-fake", "PYTHONPATH": str(ROOT),
                 **(env or {})})
    return subprocess.run([sys.executable, "-m", "hub", "--config", str(config), *args], env=base, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("service", ["unreachable", "refusing", "hanging"])
def test_no_command_prints_a_traceback_when_the_service_misbehaves(service: str, tmp_path: Path,
                                                                    request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{service}_url")
    config = write_config(tmp_path / "config", {"b": {"plugins": ["example"], "example": {"url": url}}},
                          {"deadline": 1})
    for args, must_fail in COMMANDS:
        result = hub_cmd(config, *args)
        output = result.stdout + result.stderr
        assert "Traceback" not in output, (args, output)
        if must_fail:
            assert result.returncode != 0, (args, output)
            assert "example" in output, (args, output)  # the failing service is named
        else:
            assert result.returncode == 0, (args, output)
        if args == ["status"]:  # before `retry` resumes a paused plugin
            expected = {"unreachable": "degraded", "refusing": "paused", "hanging": "degraded"}[service]
            assert f"b: {expected}" in result.stdout, result.stdout


def test_a_busy_webhook_port_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path / "config", {"b": {"plugins": []}},
                              {"webhooks": {"listen": f"127.0.0.1:{port}"}})
        result = hub_cmd(config, "run", "--once", env={"HUB_PLUGINS": ""})
    assert result.returncode == 1
    assert "already in use" in result.stderr and "webhooks.listen" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_unknown_branch_plugin_and_kind_are_errors_with_a_suggestion(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config", {"paris": {"plugins": ["example"],
                                                          "example": {"url": "http://127.0.0.1:9"}}})
    env = {"HUB_PARIS_EXAMPLE_TOKEN": "x"}
    cases: list[tuple[list[str], str]] = [
        (["retry", "--branch", "pari"], "did you mean 'paris'"),
        (["events", "--kind", "session_boked"], "did you mean 'session_booked'"),
        (["deliveries", "--plugin", "exemple"], "did you mean 'example'"),
        (["statsu"], "did you mean 'status'"),
    ]
    for args, expected in cases:
        result = hub_cmd(config, *args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, (args, result.stderr)


def test_debug_shows_the_traceback_of_an_unexpected_error(tmp_path: Path, monkeypatch: Any) -> None:
    from click.testing import CliRunner

    import hub.status
    from hub.cli import cli
    from hub.plugins import PluginRegistry

    config = write_config(tmp_path / "config", {"b": {"plugins": []}})

    def broken(*_: Any, **__: Any) -> Any:
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(hub.status, "collect", broken)
    runner = CliRunner()
    plain = runner.invoke(cli, ["--config", str(config), "status"], obj={"registry": PluginRegistry()})
    assert plain.exit_code == 1 and "unexpected error (ZeroDivisionError: a bug)" in plain.output
    assert ("--debug" in plain.output and plain.exception is None) or isinstance(plain.exception, SystemExit)
    debug = runner.invoke(cli, ["status", "--config", str(config), "--debug"], obj={"registry": PluginRegistry()})
    assert isinstance(debug.exception, ZeroDivisionError)  # --debug lets it through, after the subcommand too
