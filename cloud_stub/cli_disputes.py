"""`edgeproof cloud dispute list`: the operator's list of an enterprise's disputes and confirmations,
each dispute beside the finding it names, with every bank's decision (cloud_stub/disputes.py)."""

from __future__ import annotations

import json
from typing import Any

import click

from cloud_stub.i18n import _
from cloud_stub.status_text import dispute_decision, dispute_status


@click.group("dispute", help=_("Disputes and confirmations sent by enterprises, and the banks' decisions."))
def dispute() -> None:
    pass


@dispute.command("list", help=_("Every dispute and confirmation of one enterprise, oldest first."))
@click.option("--db", "db_path", required=True, help=_("Receiver database (file or postgresql:// URL)."))
@click.option("--enterprise", required=True, help=_("The enterprise's ID."))
@click.option("--status", type=click.Choice(["open", "accepted", "rejected", "mixed", "recorded"]), default=None,
              help=_("Only items with this status."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON (the same in every language)."))
def list_(db_path: str, enterprise: str, status: str | None, as_json: bool) -> None:
    from cloud_stub.cli import _open
    from cloud_stub.disputes import list_disputes

    rdb = _open(db_path)
    try:
        items = list_disputes(rdb, enterprise, None)
    finally:
        rdb.close()
    if status is not None:
        items = [i for i in items if i["status"] == status]
    if as_json:
        click.echo(json.dumps(items, sort_keys=True, ensure_ascii=False))
        return
    if not items:
        click.echo(_("no disputes or confirmations for {enterprise}").format(enterprise=enterprise))
    for i in items:
        click.echo(_line(i))


def _line(i: dict[str, Any]) -> str:
    rec = i["record"]
    head = _("{key} {name} ({made_at}, batch seq {seq})").format(key=i["key"], name=rec.get("name"),
                                                                 made_at=rec.get("made_at"), seq=i["seq"])
    if i["type"] == "confirmation":
        consent = (rec.get("measures") or {}).get("consent") or {}
        return _("{head}: confirmed categories {categories}; {note}").format(
            head=head, categories=", ".join(consent.get("allowed", [])) or "-", note=rec.get("note", ""))
    f = i["finding"] or {}
    finding = (_("finding #{id} {kind} {severity}").format(id=f["id"], kind=f["kind"], severity=f["severity"]) if f
               else _("finding {ref} (not found)").format(ref=str(rec.get("finding"))[:16]))
    decided = "; ".join((_("{bank} {decision}: {reason}") if d["reason"] else _("{bank} {decision}")).format(
        bank=d["bank"], decision=dispute_decision(d["decision"]), reason=d["reason"]) for d in i["decisions"]) \
        or _("no decision")
    reason = f" [{rec['reason']}]" if rec.get("reason") else ""
    return _("{head}{reason} on {finding}: {status} ({decided}); note: {note}").format(
        head=head, reason=reason, finding=finding, status=dispute_status(i["status"]), decided=decided,
        note=rec.get("note", ""))
