"""The failure taxonomy at the plugin boundary, and the core's own user-facing errors.

A plugin raises one of these to tell the dispatcher what to do with a delivery; any other exception is
treated as an unexpected error (retried a few times, then dead-lettered). See docs/plugin-hooks.md.
"""

from __future__ import annotations

__all__ = ["AlreadyRunning", "ConfigError", "ConfigProblem", "DeliveryRejected", "DeliverySkipped", "HubError",
           "PluginAuthFailed", "PluginNotReady"]

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
    """Credentials were refused or revoked: pause this plugin for this branch until `hub auth` is re-run.

    `fix` is the command that gives new credentials, when the plugin has one (e.g. "hub auth google --branch
    lyon"); staff are then told to run it and `hub retry`. Without it they are sent to `hub doctor`.
    """

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix


class DeliveryRejected(Exception):
    """The event can never be handled by this plugin (bad data): dead-letter now, do not retry."""


class DeliverySkipped(Exception):
    """This event has nothing to do for this plugin, and that is nobody's fault: e.g. an SMS channel given a
    message for a person without a mobile number, or who opted out of SMS in the gateway itself. The delivery is
    recorded as skipped with the message as its reason (`hub deliveries` shows it), never retried, and no alert
    is sent, unlike DeliveryRejected. No personal data in the message."""


class ConfigError(HubError):
    """One or more configuration problems; `problems` lists them all (file, key, message, fix)."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))


class ConfigProblem:
    """One configuration problem, located precisely enough for a volunteer to fix it.

    `file` and `key` say where (key with list indexes: `schedule.reminders[1]`), `line` the line of that key in
    the file when it could be found, `env` the environment variable the faulty value came from (then it is the
    one to fix, not the file). `level` is "error" (the check fails) or "note" (shown, not failing: e.g. a value
    the hub corrected itself).
    """

    __slots__ = ("env", "file", "fix", "key", "level", "line", "message")

    def __init__(self, file: str, key: str, message: str, fix: str = "", *, line: int | None = None,
                 level: str = "error", env: str = "") -> None:
        self.file, self.key, self.message, self.fix = file, key, message, fix
        self.line, self.level, self.env = line, level, env

    @property
    def is_error(self) -> bool:
        """True for a problem that stops the hub from starting (a warning does not)."""
        return self.level == "error"

    def render(self) -> str:
        """One line for staff: where (file:line, key or environment variable), what is wrong, and the fix."""
        place = f"{self.file}:{self.line}" if self.file and self.line else self.file
        where = ": ".join(p for p in (place, self.key) if p)
        if self.env:
            where = f"environment variable {self.env}" + (f" ({where})" if where else "")
        return f"{where}: {self.message}" + (f" -> {self.fix}" if self.fix else "")

    def as_dict(self) -> dict[str, str | int | None]:
        """The problem as JSON-ready fields, for `--json` output (never a secret's value)."""
        return {"file": self.file, "key": self.key, "line": self.line, "env": self.env, "level": self.level,
                "message": self.message, "fix": self.fix}

    def __repr__(self) -> str:
        return f"ConfigProblem({self.render()!r})"


class AlreadyRunning(HubError):
    """Another daemon holds the store's lock."""
