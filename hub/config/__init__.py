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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from hub.config.checks import (
    LOG_LEVELS,
    add_lines,
    branch_checks,
    check_listen,
    check_log_level,
    check_phone_region,
    check_public_url,
    check_zone,
    cross_check,
    did_you_mean,
    state_dir_problem,
    validation_problems,
)
from hub.config.env import (
    default_secret_env,
    env_blame,
    env_source,
    environment,
    read_env_file,
    read_secret_file,
    read_toml,
    resolve_secrets,
    secret_fields,
)
from hub.durations import Offset, Seconds, parse_offset
from hub.errors import ConfigError, ConfigProblem
from hub.events import ContractType, OutcomeCategory

__all__ = ["LOG_LEVELS", "BranchConfig", "HubConfig", "HubSettings", "MessagesSettings", "PrivacySettings",
           "RecordsSettings", "config_root", "default_secret_env", "load_config", "read_env_file", "read_secret_file"]

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
    max_body_bytes: int = Field(1_048_576, ge=1024, description="a larger request body is answered 413")
    public_url: str | None = Field(None, description="the HTTPS address the outside world reaches it at")
    header_timeout: Seconds = Field(10, gt=0, le=300, description=(
        "seconds a client has to send a request's headers (from connecting, or from the previous answer); "
        "then it is closed, so stalled sockets cannot pile up"))
    body_timeout: Seconds = Field(30, gt=0, le=3600, description=(
        "seconds a request's body may take to arrive after its headers; a slower one is answered 408"))
    keep_alive: Seconds = Field(5, gt=0, le=300, description=(
        "seconds an idle connection is kept open between two requests (whole seconds, rounded up)"))
    max_connections: int = Field(512, ge=8, le=100_000, description=(
        "open connections at most; beyond it the oldest one still waiting for headers is closed"))
    max_requests_per_connection: int = Field(100, ge=1, description=(
        "requests on one kept-alive connection before it is closed"))

    _listen = field_validator("listen")(check_listen)
    _public_url = field_validator("public_url")(check_public_url)


_DAY = 86400


class RecordsSettings(_Strict):
    """`[records]` of hub.toml: how long the hub keeps what it records for its own operation, not about a person
    (RGPD art. 5.1.e, storage limitation). People's data has its own retention, per branch (`[privacy]`)."""

    operational: Seconds = Field(365 * _DAY, description=(
        "the mails to staff (alerts, /tableau login links, monthly reports) and their deliveries, the input "
        "problems no source has reported again, the alert "
        "claims and the error texts of finished deliveries go this long after they were last written; 1 year, the "
        "upper end of the 6 to 12 months the CNIL recommends for logs. A person's events are never touched "
        "(they go with the person's retention), nor anything still to deliver; a dead delivery keeps its error "
        "this long for `hub retry`. At least 7 days"))
    journal: Seconds = Field(90 * _DAY, description=(
        "a line of the erasure journal (<state_dir>/erasures.jsonl) goes this long after its erasure; a restore "
        "does again only the erasures still in the journal, so keep it AT LEAST AS LONG AS BACKUPS ARE KEPT, "
        "copies off the server included (30 days in the example backup timer: 90 leaves room); at least 1 day"))
    receipts: Seconds = Field(3 * 365 * _DAY, description=(
        "what proves an erasure was answered (each tool's receipt, what staff did by hand, the person's return) "
        "goes this long after the erasure finished (RGPD art. 5.2, accountability); 3 years, the period commonly "
        "cited in France for proof that a right was exercised, which no text fixes for this case: check it with "
        "your DPO. The fact that a hub id was "
        "erased stays, so that the person is not erased again nor brought back"))

    @model_validator(mode="after")
    def _coherent(self) -> RecordsSettings:
        if self.operational < 7 * _DAY:
            raise ValueError("operational must be at least 7 days: staff retry dead deliveries and read problems "
                             "within it")
        if self.journal < _DAY:
            raise ValueError("journal must be at least 1 day, and as long as backups are kept")
        return self


