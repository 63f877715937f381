"""Standard Webhooks signatures (spec 1.0.0, https://www.standardwebhooks.com, "Signature scheme"): the signed
content is `<webhook-id>.<webhook-timestamp>.<body>`, signed with HMAC-SHA256; `webhook-signature` is
`v1,<base64 of the MAC>` (several space-separated during a key rotation). A signing secret is written
`whsec_<base64 of the key>`; the key is what the base64 decodes to.

Each endpoint has its own key, derived from the branch's one secret (`[webhooks_out] secret`, from the
environment) and the endpoint's name: a receiver holding its key cannot sign for another endpoint, and the branch
keeps one secret. `hub webhooks-out secret` prints an endpoint's `whsec_...` for its receiver.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "whsec_"
TOLERANCE = 5 * 60
"""Seconds a receiver accepts between `webhook-timestamp` and its clock (the reference libraries' default)."""


def endpoint_secret(branch_secret: str, endpoint: str) -> str:
    """The endpoint's signing secret, `whsec_` + base64 of HMAC-SHA256(branch secret, endpoint name): 32 bytes,
    within the spec's 24 to 64."""
    key = hmac.new(branch_secret.encode(), f"cravate-hub webhooks_out {endpoint}".encode(), hashlib.sha256)
    return PREFIX + base64.b64encode(key.digest()).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt: `v1,<base64 HMAC-SHA256>`."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, and the JSON content type."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body), "content-type": "application/json"}
