"""The `hub` command line. Heavy modules are imported inside commands so `hub --help` stays fast.

Every command (plugins' too) takes the common options `--config`, `-v`/`-q`, `--log-format` and `--debug`,
before or after its name. No traceback reaches a user: an operational failure is one sentence and a non-zero
exit (see `HubGroup.invoke`); `--debug` shows the traceback.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from hub.app import Hub
    from hub.plugins import BranchPlugins, PluginRegistry


def _registry(ctx: click.Context) -> PluginRegistry:
    obj = ctx.find_root().ensure_object(dict)
    if "registry" not in obj:
        from hub.plugins import PluginRegistry
        obj["registry"] = PluginRegistry.discover()
    registry: PluginRegistry = obj["registry"]
    return registry


def open_hub(ctx: click.Context) -> Hub:
    """Load the configuration named by --config and build the hub; config errors end the command (exit 1)."""
    root = ctx.find_root()
    obj = root.ensure_object(dict)
    if "hub" not in obj:
        from hub.app import Hub
        from hub.config import load_config
        from hub.errors import ConfigError, HubError
        try:
            config = load_config(obj.get("config"), _registry(root).settings_models())
        except ConfigError as exc:
            _print_problems(exc.problems)
            ctx.exit(1)
        try:
            obj["hub"] = Hub(config, _registry(root))
        except OSError as exc:
            raise HubError(f"cannot open the database {config.db_path} ({exc.strerror or type(exc).__name__}); "
                           "check state_dir in hub.toml, then run: hub config check") from None
        root.call_on_close(obj["hub"].close)
    hub: Hub = obj["hub"]
    return hub


def _print_problems(problems: Sequence[Any]) -> None:
    click.secho(f"{len(problems)} configuration problem(s):", fg="red", err=True)
    for problem in problems:
        click.echo(f"  - {problem.render()}", err=True)


def _when(value: float | None) -> str:
    return "" if value is None else datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    rows = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str) if as_json else text)


def known(value: str | None, choices: Iterable[str], what: str, option: str) -> str | None:
    """Refuse a value that names nothing known, with a did-you-mean."""
    choices = sorted(choices)
    if value is None or value in choices:
        return value
    close = difflib.get_close_matches(value, choices, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise click.BadParameter(f"no {what} {value!r}{hint} (known: {', '.join(choices) or 'none'})",
                             param_hint=option)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
branch_option = click.option("--branch", metavar="BRANCH", help="Only this branch (its file name, e.g. lyon).")
plugin_option = click.option("--plugin", metavar="PLUGIN", help="Only this plugin (e.g. calendly, gsheets).")


# --- options every command takes -----------------------------------------------------------------------------

def _store(key: str) -> Any:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value not in (None, 0, False, ()):
            ctx.find_root().ensure_object(dict)[key] = value
        return value
    return callback


def _count(key: str) -> Any:
    def callback(ctx: click.Context, param: click.Parameter, value: int) -> int:
        obj = ctx.find_root().ensure_object(dict)
        obj[key] = obj.get(key, 0) + (value or 0)
        return value
    return callback


def _setup_logs(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Runs after the other options of the command: configures logging once per invocation."""
    from hub.logs import level_from_flags, setup_logging
    obj = ctx.find_root().ensure_object(dict)
    base = obj.get("log_level_base", "WARNING")
    setup_logging(level_from_flags(base, obj.get("verbose", 0), obj.get("quiet", 0)),
                  fmt=obj.get("log_format", "auto"))


def common_options() -> list[click.Parameter]:
    return [
        click.Option(["--config", "config"], type=click.Path(path_type=Path), expose_value=False,
                     callback=_store("config"), metavar="DIR",
                     help="Config directory (hub.toml and branches/) or hub.toml [env HUB_CONFIG; default ./config]."),
        click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_count("verbose"),
                     help="Log more (repeat for debug)."),
        click.Option(["-q", "--quiet"], count=True, expose_value=False, callback=_count("quiet"),
                     help="Log less (repeat for errors only)."),
        click.Option(["--log-format"], type=click.Choice(["auto", "human", "json"]), expose_value=False,
                     callback=_store("log_format"),
                     help="Log lines for people or JSON [default: auto: JSON under systemd or when piped]."),
        click.Option(["--debug"], is_flag=True, expose_value=False, callback=_store("debug"),
                     help="Show the full traceback of an unexpected error."),
        click.Option(["--_logs"], hidden=True, expose_value=False, callback=_setup_logs),
    ]


