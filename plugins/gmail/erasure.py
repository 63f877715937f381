"""`candidate_forgotten`: what the Gmail channel put about a person in the branch's mailbox goes (RGPD art. 17).

What the hub finds, and only what is its own:

- the mails it sent to the person, and about them to their referrer or to staff: the delivery keys listed
  under `p:<candidate id>` (send.py) and their `send:<key>` records; for mail sent before that list existed,
  `messages.list q="to:<address> in:sent"` for the person's and the referrer's addresses, a hit kept only
  when the hub's record of that Gmail id (`gm:<id>` -> `send:<key>`) names this person;
- the bounce reports of those mails: the delivery-status notifications (multipart/report) in their threads
  (threads.get format=metadata, which also gives each message's Message-ID and labels);
- drafts the hub left unsent (a send cut by a crash, then skipped by the erasure): the draft id of a
  "draft" record, a draft found by our Message-ID for a "new" record, or `drafts.list q="to:<address>"`
  when the draft's Message-ID is the hub's (mime.delivery_key_of).

What the person wrote to the branch, and what staff wrote to them by hand, is the branch's correspondence:
the hub leaves it and says so in a manual item (without the address: staff know whom they are erasing).

What the hub may do depends on the consent (scopes per method: the discovery document shipped with
google-api-python-client, the same as https://developers.google.com/gmail/api/reference/rest/v1/users.messages/trash
and .../users.messages/delete):

    https://mail.google.com/   messages.delete: gone at once, for good ("Immediately and permanently
                               deletes the specified message")
    gmail.modify               messages.trash: in the trash, which Gmail empties after 30 days
                               (sandbox_mailbox.py cites it); the receipt says so
    gmail.compose + readonly   what the hub asks today (hub_google.SCOPES["gmail"]): neither. One manual
                               item per mail with the exact search staff type, "in:anywhere
                               rfc822msgid:<Message-ID>" (an opaque id, no personal data), then empty it
                               from the trash
    drafts.delete              allowed by gmail.compose: the hub's unsent drafts always go, for good.

The scopes are those the credentials say they carry (Mailbox.scopes); a 403 insufficientPermissions on
delete or trash anyway (Google's consent screen lets a person untick a scope) falls back to trash, then to
the manual items: it does not pause the plugin. Then the private state about the person goes (`send:`,
`gm:`, `p:`): a later bounce of one of those mails is no longer the hub's and is skipped.

Requests: 1 threads.get per mail (one per thread), 1 delete or trash per mail and report, 2 messages.list and
2 drafts.list for the searches, 1 drafts.get per draft found to the addresses, 1 drafts.delete per hub draft.
Running it again changes nothing: what is gone is done, a message already in the trash is not trashed again,
and the receipt's items are the same texts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

from hub.errors import DeliveryRejected
from hub_gmail import dsn, mime
from hub_gmail.client import ScopeMissing
from hub_gmail.send import gmail_key, person_key, state_key

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub.events import Candidate, Event
    from hub_gmail.client import GmailClient
    from hub_gmail.mailbox import Mailbox

log = logging.getLogger("hub.plugin.gmail")
FULL = "https://mail.google.com/"
MODIFY = "https://www.googleapis.com/auth/gmail.modify"
HEADERS = ["Message-ID", "Content-Type"]
SEARCH_PAGES = 5
"""At most 500 sent mails read per address: the hub sends a person about ten."""
_SAFE_ADDRESS = re.compile(r"^[^\s\"(){}<>]+@[^\s\"(){}<>]+$")

DONE = {
    "delete": ("e-mails envoyés par le hub à la personne ou à son sujet (boîte Gmail de l'antenne) : "
               "supprimés définitivement",
               "avis de non-distribution de ces e-mails (boîte Gmail de l'antenne) : supprimés définitivement"),
    "trash": ("e-mails envoyés par le hub à la personne ou à son sujet (boîte Gmail de l'antenne) : mis dans la "
              "corbeille, que Gmail vide définitivement au bout de 30 jours",
              "avis de non-distribution de ces e-mails (boîte Gmail de l'antenne) : mis dans la corbeille, que "
              "Gmail vide définitivement au bout de 30 jours"),
}
DRAFTS_DONE = ("brouillons d'e-mails du hub sur la personne restés non envoyés (boîte Gmail) : aucun ne reste, "
               "supprimés définitivement s'il y en avait")
CORRESPONDENCE = ("Gmail (boîte de l'antenne) : les e-mails de la personne et ceux que l'équipe lui a écrits à la "
                  "main sont la correspondance de l'antenne, le hub n'y touche pas : recherchez l'adresse de la "
                  "personne dans Gmail et supprimez ce qui n'a plus à être gardé")
NO_RIGHT = "Gmail de l'antenne (le hub n'a pas le droit d'y supprimer)"


def manual_item(kind: str, message_id: str) -> str:
    """The step staff take for one mail the hub may not remove: the exact search, and what to do (about 150
    characters and the Message-ID: the receipt keeps 300)."""
    what = "cet avis de non-distribution" if kind == "report" else "cet e-mail du hub"
    return (f"{NO_RIGHT} : recherchez « in:anywhere rfc822msgid:{message_id.strip().strip('<>')} », supprimez "
            f"{what} et videz la corbeille")


def draft_item(message_id: str) -> str:
    return (f"{NO_RIGHT} : recherchez « in:drafts rfc822msgid:{message_id.strip().strip('<>')} » et supprimez ce "
            "brouillon du hub")


@dataclass
class Found:
    """The hub's own traces of one person in the mailbox."""

    keys: set[str] = field(default_factory=set)  # delivery keys of mail about them (private state to drop)
    known: bool = False  # the hub sent them something (a "sent" record or a search hit), gone or not
    sent: dict[str, str] = field(default_factory=dict)  # Gmail id -> thread id ("" unknown)
    drafts: dict[str, str] = field(default_factory=dict)  # draft id -> its Message-ID ("" unknown)
    draft_threads: set[str] = field(default_factory=set)  # a draft sent just before a crash lands there
    reports: set[str] = field(default_factory=set)  # Gmail ids of bounce reports of those mails
    message_ids: dict[str, str] = field(default_factory=dict)  # Gmail id -> Message-ID header
    trashed: set[str] = field(default_factory=set)


