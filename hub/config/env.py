"""Where hub.config's values come from besides the TOML files: HUB_* variables (read from the mapping given to
load_config, so that a faulty value is blamed on its variable), `secrets.env` and 0600 secret files.
"""

from __future__ import annotations

import io
import logging
import re
import stat
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

from hub.errors import ConfigProblem

_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("hub_config_environ", default=None)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MappingEnvSource(EnvSettingsSource):
    """The settings' environment variables, read from a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {(k if self.case_sensitive else k.lower()): v for k, v in self._environ.items()
                if not (self.env_ignore_empty and v == "")}


def env_source(settings_cls: type[BaseSettings], default: PydanticBaseSettingsSource) -> PydanticBaseSettingsSource:
    """For `settings_customise_sources`: the environment given to load_config, else the process's."""
    environ = _ENVIRON.get()
    return default if environ is None else MappingEnvSource(settings_cls, environ)


@contextmanager
def environment(environ: Mapping[str, str]) -> Iterator[None]:
    """Settings built inside read their variables from `environ`."""
    token = _ENVIRON.set(environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


def env_blame(settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> Callable[[tuple[Any, ...]], str]:
    """loc of a validation error -> the variable its value came from (HUB_DELIVERY__MAX_ATTEMPTS), or ""."""
    try:
        values: Any = MappingEnvSource(settings_cls, environ)()
    except ValueError:
        values = {}
    names = {name.upper(): name for name in environ}
    prefix = str(settings_cls.model_config.get("env_prefix", "")).upper()
    delimiter = str(settings_cls.model_config.get("env_nested_delimiter") or "__")

    def env_for(loc: tuple[Any, ...]) -> str:
        node, depth = values, 0
        for part in loc:
            if not isinstance(node, dict) or str(part).lower() not in {str(k).lower() for k in node}:
                break
            node = next(v for k, v in node.items() if str(k).lower() == str(part).lower())
            depth += 1
        for i in range(depth, 0, -1):
            name = prefix + delimiter.join(str(p) for p in loc[:i]).upper()
            if name in names:
                return names[name]
        return ""

    return env_for


def read_toml(path: Path, problems: list[ConfigProblem], *, required: bool) -> dict[str, Any]:
    """A TOML file's data; {} and a problem if it cannot be read or parsed."""
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
    except OSError as exc:
        problems.append(ConfigProblem(str(path), "", f"cannot be read ({exc.strerror or type(exc).__name__})",
                                      "let the hub's user read it"))
    return {}


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
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(ConfigProblem(file, where, f"secret file {path} cannot be read "
                                      f"({getattr(exc, 'strerror', None) or type(exc).__name__})",
                                      "let the hub's user read it (chown), keeping mode 0600"))
        return None


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False  # python-dotenv's own warning about a bad line: reported as a problem instead


def read_env_file(path: Path, problems: list[ConfigProblem]) -> dict[str, str]:
    """`secrets.env`: NAME=value lines as a systemd EnvironmentFile or a shell writes them (quotes, comments,
    `export NAME=value`), read with python-dotenv without expanding $VARIABLES; refused unless private."""
    if not path.exists():
        return {}
    text = read_secret_file(path, problems, str(path), "")
    if text is None:
        return {}
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            problems.append(ConfigProblem(str(path), "", "this line is not NAME=value",
                                          "write NAME=value, quoting a value that has spaces", line=line))
        elif binding.key is not None and not _NAME.match(binding.key):
            problems.append(ConfigProblem(str(path), "", "not a usable variable name",
                                          "use letters, digits and '_' only (e.g. HUB_LYON_CALENDLY_TOKEN)", line=line))
        elif binding.key is not None and binding.value is None:
            problems.append(ConfigProblem(str(path), binding.key, "no value", f"write {binding.key}=value", line=line))
    logger, quiet = logging.getLogger("dotenv.main"), _Quiet()
    logger.addFilter(quiet)
    try:
        values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    finally:
        logger.removeFilter(quiet)
    return {k: v for k, v in values.items() if v is not None and _NAME.match(k)}


def secret_fields(model: type[BaseModel]) -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ()):
            out.append(name)
    return out


def default_secret_env(branch: str, plugin: str, key: str) -> str:
    """The environment variable a secret setting is read from when the branch file names none:
    `HUB_<BRANCH>_<PLUGIN>_<KEY>`, upper-cased, anything but letters and digits turned into `_`."""
    return re.sub(r"[^A-Z0-9]", "_", f"HUB_{branch}_{plugin}_{key}".upper())


def resolve_secrets(file: Path, branch: str, plugin: str, model: type[BaseModel], data: dict[str, Any],
                     env: Mapping[str, str], problems: list[ConfigProblem],
                     ) -> tuple[dict[str, Any], set[str], dict[str, str]]:
    """(data with the secrets put in, keys whose secret could not be had, key -> variable it came from)."""
    failed: set[str] = set()
    from_env: dict[str, str] = {}
    for key in secret_fields(model):
        where = f"{plugin}.{key}"
        value = data.get(key)
        default_env = default_secret_env(branch, plugin, key)
        if value is None:
            if default_env in env:
                data[key], from_env[key] = env[default_env], default_env
            continue
        if isinstance(value, str):
            problems.append(ConfigProblem(str(file), where, "a secret is written in the file itself",
                                          f'remove it and write {key} = {{ env = "{default_env}" }}, then set '
                                          "that variable (config files end up in backups and repositories)"))
        elif isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str):
            if value["env"] in env:
                data[key], from_env[key] = env[value["env"]], value["env"]
                continue
            problems.append(ConfigProblem(str(file), where, f"environment variable {value['env']} is not set",
                                          "set it in the service's environment or in secrets.env"))
        elif isinstance(value, dict) and set(value) == {"file"} and isinstance(value["file"], str):
            secret = read_secret_file(Path(value["file"]), problems, str(file), where)
            if secret is not None:
                data[key] = secret
                continue
        else:
            problems.append(ConfigProblem(str(file), where, "a secret is given in an unknown form",
                                          'write { env = "NAME" } or { file = "PATH" }'))
        failed.add(key)
        data.pop(key, None)
    return data, failed, from_env