def _add_common(command: click.Command) -> None:
    names = {p.name for p in command.params}
    command.params += [p for p in common_options() if p.name not in names]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_common(sub)


class HubGroup(click.Group):
    """Adds plugin commands when a command is looked up or listed, never at import; gives every command the
    common options; turns every failure into one sentence."""

    _plugins_added = False

    def _add_plugins(self, ctx: click.Context) -> None:
        if not self._plugins_added:
            self._plugins_added = True
            _registry(ctx).add_commands(self)
            for command in self.commands.values():
                _add_common(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # plugins may add top-level commands or subcommands of core groups (`hub auth google`)
        self._add_plugins(ctx)
        command = super().get_command(ctx, cmd_name)
        if command is None and not ctx.resilient_parsing:
            close = difflib.get_close_matches(cmd_name, self.list_commands(ctx), n=1)
            if close:
                ctx.fail(f"no command {cmd_name!r}; did you mean {close[0]!r}? (see: hub --help)")
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugins(ctx)
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        from hub.errors import HubError, PluginAuthFailed, PluginNotReady
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:
            if ctx.find_root().ensure_object(dict).get("debug"):
                raise
            from hub.logs import redact
            if isinstance(exc, HubError | PluginAuthFailed | PluginNotReady):
                message = str(exc)
            elif isinstance(exc, OSError):
                where = f" {exc.filename}" if exc.filename else ""
                message = f"cannot use{where}: {exc.strerror or type(exc).__name__}"
            else:
                message = (f"unexpected error ({type(exc).__name__}: {exc}); run the same command with --debug "
                           "to see where, and report it")
            raise click.ClickException(redact(message)) from None


EXAMPLES = "\b\nExamples:\n"


@click.group(cls=HubGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Every command takes --config, -v/-q, --log-format and --debug, and prints help with -h.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="HUB_CONFIG", metavar="DIR",
              help="Config directory (hub.toml and branches/) or hub.toml [env HUB_CONFIG; default ./config].")
@click.option("-v", "--verbose", count=True, callback=_count("verbose"), expose_value=False,
              help="Log more (repeat for debug).")
@click.option("-q", "--quiet", count=True, callback=_count("quiet"), expose_value=False, help="Log less.")
@click.option("--log-format", type=click.Choice(["auto", "human", "json"]), callback=_store("log_format"),
              expose_value=False, help="Log lines for people or JSON [default: auto].")
@click.option("--debug", is_flag=True, envvar="HUB_DEBUG", callback=_store("debug"), expose_value=False,
              help="Show the full traceback of an unexpected error.")
@click.version_option(package_name="cravate-hub")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """cravate-hub: keeps each branch's sheets, mailboxes and calendars in step.

    Quick start: `hub demo` shows everything working on built-in fakes; `hub config check` validates your
    config/; `hub run` starts the daemon; `hub status` says what needs a person.
    """
    obj = ctx.ensure_object(dict)
    obj.setdefault("config", config_path)


@cli.command(epilog=EXAMPLES + "  hub run\n  hub run --once -v\n  hub --config /etc/cravate-hub run --log-format json")
@click.option("--once", is_flag=True, help="Do one full cycle (poll, schedule, deliver) and exit; exit 1 if "
                                           "a source or a delivery failed.")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run the daemon: poll sources, deliver events, fire reminders, serve webhooks."""
    from hub.daemon import Daemon
    from hub.logs import level_from_flags, setup_logging
    hub = open_hub(ctx)
    obj = ctx.find_root().obj
    setup_logging(level_from_flags(hub.config.hub.log_level, obj.get("verbose", 0), obj.get("quiet", 0)),
                  fmt=obj.get("log_format", "auto"))
    report = Daemon(hub).run(once=once)
    if once:
        click.echo(f"cycle: {report.ingested} new events, {report.fired} reminders/follow-ups, "
                   f"{report.delivered} deliveries attempted, {len(report.errors)} failure(s)")
        for error in report.errors:
            click.secho(f"  - {error}", fg="red", err=True)
        if report.errors:
            click.echo(f"  -> see: hub status; details: {_hints().failed_deliveries()}", err=True)
            ctx.exit(1)


def _hints() -> Any:
    from hub import hints
    return hints


@cli.command(epilog=EXAMPLES + "  hub demo\n  hub demo --dir /tmp/demo\n"
             "  hub demo --plugins calendly,example,gmail,gsheets,outlook,sms")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True,
              help="Where to write the demo configuration and state (a new folder, or one a demo made).")
@click.option("--plugins", "plugins", metavar="A,B,...", default=None,
              help="Installed plugins whose fakes the demo plays, comma-separated (default: the first-party "
                   "ones; a third-party plugin named here joins both branches).")
def demo(directory: Path, plugins: str | None) -> None:
    """Play a scripted week for two branches against the built-in fakes (no network)."""
    from hub.demo import UnknownPlugins, choose_plugins, run_demo
    ctx = click.get_current_context()
    registry = _registry(ctx)
    chosen = None if plugins is None else [name.strip() for name in plugins.split(",") if name.strip()]
    try:
        choose_plugins(registry.sandboxes(), chosen)
    except UnknownPlugins as exc:
        raise click.BadParameter(f"unknown plugin {', '.join(exc.unknown)}; installed plugins with a sandbox: "
                                 f"{', '.join(exc.installed) or 'none'}", param_hint="--plugins") from None
    sys.exit(run_demo(directory, registry, echo=click.echo, plugins=chosen))


@cli.command(epilog=EXAMPLES + "  hub sandbox\n  hub sandbox --port 9000")
@click.option("--port", type=int, default=0, help="First port to use (0: any free ports).")
def sandbox(port: int) -> None:
    """Serve every installed plugin's fake service on 127.0.0.1 until Ctrl-C."""
    import contextlib
    import signal
    import threading

    from hub.sandbox import serve
    sandboxes = _registry(click.get_current_context()).sandboxes()
    if not sandboxes:
        raise click.ClickException("no installed plugin ships a sandbox; install the plugins: pip install -e '.[all]'")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serve(sandboxes) as urls:
        for name, url in urls.items():
            click.echo(f"{name}: {url}")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


@cli.command(epilog=EXAMPLES + "  hub status\n  hub status --branch lyon\n  hub status --json")
@branch_option
@json_option
@click.pass_context
def status(ctx: click.Context, branch: str | None, as_json: bool) -> None:
    """What needs a person, per branch and plugin: ok, degraded, paused or failing, since when, and the
    command that fixes it. Exit 1 when something is not ok."""
    from hub import status as st
    hub = open_hub(ctx)
    known(branch, hub.branches, "branch", "--branch")
    branches = st.collect(hub, branch)
    errors = dict(_registry(ctx).errors)
    data = st.as_json(branches, errors)
    color = {"ok": "green", "degraded": "yellow", "paused": "red", "failing": "red"}
    _emit(as_json, data, st.render(branches, errors, style=lambda text, state: click.style(text, fg=color[state])))


@cli.command(epilog=EXAMPLES + "  hub events --branch lyon --kind session_booked --limit 10")
@branch_option
@click.option("--kind", metavar="KIND", help="Only this kind of event (e.g. session_booked).")
@click.option("--limit", default=50, show_default=True, help="How many of the latest events.")
@json_option
@click.pass_context
def events(ctx: click.Context, branch: str | None, kind: str | None, limit: int, as_json: bool) -> None:
    """The latest stored events (ids only: no personal data)."""
    from hub.events import EventKind
    hub = open_hub(ctx)
    known(branch, hub.branches, "branch", "--branch")
    known(kind, [k.value for k in EventKind], "event kind", "--kind")
    rows = hub.store.list_events(branch=branch, kind=kind, limit=limit)
    data = [{"id": r.id, "branch": r.branch, "kind": r.kind, "source": r.source,
             "occurred_at": _when(r.occurred_at), "candidate": r.candidate_id, "session": r.session_id}
            for r in rows]
    _emit(as_json, data, _table([list(d.values()) for d in data],
                                ["id", "branch", "kind", "source", "occurred", "candidate", "session"]))


@cli.command(epilog=EXAMPLES + "  hub deliveries --failed\n  hub deliveries --branch lyon --plugin gsheets --json")
@click.option("--failed", is_flag=True, help="Only dead and retrying deliveries.")
@branch_option
@plugin_option
@click.option("--limit", default=50, show_default=True, help="How many of the latest deliveries.")
@json_option
@click.pass_context
def deliveries(ctx: click.Context, failed: bool, branch: str | None, plugin: str | None, limit: int,
               as_json: bool) -> None:
    """Deliveries of events to plugins, newest first, with their state and last error."""
    hub = open_hub(ctx)
    known(branch, hub.branches, "branch", "--branch")
    known(plugin, _enabled_plugins(hub), "enabled plugin", "--plugin")
    rows = hub.store.list_deliveries(states=("dead", "retrying") if failed else (), branch=branch,
                                     plugin=plugin, limit=limit)
    data = [{"id": r.id, "branch": r.branch, "plugin": r.plugin, "kind": r.kind, "state": r.state,
             "attempts": r.attempts, "next_attempt": _when(r.next_attempt_at) if r.state == "retrying"
             else "", "last_error": r.last_error, "event": r.event_id} for r in rows]
    _emit(as_json, data, _table([list(d.values()) for d in data],
                                ["id", "branch", "plugin", "kind", "state", "tries", "next try", "last error",
                                 "event"]))


def _enabled_plugins(hub: Hub) -> set[str]:
    return {p for plugins in hub.branches.values() for p in plugins.names}


@cli.command(epilog=EXAMPLES + "  hub retry\n  hub retry --branch lyon --plugin gsheets\n  hub retry --id 12 --id 13")
@branch_option
@plugin_option
@click.option("--id", "ids", multiple=True, type=int, metavar="ID", help="A delivery id (repeatable).")
@json_option
@click.pass_context
def retry(ctx: click.Context, branch: str | None, plugin: str | None, ids: tuple[int, ...], as_json: bool) -> None:
    """Retry dead and waiting deliveries now, and resume paused plugins (after `hub auth`)."""
    hub = open_hub(ctx)
    known(branch, hub.branches, "branch", "--branch")
    known(plugin, _enabled_plugins(hub), "enabled plugin", "--plugin")
    resumed = [(b, p) for (b, p) in hub.store.pauses() if (branch in (None, b)) and (plugin in (None, p))]
    for b, p in resumed:
        hub.store.resume(b, p)
    count = hub.store.retry_deliveries(hub.clock(), branch=branch, plugin=plugin, ids=ids)
    _emit(as_json, {"retried": count, "resumed": [f"{b}/{p}" for b, p in resumed]},
          f"{count} deliveries will be retried on the next cycle; resumed: "
          f"{', '.join(f'{b}/{p}' for b, p in resumed) or 'none'}")


@cli.command(epilog=EXAMPLES + "  hub resync --branch lyon --plugin calendly --since 2026-03-01\n"
                               "  hub resync --branch lyon --force")
@branch_option
@plugin_option
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), metavar="DATE",
              help="Re-read from this date (YYYY-MM-DD, UTC); default: from the beginning.")
