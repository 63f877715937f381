"""Line numbers of TOML keys, for messages such as `branches/lyon.toml:12: schedule.reminders[1]: ...`.

tomllib gives no positions, so this reads the text itself: it follows `[table]` / `[[table]]` headers and
`key =` lines (bare, quoted and dotted keys), which is enough for config files. Anything it cannot place
(a key inside an inline table, a missing key) gets the line of the nearest enclosing key or table, or none.
"""

from __future__ import annotations

import re

_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_SPLIT = re.compile(_PART)
_INDEX = re.compile(r"\[\d+\]")


def _parts(dotted: str) -> tuple[str, ...]:
    out = []
    for match in _SPLIT.finditer(dotted):
        part = match.group(0)
        if part[:1] == '"':
            part = part[1:-1].encode().decode("unicode_escape") if "\\" in part else part[1:-1]
        elif part[:1] == "'":
            part = part[1:-1]
        out.append(part)
    return tuple(out)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Every table and key path of a TOML text -> the (1-based) line it is written on (its first mention)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_string: str | None = None
    depth = 0  # open brackets of a multi-line array or inline table
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string:
            if in_string in line:
                in_string = None
            continue
        if depth <= 0:
            depth = 0
            header = _HEADER.match(line)
            if header:
                table = _parts(header.group(1))
                lines.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key:
                path = table + _parts(key.group(1))
                for i in range(len(table) + 1, len(path) + 1):
                    lines.setdefault(path[:i], number)
        for quote in ('"""', "'''"):
            if line.count(quote) % 2:
                in_string = quote
        if in_string is None:
            code = re.sub(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'', "", line).split("#", 1)[0]
            depth += code.count("[") + code.count("{") - code.count("]") - code.count("}")
    return lines


def split_key(key: str) -> tuple[str, ...]:
    """`outcomes."CDD court".category` or `schedule.reminders[1]` -> its path, without list indexes."""
    return _parts(_INDEX.sub("", key))


def line_of(lines: dict[tuple[str, ...], int], key: str) -> int | None:
    """The line of `key` (a problem's key), else of the nearest enclosing key or table written in the file."""
    path = split_key(key)
    for i in range(len(path), 0, -1):
        if path[:i] in lines:
            return lines[path[:i]]
    return None
