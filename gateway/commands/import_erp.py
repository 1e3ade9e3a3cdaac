"""`edgeproof import-erp`: run the profile's MES/ERP connectors once and report, by hand.

For the installer checking a column mapping against a real export, and for the enterprise
re-reading a corrected export without waiting for the gateway's next scan. Quarantined
lines are listed with their line number and reason so the export can be fixed at source.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gateway.commands._common import get_profile, get_state, profile_option, state_option
from gateway.connectors import reasons
from gateway.i18n import N_, _, render

# A connector run's status is a code (--json); this is how it reads (``_(status)``).
STATUS_TEXTS = (N_("imported"), N_("unchanged"), N_("failed"))


@click.command("import-erp", help=_("Import new exports now, recompute enterprise indicators, print what was read "
                                    "and quarantined."))
@state_option
@profile_option
@click.option("--connector", "only", multiple=True, help=_("Only this connector (repeatable)."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON report per source."))
def command(state_dir: Path | None, profile: str | None, only: tuple[str, ...], as_json: bool) -> None:
    """Import new exports now, recompute enterprise indicators, print what was read and quarantined."""
    from gateway.connectors.runner import ConnectorRunner
    from gateway.profile import ProfileError
    from gateway.store import Store

    prof = get_profile(profile)
    if not prof.connectors:
        raise click.ClickException(_("the profile declares no [[connectors]]"))
    state = get_state(state_dir)
    p = Path(prof.store.path)
    st = Store(p if p.is_absolute() else state / p, prof.store.synchronous)
    try:
        try:
            runner = ConnectorRunner(prof, state, st, settle_s=0.0)
        except ProfileError as exc:
            raise click.ClickException(_("profile error: {error}").format(error=render(exc))) from exc
        if only:
            unknown = sorted(set(only) - {c.name for c in runner.cfgs})
            if unknown:
                raise click.ClickException(_("no connector {unknown}; known: {known}").format(
                    unknown=unknown, known=[c.name for c in runner.cfgs]))
            runner.cfgs = [c for c in runner.cfgs if c.name in only]
        reports = runner.run_once(force=True)
    finally:
        st.close()
    failed = False
    for r in reports:
        failed |= r.status == "failed"
        if as_json:
            click.echo(json.dumps(r.as_dict(), ensure_ascii=False, sort_keys=True))
            continue
        error = render(r.error_detail) if r.error_detail is not None else r.error
        click.echo(f"{r.connector}: {r.source}: {_(r.status)}" + (f" ({error})" if error else ""))
        if r.status == "imported":
            n_quarantined = r.quarantined_count or len(r.quarantined)
            click.echo("  " + _("rows {ok} ok, {quarantined} quarantined; added {added}, changed {changed}, removed "
                                "{removed}, unchanged {unchanged}").format(
                ok=r.rows_ok, quarantined=n_quarantined, added=r.added, changed=r.changed, removed=r.removed,
                unchanged=r.unchanged))
        for line, reason in r.quarantined[:50]:
            click.echo("  " + _("line {line}: {reason}").format(line=line, reason=render(reasons.reason(reason))))
        total = r.quarantined_count or len(r.quarantined)
        if total > 50:
            click.echo("  " + _("... {n} more").format(n=total - 50))
    sys.exit(1 if failed else 0)
