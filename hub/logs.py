"""Structured logs (one JSON object per line) with personal data scrubbed at a single choke point.

Code logs ids, never names, e-mails, phone numbers, tokens or message bodies; `redact` is the safety net for
what slips through (an exception message quoting an address, a URL carrying a token).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w/-])(?:\+|00)?\d[\d .()-]{7,}\d(?![\w/-])")
_BEARER = re.compile(r"(?i)(bearer\s+|token[=:]\s*|access_token[=:\"' ]+|refresh_token[=:\"' ]+|key=)[^\s&\"',]+")
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    """Mask e-mail addresses, phone numbers and bearer tokens in free text."""
    text = _EMAIL.sub("<email>", text)
    text = _BEARER.sub(lambda m: m.group(1) + "<secret>", text)
    return _PHONE.sub("<phone>", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = redact(str(value)) if isinstance(value, str) else value
        if record.exc_info:
            data["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", stream: object = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "googleapiclient", "uvicorn", "uvicorn.access", "msal"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
