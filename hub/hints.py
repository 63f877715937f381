"""The commands the hub tells people to run. Every hint printed anywhere is built here, so a test can run each
one through the real command line and prove it exists and parses (tests/test_hints.py)."""

from __future__ import annotations

import shlex


def _cmd(*parts: str) -> str:
    return "hub " + " ".join(shlex.quote(p) for p in parts)


def retry(branch: str | None = None, plugin: str | None = None) -> str:
    """Deliver again what is dead or waiting, and resume a paused plugin."""
    args = ["retry"]
    if branch:
        args += ["--branch", branch]
    if plugin:
        args += ["--plugin", plugin]
    return _cmd(*args)


def failed_deliveries(branch: str | None = None, plugin: str | None = None) -> str:
    args = ["deliveries", "--failed"]
    if branch:
        args += ["--branch", branch]
    if plugin:
        args += ["--plugin", plugin]
    return _cmd(*args)


def doctor(branch: str | None = None) -> str:
    return _cmd("doctor", *(["--branch", branch] if branch else []))


def status(branch: str | None = None) -> str:
    return _cmd("status", *(["--branch", branch] if branch else []))


def plugins() -> str:
    return _cmd("plugins")


def config_check() -> str:
    return _cmd("config", "check")


def after_auth_failure(branch: str, plugin: str, fix: str | None) -> str:
    """What to run when a plugin was paused: the plugin's own fix (e.g. `hub auth google --branch B`) when it
    names one, then resume; otherwise check the credentials with doctor, then resume."""
    first = fix or doctor(branch)
    return f"{first}, then {retry(branch, plugin)}"


def after_dead_letters(branch: str, plugin: str) -> str:
    return f"{failed_deliveries(branch, plugin)}, fix the cause, then {retry(branch, plugin)}"


def after_source_failure(branch: str) -> str:
    return doctor(branch)


def commands_in(text: str) -> list[str]:
    """The `hub ...` commands quoted in a hint (split at ', then ' and ' -> ')."""
    out = []
    for part in text.replace(" -> ", ", then ").split(", then "):
        part = part.strip()
        start = part.find("hub ")
        if start >= 0:
            out.append(part[start:].split(",")[0].strip())
    return out
