"""`hub new-plugin NAME`: write a ready-to-install third-party connector package from templates.

The templates (`hub/scaffold/templates/*.tmpl`, shipped as package data) are `string.Template` texts: a
package with its pyproject entry point, settings, an httpx client mapped to the failure taxonomy, a fake of the
made-up service, and tests running the conformance suite. tests/test_scaffold.py runs the generated tests for
each kind, so what this writes always passes them.
"""

from __future__ import annotations

import importlib.metadata
import keyword
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template

import click

__all__ = ["KINDS", "Kind", "generate", "new_plugin_command", "validate_name"]


@dataclass(frozen=True)
class Kind:
    """What one kind of connector puts in the templates' placeholders."""

    text: str  # what such a connector does, one sentence (README, module docstrings)
    hooks: str  # the hooks its plugin.py implements beyond the common ones
    imports: str  # plugin.py's imports from the hub for its hooks
    what: str  # the place in the tool its DataUse names
    sends: str
    reads: str
    why: str
    sandbox_text: str
    sandbox_tail: str  # the sandbox template after the common head
    state: str  # the sandbox's storage, set in __init__
    path: str  # the fake's records path (sink, channel)
    required: str  # the condition the fake answers 400 to
    testing_imports: str
    connector_setup: str
    snapshot: str


_HUB_IMPORTS = ("from hub import DeliveryRejected, hookimpl\nfrom hub.context import HubContext\n"
                "from hub.events import Event")
_RECORDS = "self.stored: dict[str, list[dict[str, Any]]] = {}\n        self.keys: dict[str, set[str]] = {}"