@click.option("--force", is_flag=True, help="Also deliver again what was already delivered.")
@json_option
@click.pass_context
def resync(ctx: click.Context, branch: str | None, plugin: str | None, since: datetime | None, force: bool,
           as_json: bool) -> None:
    """Re-read sources (all, or one branch/plugin) from a date; already-known events are not repeated.
    A source that fails is reported and the others go on; exit 1 if any failed."""
    from hub.resync import resync as do_resync
    hub = open_hub(ctx)
    known(branch, hub.branches, "branch", "--branch")
    known(plugin, _enabled_plugins(hub), "enabled plugin", "--plugin")
    echo = (lambda _text: None) if as_json else click.echo
    result = do_resync(hub, branch=branch, plugin=plugin, since=since, force=force, echo=echo,
                       progress=not as_json)
    _emit(as_json, {"new": result.new, "redelivered": result.redelivered, "failures": result.failures},
          f"resync: {result.new} new events, {result.redelivered} deliveries queued again"
          + (f", {len(result.failures)} source(s) failed" if result.failures else ""))
    ctx.exit(1 if result.failures else 0)


@cli.command(epilog=EXAMPLES + "  hub plugins\n  hub plugins --json")
@json_option
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """Installed plugins, their hooks, and those that failed to load."""
    registry = _registry(ctx)
    rows: list[dict[str, Any]] = [{"name": n, "version": registry.versions.get(n, ""), "hooks": registry.hooks_of(n)}
                                  for n in sorted(registry.plugins)]
    data = {"plugins": rows, "errors": registry.errors}
    text = _table([[p["name"], p["version"], ", ".join(p["hooks"])] for p in rows],
                  ["plugin", "version", "hooks"])
    if registry.errors:
        text += "\n\nfailed to load:\n" + "\n".join(f"  {n}: {e}" for n, e in registry.errors.items())
    _emit(as_json, data, text)


