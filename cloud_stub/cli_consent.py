"""``edgeproof cloud consent``: each bank grant of an enterprise beside what its signed consent allows.

The operator's grant never widens the enterprise's consent (cloud_stub/consent.py); this is
where the operator sees a grant that is wider (the excess is withheld from the bank) or a bank
the consent does not name at all (served nothing).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from cloud_stub.i18n import N_, _

STATUS_TEXT = {
    "consent": N_("limited by the enterprise's signed consent"),
    "no_consent": N_("no signed consent record from the enterprise's gateways: the grant alone applies"),
    "not_named": N_("the enterprise's signed consent does not name this bank: nothing is served"),
}


def _wider_text(wider: list[str]) -> str:
    return _("every category the consent does not name") if wider == ["*"] else ", ".join(wider)


def warn_wider(eff: dict[str, Any], bank: str, enterprise: str) -> None:
    """Tell the operator (stderr) when a grant is wider than the consent or not covered by one."""
    if eff.get("wider_than_consent"):
        click.echo(_("warning: the grant of {enterprise} to {bank} is wider than the enterprise's signed consent "
                     "({status}); withheld: {withheld}; served: {served}").format(
            enterprise=enterprise, bank=bank, status=_(STATUS_TEXT[eff["status"]]),
            withheld=_wider_text(eff["wider_than_consent"]),
            served=", ".join(eff["served"]) or _("consent and declaration records only")), err=True)
    elif eff.get("status") == "no_consent":
        click.echo(_("note: {status} ({enterprise})").format(status=_(STATUS_TEXT["no_consent"]),
                                                            enterprise=enterprise), err=True)


@click.command("consent", help=_("Each bank grant of an enterprise beside what its signed consent lets through."))
@click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
              help=_("Receiver database: a SQLite file or a postgresql:// URL."))
@click.option("--enterprise", required=True, help=_("The enterprise's ID."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def consent_cmd(db_path: str, enterprise: str, as_json: bool) -> None:
    from cloud_stub.banks import grants_with_consent
    from cloud_stub.cli import _open
    from cloud_stub.consent import report_wider

    rows = grants_with_consent(_open(db_path), enterprise)
    for r in rows:
        report_wider(r["bank"], enterprise, r["wider_than_consent"], r["status"])
    if as_json:
        click.echo(json.dumps({"enterprise_id": enterprise, "grants": rows}))
    else:
        if not rows:
            click.echo(_("{enterprise}: no live bank grant").format(enterprise=enterprise))
        for r in rows:
            wider = _("  WIDER than consent, withheld: {withheld}").format(
                withheld=_wider_text(r["wider_than_consent"])) if r["wider_than_consent"] else ""
            click.echo(_("{bank}: granted {granted}; consented {consented}; served {served} [{status}]").format(
                bank=r["bank"], granted=",".join(r["granted"]),
                consented=",".join(r["consented"]) if r["consented"] is not None else "-",
                served=",".join(r["served"]) or _("(consent records only)"), status=r["status"]) + wider)
    sys.exit(0)

