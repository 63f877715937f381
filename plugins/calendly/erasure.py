"""Erasure in Calendly (RGPD art. 17, told to every source and recipient, art. 19): the `candidate_forgotten` hook.

Calendly is a source: the person booked through it, so it holds an invitee record per booking (name, e-mail,
answers to the booking form, perhaps an SMS reminder number). What the hook does:

1. finds the addresses the person used in Calendly: the hub's e-mail and, for each of their sessions booked
   in Calendly (the session's link is the invitee URI), the invitee's own e-mail read from Calendly, since a
   booking matched by the link's hub id (utm_content) may carry another address;
2. asks Calendly to erase them: `POST /data_compliance/deletion/invitees` {"emails": [...]} answered 202, the
   work done "up to 7 days" later on every booking of the organisation; Calendly deletes the name and the
   answers and anonymizes the e-mail (https://help.calendly.com/hc/en-us/articles/4412601189911). The endpoint
   "requires an Enterprise subscription" and the `data_compliance:write` scope
   (https://developer.calendly.com/api-docs/calendly-api/data-compliance/delete-invitee-data), and an owner or
   admin "with the data requests permission enabled", which Calendly's support grants (403 examples of its
   OpenAPI, speakeasy-sdks/calendly-python openapi/openapi.yaml). At most 100 addresses a request (the limit
   of the same form in Calendly's admin centre; the API reference states none);
3. on another plan, or without that scope or permission, nothing fails: the receipt gets the step staff take
   by hand, which Calendly offers owners and admins on every plan ("Who can delete data: Owners and admins on
   any Calendly plan", Admin center > Security > Data deletion, help centre page above), with the dates of the
   bookings so that staff find the person even once the hub no longer knows the address (retention purge);
4. names, as manual items, what Calendly does not say it erases (the SMS reminder number is not in the help
   centre's list) and a booking still to come (staff cancel it, or not: cancelling by API would cancel a
   group workshop for everyone and mail the person);
5. drops the connector's own state about the person (the no-show ids of their invitees, `no_show:<uuid>`)
   and keeps, under the erasure's id, only the receipt it gave (no personal data), so a delivery made again
   after the hub dropped the erasure's payload gives the same receipt and asks Calendly nothing.

A booking Calendly anonymized is never read back as a new person (mapping.py). Never logged: names, e-mails.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hub.errors import DeliveryRejected
from hub.events import Candidate, Event, Session, SessionStatus
from hub_calendly.access import CalendlyDenied, CalendlyScopeMissing
from hub_calendly.client import CalendlyClient, CalendlyForbidden, CalendlyNotFound, uuid_of
from hub_calendly.mapping import forget_no_show, is_anonymized

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub_calendly.plugin import Settings

RECEIPT_KEY = "receipt:"  # + the erasure event's source_id -> [[status, item], ...] (no personal data)
MAX_EMAILS = 100
SHOWN_DATES = 5
BY_HAND = ("un administrateur Calendly va dans Admin center > Security > Data deletion, saisit l'e-mail de la "
           "personne sous « Delete specific contact or invitee information », puis Delete > Yes")
PLAN_REFUSED = "Calendly n'efface par API qu'avec l'offre Enterprise : " + BY_HAND
SCOPE_MISSING = ("Le jeton Calendly n'a pas la portée data_compliance:write (à ajouter pour les prochains "
                 "effacements) : " + BY_HAND)
NO_PERMISSION = ("Le compte du jeton Calendly n'a pas la permission « data requests » (à demander au support "
                 "Calendly) : " + BY_HAND)
DENIED = "Calendly a refusé la demande d'effacement (403) : " + BY_HAND
REQUESTED = ("Demande d'effacement envoyée à Calendly : nom, e-mail et réponses au formulaire de la personne sur "
             "toutes les réservations de l'organisation (effacés par Calendly sous 7 jours)")
NOTHING_KNOWN = "Aucune adresse ni réservation Calendly connue pour cette personne : rien à effacer dans Calendly"
NOTHING_LEFT = "Réservations Calendly de la personne déjà effacées ou anonymisées dans Calendly"
OWN_STATE = "Identifiants gardés par le connecteur Calendly sur la personne (absences notées)"


@dataclass
class Traces:
    """What Calendly holds about the person, as far as the hub can tell (kept in memory for this delivery)."""

    emails: set[str] = field(default_factory=set)  # as written (Calendly's matching of case is not documented)
    bookings: list[Session] = field(default_factory=list)  # their sessions booked in Calendly
    with_sms: list[Session] = field(default_factory=list)  # those whose invitee gave an SMS reminder number

    @property
    def addresses(self) -> int:
        return len({e.casefold() for e in self.emails})


def client_for(hub: HubContext, settings: Settings) -> CalendlyClient:
    """A client for this delivery alone (closed when it ends)."""
    return CalendlyClient(settings.token.get_secret_value(), settings.api_url, clock=hub.now)


def forget(hub: HubContext, settings: Settings, event: Event) -> None:
    person = event.candidate
    if person is None or not person.id:
        raise DeliveryRejected("candidate_forgotten sans l'identifiant de la personne")
    key = RECEIPT_KEY + event.source_id
    given = hub.state_get(key)
    if isinstance(given, list) and given:  # delivered again: the same receipt, nothing asked of Calendly
        _tell(hub, [(str(status), str(item)) for status, item in given])
        return
    client = client_for(hub, settings)
    try:
        items = erase(hub, client, person)
    finally:
        client.close()
    _tell(hub, items)
    hub.state_put(key, [list(item) for item in items])


def erase(hub: HubContext, client: CalendlyClient, person: Candidate) -> list[tuple[str, str]]:
    """Ask Calendly to erase the person, drop the connector's state about them; the receipt's items."""
    traces = _traces(hub, client, person)
    items: list[tuple[str, str]] = []
    if not traces.emails:  # no address in the hub, and every booking gone or anonymized already
        items.append(("done", NOTHING_LEFT if traces.bookings else NOTHING_KNOWN))
    else:
        refused = _request(client, sorted(traces.emails))
        if refused is None:
            items.append(("done", REQUESTED))
        else:
            items.append(("manual", refused))
            items.append(("manual", _finding_them(hub, traces)))
    if traces.with_sms:
        items.append(("manual", "Calendly ne dit pas effacer le numéro de rappel SMS : après son effacement (7 "
                                f"jours), ouvrez dans Calendly (Meetings) {_bookings(hub, traces.with_sms, 3)} et, "
                                "si le numéro y figure encore, demandez sa suppression au support Calendly"))
    now = hub.now()
    for session in traces.bookings:
        if session.status is SessionStatus.BOOKED and session.start > now:
            items.append(("manual", f"Réservation Calendly à venir le {_when(hub, [session])} : annulez-la dans "
                                    "Calendly (Meetings) si elle ne doit plus avoir lieu ; le hub n'enverra plus "
                                    "de rappel"))
    items.append(("done", OWN_STATE))
    hub.log.info("erasure handled in Calendly", extra={"addresses": traces.addresses,
                                                       "bookings": len(traces.bookings),
                                                       "manual": sum(1 for s, _ in items if s == "manual")})
    return items


def _traces(hub: HubContext, client: CalendlyClient, person: Candidate) -> Traces:
    traces = Traces()
    if person.email:
        traces.emails.add(person.email.strip())
    for session in hub.sessions_of(str(person.id)):
        uri = hub.external_id("session", str(session.id))
        if not uri or "/invitees/" not in uri:
            continue  # booked elsewhere (another source)
        traces.bookings.append(session)
        forget_no_show(hub, uuid_of(uri))
        try:
            invitee = client.get(uri)
        except CalendlyNotFound:
            continue  # gone from Calendly already
        email = str(invitee.get("email") or "").strip()
        if email and not is_anonymized(invitee):  # an anonymized one holds nothing of theirs
            traces.emails.add(email)
        if invitee.get("text_reminder_number"):
            traces.with_sms.append(session)
    return traces


def _request(client: CalendlyClient, emails: list[str]) -> str | None:
    """Send the deletion request(s); None when Calendly accepted them, else the manual step for the refusal.
    A 404 is taken as nothing of theirs left to erase (Calendly does not say when it answers 404)."""
    for chunk in _chunks(emails, MAX_EMAILS):
        try:
            client.delete_invitee_data(chunk)
        except CalendlyForbidden:  # "Please upgrade your Calendly account to Enterprise."
            return PLAN_REFUSED
        except CalendlyScopeMissing:
            return SCOPE_MISSING
        except CalendlyDenied as exc:
            return NO_PERMISSION if "data requests" in exc.detail.casefold() else DENIED
        except CalendlyNotFound:
            continue
    return None


def _finding_them(hub: HubContext, traces: Traces) -> str:
    """Where staff find the person in Calendly without the hub's copy of the address: their bookings' dates."""
    if not traces.bookings:
        return "L'e-mail à saisir est celui de la demande de la personne : le hub ne le garde plus"
    text = f"Pour retrouver la personne dans Calendly (Meetings) : {_bookings(hub, traces.bookings)}"
    if traces.addresses > 1:
        text += f" ; {traces.addresses} adresses e-mail différentes, à saisir toutes"
    return text


def _bookings(hub: HubContext, sessions: list[Session], shown: int = SHOWN_DATES) -> str:
    """"la réservation du 27/02/2026 10:00", "les réservations des ..., ... et 2 autres" (branch's time)."""
    several = len({s.start for s in sessions}) > 1
    return ("les réservations des " if several else "la réservation du ") + _when(hub, sessions, shown)


def _when(hub: HubContext, sessions: list[Session], shown: int = SHOWN_DATES) -> str:
    starts = sorted({s.start for s in sessions})
    text = ", ".join(start.astimezone(hub.zone).strftime("%d/%m/%Y %H:%M") for start in starts[:shown])
    return text + (f" et {len(starts) - shown} autres" if len(starts) > shown else "")


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _tell(hub: HubContext, items: list[tuple[str, str]]) -> None:
    for status, item in items:
        if status == "done":
            hub.erased(item)
        else:
            hub.erasure_manual(item)
