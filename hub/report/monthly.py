"""The monthly report mail (issue 15, point 4): the figures of the month before, sent without asking.

Who gets what, through which channel:

    each branch with [report] recipients    its own report, raw (every count: for the branch's team, who know
                                            these people), through the branch's own mail channel
    hub.toml [report] network_recipients    the network's report, publishable (every branch and the network,
                                            small counts hidden: it leaves the branches), through the mail
                                            channel of [report] network_channel_branch, else of the first branch
                                            (by id) that has one (the rule the /tableau login links follow)

When: from `monthly_day` (1) at `monthly_time` (08:00) in the sending branch's zone, never inside its quiet hours
(then at their end), for the previous calendar month. The daemon looks once an hour, and at the moment one is
due (`Hub._monthly_reports`); a hub stopped over that moment sends it when it starts again, within CATCH_UP
(a week); later, that month's report is left to `hub report`, so a hub started on the 20th does not mail a month
nobody waits for any more.

Once: each mail is a `message_due` event (purpose monthly_report) whose source id names the report, its month
and a digest of the address (`report:lyon:2027-01:<digest>:monthly_report`, `hub.messages.planner.report_source_id`):
the store dedupes on it, so a second check the same month, a restart or a crash between two addresses plans
nothing twice. The report is computed, and rendered as one self-contained HTML page (`hub.report.html`), only
when an address of it is still to be planned.

The mail is plain words (the key figures in a few lines, what the file is) with the HTML page attached: mail
clients (Gmail's web client notably) do not render inline SVG in a mail body. It is stored as written (a mail to
staff names no person), its file included: about 1.33 times the page's size in the event log, per address and
month.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hub.errors import ConfigProblem
from hub.events import EventKind
from hub.report.model import NETWORK

if TYPE_CHECKING:
    from hub.app import Hub
    from hub.config import HubConfig
    from hub.plugins import PluginRegistry
    from hub.report.model import Report

__all__ = ["CATCH_UP", "PURPOSE", "Plan", "config_problems", "next_sends", "plans", "run", "send_moment"]

log = logging.getLogger("hub.report")
PURPOSE = "monthly_report"
CATCH_UP = timedelta(days=7)
CHECK_EVERY = timedelta(hours=1)
SHOWN = ("registered", "sessions.booked", "sessions.held", "sessions.no_show", "sessions.no_show_rate",
         "journey.honoured_30")
"""The figures the mail's text gives (the rest is in the attached page)."""
DEFAULT_QUIET = "21:00-08:00"
HasChannel = Callable[[str], bool]


@dataclass(frozen=True)
class Plan:
    """One monthly report: its scope (a branch id, or NETWORK), the branch whose channel sends it, to whom, and
    why nothing goes (French, for `hub report`), if so."""

    scope: str
    sender: str | None
    recipients: tuple[str, ...]
    zone: ZoneInfo
    why_not: str | None = None

    @property
    def label(self) -> str:
        return "réseau" if self.scope == NETWORK else self.scope


def network_sender(config: HubConfig, has_channel: HasChannel) -> str | None:
    """The branch whose mail channel sends the network's mails: [report] network_channel_branch when it has a
    channel, else (unset) the first branch by id that has one; None when none can."""
    chosen = config.hub.report.network_channel_branch
    if chosen is not None:
        return chosen if chosen in config.branches and has_channel(chosen) else None
    return next((b for b in sorted(config.branches) if has_channel(b)), None)


def plans(config: HubConfig, has_channel: HasChannel) -> list[Plan]:
    """Every branch's monthly report, then the network's (sent or not: `why_not` says why not)."""
    out: list[Plan] = []
    for branch_id, branch in sorted(config.branches.items()):
        recipients = tuple(branch.report.recipients)
        why = None
        if not recipients:
            why = "ajoutez [report] recipients au fichier de l'antenne"
        elif not has_channel(branch_id):
            why = "l'antenne n'a pas de canal e-mail (ajoutez un plugin de messagerie, p. ex. gmail, à plugins)"
        else:
            why = _turned_off(config, branch_id)
        out.append(Plan(branch_id, branch_id if has_channel(branch_id) else None, recipients,
                        config.zone(branch_id), why))
    recipients = tuple(config.hub.report.network_recipients)
    sender = network_sender(config, has_channel)
    why = None
    if not recipients:
        why = "ajoutez [report] network_recipients à hub.toml"
    elif sender is None:
        chosen = config.hub.report.network_channel_branch
        why = (f"l'antenne {chosen} ([report] network_channel_branch) n'a pas de canal e-mail" if chosen else
               "aucune antenne n'a de canal e-mail pour l'envoyer")
    else:
        why = _turned_off(config, sender)
    zone = config.zone(sender) if sender else ZoneInfo(config.hub.timezone)
    out.append(Plan(NETWORK, sender, recipients, zone, why))
    return out


