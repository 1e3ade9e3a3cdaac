"""`edgeproof cloud evidence export` and `edgeproof cloud timestamp`: evidence bundles and trusted timestamps."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cloud_stub.i18n import _, text

_DB = click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
                   help=_("Receiver database: a SQLite file or a postgresql:// URL."))


def _open(db_path: str):  # noqa: ANN202 - the Store protocol
    from cloud_stub.cli import _open as open_db

    return open_db(db_path)


@click.group("evidence", help=_("Evidence bundles for disputes: one signed, timestamped archive per enterprise."))
def evidence() -> None:
    pass


@evidence.command("export", help=_("Write an enterprise's evidence bundle (docs/evidence.md)."))
@_DB
@click.option("--enterprise", required=True, help=_("The enterprise's ID."))
@click.option("--from", "t_from", default=None, help=_("Start of the period (ISO 8601 or epoch s; default: all)."))
@click.option("--to", "t_to", default=None, help=_("End of the period, exclusive (default: now)."))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key_path", default=None, type=click.Path(dir_okay=False),
              help=_("Receiver key file (default: next to a SQLite --db)."))
@click.option("--tsa-url", default=None, help=_("Timestamp the current chain tips and access-log head first."))
@click.option("--tsa-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help=_("The TSA's CA certificate, put into the bundle for the expert."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def export(db_path: str, enterprise: str, t_from: str | None, t_to: str | None, out: Path, key_path: str | None,
           tsa_url: str | None, tsa_ca: Path | None, as_json: bool) -> None:
    from cloud_stub import receiver_key
    from cloud_stub.db import is_postgres_url
    from cloud_stub.evidence_bundle import export_bundle
    from cloud_stub.timestamps import TimestampError

    if key_path is None and is_postgres_url(db_path):
        raise click.UsageError(_("--key is required with a PostgreSQL --db"))
    rdb = _open(db_path)
    try:
        key = receiver_key.load_or_create(key_path or receiver_key.default_key_path(db_path))
        info = export_bundle(rdb, enterprise, out, key=key, t_from=t_from, t_to=t_to, tsa_url=tsa_url,
                             tsa_ca=tsa_ca.read_bytes() if tsa_ca else None)
    except (ValueError, OSError, TimestampError) as exc:
        raise click.ClickException(text(exc)) from None
    finally:
        rdb.close()
    if as_json:
        click.echo(json.dumps(info, sort_keys=True))
    else:
        c = info["counts"]
        click.echo(_("wrote {file} (sha256 {sha256}): {batches} batches, {findings} findings, {scores} scores, "
                     "{access} access-log entries, {timestamps} timestamps").format(
            file=out, sha256=info["sha256"], batches=c["batches"], findings=c["findings"], scores=c["scores"],
            access=c["access_log_entries"], timestamps=c["timestamps"]))


@click.command("timestamp", help=_("Ask the TSA for RFC 3161 tokens over every gateway's chain tip and the access-log"
                                 " head (run daily by a timer; docs/evidence.md)."))
@_DB
@click.option("--tsa-url", required=True)
@click.option("--enterprise", default=None, help=_("Only this enterprise (default: all)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def timestamp(db_path: str, tsa_url: str, enterprise: str | None, as_json: bool) -> None:
    from cloud_stub.timestamps import TimestampError, stamp

    rdb = _open(db_path)
    try:
        done = stamp(rdb, tsa_url, enterprise)
    except TimestampError as exc:
        raise click.ClickException(text(exc)) from None
    finally:
        rdb.close()
    if as_json:
        click.echo(json.dumps({"timestamped": done}, sort_keys=True))
    else:
        click.echo(_("{n} new timestamp(s) from {tsa}").format(n=len(done), tsa=tsa_url) + "".join(
            "\n  " + _("{kind} {enterprise} {gateway} at {time}").format(
                kind=d["kind"], enterprise=d["enterprise_id"] or "", gateway=d["gateway_id"] or "", time=d["gen_time"])
            for d in done))
