"""`edgeproof cloud releases publish|list`: the release bundles the receiver serves to gateways
(GET /v1/updates/latest). Bundles are signed on the build side (`edgeproof release sign`); the
receiver stores and serves them, the gateways verify them against their pinned release key."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cloud_stub.cli import _fail, _open
from cloud_stub.errors import ReceiverError
from cloud_stub.i18n import _


@click.group("releases", help=_("Publish signed release bundles for the gateways to fetch."))
def releases() -> None:
    pass


@releases.command("publish", help=_("Serve BUNDLE as the latest release for every gateway, or one enterprise's."))
@click.argument("bundle", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help=_("Receiver database: a SQLite file or a postgresql:// URL."))
@click.option("--enterprise", default="*", show_default=True, help=_("Only this enterprise's gateways ('*': all)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def publish_cmd(bundle: Path, db_path: str, enterprise: str, as_json: bool) -> None:
    from cloud_stub import releases as rel

    rdb = _open(db_path)
    try:
        out = rel.publish(rdb, bundle, enterprise)
    except ReceiverError as exc:
        _fail(exc)
    finally:
        rdb.close()
    click.echo(json.dumps(out) if as_json else
               _("published {version} for {target} ({size} bytes, sha256 {sha256})").format(
                   version=out["version"], target=out["target"], size=out["size"], sha256=out["sha256"][:16]))


@releases.command("list", help=_("The published releases, oldest first."))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help=_("Receiver database: a SQLite file or a postgresql:// URL."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def list_cmd(db_path: str, as_json: bool) -> None:
    from cloud_stub import releases as rel

    rdb = _open(db_path)
    try:
        rows = rel.listing(rdb)
    finally:
        rdb.close()
    if as_json:
        click.echo(json.dumps(rows))
    for r in [] if as_json else rows:
        click.echo(_("{version}  {target}  {size} bytes  {published}").format(
            version=r["version"], target=r["target"], size=r["size"], published=r["published"]))