def _turned_off(config: HubConfig, branch_id: str) -> str | None:
    settings = config.branches[branch_id].messages
    if not settings.enabled:
        return f"les messages de l'antenne {branch_id} sont coupés ([messages] enabled = false)"
    if PURPOSE in settings.off:
        return f"{PURPOSE} est dans [messages] off de l'antenne {branch_id}"
    return None


# --- when ---------------------------------------------------------------------------------------------------

def send_moment(config: HubConfig, plan: Plan, month: date) -> datetime:
    """When the report of the month before `month` goes, in the month `month` (its first day): monthly_day at
    monthly_time in the plan's zone, pushed to the end of the sending branch's quiet hours if inside them."""
    from hub.messages.quiet import next_allowed

    settings = config.hub.report
    local = datetime.combine(month.replace(day=settings.monthly_day), time.fromisoformat(settings.monthly_time),
                             tzinfo=plan.zone)
    quiet = config.branches[plan.sender].messages.quiet_hours if plan.sender in config.branches else DEFAULT_QUIET
    return next_allowed(local, plan.zone, quiet)


def _month_of(now: datetime, zone: ZoneInfo) -> date:
    return now.astimezone(zone).date().replace(day=1)


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def _previous_month(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


def due_month(config: HubConfig, plan: Plan, now: datetime) -> date | None:
    """The month (its first day) whose report is due now, or None: between this month's moment and CATCH_UP
    after it."""
    this = _month_of(now, plan.zone)
    moment = send_moment(config, plan, this)
    return _previous_month(this) if moment <= now < moment + CATCH_UP else None


def report_key(plan: Plan, month: date) -> str:
    return f"{plan.scope}:{month:%Y-%m}"


def _planned(hub: Hub, plan: Plan, month: date) -> list[str]:
    """The plan's recipients whose mail for `month` is planned already."""
    from hub.messages.planner import MESSAGES, report_source_id

    assert plan.sender is not None
    return [a for a in plan.recipients if hub.store.event_exists(
        plan.sender, MESSAGES, report_source_id(report_key(plan, month), a), EventKind.MESSAGE_DUE.value)]


def next_sends(hub: Hub, now: datetime, branch: str | None = None) -> list[dict[str, Any]]:
    """For `hub report`: when each report goes next, one entry per branch (or `branch` alone) and, without
    `branch`, the network's: {scope, at (ISO or None), recipients, text (French)}."""
    out: list[dict[str, Any]] = []
    for plan in plans(hub.config, lambda b: hub.channel(b, "email") is not None):
        if branch is not None and plan.scope != branch:
            continue
        at: datetime | None = None
        if plan.why_not is None:
            this = _month_of(now, plan.zone)
            moment = send_moment(hub.config, plan, this)
            waiting = moment <= now < moment + CATCH_UP and \
                len(_planned(hub, plan, _previous_month(this))) < len(plan.recipients)
            at = moment if now < moment or waiting else send_moment(hub.config, plan, _next_month(this))
        out.append({"scope": plan.scope, "at": at.isoformat() if at else None, "recipients": len(plan.recipients),
                    "text": _line(plan, at, now)})
    return out


def _line(plan: Plan, at: datetime | None, now: datetime) -> str:
    from babel.dates import format_date

    if at is None:
        return f"Aucun envoi automatique ({plan.label}) : {plan.why_not}"
    local = at.astimezone(plan.zone)
    count = len(plan.recipients)
    whom = f"{count} adresse" + ("s" if count > 1 else "")
    when = f"{format_date(local.date(), 'EEEE d MMMM y', locale='fr_FR')} à {local:%H:%M}"
    if at <= now:
        when = f"dès maintenant (prévu le {when})"
    return f"Prochain envoi automatique : {when} à {whom} ({plan.label})"


# --- sending ------------------------------------------------------------------------------------------------

def run(hub: Hub, now: datetime) -> datetime:
    """Plan every monthly report mail due now and not planned yet; returns when to look again (in an hour at
    most, at the next moment a report is due if sooner)."""
    wake = now + CHECK_EVERY
    for plan in plans(hub.config, lambda b: hub.channel(b, "email") is not None):
        if plan.why_not is not None or plan.sender is None:
            continue
        this = _month_of(now, plan.zone)
        moment = send_moment(hub.config, plan, this)
        if now < moment:
            wake = min(wake, moment)
            continue
        month = due_month(hub.config, plan, now)
        if month is None:
            wake = min(wake, send_moment(hub.config, plan, _next_month(this)))
            continue
        done = _planned(hub, plan, month)
        if len(done) == len(plan.recipients):
            continue
        report = _report(hub, plan, month, now)
        values, attachment = _mail(hub, plan, report, now)
        for address in plan.recipients:
            if address not in done:
                hub.planner.staff_report(plan.sender, address, report_key(plan, month), values, (attachment,), now)
        log.info("monthly report planned", extra={"branch": plan.sender, "scope": plan.scope,
                                                  "month": f"{month:%Y-%m}",
                                                  "recipients": len(plan.recipients) - len(done),
                                                  "size": attachment.size})
    return wake


def _report(hub: Hub, plan: Plan, month: date, now: datetime) -> Report:
    """The branch's own figures, raw (its team's), or the network's, publishable (docs/report.md)."""
    from hub.report import compute, publishable

    end = _next_month(month)
    if plan.scope == NETWORK:
        return publishable(compute(hub.store, hub.config, month, end, now=now))
    return compute(hub.store, hub.config, month, end, plan.scope, now=now)


def _mail(hub: Hub, plan: Plan, report: Report, now: datetime) -> tuple[dict[str, Any], Any]:
    """The template's values and the attached page."""
    from babel.dates import format_date

    from hub.events import Attachment
    from hub.report.html import file_name, render_html

    page = render_html(report, made=now.astimezone(plan.zone).date())
    scope = report.scope(plan.scope)
    lines = []
    for key in SHOWN:
        try:
            figure = scope.figure(key)
        except KeyError:
            continue
        lines.append(f"- {figure.label} : {figure.cell.text}")
    network = plan.scope == NETWORK
    values = {
        "periode": format_date(report.start, "MMMM y", locale="fr_FR"),
        "titre": "Réseau" if network else scope.title,
        "perimetre": "l'ensemble du réseau" if network else scope.title,
        "chiffres": "\n".join(lines),
        "piece_jointe": file_name(report),
        "diffusion": (f"Les effectifs de moins de {report.small_count} personnes sont masqués (« < "
                      f"{report.small_count} ») : ce rapport peut être diffusé." if report.view == "publishable"
                      else "Ces chiffres comptent tout le monde, petits effectifs compris : ils sont réservés à "
                           "l'équipe de l'antenne, ne les diffusez pas (la version diffusable : hub report)."),
        "reglage": ("[report] network_recipients dans hub.toml" if network
                    else f"[report] recipients dans le fichier de l'antenne {plan.scope}"),
    }
    return values, Attachment.of(file_name(report), "text/html", page.encode("utf-8"))


# --- hub config check -----------------------------------------------------------------------------------------

def channel_of(config: HubConfig, registry: PluginRegistry, branch_id: str) -> str | None:
    """The branch's mail channel as the hub will pick it (Hub.channel), from the installed plugins."""
    branch = config.branches[branch_id]
    able = [p for p in branch.plugins if p in registry.plugins and "message_due" in registry.hooks_of(p)]
    chosen = branch.channels.get("email")
    if chosen is not None:
        return chosen if chosen in able else None
    return able[0] if len(able) == 1 else None


def config_problems(config: HubConfig, registry: PluginRegistry) -> list[ConfigProblem]:
    """For `hub config check`: recipients that no mail channel can reach."""
    out: list[ConfigProblem] = []

    def has_channel(branch_id: str) -> bool:
        return channel_of(config, registry, branch_id) is not None

    for branch_id, branch in sorted(config.branches.items()):
        if branch.report.recipients and not has_channel(branch_id):
            out.append(ConfigProblem(branch.file, "report.recipients", "the branch has no mail channel to send its "
                                     "monthly report", "add a mail plugin (e.g. gmail) to plugins, or name it in "
                                     "channels = { email = \"...\" }"))
    settings = config.hub.report
    if settings.network_recipients and config.branches and network_sender(config, has_channel) is None:
        chosen = settings.network_channel_branch
        hub_file = str(config.root / "hub.toml")
        if chosen is not None and chosen in config.branches:
            out.append(ConfigProblem(hub_file, "report.network_channel_branch", f"branch {chosen!r} has no mail "
                                     "channel to send the network's report", "name a branch that has one"))
        elif chosen is None:
            out.append(ConfigProblem(hub_file, "report.network_recipients", "no branch has a mail channel to send "
                                     "the network's report", "give a branch a mail plugin, then name it in "
                                     "[report] network_channel_branch"))
    return out
