"""Loading and validating `config/hub.toml` and `config/branches/<branch>.toml`.

Every problem in every file is collected and reported at once, naming file, key and fix; values are never
echoed (a validation error must not print a secret). Secrets come from environment variables or 0600 files:

    token = { env = "CALENDLY_TOKEN_BORDEAUX" }      # or
    token = { file = "/etc/cravate-hub/calendly.token" }

and, when the key is absent, from HUB_<BRANCH>_<PLUGIN>_<FIELD> (e.g. HUB_BORDEAUX_CALENDLY_TOKEN).
Variables may also sit in `secrets.env` beside hub.toml (NAME=value lines, mode 0600 required), the way a
systemd EnvironmentFile does; the real environment wins over it.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hub.durations import Offset, Seconds, parse_offset
from hub.errors import ConfigError, ConfigProblem
from hub.events import ContractType, OutcomeCategory

BRANCH_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class DeliverySettings(_Strict):
    max_attempts: int = Field(5, ge=1, description="tries of an unexpected error before the dead letter")
    retry_initial: Seconds = Field(30, description="first retry delay; doubles each time, with jitter")
    retry_max: Seconds = Field(3600, description="longest delay between two tries")
    give_up_after: Seconds = Field(72 * 3600, description="a service still not ready after this: dead letter")
    batch_size: int = Field(200, ge=1, le=5000, description="deliveries handled per commit")


class WebhookSettings(_Strict):
    listen: str | None = Field(None, description="host:port for the webhook receiver; unset = no receiver")
    max_body_bytes: int = Field(1_048_576, ge=1024)
    public_url: str | None = Field(None, description="the HTTPS address the outside world reaches it at")


class HubSettings(BaseSettings):
    """`config/hub.toml`, overridable by HUB_* environment variables (HUB_STATE_DIR, HUB_DELIVERY__MAX_ATTEMPTS)."""

    model_config = SettingsConfigDict(env_prefix="HUB_", env_nested_delimiter="__", extra="forbid")

    state_dir: Path = Field(Path("var"), description="database, token files and logs")
    timezone: str = Field("Europe/Paris", description="default time zone of the branches")
    poll_interval: Seconds = Field(300, description="default seconds between two polls of a source")
    log_level: str = "INFO"
    deadline: Seconds = Field(120, description="seconds a source poll, a delivery or a check may wait for a "
                                               "service before the hub reports it and goes on without it")
    delivery: DeliverySettings = DeliverySettings()
    webhooks: WebhookSettings = WebhookSettings()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the environment wins over the file, which is passed in as init values
        return env_settings, init_settings

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _check_zone(value)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use a name such as 'Europe/Paris'") from None
    return value


class ScheduleSettings(_Strict):
    reminders: list[str] = Field(["48h", "2h"], description="reminders before each session")
    followups: list[str] = Field(["1 month", "3 months", "6 months"], description="follow-ups after it")

    @field_validator("reminders", "followups")
    @classmethod
    def _durations(cls, values: list[str]) -> list[str]:
        for value in values:
            parse_offset(value)
        return values

    def reminder_offsets(self) -> list[Offset]:
        return [parse_offset(v) for v in self.reminders]

    def followup_offsets(self) -> list[Offset]:
        return [parse_offset(v) for v in self.followups]


class OutcomeLabel(_Strict):
    """What a label staff pick in a sheet or form means."""

    category: OutcomeCategory | None = None
    contract_type: ContractType | None = None
    contract_months: float | None = None


DEFAULT_OUTCOME_LABELS: dict[str, OutcomeLabel] = {
    "Présent": OutcomeLabel(category=OutcomeCategory.PRESENT),
    "Absent": OutcomeLabel(category=OutcomeCategory.ABSENT),
    "CDI": OutcomeLabel(contract_type=ContractType.CDI),
    "CDD 6 mois ou plus": OutcomeLabel(contract_type=ContractType.CDD, contract_months=6),
    "CDD moins de 6 mois": OutcomeLabel(contract_type=ContractType.CDD, contract_months=3),
    "Intérim 6 mois ou plus": OutcomeLabel(contract_type=ContractType.INTERIM, contract_months=6),
    "Intérim moins de 6 mois": OutcomeLabel(contract_type=ContractType.INTERIM, contract_months=1),
    "Alternance": OutcomeLabel(contract_type=ContractType.ALTERNANCE, contract_months=12),
    "Formation qualifiante": OutcomeLabel(contract_type=ContractType.FORMATION),
    "Création d'entreprise": OutcomeLabel(contract_type=ContractType.CREATION_ENTREPRISE),
    "Sortie positive": OutcomeLabel(category=OutcomeCategory.SORTIE_POSITIVE),
    "Autre": OutcomeLabel(category=OutcomeCategory.AUTRE),
}


class Programme(_Strict):
    label: str
    modules: list[str] = []


class BranchConfig(_Strict):
    """One branch file. Plugin tables are validated apart, each by its plugin's model."""

    id: str
    file: str = ""
    name: str
    timezone: str | None = None
    plugins: list[str] = []
    schedule: ScheduleSettings = ScheduleSettings()
    programmes: dict[str, Programme] = Field(
        default_factory=lambda: {"atelier": Programme(label="Atelier Coup de Pouce")},
        description="programme key -> label and modules; plugins map their own kinds onto these keys",
    )
    outcomes: dict[str, OutcomeLabel] = Field(default_factory=lambda: dict(DEFAULT_OUTCOME_LABELS))
    poll_interval: Seconds | None = None
    alerts: list[str] = Field(default_factory=list, description=(
        "where to alert staff when a plugin is paused or a delivery dies (at most once a day per problem): "
        "webhook URLs (chat tools) now; e-mail addresses once a mail channel plugin is installed"))
    settings: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)

    def outcome_for(self, label: str) -> OutcomeLabel | None:
        """The meaning of a label, matched without regard to case or surrounding spaces."""
        wanted = label.strip().casefold()
        for known, meaning in self.outcomes.items():
            if known.strip().casefold() == wanted:
                return meaning
        return None

    def attendance_labels(self) -> list[str]:
        return [k for k, v in self.outcomes.items() if v.category in (OutcomeCategory.PRESENT, OutcomeCategory.ABSENT)]

    def result_labels(self) -> list[str]:
        attendance = set(self.attendance_labels())
        return [k for k in self.outcomes if k not in attendance]


