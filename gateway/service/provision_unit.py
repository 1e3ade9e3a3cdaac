"""The first-boot provisioning unit, and the drop-in that orders the gateway after it.

`edgeproof-provision.service` runs `edgeproof provision` once per boot while a provisioning
file sits on the boot partition. It is a oneshot that loops inside the command with capped
backoff until every step passes (systemd 252, in Debian 12 and Raspberry Pi OS Bookworm, has
no growing RestartSec for oneshots), so the gateway service, ordered after it, starts with a
key, an enrollment and a profile, or not at all. It runs as root: it writes /etc/edgeproof,
the state directory and the boot partition; the gateway itself runs as its own user.
"""

from __future__ import annotations

import shlex

PROVISION_SERVICE = "edgeproof-provision.service"
BOOT_DIR = "/boot/firmware"
PROVISION_FILE = "edgeproof-provision.toml"
# Written by provisioning into the config directory: the gateway service's LANG/LANGUAGE.
ENVIRONMENT_FILE = "environment"


def render_provision_unit(exec_path: str, boot_dir: str = BOOT_DIR, state_dir: str = "/var/lib/edgeproof",
                          config_dir: str = "/etc/edgeproof") -> str:
    cmd = shlex.join([exec_path, "provision", "--boot-dir", boot_dir, "--state", state_dir,
                      "--config-dir", config_dir])
    return "\n".join([
        "# Installed with the edgeproof package. Applies the provisioning file on the boot partition",
        "# (init, enroll, probe, selftest; docs/installers.md), then wipes its token.",
        "[Unit]",
        "Description=EdgeProof first-boot provisioning",
        "Documentation=https://github.com/edgeproof/edgeproof/blob/main/docs/installers.md",
        f"ConditionPathExists={boot_dir}/{PROVISION_FILE}",
        "Wants=network-online.target time-sync.target",
        "After=network-online.target time-sync.target",
        "Before=edgeproof.service",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        # The command retries with capped backoff itself; a long outage must not time it out.
        "TimeoutStartSec=infinity",
        "Environment=PYTHONUNBUFFERED=1",
        f"ExecStart={cmd}",
        "UMask=0077",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def render_gateway_dropin(state_dir: str = "/var/lib/edgeproof", config_dir: str = "/etc/edgeproof",
                          profile_name: str = "profile.toml") -> str:
    """What the package adds to the unit `install-service` writes: wait for provisioning, and do not
    start (and restart every 5 s forever) before there is a key and a profile."""
    return "\n".join([
        "# Installed with the edgeproof package: the gateway starts after first-boot provisioning,",
        "# and only once `edgeproof init` (or provisioning) made a key and a profile is in place.",
        "[Unit]",
        f"After={PROVISION_SERVICE}",
        f"ConditionPathExists={state_dir}/gateway.key",
        f"ConditionPathExists={config_dir}/{profile_name}",
        "",
        "[Service]",
        # The locale provisioning chose (LANG=...); read at each start, so no daemon-reload is needed.
        f"EnvironmentFile=-{config_dir}/{ENVIRONMENT_FILE}",
        "",
    ])
