"""`edgeproof evidence verify FILE`: check an evidence bundle offline (no receiver, no network)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gateway.i18n import _


@click.group("evidence", help=_(
    "Evidence bundles exported by a receiver (`edgeproof cloud evidence export`), checked offline."))
def command() -> None:
    """Evidence bundles exported by a receiver (`edgeproof cloud evidence export`), checked offline."""


@command.command("verify", help=_(
    "Check every signature, chain, digest and timestamp of BUNDLE; exit 1 naming what failed."))
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tsa-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help=_("The TSA's CA certificate (PEM or DER) to anchor the timestamps to, "
                     "instead of the bundle's copy."))
@click.option("--receiver-key", default=None, metavar="BASE64",
              help=_("The receiver's public key as learnt out of band (GET /v1/receiver/key), "
                     "instead of the bundle's."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object: ok, failures, notes, summary."))
def verify(bundle: Path, tsa_ca: Path | None, receiver_key: str | None, as_json: bool) -> None:
    """Check every signature, chain, digest and timestamp of BUNDLE; exit 1 naming what failed."""
    from gateway.evidence_verify import summary_lines, verify_bundle

    res = verify_bundle(bundle, tsa_ca=tsa_ca.read_bytes() if tsa_ca else None, receiver_key=receiver_key)
    if as_json:
        click.echo(json.dumps({"ok": res.ok, "failures": res.failures, "notes": res.notes, "summary": res.summary},
                              sort_keys=True))
    else:
        for line, is_failure in summary_lines(res):
            click.echo(line, err=is_failure)
    sys.exit(0 if res.ok else 1)
