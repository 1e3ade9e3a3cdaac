"""The systemd unit for `edgeproof run`: a dedicated user, restart policy, hardening.

Hardening is chosen for what the gateway really touches, and no further, because a
unit that breaks serial, I2C or the clock reading on site is worse than a looser one:
* ProtectSystem=strict + StateDirectory: only /var/lib/edgeproof is writable.
* No ProtectClock: it filters adjtimex(2), which the gateway calls read-only to record
  whether the clock is NTP-synchronised in every batch.
* No MemoryDenyWriteExecute: ctypes (the clock check) and TFLite need writable+exec pages.
* No PrivateDevices/DevicePolicy: serial adapters, /dev/i2c-*, GPIO and cameras are
  reached through the supplementary groups (dialout, i2c, gpio, video) instead.
* CapabilityBoundingSet empty: the status page binds a port above 1024.
* With signed updates (``update_root``), ExecStartPre runs `edgeproof update resume` before every
  start: "+" runs it outside the sandbox (the update root under /opt is read-only to the service),
  "-" lets the service start whatever `current` is even if resume cannot read its journal. It runs
  from <update_root>/stable (the last version that passed its health check), not current: a new
  version too broken to start its own `edgeproof` is still rolled back.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

SERVICE_NAME = "edgeproof.service"
# Groups that give access to the buses on Raspberry Pi OS / Jetson Linux; only those
# that exist on the target are used (a missing group makes systemd refuse to start).
DEVICE_GROUPS = ("dialout", "i2c", "gpio", "spi", "video")


@dataclass
class ServiceConfig:
    exec_path: str
    user: str = "edgeproof"
    state_dir: str = "/var/lib/edgeproof"
    config_dir: str = "/etc/edgeproof"
    profile_name: str = "profile.toml"
    groups: list[str] = field(default_factory=list)
    memory_max: str | None = None
    restart_sec: int = 5
    # The update root (versions/ + current, see gateway/update) when the gateway is updated by
    # signed bundles; exec_path is then <update_root>/current/bin/edgeproof.
    update_root: str | None = None

    @property
    def profile_path(self) -> str:
        return f"{self.config_dir}/{self.profile_name}"


def _resume_cmd(update_root: str) -> str:
    return shlex.join([f"{update_root}/stable/bin/edgeproof", "update", "resume", "--root", update_root])


def render_unit(cfg: ServiceConfig) -> str:
    state_name = cfg.state_dir.removeprefix("/var/lib/")
    config_name = cfg.config_dir.removeprefix("/etc/")
    run = " ".join(shlex.quote(x) for x in (cfg.exec_path, "run", "--state", cfg.state_dir,
                                            "--profile", cfg.profile_path))
    lines = [
        "# Written by `edgeproof install-service`. Edit the profile, not this file; then",
        "# `systemctl reload edgeproof` (the profile is validated before it replaces the running one).",
        "[Unit]",
        "Description=EdgeProof gateway (signed production indicators)",
        "Documentation=https://github.com/edgeproof/edgeproof/blob/main/docs/installers.md",
        "Wants=network-online.target time-sync.target",
        "After=network-online.target time-sync.target",
        # Never give up restarting: a gateway on site has nobody to press a button.
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
        f"User={cfg.user}",
        f"Group={cfg.user}",
    ]
    if cfg.groups:
        lines.append(f"SupplementaryGroups={' '.join(cfg.groups)}")
    lines += [
        f"Environment=EDGEPROOF_STATE={cfg.state_dir}",
        f"Environment=EDGEPROOF_PROFILE={cfg.profile_path}",
        "Environment=PYTHONUNBUFFERED=1",
        *([f"ExecStartPre=-+{_resume_cmd(cfg.update_root)}"] if cfg.update_root else []),
        f"ExecStart={run}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=always",
        f"RestartSec={cfg.restart_sec}",
        "TimeoutStopSec=30",
        "KillSignal=SIGTERM",
        f"StateDirectory={state_name}" if cfg.state_dir.startswith("/var/lib/") else f"ReadWritePaths={cfg.state_dir}",
        "StateDirectoryMode=0700",
    ]
    if cfg.config_dir.startswith("/etc/"):
        lines += [f"ConfigurationDirectory={config_name}", "ConfigurationDirectoryMode=0750"]
    lines += [
        "UMask=0077",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectHostname=yes",
        "RestrictSUIDSGID=yes",
        "RestrictRealtime=yes",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "SystemCallArchitectures=native",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
    ]
    if cfg.memory_max:
        lines.append(f"MemoryMax={cfg.memory_max}")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)
