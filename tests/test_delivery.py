"""Dedupe, isolation between plugins and branches, retries, dead letters, auth pauses, ordering."""

from __future__ import annotations

from datetime import timedelta

from hub.app import Hub
from hub.errors import DeliveryRejected, PluginAuthFailed, PluginNotReady
from hub.events import EventKind
from hub.testing import FakeClock, RecordingSink, make_candidate, make_event, make_session


def states(hub: Hub, branch: str, plugin: str) -> dict[str, int]:
    return hub.store.delivery_counts().get((branch, plugin), {})


def test_the_same_fact_read_twice_is_stored_and_delivered_once(two_branches: Hub,
                                                              sinks: dict[str, RecordingSink]) -> None:
    event = make_event(EventKind.CANDIDATE_REGISTERED, source_id="row-7")
    assert len(two_branches.ingest("bordeaux", "alpha", [event])) == 1
    # re-polled: a new Event object (new envelope id) for the same source fact
    again = make_event(EventKind.CANDIDATE_REGISTERED, candidate=event.candidate, source_id="row-7")
    assert two_branches.ingest("bordeaux", "alpha", [again]) == []
    two_branches.cycle()
    assert sinks["alpha"].kinds() == ["candidate_registered"]
    assert sinks["beta"].kinds() == ["candidate_registered"]
    assert len(two_branches.store.list_events()) == 1


def test_same_source_id_in_two_branches_are_two_facts(two_branches: Hub) -> None:
    event = make_event(EventKind.CANDIDATE_REGISTERED, source_id="row-7")
    two_branches.ingest("bordeaux", "alpha", [event])
    assert len(two_branches.ingest("lyon", "alpha", [event])) == 1


def test_a_failing_plugin_stops_neither_other_plugins_nor_other_branches(
        two_branches: Hub, sinks: dict[str, RecordingSink]) -> None:
    sinks["beta"].fail["candidate_registered"] = RuntimeError("boom")
    two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED)])
    two_branches.ingest("lyon", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED)])
    two_branches.cycle()
    assert states(two_branches, "bordeaux", "alpha") == {"done": 1}
    assert states(two_branches, "lyon", "alpha") == {"done": 1}
    assert states(two_branches, "bordeaux", "beta") == {"retrying": 1}
    [row] = two_branches.store.list_deliveries(states=("retrying",))
    assert "RuntimeError: boom" in row.last_error


def test_not_ready_retries_after_backoff_then_succeeds(two_branches: Hub, sinks: dict[str, RecordingSink],
                                                       clock: FakeClock) -> None:
    sinks["beta"].fail["candidate_registered"] = PluginNotReady("503", retry_after=600)
    two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED)])
    two_branches.cycle()
    [row] = two_branches.store.list_deliveries(plugin="beta")
    assert row.state == "retrying"
    assert row.next_attempt_at >= clock().timestamp() + 600  # Retry-After honoured
    del sinks["beta"].fail["candidate_registered"]
    clock.advance(599)
    two_branches.cycle()
    assert states(two_branches, "bordeaux", "beta") == {"retrying": 1}  # not before its time
    clock.advance(3600)
    two_branches.cycle()
    assert states(two_branches, "bordeaux", "beta") == {"done": 1}
    assert len(sinks["beta"].calls) == 2


def test_unexpected_errors_end_in_the_dead_letter_after_the_limit(make_hub, register_plugin,
                                                                   clock: FakeClock) -> None:
    sink = register_plugin("flaky", RecordingSink())
    sink.fail["candidate_registered"] = ValueError("bad")
    hub = make_hub({"b": {"plugins": ["flaky"]}}, hub={"delivery": {"max_attempts": 3}})
    hub.ingest("b", "flaky", [make_event(EventKind.CANDIDATE_REGISTERED)])
    for _ in range(10):
        hub.cycle()
        clock.advance(hours=2)
    [row] = hub.store.list_deliveries()
    assert (row.state, row.attempts) == ("dead", 3)
    assert len(sink.calls) == 3
    # an operator fixes the cause and retries: it goes through
    sink.fail.clear()
    assert hub.store.retry_deliveries(clock()) == 1
    hub.cycle()
    assert hub.store.list_deliveries()[0].state == "done"


