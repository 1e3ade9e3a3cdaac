"""`edgeproof dispute add|list`: the enterprise contests a finding, or explains it, to its banks.

A dispute names the finding by its hash (shown on the status page's "What the bank sees" and in
`edgeproof dispute list --view`), is signed into the gateway's chain at the running gateway's
next packing step and reaches every bank whatever the consent categories. Each bank answers it
(accepted / rejected, with its reason) through the receiver; the answer, signed by the receiver,
comes back in the gateway's copy of the enterprise view (status page, `dispute list`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from gateway.commands._common import get_state, profile_option, state_option
from gateway.commands.audit import _db_option, store_path
from gateway.disputes.model import ACTIONS, REASONS, DisputeError
from gateway.i18n import N_, _, render
from gateway.store import Store


def open_store(state_dir: Path | None, profile: str | None, db: Path | None) -> Store:
    return Store(store_path(state_dir, profile, db), "FULL")


@click.group("dispute", help=_(
    "Contest or explain a finding the banks see; see how each bank decided."))
def command() -> None:
    """Contest or explain a finding the banks see; see how each bank decided."""


@command.command("add", help=_(
    "Contest or explain one finding; signed at the gateway's next step, then shown to every bank."))
@state_option
@profile_option
@_db_option
@click.option("--finding", required=True, help=_("The finding's hash (64 hex), as `dispute list --view` shows it."))
@click.option("--kind", "action", required=True, type=click.Choice(ACTIONS),
              help=_("contest: the finding is wrong; explain: it is right and here is why."))
@click.option("--reason", type=click.Choice(REASONS), default=None, help=_("With --kind explain: why it happened."))
@click.option("--note", default="", help=_("For the bank (sent with the dispute; at most 500 characters). "
                                         "Required with --kind contest."))
@click.option("--finding-id", type=int, default=None, help=_("The finding's number as shown (for people)."))
@click.option("--json", "as_json", is_flag=True)
def add(state_dir: Path | None, profile: str | None, db: Path | None, finding: str, action: str,
        reason: str | None, note: str, finding_id: int | None, as_json: bool) -> None:
    """Contest or explain one finding; signed at the gateway's next step, then shown to every bank."""
    from gateway.disputes import ledger
    from gateway.disputes.model import validate

    try:
        d = validate(action, finding, reason, note, finding_id)
    except DisputeError as exc:
        raise click.BadParameter(render(exc.detail), param_hint=f"--{exc.key.replace('_', '-')}") from exc
    from gateway.enterprise_view import store as view_store

    doc = view_store.load(get_state(state_dir))
    known = {f.get("hash") for f in ((doc or {}).get("view") or {}).get("findings") or [] if isinstance(f, dict)}
    if doc is not None and d.finding not in known:
        click.echo(_("warning: finding {finding} is not among the findings of the last view ({fetched}); "
                     "check it with `edgeproof view --fetch`").format(finding=d.finding[:16],
                                                                     fetched=doc.get("fetched_at")), err=True)
    st = open_store(state_dir, profile, db)
    try:
        did = ledger.add_dispute(st, d)
        item = next(i for i in ledger.listing(st) if i["id"] == did)
    finally:
        st.close()
    if as_json:
        click.echo(json.dumps(item, sort_keys=True, ensure_ascii=False))
        return
    if d.action == "explain":
        msg = _("dispute #{id} explains ({reason}) finding {finding}; signed at the gateway's next step, "
                "then shown to the bank")
    else:
        msg = _("dispute #{id} contests finding {finding}; signed at the gateway's next step, then shown to the bank")
    click.echo(msg.format(id=did, reason=d.reason, finding=d.finding[:16]))


@command.command("list", help=_(
    "Every dispute and confirmation made on this gateway, and each bank's decision (from the enterprise "
    "view the gateway fetched last)."))
@state_option
@profile_option
@_db_option
@click.option("--json", "as_json", is_flag=True)
def list_(state_dir: Path | None, profile: str | None, db: Path | None, as_json: bool) -> None:
    """Every dispute and confirmation made on this gateway, and each bank's decision (from the
    enterprise view the gateway fetched last)."""
    from gateway.disputes import ledger
    from gateway.enterprise_view import store as view_store

    st = open_store(state_dir, profile, db)
    try:
        items = ledger.listing(st)
    finally:
        st.close()
    doc = view_store.load(get_state(state_dir))
    decisions = view_store.decisions_by_dispute(doc)
    gw = ((doc or {}).get("view") or {}).get("gateway_id")
    for i in items:
        i["decisions"] = decisions.get(f"{gw}/{i['id']}", []) if gw else []
    if as_json:
        click.echo(json.dumps(items, sort_keys=True, ensure_ascii=False))
        return
    if not items:
        click.echo(_("no disputes or confirmations"))
    for i in items:
        click.echo(_line(i))


# A bank's decision is a code in the JSON; its display text is translated where shown.
_DECISIONS = (N_("accepted"), N_("rejected"))


def _line(i: dict[str, Any]) -> str:
    signed = (_("batch {seq}").format(seq=i["signed_in_batch"]) if i["signed_in_batch"] is not None
              else _("not yet signed"))
    if i["action"] == "confirm":
        return _("#{id} confirmation of the measures in force ({made_at}; {signed}) {note}").format(
            id=i["id"], made_at=i["made_at"], signed=signed, note=i["note"]).rstrip()
    what = _("explain ({reason})").format(reason=i["reason"]) if i["action"] == "explain" else _("contest")
    status = "; ".join(f"{d['bank']}: {_(d['decision'])}" + (f" ({d['reason']})" if d.get("reason") else "")
                       for d in i["decisions"]) or _("open")
    return _("#{id} {what} finding {finding} ({made_at}; {signed}) status: {status}; note: {note}").format(
        id=i["id"], what=what, finding=str(i["finding"])[:16], made_at=i["made_at"], signed=signed, status=status,
        note=i["note"]).rstrip()
