"""Each tool receives only the person's fields its connector declares it copies there (register_data_uses), or
what the branch chose in [privacy.share]; free text never unless named (issue 14, minimisation outward)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.api import DataUse
from hub.app import Hub
from hub.context import HubContext
from hub.events import Candidate, Event, EventKind, Referrer
from hub.hookspecs import hookimpl
from hub.testing import RecordingSink, make_candidate, make_event, make_session

PERSON = {"ref": "r1", "first_name": "Aïcha", "last_name": "Benali", "email": "aicha@example.org",
          "phone": "+33612345678", "consent": True,
          "referrer": Referrer(structure="Mission locale", kind="mission_locale", contact_name="Mme Roux",
                               contact_email="roux@ml.example"),
          "extra": {"situation": "sortie d'hospitalisation", "taille": "M"}}


class DeclaringSink(RecordingSink):
    """A sink that says it writes the first name only, and reads the record through the context."""

    def __init__(self, sends: tuple[str, ...]) -> None:
        super().__init__()
        self.sends = sends
        self.looked_up: list[Candidate | None] = []

    @hookimpl
    def register_data_uses(self, register: Callable[[DataUse], None]) -> None:
        register(DataUse(where="le carnet", sends=self.sends))

    @hookimpl
    def session_booked(self, hub: HubContext, event: Event) -> None:
        self.looked_up.append(hub.candidate(str(event.candidate_id)))
        self._handle(hub, "session_booked", event)


@pytest.fixture
def carnet(register_plugin: Callable[[str, object], object]) -> DeclaringSink:
    sink = DeclaringSink(("first_name",))
    register_plugin("carnet", sink)
    return sink


@pytest.fixture
def undeclared(register_plugin: Callable[[str, object], object]) -> RecordingSink:
    sink = RecordingSink()
    register_plugin("legacy", sink)
    return sink


def flow(hub: Hub) -> None:
    [registered] = hub.ingest("lyon", "form", [make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=hub.clock(),
                                                          candidate=make_candidate(**PERSON))])
    hub.ingest("lyon", "form", [make_event(EventKind.SESSION_BOOKED, occurred_at=hub.clock(), source_id="b",
                                           candidate=Candidate(id=registered.candidate_id),
                                           session=make_session(start=hub.clock().replace(year=2031)))])
    hub.cycle()


def candidates(sink: RecordingSink) -> list[Candidate]:
    return [e.candidate for _, _, e in sink.calls if e.candidate is not None]


def test_a_plugin_is_handed_only_what_it_declares(make_hub: Callable[..., Hub], carnet: DeclaringSink) -> None:
    hub = make_hub({"lyon": {"name": "Lyon", "plugins": ["carnet"]}})
    flow(hub)
    got = candidates(carnet) + [c for c in carnet.looked_up if c is not None]
    assert len(got) >= 3
    for candidate in got:
        assert candidate.first_name == "Aïcha" and candidate.id
        assert (candidate.last_name, candidate.email, candidate.phone, candidate.referrer, candidate.consent) == (
            None, None, None, None, None)
        assert candidate.extra == {}


def test_a_plugin_declaring_nothing_gets_everything_but_free_text(make_hub: Callable[..., Hub],
                                                                  undeclared: RecordingSink) -> None:
    hub = make_hub({"lyon": {"name": "Lyon", "plugins": ["legacy"]}})
    flow(hub)
    [candidate, *_] = candidates(undeclared)
    assert candidate.email == PERSON["email"] and candidate.referrer == PERSON["referrer"]
    assert candidate.extra == {}


def test_the_branch_widens_or_narrows_a_plugins_list_and_may_name_a_free_text_answer(
        make_hub: Callable[..., Hub], carnet: DeclaringSink) -> None:
    hub = make_hub({"lyon": {"name": "Lyon", "plugins": ["carnet"],
                             "privacy": {"share": {"carnet": ["email", "referrer.kind", "extra.taille"]}}}})
    flow(hub)
    [candidate, *_] = candidates(carnet)
    assert (candidate.first_name, candidate.email) == (None, PERSON["email"])
    assert candidate.referrer == Referrer(kind="mission_locale") and candidate.extra == {"taille": "M"}


def test_an_erasure_hands_every_tool_what_it_needs_to_find_the_person(make_hub: Callable[..., Hub],
                                                                      carnet: DeclaringSink) -> None:
    hub = make_hub({"lyon": {"name": "Lyon", "plugins": ["carnet"]}})
    flow(hub)
    [cid] = {c.id for c in candidates(carnet)}
    hub.eraser.forget("lyon", str(cid))
    hub.cycle()
    [forgotten] = [e for kind, _, e in carnet.calls if kind == EventKind.CANDIDATE_FORGOTTEN.value]
    assert forgotten.candidate is not None and forgotten.candidate.email == PERSON["email"]


def test_an_unknown_field_in_the_branch_file_is_refused_with_the_names_to_use(tmp_path: Path) -> None:
    from hub.config import BranchConfig

    with pytest.raises(ValueError, match=r"share.carnet: unknown field 'telephone'; use first_name"):
        BranchConfig.model_validate({"id": "lyon", "name": "Lyon", "privacy": {"share": {"carnet": ["telephone"]}}})


def test_every_first_party_declaration_names_known_fields() -> None:
    from hub.plugins import PluginRegistry
    from hub.privacy.share import check_fields

    uses: dict[str, Any] = PluginRegistry.discover().data_uses()
    assert {"gsheets", "gmail", "outlook", "calendly", "example"} <= set(uses)
    for plugin, declared in uses.items():
        for use in declared:
            assert check_fields([*use.sends, *use.reads]) == [], (plugin, use.where)
            assert use.where and use.why and use.kept, plugin
