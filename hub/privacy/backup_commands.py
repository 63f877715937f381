"""`hub backup` and `hub restore`: the commands around hub.privacy.backup (format and checks are there).

What the operator reads is in French, like the other privacy commands; options and help are in English. The
key is printed by `hub backup --new-key` and nowhere else; nothing printed names a person.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from hub.config import HubConfig

__all__ = ["backup_command", "restore_command"]

EXAMPLES = "\b\nExamples:\n"
_KEY_FILE = click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
                         help="Read the key from this file (mode 0600) instead of HUB_BACKUP_KEY.")


@click.command("backup", epilog=EXAMPLES + "  hub backup --new-key\n  HUB_BACKUP_KEY=... hub backup\n"
                                           "  hub backup --key-file /root/hub-backup.key --output /srv/hub.backup")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the backup here [default: <state_dir>/backups/hub-<YYYYMMDD-HHMMSS>.backup].")
@_KEY_FILE
@click.option("--new-key", is_flag=True, help="Print a fresh key, and where to keep it; back nothing up.")
@click.pass_context
def backup_command(ctx: click.Context, output: Path | None, key_file: Path | None, new_key: bool) -> None:
    """Write an encrypted backup of the whole hub (the database and the token files and keys of the state
    directory), consistent even while `hub run` is writing. The file is mode 0600; without its key nobody,
    you included, can read it."""
    from hub.cli import open_hub
    from hub.privacy.backup import create_backup, default_output, load_key
    from hub.privacy.backup import new_key as make_key

    if new_key:
        click.echo(_new_key_text(make_key()))
        return
    key = load_key(key_file, os.environ)
    hub = open_hub(ctx)
    now = datetime.now(UTC)
    target = output or default_output(hub.config.state_dir, now)
    report = create_backup(hub.store, hub.config.state_dir, target, key, now)
    m = report.manifest
    took = f"{report.seconds:.2f}".replace(".", ",")
    click.echo(f"Sauvegarde écrite : {report.path} ({_size(report.size)}, chiffrée, lisible par vous seul·e)\n"
               f"  contenu : la base (schéma {m['schema_version']}, {_size(m['database_bytes'])} : "
               f"{m['candidates']} personnes, {m['sessions']} rendez-vous), {m['secret_files']} "
               "fichiers secrets (jetons, clés du hub), un manifeste\n"
               f"  faite en {took} s ; à copier hors du serveur (elle ne s'ouvre qu'avec la clé)")


def _new_key_text(key: str) -> str:
    return (f"Nouvelle clé de sauvegarde :\n\n    {key}\n\n"
            "1. Gardez-la HORS du serveur, dans le gestionnaire de mots de passe de l'association : si le serveur "
            "est perdu, elle seule permet de relire les sauvegardes. Une sauvegarde dont la clé est perdue ne "
            "peut plus être lue, par personne.\n"
            "2. Donnez-la au hub sur le serveur, dans la variable HUB_BACKUP_KEY : une ligne "
            "HUB_BACKUP_KEY=<la clé> dans /etc/cravate-hub/backup.env (chmod 600, lu par le service de "
            "sauvegarde), ou un fichier 0600 qui ne contient qu'elle, passé avec --key-file.\n"
            "3. Si vous changez de clé, gardez l'ancienne tant qu'existent des sauvegardes faites avec elle.")


@click.command("restore", epilog=EXAMPLES + "  sudo systemctl stop cravate-hub\n  hub restore "
                                            "/var/lib/cravate-hub/backups/hub-20260301-020000.backup\n"
                                            "  hub restore --key-file /root/hub-backup.key hub.backup --yes")
@click.argument("backup_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@_KEY_FILE
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def restore_command(ctx: click.Context, backup_file: Path, key_file: Path | None, yes: bool) -> None:
    """Put a backup made by `hub backup` in place of the current state, with the service stopped. The file is
    checked whole (key, integrity) before anything changes; the current database is kept beside it. For a
    week after, channels look up what they may already have sent before sending (nothing is sent twice)."""
    from hub.privacy.backup import Restore, load_key

    key = load_key(key_file, os.environ)
    config = _config(ctx)
    with Restore(backup_file, key, config.state_dir, config.db_path) as restore:
        m = restore.manifest
        made = datetime.fromisoformat(m["created_at"])
        click.echo(f"Sauvegarde du {made:%d/%m/%Y à %H:%M} UTC (hub {m.get('hub_version')}, schéma "
                   f"{m.get('schema_version')}) : {m.get('candidates')} personnes, {m.get('sessions')} rendez-vous, "
                   f"{m.get('secret_files')} fichiers secrets ; vérifiée, intacte.")
        if not yes and not click.confirm("Remplacer l'état actuel du hub par cette sauvegarde ? (la base actuelle "
                                         "est gardée à côté)", default=False):
            click.echo("Rien n'a été changé.")
            ctx.exit(1)
        report = restore.apply(datetime.now(UTC))
    lines = [f"Restauré depuis {backup_file}."]
    if report.kept_database is not None:
        lines.append(f"  la base d'avant est gardée : {report.kept_database}")
    lines.append(f"  secrets : {report.secrets_restored} remis"
                 + (f", dont {report.secrets_replaced} remplacés (les anciens sont gardés dans "
                    f"{report.kept_secrets})" if report.secrets_replaced else "")
                 + (f" ; {report.secrets_kept} absents de la sauvegarde, gardés" if report.secrets_kept else ""))
    lines += [f"Pendant 7 jours, les outils vérifient ce qu'ils ont déjà fait depuis le {made:%d/%m/%Y} avant "
              "d'envoyer ou de créer quoi que ce soit, pour ne rien envoyer deux fois.",
              _replayed(ctx, made),
              "Relancez le service : sudo systemctl start cravate-hub (ou hub run), puis vérifiez : hub status"]
    click.echo("\n".join(lines))


def _replayed(ctx: click.Context, made: datetime) -> str:
    """Do again the erasures made after the backup (the journal beside the database), and say so."""
    from hub.cli import open_hub
    from hub.privacy.journal import replay

    hub = open_hub(ctx)
    redone = replay(hub)
    if not redone:
        said = f"Aucun effacement fait depuis le {made:%d/%m/%Y} n'était à refaire."
    else:
        said = (f"{len(redone)} effacement{'s' if len(redone) > 1 else ''} fait{'s' if len(redone) > 1 else ''} "
                f"depuis le {made:%d/%m/%Y} refait{'s' if len(redone) > 1 else ''} d'après le journal des "
                "effacements : les outils en seront prévenus au redémarrage du service (suivi : hub forget --status).")
    kept_from = datetime.now(UTC) - timedelta(seconds=float(hub.config.hub.records.journal))
    if made < kept_from:  # the journal's older lines are gone (hub.privacy.records): those erasures are not redone
        said += (f"\nAttention : le journal des effacements ne garde que {hub.config.hub.records.journal / 86400:.0f} "
                 f"jours ([records] journal de hub.toml) : un effacement fait entre le {made:%d/%m/%Y} et le "
                 f"{kept_from:%d/%m/%Y} n'y est plus et n'a pas été refait.")
    return said


def _config(ctx: click.Context) -> HubConfig:
    """The configuration named by --config, without opening the database the restore replaces."""
    from hub.cli import _print_problems, _registry
    from hub.config import load_config
    from hub.errors import ConfigError

    obj: dict[str, Any] = ctx.find_root().ensure_object(dict)
    if "hub" in obj:
        config: HubConfig = obj["hub"].config
        return config
    try:
        return load_config(obj.get("config"), _registry(ctx).settings_models())
    except ConfigError as exc:
        _print_problems(exc.problems)
        ctx.exit(1)
        raise  # ctx.exit raises; for the type checker


def _size(size: int) -> str:
    for unit, scale in (("Go", 1 << 30), ("Mo", 1 << 20), ("ko", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}".replace(".", ",")
    return f"{size} o"
