"""``edgeproof cloud offboard``: end an enterprise on the receiver (cloud_stub/offboard.py says what
each step does and why in that order).

    edgeproof cloud offboard --db DB --enterprise ENT [--hold-days N] [--archive DIR] [--reason TEXT]
    edgeproof cloud offboard --db DB --purge-due [--enterprise ENT]   # after the hold (e.g. daily from cron)
    edgeproof cloud offboard --db DB --status [--enterprise ENT]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cloud_stub.i18n import _, text


def _key(db_path: str, key_path: str | None) -> Any:
    from cloud_stub import receiver_key

    path = Path(key_path) if key_path else receiver_key.default_key_path(db_path)
    if not path.exists():
        raise click.ClickException(_("no receiver key at {path}: pass --key with the key `cloud serve` signs with")
                                   .format(path=path))
    try:
        return receiver_key.load_or_create(path)
    except ValueError as exc:
        raise click.ClickException(text(exc)) from None


@click.command("offboard", help=_("Offboard an enterprise: revoke its gateways' keys, end its bank grants, archive "
                                "its evidence, and after the hold purge it leaving a signed tombstone."))
@click.option("--db", "db_path", required=True, help=_("SQLite file or postgresql:// URL."))
@click.option("--enterprise", default=None, help=_("Only this enterprise (default: all)."))
@click.option("--hold-days", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help=_("Days the data is kept (not served) before the purge; 0 purges now."))
@click.option("--archive", "archive_dir", default=".", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help=_("Where the evidence bundle (and the destruction certificate) are written."))
@click.option("--reason", default="", help=_("Kept in the tombstone and the certificate."))
@click.option("--purge-due", is_flag=True, help=_("Purge every offboarded enterprise whose hold has passed."))
@click.option("--status", "show_status", is_flag=True, help=_("Show offboarded enterprises, their holds and purges."))
@click.option("--key", "key_path", default=None, type=click.Path(dir_okay=False),
              help=_("Receiver signing key (default: beside the SQLite database)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def offboard_cmd(db_path: str, enterprise: str | None, hold_days: float, archive_dir: Path, reason: str,
                 purge_due: bool, show_status: bool, key_path: str | None, as_json: bool) -> None:
    from cloud_stub import offboard
    from cloud_stub.cli import _open
    from cloud_stub.errors import ReceiverError

    rdb = _open(db_path)
    out: dict[str, Any]
    try:
        if show_status:
            with rdb.read() as conn:
                ents = [enterprise] if enterprise else [r[0] for r in conn.execute(
                    "SELECT enterprise_id FROM offboarding ORDER BY enterprise_id")]
                rows = [t for t in (offboard.tombstone(conn, e) for e in ents) if t is not None]
            out = {"offboarded": rows}
            _emit(out, as_json, [_("{enterprise}: offboarded {started}, held until {hold_until}, {purged}; archive "
                                   "{archive}").format(
                enterprise=t["enterprise_id"], started=t["started_at"], hold_until=t["hold_until"],
                purged=_("purged {when}").format(when=t["purged_at"]) if t["purged_at"] else _("not purged"),
                archive=t["archive"] or "-") for t in rows])
            return
        if purge_due:
            key = _key(db_path, key_path)
            names = [e for e in offboard.due(rdb) if enterprise in (None, e)]
            done = []
            for ent in names:
                res = offboard.purge(rdb, ent, key)
                res["certificate_file"] = str(offboard.write_certificate(res["certificate"], archive_dir, ent))
                done.append(res)
            out = {"purged": done}
            _emit(out, as_json, [_purged_line(r) for r in done] or [_("nothing is due")])
            return
        if not enterprise:
            raise click.UsageError(_("--enterprise is required (or --purge-due / --status)"))
        key = _key(db_path, key_path)
        out = offboard.start(rdb, enterprise, hold_days, reason)
        out["archive"] = offboard.archive(rdb, enterprise, archive_dir, key)
        lines = [_("{enterprise}: offboarded {started}; {keys} gateway key(s) revoked, {grants} bank grant(s) ended "
                   "({banks}); data held (not served) until {hold_until}").format(
                     enterprise=enterprise, started=out["started_at"], keys=len(out["keys_revoked"]),
                     grants=len(out["grants_ended"]), banks=", ".join(out["grants_ended"]) or _("none"),
                     hold_until=out["hold_until"]),
                 _("archive ({kind}): {path} sha256 {sha256}").format(
                     kind=out["archive"]["kind"], path=out["archive"]["path"], sha256=out["archive"]["sha256"])]
        if hold_days == 0:
            res = offboard.purge(rdb, enterprise, key)
            res["certificate_file"] = str(offboard.write_certificate(res["certificate"], archive_dir, enterprise))
            out["purged"] = res
            lines.append(_purged_line(res))
        _emit(out, as_json, lines)
    except ReceiverError as exc:
        click.echo(_("error: {code}: {message}").format(code=exc.code, message=text(exc.message)), err=True)
        sys.exit(1)


def _purged_line(res: dict[str, Any]) -> str:
    rows = sum(v["rows"] for v in res["deleted"].values())
    return _("{enterprise}: purged {when}: {rows} rows in {tables} tables; signed destruction certificate "
             "{certificate}").format(enterprise=res["enterprise_id"], when=res["purged_at"], rows=rows,
                                     tables=len(res["deleted"]), certificate=res["certificate_file"])


def _emit(out: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(out, default=str))
    else:
        for line in lines:
            click.echo(line)
