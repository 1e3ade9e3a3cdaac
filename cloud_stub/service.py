"""The systemd unit for the receiver (`edgeproof cloud install-service`) and the steps that install it.

Modelled on the gateway's (gateway/service/), but the receiver touches much less, so it is
locked down further: no devices at all (PrivateDevices), no clock changes (ProtectClock), a
system-call allow-list (@system-service), no view of other processes (ProtectProc=invisible),
its own writable state directory (/var/lib/edgeproof-receiver, 0700: the database and the
receiver key) and log directory (the JSON access log). Secrets that must not sit on the command
line (EDGEPROOF_METRICS_TOKEN, PGPASSWORD) go in an optional EnvironmentFile readable by root only
(systemd reads it before dropping privileges).

Left out on purpose: MemoryDenyWriteExecute (cffi/ctypes callbacks, used by PyNaCl and psycopg's
dependencies, need writable+executable pages) and a port below 1024 without a capability: the
receiver listens on 8600 by default; for 443 put a reverse proxy in front (docs/receiver.md) or
pass --port 443, which adds CAP_NET_BIND_SERVICE and nothing else.

The receiver imports only the wire format of the gateway (ARCHITECTURE.md), so this is a small
copy of the gateway's approach, not an import of gateway.service.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cloud_stub.texts import msg

SERVICE_NAME = "edgeproof-receiver.service"


class InstallError(RuntimeError):
    """The installation cannot go ahead; the message says what to do."""


@dataclass
class ReceiverService:
    exec_path: str
    user: str = "edgeproof-receiver"
    state_dir: str = "/var/lib/edgeproof-receiver"
    config_dir: str = "/etc/edgeproof-receiver"
    log_dir: str = "/var/log/edgeproof-receiver"
    db: str | None = None  # default: STATE/receiver.db; or a postgresql:// URL (no password in it)
    host: str = "127.0.0.1"
    port: int = 8600
    mqtt: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    access_log: bool = True
    extra_args: list[str] = field(default_factory=list)
    memory_max: str | None = None

    @property
    def db_target(self) -> str:
        return self.db or f"{self.state_dir}/receiver.db"

    @property
    def key_path(self) -> str:
        return f"{self.state_dir}/receiver.key"

    @property
    def env_file(self) -> str:
        return f"{self.config_dir}/receiver.env"

    def argv(self) -> list[str]:
        args = [self.exec_path, "cloud", "serve", "--db", self.db_target, "--key", self.key_path,
                "--host", self.host, "--port", str(self.port)]
        if self.mqtt:
            args += ["--mqtt", self.mqtt]
        if self.tls_cert and self.tls_key:
            args += ["--tls-cert", self.tls_cert, "--tls-key", self.tls_key]
        if self.access_log:
            args += ["--access-log", f"{self.log_dir}/access.log"]
        return args + self.extra_args


def _dir_name(path: str, prefix: str) -> str | None:
    return path.removeprefix(prefix) if path.startswith(prefix) and "/" not in path.removeprefix(prefix) else None


def render_unit(svc: ReceiverService) -> str:
    """The unit text. Every directory option is derived from the paths, so the two cannot disagree."""
    state = _dir_name(svc.state_dir, "/var/lib/")
    conf = _dir_name(svc.config_dir, "/etc/")
    logs = _dir_name(svc.log_dir, "/var/log/")
    lines = [
        "# Written by `edgeproof cloud install-service`. Secrets (EDGEPROOF_METRICS_TOKEN, PGPASSWORD) belong in",
        f"# {svc.env_file} (mode 0600, root), not here.",
        "[Unit]",
        "Description=EdgeProof receiver (ingest, verification, bank feed, alert delivery)",
        "Documentation=https://github.com/edgeproof/edgeproof/blob/main/docs/receiver.md",
        "Wants=network-online.target",
        "After=network-online.target postgresql.service mosquitto.service",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
        f"User={svc.user}",
        f"Group={svc.user}",
        f"EnvironmentFile=-{svc.env_file}",
        "Environment=PYTHONUNBUFFERED=1",
        f"ExecStart={shlex.join(svc.argv())}",
        "Restart=always",
        "RestartSec=5",
        "TimeoutStopSec=30",
        "KillSignal=SIGTERM",
    ]
    lines += [f"StateDirectory={state}", "StateDirectoryMode=0700"] if state else [f"ReadWritePaths={svc.state_dir}"]
    if svc.access_log:
        lines += [f"LogsDirectory={logs}", "LogsDirectoryMode=0700"] if logs else [f"ReadWritePaths={svc.log_dir}"]
    if conf:
        lines += [f"ConfigurationDirectory={conf}", "ConfigurationDirectoryMode=0750"]
    if svc.port < 1024:
        lines += ["CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "AmbientCapabilities=CAP_NET_BIND_SERVICE"]
    else:
        lines += ["CapabilityBoundingSet=", "AmbientCapabilities="]
    lines += [
        "UMask=0077",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "DevicePolicy=closed",
        "ProtectClock=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "RestrictSUIDSGID=yes",
        "RestrictRealtime=yes",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged",
        "SystemCallErrorNumber=EPERM",
    ]
    if svc.memory_max:
        lines.append(f"MemoryMax={svc.memory_max}")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


@dataclass
class Step:
    what: str
    do: Callable[[], None]


def _under(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def _has_user(root: Path, user: str) -> bool:
    try:
        return any(line.split(":", 1)[0] == user for line in _under(root, "/etc/passwd").read_text().splitlines())
    except OSError:
        return False


def _run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise InstallError(msg("{items} failed ({returncode}): {strip}", items=shlex.join(cmd),
                               returncode=res.returncode, strip=res.stderr.strip()))


def plan(root: Path, svc: ReceiverService, enable: bool = True, start: bool | None = None,
         force: bool = False) -> list[Step]:
    """The steps, in order; raises InstallError for what must be fixed first. Under a root other than ``/``
    nothing touches the running system (useradd --prefix; the enable symlink written directly)."""
    root = Path(root)
    live = root.resolve() == Path("/")
    start = live if start is None else start
    if not _under(root, "/etc/passwd").exists():
        raise InstallError(msg("{under} not found: --root must be an OS root tree", under=_under(root, '/etc/passwd')))
    exe = Path(svc.exec_path)
    if live and not (exe.exists() and os.access(exe, os.X_OK)):
        raise InstallError(msg("{exe} is not an executable: pass --exec with the edgeproof of the receiver's venv",
                               exe=exe))
    if str(exe).startswith(("/home/", "/root/")):
        raise InstallError(msg("{exe} is under /home or /root, which the service cannot see (ProtectHome=yes): "
                               "make the venv under /opt (see docs/receiver.md, 'Running as a service')", exe=exe))
    for flag, path in (("--tls-cert", svc.tls_cert), ("--tls-key", svc.tls_key)):
        if path and str(path).startswith(("/home/", "/root/", "/tmp/")):
            raise InstallError(msg("{flag} {path}: the service cannot read /home, /root or /tmp; put it under "
                                   "{config_dir}", flag=flag, path=path, config_dir=svc.config_dir))
    steps: list[Step] = []
    if not _has_user(root, svc.user):
        cmd = ["useradd", "--system", "--user-group", "--home-dir", svc.state_dir, "--no-create-home",
               "--shell", "/usr/sbin/nologin", "--comment", "EdgeProof receiver", svc.user]
        if not live:
            cmd[1:1] = ["--prefix", str(root)]
        if shutil.which("useradd") is None:
            raise InstallError(msg("useradd not found (install the 'passwd' package)"))
        steps.append(Step(f"create system user {svc.user} (no login shell): {shlex.join(cmd)}", lambda: _run(cmd)))
    else:
        steps.append(Step(f"user {svc.user} exists: keep it", lambda: None))
    unit_path = _under(root, f"/etc/systemd/system/{SERVICE_NAME}")
    text = render_unit(svc)
    if unit_path.exists() and not force and unit_path.read_text() != text:
        raise InstallError(msg("{unit_path} exists with other content: pass --force to replace it",
                               unit_path=unit_path))

    def write_unit() -> None:
        unit_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = unit_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, unit_path)

    steps.append(Step(f"write {unit_path} (systemd creates {svc.state_dir} 0700 for {svc.user} at start)",
                      write_unit))
    env_file = _under(root, svc.env_file)
    if not env_file.exists():
        def write_env() -> None:
            env_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write("# EdgeProof receiver secrets (root only, mode 0600), read by systemd at start.\n"
                         "# EDGEPROOF_METRICS_TOKEN=...   # lets a remote Prometheus read /metrics\n"
                         "# PGPASSWORD=...                # for a postgresql:// --db\n")

        steps.append(Step(f"create {env_file} (mode 0600, root; commented template for secrets)", write_env))
    if enable and live:
        steps.append(Step("systemctl daemon-reload", lambda: _run(["systemctl", "daemon-reload"])))
        cmd = ["systemctl", "enable", *(["--now"] if start else []), SERVICE_NAME]
        steps.append(Step(shlex.join(cmd), lambda: _run(cmd)))
    elif enable:
        wants = _under(root, f"/etc/systemd/system/multi-user.target.wants/{SERVICE_NAME}")

        def link() -> None:
            wants.parent.mkdir(parents=True, exist_ok=True)
            if wants.is_symlink() or wants.exists():
                wants.unlink()
            wants.symlink_to(f"/etc/systemd/system/{SERVICE_NAME}")

        steps.append(Step(f"enable: link {wants} -> /etc/systemd/system/{SERVICE_NAME}", link))
    return steps