def _viewer_address(value: str) -> str:
    """An address allowed to open /tableau: a real address (never quoted back in the error)."""
    from hub.hygiene import InvalidValue, clean_email

    try:
        address = clean_email(value)
    except InvalidValue:
        raise ValueError("not an e-mail address") from None
    if address is None:
        raise ValueError("an empty address")
    return address


ViewerAddress = Annotated[str, AfterValidator(_viewer_address)]
"""An e-mail address of a /tableau viewer, normalised; compared with hub.identity.email_key."""


class ReportSettings(_Strict):
    """`[report]` of hub.toml: the key figures (`hub report`, docs/report.md)."""

    small_count: int = Field(5, ge=1, le=100, description=(
        "in anything meant to leave a branch, a count below this is shown as \"< 5\" (with this number) and the "
        "rates, medians and sums it could be deduced from are hidden too; the raw view (hub report --raw) is for "
        "the branch's own staff"))
    self_booking: list[str] = Field(["calendly"], description=(
        "sources (plugins) where people book their session themselves, through the link they receive: a first "
        "booking from one of them counts as made in autonomy; a booking from any other source is staff's"))
    network_viewers: list[ViewerAddress] = Field(default_factory=list, description=(
        "addresses that may open the live page /tableau for the whole network (every branch and the network, "
        "small counts hidden as in anything that leaves a branch); they log in with a link sent by mail. A "
        "branch's own staff are listed in that branch's file ([report] viewers)"))
    network_channel_branch: str | None = Field(None, description=(
        "the branch whose mail channel sends the network's mails (the network viewers' login links, the monthly "
        "network report); default: the first branch (by id) that has a mail channel"))
    network_recipients: list[ViewerAddress] = Field(default_factory=list, description=(
        "addresses that get the network's report by mail every month (every branch and the network, small "
        "counts hidden: anything that leaves a branch), as an HTML file attached; sent through the mail channel "
        "of network_channel_branch. A branch's own staff are listed in that branch's file ([report] recipients)"))
    monthly_day: int = Field(1, ge=1, le=28, description=(
        "day of the month the monthly reports (of the month before) are mailed, 1 to 28"))
    monthly_time: str = Field("08:00", description=(
        "local time (HH:MM, each branch's time zone) from which the monthly reports go; never inside the "
        "sending branch's quiet hours ([messages] quiet_hours): then at their end"))
    login_link_life: Seconds = Field(15 * 60, ge=60, le=3600, description=(
        "how long a login link of /tableau stays valid (it also serves only once); 1 minute to 1 hour"))
    session_life: Seconds = Field(8 * 3600, ge=300, le=24 * 3600, description=(
        "how long a /tableau session lasts once the link is followed (then a new link is needed); 5 minutes "
        "to 24 hours"))

    @field_validator("monthly_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError("write the time as HH:MM, e.g. 08:00")
        return value.strip()


class HubSettings(BaseSettings):
    """`config/hub.toml`, overridable by HUB_* environment variables (HUB_STATE_DIR, HUB_DELIVERY__MAX_ATTEMPTS)."""

    model_config = SettingsConfigDict(env_prefix="HUB_", env_nested_delimiter="__", extra="forbid")

    state_dir: Path = Field(Path("var"), description="database, token files and logs")
    timezone: str = Field("Europe/Paris", description="default time zone of the branches")
    poll_interval: Seconds = Field(300, description="default seconds between two polls of a source")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL (case ignored)")
    deadline: Seconds = Field(120, description="seconds a source poll, a delivery or a check may wait for a "
                                               "service before the hub reports it and goes on without it")
    delivery: DeliverySettings = DeliverySettings()
    webhooks: WebhookSettings = WebhookSettings()
    records: RecordsSettings = RecordsSettings()
    report: ReportSettings = ReportSettings()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the environment wins over the file, which is passed in as init values
        return env_source(settings_cls, env_settings), init_settings

    _zone = field_validator("timezone")(check_zone)
    _level = field_validator("log_level")(check_log_level)


def _offset_text(value: str) -> str:
    parse_offset(value)
    return value


Duration = Annotated[str, AfterValidator(_offset_text)]
"""A schedule offset as written ('48h', '3 months'); each item of a list is checked on its own."""


class ScheduleSettings(_Strict):
    reminders: list[Duration] = Field(["48h", "2h"], description="reminders before each session")
    followups: list[Duration] = Field(["1 month", "3 months", "6 months"], description="follow-ups after it")

    def reminder_offsets(self) -> list[Offset]:
        return [parse_offset(v) for v in self.reminders]

    def followup_offsets(self) -> list[Offset]:
        return [parse_offset(v) for v in self.followups]


class MessagesSettings(_Strict):
    """`[messages]` of a branch file: what the branch sends, when, and the practical details mails give."""

    enabled: bool = Field(True, description="send messages at all (false: every message is recorded as skipped)")
    off: list[str] = Field(default_factory=list, description=(
        "purposes the branch does not send, e.g. [\"referrer_outcome\"] (see: hub messages list)"))
    booking_url: str | None = Field(None, description=(
        "the booking page sent with the registration (the candidate's hub id is added as utm_content)"))
    relance_after: Seconds = Field(3 * 86400, description="one reminder to book when nothing is booked by then")
    needs_call_after: Seconds = Field(10 * 86400, description=(
        "no booking after this: the person is listed as needing a call in hub status"))
    quiet_hours: str = Field("21:00-08:00", description="no message to a candidate in these local hours (HH:MM-HH:MM)")
    daily_cap: int = Field(400, ge=1, description="messages per day and channel; the rest wait for the next day")
    per_person_daily: int = Field(3, ge=1, description="messages per person per day; the rest wait")
    changed_interval: Seconds = Field(3600, description="at least this between two 'moved' or 'cancelled' mails")
    from_name: str | None = Field(None, description="sender name (default: the branch's name)")
    reply_to: str | None = Field(None, description="where replies go (default: the sending mailbox)")
    phone: str | None = Field(None, description="the branch's phone number, given in mails")
    address: str | None = Field(None, description="where sessions take place when the booking gives no place")
    what_to_bring: str | None = Field(None, description="what candidates should bring (a CV, an ID...)")
    signature: str | None = Field(None, description="how mails are signed (default: L'équipe de <name>)")
    referrer_notes: bool = Field(True, description=(
        "a word to the referring structure on registration, attendance and outcome, when the candidate consented"))
    essential: list[str] = Field(default_factory=lambda: ["session_moved", "session_cancelled"], description=(
        "purposes still sent to a person who opted out (their own session moved or cancelled, by default)"))
    sms: list[str] = Field(default_factory=lambda: ["booking_confirmed", "reminder", "session_moved",
                                                    "session_cancelled"], description=(
        "purposes also sent by SMS, from <purpose>.sms.j2, when the branch names an sms channel "
        "(channels = { sms = \"...\" }); the e-mail goes as well; [] sends no SMS"))
    followup_link_days: int = Field(60, ge=1, le=366, description=(
        "days the personal link of a follow-up mail stays valid: the person answers \"Où en êtes-vous ?\" in "
        "one click and may change the answer with the same link until then (needs webhooks.public_url)"))

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError("write quiet hours as HH:MM-HH:MM, e.g. 21:00-08:00")
        return value.strip()


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


class PrivacySettings(_Strict):
    """`[privacy]` of a branch file: how long the branch keeps people's data."""

    retention: Seconds = Field(2 * 365 * 86400, description=(
        "a person is erased, from the hub and from every tool as `hub forget` does, this long after their last "
        "contact (last session, outcome, or message received); the CNIL's framework for social support keeps "
        "the active base 2 years after the last contact; written \"2 ans\", \"730 jours\" or \"104 semaines\""))
    purge: bool = Field(True, description=(
        "run the purge every day in `hub run`; false: only `hub retention` does it, when staff run it"))
    share: dict[str, list[str]] = Field(default_factory=dict, description=(
        "plugin -> the person's fields that plugin is handed and may copy into its tool, replacing what the "
        "plugin declares (docs/data-map.md lists both): first_name, last_name, email, phone, registered_at, "
        "consent, referrer.structure, referrer.kind, referrer.contact_name, referrer.contact_email, "
        "extra.<question> (a free-text answer, never handed over unless named here), session.cancel_reason"))

    @field_validator("share")
    @classmethod
    def _known_fields(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from hub.privacy.share import FIELDS, check_fields

        for plugin, fields in value.items():
            unknown = check_fields(fields)
            if unknown:
                names = ", ".join(f for f in FIELDS if f != "extra.<question>")
                raise ValueError(f"share.{plugin}: unknown field {unknown[0]!r}; use {names} or extra.<question>")
        return value


class BranchReportSettings(_Strict):
    """`[report]` of a branch file: who of the branch sees its figures, and who gets them every month."""

    viewers: list[ViewerAddress] = Field(default_factory=list, description=(
        "the branch's staff who may open the live page /tableau: they see this branch's figures only, every "
        "count included (they already know these people); they log in with a link sent by mail through the "
        "branch's mail channel, no password"))
    recipients: list[ViewerAddress] = Field(default_factory=list, description=(
        "the branch's staff who get its report by mail every month (the month before, every count included: "
        "for the branch's team only), as an HTML file attached, through the branch's mail channel; empty: no "
        "monthly mail"))


class BranchConfig(_Strict):
    """One branch file. Plugin tables are validated apart, each by its plugin's model."""

    id: str
    file: str = ""
    name: str
    timezone: str | None = None
    phone_region: str = Field("FR", description=(
        "country whose national numbers people type (06 12 34 56 78 is read as +33 6...): FR, BE, CH, LU..."))
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
        "webhook URLs (chat tools), or e-mail addresses mailed through the branch's mail channel"))
    messages: MessagesSettings = MessagesSettings()
    privacy: PrivacySettings = PrivacySettings()
    report: BranchReportSettings = BranchReportSettings()
    channels: dict[str, str] = Field(default_factory=dict, description=(
        "which plugin delivers each medium, e.g. { email = \"gmail\" }; default: the one enabled plugin that can"))
    settings: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone(value)

    _region = field_validator("phone_region")(check_phone_region)

    def outcome_for(self, label: str) -> OutcomeLabel | None:
        """The meaning of a label, matched without regard to case or surrounding spaces."""
        wanted = label.strip().casefold()
        for known, meaning in self.outcomes.items():
            if known.strip().casefold() == wanted:
                return meaning
        return None

    def attendance_labels(self) -> list[str]:
        """The branch's outcome labels that say whether the person came (present or absent)."""
        return [k for k, v in self.outcomes.items() if v.category in (OutcomeCategory.PRESENT, OutcomeCategory.ABSENT)]

    def result_labels(self) -> list[str]:
        """The branch's outcome labels that say what came of the journey (every label but attendance)."""
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
    if raw.is_dir() or raw.suffix != ".toml":
        return raw, raw / "hub.toml"
    return raw.parent, raw


