"""`candidate_forgotten`: erase what the branch's Outlook holds about a person who asked to be forgotten (RGPD
art. 17), through Graph; what staff must judge is a manual item of the receipt.

Erased by the hub (`permanentDelete`, never DELETE: a DELETEd item, or a cancelled event, only moves to Deleted
Items, where it still says everything (event-cancel: "The action moves the event to the Deleted Items folder");
`POST .../permanentDelete` (v1.0, 204) puts it "in the Purges folder in the dumpster in the user's mailbox. Email
clients such as Outlook or Outlook on the web can't access permanently deleted items. Unless there's a hold set on
the mailbox, the items are permanently deleted after a set period of time" (message-permanentdelete,
event-permanentdelete); Mail.ReadWrite for messages, Calendars.ReadWrite for events):

- **The mails the hub sent the person**, and the drafts of deliveries the erasure stopped: private state
  `mails:<candidate id>` lists their delivery keys (send.py), `send:<key>` their ids; a key never committed past
  "new" is looked up by the hub's extended property. No search: Exchange's search index lags behind new items
  [?], a mail sent a minute before the erasure would be missed.
- **The events the calendar sink made** (calendar.py): the session's link, the event id or `coach/id` for a
  coach's calendar (Target). Deleted, not cancelled: the person asked to be forgotten, not to be written to
  (whether Outlook still sends invited attendees a cancellation on a permanentDelete is not documented [?]).
- **The events staff booked in Outlook** that the calendar source read as the person's sessions (the session's
  ref is the event id, `id@start` after a move): when the person is its only attendee from outside, the event is
  their appointment and goes whole (its subject and notes, typed by staff, likely name them: removing the
  attendee alone would leave that). When others from outside attend too, it stays for them: a manual item (staff
  take the person off it), and the reader marks it erased so it never reads it again. An event organised from
  another mailbox: the branch's copy goes, the organizer's is a manual item.
- **Older hub mails** (sent before the list above existed): a search of the whole mailbox, Deleted Items
  included (user-list-messages), `GET /messages?$search="participants:<address>"` (from, to, cc and bcc,
  search-query-parameter). Graph has no filter on recipients (`$filter=toRecipients/any(...)` answers 400
  ErrorInvalidUrlQueryFilter, microsoftgraph/microsoft-graph-explorer-v4#3957), and $search takes neither $filter
  nor $orderby. A result carrying the hub's extended property is the hub's mail: purged.

Left to staff (manual items): the other results of that search, the person's replies, the mails staff wrote them
from the mailbox, the invitations Outlook sent for their appointments: the branch's correspondence, which staff
may have a reason to keep (art. 17(3)); and the events above.

Private state: `mails:<candidate>` goes, each `send:<key>` keeps only {"s": "sent"} (a repeat of that delivery
still sends nothing) or goes (a draft's), the source's `calendar_known` entries of the person's events go.

Idempotent: a purge of what is gone (404) is done; a second delivery purges nothing more and reports the same
items. After the erasure closed, the hub forgot the person's links and address: a repeat then finds nothing
and reports the same done items. Graph requests, measured by tests/plugins/outlook/test_outlook_erasure.py: one
purge per mail the hub sent (one lookup more per mail still a draft) and per event the hub made, a GET and a purge
per event staff booked, one search (a page per 50 results) and a GET per result the hub had not purged itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hub.errors import DeliveryRejected, PluginAuthFailed
from hub_outlook import send
from hub_outlook.calendar import Target
from hub_outlook.calendar_source import KNOWN, _z, graph_time, outsiders

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub.events import Candidate, Event, Session
    from hub_outlook.graph import GraphClient
    from hub_outlook.mailbox import Mailbox
    from hub_outlook.settings import Settings

log = logging.getLogger("hub.plugin.outlook")
CALENDAR_WRITE = "Calendars.ReadWrite"
MAILS_ERASED = ("e-mails envoyés par le hub à la personne depuis la boîte Outlook de l'antenne, brouillons compris "
                "(supprimés définitivement)")
HUB_EVENTS_ERASED = "rendez-vous que le hub a mis dans le calendrier Outlook (de l'antenne ou d'un coach)"
STAFF_EVENTS_ERASED = "rendez-vous de la personne saisis par l'équipe dans le calendrier Outlook de l'antenne"
OTHER_MAILS = ("Boîte Outlook de l'antenne : des messages échangés avec la personne hors du hub restent (ses "
               "réponses, des messages écrits par l'équipe, des invitations Outlook) : supprimez à la main ceux "
               "que rien n'oblige à garder (cherchez son adresse dans Outlook), puis videz « Éléments supprimés ».")
NOT_SEARCHED = ("Boîte Outlook de l'antenne : l'adresse de la personne ne se prête pas à la recherche ; cherchez à la "
                "main les messages échangés avec elle et supprimez ceux que rien n'oblige à garder.")
GROUP_EVENT = ("Calendrier Outlook de l'antenne : un rendez-vous réunit la personne et d'autres participants "
               "extérieurs ; il est gardé pour eux : retirez-la des participants et effacez son nom de l'objet et "
               "des notes s'il y figure.")
ORGANIZER_ELSEWHERE = ("Un rendez-vous de la personne a été organisé depuis une autre boîte que celle de l'antenne : "
                       "la copie de l'antenne est supprimée ; demandez à son organisateur de le supprimer aussi.")


@dataclass
class Erasure:
    hub: HubContext
    client: GraphClient
    settings: Settings
    person: Candidate
    purged: set[str] = field(default_factory=set)  # message ids purged by this run (the search skips them)
    events: set[str] = field(default_factory=set)  # links and event ids handled (a reschedule shares its event)
    hub_events: bool = False
    staff_events: int = 0
    kept: int = 0

    @property
    def candidate_id(self) -> str:
        assert self.person.id is not None
        return self.person.id

    def run(self) -> None:
        known: dict[str, dict[str, Any]] = dict(self.hub.state_get(KNOWN) or {})
        before = dict(known)
        for session in self.hub.sessions_of(self.candidate_id):
            self._session(session, known)
        if known != before:
            self.hub.state_put(KNOWN, known)
        self._hub_mails()
        self._search()
        self.hub.erased(MAILS_ERASED)
        if self.settings.calendar or self.hub_events:
            self.hub.erased(HUB_EVENTS_ERASED)
        if self.staff_events or (self.settings.source and not self.kept):
            self.hub.erased(STAFF_EVENTS_ERASED)
        log.info("person erased in outlook", extra={"branch": self.hub.branch, "candidate": self.candidate_id,
                                                    "mails": len(self.purged), "staff_events": self.staff_events,
                                                    "kept": self.kept})

    # --- calendars ---------------------------------------------------------------------------------------------

    def _session(self, session: Session, known: dict[str, dict[str, Any]]) -> None:
        if session.id is None:
            return
        linked = self.hub.external_id("session", session.id)
        if linked is None:
            return
        if session.ref is not None and linked == session.ref:  # read by the calendar source: ref = event id[@start]
            linked = linked.partition("@")[0]
            if linked not in self.events:
                self.events.add(linked)
                self._staff_event(linked, known)
            return
        if linked in self.events:
            return
        self.events.add(linked)
        self.hub_events = True
        target = Target.parse(linked)
        self.client.request("POST", target.path(self.client, self.settings, "/permanentDelete"),
                            permission=CALENDAR_WRITE, missing_ok=True, mailbox=target.mailbox)

    def _staff_event(self, event_id: str, known: dict[str, dict[str, Any]]) -> None:
        """An event staff booked in the branch's calendar for the person (see the module's docstring)."""
        path = self.client.mailbox_path(f"/events/{quote(event_id, safe='')}")
        found = self.client.request("GET", path, params={"$select": "start,organizer,attendees,isOrganizer"},
                                    prefer=('outlook.timezone="UTC"',), permission=CALENDAR_WRITE, missing_ok=True)
        if found is None:  # gone already
            known.pop(event_id, None)
            self.staff_events += 1
            return
        address = (self.person.email or "").casefold()
        others = [a for a, _ in outsiders(found, self.settings) if a.casefold() != address]
        if others:
            start = known.get(event_id, {}).get("start") or _z(graph_time(found.get("start"), "start"))
            known[event_id] = {"start": start, "gone": True, "erased": True}
            self.kept += 1
            self.hub.erasure_manual(GROUP_EVENT)
            return
        self.client.request("POST", f"{path}/permanentDelete", permission=CALENDAR_WRITE, missing_ok=True)
        known.pop(event_id, None)
        self.staff_events += 1
        mailbox = (self.settings.mailbox or "").casefold()
        organizer = str(((found.get("organizer") or {}).get("emailAddress") or {}).get("address") or "").casefold()
        if found.get("isOrganizer") is False or (mailbox and organizer and organizer != mailbox):
            self.hub.erasure_manual(ORGANIZER_ELSEWHERE)

    # --- mails -------------------------------------------------------------------------------------------------

    def _hub_mails(self) -> None:
        """Every mail the hub made for the person (send.py's list), draft or sent: purged by id."""
        for key in self.hub.state_get(send.person_key(self.candidate_id)) or []:
            record: dict[str, Any] = self.hub.state_get(send.state_key(key)) or {}
            ids = {str(record["id"])} if record.get("id") else set()
            if record and record.get("s") != "sent":  # a delivery stopped by the erasure: a draft, maybe unrecorded
                ids |= {str(m["id"]) for m in self.client.find_by_property(send.PROPERTY_ID, send.marker(key))}
            for message_id in ids:
                self._purge(message_id)
            if record.get("s") == "sent":
                self.hub.state_put(send.state_key(key), {"s": "sent"})
            elif record:
                self.hub.state_delete(send.state_key(key))
        self.hub.state_delete(send.person_key(self.candidate_id))

    def _purge(self, message_id: str) -> None:
        self.client.permanent_delete(message_id)  # False: gone already, done all the same
        self.purged.add(message_id)

    def _search(self) -> None:
        """The mailbox searched for the person's address: the hub's older mails go, the rest is staff's."""
        address = (self.person.email or "").strip()
        if not address:
            return
        if '"' in address or any(c.isspace() for c in address):
            self.hub.erasure_manual(NOT_SEARCHED)
            return
        others = 0
        for item in self.client.search_messages(f"participants:{address}"):
            message_id = str(item.get("id") or "")
            if not message_id or message_id in self.purged:
                continue
            marked = self.client.has_property(message_id, send.PROPERTY_ID)
            if marked:
                self._purge(message_id)
            elif marked is not None:
                others += 1
        if others:
            self.hub.erasure_manual(OTHER_MAILS)


def forget(hub: HubContext, event: Event, box: Mailbox) -> None:
    """Erase the person in the branch's Outlook (see the module's docstring)."""
    person = event.candidate
    if person is None or person.id is None:
        raise DeliveryRejected("candidate_forgotten sans l'identifiant de la personne")
    try:
        Erasure(hub, box.client(), box.settings, person).run()
    except PluginAuthFailed:
        box.forget()  # the next try re-reads the token cache (after `hub auth outlook`)
        raise
