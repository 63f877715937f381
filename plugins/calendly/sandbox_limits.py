"""What the Calendly fake refuses, as Calendly does: plans, rate limits, token scopes, organization roles, and
the schedule of webhook retries. Kept apart from sandbox.py, which serves the resources themselves.

Sources:
* rate limits per user, 50/min Free and 500/min paid, headers on every answer:
  https://developer.calendly.com/api-docs/overview/rate-limits
* webhooks only on paid plans (Standard, Teams, Enterprise), 403 "Please upgrade your Calendly account to ...":
  https://developer.calendly.com/docs/getting-started/frequently-asked-questions and the OpenAPI examples;
* scopes per endpoint (a :write scope includes the :read one of its domain):
  https://developer.calendly.com/docs/authentication/scopes ; a missing scope is a 403 whose message names a
  'required_scopes' array (https://github.com/n8n-io/n8n/pull/33286), and creating a subscription for invitee
  events without scheduled_events:read is a 400 "The supplied parameters are invalid" (same PR);
* organization scope needs an admin or owner (research notes, section 7);
* retries: "it will continue to try to deliver for 24 hours with an exponential back-off ... After 24 hours,
  the webhook is disabled if another message was not delivered successfully":
  https://developer.calendly.com/api-docs/overview/webhooks/webhook-errors
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

PLANS = {"free": 50, "standard": 500, "teams": 500, "enterprise": 500}
ROLES = ("user", "admin", "owner")
RETRY_FIRST = timedelta(minutes=1)  # the back-off's first step; Calendly does not publish its schedule
RETRY_FOR = timedelta(hours=24)
SCOPE_MESSAGE = "This operation requires the scopes listed in the 'required_scopes' array."
DENIED = "You do not have permission to access this resource."

# (method, path pattern) -> scope, in Calendly's scope catalog's terms
_SCOPES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), s) for m, p, s in (
        ("GET", r"^/users/me$", "users:read"),
        ("GET", r"^/event_types", "event_types:read"),
        ("GET", r"^/scheduled_events", "scheduled_events:read"),
        ("GET", r"^/invitee_no_shows", "scheduled_events:read"),
        ("POST", r"^/invitee_no_shows", "scheduled_events:write"),
        ("DELETE", r"^/invitee_no_shows", "scheduled_events:write"),
        ("GET", r"^/webhook_subscriptions", "webhooks:read"),
        ("POST", r"^/webhook_subscriptions", "webhooks:write"),
        ("DELETE", r"^/webhook_subscriptions", "webhooks:write"),
        ("POST", r"^/scheduling_links", "scheduling_links:write"),
        ("POST", r"^/data_compliance/", "data_compliance:write"),  # delete-invitee-data reference page
    )]


def required_scope(method: str, path: str) -> str | None:
    return next((scope for m, pattern, scope in _SCOPES if m == method and pattern.search(path)), None)


def has_scope(granted: frozenset[str] | None, scope: str) -> bool:
    """None is a legacy token (made before scopes existed): full access."""
    if granted is None:
        return True
    domain = scope.split(":", 1)[0]
    return scope in granted or (scope.endswith(":read") and f"{domain}:write" in granted)


def scope_refusal(granted: frozenset[str] | None, method: str, path: str) -> tuple[int, dict[str, Any]] | None:
    scope = required_scope(method, path)
    if scope is None or has_scope(granted, scope):
        return None
    return 403, {"title": "Permission Denied", "message": SCOPE_MESSAGE, "required_scopes": [scope]}


def subscription_scope_refusal(granted: frozenset[str] | None,
                               events: list[str]) -> tuple[int, dict[str, Any]] | None:
    """Invitee events need scheduled_events:read too; Calendly says 400, not 403 (n8n's finding)."""
    if any(e.startswith("invitee") for e in events) and not has_scope(granted, "scheduled_events:read"):
        return 400, {"title": "Invalid Argument", "message": "The supplied parameters are invalid.",
                     "details": [{"parameter": "events", "message": "not permitted for this token"}]}
    return None


def role_refusal(role: str, organization_scope: bool) -> tuple[int, dict[str, Any]] | None:
    if organization_scope and role == "user":
        return 403, {"title": "Permission Denied", "message": DENIED}
    return None


def plan_refusal(plan: str) -> tuple[int, dict[str, Any]] | None:
    if plan == "free":
        return 403, {"title": "Permission Denied", "message": "Please upgrade your Calendly account to Standard"}
    return None


def next_retry(first_failure: datetime, attempts: int) -> datetime | None:
    """When to try a failed delivery again (exponential back-off); None once 24 hours have passed."""
    when = first_failure + RETRY_FIRST * (2 ** max(0, attempts - 1))
    return when if when - first_failure <= RETRY_FOR else None
