"""The `hub` command line. Heavy modules are imported inside commands so `hub --help` stays fast."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from hub.app import Hub
    from hub.plugins import PluginRegistry


def _registry(ctx: click.Context) -> PluginRegistry:
    obj = ctx.ensure_object(dict)
    if "registry" not in obj:
        from hub.plugins import PluginRegistry
        obj["registry"] = PluginRegistry.discover()
    return obj["registry"]  # type: ignore[no-any-return]


def open_hub(ctx: click.Context) -> Hub:
    """Load the configuration named by --config and build the hub; config errors end the command (exit 1)."""
    root = ctx.find_root()
    obj = root.ensure_object(dict)
    if "hub" not in obj:
        from hub.app import Hub
        from hub.config import load_config
        from hub.errors import ConfigError
        try:
            config = load_config(obj.get("config"), _registry(root).settings_models())
        except ConfigError as exc:
            _print_problems(exc.problems)
            ctx.exit(1)
        obj["hub"] = Hub(config, _registry(root))
        root.call_on_close(obj["hub"].close)
    return obj["hub"]  # type: ignore[no-any-return]


def _print_problems(problems: Sequence[Any]) -> None:
    click.secho(f"{len(problems)} configuration problem(s):", fg="red", err=True)
    for problem in problems:
        click.echo(f"  - {problem.render()}", err=True)


def _when(value: float | None) -> str:
    return "" if value is None else datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    rows = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str) if as_json else text)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


class HubGroup(click.Group):
    """Adds plugin commands when a command is looked up or listed, never at import."""

    _plugins_added = False

    def _add_plugins(self, ctx: click.Context) -> None:
        if not self._plugins_added:
            self._plugins_added = True
            _registry(ctx).add_commands(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # plugins may add top-level commands or subcommands of core groups (`hub auth google`)
        self._add_plugins(ctx)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugins(ctx)
        return super().list_commands(ctx)


@click.group(cls=HubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="HUB_CONFIG",
              help="config directory (with hub.toml and branches/) or hub.toml file [default: ./config]")
@click.version_option(package_name="cravate-hub")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """cravate-hub: keeps each branch's sheets, mailboxes and calendars in step.

    Quick start: `hub demo` shows everything working on built-in fakes; `hub config check` validates your
    config/; `hub run` starts the daemon.
    """
    ctx.ensure_object(dict)["config"] = config_path


@cli.command()
@click.option("--once", is_flag=True, help="Do one full cycle (poll, schedule, deliver) and exit.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run the daemon: poll sources, deliver events, fire reminders, serve webhooks."""
    from hub.daemon import Daemon
    from hub.errors import HubError
    from hub.logs import setup_logging
    hub = open_hub(ctx)
    setup_logging(hub.config.hub.log_level)
    try:
        Daemon(hub).run(once=once)
    except HubError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True,
              help="where to write the demo configuration and state")
def demo(directory: Path) -> None:
    """Play a scripted scenario for two branches against the built-in fakes (no network)."""
    from hub.demo import run_demo
    ctx = click.get_current_context()
    sys.exit(run_demo(directory, _registry(ctx), echo=click.echo))


@cli.command()
@click.option("--port", type=int, default=0, help="first port (0: any free ports)")
def sandbox(port: int) -> None:
    """Serve every installed plugin's fake service on 127.0.0.1 until Ctrl-C."""
    import signal
    import threading

    from hub.sandbox import serve
    sandboxes = _registry(click.get_current_context()).sandboxes()
    if not sandboxes:
        raise click.ClickException("no installed plugin ships a sandbox")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serve(sandboxes) as urls:
        for name, url in urls.items():
            click.echo(f"{name}: {url}")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