def load_config(path: str | os.PathLike[str] | None, plugin_models: Mapping[str, type[BaseModel] | None],
                *, environ: Mapping[str, str] | None = None, strict: bool = True) -> HubConfig:
    """Read and validate everything; raise ConfigError listing every error (unless strict=False).

    `environ` replaces os.environ (HUB_* overrides and secrets); `secrets.env` beside hub.toml comes under it.
    `HubConfig.problems` holds errors and notes (level "note": shown by `hub config check`, never failing).
    """
    root, hub_file = config_root(path)
    problems: list[ConfigProblem] = []
    if not root.is_dir():
        what = "not a directory" if root.exists() else "no such directory"
        problems.append(ConfigProblem(str(root), "", what, f"create it (mkdir -p {root}) or name the right one: "
                                      "hub --config DIR config check"))
        config = HubConfig(hub=HubSettings.model_construct(), branches={}, root=root, problems=problems)
        if strict:
            raise ConfigError(problems)
        return config
    env = {**read_env_file(root / "secrets.env", problems), **(os.environ if environ is None else environ)}
    hub, env_for = _load_hub(hub_file, read_toml(hub_file, problems, required=False), env, problems)
    branches: dict[str, BranchConfig] = {}
    branch_dir = root / "branches"
    files = sorted(branch_dir.glob("*.toml")) if branch_dir.is_dir() else []
    if not files:
        problems.append(ConfigProblem(str(branch_dir), "", "no branch file found",
                                      "create branches/<branch>.toml (see config/examples/branches/)"))
    for file in files:
        branch = _load_branch(file, plugin_models, env, problems)
        if branch is not None:
            branches[branch.id] = branch
    config = HubConfig(hub=hub, branches=branches, root=root, problems=problems)
    sender = hub.report.network_channel_branch
    if sender is not None and branches and sender not in branches:
        blamed = env_for(("report", "network_channel_branch"))
        problems.append(ConfigProblem("" if blamed else str(hub_file), "report.network_channel_branch",
                                      f"no branch {sender!r}", f"name one of: {', '.join(sorted(branches))}",
                                      env=blamed))
    why = state_dir_problem(config.state_dir)
    if why:
        blamed = env_for(("state_dir",))
        problems.append(ConfigProblem("" if blamed else str(hub_file), "state_dir", why,
                                      "create it, or set state_dir to a folder the hub's user may write",
                                      env=blamed))
    if not any(p.is_error for p in problems):
        from hub.messages.checks import template_problems  # the templates render with the branches' settings
        problems += template_problems(config)
    add_lines(problems)
    if strict and any(p.is_error for p in problems):
        raise ConfigError([p for p in problems if p.is_error])
    return config


