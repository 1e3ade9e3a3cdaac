"""`edgeproof decommission [--dry-run] [--force] [--reason TEXT] [--certificate-dir DIR]`.

Ends this gateway: a final signed record, acknowledged by the receiver; then the store, the
key, the privacy key, connector copies, the evidence ring, the enrollment state and the
service unit are deleted, and a destruction certificate signed with the gateway key (before
the key goes) lists each with its size and SHA-256 (gateway/decommission.py says why in that
order). Exit 0 done (or dry run), 1 refused or failed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from gateway.commands._common import get_profile, get_state, profile_option, state_option
from gateway.i18n import _, render


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _print_items(items: list[dict[str, Any]]) -> None:
    for i in items:
        files = _(", {n} files").format(n=i["files"]) if i["files"] != 1 else ""
        click.echo(_("  {kind:<17} {path}  ({size}{files}, sha256 {sha256}...)").format(
            kind=i["kind"], path=i["path"], size=_human(i["bytes"]), files=files, sha256=str(i["sha256"])[:16]))


def _loss_text(loss: dict[str, Any]) -> str:
    seqs = loss["unacknowledged_seqs"]
    if not seqs and not loss["indicators_not_packed"]:
        return _("nothing: every batch was acknowledged")
    cats = ", ".join(f"{n} {c}" for c, n in sorted(loss["unacknowledged_records"].items())) or _("no records")
    span = f"seq {seqs[0]}..{seqs[-1]}" if seqs else _("no batch")
    return _("{n} unacknowledged batch(es) ({span}; {records}) and {indicators} indicator(s) not packed").format(
        n=len(seqs), span=span, records=cats, indicators=loss["indicators_not_packed"])


@click.command("decommission", help=_(
    "Send a final signed record, wipe the gateway and sign a destruction certificate."))
@state_option
@profile_option
@click.option("--dry-run", is_flag=True, help=_("List what would be sent and destroyed; touch nothing."))
@click.option("--force", is_flag=True, help=_("Go on although batches are unacknowledged (the certificate lists "
                                            "exactly what is lost)."))
@click.option("--reason", default="decommissioned", show_default=True, help=_("Said in the final record."))
@click.option("--certificate-dir", "cert_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help=_("Where the signed destruction certificate is written (not the state dir)."))
@click.option("--wait", "wait_s", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help=_("Seconds to wait for the receiver's acknowledgements."))
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("/"), hidden=True,
              help=_("OS root holding the service unit (tests, SD card images)."))
@click.option("--json", "as_json", is_flag=True)
def command(state_dir: Path | None, profile: str | None, dry_run: bool, force: bool, reason: str, cert_dir: Path,
            wait_s: float, root: Path, as_json: bool) -> None:
    """Send a final signed record, wipe the gateway and sign a destruction certificate."""
    from gateway import decommission as dc
    from gateway.identity import IdentityError, load_identity
    from gateway.store import Store

    prof = get_profile(profile)
    state = get_state(state_dir)
    try:
        identity = load_identity(state)
    except IdentityError as exc:
        raise click.ClickException(_("{error} (nothing to decommission, or a different --state)").format(
            error=render(exc))) from None
    if dc._inside(cert_dir, state):
        raise click.ClickException(_("--certificate-dir {dir} is inside the state directory {state}, which is about "
                                     "to be deleted: name another directory").format(dir=cert_dir, state=state))
    inv = dc.inventory(prof, state, root)
    store_item = next((i for i in inv.items if i.kind == "store"), None)
    if dry_run:
        loss: dict[str, Any] | None = None
        if store_item is not None:
            from gateway.runtime import make_transport

            store = Store(store_item.path, "NORMAL")
            try:
                transport = make_transport(prof, identity) if identity.enterprise_id else None
                loss = dc.outbox_loss(store, transport.name if transport else None)
            finally:
                store.close()
        out = {"dry_run": True, "gateway_id": identity.gateway_id, "enterprise_id": identity.enterprise_id,
               "would_send": {"type": "decommission", "reason": reason}, "unacknowledged_now": loss,
               "would_destroy": [i.as_dict() for i in inv.items], "kept": inv.kept,
               "certificate_dir": str(cert_dir.resolve())}
        if as_json:
            click.echo(json.dumps(out))
            return
        click.echo(_("dry run: decommission {gateway} (enterprise {enterprise}); nothing is touched").format(
            gateway=identity.gateway_id, enterprise=identity.enterprise_id))
        click.echo(_("would send a final signed record (reason {reason}) and wait for its ack; not acknowledged "
                     "now: {loss}").format(reason=repr(reason), loss=_loss_text(loss) if loss else _("no store")))
        click.echo(_("would destroy:"))
        _print_items(out["would_destroy"])
        for k in inv.kept:
            click.echo(_("  kept: {path} ({why})").format(path=k["path"], why=k["why"]))
        click.echo(_("would write the signed certificate into {dir}").format(dir=out["certificate_dir"]))
        return

    if dc.service_running(root, state):
        raise click.ClickException(_("the edgeproof service is running on this state directory: stop it first "
                                     "(systemctl stop edgeproof), then run decommission again"))
    now = time.time()
    final = None
    if store_item is not None:
        from gateway.runtime import make_transport

        store = Store(store_item.path, "NORMAL")
        try:
            try:
                transport = make_transport(prof, identity) if identity.enterprise_id else None
            except RuntimeError:
                transport = None
            final = dc.send_final(prof, state, store, identity, reason, transport, wait_s, now)
        finally:
            store.close()
        lost = final["loss"]
        if not final["acknowledged"] or lost["unacknowledged_seqs"]:
            what = _loss_text(lost)
            if not force:
                click.echo(_("refused: the receiver has not acknowledged everything ({error}); {what}. Nothing was "
                             "deleted. Retry when the receiver is reachable, or pass --force to lose exactly that.")
                           .format(error=final["error"] or _("no ack"), what=what), err=True)
                sys.exit(1)
            click.echo(_("--force: destroying although not acknowledged: {what}").format(what=what), err=True)
        inv = dc.inventory(prof, state, root)  # again: the final batch changed the store's digest
    service = dc.stop_service(root, state)
    key_items = [i for i in inv.items if i.kind == "gateway_key"]
    try:
        for item in inv.items:
            if item.kind != "gateway_key":
                dc.destroy(item)
        cert = dc.certificate(identity, reason, inv, final, force, now)
        tpm_key = getattr(identity.signer, "destroy", None)  # a key in a TPM (gateway/signer_tpm.py): evicted
        if tpm_key is not None:
            where = f"tpm:{getattr(identity.signer, 'handle', 0):#x} via {getattr(identity.signer, 'tcti', '?')}"
            cert["destroyed"].append({"kind": "gateway_key", "path": where, "bytes": 0, "sha256": None, "files": 0})
            cert["note"] = "the gateway key was evicted from its TPM after signing this certificate"
        if service:
            cert["service"] = service
        from gateway import wire

        path = dc.write_certificate(wire.sign_certificate(cert, identity.signer), cert_dir,
                                    identity.gateway_id, now)
        for item in key_items:
            dc.destroy(item)
        if tpm_key is not None:
            tpm_key()
    except (dc.DecommissionError, OSError, RuntimeError) as exc:  # RuntimeError: signer_tpm.TpmError
        raise click.ClickException(_("decommission incomplete: {error}").format(error=render(exc))) from None
    if as_json:
        click.echo(json.dumps({"certificate": str(path.resolve()), **cert}))
        return
    click.echo(_("{gateway} decommissioned; final record seq {seq} {acked}").format(
        gateway=identity.gateway_id, seq=final["seq"] if final else "-",
        acked=_("acknowledged") if final and final["acknowledged"] else _("NOT acknowledged")))
    click.echo(_("destroyed:"))
    _print_items(cert["destroyed"])
    click.echo(_("signed destruction certificate: {path} (kid {kid})").format(path=path.resolve(), kid=identity.kid))
