"""No name, e-mail or phone number of a person leaves the database: not in the log (at debug level), not in any
file the hub writes beside it (configuration, secrets, state). Checked on the demo, which runs every plugin
through a whole week for ten people."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hub.demo import BRANCHES, demo_people

ROOT = Path(__file__).resolve().parents[1]


def needles() -> list[str]:
    """What would identify the demo's people: their e-mails, phones (as stored and as typed), last names."""
    out = []
    for branch in BRANCHES:
        for person in demo_people(branch):
            digits = person.phone.replace("+33", "0").replace(" ", "")
            out += [person.email, person.phone, digits, person.last_name]
    out += ["Belkacem", "nadia.belkacem"]  # the person Bordeaux's staff book by phone in Outlook
    return [n for n in out if len(n) >= 5]


def test_the_demo_leaves_no_personal_data_in_its_log_or_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "hub", "-vv", "--log-format", "json", "demo", "--dir", str(folder)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert '"level"' in run.stderr or "DEBUG" in run.stderr.upper()  # the log was there to be searched
    found = [n for n in needles() if n in run.stderr]
    assert found == [], f"in the log: {found}"
    written = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("hub.db")]
    assert written, "the demo wrote its configuration and secrets"
    for path in written:
        text = path.read_bytes().decode("utf-8", errors="replace")
        assert [n for n in needles() if n in text] == [], path
