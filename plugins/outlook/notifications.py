"""Graph change notifications for the calendar source (being written: a stub until then)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub.sources import Poller, WebhookRoute
    from hub_outlook.mailbox import Mailbox
    from hub_outlook.settings import Settings


def keeper_poller(hub: HubContext, settings: Settings, mailbox: Mailbox) -> Poller | None:
    return None


def routes(hub: HubContext, settings: Settings, mailbox: Mailbox) -> list[WebhookRoute]:
    return []
