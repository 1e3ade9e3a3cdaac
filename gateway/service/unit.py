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

from gateway.wire.systemd_unit import Sandbox, Unit, managed_dir

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
    """The gateway's unit (gateway/wire/systemd_unit.py renders it, as it does the receiver's)."""
    run = " ".join(shlex.quote(x) for x in (cfg.exec_path, "run", "--state", cfg.state_dir,
                                            "--profile", cfg.profile_path))
    config_dir = managed_dir("ConfigurationDirectory", cfg.config_dir, "/etc/", "0750")
    return Unit(
        comments=["Written by `edgeproof install-service`. Edit the profile, not this file; then",
                  "`systemctl reload edgeproof` (the profile is validated before it replaces the running one)."],
        description="EdgeProof gateway (signed production indicators)",
        documentation="https://github.com/edgeproof/edgeproof/blob/main/docs/installers.md",
        wants="network-online.target time-sync.target",
        after="network-online.target time-sync.target",
        user=cfg.user,
        run=[
            *([f"SupplementaryGroups={' '.join(cfg.groups)}"] if cfg.groups else []),
            f"Environment=EDGEPROOF_STATE={cfg.state_dir}",
            f"Environment=EDGEPROOF_PROFILE={cfg.profile_path}",
            "Environment=PYTHONUNBUFFERED=1",
            *([f"ExecStartPre=-+{_resume_cmd(cfg.update_root)}"] if cfg.update_root else []),
            f"ExecStart={run}",
            "ExecReload=/bin/kill -HUP $MAINPID",
        ],
        restart_sec=cfg.restart_sec,
        directories=[*managed_dir("StateDirectory", cfg.state_dir, "/var/lib/", "0700"),
                     *(config_dir if config_dir[0].startswith("ConfigurationDirectory=") else [])],
        # Devices and the clock stay reachable (see the module docstring); no system-call filter, no
        # ProtectProc, no RemoveIPC: the gateway has always run without them, and TFLite, ctypes and the
        # serial stack have not been checked under them.
        sandbox=Sandbox(devices=True, clock=True, address_families="AF_UNIX AF_INET AF_INET6 AF_NETLINK",
                        hide_processes=False, remove_ipc=False, syscall_filter=False),
        memory_max=cfg.memory_max,
    ).render()
