"""``edgeproof cloud backup`` and ``edgeproof cloud restore`` (cloud_stub/backup.py does the work)."""

from __future__ import annotations

import json

import click

from cloud_stub.backup import BackupError
from cloud_stub.i18n import _, text


@click.command("backup", help=_("Back up the receiver's database and key into one 0600 archive (online: ingest "
                              "goes on)."))
@click.option("--db", "db", required=True, help=_("SQLite file, or a postgresql:// URL (needs pg_dump)."))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help=_("The archive to write."))
@click.option("--key", "key_path", default=None, type=click.Path(dir_okay=False, exists=True),
              help=_("Receiver key file (default: next to a SQLite db, when present)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def backup_cmd(db: str, out: str, key_path: str | None, as_json: bool) -> None:
    from cloud_stub.backup import backup

    try:
        res = backup(db, out, key_path)
    except BackupError as exc:
        raise click.ClickException(text(exc)) from None
    if as_json:
        click.echo(json.dumps(res))
        return
    c = res["counts"]
    key = _(", receiver key included") if res["key_included"] else _(", NO receiver key")
    click.echo(_("backed up {dialect} schema {version} to {out} ({bytes} bytes, {batches} batches, {records} records"
                 "{key}) in {seconds} s").format(
        dialect=res["dialect"], version=res["schema_version"], out=res["out"], bytes=f"{res['bytes']:,}",
        batches=f"{c['batches']:,}", records=f"{c['records']:,}", key=key, seconds=res["seconds"]))


@click.command("restore", help=_("Restore a backup archive into an empty database (and its key file, 0600)."))
@click.option("--from", "archive", required=True, type=click.Path(dir_okay=False, exists=True),
              help=_("An archive written by `cloud backup`."))
@click.option("--db", "db", required=True, help=_("Target: SQLite file, or a postgresql:// URL (needs pg_restore)."))
@click.option("--key", "key_out", default=None, type=click.Path(dir_okay=False),
              help=_("Where to write the receiver key (default: next to a SQLite db)."))
@click.option("--force", is_flag=True, help=_("Restore over a target that is not empty (discards what it holds)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def restore_cmd(archive: str, db: str, key_out: str | None, force: bool, as_json: bool) -> None:
    from cloud_stub.backup import restore

    try:
        res = restore(archive, db, key_out, force)
    except BackupError as exc:
        raise click.ClickException(text(exc)) from None
    if as_json:
        click.echo(json.dumps(res))
        return
    c = res["counts"]
    click.echo(_("restored the backup of {created} ({batches} batches, {records} records) in {seconds} s. Start the "
                 "receiver on it: gateways resend what it accepted after the backup (docs/operations.md, 'Restore').")
               .format(created=res["created"], batches=f"{c['batches']:,}", records=f"{c['records']:,}",
                       seconds=res["seconds"]))
