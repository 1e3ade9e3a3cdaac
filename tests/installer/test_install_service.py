"""`edgeproof install-service`: the unit's content, a dry run that changes nothing, and a
real run into a temporary root tree (user, directories, profile, unit, enablement)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.profile.load import PROFILE_DIR
from gateway.service.unit import ServiceConfig, render_unit

EDGEPROOF = str(Path(sys.executable).parent / "edgeproof")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="a real install (chown, useradd --prefix) needs root")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EDGEPROOF, "install-service", *args], capture_output=True, text=True, timeout=60)


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\ndialout:x:20:\nvideo:x:44:\ni2c:x:998:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/gshadow").write_text("root:*::\n")
    for f in ("shadow", "gshadow"):
        os.chmod(root / "etc" / f, 0o640)
    return root


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_unit_rendering():
    unit = render_unit(ServiceConfig(exec_path="/opt/edgeproof/bin/edgeproof", groups=["dialout", "i2c"],
                                     memory_max="400M"))
    lines = set(unit.splitlines())
    for want in ("User=edgeproof", "Group=edgeproof", "SupplementaryGroups=dialout i2c", "Restart=always",
                 "RestartSec=5", "StartLimitIntervalSec=0", "StateDirectory=edgeproof",
                 "ConfigurationDirectory=edgeproof", "ProtectSystem=strict", "ProtectHome=yes",
                 "NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet=", "MemoryMax=400M",
                 "ExecReload=/bin/kill -HUP $MAINPID", "WantedBy=multi-user.target",
                 "ExecStart=/opt/edgeproof/bin/edgeproof run --state /var/lib/edgeproof "
                 "--profile /etc/edgeproof/profile.toml"):
        assert want in lines, want
    # Hardening that would break the gateway on site is left out on purpose.
    assert "ProtectClock=yes" not in lines and "MemoryDenyWriteExecute=yes" not in lines


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_every_directive(tmp_path):
    unit = tmp_path / "edgeproof.service"
    unit.write_text(render_unit(ServiceConfig(exec_path=EDGEPROOF, groups=["dialout"])))
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    mine = [ln for ln in (res.stdout + res.stderr).splitlines() if "edgeproof.service" in ln]
    assert not [ln for ln in mine if "Unknown" in ln or "ignoring" in ln or "Invalid" in ln], mine


def test_dry_run_changes_nothing(tmp_path):
    root = make_root(tmp_path)
    before = tree(root)
    res = cli("--root", str(root), "--profile", str(PROFILE_DIR / "rpi4-rs485.toml"), "--dry-run",
              "--exec", "/opt/edgeproof/bin/edgeproof")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "[Service]" in out and "User=edgeproof" in out and "ProtectSystem=strict" in out
    assert "SupplementaryGroups=dialout i2c video" in out
    assert "useradd --prefix" in out and "create " + str(root / "var/lib/edgeproof") in out
    assert "multi-user.target.wants" in out
    assert "no key in" in out and "edgeproof init" in out  # not initialised yet: enabled, not started
    assert tree(root) == before


def test_dry_run_without_root_privileges_is_allowed_and_refuses_a_bad_profile(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('schema_version = 1\n[site]\nid = "x"\n[status]\nbind = "8.8.8.8:80"\n')
    res = cli("--dry-run", "--profile", str(bad))
    assert res.returncode != 0 and "status.bind" in res.stderr and "public address" in res.stderr


@needs_root
def test_real_install_into_a_temporary_root(tmp_path):
    root = make_root(tmp_path)
    state = root / "var/lib/edgeproof"
    state.mkdir(parents=True)
    key = state / "gateway.key"  # as `edgeproof init` run as root before install-service leaves it
    key.write_bytes(os.urandom(32))
    os.chmod(key, 0o600)
    profile = PROFILE_DIR / "rpi-zero2w-usb485.toml"
    res = cli("--root", str(root), "--profile", str(profile), "--exec", "/opt/edgeproof/bin/edgeproof",
              "--memory-max", "400M")
    assert res.returncode == 0, res.stdout + res.stderr

    entry = next(ln for ln in (root / "etc/passwd").read_text().splitlines() if ln.startswith("edgeproof:"))
    _, _, uid, gid, _, home, shell = entry.split(":")
    uid, gid = int(uid), int(gid)
    assert home == "/var/lib/edgeproof" and shell == "/usr/sbin/nologin" and uid < 1000
    assert any(ln.startswith(f"edgeproof:x:{gid}:") for ln in (root / "etc/group").read_text().splitlines())

    st = state.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, 0o700)
    assert (key.stat().st_uid, stat.S_IMODE(key.stat().st_mode)) == (uid, 0o600)
    conf = root / "etc/edgeproof"
    assert (conf.stat().st_uid, conf.stat().st_gid, stat.S_IMODE(conf.stat().st_mode)) == (0, gid, 0o750)
    installed = conf / "profile.toml"
    assert installed.read_bytes() == profile.read_bytes() and stat.S_IMODE(installed.stat().st_mode) == 0o640

    unit = root / "etc/systemd/system/edgeproof.service"
    text = unit.read_text()
    assert "MemoryMax=400M" in text and "SupplementaryGroups=dialout i2c video" in text
    link = root / "etc/systemd/system/multi-user.target.wants/edgeproof.service"
    assert link.is_symlink() and os.readlink(link) == "/etc/systemd/system/edgeproof.service"

    # Running it again is harmless (the user exists, the files are the same)...
    again = cli("--root", str(root), "--profile", str(profile), "--exec", "/opt/edgeproof/bin/edgeproof",
                "--memory-max", "400M")
    assert again.returncode == 0 and "user edgeproof exists" in again.stdout
    assert sum(ln.startswith("edgeproof:") for ln in (root / "etc/passwd").read_text().splitlines()) == 1
    # ...but it does not silently replace a profile someone edited.
    other = cli("--root", str(root), "--profile", str(PROFILE_DIR / "rpi4-rs485.toml"), "--exec",
                "/opt/edgeproof/bin/edgeproof", "--memory-max", "400M")
    assert other.returncode != 0 and "--force" in other.stderr


def test_refuses_a_venv_under_home(tmp_path):
    root = make_root(tmp_path)
    res = cli("--root", str(root), "--exec", "/home/pi/venv/bin/edgeproof")
    assert res.returncode != 0 and "ProtectHome" in res.stderr


def test_one_renderer_writes_both_units():
    """The gateway's and the receiver's units come from gateway/wire/systemd_unit.py: the common sandbox is
    the same lines in both, and each differs only where its service needs to (devices and the clock for the
    gateway; no devices, clock, other processes or privileged system calls for the receiver)."""
    from cloud_stub.service import ReceiverService
    from cloud_stub.service import render_unit as render_receiver
    from gateway.wire.systemd_unit import Sandbox

    gw = render_unit(ServiceConfig(exec_path="/opt/edgeproof/bin/edgeproof")).splitlines()
    rc = render_receiver(ReceiverService(exec_path="/opt/edgeproof/bin/edgeproof")).splitlines()
    common = ["UMask=0077", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
              "ProtectKernelTunables=yes", "ProtectHostname=yes", "RestrictSUIDSGID=yes", "LockPersonality=yes",
              "SystemCallArchitectures=native", "CapabilityBoundingSet=", "StartLimitIntervalSec=0",
              "Restart=always", "WantedBy=multi-user.target"]
    for line in common:
        assert line in gw and line in rc, line
    assert not {"PrivateDevices=yes", "ProtectClock=yes", "SystemCallFilter=@system-service"} & set(gw)
    assert {"PrivateDevices=yes", "ProtectClock=yes", "SystemCallFilter=@system-service"} <= set(rc)
    strict = Sandbox(capabilities_first=True).lines()
    assert [ln for ln in rc if ln in strict] == strict  # the receiver runs in the strictest sandbox, in order


def test_state_directory_outside_var_lib_is_only_made_writable():
    """A state directory systemd does not manage gets ReadWritePaths= and no StateDirectoryMode= (which would
    name a mode for a directory systemd does not create: the renderer used to write it anyway)."""
    lines = render_unit(ServiceConfig(exec_path="/x", state_dir="/srv/edgeproof")).splitlines()
    assert "ReadWritePaths=/srv/edgeproof" in lines
    assert not [ln for ln in lines if ln.startswith("StateDirectory")]


def test_install_errors_read_in_each_side_s_language(tmp_path):
    """The shared renderer's refusals (gateway/wire/systemd_unit.py) carry their template: the gateway renders
    them with its catalog, the receiver with its own, each naming the path; str() stays English."""
    from cloud_stub.i18n import gettext_for
    from cloud_stub.service import ReceiverService
    from cloud_stub.service import plan as receiver_plan
    from cloud_stub.texts import render as receiver_render
    from gateway.i18n import render
    from gateway.service.install import plan as gateway_plan
    from gateway.wire.systemd_unit import InstallError

    not_a_root = tmp_path / "empty"
    not_a_root.mkdir()
    with pytest.raises(InstallError) as gw:
        gateway_plan(not_a_root, ServiceConfig(exec_path="/opt/edgeproof/venv/bin/edgeproof"))
    with pytest.raises(InstallError) as rx:
        receiver_plan(not_a_root, ReceiverService(exec_path="/opt/edgeproof/venv/bin/edgeproof"))
    for exc, zh, en in ((gw.value, render(gw.value, "zh-CN"), render(gw.value, "en")),
                        (rx.value, receiver_render(rx.value, gettext_for("zh-CN")),
                         receiver_render(rx.value, gettext_for("en")))):
        assert en == str(exc) and "not found: --root must be an OS root tree" in en, en
        assert "操作系统根目录" in zh and str(not_a_root / "etc/passwd") in zh, zh
    root = make_root(tmp_path)  # a nested part (whose venv) is translated too
    with pytest.raises(InstallError) as home:
        gateway_plan(root, ServiceConfig(exec_path="/home/pi/venv/bin/edgeproof"))
    assert "ProtectHome" in str(home.value) and "/opt/edgeproof" in render(home.value, "zh-CN")
    assert "请把 venv 建在" in render(home.value, "zh-CN"), render(home.value, "zh-CN")
