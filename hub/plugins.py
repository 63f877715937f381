"""Plugin discovery and the typed facade that owns every hook call.

Discovery is guarded: entry points of the group `cravate_hub` are loaded one at a time, and a plugin that
fails to import is reported by name and skipped. `HUB_PLUGINS` (allow list) and `HUB_DISABLE_PLUGINS`
(block list), comma-separated, choose what loads; `HUB_LOAD_PLUGINS=name=module[:attr],...` loads objects that are
not installed as entry points (a connector under development, the crash test's plugins).
Business code never calls `pm.hook.*`: it calls the facade, which calls each plugin's implementation alone
so that one plugin's failure stays its own.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from hub import hookspecs
from hub.hookspecs import EVENT_HOOKS, PROJECT
from hub.logs import redact

if TYPE_CHECKING:
    import click
    from pydantic import BaseModel

    from hub.context import HubContext
    from hub.events import Event
    from hub.privacy.share import DataUse
    from hub.sandbox import Sandbox
    from hub.sources import Check

ENTRY_POINT_GROUP = PROJECT
log = logging.getLogger("hub.plugins")


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _env_list(environ: Mapping[str, str], name: str) -> set[str] | None:
    raw = environ.get(name)
    return None if raw is None else {p.strip() for p in raw.split(",") if p.strip()}


@dataclass
class PluginRegistry:
    """Every plugin this installation can use (discovered or registered by hand), and why others failed."""

    plugins: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def discover(cls, environ: Mapping[str, str] | None = None) -> PluginRegistry:
        env = os.environ if environ is None else environ
        allow, block = _env_list(env, "HUB_PLUGINS"), _env_list(env, "HUB_DISABLE_PLUGINS") or set()
        registry = cls()
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in block or (allow is not None and ep.name not in allow) or ep.name in registry.plugins:
                continue
            try:
                registry.add(ep.name, ep.load())
            except Exception as exc:  # a broken plugin must not break the hub
                registry.errors[ep.name] = f"{type(exc).__name__}: {exc}"
                log.info("plugin failed to load", extra={"plugin": ep.name, "error": registry.errors[ep.name]})
                continue
            if ep.dist is not None:
                registry.versions[ep.name] = ep.dist.version
        for spec in (env.get("HUB_LOAD_PLUGINS") or "").split(","):
            name, _, target = spec.strip().partition("=")
            if not name or name in block:
                continue
            module, _, attr = target.partition(":")
            try:
                loaded = importlib.import_module(module)
                registry.add(name, getattr(loaded, attr) if attr else loaded)
            except Exception as exc:
                registry.errors[name] = f"{type(exc).__name__}: {exc}"
        return registry

    def add(self, name: str, plugin: object) -> None:
        """Register a plugin object (module or instance) under a name; checks its hooks at once."""
        pm = new_manager()
        pm.register(plugin, name=name)
        pm.check_pending()  # a misspelt hook name fails loudly here
        self.plugins[name] = plugin
        self.errors.pop(name, None)

    def remove(self, name: str) -> None:
        self.plugins.pop(name, None)

    def manager(self, names: list[str] | None = None) -> pluggy.PluginManager:
        pm = new_manager()
        for name, plugin in self.plugins.items():
            if names is None or name in names:
                pm.register(plugin, name=name)
        return pm

    def hooks_of(self, name: str) -> list[str]:
        pm = self.manager([name])
        return sorted(h for h in dir(pm.hook) if not h.startswith("_") and getattr(pm.hook, h).get_hookimpls())

    # --- global contributions --------------------------------------------------------------------------------

    def settings_models(self) -> dict[str, type[BaseModel] | None]:
        models: dict[str, type[BaseModel] | None] = {name: None for name in self.plugins}
        for name, model in _contributions(self.manager(), "register_settings", {}, self.errors):
            models[name] = model
        return models

    def data_uses(self) -> dict[str, list[DataUse]]:
        """What each plugin declares it puts in its tool (register_data_uses); plugins declaring nothing are
        absent (they receive hub.privacy.share.DEFAULT)."""
        out: dict[str, list[DataUse]] = {}
        for name, use in _contributions(self.manager(), "register_data_uses", {}, self.errors):
            out.setdefault(name, []).append(use)
        for impl in self.manager().hook.register_data_uses.get_hookimpls():  # declared, nothing registered
            out.setdefault(impl.plugin_name, [])
        return out

    def sandboxes(self) -> dict[str, Sandbox]:
        return {name: sandbox for name, sandbox in _contributions(self.manager(), "register_sandbox", {},
                                                                          self.errors)}

    def add_commands(self, cli: click.Group) -> None:
        for impl in self.manager().hook.register_commands.get_hookimpls():
            try:
                impl.function(cli)
            except Exception as exc:
                self.errors[impl.plugin_name] = f"commands failed: {type(exc).__name__}: {exc}"


def _contributions(pm: pluggy.PluginManager, hook: str, kwargs: dict[str, Any],
                   errors: dict[str, str] | None = None) -> list[tuple[str, Any]]:
    return _call_each(getattr(pm.hook, hook).get_hookimpls(), hook, kwargs, errors)


def _call_each(impls: list[pluggy.HookImpl], hook: str, kwargs: dict[str, Any],
               errors: dict[str, str] | None = None) -> list[tuple[str, Any]]:
    """Call each plugin's implementation alone with its own `register` callback; keep who gave what."""
    out: list[tuple[str, Any]] = []
    for impl in impls:
        def register(item: Any, _name: str = impl.plugin_name) -> None:
            out.append((_name, item))
        args = {**kwargs, "register": register}
        try:
            impl.function(*[args[a] for a in impl.argnames])
        except Exception as exc:
            if errors is None:
                raise
            errors[impl.plugin_name] = f"{hook} failed: {type(exc).__name__}: {exc}"
            log.error("plugin contribution failed", extra={"plugin": impl.plugin_name, "hook": hook})
    return out


