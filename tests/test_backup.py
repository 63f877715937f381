"""`hub backup` and `hub restore`: a consistent snapshot while the daemon writes, encrypted so that a wrong key, a
flipped byte, a cut or reordered file is refused with nothing changed; a restore that puts back the events and
the secrets, keeps what it replaces, and makes channels look up before sending (nothing sent twice)."""

from __future__ import annotations

import base64
import os
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hub.app import Hub
from hub.cli import cli
from hub.events import Event
from hub.hookspecs import hookimpl
from hub.lock import DaemonLock
from hub.privacy.backup import Restore, create_backup, new_key
from hub.store import open_store
from hub.testing import FakeClock, RecordingSink, make_candidate, make_event, make_session

BRANCH = "lyon"
KEY = new_key()
OTHER_KEY = new_key()


class Mailbox:
    """A mail channel whose sent mails live in the vendor's service (this object), outside the hub's database: what
    a restore cannot roll back. It records each send in its private state, and while the hub reconciles it looks
    the mail up in the service before sending, as the Gmail and Outlook channels do."""

    def __init__(self) -> None:
        self.sent: list[str] = []  # the delivery key each mail carries as its marker

    @hookimpl
    def message_due(self, hub: Any, event: Event) -> None:
        key = hub.delivery_key
        if hub.state_get(f"sent:{key}"):
            return
        if hub.reconciling and key in self.sent:
            hub.state_put(f"sent:{key}", True)
            return
        self.sent.append(key)
        hub.state_put(f"sent:{key}", True)


