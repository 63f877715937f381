"""One classification of a plugin's exception, read the same way by deliveries, sources and resync."""

from __future__ import annotations

import pytest

from hub.errors import DeliveryRejected, PluginAuthFailed, PluginNotReady
from hub.failures import FailureKind, classify


@pytest.mark.parametrize(("exc", "kind", "start"), [
    (PluginNotReady("Calendly a répondu 503", retry_after=30), FailureKind.NOT_READY, "not ready: "),
    (PluginAuthFailed("jeton refusé", fix="hub auth google --branch lyon"), FailureKind.AUTH_FAILED, "auth failed: "),
    (DeliveryRejected("pas d'adresse e-mail"), FailureKind.REJECTED, "rejected: "),
    (KeyError("row"), FailureKind.UNEXPECTED, "KeyError: "),
])
def test_each_kind(exc: Exception, kind: FailureKind, start: str) -> None:
    failure = classify(exc)
    assert failure.kind is kind and failure.message.startswith(start)


def test_what_travels_with_the_failure() -> None:
    assert classify(PluginNotReady("x", retry_after=30)).retry_after == 30
    assert classify(PluginAuthFailed("x", fix="hub auth google --branch lyon")).fix == "hub auth google --branch lyon"


def test_personal_data_is_scrubbed_from_the_message() -> None:
    message = classify(RuntimeError("boom for jo@example.org +33 6 12 34 56 78")).message
    assert "jo@example.org" not in message and "12 34" not in message
