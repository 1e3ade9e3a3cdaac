"""`edgeproof install-service`: run the gateway under systemd as a dedicated user.

Writes the unit (restart policy, hardening), creates the user, the state directory
(/var/lib/edgeproof) and the config directory (/etc/edgeproof), installs the profile and
enables the service. ``--dry-run`` prints the unit and every step without doing any;
``--root DIR`` installs into another root tree (a mounted SD card image, or a test).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from gateway.i18n import _, render
from gateway.service.install import InstallError, apply, existing_groups, plan
from gateway.service.unit import DEVICE_GROUPS, ServiceConfig, render_unit


def default_exec() -> str:
    """The `edgeproof` script beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "edgeproof"
    if beside.exists():
        return str(beside)
    return shutil.which("edgeproof") or str(beside)


@click.command("install-service", help=_("Install the gateway as a systemd service (restart policy, own user, "
                                            "hardening)."))
@click.option("--root", "root", type=click.Path(file_okay=False, path_type=Path), default=Path("/"),
              show_default=True, help=_("Install into this root tree instead of the running system."))
@click.option("--profile", "-p", "profile", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help=_("Profile to install as /etc/edgeproof/profile.toml (validated first)."))
@click.option("--user", default="edgeproof", show_default=True, help=_("Dedicated system user."))
@click.option("--state-dir", default="/var/lib/edgeproof", show_default=True)
@click.option("--config-dir", default="/etc/edgeproof", show_default=True)
@click.option("--exec", "exec_path", default=None, help=_("edgeproof executable (default: this venv's)."))
@click.option("--update-root", default=None, help=_("Update root of signed updates (e.g. /opt/edgeproof): the unit "
              "runs <root>/current/bin/edgeproof and `edgeproof update resume` before every start."))
@click.option("--memory-max", default=None, help=_("systemd MemoryMax= (e.g. 400M on a Pi Zero 2 W)."))
@click.option("--enable/--no-enable", default=True, show_default=True, help=_("Enable the service."))
@click.option("--start/--no-start", default=None, help=_("Start it now (default: yes on the live system)."))
@click.option("--force", is_flag=True, help=_("Replace an existing unit or profile that differs."))
@click.option("--dry-run", is_flag=True, help=_("Print the unit and the steps; change nothing."))
def command(root: Path, profile: Path | None, user: str, state_dir: str, config_dir: str, exec_path: str | None,
            update_root: str | None, memory_max: str | None, enable: bool, start: bool | None, force: bool,
            dry_run: bool) -> None:
    """Install the gateway as a systemd service (restart policy, own user, hardening)."""
    if profile is not None:
        from gateway.commands.run import validate_profile
        from gateway.profile import ProfileError

        try:
            validate_profile(profile)
        except ProfileError as exc:
            raise click.ClickException(_("profile error: {error}").format(error=render(exc))) from exc
    groups = existing_groups(root) if root.exists() else []
    if update_root is not None:
        update_root = update_root.rstrip("/")
        exec_path = exec_path or f"{update_root}/current/bin/edgeproof"
    cfg = ServiceConfig(exec_path=exec_path or default_exec(), user=user, state_dir=state_dir.rstrip("/"),
                        config_dir=config_dir.rstrip("/"), groups=groups, memory_max=memory_max,
                        update_root=update_root)
    if not dry_run and os.geteuid() != 0:
        raise click.ClickException(_("install-service needs root (sudo), or use --dry-run to see what it would do"))
    try:
        steps = plan(root, cfg, profile, enable, start, force)
    except InstallError as exc:
        if not dry_run:
            raise click.ClickException(render(exc)) from exc
        click.echo("# " + _("would stop here: {error}").format(error=render(exc)), err=True)
        steps = []
    if dry_run:
        missing = [g for g in DEVICE_GROUPS if g not in groups]
        click.echo("# " + _("dry run: nothing is changed (root {root})").format(root=root))
        click.echo("# " + _("unit {path}:").format(path="/etc/systemd/system/edgeproof.service"))
        click.echo(render_unit(cfg))
        if missing:
            click.echo("# " + _("groups not on this system, left out of SupplementaryGroups: {groups}").format(
                groups=", ".join(missing)))
        click.echo("# " + _("steps:"))
        for i, s in enumerate(steps, 1):
            click.echo(f"{i}. {s.what}")
        return
    try:
        for s in steps:
            click.echo(f"- {s.what}")
            apply([s])
    except (InstallError, OSError) as exc:
        raise click.ClickException(render(exc)) from exc
    click.echo(_("installed. Check with: systemctl status edgeproof; edgeproof status; journalctl -u edgeproof -f")
               if root.resolve() == Path("/") else _("installed into {root}").format(root=root))
