"""The checks of hub.config beyond the models' own types: turning pydantic errors into problems (list indexes,
did-you-mean, never the input values), value checks the daemon would otherwise crash on, cross-references of
a branch file, the state directory, and line numbers.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ValidationError

from hub.config.lines import key_lines, line_of
from hub.errors import ConfigProblem

if TYPE_CHECKING:
    from hub.config import BranchConfig

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
_LISTEN = re.compile(r"^(?:\[[0-9A-Fa-f:.%a-z]+\]|[^\s:\[\]/]+):(\d{1,5})$")
_URL = re.compile(r"^https?://(?:\[[0-9A-Fa-f:.]+\]|[^/\s:?#@\[\]]+)(?::\d{1,5})?(?:/[^\s?#]*)?$")

Check = tuple[str, str, str]
"""(key, message, fix) as returned by a settings model's `check_branch`."""


def suggestion(word: str, choices: Iterable[str]) -> str | None:
    """The closest of `choices` to `word` (case ignored), or None."""
    by_fold = {c.casefold(): c for c in choices}
    close = difflib.get_close_matches(word.casefold(), list(by_fold), n=1, cutoff=0.6)
    return by_fold[close[0]] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = suggestion(word, choices)
    return f" (did you mean {close!r}?)" if close else ""


# --- value checks (used by the models' validators) ----------------------------------------------------------

def check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone{did_you_mean(value, available_timezones())}; "
                         "use a name such as 'Europe/Paris'") from None
    return value


def check_phone_region(value: str) -> str:
    """A region code phonenumbers knows (FR, BE, CH...), upper-cased: national numbers are read in it."""
    from hub.hygiene import phone_regions

    code = value.strip().upper()
    if code not in phone_regions():
        raise ValueError(f"unknown phone region{did_you_mean(code, phone_regions())}; "
                         "use a two-letter country code such as 'FR' or 'BE'")
    return code


def check_log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"unknown log level{did_you_mean(level, LOG_LEVELS)}; use one of {', '.join(LOG_LEVELS)}")
    return level


def check_listen(value: str | None) -> str | None:
    match = _LISTEN.match(value.strip()) if value is not None else None
    if value is not None and not (match and 1 <= int(match.group(1)) <= 65535):
        raise ValueError("must be host:port with a port from 1 to 65535, e.g. '127.0.0.1:8787' or '[::1]:8787'")
    return value.strip() if value is not None else None


def check_public_url(value: str | None) -> str | None:
    if value is not None and not _URL.match(value.strip()):
        raise ValueError("must be an absolute http(s) address without ?query or #part, e.g. 'https://hub.example.org'")
    return value.strip() if value is not None else None


# --- pydantic errors -> problems ----------------------------------------------------------------------------

def location(loc: Iterable[Any]) -> str:
    """('schedule', 'reminders', 1) -> 'schedule.reminders[1]'; keys that are not bare TOML keys are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = str(part) if _BARE.match(str(part)) else '"' + str(part).replace('"', '\\"') + '"'
        out += f".{text}" if out else text
    return out


def _inner_model(annotation: Any, step: Any) -> tuple[Any, bool]:
    """The type one step down `annotation` (a field, a list item, a dict value); (type, step consumed)."""
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _inner_model(arg, step)
    if origin in (list, tuple, set, frozenset) and isinstance(step, int):
        return typing.get_args(annotation)[0] if typing.get_args(annotation) else None, True
    if origin is dict and isinstance(step, str):
        args = typing.get_args(annotation)
        return (args[1] if len(args) == 2 else None), True
    if origin is typing.Annotated:
        return _inner_model(typing.get_args(annotation)[0], step)
    return annotation, False


def fields_at(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model holding the last part of `loc` (what an unknown key may have meant)."""
    current: Any = model
    for part in loc[:-1]:
        consumed = False
        while not consumed:
            if isinstance(current, type) and issubclass(current, BaseModel):
                if not isinstance(part, str) or part not in current.model_fields:
                    return []
                current, consumed = current.model_fields[part].annotation, True
            else:
                inner, consumed = _inner_model(current, part)
                if not consumed and inner is current:
                    return []
                current = inner
    while not (isinstance(current, type) and issubclass(current, BaseModel)):
        inner, _ = _inner_model(current, None)
        if inner is current:
            return []
        current = inner
    return [name for name in current.model_fields if name not in ("id", "file", "settings")]


def validation_problems(file: str, prefix: str, exc: ValidationError, model: Any = None, *,
                        env_for: Callable[[tuple[Any, ...]], str] | None = None,
                        skip: Iterable[str] = (), env_keeps_file: bool = True) -> list[ConfigProblem]:
    """Pydantic errors as problems: locations with indexes and messages, never the input values.

    `env_for(loc)` names the environment variable a value came from ("" if none); errors under a top-level key
    in `skip` (already reported, e.g. a secret that could not be read) are left out. A value from the
    environment is blamed on its variable, and not on `file` unless `env_keeps_file` (a branch's secret).
    """
    skipped = set(skip)
    out = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = tuple(error["loc"])
        if loc and str(loc[0]) in skipped:
            continue
        key = ".".join(p for p in (prefix, location(loc)) if p)
        kind = error["type"]
        if kind == "missing":
            message, fix = "required", "add this key"
        elif kind == "extra_forbidden":
            close = suggestion(str(loc[-1]), fields_at(model, loc)) if loc else None
            message = "unknown key" + (f" (did you mean {close!r}?)" if close else "")
            fix = f"rename it to {close}" if close else "remove this key or check its spelling"
        else:
            message, fix = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, "), ""
        env = env_for(loc) if env_for else ""
        if env:
            fix = (fix + "; " if fix else "") + f"change or unset {env} (service environment or secrets.env)"
        out.append(ConfigProblem(file if not env or env_keeps_file else "", key, message, fix, env=env))
    return out