@cli.group("config")
def config_group() -> None:
    """Check the configuration."""


@config_group.command("check", epilog=EXAMPLES + "  hub config check\n  hub --config /etc/cravate-hub config check"
                                                 " --json")
@json_option
@click.pass_context
def config_check(ctx: click.Context, as_json: bool) -> None:
    """Validate hub.toml and every branch file; report every problem at once (exit 1 if any)."""
    from hub.config import load_config
    root = ctx.find_root().obj
    registry = _registry(ctx)
    config = load_config(root.get("config"), registry.settings_models(), strict=False)
    if not any(p.is_error for p in config.problems):  # what needs the plugins' hooks: mail channels
        from hub.report.monthly import config_problems
        config.problems += config_problems(config, registry)
    problems = [p for p in config.problems if getattr(p, "level", "error") == "error"]
    notes = [p for p in config.problems if getattr(p, "level", "error") != "error"]
    if as_json:
        click.echo(json.dumps({"ok": not problems, "problems": [p.as_dict() for p in config.problems],
                               "branches": sorted(config.branches)}, indent=2, ensure_ascii=False))
    else:
        for note in notes:
            click.echo(f"note: {note.render()}", err=True)
        if problems:
            _print_problems(problems)
        else:
            click.secho(f"configuration OK: {len(config.branches)} branch(es): "
                        f"{', '.join(sorted(config.branches))}", fg="green")
    ctx.exit(1 if problems else 0)


