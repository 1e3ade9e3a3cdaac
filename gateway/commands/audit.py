"""`edgeproof audit show|verify`: the enterprise reads and checks what left its site."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.commands._common import get_profile, get_state, profile_option, state_option
from gateway.i18n import _


def store_path(state_dir: Path | None, profile: str | None, db: Path | None) -> Path:
    if db is not None:
        return db
    prof = get_profile(profile)
    p = Path(prof.store.path)
    return p if p.is_absolute() else get_state(state_dir) / p


def _db_option(f: Any) -> Any:
    return click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help=_("The gateway's store file (default: the profile's store in the state directory)."))(f)


@click.group("audit", help=_("The local, hash-chained log of every batch that left and every consent change."))
def command() -> None:
    """The local, hash-chained log of every batch that left and every consent change."""


@command.command("show", help=_("List the newest entries."))
@state_option
@profile_option
@_db_option
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, None))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per line, newest first."))
def show(state_dir: Path | None, profile: str | None, db: Path | None, limit: int, as_json: bool) -> None:
    """List the newest entries."""
    from gateway.consent.audit import read_entries

    path = store_path(state_dir, profile, db)
    if not path.exists():
        raise click.ClickException(_("no store at {path}").format(path=path))
    entries = read_entries(path, limit)
    if as_json:
        for e in entries:
            click.echo(json.dumps(e, sort_keys=True, ensure_ascii=False))
        return
    if not entries:
        click.echo(_("the audit log is empty (nothing has left this site)"))
    for e in entries:
        if e["kind"] == "batch":
            ack = _("acknowledged") if e["acknowledged"] else _("not yet acknowledged")
            click.echo(f"#{e['id']:<5} {e['time']}  " + _("batch seq {seq}: {n} records [{categories}] hash {hash}… "
                                                          "{ack}").format(
                seq=e["seq"], n=e["n_records"], categories=", ".join(e["categories"]), hash=e["batch_hash"][:16],
                ack=ack))
        else:
            d = e["detail"]
            what = d.get("event") or d.get("action")
            cats = d.get("categories") or d.get("allowed")
            extra = " " + _("stopped {categories}").format(categories=d["stopped"]) if d.get("stopped") else ""
            click.echo(f"#{e['id']:<5} {e['time']}  {e['kind']}: {what} {cats}{extra}"
                       + (" " + _("(announced in batch seq {seq})").format(seq=e["seq"]) if e.get("seq") else ""))


@command.command("verify", help=_("Recompute the hash chain and compare every batch entry with the outbox; exit 1 "
                                   "if broken."))
@state_option
@profile_option
@_db_option
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
def verify(state_dir: Path | None, profile: str | None, db: Path | None, as_json: bool) -> None:
    """Recompute the hash chain and compare every batch entry with the outbox; exit 1 if broken."""
    from gateway.consent.audit import verify as do_verify

    path = store_path(state_dir, profile, db)
    if not path.exists():
        raise click.ClickException(_("no store at {path}").format(path=path))
    v = do_verify(path)
    if as_json:
        click.echo(json.dumps(v.as_dict(), sort_keys=True))
    else:
        click.echo(_("audit log {verdict}: {entries} entries, {batches} batches, {changes} consent changes").format(
            verdict=_("OK") if v.ok else _("BROKEN"), entries=v.entries, batches=v.batches, changes=v.consent_changes))
        for p in v.problems:
            click.echo(f"  - {p}")
    sys.exit(0 if v.ok else 1)
