"""`edgeproof consent show|revoke|grant`: the enterprise changes its authorisation on site.

A revoke takes effect at the running gateway's next packing step (seconds): the named
categories are held on site from then on and a signed consent record tells the bank.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from gateway.commands._common import get_profile, get_state, profile_option, state_option
from gateway.commands.audit import _db_option, store_path
from gateway.i18n import N_, _, render
from gateway.store import Store

# Local change actions are stored codes; this is how they read (``_(action)``).
ACTION_TEXTS = (N_("grant"), N_("revoke"), N_("release"))


def _check(categories: tuple[str, ...]) -> None:
    """Refuse a category the gateway does not make (exit 2 with the list of known ones)."""
    from gateway.consent.policy import check_categories
    from gateway.profile import ProfileError

    try:
        check_categories(list(categories), "(command line)", "CATEGORIES")
    except ProfileError as exc:
        raise click.BadParameter(render(exc.detail), param_hint="CATEGORIES") from exc


def _open(state_dir: Path | None, profile: str | None, db: Path | None) -> Store:
    return Store(store_path(state_dir, profile, db), "FULL")


@click.group("consent", help=_("Which indicator categories may leave this site, to which receiver, until when."))
def command() -> None:
    """Which indicator categories may leave this site, to which receiver, until when."""


@command.command("show", help=_("The authorisation in force now: declared grants plus changes made on site."))
@state_option
@profile_option
@_db_option
@click.option("--receiver", default=None, help=_("Uplink destination name to evaluate for (default: any)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
def show(state_dir: Path | None, profile: str | None, db: Path | None, receiver: str | None, as_json: bool) -> None:
    """The authorisation in force now: declared grants plus changes made on site."""
    from gateway.consent.policy import evaluate, load_consent, local_changes
    from gateway.profile import ProfileError

    prof = get_profile(profile)
    if not prof.consent:
        click.echo(_("the profile has no [consent] section: every category may leave (development profile)"))
        return
    try:
        _cfg, grants = load_consent(prof.consent, get_state(state_dir))
    except ProfileError as exc:
        raise click.ClickException(_("profile error: {error}").format(error=render(exc))) from exc
    st = _open(state_dir, profile, db)
    try:
        changes = local_changes(st)
    finally:
        st.close()
    auth = evaluate(grants, changes, time.time(), receiver or "*")
    state = auth.state()
    if as_json:
        click.echo(json.dumps(state, sort_keys=True))
        return
    click.echo(_("allowed: {categories}").format(categories=", ".join(state["allowed"]) or _("(nothing)")))
    if state["denied"]:
        click.echo(_("revoked on site: {categories}").format(categories=", ".join(state["denied"])))
    click.echo(_("until: {until}").format(until=state["until"] or _("no end date")))
    for r in state["recipients"]:  # what the receiver will serve each bank (docs/privacy-consent.md)
        agreement = _(", agreement sha256 {digest}...").format(digest=r["agreement_sha256"][:16]) \
            if r["agreement_sha256"] else ""
        purpose = _(" for {purpose}").format(purpose=repr(r["purpose"])) if r["purpose"] else ""
        click.echo("  " + _("to {bank}: {categories}").format(
            bank=_("any bank") if r["to"] == "*" else r["to"],
            categories=", ".join(r["categories"]) or _("(nothing)")) + purpose + agreement)
    for ch in changes:
        click.echo("  " + _("change #{id}: {action} {categories} at {time}").format(
            id=ch.id, action=_(ch.action), categories=sorted(ch.categories),
            time=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ch.at)) + "Z") + f" {ch.note}")


@command.command("revoke", help=_("Stop CATEGORIES (or '*') from leaving, from now on."))
@state_option
@profile_option
@_db_option
@click.argument("categories", nargs=-1, required=True)
@click.option("--note", default="", help=_("Why (kept in the audit log)."))
def revoke(state_dir: Path | None, profile: str | None, db: Path | None, categories: tuple[str, ...],
           note: str) -> None:
    """Stop CATEGORIES (or '*') from leaving, from now on."""
    from gateway.consent.policy import add_local_change

    _check(categories)
    st = _open(state_dir, profile, db)
    try:
        cid = add_local_change(st, "revoke", list(categories), note=note)
    finally:
        st.close()
    click.echo(_("revoked {categories} (change #{id}); the gateway holds them from its next step").format(
        categories=", ".join(categories), id=cid))


@command.command("grant", help=_("Authorise CATEGORIES from now on (lifts an earlier revocation of them)."))
@state_option
@profile_option
@_db_option
@click.argument("categories", nargs=-1, required=True)
@click.option("--receiver", default="*", show_default=True, help=_("Uplink destination pattern."))
@click.option("--until", "until", default=None, help=_("ISO 8601 end, e.g. 2027-06-30T00:00:00Z."))
@click.option("--note", default="", help=_("Why (kept in the audit log)."))
def grant(state_dir: Path | None, profile: str | None, db: Path | None, categories: tuple[str, ...],
          receiver: str, until: str | None, note: str) -> None:
    """Authorise CATEGORIES from now on (lifts an earlier revocation of them)."""
    from gateway.consent.policy import add_local_change, to_epoch
    from gateway.profile import ProfileError

    try:
        end = to_epoch(until, "(command line)", "--until")
    except ProfileError as exc:
        raise click.BadParameter(render(exc)) from exc
    _check(categories)
    st = _open(state_dir, profile, db)
    try:
        cid = add_local_change(st, "grant", list(categories), receiver=receiver, until=end, note=note)
    finally:
        st.close()
    click.echo(_("granted {categories} (change #{id})").format(categories=", ".join(categories), id=cid))


@command.command("release", help=_("Put indicators of CATEGORIES held for consent back in line; only what is "
                                    "authorised when the gateway next packs will leave."))
@state_option
@profile_option
@_db_option
@click.argument("categories", nargs=-1, required=True)
@click.option("--note", default="", help=_("Why (kept in the audit log)."))
def release(state_dir: Path | None, profile: str | None, db: Path | None, categories: tuple[str, ...],
            note: str) -> None:
    """Put indicators of CATEGORIES held for consent back in line; only what is authorised
    when the gateway next packs will leave."""
    from gateway.consent.policy import release_held

    _check(categories)
    st = _open(state_dir, profile, db)
    try:
        n = release_held(st, list(categories), note)
    finally:
        st.close()
    click.echo(_("released {n} held indicators of {categories}").format(n=n, categories=", ".join(categories)))
