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

The unit is rendered by the same code as the gateway's (gateway/wire/systemd_unit.py, in the wire package
because that is the one part of the gateway the receiver may import); the steps that install it are here.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from gateway.wire.systemd_unit import (
    N_,
    InstallError,
    Sandbox,
    Step,
    Unit,
    Words,
    check_target,
    enable_steps,
    managed_dir,
    run,
    unit_writer,
    useradd,
)
from gateway.wire.systemd_unit import under as _under

__all__ = ["SERVICE_NAME", "InstallError", "ReceiverService", "Step", "plan", "render_unit"]
from cloud_stub.texts import msg

SERVICE_NAME = "edgeproof-receiver.service"


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


def render_unit(svc: ReceiverService) -> str:
    """The unit text (gateway/wire/systemd_unit.py renders it, as it does the gateway's). Every directory
    option is derived from the paths, so the two cannot disagree."""
    return Unit(
        comments=["Written by `edgeproof cloud install-service`. Secrets (EDGEPROOF_METRICS_TOKEN, PGPASSWORD) "
                  "belong in", f"{svc.env_file} (mode 0600, root), not here."],
        description="EdgeProof receiver (ingest, verification, bank feed, alert delivery)",
        documentation="https://github.com/edgeproof/edgeproof/blob/main/docs/receiver.md",
        wants="network-online.target",
        after="network-online.target postgresql.service mosquitto.service",
        user=svc.user,
        run=[f"EnvironmentFile=-{svc.env_file}", "Environment=PYTHONUNBUFFERED=1",
             f"ExecStart={shlex.join(svc.argv())}"],
        directories=[
            *managed_dir("StateDirectory", svc.state_dir, "/var/lib/", "0700"),
            *(managed_dir("LogsDirectory", svc.log_dir, "/var/log/", "0700") if svc.access_log else []),
            *[ln for ln in managed_dir("ConfigurationDirectory", svc.config_dir, "/etc/", "0750")
              if not ln.startswith("ReadWritePaths=")],
        ],
        sandbox=Sandbox(capabilities=["CAP_NET_BIND_SERVICE"] if svc.port < 1024 else [], capabilities_first=True),
        memory_max=svc.memory_max,
    ).render()


def _has_user(root: Path, user: str) -> bool:
    try:
        return any(line.split(":", 1)[0] == user for line in _under(root, "/etc/passwd").read_text().splitlines())
    except OSError:
        return False


def plan(root: Path, svc: ReceiverService, enable: bool = True, start: bool | None = None,
         force: bool = False) -> list[Step]:
    """The steps, in order; raises InstallError for what must be fixed first. Under a root other than ``/``
    nothing touches the running system (useradd --prefix; the enable symlink written directly)."""
    root = Path(root)
    live = root.resolve() == Path("/")
    start = live if start is None else start
    check_target(root, svc.exec_path, live=live, venv=Words(N_("of the receiver's venv")),
                 venv_hint=Words(N_("make the venv under /opt (see docs/receiver.md, 'Running as a service')")))
    for flag, path in (("--tls-cert", svc.tls_cert), ("--tls-key", svc.tls_key)):
        if path and str(path).startswith(("/home/", "/root/", "/tmp/")):
            raise InstallError(msg("{flag} {path}: the service cannot read /home, /root or /tmp; put it under "
                                   "{config_dir}", flag=flag, path=path, config_dir=svc.config_dir))
    steps: list[Step] = []
    if not _has_user(root, svc.user):
        cmd = useradd(root, live=live, user=svc.user, home=svc.state_dir, comment="EdgeProof receiver")
        steps.append(Step(f"create system user {svc.user} (no login shell): {shlex.join(cmd)}", lambda: run(cmd)))
    else:
        steps.append(Step(f"user {svc.user} exists: keep it", lambda: None))
    unit_path, write_unit = unit_writer(root, SERVICE_NAME, render_unit(svc), force)
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
    if enable:
        steps += enable_steps(root, SERVICE_NAME, live=live, start=start,
                              describe_link=lambda link, target: f"enable: link {link} -> {target}")
    return steps
