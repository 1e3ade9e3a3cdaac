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
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.i18n import N_, _
from gateway.service.unit import DEVICE_GROUPS, SERVICE_NAME, ServiceConfig, render_unit
from gateway.user_error import UserError


class InstallError(UserError, RuntimeError):
    """The installation cannot go ahead; the message says what to do."""


@dataclass
class Step:
    what: str
    do: Callable[[], None]


def _under(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


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


def _run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise InstallError(N_("{value} failed ({returncode}): {value2}"),
                           value=' '.join(cmd), returncode=res.returncode, value2=res.stderr.strip())


def plan(root: Path, cfg: ServiceConfig, profile_src: Path | None = None, enable: bool = True,
         start: bool | None = None, force: bool = False) -> list[Step]:
    """The steps, in order. Raises InstallError for what must be fixed first."""
    root = Path(root)
    live = root.resolve() == Path("/")
    start = live if start is None else start
    if not _under(root, "/etc/passwd").exists():
        raise InstallError(N_("{value} not found: --root must be an OS root tree"), value=_under(root, '/etc/passwd'))
    exe = Path(cfg.exec_path)
    if live and not (exe.exists() and os.access(exe, os.X_OK)):
        raise InstallError(N_("{exe} is not an executable: pass --exec with the edgeproof in the gateway's venv"),
                           exe=exe)
    if str(exe).startswith(("/home/", "/root/")):
        raise InstallError(N_("{exe} is under /home or /root, which the service cannot see (ProtectHome=yes): make "
                              "the venv under /opt/edgeproof (see docs/installers.md)"), exe=exe)
    steps: list[Step] = []
    user = cfg.user
    state = _under(root, cfg.state_dir)
    confdir = _under(root, cfg.config_dir)
    profile_dst = _under(root, cfg.profile_path)
    unit_path = _under(root, f"/etc/systemd/system/{SERVICE_NAME}")
    unit_text = render_unit(cfg)

    def ids() -> tuple[int, int]:
        found = _passwd_entry(root, user)
        if found is None:
            raise InstallError(N_("user {user} not found in {value}"), user=user, value=_under(root, '/etc/passwd'))
        return found

    if _passwd_entry(root, user) is None:
        cmd = ["useradd", "--system", "--user-group", "--home-dir", cfg.state_dir, "--no-create-home",
               "--shell", "/usr/sbin/nologin", "--comment", "EdgeProof gateway", user]
        if not live:
            cmd[1:1] = ["--prefix", str(root)]
        if shutil.which("useradd") is None:
            raise InstallError(N_("useradd not found (install the 'passwd' package)"))
        steps.append(Step(_("create system user {user} (home {home}, no login shell): {command}").format(
            user=user, home=cfg.state_dir, command=shlex.join(cmd)),
                          lambda: _run(cmd)))
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

    if unit_path.exists() and not force and unit_path.read_text() != unit_text:
        raise InstallError(N_("{unit_path} exists with other content: pass --force to replace it"), unit_path=unit_path)

    def write_unit() -> None:
        unit_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = unit_path.with_suffix(".tmp")
        tmp.write_text(unit_text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, unit_path)

    steps.append(Step(_("write {path}").format(path=unit_path), write_unit))
    if enable and live:
        steps.append(Step("systemctl daemon-reload", lambda: _run(["systemctl", "daemon-reload"])))
        cmd = ["systemctl", "enable", *(["--now"] if start else []), SERVICE_NAME]
        steps.append(Step(" ".join(cmd), lambda: _run(cmd)))
    elif enable:
        wants = _under(root, f"/etc/systemd/system/multi-user.target.wants/{SERVICE_NAME}")

        def link() -> None:
            wants.parent.mkdir(parents=True, exist_ok=True)
            if wants.is_symlink() or wants.exists():
                wants.unlink()
            wants.symlink_to(f"/etc/systemd/system/{SERVICE_NAME}")

        steps.append(Step(_("enable: link {link} -> {target} (starts at the next boot of that system)").format(
            link=wants, target=f"/etc/systemd/system/{SERVICE_NAME}"), link))
    return steps


def apply(steps: list[Step]) -> None:
    for s in steps:
        s.do()
