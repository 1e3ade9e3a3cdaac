"""One systemd-unit renderer for the gateway (`edgeproof install-service`, the .deb) and the receiver
(`edgeproof cloud install-service`).

Both run as a dedicated system user, restart forever (a gateway on site has nobody to press a button; a
receiver must come back after a crash under load) and share one sandbox base; each adds what it needs or can
give up. The gateway keeps its devices and the clock (serial, I2C, GPIO, cameras; adjtimex read-only); the
receiver gives up devices, the clock, the view of other processes and most system calls.

This lives in the wire package only because that is the one part of the gateway the receiver may import (the
import-linter allow-list, ARCHITECTURE.md); like the rest of the package it needs only the standard library,
and imports nothing else of the project. It only renders text: the install steps stay with each command.

The output is compared byte for byte with an installed unit (a re-install with other content needs --force),
so the order of lines is part of the contract: change it only with a reason.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# The sandbox every EdgeProof service runs in, in the order the units have always listed it.
_BASE = ("UMask=0077", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes")
_NO_DEVICES = ("PrivateDevices=yes", "DevicePolicy=closed")
_KERNEL = ("ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes",
           "ProtectControlGroups=yes", "ProtectHostname=yes")
_NO_PROCS = ("ProtectProc=invisible", "ProcSubset=pid")
_RESTRICT = ("RestrictSUIDSGID=yes", "RestrictRealtime=yes", "RestrictNamespaces=yes", "LockPersonality=yes")
_SYSCALL_FILTER = ("SystemCallFilter=@system-service", "SystemCallFilter=~@privileged", "SystemCallErrorNumber=EPERM")


@dataclass(frozen=True)
class Sandbox:
    """What a service may still do beyond the common base. The defaults are the strictest."""

    devices: bool = False  # serial, I2C, GPIO, cameras (through supplementary groups): no PrivateDevices
    clock: bool = False  # adjtimex(2) readable: no ProtectClock (it filters the call)
    address_families: str = "AF_UNIX AF_INET AF_INET6"
    capabilities: Sequence[str] = ()  # e.g. CAP_NET_BIND_SERVICE for a port below 1024
    capabilities_first: bool = False  # where the capability lines stand (kept as each unit always had them)
    hide_processes: bool = True  # ProtectProc=invisible, ProcSubset=pid
    remove_ipc: bool = True
    syscall_filter: bool = True  # @system-service minus @privileged

    def lines(self) -> list[str]:
        caps = " ".join(self.capabilities)
        cap_lines = [f"CapabilityBoundingSet={caps}", f"AmbientCapabilities={caps}"]
        out = [*(cap_lines if self.capabilities_first else []), *_BASE]
        out += [] if self.devices else list(_NO_DEVICES)
        out += [] if self.clock else ["ProtectClock=yes"]
        out += [*_KERNEL, *(_NO_PROCS if self.hide_processes else ()), *_RESTRICT]
        out += ["RemoveIPC=yes"] if self.remove_ipc else []
        out += [f"RestrictAddressFamilies={self.address_families}", "SystemCallArchitectures=native"]
        out += list(_SYSCALL_FILTER) if self.syscall_filter else []
        return out + ([] if self.capabilities_first else cap_lines)


def managed_dir(kind: str, path: str, base: str, mode: str) -> list[str]:
    """``StateDirectory=name`` + its mode when ``path`` lies under systemd's base for that kind (/var/lib,
    /var/log, /etc), so systemd creates it for the service user at every start; else ``ReadWritePaths=path``
    (a directory outside the base is the administrator's: systemd only lets the service write there)."""
    name = path.removeprefix(base)
    if path.startswith(base) and name:
        return [f"{kind}={name}", f"{kind}Mode={mode}"]
    return [f"ReadWritePaths={path}"]


@dataclass
class Unit:
    """One service's unit. ``run`` holds the lines between ``Group=`` and the restart policy (environment,
    ExecStartPre, ExecStart, ExecReload); ``directories`` those between the policy and the sandbox."""

    comments: Sequence[str]
    description: str
    documentation: str
    wants: str
    after: str
    user: str
    run: Sequence[str]
    sandbox: Sandbox
    directories: Sequence[str] = ()
    restart_sec: int = 5
    memory_max: str | None = None

    def render(self) -> str:
        lines = [f"# {c}" for c in self.comments]
        lines += [
            "[Unit]",
            f"Description={self.description}",
            f"Documentation={self.documentation}",
            f"Wants={self.wants}",
            f"After={self.after}",
            # Never give up restarting: nobody is there to press a button.
            "StartLimitIntervalSec=0",
            "",
            "[Service]",
            "Type=simple",
            f"User={self.user}",
            f"Group={self.user}",
            *self.run,
            "Restart=always",
            f"RestartSec={self.restart_sec}",
            "TimeoutStopSec=30",
            "KillSignal=SIGTERM",
            *self.directories,
            *self.sandbox.lines(),
            *([f"MemoryMax={self.memory_max}"] if self.memory_max else []),
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
        return "\n".join(lines)


# -- installing a unit (both `install-service` commands) ---------------------------------------------------


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name, which the extractor looks for
    """Mark a message template for extraction (both catalogs extract this module; docs/i18n.md)."""
    return message


class Words:
    """A marked text and its values: ``str()`` is the English; the gateway (``gateway.i18n.render``) and the
    receiver (``cloud_stub.texts.render``) translate it by its ``template`` where a person reads it. The wire
    package imports nothing else of the project, so it carries templates rather than calling a catalog."""

    def __init__(self, template: str, /, **params: object) -> None:
        self.template, self.params = template, params

    def __str__(self) -> str:
        return self.template.format(**{k: str(v) for k, v in self.params.items()})


class InstallError(RuntimeError):
    """The installation cannot go ahead; the message says what to do (English ``str()``, its template and
    values kept for the reader's language)."""

    def __init__(self, template: str, /, **params: object) -> None:
        self.template, self.params = template, params
        super().__init__(str(Words(template, **params)))


@dataclass
class Step:
    """One thing an installation does: printed by a dry run, run otherwise."""

    what: str
    do: Callable[[], None]


def under(root: Path, path: str) -> Path:
    """``path`` of the installed system, inside the root tree being installed into."""
    return root / path.lstrip("/")


def run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise InstallError(N_("{command} failed ({returncode}): {stderr}"), command=shlex.join(cmd),
                           returncode=res.returncode, stderr=res.stderr.strip())


def check_target(root: Path, exec_path: str, *, live: bool, venv: Words, venv_hint: Words) -> None:
    """Refuse a root that is not an OS tree, an executable that is not one (on the live system), and one under
    /home or /root, which ProtectHome hides from the service. ``venv`` names whose venv, ``venv_hint`` where to
    make one instead."""
    if not under(root, "/etc/passwd").exists():
        raise InstallError(N_("{path} not found: --root must be an OS root tree"), path=under(root, "/etc/passwd"))
    exe = Path(exec_path)
    if live and not (exe.exists() and os.access(exe, os.X_OK)):
        raise InstallError(N_("{exe} is not an executable: pass --exec with the edgeproof {venv}"), exe=exe, venv=venv)
    if str(exe).startswith(("/home/", "/root/")):
        raise InstallError(N_("{exe} is under /home or /root, which the service cannot see (ProtectHome=yes): "
                              "{hint}"), exe=exe, hint=venv_hint)


def useradd(root: Path, *, live: bool, user: str, home: str, comment: str) -> list[str]:
    """The command that makes the service's system user (no login shell, no home made); under another root
    it writes that tree's /etc/passwd (``--prefix``)."""
    cmd = ["useradd", "--system", "--user-group", "--home-dir", home, "--no-create-home",
           "--shell", "/usr/sbin/nologin", "--comment", comment, user]
    if not live:
        cmd[1:1] = ["--prefix", str(root)]
    if shutil.which("useradd") is None:
        raise InstallError(N_("useradd not found (install the 'passwd' package)"))
    return cmd


def unit_writer(root: Path, name: str, text: str, force: bool) -> tuple[Path, Callable[[], None]]:
    """Where the unit goes and the step that writes it atomically (0644). An existing unit with other content
    is replaced only with ``force``: someone may have edited it."""
    path = under(root, f"/etc/systemd/system/{name}")
    if path.exists() and not force and path.read_text() != text:
        raise InstallError(N_("{path} exists with other content: pass --force to replace it"), path=path)

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    return path, write


def enable_steps(root: Path, name: str, *, live: bool, start: bool,
                 describe_link: Callable[[Path, str], str]) -> list[Step]:
    """Enable the unit: through systemd on the live system (and start it if ``start``), else by the symlink
    ``systemctl enable`` would make, without talking to systemd."""
    if live:
        cmd = ["systemctl", "enable", *(["--now"] if start else []), name]
        return [Step("systemctl daemon-reload", lambda: run(["systemctl", "daemon-reload"])),
                Step(" ".join(cmd), lambda: run(cmd))]
    wants = under(root, f"/etc/systemd/system/multi-user.target.wants/{name}")
    target = f"/etc/systemd/system/{name}"

    def link() -> None:
        wants.parent.mkdir(parents=True, exist_ok=True)
        if wants.is_symlink() or wants.exists():
            wants.unlink()
        wants.symlink_to(target)

    return [Step(describe_link(wants, target), link)]
