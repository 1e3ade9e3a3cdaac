"""`edgeproof certificate verify FILE [--public-key B64 | --receiver URL]`: check a destruction
certificate (a gateway's from `edgeproof decommission`, a receiver's from `edgeproof cloud offboard`)
and print what it says was destroyed. Exit 0 valid, 1 not.

The signature is checked against a key from a source the checker trusts: ``--public-key``, or the
receiver (`GET /v1/gateways/{id}/keys` for a gateway's certificate, kept after revocation;
`GET /v1/receiver/key` for a receiver's). Without either, the key the certificate carries is
used and the output says so: compare its kid with one known out of band.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from gateway.i18n import _, render


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _trusted_key(signed: dict[str, Any], cert_hint: dict[str, Any], receiver: str | None,
                 public_key: str | None) -> tuple[bytes | None, str]:
    from gateway import wire

    if public_key:
        return wire.unb64(public_key, "--public-key"), _("the key given with --public-key")
    if receiver:
        base = receiver.rstrip("/")
        if cert_hint.get("kind") == "edgeproof.gateway.destruction":
            keys = _get(f"{base}/v1/gateways/{cert_hint.get('gateway_id')}/keys").get("keys", [])
            match = [k for k in keys if k.get("kid") == signed.get("kid")]
            if not match:
                raise click.ClickException(_("the receiver knows no key {kid} for gateway {gateway}").format(
                    kid=signed.get("kid"), gateway=cert_hint.get("gateway_id")))
            return (wire.unb64(match[0]["public_key"], "gateway key"),
                    _("gateway key {kid} from {url}").format(kid=signed.get("kid"), url=base))
        return (wire.unb64(_get(f"{base}/v1/receiver/key")["public_key"], "receiver key"),
                _("receiver key from {url}").format(url=base))
    return None, _("the key the certificate carries (kid {kid}): compare it with one you trust").format(
        kid=signed.get("kid"))


@click.group("certificate", help=_("Destruction certificates (docs/exit.md)."))
def command() -> None:
    """Destruction certificates (docs/exit.md)."""


@command.command("verify", help=_("Check FILE's signature and print what it lists."))
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--public-key", default=None, help=_("Base64 Ed25519 public key to check against."))
@click.option("--receiver", default=None, help=_("Receiver URL to take the key from."))
@click.option("--json", "as_json", is_flag=True)
def verify(file: Path, public_key: str | None, receiver: str | None, as_json: bool) -> None:
    """Check FILE's signature and print what it lists."""
    from gateway import wire

    try:
        signed = json.loads(file.read_text(encoding="utf-8"))
        hint = json.loads(wire.unb64(str(signed.get("body", "")), "certificate body"))
        pk, source = _trusted_key(signed, hint, receiver, public_key)
        cert = wire.verify_certificate(signed, pk)
    except (OSError, ValueError, KeyError, AttributeError, wire.WireError, urllib.error.URLError) as exc:
        msg = _("{file}: not a valid destruction certificate: {error}").format(file=file, error=render(exc))
        if as_json:
            click.echo(json.dumps({"valid": False, "error": msg}))
        else:
            click.echo(msg, err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({"valid": True, "key": source, "certificate": cert}))
        return
    click.echo(_("valid: signed by {source}").format(source=source))
    if cert.get("kind") == "edgeproof.gateway.destruction":
        final = cert.get("final_record") or {}
        click.echo(_("gateway {gateway} of {enterprise}, {time}: {reason}; final record seq {seq} {acked}").format(
            gateway=cert.get("gateway_id"), enterprise=cert.get("enterprise_id"), time=cert.get("time"),
            reason=cert.get("reason"), seq=final.get("seq"),
            acked=_("acknowledged") if final.get("acknowledged") else _("NOT acknowledged")))
        for i in cert.get("destroyed", []):
            click.echo(_("  {kind:<17} {path} {bytes} bytes sha256 {sha256}").format(
                kind=i["kind"], path=i["path"], bytes=i["bytes"], sha256=i["sha256"]))
        if cert.get("lost"):
            click.echo(_("  LOST (--force): {lost}").format(lost=json.dumps(cert["lost"])))
    else:
        click.echo(_("enterprise {enterprise}: offboarded {offboarded}, purged {purged}; "
                     "archive sha256 {sha256}").format(
            enterprise=cert.get("enterprise_id"), offboarded=cert.get("offboarded_at"), purged=cert.get("purged_at"),
            sha256=(cert.get("archive") or {}).get("sha256")))
        for t, v in sorted((cert.get("deleted") or {}).items()):
            click.echo(_("  {table:<17} {rows} rows sha256 {sha256}").format(
                table=t, rows=v["rows"], sha256=v["sha256"]))
