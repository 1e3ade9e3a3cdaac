#!/usr/bin/env python3
"""`make deb`: the gateway as a Debian package (a virtualenv in /opt/edgeproof/venv).

Why this way, and not dh-virtualenv: a plain venv + ``dpkg-deb --build`` needs nothing but
dpkg and the Python the target has. A venv is not relocatable (pyvenv.cfg, the scripts'
``#!`` lines and the compiled bytecode hold its absolute path), so it is built AT its final
path: inside a private mount namespace (``unshare --mount``, with ``--map-root-user`` when
not root) the staging tree's ``opt/`` is bind-mounted over ``/opt``, the venv is created as
``/opt/edgeproof/venv`` and pip installs the project wheel and its dependencies into it.
The host's own /opt is never touched (its other entries stay visible, bound back in), and
nothing in the result has to be rewritten.

Building needs PyPI (pip); installing the .deb does not: every wheel is inside. The venv
is built without the system site-packages (so pip cannot satisfy a dependency from the
build machine's apt packages), then switched to see them (``include-system-site-packages``)
so that apt's picamera2, libgpiod and lgpio are importable on a Pi, as docs/installers.md
asks. The wheels are compiled for this machine's Python minor and architecture: the
package depends on exactly that Python (python3.11 on Debian 12 / Raspberry Pi OS
Bookworm) and is built per architecture (arm64 on an arm64 machine or builder).

Usage: python3 scripts/build_deb.py [--extras pi,cloud] [--out dist/] [--python /usr/bin/python3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gateway import __version__  # noqa: E402
from gateway.service.provision_unit import (  # noqa: E402
    PROVISION_SERVICE,
    render_gateway_dropin,
    render_provision_unit,
)
from gateway.service.unit import SERVICE_NAME, ServiceConfig, render_unit  # noqa: E402

PREFIX = "/opt/edgeproof"
VENV = f"{PREFIX}/venv"
EXEC = f"{VENV}/bin/edgeproof"
# [vision] for cameras (sim-factory, which `edgeproof demo` runs, has two), [cloud] so that the demo
# (which starts the receiver) and the receiver's admin commands work on the gateway offline.
# A lean gateway without cameras or demo: --extras pi (DEB_EXTRAS=pi).
DEFAULT_EXTRAS = "pi,vision,cloud"
PACKAGE_ROOTS = ("gateway", "drivers", "inference", "cloud_stub", "hardware_profiles")
MAINTAINER = "EdgeProof maintainers <edgeproof@users.noreply.github.com>"
PROVISION_EXAMPLE = """\
# Copy to the boot partition as edgeproof-provision.toml (docs/installers.md, "Zero-touch first boot").
profile = "rpi4-rs485"            # a shipped profile name, or a file on the boot partition
receiver = "https://receiver.example-bank.com"
token = "enr_..."                 # one-time; wiped from the file once used
site_id = "bakery-01"
locale = "en"                     # or "zh-CN"
"""


def sh(cmd: list[str], **kw: object) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def deb_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


def python_minor(python: str) -> str:
    return subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def clean_source(dst: Path) -> Path:
    """The project's source without build/, caches or venvs: setuptools reuses a build/ folder it
    finds, so a module deleted since the last build would otherwise still ship."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in PACKAGE_ROOTS:
        shutil.copytree(REPO / name, dst / name, ignore=ignore)
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, dst / name)
    return dst


def build_venv(stage: Path, python: str, wheel: Path, extras: str) -> None:
    """Create the venv at its final path inside a private mount namespace (see the module doc).

    The staging tree's ``opt/`` is bound over ``/opt``; whatever else the build machine has in
    /opt (a local package mirror pip is configured to use, say) is bound back in beside it, and
    those empty mount points are removed from the staging tree afterwards.
    """
    stage_opt = stage / "opt"
    stage_opt.mkdir(parents=True, exist_ok=True)
    host_view = stage.parent / "host-opt"
    host_view.mkdir(exist_ok=True)
    host_entries = sorted(p.name for p in Path("/opt").iterdir() if p.name != "edgeproof" and p.name.isprintable()
                          and " " not in p.name) if Path("/opt").is_dir() else []
    for name in host_entries:
        (stage_opt / name).mkdir() if (Path("/opt") / name).is_dir() else (stage_opt / name).touch()
    req = f"{wheel}[{extras}]" if extras else str(wheel)
    inner = (
        'set -eu; mount --bind /opt "$HOST_VIEW"; mount --bind "$STAGE_OPT" /opt; '
        'for n in $HOST_ENTRIES; do mount --bind "$HOST_VIEW/$n" "/opt/$n"; done; '
        f'"$PY" -m venv {VENV}; '
        f'{VENV}/bin/python -m pip install -q --disable-pip-version-check --upgrade pip; '
        f'{VENV}/bin/python -m pip install -q --disable-pip-version-check --no-warn-script-location "$REQ"; '
        f'sed -i "s/^include-system-site-packages = false/include-system-site-packages = true/" {VENV}/pyvenv.cfg'
    )
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare.insert(1, "--map-root-user")
    env = {**os.environ, "STAGE_OPT": str(stage_opt), "HOST_VIEW": str(host_view), "PY": python, "REQ": req,
           "HOST_ENTRIES": " ".join(host_entries)}
    try:
        sh([*unshare, "sh", "-c", inner], env=env)
    finally:
        for name in host_entries:  # the mount points only: nothing of the host is in the package
            p = stage_opt / name
            p.rmdir() if p.is_dir() and not p.is_symlink() else p.unlink()
        host_view.rmdir()
    shutil.rmtree(stage / VENV.lstrip("/") / "share" / "doc", ignore_errors=True)


