"""A gmail lane builds its Gmail service and resources once, however often it polls (issue 12, item 4).

google-api-python-client builds a new resource object on every `users.messages()` call; one client per
branch, with its resources made once, keeps an idle daemon's work per poll to the request itself. Counted.
"""

from __future__ import annotations

from gmail_helpers import poll

from hub.app import Hub


def test_twenty_polls_build_the_service_and_its_resources_once(gmail_hub: Hub, built: dict[str, int]) -> None:
    counts = built
    poll(gmail_hub)
    after_first = dict(counts)
    assert after_first["services"] == 1
    for _ in range(20):
        poll(gmail_hub)
    assert counts == after_first, "each poll built resources again"
