"""The `[gmail]` table of a branch file (re-exported by plugin.py as `Settings`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.api import Seconds
from hub_google import GoogleAuthSettings

AccountKind = Literal["workspace", "workspace_trial", "consumer"]

DAILY_LIMITS: dict[str, int] = {"workspace": 2000, "workspace_trial": 500, "consumer": 500}
"""Messages a mailbox may send in a rolling 24 h: Google Workspace 2,000 (500 on a trial account),
https://support.google.com/a/answer/166852 ; consumer Gmail about 500 (third-party figure)."""


class Settings(GoogleAuthSettings):
    """A branch's Gmail mailbox: who the mail is from, and how often its bounces are read.

    Authentication is the shared Google one (`hub auth google --branch <branch>`, a service account acting as
    a Workspace user through domain-wide delegation with `impersonate`, or a fixed token for the sandbox).
    """

    sender: str | None = Field(None, description=(
        "address the mail is sent from (the mailbox, or one of its 'Send mail as' aliases); "
        "unset = the mailbox's own address, read once from Gmail"))
    from_name: str | None = Field(None, description=(
        "name shown in From when the hub gives the message none (e.g. 'La Cravate Solidaire Lyon')"))
    reply_to: str | None = Field(None, description="Reply-To address when the hub gives the message none")
    account: AccountKind = Field("workspace", description=(
        "kind of Google account, which sets the daily sending limit: workspace (2,000 a day), "
        "workspace_trial (500) or consumer (gmail.com, about 500)"))
    daily_limit: int | None = Field(None, ge=1, le=10_000, description=(
        "messages sent per rolling 24 h at most; unset = the limit of `account`"))
    bounce_interval: Seconds = Field(900, description=(
        "seconds (or '15m') between two reads of the mailbox for bounces; one cheap request when nothing came"))

    @property
    def send_limit(self) -> int:
        return self.daily_limit or DAILY_LIMITS[self.account]
