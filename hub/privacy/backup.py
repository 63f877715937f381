"""`hub backup` and `hub restore`: the whole state of the hub in one encrypted file, and back.

What a backup holds: a tar stream of `manifest.json` (format, created_at in UTC, schema and hub versions, counts),
`hub.db` (a consistent snapshot taken with SQLite's online backup API while the daemon keeps writing:
`Store.backup_to`) and the state directory's `secrets/` folder (OAuth tokens, the hub's own keys:
tombstone_key, optout_key...). The snapshot is written to a private temporary folder in the state directory,
then streamed; nothing is held in memory but one chunk.

The file format (version 1), all integers big-endian:

    header   "CRAVATE-HUB-BACKUP" | format u8 = 1 | chunk size u32 | file id 16 random bytes
             | check nonce 12 bytes | check tag 16 bytes
    chunk i  nonce 12 random bytes | final flag u8 | length u32 | AES-256-GCM ciphertext and tag (length bytes)

The check tag is AES-GCM over an empty text with the header's first 51 bytes as associated data: a wrong key
is told apart from a damaged file before anything is read. Each chunk seals up to `chunk size` (1 MiB) bytes of
the tar stream under its own random 96-bit nonce, with the whole header, the chunk's index (u64) and its final
flag (u8) as associated data: a chunk cannot be altered, moved, dropped, taken from another backup (the file id)
or passed off as the last one. Exactly one chunk is final, the last (possibly empty); a file that ends before
it was cut short, bytes after it are refused. The key is 32 random bytes, given as urlsafe base64 in
HUB_BACKUP_KEY or in a 0600 file (`--key-file`); random nonces under one key stay safe far beyond 2^32 chunks
(4 PiB), NIST SP 800-38D §8.3.

Restoring checks everything before changing anything: the whole file is decrypted and authenticated into a
private temporary folder, the manifest read, the database opened (migrated when older) and checked with
`PRAGMA integrity_check`. Only then, with the daemon's lock held so `hub run` cannot start meanwhile, the current
database is kept as `hub.db.before-restore-<stamp>`, the restored one renamed into place, the secrets put back
(files the backup lacks are kept; a replaced file is kept under `secrets.before-restore-<stamp>/`), and the
store's meta key `restored_at` set: for `RECONCILE_DAYS` channels look up what they may already have sent.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import secrets
import shutil
import stat
import struct
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from hub.errors import AlreadyRunning, HubError, PluginAuthFailed
from hub.secrets import fsync_dir, make_private_dirs, private_replacement, write_private

if TYPE_CHECKING:
    from hub.store import Store

__all__ = ["KEY_ENV", "BackupError", "BackupReport", "Restore", "RestoreReport", "create_backup", "default_output",
           "load_key", "new_key"]

KEY_ENV = "HUB_BACKUP_KEY"
MAGIC = b"CRAVATE-HUB-BACKUP"
FORMAT = 1
CHUNK = 1 << 20
_PREFIX = struct.Struct(">18sBI16s12s")  # magic, format, chunk size, file id, check nonce
_HEADER_SIZE = _PREFIX.size + 16
_FRAME = struct.Struct(">12sBI")  # nonce, final flag, ciphertext length
_AD = struct.Struct(">QB")  # chunk index, final flag
_MAX_CHUNK = 16 << 20
_STAMP = "%Y%m%d-%H%M%S"


class BackupError(HubError):
    """A backup that cannot be made or read, said in one sentence (never with the key)."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size: int
    manifest: dict[str, Any]
    seconds: float


@dataclass(frozen=True)
class RestoreReport:
    kept_database: Path | None
    secrets_restored: int
    secrets_replaced: int
    secrets_kept: int
    kept_secrets: Path | None


# --- the key ----------------------------------------------------------------------------------------------------

