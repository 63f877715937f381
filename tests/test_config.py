"""Configuration: every problem reported at once, with file, key and fix, and never a secret's value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from hub.cli import cli
from hub.config import load_config
from hub.errors import ConfigError
from hub.hookspecs import hookimpl
from hub.plugins import PluginRegistry


class ToolSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sheet_id: str = Field(description="the sheet")
    token: SecretStr = Field(description="API token")
    interval: int = Field(60, description="seconds")


class Tool:
    @hookimpl
    def register_settings(self, register):  # type: ignore[no-untyped-def]
        register(ToolSettings)


@pytest.fixture
def registry() -> PluginRegistry:
    reg = PluginRegistry()
    reg.add("tool", Tool())
    return reg


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_valid_config_with_secret_from_environment(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"hub.toml": 'timezone = "Europe/Paris"\n',
                     "branches/bordeaux.toml": 'name = "Bordeaux"\nplugins = ["tool"]\n[tool]\nsheet_id = "abc"\n'
                                               'token = { env = "BDX_TOKEN" }\n'})
    config = load_config(tmp_path, registry.settings_models(), environ={"BDX_TOKEN": "s3cret"})
    settings = config.branches["bordeaux"].settings["tool"]
    assert settings.token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_secret_from_default_environment_variable(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"branches/lyon-2.toml": 'name = "Lyon"\nplugins = ["tool"]\n[tool]\nsheet_id = "abc"\n'})
    config = load_config(tmp_path, registry.settings_models(), environ={"HUB_LYON_2_TOOL_TOKEN": "t"})
    assert config.branches["lyon-2"].settings["tool"].token.get_secret_value() == "t"


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {
        "hub.toml": 'timezone = "Europe/Pariss"\npoll_interval = "5 lightyears"\n',
        "branches/bordeaux.toml": 'name = "Bordeaux"\nplugins = ["tool", "gmial"]\n[tool]\n'
                                  'token = "written-in-the-file"\ninterval = "often"\ncolour = "red"\n',
        "branches/lyon.toml": 'plugins = ["tool"]\n[schedule]\nreminders = ["48 hours", "soon"]\n',
        "branches/paris.toml": 'name = "Paris"\nplugins = ["tool"\n',
    })
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, registry.settings_models(), environ={})
    found = {(Path(p.file).name, p.key) for p in caught.value.problems}
    assert ("hub.toml", "timezone") in found
    assert ("hub.toml", "poll_interval") in found
    assert ("bordeaux.toml", "plugins") in found  # unknown plugin gmial
    assert ("bordeaux.toml", "tool.token") in found  # secret written in the file
    assert ("lyon.toml", "name") in found
    assert ("lyon.toml", "schedule.reminders") in found
    assert ("paris.toml", "") in found  # not valid TOML
    text = str(caught.value)
    assert "written-in-the-file" not in text
    assert "chmod" not in text and 'token = { env = "HUB_BORDEAUX_TOOL_TOKEN" }' in text


def test_plugin_problems_reported_with_their_keys(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"branches/bordeaux.toml": 'name = "B"\nplugins = ["tool"]\n[tool]\ninterval = "often"\n'
                                               'colour = "red"\ntoken = { env = "MISSING_VAR" }\n'})
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, registry.settings_models(), environ={})
    keys = {p.key: p for p in caught.value.problems}
    assert "MISSING_VAR" in keys["tool.token"].message


def test_plugin_value_errors_name_the_key(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"branches/bordeaux.toml": 'name = "B"\nplugins = ["tool"]\n[tool]\ninterval = "often"\n'
                                               'colour = "red"\n'})
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, registry.settings_models(), environ={"HUB_BORDEAUX_TOOL_TOKEN": "x"})
    keys = {p.key: p for p in caught.value.problems}
    assert set(keys) == {"tool.sheet_id", "tool.interval", "tool.colour"}
    assert keys["tool.colour"].message == "unknown key"
    assert keys["tool.sheet_id"].fix == "add this key"


def test_secret_files_must_be_private(tmp_path: Path, registry: PluginRegistry) -> None:
    secret = tmp_path / "token.txt"
    secret.write_text("from-file\n")
    os.chmod(secret, 0o644)
    write(tmp_path, {"branches/b.toml": f'name = "B"\nplugins = ["tool"]\n[tool]\nsheet_id = "x"\n'
                                        f'token = {{ file = "{secret}" }}\n'})
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config(tmp_path, registry.settings_models(), environ={})
    os.chmod(secret, 0o600)
    config = load_config(tmp_path, registry.settings_models(), environ={})
    assert config.branches["b"].settings["tool"].token.get_secret_value() == "from-file"


def test_environment_overrides_hub_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"hub.toml": "[delivery]\nmax_attempts = 4\n", "branches/b.toml": 'name = "B"\n'})
    monkeypatch.setenv("HUB_DELIVERY__MAX_ATTEMPTS", "9")
    assert load_config(tmp_path, {}).hub.delivery.max_attempts == 9


def test_config_check_command_exits_1_and_lists_problems(tmp_path: Path) -> None:
    write(tmp_path, {"hub.toml": 'timezone = "Mars/Olympus"\n',
                     "branches/b.toml": 'name = "B"\nplugins = ["nope"]\n'})
    result = CliRunner().invoke(cli, ["--config", str(tmp_path), "config", "check"], env={"HUB_PLUGINS": ""})
    assert result.exit_code == 1
    assert "hub.toml: timezone" in result.output and "b.toml: plugins" in result.output
    ok = write(tmp_path / "ok", {"branches/b.toml": 'name = "B"\n'})
    result = CliRunner().invoke(cli, ["--config", str(ok), "config", "check"], env={"HUB_PLUGINS": ""})
    assert result.exit_code == 0, result.output


def test_the_example_configuration_is_valid() -> None:
    examples = Path(__file__).resolve().parents[1] / "config" / "examples"
    registry = PluginRegistry.discover({"HUB_PLUGINS": "gsheets,calendly"})
    env = {"CALENDLY_TOKEN_BORDEAUX": "x", "CALENDLY_TOKEN_LYON": "y"}
    config = load_config(examples, registry.settings_models(), environ=env)
    assert sorted(config.branches) == ["bordeaux", "lyon"]
    assert config.branches["lyon"].outcome_for("cdd long (6 mois et +)").contract_months == 6


def test_secrets_env_beside_the_config_must_be_private(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"branches/b.toml": 'name = "B"\nplugins = ["tool"]\n[tool]\nsheet_id = "x"\n',
                     "secrets.env": "# tokens\nHUB_B_TOOL_TOKEN='from-env-file'\n"})
    os.chmod(tmp_path / "secrets.env", 0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config(tmp_path, registry.settings_models(), environ={})
    os.chmod(tmp_path / "secrets.env", 0o600)
    config = load_config(tmp_path, registry.settings_models(), environ={})
    assert config.branches["b"].settings["tool"].token.get_secret_value() == "from-env-file"
    config = load_config(tmp_path, registry.settings_models(), environ={"HUB_B_TOOL_TOKEN": "real-env-wins"})
    assert config.branches["b"].settings["tool"].token.get_secret_value() == "real-env-wins"
