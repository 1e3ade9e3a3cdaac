"""`edgeproof cloud outside ...`: outside data (registry, penalties, judgments, tax, news) into the receiver.

``outside import --source NAME FILE`` takes a provider's file drop (JSON array or JSON Lines,
cloud_stub/outside/adapters.py), validates every record, checks signatures for sources that
sign, and stores it all or nothing; ``outside source add NAME [--public-key B64]`` registers a
source (with its Ed25519 key when it signs); ``outside list`` shows an enterprise's records with
their digests. docs/outside-data.md describes the record format.
"""

from __future__ import annotations

import json
import sys

import click

from cloud_stub.i18n import _, text


@click.group("outside", help=_("Outside data: business registry, penalties, court judgments, tax status, news."))
def outside() -> None:
    pass


@outside.group("source", help=_("Sources of outside data and the keys of those that sign."))
def source() -> None:
    pass


@source.command("add", help=_("Register a source (again, to change its key)."))
@click.option("--db", "db_path", required=True, help=_("Receiver database (file or postgresql:// URL)."))
@click.option("--public-key", default=None, help=_("The source's Ed25519 public key, base64 (for sources that sign)."))
@click.argument("name")
def source_add(db_path: str, name: str, public_key: str | None) -> None:
    from cloud_stub.cli import _open
    from cloud_stub.outside.records import RecordError
    from cloud_stub.outside.store import add_source

    rdb = _open(db_path)
    try:
        out = add_source(rdb, name, public_key)
    except RecordError as exc:
        click.echo(_("error: {error}").format(error=text(exc)), err=True)
        sys.exit(2)
    finally:
        rdb.close()
    click.echo(json.dumps(out, sort_keys=True))


@outside.command("import", help=_("Import a file of outside records (JSON array or JSON Lines) from one source."))
@click.option("--db", "db_path", required=True, help=_("Receiver database (file or postgresql:// URL)."))
@click.option("--source", "source_name", required=True, help=_("The source the file came from."))
@click.option("--retrieved", default=None, help=_("When the file was retrieved (ISO 8601, UTC); default now."))
@click.argument("file", type=click.Path(dir_okay=False))
def import_cmd(db_path: str, source_name: str, retrieved: str | None, file: str) -> None:
    from cloud_stub.cli import _open
    from cloud_stub.outside.adapters import FileDrop
    from cloud_stub.outside.records import RecordError, parse
    from cloud_stub.outside.store import import_records

    try:
        recs = [(where, parse(raw, where, source_name)) for where, raw in FileDrop(source_name, file).fetch()]
    except RecordError as exc:
        click.echo(_("error: {error} (nothing imported)").format(error=text(exc)), err=True)
        sys.exit(2)
    rdb = _open(db_path)
    try:
        out = import_records(rdb, recs, retrieved)
    except RecordError as exc:
        click.echo(_("error: {error} (nothing imported)").format(error=text(exc)), err=True)
        sys.exit(2)
    finally:
        rdb.close()
    click.echo(json.dumps({"file": file, "source": source_name, **out}, sort_keys=True))


@outside.command("list", help=_("An enterprise's outside records with source, retrieval time and digest."))
@click.option("--db", "db_path", required=True, help=_("Receiver database (file or postgresql:// URL)."))
@click.option("--enterprise", required=True, help=_("The enterprise's ID."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def list_cmd(db_path: str, enterprise: str, as_json: bool) -> None:
    from cloud_stub.cli import _open
    from cloud_stub.outside.store import list_records

    rdb = _open(db_path)
    try:
        items = list_records(rdb, enterprise)
    finally:
        rdb.close()
    if as_json:
        click.echo(json.dumps(items, sort_keys=True, ensure_ascii=False))
        return
    if not items:
        click.echo(_("no outside records for {enterprise}").format(enterprise=enterprise))
    for i in items:
        sig = {True: "signed", None: "unsigned", False: "BAD SIGNATURE"}[i["signature_verified"]]
        click.echo(_("#{id} {date} {source} {kind} {signature} sha256 {sha256} (retrieved {retrieved})").format(
            id=i["id"], date=i["date"], source=i["source"], kind=i["kind"], signature=sig, sha256=i["sha256"][:16],
            retrieved=i["retrieved"]))


COMMANDS = (outside,)
