"""`hub status`: one state per branch and plugin, the age of what is wrong, and the command that fixes it.

States, worst first: paused (credentials refused: nothing moves until someone re-connects), failing (dead
deliveries: something will never arrive unless someone acts), degraded (retrying deliveries or a source
failing: the hub is trying again by itself), ok. Times are the branch's local time, its zone named.
"""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub import hints
from hub.app import Hub
from hub.messages.planner import BOUNCED_PREFIX, MESSAGES
from hub.store import LaneHealth, PauseRow, SetupFailureRow, SourceRow

WIDTH = 100
STATES = ("paused", "failing", "degraded", "ok")


@dataclass
class PluginStatus:
    plugin: str
    state: str
    pending: int = 0
    retrying: int = 0
    dead: int = 0
    problem_since: str = ""
    last_read: str = ""
    wrong: str = ""
    fix: str = ""
    setup_error: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BranchStatus:
    branch: str
    zone: str
    plugins: list[PluginStatus]
    problems: list[dict[str, str]]
    mail_channel: str = ""  # the plugin sending the branch's mails; "" when none (nothing is sent)
    needs_call: int = 0  # people registered long ago who booked nothing: someone should call them
    bounced: int = 0  # e-mail addresses that bounced: no mail goes to them until they change
    opted_out: int = 0  # people who asked for no more non-essential messages (their opt-out link)


def local(value: float | None, zone: ZoneInfo) -> str:
    return "" if value is None else datetime.fromtimestamp(value, UTC).astimezone(zone).strftime("%d/%m %H:%M")


def age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


@dataclass(frozen=True)
class _Facts:
    """What the store says about every lane, read once per `hub status`."""

    health: dict[tuple[str, str], LaneHealth]
    pauses: dict[tuple[str, str], PauseRow]
    setups: dict[tuple[str, str], SetupFailureRow]
    sources: dict[tuple[str, str], list[SourceRow]]


def collect(hub: Hub, branch: str | None = None) -> list[BranchStatus]:
    store = hub.store
    now = hub.clock().timestamp()
    sources: dict[tuple[str, str], list[SourceRow]] = {}
    for row in store.list_sources(branch):
        sources.setdefault((row.branch, row.plugin), []).append(row)
    facts = _Facts(store.open_delivery_health(branch), store.pause_details(),
                   {(r.branch, r.plugin): r for r in store.setup_failures(branch)}, sources)
    out = []
    for branch_id in sorted(hub.branches):
        if branch not in (None, branch_id):
            continue
        zone = hub.config.zone(branch_id)
        plugins = [_plugin_status(facts, (branch_id, plugin), zone, now) for plugin in hub.branches[branch_id].names]
        problems = [{"plugin": r.plugin, "where": r.ref, "field": r.field, "problem": r.message,
                     "since": local(r.first_seen, zone)} for r in store.list_problems(branch_id)]
        settings = hub.config.branches[branch_id].messages
        waiting = store.waiting_for_booking(branch_id, hub.clock() - timedelta(seconds=settings.needs_call_after))
        bounced = store.kv_count(branch_id, MESSAGES, BOUNCED_PREFIX)
        out.append(BranchStatus(branch_id, str(zone), plugins, problems, hub.channel(branch_id, "email") or "",
                                len(waiting), bounced, store.optout_count(branch_id)))
    return out


def _plugin_status(facts: _Facts, lane: tuple[str, str], zone: ZoneInfo, now: float) -> PluginStatus:
    """One lane's state, worst first: setup failed, paused, dead deliveries, retrying or failing sources."""
    branch_id, plugin = lane
    counts = facts.health.get(lane, {})
    n = {s: counts[s].count if s in counts else 0 for s in ("pending", "retrying", "dead")}
    status = PluginStatus(plugin, "ok", pending=n["pending"], retrying=n["retrying"], dead=n["dead"])
    lane_sources = facts.sources.get(lane, [])
    status.sources = [{"source": r.name, "last_ok": local(r.last_ok_at, zone), "error": r.last_error or "",
                       "failing_since": local(r.failing_since, zone)} for r in lane_sources]
    reads = [r.last_ok_at for r in lane_sources if r.last_ok_at]
    status.last_read = local(max(reads), zone) if reads else ""
    pause, setup = facts.pauses.get(lane), facts.setups.get(lane)
    since: float | None = None
    if setup is not None:
        status.state, since = "failing", setup.since
        status.setup_error = status.wrong = f"setup failed ({setup.hook}), {setup.attempts} tries: {setup.error}"
        status.fix = hints.doctor(branch_id)
    elif pause is not None:
        status.state, since = "paused", pause.since
        status.wrong = pause.reason
        status.fix = pause.fix or hints.after_auth_failure(branch_id, plugin, None)
    elif n["dead"]:
        status.state, since = "failing", counts["dead"].since
        status.wrong = f"{n['dead']} dead deliveries"
        status.fix = hints.after_dead_letters(branch_id, plugin)
    elif n["retrying"] or any(r.last_error for r in lane_sources):
        since = _degraded(status, counts, lane_sources, now)
        status.fix = hints.failed_deliveries(branch_id, plugin) if n["retrying"] else \
            hints.after_source_failure(branch_id)
    if since is not None:
        status.problem_since = f"{local(since, zone)} ({age(now - since)} ago)"
    return status


