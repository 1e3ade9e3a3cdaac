"""`edgeproof provision --boot-dir DIR`: zero-touch first boot from a file on the boot partition.

Reads ``DIR/edgeproof-provision.toml`` (profile, receiver, one-time token, site id, locale)
and runs profile, init, enroll, probe and selftest, recording each step in
``<state>/provision.json`` (shown by `edgeproof status` and the status page). The token is
removed from the file as soon as enrollment has used it. A failed step is retried with
capped backoff (10 s doubling to 10 min; ``--max-attempts`` to stop earlier); a wrong file
is not retried: exit 2 with the file and key to fix. Run by edgeproof-provision.service.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from gateway.commands._common import get_state, state_option
from gateway.i18n import _, render

EXIT_BAD_FILE = 2


@click.command("provision", help=_(
    "Apply the boot partition's provisioning file: init, enroll, probe, selftest; then wipe the token."))
@click.option("--boot-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help=_("The boot partition holding edgeproof-provision.toml (e.g. /boot/firmware)."))
@state_option
@click.option("--config-dir", default=Path("/etc/edgeproof"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help=_("Where the profile is installed."))
@click.option("--max-attempts", default=0, show_default=True, type=click.IntRange(0),
              help=_("Stop after this many failed attempts (0: retry until it works)."))
@click.option("--backoff", "backoff_s", default=10.0, show_default=True, type=click.FloatRange(0.01),
              help=_("First wait between attempts, doubled each time."))
@click.option("--backoff-max", "backoff_max_s", default=600.0, show_default=True, type=click.FloatRange(0.01),
              help=_("Longest wait between attempts."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
def command(boot_dir: Path, state_dir: Path | None, config_dir: Path, max_attempts: int, backoff_s: float,
            backoff_max_s: float, as_json: bool) -> None:
    """Apply the boot partition's provisioning file: init, enroll, probe, selftest; then wipe the token."""
    import os

    from gateway.logs import setup_logging
    from gateway.provision.config import PROVISION_FILE, ProvisionFileError
    from gateway.provision.state import summary_line
    from gateway.provision.steps import Paths, already_done, run_with_retries

    setup_logging(os.environ.get("EDGEPROOF_LOG_LEVEL", "WARNING"))  # one JSON object per line in the journal
    paths = Paths(boot_dir / PROVISION_FILE, get_state(state_dir), config_dir)
    done = already_done(paths)
    if done is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(done.get("finished_at") or 0))
        click.echo(json.dumps(done, sort_keys=True) if as_json
                   else _("already provisioned at {when}: nothing to do").format(when=when))
        return
    if not paths.boot_file.exists():
        raise click.ClickException(_("{file}: (file): not found; expected the provisioning file").format(
            file=paths.boot_file))

    def say(wait: float) -> None:
        from gateway.provision.state import read_provision_state

        doc = read_provision_state(paths.state_dir) or {}
        click.echo(_("provisioning: {summary}; retrying in {wait:.0f} s").format(summary=summary_line(doc), wait=wait),
                   err=True)
        time.sleep(wait)

    try:
        doc = run_with_retries(paths, base_s=backoff_s, max_s=backoff_max_s, max_attempts=max_attempts, sleep=say)
    except ProvisionFileError as exc:
        click.echo(_("Error: provisioning file: {error}").format(error=render(exc)), err=True)
        sys.exit(EXIT_BAD_FILE)
    if as_json:
        click.echo(json.dumps(doc, sort_keys=True))
    else:
        for s in doc["steps"]:
            click.echo(f"{s['status']:<8} {s['name']:<9} {s['message']}")
        click.echo(_("provisioning {summary}").format(summary=summary_line(doc)))
    sys.exit(0 if doc["status"] == "done" else 1)
