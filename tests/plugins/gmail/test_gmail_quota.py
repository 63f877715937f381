"""Gmail's per-user quota (15,000 units a minute: about 136 mails) in the fake: a burst of welcome mails
from the core meets 429 userRateLimitExceeded; the rest wait for the quota to refill and all go, once."""

from __future__ import annotations

from collections.abc import Callable

from hub.app import Hub
from hub.events import EventKind
from hub.testing import FakeClock, make_candidate, make_event
from hub_gmail.sandbox import GmailSandbox

BURST = 160


def test_a_burst_waits_for_the_quota_and_every_mail_goes_once(make_gmail_hub: Callable[..., Hub],
                                                              sandbox: GmailSandbox, clock: FakeClock) -> None:
    hub = make_gmail_hub()
    people = [make_candidate(email=f"p{i}@example.org", phone=None) for i in range(BURST)]
    hub.ingest("lyon", "form", [make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=clock(), candidate=p)
                                for p in people])
    hub.cycle()
    first = len(sandbox.sent("lyon"))
    assert 100 < first < BURST, "the quota stops the burst part way"
    waiting = hub.store.list_deliveries(states=("retrying",), limit=1000)
    assert waiting and not hub.store.list_deliveries(states=("dead",))
    for _ in range(5):
        clock.advance(minutes=2)
        hub.cycle()
    subjects = [str(m["To"]) for m in sandbox.sent("lyon")]
    assert len(subjects) == BURST and len(set(subjects)) == BURST  # everyone, once
