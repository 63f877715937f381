"""Logs keep what debugging needs and lose personal data; lines for people on a terminal, JSON for machines."""

from __future__ import annotations

import io
import json
import logging

import pytest

from hub.logs import level_from_flags, redact, setup_logging

KEPT = ["127.0.0.1:8787", "2026-11-22 23:01:22", "2026-11-22T23:01:22.123+00:00", "took 1.234 s",
        "evt_0123456789abcdef", "HTTP 503", "192.168.10.200", "pid 123456789", "version 2.31.0"]
REMOVED = ["06 12 34 56 78", "06.12.34.56.78", "0612345678", "+33 6 12 34 56 78", "+33612345678",
           "0033 6 12 34 56 78", "+33 (0)6 12 34 56 78", "+44 20 7946 0958", "+1 415 555 2671",
           "aicha.b+x@sub.Example.ORG", "Bearer abc.def", "access_token=xyz123", '"token": "sekret"',
           "https://x.test/y?key=AIzaSecret"]


@pytest.mark.parametrize("text", KEPT)
def test_facts_needed_to_debug_survive(text: str) -> None:
    assert redact(f"at {text} ok") == f"at {text} ok"


@pytest.mark.parametrize("text", REMOVED)
def test_contact_details_and_tokens_are_removed(text: str) -> None:
    secret = text.split()[-1].split("=")[-1].strip('"')
    out = redact(f"for {text} now")
    assert secret not in out and ("<phone>" in out or "<email>" in out or "<secret>" in out)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _log(stream: io.StringIO, **setup: object) -> str:
    setup_logging("INFO", stream=stream, **setup)  # type: ignore[arg-type]
    try:
        raise ValueError("bad value for jo@example.org")
    except ValueError:
        logging.getLogger("hub.test").error("delivery dead", exc_info=True,
                                            extra={"branch": "lyon", "error": "to 06 12 34 56 78"})
    return stream.getvalue()


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> object:
    for name in ("JOURNAL_STREAM", "INVOCATION_ID", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_terminal_gets_lines_for_people_in_colour() -> None:
    out = _log(Tty())
    first = out.splitlines()[0]
    assert "delivery dead" in first and "branch=lyon" in first and "\x1b[" in first
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)
    assert "Traceback" in out and "jo@example.org" not in out and "<email>" in out and "<phone>" in out


def test_no_color_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in _log(Tty())


def test_a_pipe_or_systemd_gets_json(monkeypatch: pytest.MonkeyPatch) -> None:
    line = json.loads(_log(io.StringIO()))
    assert line["msg"] == "delivery dead" and line["branch"] == "lyon" and line["error"] != "to 06 12 34 56 78"
    assert "jo@example.org" not in line["error"] if "error" in line else True
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    assert json.loads(_log(Tty()))["level"] == "error"  # a terminal under systemd is still the journal


def test_asked_format_wins() -> None:
    assert json.loads(_log(Tty(), fmt="json"))["logger"] == "hub.test"
    assert "branch=lyon" in _log(io.StringIO(), fmt="human")


def test_verbosity_flags_step_and_clamp() -> None:
    assert level_from_flags("WARNING", 1, 0) == "INFO"
    assert level_from_flags("WARNING", 5, 0) == "DEBUG"
    assert level_from_flags("INFO", 0, 1) == "WARNING"
    assert level_from_flags("INFO", 0, 9) == "CRITICAL"


def test_a_plugin_s_log_keeps_its_own_fields_and_adds_branch_and_plugin(make_hub, caplog) -> None:  # type: ignore[no-untyped-def]  # pytest fixtures
    import logging

    hub = make_hub({"lyon": {"plugins": []}})
    with caplog.at_level(logging.INFO, logger="hub.plugin.carnet"):
        hub.context("lyon", "carnet").log.info("mail sent", extra={"message_id": "msg_1"})
    [record] = caplog.records
    assert (record.message_id, record.branch, record.plugin) == ("msg_1", "lyon", "carnet")  # type: ignore[attr-defined]  # set through extra