@cli.command()
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Deliveries per branch and plugin, paused plugins, sources, and bad input waiting for a fix."""
    hub = open_hub(ctx)
    store = hub.store
    counts, pauses = store.delivery_counts(), store.pauses()
    rows = []
    for branch, plugins in sorted(hub.branches.items()):
        for plugin in plugins.names:
            c = counts.get((branch, plugin), {})
            rows.append({"branch": branch, "plugin": plugin, "pending": c.get("pending", 0),
                         "retrying": c.get("retrying", 0), "dead": c.get("dead", 0), "done": c.get("done", 0),
                         "paused": pauses.get((branch, plugin))})
    sources = [{"branch": r["branch"], "plugin": r["plugin"], "source": r["name"], "last_ok": _when(r["last_ok_at"]),
                "last_error": r["last_error"]} for r in store.list_sources()]
    problems = [{"branch": r["branch"], "plugin": r["plugin"], "where": r["ref"], "field": r["field"],
                 "problem": r["message"], "since": _when(r["first_seen"])} for r in store.list_problems()]
    data = {"deliveries": rows, "sources": sources, "problems": problems,
            "plugin_errors": _registry(ctx).errors}
    text = [_table([[r["branch"], r["plugin"], r["pending"], r["retrying"], r["dead"], r["done"],
                     "PAUSED: " + r["paused"] if r["paused"] else "ok"] for r in rows],
                   ["branch", "plugin", "pending", "retrying", "dead", "done", "state"])]
    if sources:
        text += ["", _table([[s["branch"], s["plugin"], s["source"], s["last_ok"], s["last_error"] or ""]
                             for s in sources], ["branch", "plugin", "source", "last ok", "last error"])]
    if problems:
        text += ["", f"{len(problems)} input problem(s) waiting for a fix:",
                 _table([[p["branch"], p["plugin"], p["where"], p["field"], p["problem"]] for p in problems],
                        ["branch", "plugin", "where", "field", "problem"])]
    _emit(as_json, data, "\n".join(text))


@cli.command()
@click.option("--branch")
@click.option("--kind")
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_context
def events(ctx: click.Context, branch: str | None, kind: str | None, limit: int, as_json: bool) -> None:
    """The latest stored events (ids only: no personal data)."""
    rows = open_hub(ctx).store.list_events(branch=branch, kind=kind, limit=limit)
    data = [{"id": r["id"], "branch": r["branch"], "kind": r["kind"], "source": r["source"],
             "occurred_at": _when(r["occurred_at"]), "candidate": r["candidate_id"], "session": r["session_id"]}
            for r in rows]
    _emit(as_json, data, _table([list(d.values()) for d in data],
                                ["id", "branch", "kind", "source", "occurred", "candidate", "session"]))


@cli.command()
@click.option("--failed", is_flag=True, help="Only dead and retrying deliveries.")
@click.option("--branch")
@click.option("--plugin")
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_context
def deliveries(ctx: click.Context, failed: bool, branch: str | None, plugin: str | None, limit: int,
               as_json: bool) -> None:
    """Deliveries of events to plugins, newest first, with their state and last error."""
    rows = open_hub(ctx).store.list_deliveries(states=("dead", "retrying") if failed else (), branch=branch,
                                               plugin=plugin, limit=limit)
    data = [{"id": r["id"], "branch": r["branch"], "plugin": r["plugin"], "kind": r["kind"], "state": r["state"],
             "attempts": r["attempts"], "next_attempt": _when(r["next_attempt_at"]) if r["state"] == "retrying"
             else "", "last_error": r["last_error"], "event": r["event_id"]} for r in rows]
    _emit(as_json, data, _table([list(d.values()) for d in data],
                                ["id", "branch", "plugin", "kind", "state", "tries", "next try", "last error",
                                 "event"]))


@cli.command()
@click.option("--branch")
@click.option("--plugin")
@click.option("--id", "ids", multiple=True, type=int, help="a delivery id (repeatable)")
@click.pass_context
def retry(ctx: click.Context, branch: str | None, plugin: str | None, ids: tuple[int, ...]) -> None:
    """Retry dead and waiting deliveries now, and resume paused plugins (after `hub auth`)."""
    hub = open_hub(ctx)
    resumed = [(b, p) for (b, p) in hub.store.pauses() if (branch in (None, b)) and (plugin in (None, p))]
    for b, p in resumed:
        hub.store.resume(b, p)
    count = hub.store.retry_deliveries(hub.clock(), branch=branch, plugin=plugin, ids=ids)
    click.echo(f"{count} deliveries will be retried on the next cycle; resumed: "
               f"{', '.join(f'{b}/{p}' for b, p in resumed) or 'none'}")


@cli.command()
@click.option("--branch")
@click.option("--plugin")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), help="re-read from this date")
@click.option("--force", is_flag=True, help="Also deliver again what was already delivered.")
@click.pass_context
def resync(ctx: click.Context, branch: str | None, plugin: str | None, since: datetime | None, force: bool) -> None:
    """Re-read sources (all, or one branch/plugin) from a date; already-known events are not repeated."""
    from hub.resync import resync as do_resync
    hub = open_hub(ctx)
    result = do_resync(hub, branch=branch, plugin=plugin, since=since, force=force, echo=click.echo)
    click.echo(f"resync: {result.new} new events, {result.redelivered} deliveries queued again")


@cli.command()
@json_option
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """Installed plugins, their hooks, and those that failed to load."""
    registry = _registry(ctx)
    data = {"plugins": [{"name": n, "version": registry.versions.get(n, ""), "hooks": registry.hooks_of(n)}
                        for n in sorted(registry.plugins)], "errors": registry.errors}
    text = _table([[p["name"], p["version"], ", ".join(p["hooks"])] for p in data["plugins"]],
                  ["plugin", "version", "hooks"])
    if registry.errors:
        text += "\n\nfailed to load:\n" + "\n".join(f"  {n}: {e}" for n, e in registry.errors.items())
    _emit(as_json, data, text)


@cli.group("config")
def config_group() -> None:
    """Check the configuration."""


@config_group.command("check")
@json_option
@click.pass_context
def config_check(ctx: click.Context, as_json: bool) -> None:
    """Validate hub.toml and every branch file; report every problem at once (exit 1 if any)."""
    from hub.config import load_config
    root = ctx.find_root().obj
    registry = _registry(ctx)
    config = load_config(root.get("config"), registry.settings_models(), strict=False)
    problems = list(config.problems)
    if as_json:
        click.echo(json.dumps({"ok": not problems, "problems": [p.as_dict() for p in problems],
                               "branches": sorted(config.branches)}, indent=2, ensure_ascii=False))
    elif problems:
        _print_problems(problems)
    else:
        click.secho(f"configuration OK: {len(config.branches)} branch(es): {', '.join(sorted(config.branches))}",
                    fg="green")
    ctx.exit(1 if problems else 0)


@cli.command()
@click.option("--branch")
@click.pass_context
def doctor(ctx: click.Context, branch: str | None) -> None:
    """Run every plugin's health checks (credentials, access, webhooks)."""
    hub = open_hub(ctx)
    failures = 0
    for branch_id, plugins_ in sorted(hub.branches.items()):
        if branch and branch != branch_id:
            continue
        for plugin, check in plugins_.checks():
            try:
                message = check.run()
                click.echo(f"ok    {branch_id}/{plugin} {check.name}: {message}")
            except Exception as exc:
                failures += 1
                click.secho(f"FAIL  {branch_id}/{plugin} {check.name}: {exc}", fg="red")
    ctx.exit(1 if failures else 0)


@cli.group("auth")
def auth_group() -> None:
    """Connect a branch's accounts (each plugin adds its own subcommand, e.g. `hub auth google`)."""


def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    cli(prog_name="hub")