def forget(hub: HubContext, event: Event, box: Mailbox) -> None:
    """Erase the person's traces (see the module's docstring) and say what was done in the receipt."""
    candidate = event.candidate
    cid = candidate.id if candidate is not None else None
    if candidate is None or not cid:
        raise DeliveryRejected("candidate_forgotten sans identifiant de personne")
    client = box.client()
    found = Found()
    _from_state(hub, client, box, cid, found)
    _from_search(hub, client, candidate, cid, found)
    _read_threads(client, found)
    scopes = box.scopes()
    left = _remove_messages(hub, client, found, scopes)
    left_drafts = _remove_drafts(hub, client, found)
    for kind, gmail_id in left:
        hub.erasure_manual(manual_item(kind, found.message_ids[gmail_id]))
    for message_id in left_drafts:
        hub.erasure_manual(draft_item(message_id))
    hub.erasure_manual(CORRESPONDENCE)
    for key in found.keys:
        hub.state_delete(state_key(key))
    for gmail_id in found.sent:
        hub.state_delete(gmail_key(gmail_id))
    hub.state_delete(person_key(cid))
    log.info("person erased in gmail", extra={"branch": hub.branch, "candidate": cid, "mails": len(found.sent),
                                              "reports": len(found.reports), "drafts": len(found.drafts),
                                              "left_to_staff": len(left) + len(left_drafts)})


# --- finding ----------------------------------------------------------------------------------------------------

def _from_state(hub: HubContext, client: GmailClient, box: Mailbox, cid: str, found: Found) -> None:
    for key in hub.state_get(person_key(cid)) or []:
        found.keys.add(str(key))
        record = hub.state_get(state_key(key))
        if not isinstance(record, dict):
            continue
        if record.get("s") == "sent" and record.get("g"):
            found.known = True
            found.sent[str(record["g"])] = str(record.get("t") or "")
        elif record.get("s") == "draft" and record.get("d"):
            found.drafts.setdefault(str(record["d"]), "")
            if record.get("t"):
                found.draft_threads.add(str(record["t"]))
        elif record.get("s") == "new":  # its draft may exist unrecorded: found by our Message-ID
            ours = mime.message_id(str(key), box.sender().rpartition("@")[2])
            for draft in client.find_drafts(f"rfc822msgid:{ours.strip('<>')}"):
                found.drafts[str(draft["id"])] = ours
                thread = str(draft.get("message", {}).get("threadId") or "")
                if thread:
                    found.draft_threads.add(thread)


def _from_search(hub: HubContext, client: GmailClient, candidate: Candidate, cid: str, found: Found) -> None:
    """Mail the index does not list (sent before it existed): found by address, kept only when the hub's own
    record says it was about this person."""
    own = (candidate.email or "").strip()
    referrer = candidate.referrer.contact_email if candidate.referrer is not None else None
    for address in dict.fromkeys(a.strip() for a in (own, referrer or "") if a and _SAFE_ADDRESS.match(a.strip())):
        token: str | None = None
        for _ in range(SEARCH_PAGES):
            reply = client.list_messages(f"to:{address} in:sent", page_token=token, max_results=100)
            for hit in reply.get("messages", []):
                key = hub.state_get(gmail_key(str(hit["id"])))
                record = hub.state_get(state_key(key)) if key else None
                if isinstance(record, dict) and record.get("c") == cid:
                    found.keys.add(str(key))
                    found.known = True
                    found.sent.setdefault(str(hit["id"]), str(hit.get("threadId") or ""))
            token = reply.get("nextPageToken")
            if not token:
                break
        for draft in client.find_drafts(f"to:{address}"):
            draft_id = str(draft["id"])
            if draft_id in found.drafts:
                continue
            full = client.get_draft(draft_id, "metadata")
            message = (full or {}).get("message", {})
            ours = _header(message, "Message-ID")
            key = mime.delivery_key_of(ours)
            if key is None:
                continue  # staff's own draft
            record = hub.state_get(state_key(key))
            to = [a.casefold() for _, a in getaddresses([_header(message, "To")])]
            if key in found.keys or (isinstance(record, dict) and record.get("c") == cid) \
                    or (own and own.casefold() in to):
                found.keys.add(key)
                found.drafts[draft_id] = ours


