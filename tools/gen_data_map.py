"""Write docs/data-map.md, the data map a branch's DPIA needs, from the code's own lists: the fields a tool may
receive (hub.privacy.share.FIELDS) and what each installed first-party connector declares it puts in its tool
or reads from it (register_data_uses). tests/test_docs.py fails when the file is stale.

Run: .venv/bin/python tools/gen_data_map.py
"""

from __future__ import annotations

from pathlib import Path

from hub.plugins import PluginRegistry
from hub.privacy.share import DEFAULT, FIELDS, FREE_TEXT
from hub.words import tool_name

FIRST_PARTY = ("gsheets", "calendly", "gmail", "outlook", "webhooks_out", "example")

HEADER = """# Data map

What the hub and each connector hold of the people a branch supports, where, why and for how long: the map a
branch's data protection impact assessment (DPIA, RGPD art. 35) starts from. Generated from the code's own
lists by `tools/gen_data_map.py` (`hub/privacy/share.py` for the fields, each connector's `register_data_uses`
for the rest); a test fails when this page is stale, so it cannot drift from what the code does. How to answer
a request, the retention and what stays manual: [privacy.md](privacy.md).

## The person's fields

The hub keeps each person's fields in **one place, their record** in the hub's database. A tool receives only
the fields its connector declares below (the hub hands the plugin nothing else, in events or when it looks the
person up); a branch changes a connector's list in its file:

```toml
[privacy.share]
gsheets = ["first_name", "last_name", "phone"]   # no e-mail in the tracking sheet
```

Free text (marked *free text*) is never handed to a tool unless a branch names it there (`extra.<question>`
for one question of its form): people write anything in it, their health included (RGPD art. 9). A
connector that declares nothing (one written before declarations existed) receives every field but free text.

| field | what it is |
|---|---|
"""

HUB_ROWS = [
    ("the person's record (state database, 0600)", "every field above the sources gave, merged",
     "until the person is erased (`hub forget`, or the retention: 2 years after the last contact by default); "
     "then only the hub id and the referrer's kind remain, for counts"),
    ("the event log", "what happened, when, and from which tool, naming the person by hub id only; a planned "
     "message as its purpose and ids (its address, subject and text are written from the record when it is "
     "sent, never stored); a bounce without the address",
     "the person's events are scrubbed at the erasure (nothing identifying stays)"),
    ("sessions and outcomes", "dates, place, programme, coach's name, attendance, the outcome and its label",
     "as the record"),
    ("identity links", "each tool's own id for the person and their sessions",
     "dropped once every tool has confirmed the erasure"),
    ("tombstones", "keyed hashes (HMAC-SHA256, key 0600) of an erased person's e-mail and phone",
     "until the person comes back (a registration or booking after the erasure) or staff lift them "
     "(`hub forget --lift`), so an erased person is not brought back by an old row"),
    ("erasure journal (`<state_dir>/erasures.jsonl`, 0600)", "per erasure: its id, the branch, the hub id, the "
     "tombstones' keyed hashes", "`[records] journal` after the erasure (90 days by default; set it at least as "
     "long as backups are kept): a restore redoes the erasures still in it"),
    ("erasure receipts", "per erasure: each tool's outcome, what staff must do by hand, the person's return (their "
     "new hub id)", "`[records] receipts` after the erasure finished (3 years by default: proof the request was "
     "answered); the erasure's row (hub id, reason, dates) stays, so the id is never erased again nor taken back"),
    ("the hub's operational records", "mails to staff (a staff address; an alert's text, an expired login "
     "link, or a monthly report's figures and page) and their deliveries, input problems (a row or hub id and "
     "a field, never the value), alert claims, delivery error texts",
     "`[records] operational` after they were last written (1 year by default); a dead delivery stays "
     "retriable, its error text replaced"),
    ("connectors' private state", "ids, versions, dates and keyed hashes only (tested: no name, e-mail or phone)",
     "as the record"),
    ("logs", "ids only; e-mails and phones masked as a safety net (tested)", "journald's retention (operations.md)"),
    ("backups (`hub backup`)", "an encrypted copy of all of the above (AES-256-GCM, key outside the server)",
     "as long as the branch keeps them (30 days in the example timer); a restore erases again whoever was "
     "erased since"),
]


def _fields(names: tuple[str, ...], none: str = "none (ids only)") -> str:
    if not names:
        return none
    return ", ".join(f"`{name}`" + (" (*free text*)" if name in FREE_TEXT else "") for name in names)


def render() -> str:
    out = [HEADER.rstrip("\n")]
    for name, label in FIELDS.items():
        out.append(f"| `{name}` | {label}{' (*free text*)' if name in FREE_TEXT else ''} |")
    out += ["", "## In the hub itself", "", "| where | what | kept |", "|---|---|---|"]
    out += [f"| {where} | {what} | {kept} |" for where, what, kept in HUB_ROWS]
    out.append("")
    uses = PluginRegistry.discover().data_uses()
    out += ["## In each tool", "",
            "Per connector, each place in the tool: the fields the hub writes there (**sends**), those the tool "
            "tells the hub (**reads**), why, and how long they stay.", ""]
    for plugin in FIRST_PARTY:
        declared = uses.get(plugin)
        out += [f"### {tool_name(plugin)} (`{plugin}`)", ""]
        if not declared:
            out += [f"Declares nothing: receives {_fields(tuple(sorted(DEFAULT)))}.", ""]
            continue
        for use in declared:
            out += [f"- **{use.where}**", f"  - sends: {_fields(use.sends)}",
                    f"  - reads: {_fields(use.reads, 'nothing')}", f"  - why: {use.why}", f"  - kept: {use.kept}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


TARGET = Path(__file__).resolve().parents[1] / "docs" / "data-map.md"

if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")
