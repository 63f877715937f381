"""Secret files a plugin keeps (OAuth tokens, webhook signing keys): written atomically 0600, read only if private.

`write_secret` never leaves a moment where the secret is readable by others or half written: a new file is
created 0600 next to the old one, synced, renamed over it and the directory synced, so a crash leaves either
the old secret or the new one. A file replaced this way is a new inode: a secret that was 0644 ends 0600.
`read_secret` refuses a file other accounts could read, as `hub config check` does for `{ file = ... }`.
Paths come from `HubContext.secret_path(name, namespace)`; `hub.read_secret(name)` / `hub.write_secret(...)`
on the context do both steps.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from hub.errors import PluginAuthFailed

__all__ = ["read_secret", "write_secret"]

_PRIVATE = stat.S_IRWXG | stat.S_IRWXO


def write_secret(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically and durably, mode 0600; missing parent folders are made 0700."""
    write_private(path, text.encode("utf-8"))


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` (see `private_replacement`)."""
    with private_replacement(path) as out:
        out.write(data)


@contextmanager
def private_replacement(path: Path) -> Iterator[IO[bytes]]:
    """A new file written in place of `path`: atomically (renamed over it at the end; an error leaves `path` as it
    was) and durably (fsynced, then its folder), mode 0600, missing parent folders made 0700. For secrets and for
    anything else holding personal data (a backup, a restored secret)."""
    folder = path.parent
    make_private_dirs(folder)
    fd, tmp = new_private_file(folder, path.name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(folder)


def read_secret(path: Path, *, what: str, fix: str | None = None) -> str | None:
    """The secret in `path` without its trailing newline; None when there is no such file.

    `what` names it for staff ("le jeton Google"). PluginAuthFailed (with `fix`, the plugin's command that
    writes a new one, if any) when group or others may access the file, or when it cannot be read.
    """
    try:
        # a symlink is followed (mounted secrets: its target is checked); O_NONBLOCK: a FIFO never hangs us
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PluginAuthFailed(f"{what} {path} est illisible ({type(exc).__name__})", fix=fix) from None
    try:
        info = os.fstat(fd)  # the file opened, not a name swapped meanwhile
        if not stat.S_ISREG(info.st_mode):
            raise PluginAuthFailed(f"{what} {path} est illisible (pas un fichier)", fix=fix)
        if info.st_mode & _PRIVATE:
            raise PluginAuthFailed(f"{what} {path} est lisible par d'autres comptes : chmod 600 {path}", fix=fix)
        with os.fdopen(os.dup(fd), encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise PluginAuthFailed(f"{what} {path} est illisible ({type(exc).__name__})", fix=fix) from None
    finally:
        os.close(fd)
    return text.rstrip("\r\n")


def make_private_dirs(folder: Path) -> None:
    """`folder` and every missing parent, each 0700 (mkdir(parents=True) would leave the parents 0755)."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        each.mkdir(mode=0o700, exist_ok=True)  # exist_ok: made meanwhile by another writer


def new_private_file(folder: Path, name: str) -> tuple[int, Path]:
    """A new file in `folder` only this account can use (O_EXCL: never an existing file or a symlink)."""
    for _ in range(10):
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(folder))


def fsync_dir(folder: Path) -> None:
    """Make the rename durable. Windows has no directory handles; some file systems refuse (EINVAL)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def read_or_create_key(path: Path, *, what: str) -> str:
    """A random key the hub keeps for itself in `path` (0600), made on first use: the tombstones' HMAC key, the
    opt-out links' signing key. PluginAuthFailed when others may read it (read_secret)."""
    text = read_secret(path, what=what)
    if text is None:
        text = secrets.token_hex(32)
        write_secret(path, text + "\n")
    return text.strip()
