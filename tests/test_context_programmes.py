"""A plugin reads the branch's programme labels and modules through its context (issue 16), not by reaching
into the branch configuration's models."""

from __future__ import annotations

from collections.abc import Callable

from hub.app import Hub
from hub.testing import RecordingSink


def test_a_plugin_reads_programme_labels_and_modules_from_its_context(
        make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object]) -> None:
    register_plugin("sink", RecordingSink())
    hub = make_hub({"lyon": {"plugins": ["sink"], "programmes": {
        "atelier": {"label": "Atelier Coup de Pouce", "modules": ["Image de soi", "Entretien"]},
        "coaching": {"label": "Coaching individuel"}}}})
    ctx = hub.context("lyon", "sink")
    assert ctx.programme_label("atelier") == "Atelier Coup de Pouce"
    assert ctx.programme_modules("atelier") == ("Image de soi", "Entretien")
    assert ctx.programme_label("coaching") == "Coaching individuel" and ctx.programme_modules("coaching") == ()
    assert ctx.programme_label("inconnu") == "inconnu" and ctx.programme_modules("inconnu") == ()  # shown as is
    assert ctx.programme_label(None) == "" and ctx.programme_modules(None) == ()
    assert ctx.for_delivery("k").programme_label("atelier") == "Atelier Coup de Pouce"
