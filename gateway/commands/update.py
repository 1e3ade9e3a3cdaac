"""`edgeproof update`: signed updates on the gateway, with automatic rollback.

    edgeproof update pin-key release.key.pub     # at install: the only key whose bundles are accepted
    edgeproof update apply /media/usb/edgeproof-0.2.0.bundle
    edgeproof update resume                      # ExecStartPre: finish or roll back an interrupted update
    edgeproof update status --json               # {current, previous, last_event}

Versions live side by side under the update root (default $EDGEPROOF_UPDATE_ROOT or /opt/edgeproof):
versions/<version>/ and a `current` link the service runs. See docs/installers.md, "Updates".
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from gateway.commands._common import get_state, state_option
from gateway.i18n import _, render


def root_option(f):  # type: ignore[no-untyped-def]
    return click.option("--root", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help=_("Update root holding versions/ and current (default: $EDGEPROOF_UPDATE_ROOT or "
                             "/opt/edgeproof)."))(f)


def key_option(f):  # type: ignore[no-untyped-def]
    return click.option("--pinned-key", "pinned_key", type=click.Path(dir_okay=False, path_type=Path),
                        default=None, help=_("Pinned release public key (default: <state>/release.pub)."))(f)


def _root(root: Path | None) -> Path:
    from gateway.update.switch import default_root

    return root or default_root()


def _pinned(pinned_key: Path | None, state: Path) -> Path:
    from gateway.update.release_key import PINNED_KEY_FILE

    return pinned_key or state / PINNED_KEY_FILE


@click.group("update", help=_(
    "Apply signed release bundles; roll back by itself when the new version is unhealthy."))
def command() -> None:
    """Apply signed release bundles; roll back by itself when the new version is unhealthy."""


@command.command("pin-key", help=_(
    "Pin the release public key (from `edgeproof release keygen`) on this gateway."))
@click.argument("public_key", type=click.Path(dir_okay=False, path_type=Path))
@state_option
@key_option
@click.option("--replace", is_flag=True, help=_("Replace a different pinned key (a release key rotation)."))
def pin_key(public_key: Path, state_dir: Path | None, pinned_key: Path | None, replace: bool) -> None:
    """Pin the release public key (from `edgeproof release keygen`) on this gateway."""
    from gateway.update.errors import UpdateError
    from gateway.update.release_key import key_id, pin

    dest = _pinned(pinned_key, get_state(state_dir))
    try:
        public = pin(public_key, dest, replace)
    except (UpdateError, OSError) as exc:
        raise click.ClickException(render(exc)) from exc
    click.echo(_("pinned release key {kid} at {path}").format(kid=key_id(bytes(public)), path=dest))


def apply_options(f):  # type: ignore[no-untyped-def]
    """The options of a verified install, shared by `apply` (a file) and `fetch --apply` (the receiver)."""
    for opt in reversed([
        state_option, root_option, key_option,
        click.option("--allow-downgrade", is_flag=True, help=_("Accept a bundle older than the running version.")),
        click.option("--ack-deadline", type=float, default=600.0, show_default=True,
                     help=_("Seconds the new version has to get a batch acknowledged (0: no uplink, selftest only).")),
        click.option("--selftest-timeout", type=float, default=300.0, show_default=True),
        click.option("--selftest-args", default="", help=_("Extra arguments for the new version's selftest "
                     "(e.g. '--profile /etc/edgeproof/profile.toml').")),
        click.option("--restart-cmd", default=None, help=_("Command that restarts the service after a switch "
                     "(default: 'systemctl try-restart edgeproof.service' under systemd, none otherwise).")),
        click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON.")),
    ]):
        f = opt(f)
    return f


def _apply(bundle: Path, state_dir: Path | None, root: Path | None, pinned_key: Path | None,
           allow_downgrade: bool, ack_deadline: float, selftest_timeout: float, selftest_args: str,
           restart_cmd: str | None, as_json: bool) -> None:
    from gateway.update.errors import UpdateError
    from gateway.update.updater import Options, apply

    state = get_state(state_dir)
    if restart_cmd is None:
        restart = ("systemctl", "try-restart", "edgeproof.service") if Path("/run/systemd/system").is_dir() else None
    else:
        restart = tuple(shlex.split(restart_cmd)) or None
    opts = Options(root=_root(root), state=state, pinned_key=_pinned(pinned_key, state),
                   allow_downgrade=allow_downgrade, ack_deadline_s=ack_deadline, selftest_timeout_s=selftest_timeout,
                   selftest_args=tuple(shlex.split(selftest_args)), restart=restart)
    try:
        out = apply(bundle, opts)
    except UpdateError as exc:
        raise click.ClickException(_("update refused: {error}").format(error=render(exc))) from exc
    except OSError as exc:  # e.g. the update root is not writable (not root), or the disk is full
        raise click.ClickException(_("update failed: {error}; if an update was under way, `edgeproof update resume` "
                                     "finishes it").format(error=render(exc))) from exc
    if as_json:
        click.echo(json.dumps(out, sort_keys=True))
    elif out["result"] == "ok":
        click.echo(_("updated {old} -> {new}: {reason}").format(old=out["from"] or _("(none)"), new=out["version"],
                                                                reason=out["reason"]))
    else:
        click.echo(f"{out['version']} {out['result']}: {out['reason']}")
    if out["result"] != "ok":
        sys.exit(1)


@command.command("apply", help=_(
    "Verify BUNDLE (e.g. from a USB stick), install it beside the running version, switch, check health, "
    "and roll back by itself if unhealthy."))
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@apply_options
def apply_cmd(bundle: Path, **kw: object) -> None:
    """Verify BUNDLE (e.g. from a USB stick), install it beside the running version, switch, check
    health, and roll back by itself if unhealthy."""
    _apply(bundle, **kw)  # type: ignore[arg-type]


@command.command("fetch", help=_(
    "Fetch the latest release bundle for this gateway from its receiver (signed request), then apply it."))
@click.option("--apply/--no-apply", "and_apply", default=True, show_default=True,
              help=_("Apply the fetched bundle (as `update apply`); --no-apply only downloads it."))
@apply_options
def fetch_cmd(and_apply: bool, **kw: object) -> None:
    """Fetch the latest release bundle for this gateway from its receiver (signed request), then apply it."""
    from gateway.update.errors import UpdateError
    from gateway.update.fetch import fetch_latest
    from gateway.update.switch import current_version

    root = _root(kw["root"])  # type: ignore[arg-type]
    try:
        path = fetch_latest(get_state(kw["state_dir"]), root, current_version(root))  # type: ignore[arg-type]
    except UpdateError as exc:
        raise click.ClickException(render(exc)) from exc
    if path is None:
        click.echo(json.dumps({"result": "none"}) if kw["as_json"] else
                   _("no release newer than {version} on the receiver").format(
                       version=current_version(root) or _("(none)")))
        return
    if not and_apply:
        click.echo(json.dumps({"result": "fetched", "bundle": str(path)}) if kw["as_json"]
                   else _("fetched {path}").format(path=path))
        return
    _apply(path, **kw)  # type: ignore[arg-type]


@command.command("resume", help=_(
    "Finish an interrupted update (run by the service before every start; does nothing otherwise)."))
@root_option
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
def resume_cmd(root: Path | None, as_json: bool) -> None:
    """Finish an interrupted update (run by the service before every start; does nothing otherwise)."""
    from gateway.update.errors import UpdateError
    from gateway.update.updater import resume

    try:
        out = resume(_root(root))
    except (UpdateError, OSError) as exc:
        raise click.ClickException(render(exc)) from exc
    if as_json:
        click.echo(json.dumps(out, sort_keys=True))
    elif out["resumed"]:
        click.echo(_("update {reason}: rolled back, {current} is current").format(
            reason=out["reason"], current=out["current"] or _("(none)")))
    elif out.get("busy"):
        click.echo(_("an update is running (it restarted the service); left to finish, {current} is current").format(
            current=out["current"]))
    else:
        click.echo(_("no interrupted update; {current} is current").format(current=out["current"] or _("(no version)")))


@command.command("status", help=_(
    "The current and previous versions and the last update event."))
@root_option
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
def status_cmd(root: Path | None, as_json: bool) -> None:
    """The current and previous versions and the last update event."""
    from gateway.update.journal import update_summary

    out = update_summary(_root(root))
    if as_json:
        click.echo(json.dumps(out, sort_keys=True))
        return
    ev = out["last_event"]
    click.echo(_("current {current}, previous {previous}").format(current=out["current"] or _("(none)"),
                                                                   previous=out["previous"] or _("(none)")))
    if ev:
        click.echo(_("last: {kind} {version} {result} at {time}").format(
            kind=ev["kind"], version=ev["version"] or "", result=ev["result"], time=ev["time"])
                   + (f": {ev['reason']}" if ev["reason"] else ""))