class BranchPlugins:
    """The facade for one branch: only its enabled plugins, each called with its own context."""

    def __init__(self, branch: str, pm: pluggy.PluginManager, context: Callable[[str], HubContext]) -> None:
        self.branch = branch
        self.pm = pm
        self.context = context
        self._impls = {hook: {impl.plugin_name: impl for impl in getattr(pm.hook, hook).get_hookimpls()}
                       for hook in EVENT_HOOKS}

    @property
    def names(self) -> list[str]:
        return sorted(name for name, _ in self.pm.list_name_plugin())

    def sinks_for(self, kind: str) -> list[str]:
        """Plugins that implement the event hook `kind`: each gets one delivery per such event."""
        return sorted(self._impls.get(kind, {}))

    def deliver(self, plugin: str, kind: str, ctx: HubContext, event: Event) -> None:
        """Call one plugin's hook for one event, alone. Exceptions are the dispatcher's to classify."""
        impl = self._impls.get(kind, {}).get(plugin)
        if impl is None:  # the plugin was disabled or lost the hook since: nothing to do
            return
        args = {"hub": ctx, "event": event}
        impl.function(*[args[a] for a in impl.argnames])

    def contribution(self, plugin: str, hook: str) -> list[Any]:
        """What one plugin registers through one per-branch hook (`register_sources`, `register_webhooks`,
        `register_checks`); its exception propagates, for the caller to record (hub.lane_setup)."""
        out: list[Any] = []
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            if impl.plugin_name == plugin:
                out += [item for _, item in _call_each([impl], hook, {"hub": self.context(plugin)})]
        return out

    def checks(self, plugin: str) -> list[Check]:
        return self.contribution(plugin, "register_checks")

    def close_lane(self, plugin: str) -> bool:
        """Call one plugin's `close_lane` for this branch, alone, with the context its contributions got.
        A failure is logged (warning, with its type) and returned as False, never raised: one plugin's close
        must not keep the others' clients open nor the store from closing."""
        for impl in self.pm.hook.close_lane.get_hookimpls():
            if impl.plugin_name != plugin:
                continue
            args = {"hub": self.context(plugin)}
            try:
                impl.function(*[args[a] for a in impl.argnames])
            except Exception as exc:
                log.warning("plugin close failed", extra={"branch": self.branch, "plugin": plugin, "hook": "close_lane",
                                                          "error": redact(f"{type(exc).__name__}: {exc}")})
                return False
        return True
