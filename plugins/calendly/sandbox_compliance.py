"""The Calendly fake's data compliance endpoint: `POST /data_compliance/deletion/invitees`, as strict as Calendly.

What Calendly documents, and this fake does:
* the endpoint "requires an Enterprise subscription" and the `data_compliance:write` scope
  (https://developer.calendly.com/api-docs/calendly-api/data-compliance/delete-invitee-data); its two 403s,
  verbatim from Calendly's OpenAPI examples ("Missing Billing Permission", "Invalid Data Request Permission";
  speakeasy-sdks/calendly-python openapi/openapi.yaml, commit bbc8217): "Please upgrade your Calendly account to
  Enterprise." and "You must be an admin/owner with the data requests permission enabled to use this resource.
  Contact Calendly support and ask them to grant you data requests permission.";
* the body is `{"emails": [...]}`, required, each item `format: email` (same OpenAPI); at most 100 addresses a
  request, the limit Calendly's help centre gives for the same deletion made by hand (the API reference gives
  none, so the fake applies this one);
* it answers 202 `{}` and works later: "Requests for data deletion can take up to 7 days to complete" (API
  reference). Here nothing changes until the script calls `process_data_deletions`, Calendly's back office;
* what a processed request does, from "How to delete personal data in Calendly"
  (https://help.calendly.com/hc/en-us/articles/4412601189911): on every booking of the organisation with that
  address, the invitee's name is deleted, the e-mail "anonymized", e.g. `1e99adf8a31ad9@deleted.calendly.com`,
  and the questions and answers deleted. The fake does exactly that, plus the name Calendly copies into a
  cancellation made by the invitee (`canceled_by`). It keeps what the page does not list: the SMS reminder
  number (`text_reminder_number`) and the cancellation reason, so a connector cannot claim more than Calendly
  promises. The request log keeps a count, not the addresses.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub_calendly.sandbox import FakeAccount

MAX_EMAILS = 100
ANONYMIZED_DOMAIN = "deleted.calendly.com"
UPGRADE = "Please upgrade your Calendly account to Enterprise."
NO_DATA_REQUESTS = ("You must be an admin/owner with the data requests permission enabled to use this resource. "
                    "Contact Calendly support and ask them to grant you data requests permission.")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _invalid(message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"title": "Invalid Argument", "message": "The supplied parameters are invalid.",
                 "details": [{"parameter": "emails", "message": message}]}


def refusal(account: FakeAccount) -> tuple[int, dict[str, Any]] | None:
    """The plan first (Enterprise only), then the caller's role and Calendly's data requests permission."""
    if account.plan != "enterprise":
        return 403, {"title": "Permission Denied", "message": UPGRADE}
    if account.role == "user" or not account.data_requests:
        return 403, {"title": "Permission Denied", "message": NO_DATA_REQUESTS}
    return None


def request_deletion(account: FakeAccount, body: dict[str, Any], now: str) -> tuple[int, dict[str, Any]]:
    """`POST /data_compliance/deletion/invitees`: checked, then queued (202)."""
    refused = refusal(account)
    if refused is not None:
        return refused
    emails = body.get("emails")
    if not isinstance(emails, list) or not emails:
        return _invalid("is required and must be a non-empty list of email addresses")
    if len(emails) > MAX_EMAILS:
        return _invalid(f"must contain at most {MAX_EMAILS} email addresses")
    if not all(isinstance(e, str) and _EMAIL.match(e) for e in emails):
        return _invalid("must be a list of email addresses")
    account.deletion_requests.append({"id": uuid.uuid4().hex[:16].upper(), "status": "pending", "created_at": now,
                                      "emails": sorted({e.strip().casefold() for e in emails})})
    return 202, {}


def process(account: FakeAccount, now: str) -> int:
    """Calendly's back office works through the pending requests: every invitee of the organisation with one of
    the addresses is anonymized. Returns how many invitees were."""
    done = 0
    for request in account.deletion_requests:
        if request["status"] != "pending":
            continue
        wanted = set(request["emails"])
        for invitees in account.invitees.values():
            for invitee in invitees:
                if str(invitee.get("email") or "").casefold() in wanted:
                    anonymize(invitee, now)
                    done += 1
        request.update(status="completed", completed_at=now, emails=len(wanted))
    return done


def anonymize(invitee: dict[str, Any], now: str) -> None:
    invitee.update(email=f"{uuid.uuid4().hex[:14]}@{ANONYMIZED_DOMAIN}", first_name=None, last_name=None,
                   name="", questions_and_answers=[], updated_at=now)
    cancellation = invitee.get("cancellation")
    if isinstance(cancellation, dict) and cancellation.get("canceler_type") == "invitee":
        cancellation["canceled_by"] = ""