def _read_threads(client: GmailClient, found: Found) -> None:
    """Each mail's thread: its Message-ID and labels, the bounce reports beside it, and a mail sent from a
    recorded draft just before a crash. A thread gone (404) took its mails with it."""
    threads: dict[str, bool] = {}  # thread id -> made by a hub draft
    for gmail_id, thread in list(found.sent.items()):
        if thread:
            threads.setdefault(thread, False)
            continue
        message = client.get_message(gmail_id, "metadata", HEADERS)
        if message is None:
            del found.sent[gmail_id]
            continue
        found.sent[gmail_id] = str(message.get("threadId") or "")
        _note(found, message)
    for thread in found.draft_threads:
        threads[thread] = True
    for thread, from_draft in threads.items():
        reply = client.get_thread(thread, "metadata", HEADERS)
        present = {str(m["id"]) for m in (reply or {}).get("messages", [])}
        for gmail_id in [g for g, t in found.sent.items() if t == thread and g not in present]:
            del found.sent[gmail_id]  # gone already
        first_sent = from_draft  # the draft's thread: its first mail sent is the draft (staff may reply later)
        for message in (reply or {}).get("messages", []):  # oldest first
            gmail_id, labels = str(message["id"]), message.get("labelIds", [])
            if "DRAFT" in labels:
                continue  # a draft: drafts.delete below
            if gmail_id in found.sent:
                _note(found, message)
            elif dsn.is_report(_header(message, "Content-Type")):
                found.reports.add(gmail_id)
                _note(found, message)
            elif first_sent and "SENT" in labels:
                found.sent[gmail_id] = thread
                found.known = True
                _note(found, message)
            if "SENT" in labels:
                first_sent = False


def _note(found: Found, message: dict[str, Any]) -> None:
    gmail_id = str(message["id"])
    found.message_ids[gmail_id] = _header(message, "Message-ID")
    if "TRASH" in message.get("labelIds", []):
        found.trashed.add(gmail_id)


# --- removing ---------------------------------------------------------------------------------------------------

def _remove_messages(hub: HubContext, client: GmailClient, found: Found, scopes: frozenset[str]
                     ) -> list[tuple[str, str]]:
    """Delete or trash each mail and report as the scopes allow; what is left to staff, as (kind, Gmail id)."""
    mode: str | None = "delete" if FULL in scopes else "trash" if MODIFY in scopes else None
    used: set[tuple[str, str]] = set()  # (mode, kind) done
    left: list[tuple[str, str]] = []
    targets = [("sent", g) for g in found.sent] + [("report", g) for g in sorted(found.reports)]
    for kind, gmail_id in targets:
        while True:
            try:
                if mode == "delete":
                    client.delete_message(gmail_id)  # already gone: done as well
                elif mode == "trash" and gmail_id not in found.trashed:
                    client.trash_message(gmail_id)
            except ScopeMissing:
                log.warning("gmail refused to remove a message: scope missing",
                            extra={"branch": hub.branch, "mode": mode})
                mode = "trash" if mode == "delete" and MODIFY in scopes else None
                continue
            break
        if mode is None:
            if found.message_ids.get(gmail_id):
                left.append((kind, gmail_id))
        else:
            used.add((mode, kind))
    if mode is not None and found.known:  # mail known to the hub, some gone already: done as well
        used.add((mode, "sent"))
    for done_mode, kind in sorted(used):
        hub.erased(DONE[done_mode][0 if kind == "sent" else 1])
    return left


def _remove_drafts(hub: HubContext, client: GmailClient, found: Found) -> list[str]:
    """drafts.delete (gmail.compose allows it); the Message-IDs of drafts left to staff."""
    left = []
    for draft_id, message_id in found.drafts.items():
        try:
            client.delete_draft(draft_id)  # gone (sent, or deleted by staff): done as well
        except ScopeMissing:
            if message_id:
                left.append(message_id)
    if not left:
        hub.erased(DRAFTS_DONE)
    return left


def _header(message: dict[str, Any], name: str) -> str:
    for header in message.get("payload", {}).get("headers", []):
        if str(header.get("name", "")).lower() == name.lower():
            return str(header.get("value", ""))
    return ""
