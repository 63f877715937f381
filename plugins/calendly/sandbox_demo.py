"""`hub demo`'s side of the Calendly fake: the branch settings and environment it needs, the story it plays
(bookings, a cancellation, a reschedule, a no-show) and a table of what the fake holds. Kept apart from
sandbox.py, which serves the API; CalendlySandbox's demo methods call these.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hub.api import default_secret_env
from hub.sandbox import DemoAction, DemoContext, DemoPhase

if TYPE_CHECKING:
    from hub_calendly.sandbox import CalendlySandbox

DEMO_SIGNING_KEY = "demo-signing-key-not-a-secret"
_STATUS = {"active": "actif", "canceled": "annulé", "disabled": "désactivé"}


def demo_settings(sandbox: CalendlySandbox, demo: DemoContext) -> dict[str, Any]:
    """The branch's [calendly] table: the fake's address, on the demo's clock."""
    sandbox.clock = demo.now
    sandbox.account(demo.branch)
    return {"api_url": demo.base_url, "scope": "user"}


def demo_environ(sandbox: CalendlySandbox, demo: DemoContext) -> dict[str, str]:
    env = {default_secret_env(demo.branch, "calendly", "token"): sandbox.token_for(demo.branch)}
    if demo.webhook_url:
        env[default_secret_env(demo.branch, "calendly", "webhook_signing_key")] = DEMO_SIGNING_KEY
    return env


def demo_actions(sandbox: CalendlySandbox, demo: DemoContext) -> list[DemoAction]:
    """The story: three bookings, a cancellation, a reschedule and a no-show (webhooks when the demo has them)."""
    branch, people = demo.branch, demo.people[:3]
    booked: dict[str, str] = sandbox._demo.setdefault(branch, {})
    if demo.webhook_url:
        url = demo.webhook_url
        if "/webhooks/" not in url:
            url = f"{url.rstrip('/')}/webhooks/{branch}/calendly"
        if not any(s["callback_url"] == url for s in sandbox.account(branch).subscriptions.values()):
            sandbox.subscribe_directly(branch, url, DEMO_SIGNING_KEY,
                                    ("invitee.created", "invitee.canceled", "invitee_no_show.created",
                                     "invitee_no_show.deleted"))

    def book(index: int) -> Callable[[], None]:
        def run() -> None:
            person = people[index]
            day = (demo.now() + timedelta(days=2 + index)).replace(hour=8, minute=30, second=0, microsecond=0)
            booked[person.email] = sandbox.book(
                branch, email=person.email, first_name=person.first_name, last_name=person.last_name,
                start=day, phone=person.phone, answers={"Structure qui vous oriente": person.referrer})
        return run

    def cancel() -> None:
        sandbox.cancel(booked[people[1].email], "Entretien d'embauche le même jour")

    def reschedule() -> None:
        start = (demo.now() + timedelta(days=7)).replace(hour=13, minute=30, second=0, microsecond=0)
        booked[people[2].email] = sandbox.reschedule(booked[people[2].email], start)

    def no_show() -> None:
        sandbox.mark_no_show(booked[people[0].email])

    actions = [DemoAction(DemoPhase.BOOK, f"Calendly : {p.first_name} réserve un atelier", book(i))
               for i, p in enumerate(people)]
    if len(people) >= 3:
        actions += [DemoAction(DemoPhase.CHANGE, f"Calendly : {people[1].first_name} annule (entretien d'embauche)",
                               cancel),
                    DemoAction(DemoPhase.CHANGE, f"Calendly : {people[2].first_name} déplace son rendez-vous",
                               reschedule)]
    if people:
        actions.append(DemoAction(DemoPhase.ATTEND, f"Calendly : absence notée pour {people[0].first_name}",
                                  no_show))
    return actions


def describe(sandbox: CalendlySandbox, branch: str) -> str:
    """What the fake account holds, as a table staff can read."""
    with sandbox.lock:
        account = sandbox.accounts.get(branch)
        if account is None:
            return f"Calendly ({branch}) : aucun compte"
        zone = ZoneInfo(account.user.get("timezone") or "UTC")
        rows = [(f"début ({zone.key})", "type", "RDV", "invité", "statut", "absent", "reprogrammé")]
        for event in sorted(account.events.values(), key=lambda e: e["start_time"]):
            when = datetime.fromisoformat(event["start_time"].replace("Z", "+00:00"))
            start = when.astimezone(zone).strftime("%d/%m/%Y %H:%M")
            for inv in account.invitees[event["uri"].rsplit("/", 1)[-1]]:
                moved = "→ nouveau" if inv["new_invitee"] else ("← ancien" if inv["old_invitee"] else "")
                rows.append((start, event["name"], _STATUS.get(event["status"], event["status"]), inv["name"],
                             _STATUS.get(inv["status"], inv["status"]), "oui" if inv["no_show"] else "", moved))
        subs = ", ".join(_STATUS.get(s["state"], s["state"]) for s in account.subscriptions.values()) or "aucun"
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return f"Calendly ({branch}) — webhooks : {subs}\n" + "\n".join(lines)