KINDS: dict[str, Kind] = {
    "source": Kind(
        text="it reads the people who sign up in the service and hands them to the hub as registrations.",
        hooks="`register_sources` (a `Poller` with a cursor)",
        imports="from hub import hookimpl\nfrom hub.context import HubContext\n"
                "from hub.events import Candidate, Event, EventKind\nfrom hub.sources import Poller, PollResult",
        what="les inscriptions", sends="()", reads='("first_name", "last_name", "email", "phone")',
        why="les inscriptions faites dans l'outil sont lues par le hub",
        sandbox_text="people who sign up (`add_person`), read with a cursor (GET /people?after=).",
        sandbox_tail="sandbox_source", state="self.people: dict[str, list[dict[str, Any]]] = {}",
        path="", required="False",
        testing_imports="ConnectorConformance, events",
        connector_setup='self.sandbox.add_person(TOKEN, first_name="Zoé", email="zoe@example.org")',
        snapshot="{token: len(people) for token, people in self.sandbox.people.items()}"),
    "sink": Kind(
        text="it writes each booking and cancellation of a session to the service.",
        hooks="`session_booked` and `session_cancelled`",
        imports=_HUB_IMPORTS,
        what="les rendez-vous", sends='("first_name",)', reads="()",
        why="chaque rendez-vous réservé ou annulé est noté dans l'outil",
        sandbox_text="bookings posted once per Idempotency-Key (POST /bookings), read back with GET /bookings.",
        sandbox_tail="sandbox_records", state=_RECORDS, path="/bookings",
        required='"session" not in body or body.get("status") not in ("booked", "cancelled")',
        testing_imports="ConnectorConformance, FakeClock, deliver, deliveries, make_candidate, make_event, "
                        "make_session, redeliver",
        connector_setup="", snapshot="{token: len(records) for token, records in self.sandbox.stored.items()}"),
    "channel": Kind(
        text="it sends the messages the hub renders (confirmations, reminders) to people, once each.",
        hooks="`message_due` (idempotent with `hub.delivery_key`)",
        imports=_HUB_IMPORTS,
        what="les messages envoyés", sends='("email", "first_name", "last_name")', reads="()",
        why="envoyer à la personne les messages de l'antenne",
        sandbox_text="messages sent once per Idempotency-Key (POST /messages), read back with GET /messages.",
        sandbox_tail="sandbox_records", state=_RECORDS, path="/messages",
        required='not body.get("to") or not body.get("text")',
        testing_imports="ConnectorConformance, FakeClock, crash_after_effect, deliver, deliveries, make_event, "
                        "redeliver",
        connector_setup="", snapshot="{token: len(records) for token, records in self.sandbox.stored.items()}"),
}
"""The kinds `--kind` offers, each with what it puts in the templates."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def validate_name(name: str) -> str | None:
    """Why `name` cannot be a new plugin's name (None when it can): a lowercase Python identifier, not a
    keyword, not the name of an installed plugin (its entry point in the `cravate_hub` group)."""
    from hub.plugins import ENTRY_POINT_GROUP

    if not _NAME.match(name) or not name.isidentifier():
        return (f"{name!r} is not a valid plugin name: use lowercase letters, digits and underscores, starting "
                "with a letter (e.g. my_tool)")
    if keyword.iskeyword(name):
        return f"{name!r} is a Python keyword: choose another name"
    installed = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    if name in installed:
        return f"a plugin named {name!r} is already installed: choose another name (installed: " \
               f"{', '.join(sorted(installed))})"
    return None


def _template(name: str) -> Template:
    return Template(files("hub.scaffold").joinpath("templates", f"{name}.tmpl").read_text(encoding="utf-8"))


def generate(name: str, kind: str, target: Path) -> list[Path]:
    """Write the package of plugin `name` of `kind` under `target` (created; it must not hold files) and return
    the files written, relative to `target`. Raises ValueError for a bad name or kind, FileExistsError for a
    non-empty target."""
    problem = validate_name(name)
    if problem:
        raise ValueError(problem)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} already exists and is not an empty directory: choose another --dir")
    spec = KINDS[kind]
    package = f"hub_{name}"
    values = {
        "name": name, "NAME": name.upper(), "Name": "".join(part.capitalize() for part in name.split("_")),
        "package": package, "dist": f"hub-{name.replace('_', '-')}", "kind": kind,
        "service": " ".join(part.capitalize() for part in name.split("_")), "kind_text": spec.text,
        "hooks": spec.hooks, "imports": spec.imports, "what": spec.what, "sends": spec.sends, "reads": spec.reads,
        "why": spec.why, "sandbox_text": spec.sandbox_text, "state": spec.state, "path": spec.path,
        "required": spec.required, "testing_imports": spec.testing_imports, "connector_setup": spec.connector_setup,
        "snapshot": spec.snapshot, "kind_text_cap": spec.text[:1].upper() + spec.text[1:],
    }
    values["testing_imports"] = "".join(f"\n    {each}," for each in spec.testing_imports.split(", "))

    def render(*templates: str) -> str:
        text = "".join(_template(t).substitute(values) for t in templates)
        return re.sub(r"\n +\n", "\n\n", text)  # a placeholder left empty leaves no trailing spaces

    outputs = {
        Path("pyproject.toml"): render("pyproject.toml"),
        Path("README.md"): render("README.md"),
        Path(package, "__init__.py"): render("__init__.py"),
        Path(package, "client.py"): render("client.py"),
        Path(package, "plugin.py"): render("plugin_head.py", f"plugin_{kind}.py"),
        Path(package, "sandbox.py"): render("sandbox_head.py", spec.sandbox_tail + ".py"),
        Path("tests", f"test_{name}.py"): render("test_head.py", f"test_{kind}.py"),
    }
    for relative, text in outputs.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(outputs)


@click.command("new-plugin", epilog="\b\nExamples:\n"
               "  hub new-plugin my_crm --kind sink          # writes my_crm/ in the current directory\n"
               "  hub new-plugin sms_gateway --kind channel --dir ../hub-sms-gateway\n"
               "  hub new-plugin signup_form --kind source && cd signup_form && pip install -e '.[test]' && pytest")
@click.argument("name")
@click.option("--kind", type=click.Choice(list(KINDS)), default="sink", show_default=True,
              help="source: reads people from the service (a poller); sink: writes bookings and cancellations to "
                   "it; channel: sends the hub's messages through it.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the package [default: ./NAME]; must not exist or be empty.")
def new_plugin_command(name: str, kind: str, directory: Path | None) -> None:
    """Write a new third-party connector package NAME: pyproject with its entry point, settings, an HTTP
    client mapped to the failure taxonomy, a fake of the service, and tests running the conformance suite
    (they pass as generated)."""
    target = directory if directory is not None else Path(name)
    try:
        written = generate(name, kind, target)
    except (ValueError, FileExistsError) as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"Wrote the {kind} plugin {name!r} in {target}/:")
    for path in written:
        click.echo(f"  {path}")
    click.echo(f"Next: cd {target} && pip install -e '.[test]' && pytest   (then replace the made-up service "
               "with yours: README.md)")
