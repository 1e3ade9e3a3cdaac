"""A side-by-side environment per version: <root>/versions/<version>/, a virtualenv built with
``python -m venv`` and filled by pip from the bundle's wheels only (``--no-index``: a gateway in
the field installs what was signed, never what an index serves that day).

Virtualenvs are not relocatable (scripts name their interpreter by absolute path), so the venv is
built at its final place and a marker file, written last and fsynced, says the install finished;
a directory without the marker is a half install and is removed before any retry.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.i18n import N_
from gateway.update.bundle import Manifest
from gateway.update.errors import UpdateError
from gateway.update.journal import now_iso, write_atomic
from gateway.update.switch import MARKER

PIP_TIMEOUT_S = 1800


def _tail(text: str, n: int = 6) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-n:])


def install(manifest: Manifest, wheels_dir: Path, dest: Path,
            checkpoint: Callable[[str], None] = lambda _: None) -> None:
    """Build ``dest`` as a venv holding ``manifest.project==manifest.version`` and its dependencies."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The base interpreter, not this venv's: `python -m venv` from inside a venv does the same.
    base = getattr(sys, "_base_executable", sys.executable)
    # pip of the running environment installs into the new one (--python, pip >= 22.3): no pip copy
    # per version. An environment without pip gets one in the new venv instead (ensurepip, offline).
    own_pip = importlib.util.find_spec("pip") is not None
    run = subprocess.run([base, "-m", "venv", *(["--without-pip"] if own_pip else []), str(dest)],
                         capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        raise UpdateError(N_("{dest}: python -m venv failed: {value}"), dest=dest, value=_tail(run.stderr))
    checkpoint("venv-made")
    pip = [sys.executable, "-m", "pip", "--python", str(dest / "bin" / "python")] if own_pip else \
        [str(dest / "bin" / "python"), "-m", "pip"]
    cmd = [*pip, "install", "--no-index",
           "--find-links", str(wheels_dir), "--only-binary", ":all:", "--no-cache-dir",
           "--disable-pip-version-check", "--no-input", f"{manifest.project}=={manifest.version}"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
                         env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
    if run.returncode != 0:
        raise UpdateError(N_("installing {project} {version} from {wheels_dir} failed: {value}"),
                          project=manifest.project, version=manifest.version, wheels_dir=wheels_dir,
                          value=_tail(run.stderr or run.stdout))
    if not (dest / "bin" / "edgeproof").exists():
        raise UpdateError(N_("{project} {version} installed no 'edgeproof' command in {dest}/bin"),
                          project=manifest.project, version=manifest.version, dest=dest)
    # The marker says "finished": every file of the venv must be on disk before it is, or a real power
    # cut (not just a killed process) could leave a marked install with empty files.
    os.sync()
    write_atomic(dest / MARKER, json.dumps({"version": manifest.version, "installed": now_iso(),
                                            "manifest": manifest.as_dict()}, sort_keys=True).encode())


def remove(dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
