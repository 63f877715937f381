"""Every `# type: ignore` says why on the same line (issue 9: no silenced error without a reason)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?(?P<after>.*)$")


def test_each_type_ignore_has_a_code_and_a_reason() -> None:
    bare = []
    for path in [*ROOT.joinpath("hub").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = IGNORE.search(line)
            if match and (not match.group(1) or not match.group("after").strip().startswith("#")):
                bare.append(f"{path.relative_to(ROOT)}:{number}")
    assert not bare, f"say which error and why, e.g. `# type: ignore[arg-type]  # reason`: {bare}"