@pytest.fixture
def clock() -> FakeClock:
    """The hub's clock at the real time: `hub restore` marks the database restored at the real time."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def mailbox(register_plugin: Callable[[str, object], object]) -> Mailbox:
    register_plugin("sink", RecordingSink())
    made = Mailbox()
    register_plugin("mail", made)
    return made


@pytest.fixture
def hub(make_hub: Callable[..., Hub], mailbox: Mailbox) -> Hub:
    return make_hub({BRANCH: {"plugins": ["sink", "mail"], "channels": {"email": "mail"},
                              "schedule": {"reminders": [], "followups": []},
                              "messages": {"quiet_hours": "00:00-00:00"}}})


@pytest.fixture
def reopen(clock: FakeClock) -> Iterator[Callable[[Hub], Hub]]:
    """A new Hub over the same configuration (after a restore replaced the database under the old one)."""
    opened: list[Hub] = []

    def make(old: Hub) -> Hub:
        opened.append(Hub(old.config, old.registry, clock=clock))
        return opened[-1]

    yield make
    for made in opened:
        made.close()


def run(hub: Hub, *args: str, key: str | None = KEY, input: str | None = None) -> Result:
    """The command as an operator runs it: the configuration from --config, the key from the environment."""
    return CliRunner().invoke(cli, ["--config", str(hub.config.root), *args], input=input, catch_exceptions=False,
                              obj={"registry": hub.registry}, env={"HUB_BACKUP_KEY": key})


def booking(hub: Hub, n: int) -> None:
    person = make_candidate(ref=f"row-{n}", first_name="Aïcha", email=f"personne{n}@example.org")
    hub.ingest(BRANCH, "sink", [make_event("session_booked", candidate=person, source_id=f"booking-{n}",
                                           session=make_session(hub.clock() + timedelta(days=3),
                                                                        ref=f"booking-{n}"))])


def event_ids(db: Path) -> list[str]:
    store = open_store(db)
    try:
        return [e.id for e in store.list_events(limit=100_000)]
    finally:
        store.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def backup_file(hub: Hub, tmp_path: Path, name: str = "hub.backup") -> Path:
    out = tmp_path / "out" / name
    result = run(hub, "backup", "--output", str(out))
    assert result.exit_code == 0, result.output
    return out


def state(hub: Hub) -> dict[str, Any]:
    """What a refused restore must leave as it was: the files of the state directory, the secrets' bytes, the
    events in the database."""
    root = hub.config.state_dir
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if not p.name.endswith(("-wal", "-shm", ".lock")))
    secrets = {p.as_posix(): p.read_bytes() for p in (root / "secrets").rglob("*") if p.is_file()}
    return {"files": files, "secrets": secrets, "events": event_ids(hub.config.db_path)}


# --- a consistent snapshot while the daemon writes ------------------------------------------------------------

def test_a_backup_taken_while_another_connection_writes_is_consistent_and_restorable(hub: Hub,
                                                                                      tmp_path: Path) -> None:
    body = "x" * 2000
    writer = open_store(hub.config.db_path)  # the daemon: its own connection, writing without pause
    writer.conn.execute("PRAGMA wal_autocheckpoint=0")  # what it commits stays in the log, as between checkpoints
    stop, written = threading.Event(), [0]

    def insert(n: int) -> None:
        with writer.transaction():
            writer.insert_event(event_id=f"e{n}", branch=BRANCH, kind="candidate_registered", source="sink",
                                source_id=str(n), occurred_at=hub.clock(), candidate_id=None, session_id=None,
                                body=body, sinks=["sink", "mail"], now=hub.clock())
        written[0] = n + 1

    for n in range(1500):  # ~3 MB, committed in the write-ahead log only
        insert(n)
    before = written[0]

    def keep_writing() -> None:
        n = before
        while not stop.is_set():
            insert(n)
            n += 1

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        while written[0] < before + 20 and thread.is_alive():  # the writer is under way
            time.sleep(0.001)
        out = tmp_path / "live.backup"
        started = written[0]
        create_backup(hub.store, hub.config.state_dir, out, base64.urlsafe_b64decode(KEY), datetime.now(UTC))
        during = written[0]
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert during > started  # it kept writing while the backup ran

    other = tmp_path / "other"
    with Restore(out, base64.urlsafe_b64decode(KEY), other, other / "hub.db") as restore:
        restore.apply(datetime.now(UTC))
    restored = open_store(other / "hub.db")
    try:
        assert restored.integrity_problems() == []
        events = restored.list_events(limit=100_000)
        assert before <= len(events) <= written[0]  # everything committed before it began, nothing half written
        deliveries = restored.list_deliveries(limit=1_000_000)
        assert len(deliveries) == 2 * len(events)  # each event with both its deliveries: one moment's state
    finally:
        restored.close()


# --- the round trip -------------------------------------------------------------------------------------------

def test_restore_brings_back_events_and_secrets_and_keeps_what_it_replaces(hub: Hub, tmp_path: Path,
                                                                           reopen: Callable[[Hub], Hub]) -> None:
    booking(hub, 1)
    ctx = hub.context(BRANCH, "mail")
    ctx.write_secret("token.json", '{"refresh_token": "r-1"}')
    hub.eraser.tombstones.covers(BRANCH, make_candidate(email="x@example.org"))  # makes the hub's tombstone key
    tombstone_key = hub.config.state_dir / "secrets" / "hub" / "tombstone_key"
    assert tombstone_key.is_file()
    result = run(hub, "backup")
    assert result.exit_code == 0, result.output
    (made,) = (hub.config.state_dir / "backups").iterdir()
    assert made.name.startswith("hub-") and made.suffix == ".backup"
    assert mode(made.parent) == 0o700 and mode(made) == 0o600
    assert str(made) in result.output and "2 fichiers secrets" in result.output
    at_backup = event_ids(hub.config.db_path)

    booking(hub, 2)  # after the backup: lost by the restore, kept in the copy of the database it replaces
    ctx.write_secret("token.json", '{"refresh_token": "r-2"}')
    ctx.write_secret("added_later", "kept")
    key_text = tombstone_key.read_text()
    tombstone_key.unlink()
    at_restore = event_ids(hub.config.db_path)
    hub.close()

    result = run(hub, "restore", str(made), "--yes")
    assert result.exit_code == 0, result.output
    assert "Restauré" in result.output and "systemctl start cravate-hub" in result.output
    assert event_ids(hub.config.db_path) == at_backup
    assert mode(hub.config.db_path) == 0o600
    (kept,) = hub.config.state_dir.glob("hub.db.before-restore-*")
    assert mode(kept) == 0o600 and event_ids(kept) == at_restore
    token = ctx.secret_path("token.json")
    assert token.read_text() == '{"refresh_token": "r-1"}' and mode(token) == 0o600
    assert tombstone_key.read_text() == key_text and mode(tombstone_key) == 0o600
    assert ctx.secret_path("added_later").read_text() == "kept"  # the backup lacks it: left alone
    (aside,) = hub.config.state_dir.glob("secrets.before-restore-*")
    replaced = aside / BRANCH / "mail" / "token.json"
    assert replaced.read_text() == '{"refresh_token": "r-2"}' and mode(replaced) == 0o600
    assert not list(hub.config.state_dir.glob(".restore-*")) and not list(hub.config.state_dir.glob(".backup-*"))
    assert reopen(hub).context(BRANCH, "mail").reconciling is True


def test_nothing_is_sent_twice_after_a_restore(hub: Hub, mailbox: Mailbox, tmp_path: Path,
                                               reopen: Callable[[Hub], Hub]) -> None:
    booking(hub, 1)
    assert hub.store.list_deliveries(states=["pending"])  # the confirmation is still to send
    made = backup_file(hub, tmp_path)
    hub.cycle()
    hub.cycle()
    sent = list(mailbox.sent)
    assert sent  # the confirmation went after the backup was made
    hub.close()

    assert run(hub, "restore", str(made), "--yes").exit_code == 0
    again = reopen(hub)
    assert again.context(BRANCH, "mail").reconciling is True
    again.cycle()
    again.cycle()
    assert mailbox.sent == sent  # the restored state had it to send; the channel found it already sent
    assert again.store.list_deliveries(states=["pending", "retrying", "dead"]) == []


# --- refused, nothing changed ---------------------------------------------------------------------------------

def frames(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each chunk of a backup file (format in hub.privacy.backup)."""
    spans, at = [], 18 + 1 + 4 + 16 + 12 + 16
    while at < len(data):
        (length,) = struct.unpack(">I", data[at + 13:at + 17])
        spans.append((at, at + 17 + length))
        at += 17 + length
    return spans


