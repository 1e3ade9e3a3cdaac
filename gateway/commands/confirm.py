"""`edgeproof confirm`: the enterprise confirms the measures in force (consent, categories, recipients,
purposes), signed into the chain so every bank sees when and what it confirmed."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gateway.commands._common import profile_option, state_option
from gateway.commands.audit import _db_option
from gateway.commands.dispute import open_store
from gateway.disputes.model import DisputeError, check_note
from gateway.i18n import _, render


@click.command("confirm", help=_(
    "Confirm the measures in force now; the record copies them, so what was confirmed is fixed."))
@state_option
@profile_option
@_db_option
@click.option("--note", default="", help=_("Who confirmed, or anything the bank should read (sent; at most 500 "
                                         "characters)."))
@click.option("--json", "as_json", is_flag=True)
def command(state_dir: Path | None, profile: str | None, db: Path | None, note: str, as_json: bool) -> None:
    """Confirm the measures in force now; the record copies them, so what was confirmed is fixed."""
    from gateway.disputes import ledger

    try:
        note = check_note(note)
    except DisputeError as exc:
        raise click.BadParameter(render(exc.detail), param_hint="--note") from exc
    st = open_store(state_dir, profile, db)
    try:
        cid = ledger.add_confirmation(st, note)
        item = next(i for i in ledger.listing(st) if i["id"] == cid)
    finally:
        st.close()
    if as_json:
        click.echo(json.dumps(item, sort_keys=True, ensure_ascii=False))
        return
    consent = (item["measures"] or {}).get("consent")
    what = _("no consent section in the profile")
    if consent:
        what = _("categories {categories} for {recipients}").format(
            categories=", ".join(consent.get("allowed", [])) or _("none"),
            recipients=", ".join(consent.get("to", [])) or "-")
    click.echo(_("confirmation #{id} of the measures in force ({what}); signed at the gateway's next step").format(
        id=cid, what=what))