def _load_hub(hub_file: Path, data: dict[str, Any], env: Mapping[str, str],
              problems: list[ConfigProblem]) -> tuple[HubSettings, Callable[[tuple[Any, ...]], str]]:
    """hub.toml under the HUB_* variables; on errors, the settings without the faulty keys (for the checks
    that follow), and each error blamed on the variable its value came from, if it did."""
    env_for = env_blame(HubSettings, env)
    bad: set[str] = set()
    try:
        with environment(env):
            return HubSettings(**data), env_for
    except ValidationError as exc:
        problems += validation_problems(str(hub_file), "", exc, HubSettings, env_for=env_for, env_keeps_file=False)
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    except SettingsError as exc:  # a HUB_<TABLE> variable that is not JSON
        problems.append(ConfigProblem("", "", f"a HUB_* environment variable cannot be read ({exc})",
                                      "write it as JSON, or set HUB_<TABLE>__<KEY> variables instead"))
        env = {}
    prefixes = tuple(f"HUB_{key.upper()}" for key in bad)
    kept = {k: v for k, v in env.items() if not any(k.upper() == p or k.upper().startswith(p + "__")
                                                  for p in prefixes)}
    try:
        with environment(kept):
            return HubSettings(**{k: v for k, v in data.items() if k not in bad}), env_for
    except (ValidationError, SettingsError):
        return HubSettings.model_construct(), env_for


