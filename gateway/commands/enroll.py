"""`edgeproof enroll --token T`: register this gateway's public key with the receiver."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gateway.commands._common import get_state, state_option
from gateway.i18n import _, render
from gateway.identity import IdentityError, enroll


@click.command("enroll", help=_("Enroll with a receiver. The token is used once and never stored or logged."))
@state_option
@click.option("--token", required=True, envvar="EDGEPROOF_ENROLL_TOKEN",
              help=_("One-time enrollment token from the receiver (or $EDGEPROOF_ENROLL_TOKEN)."))
@click.option("--receiver", required=True, envvar="EDGEPROOF_RECEIVER", help=_("Receiver URL."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
def command(state_dir: Path | None, token: str, receiver: str, as_json: bool) -> None:
    """Enroll with a receiver. The token is used once and never stored or logged."""
    try:
        answer = enroll(get_state(state_dir), receiver, token)
    except IdentityError as exc:
        raise click.ClickException(render(exc)) from exc
    out = {k: answer.get(k) for k in ("enterprise_id", "gateway_id", "kid", "receiver_kid", "protection")}
    line = _("enrolled gateway {gateway} for enterprise {enterprise}").format(gateway=out["gateway_id"],
                                                                             enterprise=out["enterprise_id"])
    if out["protection"]:  # file / tpm / tpm-attested, as the receiver recorded it (a receiver before: none)
        line += f" (key protection recorded by the receiver: {out['protection']})"
    click.echo(json.dumps(out) if as_json else line)
