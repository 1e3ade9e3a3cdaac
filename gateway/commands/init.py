"""`edgeproof init`: make the gateway's key on the device (0600, never printed)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gateway.commands._common import get_state, profile_option, state_option
from gateway.i18n import _, render
from gateway.identity import IdentityError, init_identity


@click.command("init", help=_("Create this gateway's Ed25519 identity. Prints only public information.")
               + " (--key-store tpm: an ECDSA P-256 key made inside a TPM 2.0.)")
@state_option
@profile_option
@click.option("--gateway-id", default=None, help=_("Gateway id (default: <site id>-<random>)."))
@click.option("--key-store", type=click.Choice(["file", "tpm"]), default="file", show_default=True,
              help=_("Where the key lives: an Ed25519 file (0600) or an ECDSA P-256 key made inside a TPM 2.0 "
                   "that cannot be copied."))
@click.option("--tpm-tcti", default=None, metavar="NAME:CONFIG",
              help=_("How to reach the TPM (default device:/dev/tpmrm0; the software TPM: "
                   "swtpm:host=127.0.0.1,port=2321)."))
@click.option("--tpm-handle", default=None, metavar="0x81......",
              help=_("Persistent TPM handle for the key (default 0x81010045)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
def command(state_dir: Path | None, profile: str | None, gateway_id: str | None, key_store: str,
            tpm_tcti: str | None, tpm_handle: str | None, as_json: bool) -> None:
    """Create this gateway's identity (Ed25519 file, or a TPM key). Prints only public information."""
    from gateway.commands._common import get_profile

    site = get_profile(profile).site.id
    state = get_state(state_dir)
    handle = None
    if tpm_handle is not None:
        try:
            handle = int(tpm_handle, 0)
        except ValueError:
            raise click.BadParameter(_("{value} is not a number such as 0x81010045").format(value=repr(tpm_handle)),
                                     param_hint="--tpm-handle") from None
        if not 0x81000000 <= handle <= 0x817FFFFF:
            raise click.BadParameter(_("expected a persistent owner handle, 0x81000000 to 0x817FFFFF"),
                                     param_hint="--tpm-handle")
    try:
        ident = init_identity(state, gateway_id, site, key_store=key_store, tpm_tcti=tpm_tcti, tpm_handle=handle)
    except IdentityError as exc:
        raise click.ClickException(render(exc)) from exc
    out = {"gateway_id": ident.gateway_id, "kid": ident.kid, "state": str(state), "key_store": key_store}
    ident.signer.close()
    if as_json:
        click.echo(json.dumps(out))
    elif key_store == "tpm":
        click.echo(_("gateway {gateway} initialised, key id {kid} (made inside the TPM, persistent handle {handle}; "
                     "it cannot be copied)").format(gateway=ident.gateway_id, kid=ident.kid,
                                                    handle=f"{handle or 0x81010045:#x}"))
    else:
        click.echo(_("gateway {gateway} initialised, key id {kid} (private key in {state}, mode 0600)")
                   .format(gateway=ident.gateway_id, kid=ident.kid, state=state))