def _branch_model(file: Path, branch_id: str, data: dict[str, Any],
                  problems: list[ConfigProblem]) -> tuple[BranchConfig, bool]:
    """The branch's own keys, validated; on errors, a stand-in without the faulty keys, so that they hide
    nothing else (the plugin tables and the cross-references are still checked against it)."""
    try:
        return BranchConfig(id=branch_id, file=str(file), **data), True
    except ValidationError as exc:
        problems += validation_problems(str(file), "", exc, BranchConfig)
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    kept = {"name": branch_id, **{k: v for k, v in data.items() if k not in bad}}
    try:
        branch = BranchConfig(id=branch_id, file=str(file), **kept)
    except ValidationError:
        branch = BranchConfig(id=branch_id, file=str(file), name=branch_id)
    raw = data.get("programmes")
    if "programmes" in bad and isinstance(raw, dict):  # keep the keys plugins refer to
        branch.programmes = {key: Programme.model_construct(label=key, modules=_strings(value.get("modules")))
                             for key, value in raw.items() if isinstance(value, dict)}
    return branch, False


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _load_branch(file: Path, plugin_models: Mapping[str, type[BaseModel] | None], env: Mapping[str, str],
                 problems: list[ConfigProblem]) -> BranchConfig | None:
    """One branch file: its own keys, its plugins list and each plugin table, each checked independently."""
    before = len(problems)
    data = read_toml(file, problems, required=True)
    if len(problems) > before:
        return None
    branch_id = file.stem
    if not BRANCH_ID.match(branch_id):
        problems.append(ConfigProblem(str(file), "", f"branch id {branch_id!r} is not usable",
                                      "rename the file with lowercase letters, digits, '-' or '_'"))
        return None
    raw_plugins = data.get("plugins", [])
    listed = _strings(raw_plugins)
    tables = {k: data.pop(k) for k in list(data) if k in plugin_models or k in listed}
    # plugins itself unreadable (e.g. a string): its error is reported; still check the tables given
    enabled = listed if isinstance(raw_plugins, list) else [*listed, *(t for t in tables if t not in listed)]
    branch, valid = _branch_model(file, branch_id, data, problems)
    for index, name in enumerate(listed):
        if name not in plugin_models:
            known = ", ".join(sorted(plugin_models)) or "none installed"
            problems.append(ConfigProblem(
                str(file), f"plugins[{index}]",
                f"unknown plugin {name!r}{did_you_mean(name, plugin_models)} (installed: {known})",
                "fix the name, or install the plugin (pip install -e '.[all]'), then run: hub plugins"))
        elif name in listed[:index]:
            problems.append(ConfigProblem(str(file), f"plugins[{index}]", f"{name!r} is listed twice",
                                          "remove the repeated name"))
    for name in dict.fromkeys([*tables, *enabled]):
        if name not in enabled:
            problems.append(ConfigProblem(str(file), name, f"a [{name}] table but {name!r} is not in plugins",
                                          f'add "{name}" to plugins or remove the table'))
            continue
        if name not in plugin_models:
            continue
        table = tables.get(name, {})
        if not isinstance(table, dict):
            problems.append(ConfigProblem(str(file), name, "must be a table", f"write [{name}] on its own line"))
            continue
        validated, stand_in = _plugin_settings(file, branch_id, name, plugin_models[name], table, env, problems)
        if validated is not None:
            branch.settings[name] = validated
        if stand_in is not None:
            problems += cross_check(file, branch, name, stand_in)
    for key, message, fix in branch_checks(branch):
        problems.append(ConfigProblem(str(file), key, message, fix))
    return branch if valid else None