# --- the state directory ------------------------------------------------------------------------------------

def state_dir_problem(state_dir: Path) -> str | None:
    """Why the state directory cannot be used, or None; checked without creating anything."""
    probe = state_dir
    try:
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if probe == state_dir and not state_dir.is_dir():
            return f"{state_dir} exists and is not a folder"
        if not probe.is_dir():
            return f"{state_dir} cannot be created because {probe} is not a folder"
    except OSError as exc:
        return f"{state_dir} cannot be checked ({exc.strerror or type(exc).__name__})"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{state_dir} is not writable" if probe == state_dir else \
            f"{state_dir} cannot be created because {probe} is not writable"
    return None


# --- cross-references inside a branch file --------------------------------------------------------------------

def branch_checks(branch: BranchConfig) -> list[Check]:
    """What the types accept but means nothing: outcome labels that clash or say nothing, repeated modules."""
    out: list[Check] = []
    seen: dict[str, str] = {}
    for label, meaning in branch.outcomes.items():
        key = f"outcomes.{location([label])}"
        folded = label.strip().casefold()
        if not folded:
            out.append((key, "an empty label", "give the label staff pick, e.g. \"CDI\""))
        elif folded in seen:
            out.append((key, f"the same label as {seen[folded]!r} once case and spaces are ignored",
                        "keep one of the two"))
        seen.setdefault(folded, label)
        if meaning.category is None and meaning.contract_type is None:
            out.append((key, "says neither category nor contract_type", 'add e.g. category = "present"'))
        if meaning.contract_months is not None and meaning.contract_type is None:
            out.append((f"{key}.contract_months", "contract_months without contract_type",
                        'add contract_type (e.g. "CDD") or remove contract_months'))
        if meaning.contract_months is not None and meaning.contract_months <= 0:
            out.append((f"{key}.contract_months", "must be more than 0", "write the contract's length in months"))
    for name, programme in branch.programmes.items():
        modules = [m.strip().casefold() for m in programme.modules]
        for index, module in enumerate(modules):
            if module in modules[:index]:
                out.append((f"programmes.{location([name])}.modules[{index}]", "this module is listed twice",
                            "remove the repeated one"))
    return out


def programme_checks(branch: BranchConfig, key: str, programme: str | None, module: str | None = None,
                     module_key: str = "") -> list[Check]:
    """For plugins' `check_branch`: a programme key (and a module of it) named in a plugin table must exist."""
    if programme is None:
        return []
    known = branch.programmes
    if programme not in known:
        close = suggestion(programme, known)
        listed = ", ".join(sorted(known)) or "none"
        return [(key, f"no programme {programme!r} in [programmes]"
                 + (f" (did you mean {close!r}?)" if close else f" (known: {listed})"),
                 f"write {close}" if close else f"use one of: {listed}, or add a [programmes.{programme}] table")]
    modules = known[programme].modules
    if module is not None and module not in modules:
        close = suggestion(module, modules)
        listed = ", ".join(repr(m) for m in modules) or "none"
        return [(module_key or key, f"no module {module!r} in programme {programme!r}"
                 + (f" (did you mean {close!r}?)" if close else f" (modules: {listed})"),
                 f"write {close}" if close else f"add it to modules of [programmes.{programme}] or remove module")]
    return []


def cross_check(file: Path, branch: BranchConfig, plugin: str, settings: BaseModel) -> list[ConfigProblem]:
    """Call the plugin model's optional `check_branch(branch) -> list[(key, message, fix)]`.

    The contract, for plugin authors: after a branch's plugin table validated, load_config calls
    `settings.check_branch(branch)` with the BranchConfig (its programmes, outcomes, timezone...; a stand-in
    without the faulty keys if the branch's own keys had errors). It returns what the table names that the
    branch lacks, as (key relative to the plugin table, e.g. "event_types.intro.programme"; a one-sentence
    message; a fix), reported as errors. It must not do I/O; hub.config.checks.programme_checks helps.
    """
    check = getattr(settings, "check_branch", None)
    if not callable(check):
        return []
    try:
        found = list(check(branch))
    except Exception as exc:  # a plugin's bug must not hide the rest of the check
        return [ConfigProblem(str(file), plugin, f"the plugin's own check failed ({type(exc).__name__})",
                              "report it to the plugin's authors; run: hub plugins")]
    return [ConfigProblem(str(file), f"{plugin}.{key}" if key else plugin, message, fix) for key, message, fix in found]


# --- line numbers ---------------------------------------------------------------------------------------------

def add_lines(problems: list[ConfigProblem]) -> None:
    """Give each problem on a TOML key the line that key is written on, when it can be found."""
    cache: dict[str, dict[tuple[str, ...], int]] = {}
    for problem in problems:
        if problem.line is not None or not problem.key or not problem.file.endswith(".toml"):
            continue
        if problem.file not in cache:
            try:
                cache[problem.file] = key_lines(Path(problem.file).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                cache[problem.file] = {}
        problem.line = line_of(cache[problem.file], problem.key)
