"""What `edgeproof install-service` does, as a list of steps that can be printed (dry run)
or applied, under ``/`` or under another root directory (an SD card image mounted on a
laptop, or a temporary tree in tests).

Under a root other than ``/`` nothing touches the running system: the user is added to
ROOT/etc/passwd with ``useradd --prefix``, and the service is enabled by the same
symlink `systemctl enable` makes, without talking to systemd.
"""

from __future__ import annotations

import filecmp
import os
import shlex
import shutil
from pathlib import Path

from gateway.i18n import N_, _
from gateway.service.unit import DEVICE_GROUPS, SERVICE_NAME, ServiceConfig, render_unit
from gateway.wire.systemd_unit import (
    InstallError,
    Step,
    Words,
    check_target,
    enable_steps,
    run,
    unit_writer,
    useradd,
)
from gateway.wire.systemd_unit import under as _under

__all__ = ["InstallError", "Step", "apply", "existing_groups", "plan"]


def _passwd_entry(root: Path, user: str) -> tuple[int, int] | None:
    try:
        for line in _under(root, "/etc/passwd").read_text().splitlines():
            parts = line.split(":")
            if len(parts) >= 4 and parts[0] == user:
                return int(parts[2]), int(parts[3])
    except OSError:
        return None
    return None


def existing_groups(root: Path, wanted: tuple[str, ...] = DEVICE_GROUPS) -> list[str]:
    try:
        names = {line.split(":", 1)[0] for line in _under(root, "/etc/group").read_text().splitlines() if line}
    except OSError:
        return []
    return [g for g in wanted if g in names]


def plan(root: Path, cfg: ServiceConfig, profile_src: Path | None = None, enable: bool = True,
         start: bool | None = None, force: bool = False) -> list[Step]:
    """The steps, in order. Raises InstallError for what must be fixed first."""
    root = Path(root)
    live = root.resolve() == Path("/")
    start = live if start is None else start
    check_target(root, cfg.exec_path, live=live, venv=Words(N_("in the gateway's venv")),
                 venv_hint=Words(N_("make the venv under /opt/edgeproof (see docs/installers.md)")))
    steps: list[Step] = []
    user = cfg.user
    state = _under(root, cfg.state_dir)
    confdir = _under(root, cfg.config_dir)
    profile_dst = _under(root, cfg.profile_path)

    def ids() -> tuple[int, int]:
        found = _passwd_entry(root, user)
        if found is None:
            raise InstallError(N_("user {user} not found in {value}"), user=user, value=_under(root, '/etc/passwd'))
        return found

    if _passwd_entry(root, user) is None:
        cmd = useradd(root, live=live, user=user, home=cfg.state_dir, comment="EdgeProof gateway")
        steps.append(Step(_("create system user {user} (home {home}, no login shell): {command}").format(
            user=user, home=cfg.state_dir, command=shlex.join(cmd)),
                          lambda: run(cmd)))
    else:
        steps.append(Step(_("user {user} exists: keep it").format(user=user), lambda: None))

    def make_state() -> None:
        uid, gid = ids()
        state.mkdir(parents=True, exist_ok=True)
        os.chmod(state, 0o700)
        os.chown(state, uid, gid)
        for dirpath, dirnames, filenames in os.walk(state):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)

    steps.append(Step(_("create {state} (mode 0700, owner {user}); files already there (a key made by "
                        "`edgeproof init` as root) are given to {user}").format(state=state, user=user), make_state))

    def make_conf() -> None:
        _uid, gid = ids()
        confdir.mkdir(parents=True, exist_ok=True)
        os.chmod(confdir, 0o750)
        os.chown(confdir, 0, gid)

    steps.append(Step(_("create {dir} (mode 0750, root:{user})").format(dir=confdir, user=user), make_conf))
    if profile_src is not None:
        if profile_dst.exists() and not force and not filecmp.cmp(profile_src, profile_dst, shallow=False):
            raise InstallError(N_("{profile_dst} exists and differs from {profile_src}: pass --force to replace it"),
                               profile_dst=profile_dst, profile_src=profile_src)

        def copy_profile() -> None:
            _uid, gid = ids()
            tmp = profile_dst.with_suffix(".tmp")
            shutil.copyfile(profile_src, tmp)
            os.chmod(tmp, 0o640)
            os.chown(tmp, 0, gid)
            os.replace(tmp, profile_dst)

        steps.append(Step(_("install profile {src} as {dst} (mode 0640, root:{user})").format(
            src=profile_src, dst=profile_dst, user=user), copy_profile))
    elif not profile_dst.exists():
        start = False
        steps.append(Step(_("no profile at {path}: copy one there (or pass --profile); the service is not "
                            "started until it exists").format(path=profile_dst), lambda: None))

    if not (state / "gateway.key").exists():
        start = False
        steps.append(Step(_("no key in {state} yet: run `edgeproof init --state {state_dir}` and `edgeproof "
                            "enroll`, then `systemctl start edgeproof` (not started now)").format(
            state=state, state_dir=cfg.state_dir), lambda: None))

    unit_path, write_unit = unit_writer(root, SERVICE_NAME, render_unit(cfg), force)
    steps.append(Step(_("write {path}").format(path=unit_path), write_unit))
    if enable:
        steps += enable_steps(root, SERVICE_NAME, live=live, start=start, describe_link=lambda link, target: _(
            "enable: link {link} -> {target} (starts at the next boot of that system)").format(link=link,
                                                                                              target=target))
    return steps


def apply(steps: list[Step]) -> None:
    for s in steps:
        s.do()
