"""Single-use booking links (POST /scheduling_links) that carry the hub's candidate id as utm_content.

The booking then comes back with `tracking.utm_content` = the candidate id, so it attaches to the right
person even when they book with another e-mail address.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from hub_calendly.client import CalendlyClient
from hub_calendly.plugin import Settings


class LinkError(ValueError):
    """Why no link can be made, in words staff understand."""


def link_event_type(settings: Settings, wanted: str | None = None) -> str:
    for candidate in (wanted, settings.link_event_type, *settings.event_types):
        if candidate and candidate.startswith("https://"):
            return candidate
    raise LinkError("aucun type d'événement pour les liens : renseigner link_event_type (URI du type "
                    "d'événement Calendly) dans la section [calendly]")


def with_candidate(booking_url: str, candidate_id: str) -> str:
    parts = urlsplit(booking_url)
    query = "&".join(q for q in (parts.query, urlencode({"utm_content": candidate_id})) if q)
    return urlunsplit(parts._replace(query=query))


def single_use_link(settings: Settings, client: CalendlyClient, candidate_id: str,
                    event_type: str | None = None) -> str:
    """A booking URL usable once, tagged with the candidate's hub id."""
    if not settings.single_use_links:
        raise LinkError("les liens à usage unique ne sont pas activés pour cette antenne (single_use_links = true)")
    resource = client.create_scheduling_link(link_event_type(settings, event_type))
    return with_candidate(str(resource["booking_url"]), candidate_id)
