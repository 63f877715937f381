"""The one place that says what an exception from a plugin means (STYLE §4), for deliveries and sources alike.

Deliveries (hub/dispatch.py) and sources (Hub.poll_lane) act differently on each kind (a delivery is retried
or dead-lettered, a source keeps its cursor and is read again at its next turn), but they read it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.errors import DeliveryRejected, PluginAuthFailed, PluginNotReady
from hub.logs import redact

__all__ = ["Failure", "FailureKind", "classify"]


class FailureKind(StrEnum):
    NOT_READY = "not ready"  # retry later, at least Retry-After
    AUTH_FAILED = "auth failed"  # pause the plugin for the branch until new credentials
    REJECTED = "rejected"  # this input can never work: dead letter now
    UNEXPECTED = "unexpected"  # a bug or a surprise: a few tries, then dead letter


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str  # redacted, starting with the kind ("not ready: Calendly a répondu 503")
    retry_after: float | None = None
    fix: str | None = None  # the plugin's command that fixes refused credentials


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, PluginNotReady):
        return Failure(FailureKind.NOT_READY, redact(f"not ready: {exc}"), retry_after=exc.retry_after)
    if isinstance(exc, PluginAuthFailed):
        return Failure(FailureKind.AUTH_FAILED, redact(f"auth failed: {exc}"), fix=exc.fix)
    if isinstance(exc, DeliveryRejected):
        return Failure(FailureKind.REJECTED, redact(f"rejected: {exc}"))
    return Failure(FailureKind.UNEXPECTED, redact(f"{type(exc).__name__}: {exc}"))