@cli.command(epilog=EXAMPLES + "  hub doctor\n  hub doctor --branch lyon --json")
@branch_option
@json_option
@click.pass_context
def doctor(ctx: click.Context, branch: str | None, as_json: bool) -> None:
    """Run every plugin's health checks (credentials, access, webhooks); exit 1 if one fails.
    A check that gets no answer within the deadline is a failure; the others go on."""
    from hub.lanes import call_with_deadline
    hub = open_hub(ctx)
    known(branch, hub.branches, "branch", "--branch")
    deadline = float(hub.config.hub.deadline)
    results = []
    for branch_id, plugins_ in sorted(hub.branches.items()):
        if branch and branch != branch_id:
            continue
        for plugin, name, run in _doctor_checks(hub, branch_id, plugins_):
            ok, message = call_with_deadline(run, deadline)
            results.append({"branch": branch_id, "plugin": plugin, "check": name, "ok": ok, "message": message})
            if not as_json:
                line = f"{'ok  ' if ok else 'FAIL'}  {branch_id}/{plugin} {name}: {message}"
                click.secho(line, fg=None if ok else "red")
    if as_json:
        _emit(True, results, "")
    elif not results:
        click.echo("no plugin of " + (f"branch {branch}" if branch else "any branch") + " has a health check")
    ctx.exit(0 if all(r["ok"] for r in results) else 1)


def _doctor_checks(hub: Hub, branch: str, plugins_: BranchPlugins) -> list[tuple[str, str, Callable[[], str]]]:
    """Each plugin's setup (tried again now), then its own checks; a setup or a check hook that raises
    becomes a failed check naming the plugin, never a traceback."""
    from hub import hints
    from hub.logs import redact

    out: list[tuple[str, str, Callable[[], str]]] = []
    for plugin in plugins_.names:
        errors: list[str] = []
        if hub.setup.get((branch, plugin), errors=errors, force=True) is None:
            reason = errors[0].split(": ", 1)[-1] if errors else "setup failed"
            out.append((plugin, "setup", _failing(f"{reason}; check the [{plugin}] table of the branch file with: "
                                                  f"{hints.config_check()}")))
        try:
            out += [(plugin, check.name, check.run) for check in plugins_.checks(plugin)]
        except Exception as exc:
            out.append((plugin, "checks", _failing(f"the plugin's health checks could not be set up: "
                                                   f"{type(exc).__name__}: {redact(str(exc))}")))
    return out


def _failing(message: str) -> Callable[[], str]:
    def run() -> str:
        raise RuntimeError(message)
    return run


def _add_messages() -> None:
    from hub.messages.commands import messages_group
    cli.add_command(messages_group)


@cli.group("auth")
def auth_group() -> None:
    """Connect a branch's accounts (each plugin adds its own subcommand, e.g. `hub auth google`)."""


def _add_privacy() -> None:
    from hub.privacy.backup_commands import backup_command, restore_command
    from hub.privacy.commands import export_command, forget_command, retention_command
    cli.add_command(export_command)
    cli.add_command(forget_command)
    cli.add_command(retention_command)
    cli.add_command(backup_command)
    cli.add_command(restore_command)


def _add_report() -> None:
    from hub.report.commands import report_command
    cli.add_command(report_command)


def _add_scaffold() -> None:
    from hub.scaffold import new_plugin_command
    cli.add_command(new_plugin_command)


_add_messages()
_add_privacy()
_add_report()
_add_scaffold()


def main() -> None:
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    cli(prog_name="hub")
