"""Structural quota warnings: several branches polling Google with one account.

Sheets counts 60 read and 60 write requests per minute per user per project, and 300 of each per minute per
project (https://developers.google.com/sheets/api/limits); Gmail 15,000 units per minute per user
(https://developers.google.com/gmail/api/reference/quota). Every branch connected with the same account
spends the same per-user budget, whatever its branch file says, so ten branches each polling every 10 s
get 429s all day and no single one looks wrong. This module computes (from the configured intervals, not
from observed errors) what each branch's Google pollers need per minute, groups branches by account and by
Cloud project, and says which interval would fit.

Requests per poll, as the connectors make them and their tests measure them:
- gsheets `formulaire`: 1 read per poll (tail of the form tab), plus 2 per `full_reread` (the tab's zone
  and one chunk of rows; more for tabs over `read_chunk` rows);
- gsheets `suivi`: 1 read per sync (one batchGet), at most 1 write (one values.batchUpdate) when rows wait;
- gmail `rebonds`: 1 history.list per poll, 2 units (Gmail's own quota, not Sheets').
An account is identified without any request: a service account by its key's `client_email` (and the
subject it impersonates), a user's OAuth token by its refresh token (the same token file copied between
branches), the Cloud project by the key's `project_id` or the OAuth client id. Static tokens (sandbox and
demo only) are left out. Nothing here is logged: identities are hashed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub_google.auth import GoogleAuthSettings, token_path

SHEETS_PER_USER = 60
SHEETS_PER_PROJECT = 300
GMAIL_UNITS_PER_USER = 15_000
SAFE_SHARE = 0.8
"""Pollers may plan for this share of a quota: the rest is for setup, full re-reads of big tabs, rebuilds,
`hub doctor` and staff's own scripts on the same account."""
STEP = 5
"""Suggested intervals are rounded up to a multiple of this many seconds."""


@dataclass
class Demand:
    """What one branch's Google pollers need per minute at their configured intervals."""

    branch: str
    user: str | None  # hashed account identity; None = unknown (counted alone)
    project: str | None
    reads: float = 0.0  # Sheets read requests per minute, idle
    writes: float = 0.0  # Sheets write requests per minute, at most
    gmail_units: float = 0.0
    pollers: int = 0  # Sheets pollers whose interval the fix changes
    fixed_reads: float = 0.0  # reads that do not depend on those intervals (full re-reads)


@dataclass
class Verdict:
    branches: list[str]
    reads: float
    writes: float
    limit: int
    scope: str  # "user" or "project"
    fit: int  # seconds: sync_interval and form_interval that would fit
    gmail_units: float = 0.0
    over: list[str] = field(default_factory=list)

    def message(self, branch: str) -> str:
        """One French sentence for staff: who shares what, the figures, and the config change that fits."""
        others = [b for b in self.branches if b != branch]
        who = "le même compte Google" if self.scope == "user" else "le même projet Google Cloud"
        limit = f"{self.limit} par minute et par {'utilisateur' if self.scope == 'user' else 'projet'}"
        if others:
            sharing = f"{len(self.branches)} antennes ({', '.join([branch, *others])}) utilisent {who} : leurs relevés"
        else:
            sharing = f"Les relevés de l'antenne {branch}"
        each = " de chacune" if others else ""
        alone = " ou donnez à chaque antenne son propre compte" if others else ""
        return (f"{sharing} Google Sheets demandent {self.reads:.0f} lectures et jusqu'à {self.writes:.0f} "
                f"écritures par minute pour un quota de {limit} (Google répondra 429 et les relevés prendront du "
                f"retard) ; réglez sync_interval = {self.fit} et form_interval = {self.fit} dans [gsheets]{each} "
                f"(poll_interval = {self.fit}s conviendrait){alone}, puis vérifiez avec : hub doctor --branch {branch}")


def _hash(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:16]}"


def identity(where: Any, settings: GoogleAuthSettings) -> tuple[str | None, str | None]:
    """(account, project) of a branch's Google settings, hashed; None where unknown."""
    from hub.api import read_secret

    try:
        if settings.auth == "service_account" and settings.service_account_file is not None:
            info = json.loads(read_secret(settings.service_account_file, what="la clé du compte de service") or "{}")
            email = str(info.get("client_email") or settings.service_account_file.resolve())
            user = _hash("sa", f"{email}/{settings.impersonate or ''}")
            project = info.get("project_id")
            return user, _hash("project", str(project)) if project else None
        if settings.auth == "oauth":
            text = read_secret(token_path(where), what="le jeton Google")
            info = json.loads(text or "{}")
            account, client = info.get("account") or info.get("refresh_token"), info.get("client_id")
            return (_hash("user", str(account)) if account else None,
                    _hash("project", str(client)) if client else None)
    except Exception:  # a key or token the connector itself will report; never fail a check because of it
        return None, None
    return None, None


