"""Secret files (hub.secrets, re-exported by hub.api, and HubContext.read_secret/write_secret): atomic 0600
writes, reads that refuse a file others can read, and the plugins that keep one (Google token, Calendly key)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.api import read_secret, write_secret
from hub.app import Hub
from hub.errors import PluginAuthFailed
from hub.testing import RecordingSink

BRANCH = "lyon"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_secret_is_0600_in_private_folders(tmp_path: Path) -> None:
    path = tmp_path / "state" / "secrets" / BRANCH / "token.json"
    write_secret(path, '{"token": "x"}')
    assert path.read_text() == '{"token": "x"}' and mode(path) == 0o600
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700  # every folder it made
    assert sorted(os.listdir(path.parent)) == ["token.json"]  # no temporary file left


def test_replacing_a_0644_secret_leaves_it_0600_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("old\n")
    path.chmod(0o644)
    old_inode = path.stat().st_ino
    write_secret(path, "new\n")
    assert path.read_text() == "new\n" and mode(path) == 0o600
    assert path.stat().st_ino != old_inode  # renamed over, never rewritten in place
    assert os.listdir(tmp_path) == ["key"]


def test_the_mode_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        write_secret(tmp_path / "key", "v")
    finally:
        os.umask(previous)
    assert mode(tmp_path / "key") == 0o600


def test_a_failed_write_keeps_the_old_secret_and_leaves_no_temporary_file(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "key"
    write_secret(path, "old")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        write_secret(path, "new")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["key"]


def test_the_write_is_synced_before_the_rename_and_the_folder_after(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        steps.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        steps.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_secret(tmp_path / "key", "v")
    assert steps == ["fsync file", "replace", "fsync dir"]


def test_read_gives_the_secret_without_its_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "key"
    write_secret(path, "abc123\n")
    assert read_secret(path, what="la clé", fix=None) == "abc123"


def test_an_absent_secret_is_none(tmp_path: Path) -> None:
    assert read_secret(tmp_path / "nothing", what="la clé", fix=None) is None


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604, 0o660])
def test_a_secret_others_can_read_is_refused_with_the_chmod_to_run(tmp_path: Path, loose: int) -> None:
    path = tmp_path / "token.json"
    path.write_text("secret-value")
    path.chmod(loose)
    with pytest.raises(PluginAuthFailed) as caught:
        read_secret(path, what="le jeton Google", fix="hub auth google --branch lyon")
    message = str(caught.value)
    assert message == f"le jeton Google {path} est lisible par d'autres comptes : chmod 600 {path}"
    assert caught.value.fix == "hub auth google --branch lyon" and "secret-value" not in message


def test_an_unreadable_secret_is_refused_naming_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "key"
    folder.mkdir()  # a folder where the file should be
    with pytest.raises(PluginAuthFailed, match="est illisible"):
        read_secret(folder, what="la clé", fix=None)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(PluginAuthFailed, match="est illisible"):  # refused at once, never waiting for a writer
        read_secret(fifo, what="la clé", fix=None)


# --- on the plugin's context -----------------------------------------------------------------------------------

@pytest.fixture
def vault_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object]) -> Hub:
    register_plugin("vault", RecordingSink())
    register_plugin("sibling", RecordingSink())
    return make_hub({BRANCH: {"plugins": ["vault", "sibling"]}})


def test_context_methods_keep_the_secret_in_the_plugins_folder(vault_hub: Hub) -> None:
    hub = vault_hub.context(BRANCH, "vault")
    assert hub.read_secret("refresh") is None
    hub.write_secret("refresh", "1//abc\n")
    path = hub.secret_path("refresh")
    assert path == hub.state_dir / "secrets" / BRANCH / "vault" / "refresh"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert hub.read_secret("refresh") == "1//abc"
    assert vault_hub.context(BRANCH, "sibling").read_secret("refresh") is None  # another plugin's folder


def test_a_namespace_is_shared_by_sibling_plugins(vault_hub: Hub) -> None:
    hub, sibling = vault_hub.context(BRANCH, "vault"), vault_hub.context(BRANCH, "sibling")
    hub.write_secret("token.json", "{}", namespace="google")
    assert hub.secret_path("token.json", "google") == hub.state_dir / "secrets" / BRANCH / "google" / "token.json"
    assert sibling.read_secret("token.json", namespace="google") == "{}"
    assert sibling.read_secret("token.json") is None


def test_context_read_refuses_a_loose_file_with_the_given_fix(vault_hub: Hub) -> None:
    hub = vault_hub.context(BRANCH, "vault")
    hub.write_secret("key", "k")
    hub.secret_path("key").chmod(0o644)
    with pytest.raises(PluginAuthFailed, match="chmod 600") as caught:
        hub.read_secret("key", fix="hub vault login --branch lyon")
    assert caught.value.fix == "hub vault login --branch lyon" and "le fichier secret key" in str(caught.value)


# --- the connectors that keep one ------------------------------------------------------------------------------

def test_google_token_is_refused_when_others_can_read_it_and_the_fix_is_hub_auth(vault_hub: Hub) -> None:
    from hub_google import GoogleAuthSettings, load_credentials, token_path

    hub = vault_hub.context(BRANCH, "vault")
    path = token_path(hub)
    assert path == hub.secret_path("token.json", "google")
    path.write_text('{"refresh_token": "1//x"}')
    path.chmod(0o644)
    with pytest.raises(PluginAuthFailed) as caught:
        load_credentials(hub, GoogleAuthSettings(auth="oauth"), [])
    assert f"chmod 600 {path}" in str(caught.value) and "le jeton Google" in str(caught.value)
    assert caught.value.fix == f"hub auth google --branch {BRANCH}"


def test_google_token_absent_says_to_connect(vault_hub: Hub) -> None:
    from hub_google import GoogleAuthSettings, load_credentials

    with pytest.raises(PluginAuthFailed, match="aucune autorisation") as caught:
        load_credentials(vault_hub.context(BRANCH, "vault"), GoogleAuthSettings(auth="oauth"), [])
    assert caught.value.fix == f"hub auth google --branch {BRANCH}"


def test_service_account_key_must_be_private(vault_hub: Hub, tmp_path: Path) -> None:
    from hub_google import GoogleAuthSettings, load_credentials

    key = tmp_path / "sa.json"
    key.write_text("{}")
    key.chmod(0o644)
    settings = GoogleAuthSettings(auth="service_account", service_account_file=key)
    with pytest.raises(PluginAuthFailed, match=f"chmod 600 {key}"):
        load_credentials(vault_hub.context(BRANCH, "vault"), settings, [])
    key.chmod(0o600)
    with pytest.raises(PluginAuthFailed, match="illisible"):  # private, but not a key
        load_credentials(vault_hub.context(BRANCH, "vault"), settings, [])


def test_calendly_signing_key_is_stored_atomically_0600(vault_hub: Hub) -> None:
    from pydantic import SecretStr

    from hub_calendly.plugin import Settings
    from hub_calendly.subscription import SIGNING_KEY_FILE, _store_key, signing_key

    hub = vault_hub.context(BRANCH, "vault")
    settings = Settings(token=SecretStr("t"))
    assert signing_key(hub, settings) is None
    path = hub.secret_path(SIGNING_KEY_FILE)
    path.write_text("old-key\n")
    path.chmod(0o644)
    with pytest.raises(PluginAuthFailed, match="chmod 600"):  # a key others could read is not used
        signing_key(hub, settings)
    _store_key(hub, "a" * 64)
    assert mode(path) == 0o600 and path.read_text() == "a" * 64 + "\n"
    assert signing_key(hub, settings) == "a" * 64
    assert sorted(os.listdir(path.parent)) == [SIGNING_KEY_FILE]