def write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


def installed_size_kib(root: Path) -> int:
    total = 0
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink() and "DEBIAN" not in p.relative_to(root).parts[:1]:
            total += p.stat().st_size
    return total // 1024 + 1


def stage_files(stage: Path, py_minor: str, arch: str, version: str) -> None:
    """Everything beside the venv: the command on PATH, the units, /etc/edgeproof, DEBIAN/."""
    (stage / "usr/bin").mkdir(parents=True, exist_ok=True)
    (stage / "usr/bin/edgeproof").symlink_to(EXEC)
    units = stage / "lib/systemd/system"
    # The very unit `edgeproof install-service` writes (same function); the bus groups come from
    # the user's group membership (postinst), as the package cannot know the board's groups.
    write(units / SERVICE_NAME, render_unit(ServiceConfig(exec_path=EXEC)))
    write(units / f"{SERVICE_NAME}.d" / "package.conf", render_gateway_dropin())
    write(units / PROVISION_SERVICE, render_provision_unit(EXEC))
    write(stage / "etc/edgeproof/provision.toml.example", PROVISION_EXAMPLE)
    doc = stage / "usr/share/doc/edgeproof"
    write(doc / "copyright", "EdgeProof\nLicense: Apache-2.0\nSee /usr/share/common-licenses/Apache-2.0\n")
    debian = stage / "DEBIAN"
    debian.mkdir(exist_ok=True)
    for name in ("postinst", "prerm", "postrm"):
        shutil.copyfile(REPO / "packaging/deb" / name, debian / name)
        os.chmod(debian / name, 0o755)
    write(debian / "conffiles", "/etc/edgeproof/provision.toml.example\n")
    major, minor = (int(x) for x in py_minor.split("."))
    write(debian / "control", "\n".join([
        "Package: edgeproof",
        f"Version: {version}-1",
        f"Architecture: {arch}",
        f"Maintainer: {MAINTAINER}",
        f"Installed-Size: {installed_size_kib(stage)}",
        # The venv links /usr/bin/python3 and holds wheels for exactly this minor version; procps: the
        # unit reloads with /bin/kill.
        f"Depends: python{py_minor}, python3 (>= {py_minor}), python3 (<< {major}.{minor + 1}), adduser, procps",
        "Recommends: systemd",
        "Section: misc",
        "Priority: optional",
        "Homepage: https://github.com/edgeproof/edgeproof",
        "Description: EdgeProof gateway: signed production indicators for lenders",
        " The gateway runtime in a private virtualenv (/opt/edgeproof/venv) with its",
        " dependencies, the edgeproof systemd service, a dedicated system user and",
        " first-boot provisioning from the boot partition (edgeproof-provision.service).",
        "",
    ]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extras", default=os.environ.get("DEB_EXTRAS", DEFAULT_EXTRAS))
    ap.add_argument("--out", type=Path, default=REPO / "dist")
    ap.add_argument("--python", default="/usr/bin/python3", help="the target's interpreter (Debian's python3)")
    args = ap.parse_args()
    t0 = time.monotonic()
    for tool in ("dpkg-deb", "unshare", args.python):
        if shutil.which(tool) is None:
            print(f"build_deb: {tool} not found (apt-get install -y dpkg-dev util-linux python3-venv)",
                  file=sys.stderr)
            return 2
    arch, py_minor = deb_arch(), python_minor(args.python)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgeproof-deb-") as tmp:
        work = Path(tmp)
        wheels = work / "wheels"
        sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
            "-w", str(wheels), str(clean_source(work / "src"))])
        wheel = next(wheels.glob("edgeproof-*.whl"))
        stage = work / "root"
        build_venv(stage, args.python, wheel, args.extras)
        stage_files(stage, py_minor, arch, __version__)
        out = args.out / f"edgeproof_{__version__}-1_{arch}.deb"
        # zstd: dpkg reads it since 1.21.18 (Debian 12, Raspberry Pi OS Bookworm); on this 2-core CI machine
        # it packs the ~140 MB tree in ~30 s where xz -6 took ~4.5 min, for 37 MB instead of 30 MB.
        sh(["dpkg-deb", "--root-owner-group", "-Zzstd", "-z9", "--build", str(stage), str(out)])
    size = out.stat().st_size / 1e6
    print(f"built {out} ({size:.1f} MB, extras [{args.extras}], python{py_minor}, {arch}) "
          f"in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
