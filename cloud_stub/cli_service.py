"""`edgeproof cloud install-service`: run the receiver under systemd as a dedicated user, hardened.

``--dry-run`` prints the unit and every step without doing any; ``--root DIR`` installs into
another root tree (an image being built, or a test). See cloud_stub/service.py for the unit.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from cloud_stub.i18n import _, text


def _default_exec() -> str:
    beside = Path(sys.executable).parent / "edgeproof"
    return str(beside) if beside.exists() else (shutil.which("edgeproof") or str(beside))


@click.command("install-service", help=_("Install the receiver as a systemd service (own user, restart policy, "
                                           "hardening)."))
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("/"), show_default=True,
              help=_("Install into this root tree instead of the running system."))
@click.option("--user", default="edgeproof-receiver", show_default=True, help=_("Dedicated system user."))
@click.option("--state-dir", default="/var/lib/edgeproof-receiver", show_default=True,
              help=_("Database (SQLite) and receiver key live here (0700)."))
@click.option("--config-dir", default="/etc/edgeproof-receiver", show_default=True)
@click.option("--db", default=None, help=_("Default: STATE_DIR/receiver.db; or postgresql://user@host/db (password "
                                         "in the env file as PGPASSWORD)."))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8600, show_default=True, type=click.IntRange(1, 65535))
@click.option("--mqtt", default=None, metavar="HOST:PORT")
@click.option("--tls-cert", default=None, help=_("PEM certificate path as the service will see it."))
@click.option("--tls-key", default=None, help=_("PEM key path as the service will see it (readable by the user)."))
@click.option("--no-access-log", is_flag=True, help=_("Do not write the JSON access log under /var/log."))
@click.option("--exec", "exec_path", default=None, help=_("edgeproof executable (default: this venv's)."))
@click.option("--memory-max", default=None, help=_("systemd MemoryMax= (e.g. 2G)."))
@click.option("--enable/--no-enable", default=True, show_default=True)
@click.option("--start/--no-start", default=None, help=_("Start it now (default: yes on the live system)."))
@click.option("--force", is_flag=True, help=_("Replace an existing unit that differs."))
@click.option("--dry-run", is_flag=True, help=_("Print the unit and the steps; change nothing."))
def install_service(root: Path, user: str, state_dir: str, config_dir: str, db: str | None, host: str, port: int,
                    mqtt: str | None, tls_cert: str | None, tls_key: str | None, no_access_log: bool,
                    exec_path: str | None, memory_max: str | None, enable: bool, start: bool | None, force: bool,
                    dry_run: bool) -> None:
    """Install the receiver as a systemd service (own user, restart policy, hardening)."""
    from cloud_stub.service import SERVICE_NAME, InstallError, ReceiverService, plan, render_unit

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError(_("--tls-cert and --tls-key go together"))
    if db and "://" in db and "@" in db.split("://", 1)[1].split("/", 1)[0] and ":" in \
            db.split("://", 1)[1].split("@", 1)[0]:
        raise click.BadParameter(_("put the password in the env file as PGPASSWORD, not in the URL (the unit is "
                                   "world-readable)"), param_hint="--db")
    svc = ReceiverService(exec_path=exec_path or _default_exec(), user=user, state_dir=state_dir.rstrip("/"),
                          config_dir=config_dir.rstrip("/"), db=db, host=host, port=port, mqtt=mqtt,
                          tls_cert=tls_cert, tls_key=tls_key, access_log=not no_access_log, memory_max=memory_max)
    if not dry_run and os.geteuid() != 0:
        raise click.ClickException(_("install-service needs root (sudo), or use --dry-run to see what it would do"))
    try:
        steps = plan(root, svc, enable, start, force)
    except InstallError as exc:
        if not dry_run:
            raise click.ClickException(text(exc)) from exc
        click.echo(_("# would stop here: {error}").format(error=text(exc)), err=True)
        steps = []
    if dry_run:
        click.echo(_("# dry run: nothing is changed (root {root})").format(root=root))
        click.echo(_("# unit /etc/systemd/system/{name}:").format(name=SERVICE_NAME) + "\n" + render_unit(svc))
        click.echo(_("# steps:"))
        for i, s in enumerate(steps, 1):
            click.echo(f"{i}. {s.what}")
        return
    try:
        for s in steps:
            click.echo(f"- {s.what}")
            s.do()
    except (InstallError, OSError) as exc:
        raise click.ClickException(text(exc)) from exc
    click.echo(_("installed {name}; logs: journalctl -u {name}").format(name=SERVICE_NAME))