def swapped(data: bytes) -> bytes:
    (a0, a1), (b0, b1) = frames(data)[:2]
    return data[:a0] + data[b0:b1] + data[a0:a1] + data[b1:]


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "flipped byte": (lambda d: flipped(d, frames(d)[1][0] + 5000), "abîmée ou a été modifiée (bloc 2"),
    "flipped flag": (lambda d: flipped(d, frames(d)[0][0] + 12), "abîmée ou a été modifiée (bloc 1"),
    "chunks swapped": (swapped, "abîmée ou a été modifiée (bloc 1"),
    "chunk dropped": (lambda d: d[:frames(d)[1][0]] + d[frames(d)[1][1]:], "abîmée ou a été modifiée (bloc 2"),
    "cut at a chunk": (lambda d: d[:frames(d)[-1][0]], "est incomplète"),
    "cut in a chunk": (lambda d: d[:-100], "est incomplète"),
    "bytes appended": (lambda d: d + d[frames(d)[-1][0]:], "des données suivent sa fin"),
    "header altered": (lambda d: flipped(d, 30), "ne s'ouvre pas avec cette clé"),
    "not a backup": (lambda d: b"SQLite format 3\x00" + d[16:], "n'est pas une sauvegarde du hub"),
}


@pytest.fixture
def big_backup(hub: Hub, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A backup of three chunks and more (a 2.5 MiB token file), then a hub that moved on after it."""
    booking(hub, 1)
    hub.context(BRANCH, "mail").write_secret("big", base64.b64encode(os.urandom(1_900_000)).decode())
    made = backup_file(hub, tmp_path)
    assert len(frames(made.read_bytes())) >= 3
    booking(hub, 2)
    hub.context(BRANCH, "mail").write_secret("big", "changed since")
    return made, state(hub)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_or_altered_backup_is_refused_and_nothing_changes(hub: Hub, big_backup: tuple[Path, Any],
                                                                    damage: str) -> None:
    made, before = big_backup
    alter, message = DAMAGE[damage]
    made.write_bytes(alter(made.read_bytes()))
    result = run(hub, "restore", str(made), "--yes")
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1  # one sentence
    assert state(hub) == before


def test_the_intact_file_of_those_tests_is_restored(hub: Hub, big_backup: tuple[Path, Any]) -> None:
    made, before = big_backup
    hub.close()
    assert run(hub, "restore", str(made), "--yes").exit_code == 0  # the refusals above are the damage's doing
    assert state(hub)["events"] != before["events"]


def test_a_wrong_key_is_refused_and_never_printed(hub: Hub, tmp_path: Path) -> None:
    booking(hub, 1)
    made = backup_file(hub, tmp_path)
    before = state(hub)
    result = run(hub, "restore", str(made), "--yes", key=OTHER_KEY)
    assert result.exit_code == 1
    assert "ne s'ouvre pas avec cette clé" in result.output
    assert OTHER_KEY not in result.output and KEY not in result.output
    assert state(hub) == before


def test_restore_is_refused_while_the_daemon_runs(hub: Hub, tmp_path: Path) -> None:
    booking(hub, 1)
    made = backup_file(hub, tmp_path)
    booking(hub, 2)
    before = state(hub)
    with DaemonLock(hub.config.db_path):
        result = run(hub, "restore", str(made), "--yes")
    assert result.exit_code == 1
    assert "sudo systemctl stop cravate-hub" in result.output and "hub run" in result.output
    assert state(hub) == before


def test_restore_asks_first_and_a_no_changes_nothing(hub: Hub, tmp_path: Path) -> None:
    booking(hub, 1)
    made = backup_file(hub, tmp_path)
    booking(hub, 2)
    before = state(hub)
    result = run(hub, "restore", str(made), input="n\n")
    assert result.exit_code == 1
    assert "Remplacer l'état actuel du hub par cette sauvegarde ?" in result.output
    assert "1 personnes" in result.output and "vérifiée, intacte" in result.output
    assert "Rien n'a été changé." in result.output
    assert state(hub) == before


def test_a_current_database_that_cannot_be_opened_is_kept_as_it_is(hub: Hub, tmp_path: Path) -> None:
    booking(hub, 1)
    made = backup_file(hub, tmp_path)
    at_backup = event_ids(hub.config.db_path)
    hub.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{hub.config.db_path}{suffix}").unlink(missing_ok=True)
    hub.config.db_path.write_bytes(b"not a database, the reason one restores " * 100)
    result = run(hub, "restore", str(made), "--yes")
    assert result.exit_code == 0, result.output
    assert event_ids(hub.config.db_path) == at_backup
    (kept,) = hub.config.state_dir.glob("hub.db.before-restore-*")
    assert kept.read_bytes().startswith(b"not a database") and mode(kept) == 0o600


# --- the key --------------------------------------------------------------------------------------------------

def test_without_a_key_backup_says_how_to_make_one(hub: Hub) -> None:
    result = run(hub, "backup", key=None)
    assert result.exit_code == 1
    assert "hub backup --new-key" in result.output and "HUB_BACKUP_KEY" in result.output
    assert not (hub.config.state_dir / "backups").exists()


def test_a_key_that_is_not_one_is_refused_without_echoing_it(hub: Hub) -> None:
    result = run(hub, "backup", key="hunter2-not-a-key")
    assert result.exit_code == 1 and "ne contient pas une clé de sauvegarde" in result.output
    assert "hunter2" not in result.output


def test_new_key_prints_a_fresh_key_and_where_to_keep_it(hub: Hub) -> None:
    first, second = run(hub, "backup", "--new-key", key=None), run(hub, "backup", "--new-key", key=None)
    assert first.exit_code == 0
    key = first.output.splitlines()[2].strip()
    assert len(base64.urlsafe_b64decode(key)) == 32 and key not in second.output
    assert "HORS du serveur" in first.output and "gestionnaire de mots de passe" in first.output
    assert "HUB_BACKUP_KEY" in first.output and "ne peut plus être lue" in first.output
    assert not (hub.config.state_dir / "backups").exists()  # nothing backed up


def test_the_key_is_never_printed_by_backup_or_restore(hub: Hub, tmp_path: Path) -> None:
    booking(hub, 1)
    backed = run(hub, "backup", "--output", str(tmp_path / "b.backup"))
    hub.close()
    restored = run(hub, "restore", str(tmp_path / "b.backup"), "--yes")
    assert backed.exit_code == restored.exit_code == 0
    for output in (backed.output, restored.output):
        assert KEY not in output and KEY[:20] not in output


def test_a_key_file_must_be_private(hub: Hub, tmp_path: Path) -> None:
    key_file = tmp_path / "backup.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o644)
    result = run(hub, "backup", "--key-file", str(key_file), "--output", str(tmp_path / "b.backup"), key=None)
    assert result.exit_code == 1 and f"chmod 600 {key_file}" in result.output
    assert not (tmp_path / "b.backup").exists()
    key_file.chmod(0o600)
    result = run(hub, "backup", "--key-file", str(key_file), "--output", str(tmp_path / "b.backup"), key=None)
    assert result.exit_code == 0, result.output
    hub.close()
    assert run(hub, "restore", str(tmp_path / "b.backup"), "--yes", key=None).exit_code == 1  # key needed
    assert run(hub, "restore", "--key-file", str(key_file), str(tmp_path / "b.backup"), "--yes",
               key=None).exit_code == 0


def test_the_file_holds_no_readable_byte_of_the_database(hub: Hub, tmp_path: Path) -> None:
    booking(hub, 1)
    assert b"personne1@example.org" in b"".join(
        p.read_bytes() for p in hub.config.state_dir.glob("hub.db*"))  # the check can see it when it is there
    data = backup_file(hub, tmp_path).read_bytes()
    assert b"personne1@example.org" not in data and b"SQLite format 3" not in data and b"manifest" not in data


def test_erasures_made_after_the_backup_are_done_again_by_the_restore(hub: Hub, tmp_path: Path, clock: FakeClock,
                                                                     reopen: Callable[[Hub], Hub]) -> None:
    for n in (1, 2):
        person = make_candidate(first_name=f"P{n}", email=f"personne{n}@example.org", phone=f"+3361234567{n}")
        hub.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=person, source_id=f"r{n}")])
    hub.cycle()
    made = backup_file(hub, tmp_path)
    forgotten = hub.store.find_candidate(BRANCH, email_key="personne1@example.org", phone_key=None)
    kept = hub.store.find_candidate(BRANCH, email_key="personne2@example.org", phone_key=None)
    assert forgotten and kept
    hub.eraser.forget(BRANCH, forgotten)  # after the backup: the backup still holds her
    hub.cycle()
    hub.close()

    result = run(hub, "restore", str(made), "--yes")
    assert result.exit_code == 0, result.output
    assert "1 effacement fait depuis le" in result.output and "refait" in result.output
    again = reopen(hub)
    assert again.store.get_entity("candidates", forgotten) == {"id": forgotten}  # erased again, not back
    assert (again.store.get_entity("candidates", kept) or {}).get("email") == "personne2@example.org"
    person = make_candidate(first_name="Aïcha", email="personne1@example.org")
    assert again.ingest(BRANCH, "sink", [make_event("candidate_registered", candidate=person,
                                                     source_id="re-read")]) == []  # the tombstone is back
    clock.advance(60)  # the command ran on the real clock, a moment after the test's
    assert again.cycle().errors == []
    (erasure,) = again.store.list_erasures(BRANCH)
    assert erasure.reason == "replay" and erasure.finished_at is not None  # and every tool told again
    again.close()