def _plugin_settings(file: Path, branch: str, plugin: str, model: type[BaseModel] | None, table: dict[str, Any],
                     env: Mapping[str, str], problems: list[ConfigProblem]) -> tuple[BaseModel | None, ...]:
    """(settings, stand-in for the cross-references): a plugin table validated by its model. A secret that
    cannot be had, or a faulty key, hides none of the other keys nor the cross-references (checked on a
    stand-in without the faulty keys, secrets replaced by a placeholder, when one validates).

    Validators may leave notes (a value they corrected) for the user: with `info.context["notes"]`, a list,
    they append (key, message, fix); these are reported at level "note".
    """
    if model is None:
        if table:
            problems.append(ConfigProblem(str(file), plugin, "this plugin takes no settings", "remove the table"))
        return None, None
    data, failed, from_env = resolve_secrets(file, branch, plugin, model, dict(table), env, problems)
    notes: list[tuple[str, str, str]] = []
    try:
        settings = model.model_validate(data, context={"notes": notes})
        bad: set[str] = set()
    except ValidationError as exc:
        problems += validation_problems(str(file), plugin, exc, model, skip=failed,
                                        env_for=lambda loc: from_env.get(str(loc[0]), "") if loc else "")
        settings, bad = None, {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    for key, message, fix in notes:
        problems.append(ConfigProblem(str(file), f"{plugin}.{key}", message, fix, level="note"))
    if settings is not None and not failed:
        return settings, settings
    try:
        secrets = set(secret_fields(model)) & (failed | bad)
        kept = {k: v for k, v in data.items() if k not in bad} | dict.fromkeys(secrets, "placeholder")
        return None, model.model_validate(kept, context={"notes": []})
    except ValidationError:
        return None, None
