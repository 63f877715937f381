"""Write docs/plugin-hooks.md from hub/hookspecs.py (tests/test_docs.py fails when the file is stale).

Run: .venv/bin/python tools/gen_hook_docs.py
"""

from __future__ import annotations

import inspect
from pathlib import Path

from hub import hookspecs

HEADER = """# Plugin hooks

Every hook a plugin may implement, generated from `hub/hookspecs.py` by `tools/gen_hook_docs.py` (a test
fails when this file is stale). All hooks are **synchronous**. Import the marker with
`from hub import hookimpl`.

Two families, and one closing hook:

- **contribution hooks** (`register_*`) receive a `register` callback; the core calls each plugin's
  implementation alone, so it knows who contributed what, and one plugin's failure stays its own;
- **domain-event hooks** (past tense) receive `hub` (a `HubContext`) and one frozen `Event`. The dispatcher
  calls one plugin's implementation alone per delivery, with `hub.delivery_key` set to the delivery's stable
  idempotency key. Return values are ignored. Raise `PluginNotReady(retry_after=...)`, `PluginAuthFailed` or
  `DeliveryRejected` (from `hub`) to steer retries; any other exception is retried a few times, then
  dead-lettered;
- **`close_lane`** receives the lane's `hub` alone when the hub closes: close the clients built for it.

Never rely on the order plugins are called in; do not use `tryfirst`, `trylast`, wrappers or `historic`.

## Lifecycle

```
hub starts ──> register_settings (each plugin, once)  ──> branch files validated
            ──> register_commands (each plugin, once, CLI only)
per branch ──> register_sources / register_webhooks / register_checks (each enabled plugin, with its context)
daemon loop: poll sources ──> store events (dedupe) + deliveries ──> event hooks, one plugin at a time
            schedule ──> session_reminder_due / followup_due
hub closes ──> close_lane (each lane set up, each plugin alone) ──> store closed
tests, hub sandbox, hub demo ──> register_sandbox
```
"""

GROUPS = [
    ("Setup", ["register_settings", "register_commands", "register_data_uses"]),
    ("Contributions, per branch, and their end", ["register_sources", "register_webhooks", "register_checks",
                                                  "close_lane", "register_sandbox"]),
    ("Domain events", list(hookspecs.EVENT_HOOKS)),
]


def render() -> str:
    out = [HEADER]
    for title, names in GROUPS:
        out += [f"## {title}", ""]
        for name in names:
            fn = getattr(hookspecs, name)
            signature = str(inspect.signature(fn)).replace("'", "")
            out += [f"### {name}", "", "```python", "@hookimpl", f"def {name}{signature}: ...", "```", "",
                    inspect.getdoc(fn) or "", ""]
    return "\n".join(out)


TARGET = Path(__file__).resolve().parents[1] / "docs" / "plugin-hooks.md"

if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")