def demand(where: Any, config: Any, settings: Mapping[str, Any], default_poll: float) -> Demand | None:
    """A branch's demand from its BranchConfig (`config`) and validated plugin tables (`settings`)."""
    sheets, gmail = settings.get("gsheets"), settings.get("gmail")
    auth = next((s for s in (sheets, gmail) if isinstance(s, GoogleAuthSettings)), None)
    if auth is None or auth.auth == "static_token":
        return None
    user, project = identity(where, auth)
    out = Demand(config.id, user, project)
    branch_poll = float(config.poll_interval or default_poll)
    if sheets is not None and "gsheets" in config.plugins:
        if getattr(sheets, "form_sheet", None):
            out.reads += 60 / float(sheets.form_interval or branch_poll)
            out.fixed_reads += 2 * 60 / float(sheets.full_reread)
            out.pollers += 1
        out.reads += 60 / float(sheets.sync_interval)
        out.writes += 60 / float(sheets.sync_interval)
        out.pollers += 1
        out.reads += out.fixed_reads
    if gmail is not None and "gmail" in config.plugins:
        out.gmail_units += 2 * 60 / float(getattr(gmail, "bounce_interval", 900))
    return out


def verdict(mine: Demand, everyone: list[Demand]) -> Verdict | None:
    """The first quota the branch's account (then its project) would exceed with the others sharing it."""
    for scope, key, limit in (("user", "user", SHEETS_PER_USER), ("project", "project", SHEETS_PER_PROJECT)):
        ident = getattr(mine, key)
        group = [d for d in everyone if ident is not None and getattr(d, key) == ident] or [mine]
        reads, writes = sum(d.reads for d in group), sum(d.writes for d in group)
        safe = limit * SAFE_SHARE
        units = sum(d.gmail_units for d in group) if scope == "user" else 0.0
        if reads <= safe and writes <= safe and units <= GMAIL_UNITS_PER_USER * SAFE_SHARE:
            continue
        pollers = sum(d.pollers for d in group)
        fixed = sum(d.fixed_reads for d in group)
        suivi = len([d for d in group if d.pollers])
        # n pollers at X seconds: 60 n / X + fixed <= safe (reads), 60 suivi / X <= safe (writes)
        need = max(60 * pollers / max(safe - fixed, 1.0), 60 * suivi / safe)
        fit = int(math.ceil(need / STEP) * STEP)
        return Verdict(sorted(d.branch for d in group), reads, writes, limit, scope, fit, units)
    return None


class _Peer:
    """Where another branch keeps its Google token: the same folder `HubContext.secret_path` gives that
    branch (state_dir/secrets/<branch>/google), computed without creating it."""

    def __init__(self, state_dir: Any, branch: str) -> None:
        self.state_dir, self.branch = state_dir, branch

    def secret_path(self, name: str, namespace: str | None = None) -> Any:
        return self.state_dir / "secrets" / self.branch / (namespace or "google") / name


def shared_quota(hub: Any) -> Verdict | None:
    """For a plugin's HubContext: the quota this branch's Google account shares with other branches and
    would exceed at the configured intervals, or None."""
    default = float(getattr(hub, "default_poll_interval", 300.0))
    everyone = []
    for branch_id, config in hub.fleet().items():
        where = hub if branch_id == hub.branch else _Peer(hub.state_dir, branch_id)
        found = demand(where, config, config.settings, default)
        if found is not None:
            everyone.append(found)
    mine = next((d for d in everyone if d.branch == hub.branch), None)
    return verdict(mine, everyone) if mine is not None else None


PROBLEM_REF = "quota Google"
PROBLEM_FIELD = "sync_interval"


def report_shared_quota(hub: Any) -> Verdict | None:
    """Show the structural warning in `hub status` (a problem of the branch), or clear it once it fits."""
    found = shared_quota(hub)
    if found is None:
        hub.resolve_problem(PROBLEM_REF)
    else:
        hub.report_problem(PROBLEM_REF, PROBLEM_FIELD, found.message(hub.branch))
    return found


def quota_check(hub: Any) -> str:
    """`hub doctor`: fails with the warning; else says how much of the account's quota the pollers use."""
    found = shared_quota(hub)
    if found is not None:
        raise RuntimeError(found.message(hub.branch))
    default = float(getattr(hub, "default_poll_interval", 300.0))
    mine = demand(hub, hub.branch_config, hub.branch_config.settings, default)
    if mine is None:
        return "jeton fixe (bac à sable ou démonstration) : pas de quota Google à calculer"
    return (f"les relevés Google Sheets de l'antenne demandent {mine.reads:.0f} lectures par minute (quota de "
            f"{SHEETS_PER_USER} par utilisateur, partagé avec toute antenne connectée au même compte)")