@dataclass
class HubConfig:
    """Everything loaded: the hub's settings, each branch and its validated plugin settings."""

    hub: HubSettings
    branches: dict[str, BranchConfig]
    root: Path
    problems: list[ConfigProblem] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        path = self.hub.state_dir
        return path if path.is_absolute() else (self.root / path)

    @property
    def db_path(self) -> Path:
        return self.state_dir / "hub.db"

    def zone(self, branch: str) -> ZoneInfo:
        return ZoneInfo(self.branches[branch].timezone or self.hub.timezone)


def config_root(path: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    """(directory holding branches/, hub.toml path) from --config, HUB_CONFIG, or ./config."""
    raw = Path(path or os.environ.get("HUB_CONFIG") or "config")
    if raw.is_dir():
        return raw, raw / "hub.toml"
    return raw.parent, raw


def load_config(path: str | os.PathLike[str] | None, plugin_models: Mapping[str, type[BaseModel] | None],
                *, environ: Mapping[str, str] | None = None, strict: bool = True) -> HubConfig:
    """Read and validate everything; raise ConfigError listing every problem (unless strict=False)."""
    root, hub_file = config_root(path)
    problems: list[ConfigProblem] = []
    env = {**read_env_file(root / "secrets.env", problems), **(os.environ if environ is None else environ)}
    hub_data = _read_toml(hub_file, problems, required=False)
    try:
        hub = HubSettings(**hub_data)
    except ValidationError as exc:
        problems += _problems(str(hub_file), "", exc)
        hub = HubSettings.model_construct()
    branches: dict[str, BranchConfig] = {}
    branch_dir = root / "branches"
    files = sorted(branch_dir.glob("*.toml")) if branch_dir.is_dir() else []
    if not files:
        problems.append(ConfigProblem(str(branch_dir), "", "no branch file found",
                                      "create branches/<branch>.toml (see config/branches/example.toml)"))
    for file in files:
        branch = _load_branch(file, plugin_models, env, problems)
        if branch is not None:
            branches[branch.id] = branch
    config = HubConfig(hub=hub, branches=branches, root=root, problems=problems)
    if problems and strict:
        raise ConfigError(problems)
    return config


def read_env_file(path: Path, problems: list[ConfigProblem]) -> dict[str, str]:
    """NAME=value lines (comments and blank lines allowed), refused unless the file is private."""
    if not path.exists():
        return {}
    text = read_secret_file(path, problems, str(path), "")
    values: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            problems.append(ConfigProblem(str(path), f"line {number}", "not a NAME=value line"))
            continue
        values[name.strip()] = value.strip().strip('"').strip("'")
    return values


def _read_toml(path: Path, problems: list[ConfigProblem], *, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            problems.append(ConfigProblem(str(path), "", "file not found"))
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        problems.append(ConfigProblem(str(path), "", f"not valid TOML ({exc})", "fix the syntax at that line"))
    except UnicodeDecodeError:
        problems.append(ConfigProblem(str(path), "", "not UTF-8 text", "save the file as UTF-8"))
    return {}


def _load_branch(file: Path, plugin_models: Mapping[str, type[BaseModel] | None], env: Mapping[str, str],
                 problems: list[ConfigProblem]) -> BranchConfig | None:
    before = len(problems)
    data = _read_toml(file, problems, required=True)
    if len(problems) > before:
        return None
    branch_id = file.stem
    if not BRANCH_ID.match(branch_id):
        problems.append(ConfigProblem(str(file), "", f"branch id {branch_id!r} is not usable",
                                      "rename the file with lowercase letters, digits, '-' or '_'"))
        return None
    plugins = data.get("plugins", [])
    plugin_tables = {k: data.pop(k) for k in list(data) if k in plugin_models or k in (plugins or [])}
    try:
        branch = BranchConfig(id=branch_id, file=str(file), **data)
    except ValidationError as exc:
        problems += _problems(str(file), "", exc)
        return None
    for name in branch.plugins:
        if name not in plugin_models:
            known = ", ".join(sorted(plugin_models)) or "none installed"
            problems.append(ConfigProblem(str(file), "plugins", f"unknown plugin {name!r} (installed: {known})",
                                          "install it (pip install 'cravate-hub[<plugin>]') or fix the name"))
    for name, table in plugin_tables.items():
        if name not in branch.plugins:
            problems.append(ConfigProblem(str(file), name, f"a [{name}] table but {name!r} is not in plugins",
                                          f'add "{name}" to plugins or remove the table'))
            continue
        if not isinstance(table, dict):
            problems.append(ConfigProblem(str(file), name, "must be a table", f"write [{name}] on its own line"))
            continue
        model = plugin_models.get(name)
        validated = _plugin_settings(file, branch_id, name, model, table, env, problems)
        if validated is not None:
            branch.settings[name] = validated
    for name in branch.plugins:
        if name in plugin_models and name not in branch.settings and name not in plugin_tables:
            validated = _plugin_settings(file, branch_id, name, plugin_models[name], {}, env, problems)
            if validated is not None:
                branch.settings[name] = validated
    return branch


def _plugin_settings(file: Path, branch: str, plugin: str, model: type[BaseModel] | None, table: dict[str, Any],
                     env: Mapping[str, str], problems: list[ConfigProblem]) -> BaseModel | None:
    if model is None:
        if table:
            problems.append(ConfigProblem(str(file), plugin, "this plugin takes no settings", "remove the table"))
        return None
    before = len(problems)
    data = _resolve_secrets(file, branch, plugin, model, dict(table), env, problems)
    if len(problems) > before:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems += _problems(str(file), plugin, exc)
        return None


def _secret_fields(model: type[BaseModel]) -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ()):
            out.append(name)
    return out


def default_secret_env(branch: str, plugin: str, key: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", f"HUB_{branch}_{plugin}_{key}".upper())


def _resolve_secrets(file: Path, branch: str, plugin: str, model: type[BaseModel], data: dict[str, Any],
                     env: Mapping[str, str], problems: list[ConfigProblem]) -> dict[str, Any]:
    for key in _secret_fields(model):
        where = f"{plugin}.{key}"
        value = data.get(key)
        default_env = default_secret_env(branch, plugin, key)
        if value is None:
            if default_env in env:
                data[key] = env[default_env]
            continue
        if isinstance(value, str):
            problems.append(ConfigProblem(str(file), where, "a secret is written in the file itself",
                                          f'remove it and write {key} = {{ env = "{default_env}" }}, then set '
                                          "that variable (config files end up in backups and repositories)"))
        elif isinstance(value, dict) and set(value) == {"env"}:
            if value["env"] in env:
                data[key] = env[value["env"]]
            else:
                problems.append(ConfigProblem(str(file), where, f"environment variable {value['env']} is not set",
                                              "set it in the service's environment (systemd EnvironmentFile)"))
        elif isinstance(value, dict) and set(value) == {"file"}:
            secret = read_secret_file(Path(value["file"]), problems, str(file), where)
            if secret is not None:
                data[key] = secret
        else:
            problems.append(ConfigProblem(str(file), where, "a secret is given in an unknown form",
                                          'write { env = "NAME" } or { file = "PATH" }'))
    return data


def read_secret_file(path: Path, problems: list[ConfigProblem], file: str, where: str) -> str | None:
    """A secret file's text, refused unless only its owner can read it (mode 0600 or 0400)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        problems.append(ConfigProblem(file, where, f"secret file {path} not found", "create it with mode 0600"))
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        problems.append(ConfigProblem(file, where, f"secret file {path} is readable by others",
                                      f"run: chmod 600 {path}"))
        return None
    return path.read_text(encoding="utf-8").strip()


def _problems(file: str, prefix: str, exc: ValidationError) -> list[ConfigProblem]:
    """Turn pydantic errors into problems, keeping locations and messages but never the input values."""
    out = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in error["loc"])
        key = ".".join(p for p in (prefix, loc) if p)
        kind = error["type"]
        fix = {"missing": "add this key", "extra_forbidden": "remove this key or check its spelling"}.get(kind, "")
        message = "required" if kind == "missing" else "unknown key" if kind == "extra_forbidden" else error["msg"]
        message = message.removeprefix("Value error, ")
        out.append(ConfigProblem(file, key, message, fix))
    return out