def new_key() -> str:
    """A fresh key: 32 random bytes, urlsafe base64 (44 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def load_key(key_file: Path | None, environ: Mapping[str, str]) -> bytes:
    """The key from `key_file` (refused unless 0600) or else from HUB_BACKUP_KEY; BackupError when there is none
    or it is not one. The value is never put in a message."""
    from hub.secrets import read_secret

    if key_file is not None:
        try:
            text = read_secret(key_file, what="le fichier de clé")
        except PluginAuthFailed as exc:
            raise BackupError(str(exc)) from None
        if text is None:
            raise BackupError(f"le fichier de clé {key_file} n'existe pas")
        where = f"le fichier {key_file}"
    else:
        text = environ.get(KEY_ENV)
        if not text:
            raise BackupError(f"aucune clé de sauvegarde : créez-en une avec `hub backup --new-key`, puis donnez-la "
                              f"au hub dans la variable {KEY_ENV} (ou un fichier 0600 avec --key-file)")
        where = f"la variable {KEY_ENV}"
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        key = b""
    if len(key) != 32:
        raise BackupError(f"{where} ne contient pas une clé de sauvegarde (les 44 caractères que donne "
                          "`hub backup --new-key`)")
    return key


# --- the encrypted stream ---------------------------------------------------------------------------------------

class _Sealer(io.RawIOBase):
    """Writes the header, then the tar stream it is given as sealed chunks; `finish()` seals the final one."""

    def __init__(self, out: IO[bytes], key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        super().__init__()
        self._aead = AESGCM(key)
        self._out = out
        self._buffer = bytearray()
        self._index = 0
        nonce = os.urandom(12)
        prefix = _PREFIX.pack(MAGIC, FORMAT, CHUNK, os.urandom(16), nonce)
        self._header = prefix + self._aead.encrypt(nonce, b"", prefix)
        out.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK:  # keep the tail: the final chunk is sealed by finish()
            self._seal(bytes(self._buffer[:CHUNK]), final=False)
            del self._buffer[:CHUNK]
        return len(data)

    def finish(self) -> None:
        self._seal(bytes(self._buffer), final=True)
        self._buffer.clear()

    def _seal(self, plain: bytes, *, final: bool) -> None:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plain, self._header + _AD.pack(self._index, final))
        self._out.write(_FRAME.pack(nonce, final, len(sealed)))
        self._out.write(sealed)
        self._index += 1


class _Opener(io.RawIOBase):
    """Reads a backup's header (checking the key), then gives back the tar stream, each chunk authenticated
    before a byte of it is handed out. BackupError on a wrong key, a damaged, altered or truncated file."""

    def __init__(self, src: IO[bytes], key: bytes, name: Path) -> None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        super().__init__()
        self._invalid = InvalidTag
        self._aead = AESGCM(key)
        self._src = src
        self._name = name
        self._index = 0
        self._plain = b""
        self._offset = 0
        self._done = False
        header = src.read(_HEADER_SIZE)
        if len(header) < _HEADER_SIZE or not header.startswith(MAGIC):
            raise BackupError(f"{name} n'est pas une sauvegarde du hub (ou son début est abîmé)")
        _magic, version, self._chunk, _file_id, nonce = _PREFIX.unpack(header[:_PREFIX.size])
        if version != FORMAT:
            raise BackupError(f"{name} est au format de sauvegarde {version}, que ce hub ne connaît pas : "
                              "mettez le hub à jour")
        try:
            self._aead.decrypt(nonce, header[_PREFIX.size:], header[:_PREFIX.size])
        except InvalidTag:
            raise BackupError(f"{name} ne s'ouvre pas avec cette clé : elle a été faite avec une autre clé (ou son "
                              "en-tête est abîmé)") from None
        if not 0 < self._chunk <= _MAX_CHUNK:
            raise BackupError(f"{name} est abîmée (taille de bloc impossible)")
        self._header = header

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._offset >= len(self._plain) and not self._done:
            self._plain, self._offset = self._next(), 0
        size = min(len(buffer), len(self._plain) - self._offset)
        buffer[:size] = self._plain[self._offset:self._offset + size]
        self._offset += size
        return size

    def drain(self) -> None:
        """Read to the end, so that a file cut short or with bytes after its last chunk is refused."""
        while not self._done:
            self._next()

    def _next(self) -> bytes:
        frame = self._src.read(_FRAME.size)
        if len(frame) < _FRAME.size:
            raise self._truncated()
        nonce, final, length = _FRAME.unpack(frame)
        if final not in (0, 1) or length > self._chunk + 16:
            raise self._damaged()
        sealed = self._src.read(length)
        if len(sealed) < length:
            raise self._truncated()
        try:
            plain = self._aead.decrypt(nonce, sealed, self._header + _AD.pack(self._index, final))
        except self._invalid:
            raise self._damaged() from None
        self._index += 1
        if final:
            if self._src.read(1):
                raise BackupError(f"{self._name} a été modifiée : des données suivent sa fin ; rien n'a été "
                                  "changé")
            self._done = True
        return plain

    def _damaged(self) -> BackupError:
        return BackupError(f"{self._name} est abîmée ou a été modifiée (bloc {self._index + 1} invalide) ; rien "
                           "n'a été changé")

    def _truncated(self) -> BackupError:
        return BackupError(f"{self._name} est incomplète (coupée avant sa fin, une copie interrompue ?) ; rien "
                           "n'a été changé")


# --- making a backup --------------------------------------------------------------------------------------------

def default_output(state_dir: Path, now: datetime) -> Path:
    """`<state_dir>/backups/hub-<YYYYMMDD-HHMMSS>.backup` (a suffix when two are made within a second)."""
    base = state_dir / "backups" / f"hub-{now.astimezone(UTC):{_STAMP}}"
    path, n = base.with_suffix(".backup"), 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}.backup")
    return path


def create_backup(store: Store, state_dir: Path, output: Path, key: bytes, now: datetime) -> BackupReport:
    """Write the encrypted backup of `store` and `state_dir/secrets` to `output` (0600, its missing folders
    0700), atomically: a file named `output` is always a whole backup."""
    import time

    from hub import __version__
    from hub.store import open_store
    from hub.store.migrations import MIGRATIONS

    started = time.monotonic()
    _private_dirs(output.parent)
    with _private_workdir(state_dir, ".backup-") as work:
        snapshot = work / "hub.db"
        store.backup_to(snapshot)
        copy = open_store(snapshot)
        try:
            counts = {table: copy.count(table) for table in ("candidates", "sessions")}
            schema = copy.schema_version
        finally:
            copy.close()
        files = list(_secret_files(state_dir / "secrets"))
        manifest = {"format": FORMAT, "created_at": now.astimezone(UTC).isoformat(), "hub_version": __version__,
                    "schema_version": schema, "schema_known": len(MIGRATIONS), "database_bytes":
                    snapshot.stat().st_size, "secret_files": len(files), **counts}
        with private_replacement(output) as out:
            sealer = _Sealer(out, key)
            with tarfile.open(fileobj=sealer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode("utf-8"), now)
                _add_file(tar, "hub.db", snapshot)
                for relative, path in files:
                    _add_file(tar, f"secrets/{relative}", path)
            sealer.finish()
    return BackupReport(output, output.stat().st_size, manifest, time.monotonic() - started)


def _secret_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(path relative to `folder`, path) of every regular file under it, temporary files of write_secret aside."""
    if not folder.is_dir():
        return
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            if name.startswith(".") and name.endswith(".tmp"):
                continue
            if stat.S_ISREG(path.lstat().st_mode):
                yield path.relative_to(folder).as_posix(), path


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, now: datetime) -> None:
    info = _info(name, len(data), now.timestamp())
    tar.addfile(info, io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    with path.open("rb") as handle:
        info = _info(name, os.fstat(handle.fileno()).st_size, os.fstat(handle.fileno()).st_mtime)
        tar.addfile(info, handle)


def _info(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o600
    return info


# --- restoring --------------------------------------------------------------------------------------------------

class Restore:
    """`with Restore(...) as restore:` holds the daemon's lock, decrypts and checks the backup into a private
    folder (`restore.manifest` then says what it holds); `restore.apply(now)` puts it in place. Leaving the
    block removes the folder and releases the lock; nothing is changed unless `apply` was called."""

    def __init__(self, source: Path, key: bytes, state_dir: Path, db_path: Path) -> None:
        self.source = source
        self._key = key
        self.state_dir = state_dir
        self.db_path = db_path
        self.manifest: dict[str, Any] = {}
        self._work: Path | None = None
        self._lock: Any = None

    def __enter__(self) -> Restore:
        from hub.lock import DaemonLock

        _private_dirs(self.state_dir)  # before the lock file is made in it (a new server)
        lock = DaemonLock(self.db_path)
        try:
            lock.acquire()
        except AlreadyRunning:
            raise BackupError("le service du hub tourne sur cette base : arrêtez-le d'abord (sudo systemctl stop "
                              "cravate-hub, ou Ctrl-C dans le terminal de `hub run`), puis relancez la "
                              "restauration ; rien n'a été changé") from None
        self._lock = lock
        try:
            self._work = Path(tempfile.mkdtemp(prefix=".restore-", dir=self.state_dir))
            self.manifest = self._unpack(self._work)
            self._check(self._work / "hub.db")
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _unpack(self, work: Path) -> dict[str, Any]:
        try:
            with self.source.open("rb") as src:
                opener = _Opener(src, self._key, self.source)
                try:
                    with tarfile.open(fileobj=opener, mode="r|") as tar:
                        for member in tar:
                            self._extract(tar, member, work)
                except tarfile.TarError:
                    raise BackupError(f"{self.source} n'est pas une sauvegarde du hub (contenu illisible)") from None
                opener.drain()
        except FileNotFoundError:
            raise BackupError(f"{self.source} n'existe pas") from None
        if not (work / "manifest.json").is_file() or not (work / "hub.db").is_file():
            raise BackupError(f"{self.source} est incomplète (il lui manque la base ou son manifeste) ; rien n'a "
                              "été changé")
        try:
            manifest: dict[str, Any] = json.loads((work / "manifest.json").read_text(encoding="utf-8"))
        except ValueError:
            raise BackupError(f"{self.source} a un manifeste illisible ; rien n'a été changé") from None
        if manifest.get("format") != FORMAT:
            raise BackupError(f"{self.source} est au format {manifest.get('format')!r}, que ce hub ne connaît pas : "
                              "mettez le hub à jour")
        return manifest

    def _extract(self, tar: tarfile.TarFile, member: tarfile.TarInfo, work: Path) -> None:
        parts = PurePosixPath(member.name).parts
        allowed = parts in (("manifest.json",), ("hub.db",)) or (len(parts) > 1 and parts[0] == "secrets")
        if member.name.startswith("/") or ".." in parts or not allowed or not (member.isfile() or member.isdir()):
            raise BackupError(f"{self.source} contient une entrée inattendue ({member.name!r}) ; rien n'a été "
                              "changé")
        if member.isdir():
            return
        target = work.joinpath(*parts)
        _private_dirs(target.parent)
        handle = tar.extractfile(member)
        if handle is None:
            raise BackupError(f"{self.source} contient une entrée illisible ({member.name!r})")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(handle, out, CHUNK)

    def _check(self, db: Path) -> None:
        from hub.store import open_store
        from hub.store.migrations import MIGRATIONS

        schema = int(self.manifest.get("schema_version") or 0)
        if schema > len(MIGRATIONS):
            raise BackupError(f"{self.source} a été faite par un hub plus récent (schéma {schema}, celui-ci connaît "
                              f"le {len(MIGRATIONS)}) : mettez le hub à jour, puis restaurez")
        try:
            store = open_store(db)
        except Exception:  # a database SQLite cannot open: the snapshot itself was bad
            raise BackupError(f"la base contenue dans {self.source} ne s'ouvre pas ; rien n'a été changé") from None
        try:
            problems = store.integrity_problems()
        finally:
            store.close()
        if problems:
            raise BackupError(f"la base contenue dans {self.source} est abîmée ({problems[0]}) ; rien n'a été "
                              "changé")

    def apply(self, now: datetime) -> RestoreReport:
        """Keep the current database and replaced secrets aside, put the backup's in place, mark the database
        restored at `now` (channels reconcile for a week)."""
        from hub.context import RESTORED_AT
        from hub.store import open_store

        if self._work is None:
            raise RuntimeError("Restore.apply() belongs inside its `with` block")
        restored = self._work / "hub.db"
        store = open_store(restored)
        try:
            store.meta_put(RESTORED_AT, now.astimezone(UTC).isoformat())
            store.checkpoint()
        finally:
            store.close()
        stamp = f"{now.astimezone(UTC):{_STAMP}}"
        kept = self._keep_current(stamp)
        for suffix in ("-wal", "-shm"):  # the old database's, merged into it (or kept aside) above
            Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
        os.chmod(restored, 0o600)
        os.replace(restored, self.db_path)
        fsync_dir(self.db_path.parent)
        return self._restore_secrets(self._work / "secrets", self.state_dir / "secrets", stamp, kept)

    def _keep_current(self, stamp: str) -> Path | None:
        from hub.store import open_store

        if not self.db_path.exists():
            return None
        kept = self.db_path.with_name(f"{self.db_path.name}.before-restore-{stamp}")
        try:
            store = open_store(self.db_path)
            try:
                store.backup_to(kept)
                store.checkpoint()
            finally:
                store.close()
        except Exception:  # the current database cannot be opened (often why one restores): keep its bytes
            kept.unlink(missing_ok=True)
            for suffix in ("", "-wal"):
                current = Path(f"{self.db_path}{suffix}")
                if current.exists():
                    _copy_private(current, Path(f"{kept}{suffix}"))
        return kept

    def _restore_secrets(self, source: Path, target: Path, stamp: str, kept_db: Path | None) -> RestoreReport:
        aside = target.with_name(f"secrets.before-restore-{stamp}")
        restored = replaced = 0
        backed = set()
        for relative, path in _secret_files(source):
            backed.add(relative)
            current = target / relative
            data = path.read_bytes()
            if current.is_file() and current.read_bytes() == data:
                restored += 1
                continue
            if current.exists():
                _copy_private(current, aside / relative)
                replaced += 1
            write_private(current, data)
            restored += 1
        left = sum(1 for relative, _ in _secret_files(target) if relative not in backed)
        return RestoreReport(kept_db, restored, replaced, left, aside if replaced else None)


# --- private files ----------------------------------------------------------------------------------------------

def _private_dirs(folder: Path) -> None:
    make_private_dirs(folder)


@contextmanager
def _private_workdir(state_dir: Path, prefix: str) -> Iterator[Path]:
    """A 0700 temporary folder in `state_dir` (the database's file system, not /tmp), removed after."""
    _private_dirs(state_dir)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=state_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _copy_private(source: Path, target: Path) -> None:
    with private_replacement(target) as out, source.open("rb") as src:
        shutil.copyfileobj(src, out, CHUNK)