def test_not_ready_for_too_long_is_dead_lettered(make_hub, register_plugin, clock: FakeClock) -> None:
    sink = register_plugin("slow", RecordingSink())
    sink.fail["candidate_registered"] = PluginNotReady("down")
    hub = make_hub({"b": {"plugins": ["slow"]}}, hub={"delivery": {"give_up_after": "2h"}})
    hub.ingest("b", "slow", [make_event(EventKind.CANDIDATE_REGISTERED)])
    for _ in range(20):
        hub.cycle()
        clock.advance(minutes=30)
    [row] = hub.store.list_deliveries()
    assert row.state == "dead" and "gave up" in row.last_error


def test_rejected_delivery_is_dead_at_once(two_branches: Hub, sinks: dict[str, RecordingSink]) -> None:
    sinks["beta"].fail["candidate_registered"] = DeliveryRejected("no e-mail address")
    two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED)])
    two_branches.cycle()
    assert states(two_branches, "bordeaux", "beta") == {"dead": 1}
    assert len(sinks["beta"].calls) == 1


def test_auth_failure_pauses_only_that_plugin_in_that_branch(make_hub, register_plugin, clock: FakeClock) -> None:
    _alpha, beta = register_plugin("alpha", RecordingSink()), register_plugin("beta", RecordingSink())
    hub = make_hub({"bordeaux": {"plugins": ["alpha", "beta"]}, "lyon": {"plugins": ["beta"]}})
    beta.fail["candidate_registered"] = lambda: PluginAuthFailed("token revoked")
    hub.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED) for _ in range(3)])
    hub.cycle()
    assert ("bordeaux", "beta") in hub.store.pauses()
    pause = hub.store.pause_details()[("bordeaux", "beta")]
    assert pause.reason == "token revoked"  # no guessed `hub auth beta`: that command does not exist
    assert pause.fix == "hub doctor --branch bordeaux, then hub retry --branch bordeaux --plugin beta"
    assert len(beta.calls) == 1  # the two others wait, not hammering a revoked token
    assert states(hub, "bordeaux", "alpha") == {"done": 3}
    # the same plugin in another branch keeps working
    beta.fail.clear()
    hub.ingest("lyon", "beta", [make_event(EventKind.CANDIDATE_REGISTERED)])
    clock.advance(3600)
    hub.cycle()
    assert states(hub, "lyon", "beta") == {"done": 1}
    assert states(hub, "bordeaux", "beta") == {"retrying": 1, "pending": 2}
    # after `hub auth`, `hub retry` resumes it and everything is delivered, nothing twice
    hub.store.resume("bordeaux", "beta")
    hub.cycle()
    assert states(hub, "bordeaux", "beta") == {"done": 3}
    bordeaux_keys = [key for _, key, ev in beta.calls if ev.branch == "bordeaux"]
    assert len(set(bordeaux_keys)) == 3


def test_each_delivery_has_a_stable_key(two_branches: Hub, sinks: dict[str, RecordingSink],
                                        clock: FakeClock) -> None:
    sinks["alpha"].fail["candidate_registered"] = PluginNotReady("later")
    two_branches.ingest("lyon", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED)])
    two_branches.cycle()
    sinks["alpha"].fail.clear()
    clock.advance(hours=2)
    two_branches.cycle()
    keys = [key for _, key, _ in sinks["alpha"].calls]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert keys[0].endswith(":alpha")


def test_a_cancellation_never_overtakes_its_booking(two_branches: Hub, sinks: dict[str, RecordingSink],
                                                    clock: FakeClock) -> None:
    candidate, session = make_candidate(), make_session(start=clock() + timedelta(days=4))
    sinks["beta"].fail["session_booked"] = PluginNotReady("later")
    two_branches.ingest("bordeaux", "alpha", [
        make_event(EventKind.SESSION_BOOKED, candidate=candidate, session=session),
        make_event(EventKind.SESSION_CANCELLED, candidate=candidate, session=session),
    ])
    two_branches.cycle()
    assert "session_cancelled" not in sinks["beta"].kinds()
    sinks["beta"].fail.clear()
    clock.advance(hours=2)
    two_branches.cycle()
    assert sinks["beta"].kinds()[-2:] == ["session_booked", "session_cancelled"]


def test_the_database_and_its_wal_are_private(two_branches: Hub) -> None:
    import stat

    two_branches.ingest("bordeaux", "alpha", [make_event(EventKind.CANDIDATE_REGISTERED)])
    db = two_branches.config.db_path
    for path in (db, db.with_name(db.name + "-wal")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
