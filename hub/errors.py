"""The failure taxonomy at the plugin boundary, and the core's own user-facing errors.

A plugin raises one of these to tell the dispatcher what to do with a delivery; any other exception is
treated as an unexpected error (retried a few times, then dead-lettered). See docs/plugin-hooks.md.
"""

from __future__ import annotations


class HubError(Exception):
    """An error the CLI shows to staff as a plain message (no traceback)."""


class PluginNotReady(Exception):
    """The service is temporarily unavailable (timeout, 5xx, 429): retry later with backoff.

    `retry_after` is the delay in seconds the service asked for (a Retry-After header, a rate-limit reset);
    the dispatcher waits at least that long.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PluginAuthFailed(Exception):
    """Credentials were refused or revoked: pause this plugin for this branch until `hub auth` is re-run."""


class DeliveryRejected(Exception):
    """The event can never be handled by this plugin (bad data): dead-letter now, do not retry."""


class ConfigError(HubError):
    """One or more configuration problems; `problems` lists them all (file, key, message, fix)."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))


class ConfigProblem:
    """One configuration problem, located precisely enough for a volunteer to fix it."""

    __slots__ = ("file", "fix", "key", "message")

    def __init__(self, file: str, key: str, message: str, fix: str = "") -> None:
        self.file, self.key, self.message, self.fix = file, key, message, fix

    def render(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}" + (f" -> {self.fix}" if self.fix else "")

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "key": self.key, "message": self.message, "fix": self.fix}


class AlreadyRunning(HubError):
    """Another daemon holds the store's lock."""
