"""`hub doctor` for Outlook: a token can be had, it carries the permissions the channel needs, and the mailbox
exists and may be read and written. Messages are for staff, in French; an address is shown by its domain only.

The permissions are read from the access token's claims (`roles` for an application token, `scp` for a
delegated one). Microsoft says clients should treat access tokens as opaque; Graph's are JWTs today, and when
one cannot be read the check says so instead of failing.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from hub.errors import PluginAuthFailed
from hub.sources import Check
from hub_outlook.auth import SERVICE, auth_command

if TYPE_CHECKING:
    from hub_outlook.mailbox import Mailbox

NEEDED = ("Mail.ReadWrite", "Mail.Send")
"""What the mail channel needs: drafts (ReadWrite) and sending them (Send)."""


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def token_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, unverified (only to say what was granted); None when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return None
    return payload if isinstance(payload, dict) else None


def granted(claims: dict[str, Any]) -> set[str]:
    roles = claims.get("roles") or []
    scopes = str(claims.get("scp") or "").split()
    return {str(r) for r in roles if isinstance(r, str)} | set(scopes)


def checks(box: Mailbox) -> list[Check]:
    settings = box.settings
    mode = "application (client credentials)" if settings.auth == "app" else "délégué (compte connecté)"

    def token() -> str:
        claims = token_claims(box.auth.access_token())
        if claims is None:
            return f"jeton obtenu ({mode}) ; ses autorisations ne peuvent pas être lues"
        have = granted(claims)
        missing = [p for p in NEEDED if p not in have and f"{p}.All" not in have]
        if missing:
            kind = "d'application" if settings.auth == "app" else "déléguée"
            raise PluginAuthFailed(
                f"{SERVICE} : le jeton n'a pas la permission {kind} {', '.join(missing)} : un administrateur doit "
                "l'ajouter à l'inscription d'application (API permissions > Microsoft Graph) et accorder le "
                f"consentement administrateur, puis : {auth_command(box.branch)}", fix=auth_command(box.branch))
        return f"jeton obtenu ({mode}) avec {', '.join(NEEDED)}"

    def mailbox() -> str:
        box.client().drafts_folder()
        where = f"…@{domain_of(settings.mailbox)}" if settings.mailbox else "du compte connecté"
        note = ""
        if settings.auth == "app":
            note = (" ; rappel : sans restriction (RBAC for Applications d'Exchange Online), une permission "
                    "d'application atteint toutes les boîtes du tenant")
        return f"boîte {where} accessible (brouillons en lecture et écriture){note}"

    return [Check("connexion Microsoft 365", token), Check("boîte Outlook", mailbox)]
