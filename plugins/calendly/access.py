"""What a Calendly 403 means, told apart by Calendly's body and by what was asked, with the fix for staff.

Since March 2026 a new personal access token has no access until scopes are chosen when it is created
(https://developer.calendly.com/docs/authentication/scopes). A missing scope is answered 403 with the message
"This operation requires the scopes listed in the 'required_scopes' array." and that array in the body
(quoted in https://github.com/n8n-io/n8n/pull/33286; the array's exact place in the body is not documented,
so it is looked for at the top level and in `details`). Other 403s: a plan without webhooks ("Please upgrade
your Calendly account to ...", Calendly's OpenAPI examples), and organization scope asked by a user who is
not an admin or owner of the organization (research notes, section 7).
"""

from __future__ import annotations

from typing import Any

from hub.errors import PluginAuthFailed

SCOPES_URL = "https://developer.calendly.com/docs/authentication/scopes"
# What the hub calls, per feature. A :write scope includes the matching :read (same page). Creating a
# subscription for invitee events also needs scheduled_events:read (n8n's finding, PR 33286 above).
POLLING_SCOPES = ("users:read", "scheduled_events:read")
WEBHOOK_SCOPES = ("webhooks:write", "scheduled_events:read")
LINK_SCOPES = ("scheduling_links:write",)
ERASURE_SCOPES = ("data_compliance:write",)  # delete-invitee-data reference page (erasure.py)
SCOPE_HELP = (f"portées nécessaires : {', '.join(POLLING_SCOPES)} pour le relevé périodique ; "
              f"{', '.join(WEBHOOK_SCOPES)} pour les webhooks ; {', '.join(LINK_SCOPES)} pour les liens à usage "
              f"unique ; {', '.join(ERASURE_SCOPES)} pour l'effacement des personnes (Calendly Enterprise)")
PLAN_HINT = "upgrade"


def required_scopes(body: dict[str, Any]) -> list[str]:
    """The scopes a 403 body says are missing (empty when it is another kind of 403)."""
    found: list[str] = []
    holders = [body, *[d for d in body.get("details") or [] if isinstance(d, dict)]]
    for holder in holders:
        value = holder.get("required_scopes")
        if isinstance(value, list):
            found += [str(s) for s in value if isinstance(s, str)]
    message = str(body.get("message", ""))
    if not found and "required_scopes" in message:
        found = ["?"]  # the message says so, the array is elsewhere: still a scope problem
    return found


def is_plan_refusal(body: dict[str, Any]) -> bool:
    return PLAN_HINT in str(body.get("message", "")).casefold()


def organization_asked(method: str, path: str, params: dict[str, Any] | None, json: dict[str, Any] | None) -> bool:
    """Whether the request reads or subscribes at organization scope (needs an admin or owner)."""
    if path.startswith("/scheduled_events") and (params or {}).get("organization") and not (params or {}).get("user"):
        return True
    if path.startswith("/webhook_subscriptions"):
        return "organization" in ((json or {}).get("scope"), (params or {}).get("scope"))
    return False


class CalendlyScopeMissing(PluginAuthFailed):
    """The token lacks a scope: the lane pauses until a token with the right scopes replaces it."""

    def __init__(self, scopes: list[str]) -> None:
        named = ", ".join(s for s in scopes if s != "?") or "non précisée"
        super().__init__(f"Calendly refuse l'accès : le jeton n'a pas la portée {named}. Créez un nouveau jeton "
                         f"d'accès personnel (Integrations > API & Webhooks) avec les portées ; {SCOPE_HELP}")
        self.scopes = scopes


class CalendlyNotAdmin(PluginAuthFailed):
    """Organization scope asked with the token of a user who is not an admin or owner."""

    def __init__(self) -> None:
        super().__init__("Calendly refuse la lecture de toute l'organisation : le jeton n'est pas celui d'un "
                         "administrateur ou propriétaire. Mettez scope = \"user\" dans la section [calendly] de "
                         "l'antenne, ou utilisez le jeton d'un administrateur de l'organisation Calendly")


class CalendlyDenied(PluginAuthFailed):
    """Another 403 (a resource of another account, a revoked permission): pause rather than fail every poll.
    `detail` is Calendly's own message (never personal data), for callers that tell refusals apart."""

    def __init__(self, title: str, detail: str = "") -> None:
        super().__init__(f"Calendly refuse l'accès ({title or '403'}) : vérifiez que le jeton est celui du compte "
                         f"Calendly de l'antenne et ses portées ; {SCOPE_HELP}")
        self.detail = detail
