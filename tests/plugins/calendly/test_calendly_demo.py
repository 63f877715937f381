"""The sandbox's part in `hub demo`: settings, environment, the story's actions, and describe()."""

from __future__ import annotations

from collections.abc import Callable

import hub_calendly.plugin as calendly_plugin
from hub.app import Hub
from hub.sandbox import DemoContext, DemoPerson, DemoPhase
from hub.testing import FakeClock
from hub_calendly.sandbox import CalendlySandbox

from .conftest import deliver

PEOPLE = [DemoPerson("Aïcha", "Benali", "aic.ben@exemple.invalid", "+33 6 10 20 30 40", "Mission locale"),
          DemoPerson("Jean-Marc", "Dupont", "jea.dup@exemple.invalid", "+33 6 11 21 30 41", "France Travail"),
          DemoPerson("Nguyễn", "Thị Lan", "ngu.thi@exemple.invalid", "+33 6 12 22 30 42", "CCAS")]


def test_demo_story_reaches_the_hub(make_hub: Callable[..., Hub], register_plugin: Callable[..., object],
                                    sandbox: CalendlySandbox, sandbox_url: str, clock: FakeClock) -> None:
    register_plugin("calendly", calendly_plugin)
    demo = DemoContext(branch="lyon", base_url=sandbox_url, people=PEOPLE, now=clock,
                       webhook_url="http://127.0.0.1:1/webhooks/lyon/calendly")
    table = sandbox.demo_settings(demo)
    environ = sandbox.demo_environ(demo)
    assert table["api_url"] == sandbox_url
    assert set(environ) == {"HUB_LYON_CALENDLY_TOKEN", "HUB_LYON_CALENDLY_WEBHOOK_SIGNING_KEY"}
    hub = make_hub({"lyon": {"plugins": ["calendly"], "calendly": table}}, environ=environ)
    sandbox.sender = lambda d: deliver(hub, d.body, d.headers, "lyon").status
    actions = sandbox.demo_actions(demo)
    assert [a.phase for a in actions] == [DemoPhase.BOOK] * 3 + [DemoPhase.CHANGE] * 2 + [DemoPhase.ATTEND]
    for action in sorted(actions, key=lambda a: a.phase):
        action.run()
    assert all(d.status == 200 for d in sandbox.outbox)
    kinds = sorted(r.kind for r in hub.store.list_events(branch="lyon"))
    assert kinds.count("session_booked") == 4 and kinds.count("session_cancelled") == 1
    assert kinds.count("outcome_recorded") == 1
    # polling over the same facts adds nothing (same source ids as the webhooks)
    for _, p in hub.pollers["lyon"]:
        assert hub.poll("lyon", "calendly", p) == 0
    text = sandbox.describe("lyon")
    assert "Atelier Coup de Pouce" in text and "annulé" in text and "→ nouveau" in text and "oui" in text
    assert sandbox.describe("nowhere").endswith("aucun compte")
