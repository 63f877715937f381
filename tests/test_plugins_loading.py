"""Guarded discovery: a broken plugin is reported by name and skipped; allow/block lists; misspelt hooks."""

from __future__ import annotations

import sys
import types

import pluggy
import pytest

from hub.hookspecs import hookimpl
from hub.plugins import PluginRegistry


def test_broken_plugin_is_reported_and_others_load(monkeypatch: pytest.MonkeyPatch) -> None:
    good = types.ModuleType("good_plugin_mod")
    exec("from hub import hookimpl\n@hookimpl\ndef candidate_registered(hub, event):\n    pass\n", good.__dict__)
    monkeypatch.setitem(sys.modules, "good_plugin_mod", good)
    registry = PluginRegistry.discover({"HUB_PLUGINS": "", "HUB_LOAD_PLUGINS":
                                        "good=good_plugin_mod,bad=no_such_module_xyz"})
    assert "good" in registry.plugins
    assert "bad" not in registry.plugins and "ModuleNotFoundError" in registry.errors["bad"]


def test_allow_and_block_lists() -> None:
    everything = PluginRegistry.discover({})
    assert "example" in everything.plugins
    assert "example" not in PluginRegistry.discover({"HUB_DISABLE_PLUGINS": "example"}).plugins
    assert "example" not in PluginRegistry.discover({"HUB_PLUGINS": "calendly"}).plugins
    assert "example" in PluginRegistry.discover({"HUB_PLUGINS": "example"}).plugins


def test_a_misspelt_hook_fails_loudly() -> None:
    class Typo:
        @hookimpl
        def session_boked(self, hub, event):  # type: ignore[no-untyped-def]
            pass

    with pytest.raises(pluggy.PluginValidationError):
        PluginRegistry().add("typo", Typo())


def test_a_failing_contribution_is_isolated(make_hub, register_plugin) -> None:  # type: ignore[no-untyped-def]
    class Broken:
        @hookimpl
        def register_sources(self, hub, register):  # type: ignore[no-untyped-def]
            raise RuntimeError("cannot start")

    class Fine:
        @hookimpl
        def register_sources(self, hub, register):  # type: ignore[no-untyped-def]
            from hub.sources import Poller, PollResult
            register(Poller("s", lambda cursor: PollResult([], cursor)))

    register_plugin("broken", Broken())
    register_plugin("fine", Fine())
    hub = make_hub({"b": {"plugins": ["broken", "fine"]}})
    assert [(p, poller.name) for p, poller in hub.pollers["b"]] == [("fine", "s")]
    [failure] = hub.store.setup_failures("b")
    assert (failure.plugin, failure.hook) == ("broken", "register_sources") and "cannot start" in failure.error
