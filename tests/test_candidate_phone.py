"""A connector receives every phone in E.164, normalised once by the hub (issue 16): it writes no normaliser."""

from __future__ import annotations

from collections.abc import Callable

from hub.api import clean_phone, display_phone
from hub.app import Hub
from hub.events import Candidate
from hub.testing import RecordingSink, make_candidate, make_event


def test_a_sink_receives_the_phone_in_e164_and_the_model_says_so(
        make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object]) -> None:
    sink = RecordingSink()
    register_plugin("sink", sink)
    hub = make_hub({"lyon": {"plugins": ["sink"]}})
    hub.ingest("lyon", "tests", [make_event("candidate_registered", source_id="r1", candidate=make_candidate(
        email="ines@example.org", phone="06 12 34 56 78"))])
    hub.cycle()
    (event,) = [e for kind, _, e in sink.calls if kind == "candidate_registered"]
    assert event.candidate is not None and event.candidate.phone == "+33612345678"
    assert clean_phone("06.12.34.56.78", "FR") == event.candidate.phone  # a STOP reply's sender, compared
    assert display_phone(event.candidate.phone, "FR") == "06 12 34 56 78"
    assert "E.164" in (Candidate.model_fields["phone"].description or "")
