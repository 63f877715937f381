"""Logs for people (a terminal) and for machines (JSON under systemd or when piped), with personal data
scrubbed at a single choke point.

Code logs ids, never names, e-mails, phone numbers, tokens or message bodies; `redact` is the safety net for
what slips through (an exception message quoting an address, a URL carrying a token). It keeps what is needed
to debug: IP addresses and ports, timestamps, durations, ids, HTTP statuses. Both formatters pass the message,
every string in the extras (nested too) and exception text through `redact`, and nothing else writes logs.

Stdlib logging rather than structlog: the code already logs with `extra={...}`, and two formatters over one
redaction function are the whole need.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number stands alone: not inside a word, an id, a date, an IP address or a decimal number.
_ALONE_BEFORE = r"(?<![\w.:/+-])"
_ALONE_AFTER = r"(?![\w:/]|[.-]?\d)"
_FRENCH = re.compile(_ALONE_BEFORE + r"(?:(?:\+|00)33[\s.-]?(?:\(0\)[\s.-]?)?|0)[1-9](?:[\s.-]?\d{2}){4}"
                     + _ALONE_AFTER)
_INTERNATIONAL = re.compile(r"(?<![\w.:/-])(?:\+|00)[1-9]\d{0,2}(?:[\s.-]?\(?\d{1,4}\)?){2,6}" + _ALONE_AFTER)
_BEARER = re.compile(r"(?i)(bearer\s+|token[=:]\s*|\"(?:access_|refresh_|id_)?token\"\s*:\s*\"|"
                     r"access_token[=:\"' ]+|refresh_token[=:\"' ]+|[?&]key=)[^\s&\"',]+")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}
LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
_COLORS = {"DEBUG": "\x1b[2m", "INFO": "\x1b[36m", "WARNING": "\x1b[33m", "ERROR": "\x1b[31m",
           "CRITICAL": "\x1b[1;31m"}


def _phone(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    return "<phone>" if 8 <= digits <= 15 else match.group(0)


def redact(text: str) -> str:
    """Mask e-mail addresses, phone numbers and bearer tokens in free text."""
    text = _EMAIL.sub("<email>", text)
    text = _BEARER.sub(lambda m: m.group(1) + "<secret>", text)
    if sum(c.isdigit() for c in text) >= 8:  # cheap pre-check: most lines hold no number long enough
        text = _FRENCH.sub("<phone>", text)
        text = _INTERNATIONAL.sub(_phone, text)
    return text


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: _scrub(v) for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the extras, and error (a scrubbed traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        data.update(_extras(record))
        if record.exc_info:
            data["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


class HumanFormatter(logging.Formatter):
    """`10:02:03 ERROR  delivery dead  branch=lyon plugin=gsheets fix="hub retry ..."` (local time)."""

    def __init__(self, color: bool = False) -> None:
        super().__init__()
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        level = f"{record.levelname:<7}"
        if self.color:
            level = f"{_COLORS.get(record.levelname, '')}{level}\x1b[0m"
        pairs = " ".join(f"{k}={_show(v)}" for k, v in _extras(record).items())
        line = f"{when} {level} {redact(record.getMessage())}" + (f"  {pairs}" if pairs else "")
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text


def _under_systemd() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def level_from_flags(base: str, verbose: int = 0, quiet: int = 0) -> str:
    """Each -v one step more verbose than `base`, each -q one step quieter, within DEBUG..CRITICAL."""
    start = LEVELS.index(base.upper()) if base.upper() in LEVELS else LEVELS.index("INFO")
    return LEVELS[max(0, min(len(LEVELS) - 1, start - verbose + quiet))]


def setup_logging(level: str = "INFO", *, fmt: str = "auto", stream: TextIO | None = None,
                  color: bool | None = None) -> None:
    """Send logs to `stream` (stderr): JSON under systemd or when not a terminal (fmt="auto"), or as asked.
    Colour only on a terminal, never when NO_COLOR is set (no-color.org)."""
    out = stream or sys.stderr
    tty = _isatty(out)
    if fmt == "auto":
        fmt = "json" if _under_systemd() or not tty else "human"
    if color is None:
        color = tty and not os.environ.get("NO_COLOR")
    elif os.environ.get("NO_COLOR"):
        color = False
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter(color=color))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    level = level.upper() if level.upper() in LEVELS else "INFO"
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "googleapiclient", "uvicorn", "uvicorn.access", "uvicorn.error", "msal"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
