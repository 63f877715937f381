"""`hub demo`: two branches, the first-party plugins' fake services, a scripted fortnight, through the real daemon.

The story (registrations, bookings, a cancellation, a reschedule, attendance, outcomes, then time passing so
reminders and follow-ups fire) is played by the sandboxes, phase by phase; after each phase the real daemon
code runs a few cycles. Nothing leaves the machine: every service is a fake on 127.0.0.1. The narration is
in French, for the coordinators who will use the hub: names (first name + initial), local dates, no ids.
A third-party plugin with a sandbox plays only when `--plugins` names it; the demo says which it left out.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from hub.app import Hub
from hub.config import load_config
from hub.config.files import write_config
from hub.daemon import Daemon
from hub.demo_mails import channel_for, print_mails
from hub.durations import Offset, parse_offset
from hub.errors import ConfigError
from hub.events import Event, EventKind, OutcomeCategory
from hub.plugins import PluginRegistry
from hub.sandbox import DemoContext, DemoPerson, DemoPhase, Sandbox, serve
from hub.serving import ServerThread, free_port
from hub.store import EventRow, from_ts
from hub.web_limits import WebLimits
from hub.webhooks import build_app
from hub.words import KIND_WORDS, TOOL_NAMES

MARKER = ".cravate-hub-demo"
"""Written in the folder the demo makes: only a folder holding it (or an empty one) is ever replaced."""
_LEGACY_SECRETS_HEADER = "# fake tokens of the demo's sandboxes"  # demo folders made before the marker existed

PHASE_TITLES = {
    DemoPhase.REGISTER: "Inscriptions",
    DemoPhase.BOOK: "Réservations",
    DemoPhase.CHANGE: "Annulation et report",
    DemoPhase.ATTEND: "Présences",
    DemoPhase.OUTCOME: "Résultats",
}
BRANCHES = {"bordeaux": "La Cravate Solidaire Bordeaux", "lyon": "La Cravate Solidaire Lyon"}
TOOLS = TOOL_NAMES
BRANCH_TOOLS = {"bordeaux": ("calendly", "example", "outlook"), "lyon": ("calendly", "example", "gmail", "gsheets")}
"""Which fakes each branch uses: Bordeaux on Microsoft 365, Lyon on Google Workspace, side by side. An installed
plugin named nowhere here (a third-party connector) is left out of the story unless `hub demo --plugins` names
it (it then joins both branches), and the demo says so either way."""
FIRST_PARTY = frozenset(name for names in BRANCH_TOOLS.values() for name in names)
STORY_ZONE = ZoneInfo("Europe/Paris")
_NAMES = {
    "bordeaux": [("Aïcha", "Benali", "Mission locale"), ("Jérôme", "Lefèvre", "France Travail"),
                 ("Zoé", "N'Diaye", "CCAS"), ("Mamadou", "Traoré", "Cap emploi"),
                 ("Chloé 🌻", "Dubois-Müller", "PLIE")],
    "lyon": [("Inès", "Haddad", "Mission locale"), ("Karim", "Mansouri", "France Travail"),
             ("Ousmane", "Diallo", "CCAS"), ("Élodie", "Rousseau", "Cap emploi"), ("Léa 🌷", "Nguyễn", "PLIE")],
}
_WORDS = KIND_WORDS


def demo_people(branch: str) -> list[DemoPerson]:
    """Fictional people (accented names, one emoji) with per-branch addresses on a reserved domain."""
    people = []
    for i, (first, last, referrer) in enumerate(_NAMES.get(branch, _NAMES["bordeaux"])):
        slug = f"{first[:3]}.{last[:3]}".lower().replace("'", "").replace(" ", "")
        people.append(DemoPerson(first, last, f"{slug}.{branch}@exemple.invalid".encode("ascii", "ignore").decode(),
                                 f"+33 6 {10 + i:02d} {20 + i:02d} 30 4{i}", referrer))
    return people


class DemoClock:
    """Real time plus an offset the story moves forward ("a week later...")."""

    def __init__(self, start: datetime | None = None) -> None:
        self.offset = (start - datetime.now(UTC)) if start else timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def move_to(self, when: datetime) -> None:
        """Jump forward to `when` (never back: the hub's clock must not run backwards)."""
        self.offset += max(timedelta(), when - self())


def story_start() -> datetime:
    """The story starts at the next noon in Paris: bookings made then for the day after tomorrow at 09:30 are
    less than 48 h ahead whatever the season, so the demo always shows a reminder that could not be planned."""
    now = datetime.now(STORY_ZONE)
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon <= now:
        noon = (now + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    return noon.astimezone(UTC)


# --- French words -------------------------------------------------------------------------------------------

def de(name: str) -> str:
    """'de' with elision: "d'Aïcha", "d'Élodie", "de Jérôme"."""
    first = unicodedata.normalize("NFD", name[:1])[:1].lower()
    return f"d'{name}" if first in "aeiouy" else f"de {name}"


def short_name(person: dict[str, Any] | None) -> str:
    """First name and initial ("Aïcha B."): never the e-mail or the phone."""
    if not person:
        return "une personne"
    first, last = person.get("first_name") or "", person.get("last_name") or ""
    return f"{first} {last[:1]}.".strip() if last else (first or "une personne")


def duration(offset: Offset) -> str:
    """ "1 mois", "48 h", "2 h", "3 jours", "1 semaine", "30 min"."""
    if offset.months:
        return f"{offset.months} mois"
    seconds = int(offset.seconds)
    if seconds % 3600 == 0 and seconds <= 72 * 3600:
        return f"{seconds // 3600} h"
    for size, one, many in ((604800, "semaine", "semaines"), (86400, "jour", "jours")):
        if seconds % size == 0:
            return f"{seconds // size} {one if seconds == size else many}"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def when(moment: datetime, zone: ZoneInfo, *, hour: bool = True) -> str:
    """ "jeudi 4 décembre à 09:30" in the branch's time zone (Babel's French calendar)."""
    return format_datetime(moment, "EEEE d MMMM 'à' HH:mm" if hour else "EEEE d MMMM", tzinfo=zone, locale="fr_FR")


def listing(items: list[str]) -> str:
    """ "a, b et c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " et " + items[-1] if items else ""


def counted(counts: Counter[str]) -> str:
    """ "5 inscriptions, 1 annulation et 2 rappels", in the order of a candidate's journey."""
    return listing([f"{counts[key]} {one if counts[key] == 1 else many}"
                    for key, (one, many) in _WORDS.items() if counts[key]])


def _meeting(body: dict[str, Any] | None) -> str:
    programme = str((body or {}).get("programme") or "")
    return "l'atelier" if "atelier" in programme.lower() else "le rendez-vous"


# --- the story ------------------------------------------------------------------------------------------------

class UnknownPlugins(ValueError):
    """`--plugins` named a plugin that is not installed or has no sandbox; `installed` lists those that do."""

    def __init__(self, unknown: list[str], installed: list[str]) -> None:
        super().__init__(f"no installed plugin with a sandbox named {', '.join(unknown)}; "
                         f"installed: {', '.join(installed) or 'none'}")
        self.unknown, self.installed = unknown, installed


def choose_plugins(installed: Iterable[str], requested: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
    """The plugins the demo plays (`requested`, or by default the first-party ones installed) and the installed
    ones with a sandbox it leaves out, both sorted. Raises UnknownPlugins when `requested` names one not
    installed."""
    have = sorted(set(installed))
    if requested is None:
        chosen = [name for name in have if name in FIRST_PARTY]
    else:
        wanted = {name.strip() for name in requested if name.strip()}
        unknown = sorted(wanted - set(have))
        if unknown:
            raise UnknownPlugins(unknown, have)
        chosen = sorted(wanted)
    return chosen, [name for name in have if name not in chosen]


def run_demo(directory: Path, registry: PluginRegistry, echo: Callable[[str], None] = print,
             plugins: Iterable[str] | None = None) -> int:
    """Play the story in `directory` with the sandboxes of `plugins` (default: the first-party ones installed);
    0 when it ran, 1 when it could not (said through `echo`). Raises UnknownPlugins for a name not installed."""
    started = time.monotonic()
    installed = registry.sandboxes()
    chosen, left_out = choose_plugins(installed, plugins)
    sandboxes = {name: installed[name] for name in chosen}
    if not sandboxes:
        echo("Aucun module installé ne fournit de service simulé : installez le projet avec ses modules (make demo).")
        return 1
    refusal = _claim(directory)
    if refusal:
        echo(refusal)
        return 1
    config_dir = directory / "config"
    clock = DemoClock(story_start())
    began = clock()
    echo(f"Démonstration : {len(BRANCHES)} antennes et des copies simulées de leurs outils, sur cet ordinateur "
         "seulement :")
    for b in BRANCHES:
        echo(f"  {b.title()} : {listing(sorted(TOOLS.get(n, n) for n in branch_tools(b, sandboxes)))}")
    third_party = [name for name in chosen if name not in FIRST_PARTY]
    if third_party:
        echo(f"Module(s) tiers inclus à votre demande, dans les deux antennes : {listing(third_party)}.")
    if left_out:
        echo(f"Module(s) installé(s) laissé(s) hors de la démonstration : {listing(left_out)} (pour l'inclure : "
             f"hub demo --plugins {','.join(chosen + left_out[:1])}).")
    echo(f"Nous sommes le {when(clock(), STORY_ZONE)}.")
    with serve(sandboxes) as urls:
        receiver_port = free_port()
        contexts, branches, secrets = demo_branches(sandboxes, urls, receiver_port, clock)
        write_demo_config(config_dir, branches, secrets, {"state_dir": str((directory / "var").resolve())})
        try:
            config = load_config(config_dir, registry.settings_models())
        except ConfigError as exc:
            echo(f"La configuration de la démonstration est refusée :\n{exc}")
            return 1
        hub = Hub(config, registry, clock=clock)
        limits = WebLimits.of(config.hub.webhooks)  # the same bounds on stalled clients as `hub run`'s receiver
        with ServerThread(build_app(hub), port=receiver_port, limits=limits):
            actions = [(a.phase, b, name, a) for (b, name), ctx in contexts.items()
                       for a in sandboxes[name].demo_actions(ctx)]
            for phase in DemoPhase:
                if phase is DemoPhase.ATTEND:
                    _time_passes(hub, clock, timedelta(days=8), "Huit jours passent : les rappels partent", echo)
                todo = [(b, name, a) for p, b, name, a in actions if p is phase]
                if not todo:
                    continue
                echo(f"\n== {PHASE_TITLES[phase]} ==")
                phase_start, told = _last_seq(hub), set()
                for b, _name, action in todo:
                    mark = _last_seq(hub)
                    action.run()  # a webhook is stored at once: say what it planned on the action's line
                    said = _sessions(hub, mark, b)
                    told |= {seq for seq, _, _ in said}
                    echo(f"  [{b.title()}] {action.label}" + "".join(f" — {text}" for _, _, text in said))
                _cycles(hub)
                for line in _leftover_sessions(hub, phase_start, told):
                    echo(line)
            _time_passes(hub, clock, timedelta(days=32), "Un mois plus tard : les suivis sont dus", echo)
        _summary(hub, sandboxes, echo)
        first = next(iter(BRANCHES))
        print_mails(hub, first, BRANCHES[first], STORY_ZONE, echo)
        _key_figures(hub, directory, began, echo)
        hub.close()
    seconds = f"{time.monotonic() - started:.1f}".replace(".", ",")
    echo(f"\nDémonstration terminée en {seconds} s. Configuration et base de données : {directory}/")
    echo("Pour regarder de plus près :")
    for command in ("status", "events", "deliveries"):
        echo(f"  {_hub_command()} --config {config_dir} {command}")
    return 0


DemoBranches = tuple[dict[tuple[str, str], DemoContext], dict[str, dict[str, object]], dict[str, str]]


def demo_branches(sandboxes: dict[str, Sandbox], urls: dict[str, str], receiver_port: int,
                  clock: Callable[[], datetime]) -> DemoBranches:
    """The demo's two branch tables and fake secrets, pointing at the running fakes (`urls`) and at a receiver
    on `receiver_port`; also used by bench/idle_bench.py to run `hub run` against the same fakes."""
    contexts = {(b, name): DemoContext(branch=b, base_url=urls[name], people=demo_people(b), now=clock,
                                       webhook_url=f"http://127.0.0.1:{receiver_port}/webhooks/{b}/{name}")
                for b in BRANCHES for name in branch_tools(b, sandboxes)}
    branches: dict[str, dict[str, object]] = {}
    secrets: dict[str, str] = {}
    for b, title in BRANCHES.items():
        names = branch_tools(b, sandboxes)
        table: dict[str, object] = {"name": title, "plugins": names, "poll_interval": 1,
                                    "channels": channel_for(names)}
        for name in names:
            table[name] = sandboxes[name].demo_settings(contexts[(b, name)])
            secrets.update(sandboxes[name].demo_environ(contexts[(b, name)]))
        branches[b] = table
    return contexts, branches, secrets


def branch_tools(branch: str, sandboxes: dict[str, Sandbox]) -> list[str]:
    """The fakes among `sandboxes` a demo branch uses, sorted: its first-party ones (BRANCH_TOOLS) and every
    third-party one (chosen with `--plugins`)."""
    return sorted(name for name in sandboxes if name in BRANCH_TOOLS.get(branch, ()) or name not in FIRST_PARTY)


def write_demo_config(config_dir: Path, branches: dict[str, dict[str, object]], secrets: dict[str, str],
                      hub_table: dict[str, object]) -> None:
    """hub.toml, the branch files and the private secrets.env beside them."""
    write_config(config_dir, branches, hub_table)
    _write_secrets(config_dir / "secrets.env", secrets)


def _claim(directory: Path) -> str | None:
    """Make `directory` the demo's: new, empty, or made by an earlier demo (replaced). Else say why not."""
    if directory.is_dir() and _made_by_demo(directory):
        shutil.rmtree(directory)
    elif directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        return (f"Le dossier {directory} existe et n'est pas un dossier de démonstration, donc la démonstration "
                f"n'y touche pas : choisissez-en un autre avec hub demo --dir <autre dossier>.")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("Dossier créé par `hub demo` : la prochaine démonstration le remplace.\n",
                                    encoding="utf-8")
    return None


def _made_by_demo(directory: Path) -> bool:
    if (directory / MARKER).is_file():
        return True
    secrets = directory / "config" / "secrets.env"
    try:
        return secrets.is_file() and secrets.read_text(encoding="utf-8").startswith(_LEGACY_SECRETS_HEADER)
    except (OSError, UnicodeDecodeError):
        return False


def _write_secrets(path: Path, secrets: dict[str, str]) -> None:
    """The fakes' tokens, in a private file beside the config, so `hub --config DIR status` works after."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"{_LEGACY_SECRETS_HEADER} (never real ones)\n")
        handle.writelines(f"{name}={value}\n" for name, value in sorted(secrets.items()))


def _hub_command() -> str:
    """The `hub` beside this Python (.venv/bin/hub under `make demo`), so the commands shown work as typed."""
    beside = Path(sys.executable).parent / "hub"
    if not beside.exists():
        return "hub"
    try:
        return os.path.relpath(beside) if not os.path.relpath(beside).startswith("..") else str(beside)
    except ValueError:
        return str(beside)


def _cycles(hub: Hub, rounds: int = 3) -> None:
    """A few daemon cycles: a poll can reveal work for another plugin's next poll (a row to flush...)."""
    for _ in range(rounds):
        Daemon(hub).run(once=True)


def _last_seq(hub: Hub) -> int:
    newest = hub.store.list_events(limit=1)
    return newest[0].seq if newest else 0


def _new_events(hub: Hub, after: int) -> list[EventRow]:
    return sorted((r for r in hub.store.list_events(limit=10_000) if r.seq > after), key=lambda r: r.seq)


def _time_passes(hub: Hub, clock: DemoClock, delta: timedelta, title: str, echo: Callable[[str], None]) -> None:
    """Move the clock to each due reminder or follow-up in turn (as the daemon would live them), then say who
    gets which, and where it was written."""
    echo(f"\n== {title} ==")
    end, mark = clock() + delta, _last_seq(hub)
    for _ in range(100):  # bounded: an entry the daemon does not fire must not hold the story forever
        due = [d for r in hub.store.list_schedule(state="waiting") if (d := from_ts(r.due_at)) and d <= end]
        due += [d for r in hub.store.list_deliveries(states=("pending",), limit=10_000)  # mails waiting for
                if (d := from_ts(r.next_attempt_at)) and clock() < d <= end]              # the morning
        if not due:
            break
        clock.move_to(min(due) + timedelta(minutes=1))
        _cycles(hub, rounds=2)
    clock.move_to(end)
    _cycles(hub)
    fired = [r for r in _new_events(hub, mark) if r.source == "hub"]
    written = _written_to(hub, {r.id for r in fired})
    for row in fired:
        event = Event.model_validate_json(row.body)
        if event.due is None or event.session is None:
            continue
        zone = hub.config.zone(row.branch)
        who = short_name(_person(hub, row.candidate_id))
        meeting, step = _meeting(event.session.model_dump()), duration(parse_offset(event.due.offset))
        if event.kind is EventKind.SESSION_REMINDER_DUE:
            text = f"Rappel {step} avant {meeting} du {when(event.session.start, zone)} pour {who}"
        else:
            text = f"Suivi {step} après {meeting} du {when(event.session.start, zone, hour=False)} pour {who}"
        where = written.get(row.id)
        tail = f", noté dans {listing(where)}." if where else ("" if text.endswith(".") else ".")
        echo(f"  [{row.branch.title()}] {text}{tail}")


def _written_to(hub: Hub, event_ids: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in hub.store.list_deliveries(states=("done",), limit=100_000):
        if row.event_id in event_ids:
            out.setdefault(row.event_id, []).append(TOOLS.get(row.plugin, row.plugin))
    return {k: sorted(v) for k, v in out.items()}


def _person(hub: Hub, candidate_id: str | None) -> dict[str, Any] | None:
    return hub.store.get_entity("candidates", candidate_id) if candidate_id else None


def _sessions(hub: Hub, after: int, branch: str | None = None) -> list[tuple[int, str, str]]:
    """Bookings, cancellations and moves stored since `after`, as (seq, branch, sentence): which reminders were
    planned, and why not the others (the scheduler only plans a reminder whose time is still to come)."""
    out = []
    for row in _new_events(hub, after):
        if row.kind not in (EventKind.SESSION_BOOKED.value, EventKind.SESSION_CANCELLED.value):
            continue
        if branch is not None and row.branch != branch:
            continue
        event = Event.model_validate_json(row.body)
        if event.session is None:
            continue
        session, zone = event.session, hub.config.zone(row.branch)
        meeting, date = _meeting(session.model_dump()), when(session.start, zone)
        if row.kind == EventKind.SESSION_CANCELLED.value:
            out.append((row.seq, row.branch, f"{meeting} du {date} et ses rappels sont retirés"))
            continue
        planned = {r.offset_text for r in hub.store.list_schedule(session_id=row.session_id)
                   if r.kind == "reminder"}
        booked_at = from_ts(row.recorded_at) or session.start
        offsets = hub.config.branches[row.branch].schedule.reminder_offsets()
        kept = [duration(o) for o in offsets if o.text in planned]
        notes = [("rappel " if len(kept) == 1 else "rappels ") + listing(kept) + (" prévu" if len(kept) == 1
                                                                                  else " prévus")] if kept else []
        for offset in (o for o in offsets if o.text not in planned):
            step = duration(offset)
            late = offset.before(session.start) <= booked_at
            notes.append(f"pas de rappel {step}" + (f" (réservé moins de {step} avant)" if late else ""))
        moved = f"{meeting} passe au {date}" if session.replaces else f"{meeting} du {date}"
        out.append((row.seq, row.branch, f"{moved} : {', '.join(notes) or 'aucun rappel prévu'}"))
    return out


def _leftover_sessions(hub: Hub, after: int, told: set[int]) -> Iterable[str]:
    """What a phase's daemon cycles stored that no action line told (read by polling rather than a webhook)."""
    for seq, branch, text in _sessions(hub, after):
        if seq not in told:
            row = next(r for r in hub.store.list_events(branch=branch, limit=10_000) if r.seq == seq)
            who = short_name(_person(hub, row.candidate_id))
            what = "Annulation" if row.kind == EventKind.SESSION_CANCELLED.value else "Réservation"
            yield f"  [{branch.title()}] {what} {de(who)} : {text}."


# --- the summary ----------------------------------------------------------------------------------------------

def _summary(hub: Hub, sandboxes: dict[str, Any], echo: Callable[[str], None]) -> None:
    echo("\n== Ce que chaque outil contient maintenant ==")
    for branch in BRANCHES:
        events = {r.id: r for r in hub.store.list_events(branch=branch, limit=100_000)}
        deliveries = hub.store.list_deliveries(branch=branch, limit=100_000)
        waiting = Counter(d.state for d in deliveries if d.state not in ("done", "skipped"))
        people = hub.store.count("candidates", branch)
        state = "tout est à jour" if not waiting else listing(
            [f"{n} mise{'s' if n > 1 else ''} à jour {_STATE_WORDS.get(s, s)}" for s, n in sorted(waiting.items())])
        echo(f"[{branch.title()}] {BRANCHES[branch]} : {people} personnes suivies, {state}.")
        for plugin in sorted(hub.branches[branch].names, key=lambda p: TOOLS.get(p, p)):
            tool = TOOLS.get(plugin, plugin)
            read = _tally(r for r in events.values() if r.source == plugin)
            wrote = _tally(events[d.event_id] for d in deliveries
                           if d.plugin == plugin and d.state == "done" and d.event_id in events)
            parts = [f"a fourni {counted(read)}"] if read else []
            parts.append(f"a reçu {counted(wrote)}" if wrote else "ne reçoit rien : c'est une source")
            echo(f"  {tool} {' ; '.join(parts)}.")
        problems = hub.store.list_problems(branch)
        if problems:
            echo(f"  {len(problems)} ligne(s) à corriger par l'équipe : " +
                 "; ".join(f"{p.field} : {p.message}" for p in problems))
        names = hub.branches[branch].names
        if "gsheets" in names and "gsheets" in sandboxes:
            echo("  Le tableau de suivi dans Google Sheets :")
            echo("\n".join(f"    {line}" for line in sandboxes["gsheets"].describe(branch).splitlines()))
        if "outlook" in names and "outlook" in sandboxes:
            echo(f"  {sandboxes['outlook'].describe(branch).splitlines()[0]}")  # the mails are listed below


def _key_figures(hub: Hub, directory: Path, began: datetime, echo: Callable[[str], None]) -> None:
    """The story's key figures as a table, and the HTML report beside the configuration. The raw view: with
    five people a branch, the publishable one would show "< 5" everywhere."""
    from hub.report import compute
    from hub.report.html import french_date, render_html
    from hub.report.summary import key_figures_table

    zone, now = ZoneInfo(hub.config.hub.timezone), hub.clock()
    first, last = began.astimezone(zone).date(), now.astimezone(zone).date()
    report = compute(hub.store, hub.config, first, last + timedelta(days=1), now=now)
    echo(f"\n== Les chiffres clés, du {french_date(first)} au {french_date(last)} (vue interne) ==")
    for line in key_figures_table(report, {b: b.title() for b in BRANCHES}):
        echo(f"  {line}")
    path = directory / "rapport.html"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(render_html(report, made=last))
    echo(f"Le rapport complet, avec ses graphiques et ses définitions : {path}")


_STATE_WORDS = {"pending": "en attente", "retrying": "en cours de nouvel essai", "dead": "en échec"}


def _tally(rows: Iterable[EventRow]) -> Counter[str]:
    """Events in a coordinator's words; registrations count people (a second sign-up completes the first)."""
    counts: Counter[str] = Counter()
    people: set[str] = set()
    for row in rows:
        if row.kind == EventKind.CANDIDATE_REGISTERED.value and row.candidate_id:
            people.add(row.candidate_id)
        else:
            counts[_word(row)] += 1
    if people:
        counts["candidate_registered"] = len(people)
    return counts


def _word(row: EventRow) -> str:
    """The event's key in _WORDS: an outcome that is attendance counts as a presence or an absence."""
    if row.kind == EventKind.OUTCOME_RECORDED.value:
        outcome = Event.model_validate_json(row.body).outcome
        if outcome is not None and outcome.category in (OutcomeCategory.PRESENT, OutcomeCategory.ABSENT):
            return outcome.category.value
    return str(row.kind)
