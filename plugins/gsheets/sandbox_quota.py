"""Sheets' per-minute quotas, as Google counts them (https://developers.google.com/sheets/api/limits):
60 read and 60 write requests per minute per user per project, 300 of each per minute per project. Every
branch connected with the same Google account spends the same per-user budget; every account of the same
Cloud project (OAuth client or service account's project) the same per-project one. Quotas refill every
minute; a request over one is refused with Google's 429 RESOURCE_EXHAUSTED body naming the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from hub_gsheets.sandbox_model import PROJECT, ApiError, quota_body

PER_USER = 60
PER_PROJECT = 300


@dataclass
class Quota:
    """Off until `enabled`; `users` maps an access token to the Google account it belongs to (a token not
    listed is its own account), `projects` an account to its Cloud project (default: one project)."""

    clock: Callable[[], datetime]
    enabled: bool = False
    per_user: int = PER_USER
    per_project: int = PER_PROJECT
    users: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)
    _spent: dict[tuple[str, str, str, int], int] = field(default_factory=dict)

    def charge(self, token: str, kind: str) -> None:
        """Count one request of `kind` (read/write) for the token's account and project, or raise the 429."""
        if not self.enabled or kind not in ("read", "write"):
            return
        user = self.users.get(token, token)
        project = self.projects.get(user, PROJECT)
        minute = int(self.clock().timestamp() // 60)
        user_key, project_key = ("user", f"{project}/{user}", kind, minute), ("project", project, kind, minute)
        if self._spent.get(user_key, 0) >= self.per_user:
            raise ApiError(429, "", "", quota_body(kind, "user", self.per_user, project))
        if self._spent.get(project_key, 0) >= self.per_project:
            raise ApiError(429, "", "", quota_body(kind, "project", self.per_project, project))
        self._spent[user_key] = self._spent.get(user_key, 0) + 1
        self._spent[project_key] = self._spent.get(project_key, 0) + 1
        for key in [k for k in self._spent if k[3] < minute]:  # past minutes are refilled
            del self._spent[key]
