"""One list of event kinds (EventKind): the hooks, the payload each kind requires and the testing kit's sink
all follow from it, and this test fails when a kind lacks one of them."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from hub import hookspecs
from hub.events import Event, EventKind
from hub.plugins import new_manager
from hub.testing import (
    CHANNEL_HOOKS,
    RecordingChannel,
    RecordingSink,
    make_candidate,
    make_event,
    make_message,
    make_session,
)

PAYLOADS = {"candidate", "session", "outcome", "due", "message", "bounce", "preference"}


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_has_a_documented_hook_taking_hub_and_event(kind: EventKind) -> None:
    spec = getattr(hookspecs, kind.value, None)
    assert spec is not None, f"{kind.value}: add its @hookspec to hub/hookspecs.py"
    assert list(inspect.signature(spec).parameters) == ["hub", "event"]
    assert (inspect.getdoc(spec) or "").strip(), f"{kind.value}: document its hookspec"
    assert kind.value in new_manager().hook.__dict__, "registered as a hook"


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_names_the_payload_it_requires(kind: EventKind) -> None:
    assert kind.requires and set(kind.requires) <= PAYLOADS
    for missing in kind.requires:
        with pytest.raises(ValidationError, match=missing):
            Event(kind=kind, occurred_at=datetime(2026, 12, 2, tzinfo=UTC), source_id="x",
                  **{p: _part(p) for p in kind.requires if p != missing})


def test_no_hook_without_a_kind() -> None:
    assert set(hookspecs.EVENT_HOOKS) == {k.value for k in EventKind}
    documented = {name for name, fn in vars(hookspecs).items()
                  if getattr(fn, "cravate_hub_spec", None) is not None}
    documented -= set(hookspecs.CONTRIBUTION_HOOKS) | set(hookspecs.LANE_HOOKS)
    assert documented == set(hookspecs.EVENT_HOOKS), "a hookspec that is neither a contribution, a lane hook nor " \
                                                     "an event kind"


def test_the_recording_sink_implements_every_kind_and_the_channel_the_rest() -> None:
    pm = new_manager()
    sink, channel = RecordingSink(), RecordingChannel()
    pm.register(sink, name="rec")
    pm.register(channel, name="chan")
    implemented = {h.name for h in pm.get_hookcallers(sink) or []}
    assert implemented == set(hookspecs.EVENT_HOOKS) - set(CHANNEL_HOOKS)
    assert {h.name for h in pm.get_hookcallers(channel) or []} == set(hookspecs.EVENT_HOOKS)


def _part(name: str) -> object:
    return {"candidate": make_candidate(), "session": make_session(),
            "outcome": make_event(EventKind.OUTCOME_RECORDED).outcome,
            "due": make_event(EventKind.FOLLOWUP_DUE).due, "message": make_message(),
            "bounce": make_event(EventKind.MESSAGE_BOUNCED).bounce,
            "preference": make_event(EventKind.CANDIDATE_OPTED_IN).preference}[name]


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_has_a_french_word_for_staff(kind: EventKind) -> None:
    """`hub export`, the demo and `hub status` name a kind in French (hub/words.py), never by its identifier."""
    from hub.words import KIND_WORDS

    assert kind.value in KIND_WORDS, f"{kind.value}: add its French words to hub/words.py KIND_WORDS"
