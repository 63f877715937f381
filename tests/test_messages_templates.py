"""Templates: every one renders for every branch configuration in the repository, in French; a branch's
override wins; a broken override is a configuration error naming its file; preview and list work."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.app import Hub
from hub.cli import cli
from hub.config import load_config
from hub.config.files import write_config
from hub.errors import ConfigError
from hub.events import EventKind
from hub.messages.purposes import PURPOSES
from hub.messages.render import Renderer, sample_facts
from hub.plugins import PluginRegistry
from hub.testing import RecordingChannel, make_candidate, make_event

EXAMPLES = Path(__file__).resolve().parents[1] / "config" / "examples"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ENGLISH = ("Dear", "Hello", "your appointment", "Regards", "Monday", "Tuesday", "December")


def _example_config(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    shutil.copytree(EXAMPLES, root)
    return root


@pytest.mark.parametrize("purpose", [p.key for p in PURPOSES])
def test_every_template_renders_in_french_for_every_example_branch(tmp_path: Path, purpose: str) -> None:
    config = load_config(_example_config(tmp_path), PluginRegistry.discover().settings_models(), strict=False,
                         environ={"CALENDLY_TOKEN_BORDEAUX": "x", "CALENDLY_TOKEN_LYON": "x"})
    assert config.branches, "the example configuration has branches"
    for branch_id, branch in config.branches.items():
        rendered = Renderer(config.root, branch_id).render(purpose, sample_facts(branch, config.zone(branch_id),
                                                                                 NOW, purpose))
        assert rendered.subject and rendered.text.startswith("Bonjour"), (branch_id, purpose)
        assert not any(word in rendered.text or word in rendered.subject for word in ENGLISH), rendered.text
        assert "None" not in rendered.text and "{{" not in rendered.text
        assert rendered.html.startswith("<!DOCTYPE html>") and 'lang="fr"' in rendered.html


def test_a_branch_override_wins(tmp_path: Path, make_hub: Callable[..., Hub],
                                register_plugin: Callable[[str, object], object]) -> None:
    channel = RecordingChannel()
    register_plugin("mail", channel)
    hub = make_hub({"lyon": {"plugins": ["mail"]}})
    folder = hub.config.root / "branches" / "lyon" / "templates"
    folder.mkdir(parents=True)
    (folder / "registration_received.txt.j2").write_text(
        "Objet : Bienvenue {{ prenom }} !\nBonjour {{ prenom }},\n\nÀ très vite chez {{ antenne }}.\n",
        encoding="utf-8")
    hub.planner._renderers.clear()  # the override was written after the hub started
    hub.ingest("lyon", "feed", [make_event(EventKind.CANDIDATE_REGISTERED, candidate=make_candidate(phone=None))])
    hub.cycle()
    [message] = channel.sent()
    assert message.subject == "Bienvenue Aïcha !" and "À très vite chez Lyon." in message.text


@pytest.mark.parametrize(("body", "expected"), [
    ("Objet : Rappel\nBonjour {{ prenon }}\n", "'prenon' is undefined"),
    ("Objet : Rappel\nBonjour {% if prenom %}\n", "line 2"),
    ("Bonjour {{ prenom }}\n", "Objet :"),
])
def test_a_broken_override_is_a_configuration_error_naming_its_file(tmp_path: Path, body: str,
                                                                     expected: str) -> None:
    root = write_config(tmp_path / "config", {"lyon": {"plugins": []}})
    folder = root / "branches" / "lyon" / "templates"
    folder.mkdir(parents=True)
    (folder / "reminder.txt.j2").write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(root, {})
    [problem] = caught.value.problems
    assert problem.file.endswith("branches/lyon/templates/reminder.txt.j2") and expected in problem.message
    assert problem.fix == "fix the template, then run: hub config check"


def test_an_unknown_purpose_is_reported(tmp_path: Path) -> None:
    root = write_config(tmp_path / "config", {"lyon": {"plugins": [], "messages": {"off": ["rappel"]}}})
    with pytest.raises(ConfigError) as caught:
        load_config(root, {})
    assert [p.key for p in caught.value.problems] == ["messages.off[0]"]


def test_preview_and_list(tmp_path: Path) -> None:
    root = write_config(tmp_path / "config", {"lyon": {"name": "La Cravate Solidaire Lyon", "plugins": [],
                                                       "messages": {"phone": "04 78 00 00 00"}}})
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(root), "messages", "preview", "--branch", "lyon", "--kind",
                                 "booking_confirmed"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Objet : Votre rendez-vous du ") and "04 78 00 00 00" in result.output
    html = runner.invoke(cli, ["--config", str(root), "messages", "preview", "--branch", "lyon", "--kind",
                               "reminder", "--html"])
    assert html.exit_code == 0 and "<p>Bonjour Aïcha,</p>" in html.output
    listing = runner.invoke(cli, ["--config", str(root), "messages", "list"])
    assert listing.exit_code == 0 and "aucun canal e-mail" in listing.output
    assert "registration_received" in listing.output
