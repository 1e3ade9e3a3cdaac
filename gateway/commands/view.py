"""`edgeproof view`: what the bank sees about this enterprise (score, warning level, reasons,
findings with their numbers, disputes and the banks' decisions), in plain language.

``--fetch`` asks the receiver now with a request signed by the gateway's key and verifies the
answer under the receiver key pinned at enrollment; without it the last verified copy is shown
(the running gateway refreshes it every ``[uplink] view_interval_s``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from gateway.commands._common import get_profile, get_state, profile_option, state_option
from gateway.i18n import _, render


@click.command("view", help=_("Show what the bank sees about this enterprise."))
@state_option
@profile_option
@click.option("--fetch/--cached", default=False, help=_("Fetch from the receiver now (default: the last copy)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the saved document (with the signed view) as JSON."))
def command(state_dir: Path | None, profile: str | None, fetch: bool, as_json: bool) -> None:
    """Show what the bank sees about this enterprise."""
    from gateway.enterprise_view import plain, store
    from gateway.enterprise_view.fetch import ViewError
    from gateway.enterprise_view.fetch import fetch as fetch_view
    from gateway.identity import IdentityError, load_identity

    state = get_state(state_dir)
    prof = get_profile(profile)
    if fetch:
        try:
            doc = fetch_view(state, load_identity(state), prof.uplink.url if prof.uplink.transport == "http" else None)
        except (ViewError, IdentityError) as exc:
            raise click.ClickException(render(exc)) from exc
    else:
        doc = store.load(state)
    if as_json:
        click.echo(json.dumps(doc, sort_keys=True, ensure_ascii=False))
        return
    click.echo("\n".join(plain.lines(doc, prof.site.complaint_contact)))
