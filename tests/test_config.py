"""Configuration: every problem reported at once, with file, key and fix, and never a secret's value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from hub.cli import cli
from hub.config import load_config
from hub.errors import ConfigError, ConfigProblem
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
    assert ("bordeaux.toml", "plugins[1]") in found  # unknown plugin gmial
    assert ("bordeaux.toml", "tool.token") in found  # secret written in the file
    assert ("lyon.toml", "name") in found
    assert ("lyon.toml", "schedule.reminders[1]") in found
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
    assert "hub.toml:1: timezone" in result.output and "b.toml:2: plugins[0]" in result.output
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


# --- everything that would crash or mislead the daemon, all at once ------------------------------------------

def _problems(root: Path, models: dict[str, type[BaseModel] | None], environ: dict[str, str] | None = None,
              ) -> list[ConfigProblem]:
    return load_config(root, models, environ=environ or {}, strict=False).problems


def _check(root: Path, registry: PluginRegistry, environ: dict[str, str] | None = None) -> list[str]:
    return [p.render() for p in _problems(root, registry.settings_models(), environ)]


def test_three_mistakes_in_one_branch_file_give_three_lines(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\nplugins = ["tool", "calendy"]\ntimezon = "Europe/Paris"\n'
                                           '[tool]\nsheet_id = "x"\nintervall = 5\n'})
    problems = _check(tmp_path, registry, {"HUB_LYON_TOOL_TOKEN": "t"})
    assert len(problems) == 3, problems
    assert any("lyon.toml:3: timezon: unknown key (did you mean 'timezone'?)" in p for p in problems)
    assert any("lyon.toml:2: plugins[1]: unknown plugin 'calendy'" in p for p in problems)
    assert any("lyon.toml:6: tool.intervall: unknown key (did you mean 'interval'?)" in p for p in problems)


def test_a_schema_error_hides_no_plugin_table(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"branches/lyon.toml": 'plugins = ["tool"]\npoll_interval = "often"\n'
                                           '[tool]\ntoken = "in-the-file"\ninterval = "often"\n'})
    keys = {p.key for p in _problems(tmp_path, registry.settings_models())}
    assert keys == {"name", "poll_interval", "tool.token", "tool.sheet_id", "tool.interval"}


def test_did_you_mean_an_installed_plugin(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\nplugins = ["tol"]\n'})
    [problem] = _check(tmp_path, registry)
    assert "unknown plugin 'tol' (did you mean 'tool'?)" in problem and "hub plugins" in problem


def test_every_bad_list_item_with_its_index(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\n[schedule]\nreminders = ["48h", "soon", "later"]\n'})
    problems = _problems(tmp_path, registry.settings_models())
    assert [p.key for p in problems] == ["schedule.reminders[1]", "schedule.reminders[2]"]
    assert problems[0].render().startswith(f"{tmp_path / 'branches' / 'lyon.toml'}:3: schedule.reminders[1]: ")


def test_time_zone_log_level_listen_and_url_are_checked(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"hub.toml": 'timezone = "Europe/Pari"\nlog_level = "verbose"\n'
                                 '[webhooks]\nlisten = "127.0.0.1:87a7"\npublic_url = "hub.example.org"\n',
                     "branches/lyon.toml": 'name = "Lyon"\ntimezone = "america/new_york"\n'})
    problems = {(Path(p.file).name, p.key): p for p in _problems(tmp_path, registry.settings_models())}
    assert set(problems) == {("hub.toml", "timezone"), ("hub.toml", "log_level"), ("hub.toml", "webhooks.listen"),
                             ("hub.toml", "webhooks.public_url"), ("lyon.toml", "timezone")}
    assert "did you mean 'Europe/Paris'?" in problems["hub.toml", "timezone"].message
    assert "did you mean 'America/New_York'?" in problems["lyon.toml", "timezone"].message
    assert problems["hub.toml", "log_level"].message.startswith("unknown log level; use one of DEBUG")
    assert problems["hub.toml", "webhooks.listen"].line == 4
    assert problems["hub.toml", "webhooks.listen"].message.startswith("must be host:port")
    assert problems["hub.toml", "webhooks.public_url"].message.startswith("must be an absolute http(s) address")


def test_good_hub_values_pass_and_are_normalised(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"hub.toml": 'log_level = "debug"\n[webhooks]\nlisten = "[::1]:8787"\n'
                                 'public_url = "https://hub.example.org/cravate"\n',
                     "branches/lyon.toml": 'name = "Lyon"\n'})
    config = load_config(tmp_path, registry.settings_models(), environ={})
    assert config.hub.log_level == "DEBUG" and config.hub.webhooks.listen == "[::1]:8787"
    for listen in ("127.0.0.1:0", "127.0.0.1:65536", ":8787", "localhost"):
        write(tmp_path, {"hub.toml": f'[webhooks]\nlisten = "{listen}"\n'})
        assert [p.key for p in _problems(tmp_path, registry.settings_models())] == ["webhooks.listen"], listen


def test_a_value_from_the_environment_is_blamed_on_the_variable(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"hub.toml": "[delivery]\nmax_attempts = 3\n", "branches/lyon.toml": 'name = "Lyon"\n'})
    [problem] = _problems(tmp_path, registry.settings_models(), {"HUB_DELIVERY__MAX_ATTEMPTS": "0"})
    assert problem.env == "HUB_DELIVERY__MAX_ATTEMPTS" and problem.file == "" and problem.line is None
    assert problem.render().startswith("environment variable HUB_DELIVERY__MAX_ATTEMPTS (delivery.max_attempts): ")
    assert "HUB_DELIVERY__MAX_ATTEMPTS" in problem.fix
    [problem] = _problems(tmp_path, registry.settings_models(), {"HUB_LOG_LEVEL": "loud"})
    assert problem.env == "HUB_LOG_LEVEL"
    write(tmp_path, {"hub.toml": "[delivery]\nmax_attempts = 0\n"})
    [problem] = _problems(tmp_path, registry.settings_models(), {"HUB_LOG_LEVEL": "info"})
    assert problem.env == "" and Path(problem.file).name == "hub.toml" and problem.line == 2


def test_a_plugin_secret_from_the_environment_is_blamed_on_the_variable(tmp_path: Path) -> None:
    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")
        token: SecretStr = Field(min_length=10, description="token")

    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\nplugins = ["tool"]\n[tool]\ntoken = { env = "LYON_T" }\n'})
    [problem] = _problems(tmp_path, {"tool": Strict}, {"LYON_T": "short"})
    assert problem.env == "LYON_T" and problem.key == "tool.token"
    assert problem.render().startswith("environment variable LYON_T (") and "short" not in problem.render()


def test_secrets_env_is_read_like_a_shell_file(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\nplugins = ["tool"]\n[tool]\nsheet_id = "x"\n',
                     "secrets.env": "# tokens\nexport HUB_LYON_TOOL_TOKEN=\"s3cr=t${HOME}\"\n"})
    os.chmod(tmp_path / "secrets.env", 0o600)
    config = load_config(tmp_path, registry.settings_models(), environ={})
    assert config.branches["lyon"].settings["tool"].token.get_secret_value() == "s3cr=t${HOME}"


def test_secrets_env_readable_by_others_is_refused_and_bad_lines_named(tmp_path: Path,
                                                                       registry: PluginRegistry) -> None:
    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\n', "secrets.env": "A=1\nthis is not it\nB=2\n"})
    os.chmod(tmp_path / "secrets.env", 0o644)
    [problem] = _problems(tmp_path, registry.settings_models())
    assert problem.fix == f"run: chmod 600 {tmp_path / 'secrets.env'}"
    os.chmod(tmp_path / "secrets.env", 0o600)
    [problem] = _problems(tmp_path, registry.settings_models())
    assert problem.line == 2 and problem.render().startswith(f"{tmp_path / 'secrets.env'}:2: ")


def test_a_state_dir_that_cannot_be_created_is_a_problem(tmp_path: Path, registry: PluginRegistry) -> None:
    (tmp_path / "a-file").write_text("")
    write(tmp_path, {"hub.toml": f'state_dir = "{tmp_path / "a-file" / "var"}"\n',
                     "branches/lyon.toml": 'name = "Lyon"\n'})
    [problem] = _check(tmp_path, registry)
    assert "hub.toml:1: state_dir:" in problem and "is not a folder" in problem
    assert not (tmp_path / "var").exists()
    [problem] = _problems(tmp_path, registry.settings_models(), {"HUB_STATE_DIR": str(tmp_path / "a-file")})
    assert problem.env == "HUB_STATE_DIR" and "exists and is not a folder" in problem.message
    write(tmp_path, {"hub.toml": f'state_dir = "{tmp_path / "new" / "var"}"\n'})
    assert _check(tmp_path, registry) == [] and not (tmp_path / "new").exists()


def test_a_missing_config_folder_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "nowhere"), "config", "check"],
                                env={"HUB_PLUGINS": ""})
    assert result.exit_code == 1
    assert f"{tmp_path / 'nowhere'}: no such directory" in result.output
    assert "hub --config DIR config check" in result.output and "branches" not in result.output


def test_a_pasted_sheet_address_becomes_its_id(tmp_path: Path) -> None:
    from hub_gsheets.settings import Settings
    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\nplugins = ["gsheets"]\n[gsheets]\nauth = "static_token"\n'
                                           'access_token = { env = "T" }\nspreadsheet_id = '
                                           '"https://docs.google.com/spreadsheets/d/1AbC-d_Ef/edit#gid=0"\n'})
    config = load_config(tmp_path, {"gsheets": Settings}, environ={"T": "t"})
    assert config.branches["lyon"].settings["gsheets"].spreadsheet_id == "1AbC-d_Ef"
    [note] = config.problems
    assert note.level == "note" and note.key == "gsheets.spreadsheet_id" and note.line == 6
    with pytest.raises(ValueError, match="not a spreadsheet id"):
        Settings(spreadsheet_id="my sheet", auth="static_token", access_token="t")
    with pytest.raises(ValueError, match="not a spreadsheet id"):
        Settings(spreadsheet_id="abc/def", auth="static_token", access_token="t")


def test_a_note_does_not_fail_the_check(tmp_path: Path) -> None:
    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\nplugins = ["gsheets"]\n[gsheets]\nauth = "static_token"\n'
                                           'access_token = { env = "T" }\nspreadsheet_id = '
                                           '"https://docs.google.com/spreadsheets/d/1AbC/edit"\n'})
    result = CliRunner().invoke(cli, ["--config", str(tmp_path), "config", "check"],
                                env={"HUB_PLUGINS": "gsheets", "T": "t"})
    assert result.exit_code == 0, result.output
    assert "note: " in result.output and "gsheets.spreadsheet_id" in result.output


def test_calendly_programmes_must_exist_in_the_branch(tmp_path: Path) -> None:
    from hub_calendly.plugin import Settings as CalendlySettings
    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\nplugins = ["calendly"]\n[calendly]\n'
                                           'default_programme = "ateliers"\n'})
    [problem] = _problems(tmp_path, {"calendly": CalendlySettings}, {"HUB_LYON_CALENDLY_TOKEN": "t"})
    assert problem.key == "calendly.default_programme" and problem.line == 4
    assert problem.message == "no programme 'ateliers' in [programmes] (did you mean 'atelier'?)"
    # neither a faulty key of the table nor a missing secret hides the cross-reference
    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\nplugins = ["calendly"]\n[calendly]\n'
                                           'default_programme = "ateliers"\ncolour = "red"\n'})
    problems = _problems(tmp_path, {"calendly": CalendlySettings})
    assert sorted(p.key for p in problems) == ["calendly.colour", "calendly.default_programme", "calendly.token"]


def test_calendly_event_types_name_programmes_and_modules_of_the_branch(tmp_path: Path) -> None:
    from hub_calendly.plugin import Settings as CalendlySettings
    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\nplugins = ["calendly"]\n'
                                           '[programmes.coaching]\nlabel = "C"\nmodules = ["photo", "RH"]\n'
                                           '[calendly.event_types]\n"Intro call" = { programme = "coachng" }\n'
                                           'shoot = { programme = "coaching", module = "foto" }\n'
                                           'rh = { programme = "coaching", module = "RH" }\n'})
    problems = _problems(tmp_path, {"calendly": CalendlySettings}, {"HUB_LYON_CALENDLY_TOKEN": "t"})
    assert [(p.key, p.line) for p in problems] == [('calendly.event_types."Intro call".programme', 7),
                                                   ("calendly.event_types.shoot.module", 8)]
    assert "did you mean 'coaching'?" in problems[0].message and "did you mean 'photo'?" in problems[1].message


def test_outcome_labels_that_clash_or_say_nothing(tmp_path: Path, registry: PluginRegistry) -> None:
    write(tmp_path, {"branches/lyon.toml": 'name = "Lyon"\n[outcomes]\n"CDI" = { contract_type = "CDI" }\n'
                                           '"cdi " = { contract_type = "CDI" }\n"Vu" = {}\n'})
    problems = _problems(tmp_path, registry.settings_models())
    assert [(p.key, p.line) for p in problems] == [('outcomes."cdi "', 4), ("outcomes.Vu", 5)]


def test_key_lines_follow_tables_and_dotted_keys() -> None:
    from hub.config.lines import key_lines, line_of
    lines = key_lines('a = 1\n[t]\nb = """\nc = 2\n"""\nd.e = [\n  1,\n]\nf = 3\n["q r".s]\ng = 4\n')
    assert line_of(lines, "a") == 1 and line_of(lines, "t.b") == 3 and line_of(lines, "t.c") == 2
    assert line_of(lines, "t.d.e[0]") == 6 and line_of(lines, "t.f") == 9 and line_of(lines, '"q r".s.g') == 11
    assert line_of(lines, "missing") is None
