"""One copy of a person's data: their record. Stored events refer to it, and get it back when delivered.

The event log keeps what happened and to whom by id: an event's candidate is stored as its hub id only, a
planned message as its purpose, recipient and ids (the address, subject and text are written from the record
when the message is delivered, hub.hydrate), a bounce without the address. An erasure then rewrites one row,
and a correction of an e-mail address reaches every message not yet sent. Staff alerts (to a staff address from
the configuration, about no person) are stored as written.
"""

from __future__ import annotations

from typing import Any

from hub.events import Candidate, Event
from hub.logs import redact

__all__ = ["stored_body"]

_UNWRITTEN: dict[str, Any] = {"to": "", "to_name": None, "subject": "", "text": "", "html": None, "headers": {}}


def stored_body(event: Event) -> str:
    """The JSON the event log keeps for `event`: no name, contact or message text of a person."""
    update: dict[str, Any] = {}
    candidate = event.candidate
    if candidate is not None and candidate.id:
        update["candidate"] = Candidate(id=candidate.id)
    message = event.message
    if message is not None and message.recipient != "staff":
        update["message"] = message.model_copy(update=_UNWRITTEN)
    if event.bounce is not None:  # the mail server's diagnostic often quotes the address
        update["bounce"] = event.bounce.model_copy(update={"address": None, "reason": redact(event.bounce.reason)})
    return (event.model_copy(update=update) if update else event).model_dump_json()
