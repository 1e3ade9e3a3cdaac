"""`edgeproof cloud dispute list`: the operator's list of an enterprise's disputes and confirmations,
each dispute beside the finding it names, with every bank's decision (cloud_stub/disputes.py)."""

from __future__ import annotations

import json
from typing import Any

import click

from cloud_stub.i18n import _


@click.group("dispute", help=_("Disputes and confirmations sent by enterprises, and the banks' decisions."))
def dispute() -> None:
    pass


@dispute.command("list", help=_("Every dispute and confirmation of one enterprise, oldest first."))
@click.option("--db", "db_path", required=True, help=_("Receiver database (file or postgresql:// URL)."))
@click.option("--enterprise", required=True)
@click.option("--status", type=click.Choice(["open", "accepted", "rejected", "mixed", "recorded"]), default=None,
              help=_("Only items with this status."))
@click.option("--json", "as_json", is_flag=True)
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
        click.echo(f"no disputes or confirmations for {enterprise}")
    for i in items:
        click.echo(_line(i))


def _line(i: dict[str, Any]) -> str:
    rec = i["record"]
    head = f"{i['key']} {rec.get('name')} ({rec.get('made_at')}, batch seq {i['seq']})"
    if i["type"] == "confirmation":
        consent = (rec.get("measures") or {}).get("consent") or {}
        return f"{head}: confirmed categories {', '.join(consent.get('allowed', [])) or '-'}; {rec.get('note', '')}"
    f = i["finding"] or {}
    finding = (f"finding #{f['id']} {f['kind']} {f['severity']}" if f else
               f"finding {str(rec.get('finding'))[:16]} (not found)")
    decided = "; ".join(f"{d['bank']} {d['decision']}" + (f": {d['reason']}" if d["reason"] else "")
                        for d in i["decisions"]) or "no decision"
    reason = f" [{rec['reason']}]" if rec.get("reason") else ""
    return f"{head}{reason} on {finding}: {i['status']} ({decided}); note: {rec.get('note', '')}"