def _degraded(status: PluginStatus, counts: LaneHealth, lane_sources: list[SourceRow], now: float) -> float:
    """Deliveries retrying or a source failing: what is wrong, the fix, and since when (the oldest)."""
    status.state = "degraded"
    parts, first = [], now
    if status.retrying:
        first = min(first, counts["retrying"].since or now)
        parts.append(f"{status.retrying} deliveries retrying")
    for row in (r for r in lane_sources if r.last_error):
        first = min(first, row.failing_since or row.updated_at)
        parts.append(f"source {row.name}: {row.last_error}")
    status.wrong = "; ".join(parts)
    return first


def as_json(branches: list[BranchStatus], plugin_errors: dict[str, str]) -> dict[str, Any]:
    return {"branches": [asdict(b) for b in branches], "plugin_errors": plugin_errors,
            "ok": all(p.state == "ok" for b in branches for p in b.plugins) and not plugin_errors}


def render(branches: list[BranchStatus], plugin_errors: dict[str, str], *, style: Any = None) -> str:
    """Text for a terminal 100 columns wide; `style(text, state)` may colour a state word."""
    paint = style or (lambda text, _state: text)
    lines: list[str] = []
    for name, error in sorted(plugin_errors.items()):
        lines += _wrap(f"plugin {name} could not be loaded: {error}", "", "  ")
        lines.append(f"  -> {hints.plugins()}")
    for branch in branches:
        worst = min((p.state for p in branch.plugins), key=STATES.index, default="ok")
        lines.append(f"{branch.branch}: {paint(worst, worst)}   (times in {branch.zone})")
        for p in branch.plugins:
            counts = f"{p.pending} waiting, {p.retrying} retrying, {p.dead} dead"
            head = f"  {p.plugin:<12} {paint(f'{p.state:<8}', p.state)} {counts}"
            if p.problem_since:
                head += f", since {p.problem_since}"
            elif p.last_read:
                head += f"; read {p.last_read}"
            lines.append(head)
            if p.wrong:
                lines += _wrap(p.wrong, "      ", "      ")
            if p.fix:
                lines += _fix_lines(p.fix)
        if not branch.mail_channel:
            lines.append("  no mail channel: confirmations and reminders are not sent (see: hub messages list)")
        if branch.needs_call:
            lines += _wrap(f"{branch.needs_call} person(s) registered and booked nothing: call them "
                           f"(see: hub events --branch {branch.branch} --kind candidate_registered)", "  ", "    ")
        if branch.bounced:
            lines += _wrap(f"{branch.bounced} e-mail address(es) bounced: no more mail to them until they are "
                           "corrected in the form or the tracking sheet", "  ", "    ")
        if branch.opted_out:
            lines += _wrap(f"{branch.opted_out} person(s) asked for no more messages (opt-out link): only the "
                           "essential ones still go to them ([messages] essential)", "  ", "    ")
        if branch.problems:
            lines.append(f"  {len(branch.problems)} row(s) or answer(s) for staff to fix:")
            for problem in branch.problems:
                lines += _wrap(f"{problem['where']} ({problem['field']}): {problem['problem']}", "    - ", "      ")
        lines.append("")
    if not branches:
        lines.append("no branch matches")
    return "\n".join(lines).rstrip()


def _fix_lines(fix: str) -> list[str]:
    """The fix on its own lines, cut only between steps so that each command stays whole for copy-paste."""
    first, *rest = fix.split(", then ")
    lines = [f"      -> {first}"]
    for step in rest:
        if len(lines[-1]) + len(step) + 7 <= WIDTH:
            lines[-1] += f", then {step}"
        else:
            lines[-1] += ","
            lines.append(f"         then {step}")
    return lines


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False) or [first]
