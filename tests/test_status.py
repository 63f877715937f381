"""`hub status` tells the truth at a glance: a state per branch and plugin, since when, local time, the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from click.testing import CliRunner

from hub import status
from hub.app import Hub
from hub.cli import cli
from hub.errors import PluginAuthFailed, PluginNotReady
from hub.testing import FakeClock, RecordingSink, make_event


def _states(hub: Hub) -> dict[tuple[str, str], str]:
    return {(b.branch, p.plugin): p.state for b in status.collect(hub) for p in b.plugins}


def test_each_state_is_told_with_its_age_and_fix(make_hub: Callable[..., Hub], register_plugin: Any,
                                                 clock: FakeClock) -> None:
    sinks = {name: register_plugin(name, RecordingSink()) for name in ("alpha", "beta", "gamma")}
    hub = make_hub({"lyon": {"plugins": ["alpha", "beta", "gamma"], "timezone": "Europe/Paris"},
                    "cayenne": {"plugins": ["alpha"], "timezone": "America/Cayenne"}},
                   hub={"delivery": {"max_attempts": 1}})
    sinks["alpha"].fail["candidate_registered"] = PluginNotReady("503")
    sinks["beta"].fail["candidate_registered"] = lambda: PluginAuthFailed("token revoked", fix="hub plugins")
    sinks["gamma"].fail["candidate_registered"] = RuntimeError("bug")  # one try allowed: dead at once
    hub.ingest("lyon", "alpha", [make_event("candidate_registered")])
    hub.cycle()
    assert _states(hub) == {("lyon", "alpha"): "degraded", ("lyon", "beta"): "paused",
                            ("lyon", "gamma"): "failing", ("cayenne", "alpha"): "ok"}
    clock.advance(hours=3)
    text = status.render(status.collect(hub), {})
    assert "(times in Europe/Paris)" in text and "(times in America/Cayenne)" in text
    assert "since 02/03 10:00 (3 h ago)" in text  # 09:00 UTC is 10:00 in Paris on 2 March
    assert "-> hub plugins, then hub retry --branch lyon --plugin beta" in text  # the plugin's own fix
    assert "-> hub deliveries --failed --branch lyon --plugin gamma, fix the cause," in text
    assert "   then hub retry --branch lyon --plugin gamma" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_source_failing_every_poll_is_not_ok(make_hub: Callable[..., Hub], register_plugin: Any) -> None:
    from hub.hookspecs import hookimpl
    from hub.sources import Poller

    class Broken(RecordingSink):
        @hookimpl
        def register_sources(self, hub: Any, register: Any) -> None:
            def poll(cursor: str | None) -> Any:
                raise PluginNotReady("Carnet unreachable: ConnectError")
            register(Poller("signups", poll))

    register_plugin("broken", Broken())
    hub = make_hub({"lyon": {"plugins": ["broken"]}})
    hub.cycle(force_poll=True)
    [lyon] = status.collect(hub)
    [plugin] = lyon.plugins
    assert plugin.state == "degraded" and "source signups: not ready: Carnet unreachable" in plugin.wrong
    assert plugin.fix == "hub doctor --branch lyon"


def test_status_of_one_branch(make_hub: Callable[..., Hub], register_plugin: Any) -> None:
    register_plugin("alpha", RecordingSink())
    hub = make_hub({"lyon": {"plugins": ["alpha"]}, "paris": {"plugins": ["alpha"]}})
    result = CliRunner().invoke(cli, ["status", "--config", str(hub.config.root), "--branch", "paris"],
                                obj={"registry": hub.registry})
    assert result.exit_code == 0, result.output
    assert "paris: ok" in result.output and "lyon" not in result.output
