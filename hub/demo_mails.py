"""The demo's last part: the mails each person of one branch received, in order (subject and first line).

Read from the hub's own outbox (message deliveries done), so it shows what the channel was given, whichever
channel the branch uses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hub.app import Hub
from hub.dispatch import Undeliverable
from hub.events import Event, EventKind

__all__ = ["MAIL_CHANNEL_ORDER", "channel_for", "print_mails"]

MAIL_CHANNEL_ORDER = ("gmail", "outlook", "example")
"""The demo's mail channel: a real mail connector's fake when the branch has one, else the example's."""


def channel_for(plugins: list[str]) -> dict[str, str]:
    chosen = next((name for name in MAIL_CHANNEL_ORDER if name in plugins), None)
    return {"email": chosen} if chosen else {}


def print_mails(hub: Hub, branch: str, title: str, zone: ZoneInfo, echo: Callable[[str], None]) -> None:
    events = {r.id: r for r in hub.store.list_events(branch=branch, kind=EventKind.MESSAGE_DUE.value,
                                                     limit=100_000)}
    done = sorted((d for d in hub.store.list_deliveries(branch=branch, states=("done",), limit=100_000)
                   if d.event_id in events), key=lambda d: (d.updated_at, d.id))
    skipped = [d for d in hub.store.list_deliveries(branch=branch, states=("skipped",), limit=100_000)
               if d.event_id in events]
    if not done:
        echo(f"\n== Les mails de {title} ==\n  Aucun mail envoyé (pas de canal e-mail).")
        return
    echo(f"\n== Les mails envoyés par {title}, personne par personne ==")
    by_person: dict[str, list[tuple[float, Event]]] = {}
    for delivery in done:
        try:  # the outbox keeps ids; the message is written out from the person's record, as it was sent
            event = hub.hydrate(Event.model_validate_json(events[delivery.event_id].body))
        except Undeliverable:
            continue
        message = event.message
        if message is None:
            continue
        who = message.to_name or "?"
        if message.recipient == "referrer":
            who = f"{message.to_name or 'le prescripteur'} (prescripteur)"
        by_person.setdefault(who, []).append((delivery.updated_at, event))
    for who, mails in by_person.items():
        echo(f"  {who} :")
        for sent_at, event in mails:
            assert event.message is not None
            local = datetime.fromtimestamp(sent_at, UTC).astimezone(zone).strftime("%d/%m %H:%M")
            first = next((line for line in event.message.text.splitlines()[1:] if line.strip()), "")
            echo(f"    {local}  « {event.message.subject} »")
            echo(f"           {first[:96]}{'…' if len(first) > 96 else ''}")
    if skipped:
        reasons = sorted({_french(d.last_error or "") for d in skipped})
        echo(f"  Non envoyés ({len(skipped)}, raison dans hub deliveries) : {'; '.join(reasons)}.")


_REASONS = {
    "not consented": "la personne n'a pas donné son accord pour informer le prescripteur",
    "no usable e-mail": "pas d'adresse e-mail",
    "bounced": "adresse en échec",
    "a session was booked": "relance inutile, un rendez-vous a été pris",
    "superseded": "rendez-vous déplacé ou annulé entre-temps",
    "has started": "rappel trop tard, le rendez-vous avait commencé",
    "turned off": "désactivé dans [messages]",
    "moved, not cancelled": "rendez-vous déplacé, pas annulé",
}


def _french(reason: str) -> str:
    return next((text for key, text in _REASONS.items() if key in reason), reason.removeprefix("skipped: "))
