"""`edgeproof init`: make the gateway's key on the device (0600, never printed)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gateway.commands._common import get_state, profile_option, state_option
from gateway.i18n import _
from gateway.identity import IdentityError, init_identity


@click.command("init", help=_("Create this gateway's Ed25519 identity. Prints only public information."))
@state_option
@profile_option
@click.option("--gateway-id", default=None, help=_("Gateway id (default: <site id>-<random>)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
def command(state_dir: Path | None, profile: str | None, gateway_id: str | None, as_json: bool) -> None:
    """Create this gateway's Ed25519 identity. Prints only public information."""
    from gateway.commands._common import get_profile

    site = get_profile(profile).site.id
    state = get_state(state_dir)
    try:
        ident = init_identity(state, gateway_id, site)
    except IdentityError as exc:
        raise click.ClickException(str(exc)) from exc
    out = {"gateway_id": ident.gateway_id, "kid": ident.kid, "state": str(state)}
    click.echo(json.dumps(out) if as_json else
               _("gateway {gateway} initialised, key id {kid} (private key in {state}, mode 0600)")
               .format(gateway=ident.gateway_id, kid=ident.kid, state=state))
