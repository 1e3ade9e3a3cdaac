"""`edgeproof declare add|list|withdraw`: the enterprise declares planned downtime, maintenance,
stocktakes and holidays.

A declaration is signed into the gateway's chain at the running gateway's next packing step
(seconds) and reaches the bank whatever the consent categories; the receiver's rules treat
declared periods as expected, and a rule of their own watches declarations that keep
coinciding with anomalies. Nothing is deleted: `withdraw` signs a withdrawal.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from gateway.commands._common import get_profile, get_state, profile_option, state_option
from gateway.commands.audit import _db_option, store_path
from gateway.declarations.model import KINDS, DeclarationError
from gateway.i18n import N_, _, render
from gateway.store import Store

# Declaration kinds are codes (signed, in JSON); this is how they read (``_(kind)``).
KIND_TEXTS = (N_("planned_downtime"), N_("maintenance"), N_("stocktake"), N_("holiday"))


def _open(state_dir: Path | None, profile: str | None, db: Path | None) -> Store:
    return Store(store_path(state_dir, profile, db), "FULL")


def _note_token(state_dir: Path | None, profile: str | None, note: str) -> str | None:
    """The keyed token of a note (the note itself stays on site; see docs/privacy-consent.md)."""
    if not note:
        return None
    from gateway.privacy.policy import load_privacy
    from gateway.privacy.tokens import site_tokeniser

    privacy = load_privacy(get_profile(profile).privacy)
    return site_tokeniser(get_state(state_dir), privacy.key_file).token("note", note)


@click.group("declare", help=_("Declared events (planned downtime, maintenance, stocktake, holiday), signed for "
                                "the bank."))
def command() -> None:
    """Declared events (planned downtime, maintenance, stocktake, holiday), signed for the bank."""


@command.command("add", help=_("Declare KIND from --from to --to; made ahead of time or after the fact (the "
                                "record says when)."))
@state_option
@profile_option
@_db_option
@click.option("--kind", required=True, type=click.Choice(KINDS), help=_("What the period is."))
@click.option("--from", "start", required=True, help=_("Start, ISO 8601 with offset (2026-10-01T00:00:00+08:00) "
                                                       "or a date (midnight in the site's time zone)."))
@click.option("--to", "end", required=True, help=_("End (exclusive), same forms as --from."))
@click.option("--assets", default=None, help=_("Comma-separated devices/assets it concerns (default: the whole "
                                                       "site)."))
@click.option("--note", default="", help=_("Why (kept on site; only a keyed token of it is sent)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
def add(state_dir: Path | None, profile: str | None, db: Path | None, kind: str, start: str, end: str,
        assets: str | None, note: str, as_json: bool) -> None:
    """Declare KIND from --from to --to; made ahead of time or after the fact (the record says when)."""
    from zoneinfo import ZoneInfo

    from gateway.declarations import ledger
    from gateway.declarations.model import parse

    try:
        decl = parse(kind, start, end, assets, note, ZoneInfo(get_profile(profile).site.timezone))
    except DeclarationError as exc:
        raise click.BadParameter(render(exc.detail), param_hint=f"--{exc.key}") from exc
    token = _note_token(state_dir, profile, note)
    now = time.time()
    st = _open(state_dir, profile, db)
    try:
        did = ledger.add(st, decl, declared_at=now, note_token=token)
        item = next(i for i in ledger.listing(st) if i["id"] == did)
    finally:
        st.close()
    if as_json:
        click.echo(json.dumps(item, sort_keys=True, ensure_ascii=False))
        return
    when = _("after the fact") if decl.start < now else _("in advance")
    msg = _("declared #{id}: {kind} {start} .. {end} ({assets}), {when}; signed at the gateway's next step")
    click.echo(msg.format(
        id=did, kind=_(kind), start=item["from"], end=item["to"], assets=", ".join(decl.assets) or _("whole site"),
        when=when))


@command.command("list", help=_("Every declaration and withdrawal made on this gateway, and whether it is signed "
                                 "yet."))
@state_option
@profile_option
@_db_option
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
def list_(state_dir: Path | None, profile: str | None, db: Path | None, as_json: bool) -> None:
    """Every declaration and withdrawal made on this gateway, and whether it is signed yet."""
    from gateway.declarations import ledger

    st = _open(state_dir, profile, db)
    try:
        items = ledger.listing(st)
    finally:
        st.close()
    if as_json:
        click.echo(json.dumps(items, sort_keys=True, ensure_ascii=False))
        return
    if not items:
        click.echo(_("no declarations"))
    for i in items:
        click.echo(_line(i))


def _line(i: dict[str, Any]) -> str:
    signed = (_("batch {seq}").format(seq=i["signed_in_batch"]) if i["signed_in_batch"] is not None
              else _("not yet signed"))
    if i["action"] == "withdraw":
        return (f"#{i['id']} " + _("withdraws #{id} (declared {at}; {signed})").format(
            id=i["withdraws"], at=i["declared_at"], signed=signed) + f" {i['note']}").rstrip()
    state = _(", withdrawn by #{id}").format(id=i["withdrawn_by"]) if i["withdrawn_by"] else ""
    return (f"#{i['id']} {_(i['kind'])} {i['from']} .. {i['to']} {','.join(i['assets']) or _('whole site')} "
            + _("(declared {at}; {signed}{state})").format(at=i["declared_at"], signed=signed, state=state)
            + f" {i['note']}").rstrip()


@command.command("withdraw", help=_("Withdraw declaration DECLARATION_ID: a signed withdrawal, the declaration "
                                     "stays in the chain."))
@state_option
@profile_option
@_db_option
@click.argument("declaration_id", type=int)
@click.option("--note", default="", help=_("Why (kept on site)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
def withdraw(state_dir: Path | None, profile: str | None, db: Path | None, declaration_id: int, note: str,
             as_json: bool) -> None:
    """Withdraw declaration DECLARATION_ID: a signed withdrawal, the declaration stays in the chain."""
    from gateway.declarations import ledger

    token = _note_token(state_dir, profile, note)
    st = _open(state_dir, profile, db)
    try:
        wid = ledger.withdraw(st, declaration_id, note=note, note_token=token)
    except DeclarationError as exc:
        raise click.BadParameter(render(exc.detail), param_hint="DECLARATION_ID") from exc
    finally:
        st.close()
    if as_json:
        click.echo(json.dumps({"id": wid, "withdraws": declaration_id}, sort_keys=True))
        return
    click.echo(_("withdrawal #{id} of declaration #{declaration}; signed at the gateway's next step").format(
        id=wid, declaration=declaration_id))
