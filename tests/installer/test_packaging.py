"""The Debian package's pieces and the Raspberry Pi OS image stage, without building either.

* shellcheck over every shell script we ship (scripts/, the maintainer scripts, the pi-gen stage);
* the pi-gen stage dry-run: 00-run.sh against a temporary ROOTFS_DIR with pi-gen's
  ``on_chroot`` replaced by a recorder, so what it would install is checked, no image built;
* the package's units are the ones `install-service` renders (same function), and pass
  systemd-analyze verify. The maintainer scripts act on a whole system (adduser, dpkg
  helpers): scripts/deb_install_test.sh runs them for real in a clean root (CI).

The full build + clean-root install (PyPI, mmdebstrap, minutes) is `make deb-test` in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.service.provision_unit import render_gateway_dropin, render_provision_unit
from gateway.service.unit import ServiceConfig, render_unit

REPO = Path(__file__).resolve().parents[2]
STAGE = REPO / "packaging/pi-gen/stage-edgeproof"
sys.path.insert(0, str(REPO / "scripts"))


def shell_scripts() -> list[Path]:
    found = sorted(REPO.glob("scripts/*.sh")) + sorted((REPO / "packaging/deb").iterdir())
    found += sorted(p for p in STAGE.rglob("*.sh"))
    return [p for p in found if p.is_file()]


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed; scripts/sysdeps.sh installs it")
        pytest.skip(f"{tool} is not installed (apt-get install -y {tool})")
    return path


def test_shellcheck_every_script():
    shellcheck = need("shellcheck")
    scripts = shell_scripts()
    assert len(scripts) >= 7, scripts  # the glob found them: build/install tests, maintainer scripts, stage
    res = subprocess.run([shellcheck, "--shell=bash", "--severity=style", *map(str, scripts)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def fake_deb(tmp: Path, arch: str) -> Path:
    """A real (tiny) .deb of the given architecture: what the stage checks before baking it in."""
    need("dpkg-deb")
    root = tmp / f"pkg-{arch}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(f"Package: edgeproof\nVersion: 0.1.0-1\nArchitecture: {arch}\n"
                                         "Maintainer: t <t@example.invalid>\nDescription: test\n")
    out = tmp / f"edgeproof_0.1.0-1_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)], check=True,
                   capture_output=True, timeout=60)
    return out


def dry_run(tmp: Path, deb: Path | None, arch: str = "arm64") -> tuple[subprocess.CompletedProcess, Path, Path]:
    """Run the substage as pi-gen would (cwd = substage, ROOTFS_DIR set, on_chroot exported)."""
    tmp.mkdir(parents=True, exist_ok=True)
    stage = tmp / "stage"
    shutil.copytree(STAGE, stage)
    if deb is not None:
        shutil.copy(deb, stage / "00-edgeproof/files" / deb.name)
    rootfs = tmp / "rootfs"
    (rootfs / "tmp").mkdir(parents=True)
    chroot_log = tmp / "on_chroot.log"
    script = ('on_chroot() { cat >> "$CHROOT_LOG"; printf "\\n--\\n" >> "$CHROOT_LOG"; }\n'
              "export -f on_chroot\n./00-run.sh\n")
    env = {**os.environ, "ROOTFS_DIR": str(rootfs), "ARCH": arch, "CHROOT_LOG": str(chroot_log)}
    res = subprocess.run(["bash", "-c", script], cwd=stage / "00-edgeproof", env=env, capture_output=True,
                         text=True, timeout=60)
    return res, rootfs, chroot_log


def test_pi_gen_stage_dry_run(tmp_path):
    deb = fake_deb(tmp_path, "arm64")
    res, rootfs, log = dry_run(tmp_path, deb)
    assert res.returncode == 0, res.stderr
    # The package is staged in the image root and installed there with apt (its dependencies
    # from the image's own repositories), then the units are enabled.
    assert (rootfs / "tmp/edgeproof.deb").read_bytes() == deb.read_bytes()
    chroot = log.read_text()
    assert "apt-get install -y --no-install-recommends /tmp/edgeproof.deb" in chroot
    assert "systemctl enable edgeproof-provision.service edgeproof.service" in chroot
    example = rootfs / "boot/firmware/edgeproof-provision.toml.example"
    from gateway.provision.config import load_provisioning

    prov = load_provisioning(example)  # the example an installer starts from is itself valid
    assert prov.profile == "rpi4-rs485" and prov.token
    # What pi-gen installs before 00-run.sh (00-packages): the package's dependencies and bus tools.
    packages = (STAGE / "00-edgeproof/00-packages").read_text().split()
    assert {"python3", "python3.11", "adduser"} <= set(packages)
    assert (STAGE / "prerun.sh").stat().st_mode & 0o111 and (STAGE / "00-edgeproof/00-run.sh").stat().st_mode & 0o111
    assert 'IMG_SUFFIX="-edgeproof"' in (STAGE / "EXPORT_IMAGE").read_text()


def test_pi_gen_stage_refuses_a_missing_or_wrong_arch_package(tmp_path):
    res, rootfs, log = dry_run(tmp_path / "none", None)
    assert res.returncode == 1 and "make deb" in res.stderr and not log.exists()
    # An amd64 package named as if it were arm64: the stage reads the package's own field.
    mislabelled = tmp_path / "edgeproof_0.1.0-1_arm64.deb"
    shutil.copy(fake_deb(tmp_path, "amd64"), mislabelled)
    res, rootfs, log = dry_run(tmp_path / "amd", mislabelled)
    assert res.returncode == 1 and "is for amd64, the image is arm64" in res.stderr
    assert not (rootfs / "tmp/edgeproof.deb").exists() and not log.exists()


def test_package_files_are_the_install_service_units(tmp_path):
    from build_deb import EXEC, stage_files

    stage = tmp_path / "root"
    (stage / "opt/edgeproof/venv/bin").mkdir(parents=True)
    stage_files(stage, "3.11", "arm64", "0.1.0")
    unit = (stage / "lib/systemd/system/edgeproof.service").read_text()
    assert unit == render_unit(ServiceConfig(exec_path=EXEC))
    assert "ExecStart=/opt/edgeproof/venv/bin/edgeproof run --state /var/lib/edgeproof" in unit
    assert (stage / "lib/systemd/system/edgeproof-provision.service").read_text() == render_provision_unit(EXEC)
    assert os.readlink(stage / "usr/bin/edgeproof") == EXEC
    control = (stage / "DEBIAN/control").read_text()
    assert "Architecture: arm64" in control and "Depends: python3.11, python3 (>= 3.11), python3 (<< 3.12)" in control
    assert (stage / "DEBIAN/conffiles").read_text().split() == ["/etc/edgeproof/provision.toml.example"]
    for name in ("postinst", "prerm", "postrm"):
        assert (stage / "DEBIAN" / name).stat().st_mode & 0o777 == 0o755


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_package_units(tmp_path):
    exe = tmp_path / "edgeproof"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    units = tmp_path / "units"
    (units / "edgeproof.service.d").mkdir(parents=True)
    (units / "edgeproof.service").write_text(render_unit(ServiceConfig(exec_path=str(exe))))
    (units / "edgeproof.service.d/package.conf").write_text(render_gateway_dropin())
    (units / "edgeproof-provision.service").write_text(render_provision_unit(str(exe), boot_dir=str(tmp_path)))
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", str(units / "edgeproof-provision.service"),
                          str(units / "edgeproof.service")], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"})
    bad = [line for line in res.stderr.splitlines()
           if "edgeproof" in line and ("Unknown" in line or "Invalid" in line or "not valid" in line)]
    assert not bad, res.stderr


PACKAGE_ROOTS = ("drivers", "gateway", "inference", "cloud_stub", "hardware_profiles")


def test_the_installed_package_carries_every_data_file(tmp_path):
    """Every non-Python file in the package folders reaches an installed copy (the wheel, the .deb).
    Register maps and models live in folders without __init__.py, which setuptools skips unless
    setup.cfg names them: a gateway installed without its maps cannot read a single meter."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PACKAGE_ROOTS:
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "-d",
                          str(out)], cwd=src, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]

    def data(root: Path) -> set[str]:
        # .po catalogs are the translators' sources: the runtime reads the compiled .mo files, which ship
        return {str(p.relative_to(root)) for name in PACKAGE_ROOTS for p in (root / name).rglob("*")
                if p.is_file() and p.suffix not in (".py", ".pyc", ".po") and "__pycache__" not in p.parts}

    expected = data(src)
    assert any(p.startswith("drivers/modbus/maps/") for p in expected)  # the check sees the maps at all
    assert expected - data(out) == set()
