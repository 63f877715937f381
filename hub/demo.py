"""`hub demo`: two branches, every installed plugin's fake service, a scripted week, through the real daemon.

The story (registrations, bookings, a cancellation, a reschedule, attendance, outcomes, then time passing so
reminders fire) is played by the sandboxes, phase by phase; after each phase the real daemon code runs one
cycle. Nothing leaves the machine: every service is a fake on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.app import Hub
from hub.config import load_config
from hub.daemon import Daemon
from hub.errors import ConfigError
from hub.plugins import PluginRegistry
from hub.sandbox import DemoContext, DemoPerson, DemoPhase, serve
from hub.serving import ServerThread, free_port
from hub.testing import write_config
from hub.webhooks import build_app

PHASE_TITLES = {
    DemoPhase.REGISTER: "Inscriptions",
    DemoPhase.BOOK: "Réservations",
    DemoPhase.CHANGE: "Annulation et report",
    DemoPhase.ATTEND: "Présences",
    DemoPhase.OUTCOME: "Résultats",
}
BRANCHES = {"bordeaux": "La Cravate Solidaire Bordeaux", "lyon": "La Cravate Solidaire Lyon"}
_NAMES = [("Aïcha", "Benali", "Mission locale"), ("Jérôme", "Lefèvre", "France Travail"),
          ("Zoé", "N'Diaye", "CCAS"), ("Mamadou", "Traoré", "Cap emploi"), ("Chloé 🌻", "Dubois-Müller", "PLIE")]


def demo_people(branch: str) -> list[DemoPerson]:
    """Fictional people (accented names, one emoji) with per-branch addresses on a reserved domain."""
    people = []
    for i, (first, last, referrer) in enumerate(_NAMES):
        slug = f"{first[:3]}.{last[:3]}".lower().replace("'", "").replace(" ", "")
        people.append(DemoPerson(first, last, f"{slug}.{branch}@exemple.invalid".encode("ascii", "ignore").decode(),
                                 f"+33 6 {10 + i:02d} {20 + i:02d} 30 4{i}", referrer))
    return people


class DemoClock:
    """Real time plus an offset the story moves forward ("three days later...")."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def run_demo(directory: Path, registry: PluginRegistry, echo: Callable[[str], None] = print) -> int:
    started = time.monotonic()
    sandboxes = registry.sandboxes()
    if not sandboxes:
        echo("No installed plugin ships a sandbox: install the project with its plugins (make demo).")
        return 1
    if directory.exists():
        shutil.rmtree(directory)
    config_dir = directory / "config"
    clock = DemoClock()
    echo(f"Demo: {len(BRANCHES)} branches, fake services: {', '.join(sorted(sandboxes))} (loopback only)")
    with serve(sandboxes) as urls:
        receiver_port = free_port()
        contexts = {(b, name): DemoContext(branch=b, base_url=urls[name], people=demo_people(b), now=clock,
                                           webhook_url=f"http://127.0.0.1:{receiver_port}/webhooks/{b}/{name}")
                    for b in BRANCHES for name in sandboxes}
        branches, secrets = {}, {}
        for b, title in BRANCHES.items():
            table: dict[str, object] = {"name": title, "plugins": sorted(sandboxes), "poll_interval": 1}
            for name, sandbox in sandboxes.items():
                table[name] = sandbox.demo_settings(contexts[(b, name)])
                secrets.update(sandbox.demo_environ(contexts[(b, name)]))
            branches[b] = table
        write_config(config_dir, branches, {"state_dir": str((directory / "var").resolve())})
        _write_secrets(config_dir / "secrets.env", secrets)
        try:
            config = load_config(config_dir, registry.settings_models())
        except ConfigError as exc:
            echo(f"demo configuration refused:\n{exc}")
            return 1
        hub = Hub(config, registry, clock=clock)
        with ServerThread(build_app(hub), port=receiver_port):
            actions = [(a.phase, b, name, a) for (b, name), ctx in contexts.items()
                       for a in sandboxes[name].demo_actions(ctx)]
            for phase in DemoPhase:
                if phase is DemoPhase.ATTEND:
                    _time_passes(hub, clock, timedelta(days=6), "Six jours plus tard : les rappels partent", echo)
                todo = [(b, name, a) for p, b, name, a in actions if p is phase]
                if not todo:
                    continue
                echo(f"\n== {PHASE_TITLES[phase]} ==")
                for b, _name, action in todo:
                    action.run()
                    echo(f"  [{b}] {action.label}")
                _cycles(hub)
            _time_passes(hub, clock, timedelta(days=32), "Un mois plus tard : les suivis sont dus", echo)
        _summary(hub, sandboxes, echo)
        hub.close()
    echo(f"\nDemo finished in {time.monotonic() - started:.1f} s. Configuration and database: {directory}/")
    echo(f"Look around: hub --config {config_dir} status | events | deliveries")
    return 0


def _write_secrets(path: Path, secrets: dict[str, str]) -> None:
    """The fakes' tokens, in a private file beside the config, so `hub --config DIR status` works after."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("# fake tokens of the demo's sandboxes (never real ones)\n")
        handle.writelines(f"{name}={value}\n" for name, value in sorted(secrets.items()))


def _time_passes(hub: Hub, clock: DemoClock, delta: timedelta, title: str, echo: Callable[[str], None]) -> None:
    echo(f"\n== {title} ==")
    before = hub.store.list_events(limit=1)
    clock.offset += delta
    _cycles(hub)
    newest = before[0]["seq"] if before else 0
    fired = [r for r in hub.store.list_events(limit=1000) if r["seq"] > newest and r["source"] == "hub"]
    for row in reversed(fired):
        echo(f"  [{row['branch']}] {row['kind']} ({row['session_id']})")


def _cycles(hub: Hub, rounds: int = 3) -> None:
    """A few daemon cycles: a poll can reveal work for another plugin's next poll (a row to flush...)."""
    for _ in range(rounds):
        Daemon(hub).run(once=True)


def _summary(hub: Hub, sandboxes: dict[str, object], echo: Callable[[str], None]) -> None:
    counts = hub.store.delivery_counts()
    for branch in BRANCHES:
        kinds = Counter(r["kind"] for r in hub.store.list_events(branch=branch, limit=10_000))
        echo(f"\n#### {BRANCHES[branch]} ({branch})")
        echo("events: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
        for plugin in hub.branches[branch].names:
            states = counts.get((branch, plugin), {})
            echo(f"deliveries to {plugin}: " + (", ".join(f"{s} {n}" for s, n in sorted(states.items())) or "none"))
        problems = hub.store.list_problems(branch)
        if problems:
            echo(f"{len(problems)} input problem(s) for staff: " +
                 "; ".join(f"{p['ref']} ({p['field']}): {p['message']}" for p in problems))
        for name, sandbox in sorted(sandboxes.items()):
            echo(f"\n-- what {name} now holds --")
            echo(sandbox.describe(branch))  # type: ignore[attr-defined]
