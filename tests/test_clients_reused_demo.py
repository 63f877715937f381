"""`hub demo` serves its webhook receiver with the same limits on stalled clients as `hub run` (issue 12), and
bench/idle_bench.py can set up the demo's branches without playing the story."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import hub.demo
from hub.demo import BRANCH_TOOLS, BRANCHES, FIRST_PARTY, DemoClock, demo_branches
from hub.plugins import PluginRegistry
from hub.web_limits import WebLimits


class _Stop(Exception):
    pass


def test_the_demo_receiver_has_the_webhook_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    class Recording:
        def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None,
                     limits: WebLimits | None = None) -> None:
            seen.append(limits)
            raise _Stop  # the story is not needed: only how the receiver is started

    monkeypatch.setattr(hub.demo, "ServerThread", Recording)
    with pytest.raises(_Stop):
        hub.demo.run_demo(tmp_path / "demo", PluginRegistry.discover(), echo=lambda _: None)
    assert len(seen) == 1 and isinstance(seen[0], WebLimits)


def test_demo_branches_point_every_plugin_at_its_fake() -> None:
    # the demo's default: the first-party fakes of its story (an installed plugin outside it is left out)
    sandboxes = {n: s for n, s in PluginRegistry.discover().sandboxes().items() if n in FIRST_PARTY}
    urls = {name: f"http://127.0.0.1:{9000 + i}" for i, name in enumerate(sandboxes)}
    contexts, branches, secrets = demo_branches(sandboxes, urls, 9999, DemoClock())
    assert set(branches) == set(BRANCHES) and len(contexts) == sum(len(t) for t in BRANCH_TOOLS.values())
    assert branches["bordeaux"]["plugins"] == ["calendly", "example", "outlook"]  # Microsoft 365
    assert branches["lyon"]["plugins"] == ["calendly", "example", "gmail", "gsheets"]  # Google Workspace
    assert branches["bordeaux"]["channels"] == {"email": "outlook"} and branches["lyon"]["channels"] == {
        "email": "gmail"}
    assert all(c.webhook_url and c.webhook_url.startswith("http://127.0.0.1:9999/") for c in contexts.values())
    assert secrets
