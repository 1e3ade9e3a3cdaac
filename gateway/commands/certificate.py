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

from gateway.i18n import _


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _trusted_key(signed: dict[str, Any], cert_hint: dict[str, Any], receiver: str | None,
                 public_key: str | None) -> tuple[bytes | None, str]:
    from gateway import wire

    if public_key:
        return wire.unb64(public_key, "--public-key"), "the key given with --public-key"
    if receiver:
        base = receiver.rstrip("/")
        if cert_hint.get("kind") == "edgeproof.gateway.destruction":
            keys = _get(f"{base}/v1/gateways/{cert_hint.get('gateway_id')}/keys").get("keys", [])
            match = [k for k in keys if k.get("kid") == signed.get("kid")]
            if not match:
                raise click.ClickException(f"the receiver knows no key {signed.get('kid')} for gateway "
                                           f"{cert_hint.get('gateway_id')}")
            return wire.unb64(match[0]["public_key"], "gateway key"), f"gateway key {signed.get('kid')} from {base}"
        return wire.unb64(_get(f"{base}/v1/receiver/key")["public_key"], "receiver key"), f"receiver key from {base}"
    return None, f"the key the certificate carries (kid {signed.get('kid')}): compare it with one you trust"


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
        msg = f"{file}: not a valid destruction certificate: {exc}"
        if as_json:
            click.echo(json.dumps({"valid": False, "error": msg}))
        else:
            click.echo(msg, err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({"valid": True, "key": source, "certificate": cert}))
        return
    click.echo(f"valid: signed by {source}")
    if cert.get("kind") == "edgeproof.gateway.destruction":
        final = cert.get("final_record") or {}
        click.echo(f"gateway {cert.get('gateway_id')} of {cert.get('enterprise_id')}, {cert.get('time')}: "
                   f"{cert.get('reason')}; final record seq {final.get('seq')} "
                   f"{'acknowledged' if final.get('acknowledged') else 'NOT acknowledged'}")
        for i in cert.get("destroyed", []):
            click.echo(f"  {i['kind']:<17} {i['path']} {i['bytes']} bytes sha256 {i['sha256']}")
        if cert.get("lost"):
            click.echo(f"  LOST (--force): {json.dumps(cert['lost'])}")
    else:
        click.echo(f"enterprise {cert.get('enterprise_id')}: offboarded {cert.get('offboarded_at')}, purged "
                   f"{cert.get('purged_at')}; archive sha256 {(cert.get('archive') or {}).get('sha256')}")
        for t, v in sorted((cert.get("deleted") or {}).items()):
            click.echo(f"  {t:<17} {v['rows']} rows sha256 {v['sha256']}")
