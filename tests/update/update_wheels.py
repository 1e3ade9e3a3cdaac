"""Tiny real wheels for the update tests, written with zipfile to the wheel spec (PEP 427):
an "edgeproof" wheel whose `edgeproof` command answers `selftest` (healthy or not, chosen at build
time) and `--version`, and a dependency wheel it imports, so pip resolves a real dependency from
the bundle with --no-index. Building the whole project's dependency tree would take minutes."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

FAKE_CLI = '''\
import sys

import tinydep

VERSION = {version!r}
HEALTHY = {healthy!r}


def main():
    args = sys.argv[1:]
    if args[:1] == ["--version"]:
        print(VERSION)
        return 0
    if args[:1] == ["selftest"]:
        if not HEALTHY:
            print("store: FAIL quick_check found a broken page")
            sys.exit(1)
        print("all checks ok (" + tinydep.NAME + ")")
        return 0
    print("fake edgeproof " + VERSION + ": " + " ".join(args))
    return 0
'''


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def make_wheel(out_dir: Path, name: str, version: str, files: dict[str, str], requires: list[str] | None = None,
               console_scripts: dict[str, str] | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    members = dict(files)
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires or [])
    members[f"{info}/METADATA"] = meta
    members[f"{info}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: edgeproof-tests\nRoot-Is-Purelib: true\n"
                                "Tag: py3-none-any\n")
    if console_scripts:
        members[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in console_scripts.items())
    record = [_record_line(p, d.encode()) for p, d in members.items()] + [f"{info}/RECORD,,"]
    members[f"{info}/RECORD"] = "\n".join(record) + "\n"
    path = out_dir / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in members.items():
            z.writestr(p, d)
    return path


def release_wheels(out_dir: Path, version: str, healthy: bool = True) -> Path:
    """The wheels of a fake release: edgeproof <version> and its dependency tinydep."""
    make_wheel(out_dir, "tinydep", "1.0", {"tinydep/__init__.py": "NAME = 'tinydep'\n"})
    make_wheel(out_dir, "edgeproof", version,
               {"edgeproof_fake/__init__.py": "", "edgeproof_fake/cli.py": FAKE_CLI.format(version=version,
                                                                                         healthy=healthy)},
               requires=["tinydep>=1"], console_scripts={"edgeproof": "edgeproof_fake.cli:main"})
    return out_dir
