"""The ``current`` link: <root>/current -> versions/<version>. Switching writes a new link under a
temporary name and rename()s it over ``current`` (atomic on POSIX), then fsyncs the directory, so
a power cut leaves the old link or the new one, never none. The service runs
<root>/current/bin/edgeproof.

A second link, ``stable``, points at the last version that passed its health check (moved only at
commit). The service's ExecStartPre runs ``<root>/stable/bin/edgeproof update resume``: if a new
version is so broken that its own `edgeproof` cannot start, the known-good one still rolls it back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from gateway.update.journal import fsync_dir

DEFAULT_ROOT = "/opt/edgeproof"
ROOT_ENV = "EDGEPROOF_UPDATE_ROOT"
CURRENT = "current"
STABLE = "stable"
VERSIONS = "versions"
MARKER = ".edgeproof-installed.json"


def default_root() -> Path:
    """The update root when none is given: $EDGEPROOF_UPDATE_ROOT, else /opt/edgeproof."""
    return Path(os.environ.get(ROOT_ENV, DEFAULT_ROOT))


def version_dir(root: Path, version: str) -> Path:
    return root / VERSIONS / version


def link_target(version: str) -> str:
    """Relative, so the whole root can be moved or mounted elsewhere."""
    return f"{VERSIONS}/{version}"


def installed_version(path: Path) -> str | None:
    """The version installed at ``path`` if its install finished (the marker is written last)."""
    try:
        return str(json.loads((path / MARKER).read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def current_target(root: Path, name: str = CURRENT) -> str | None:
    try:
        return os.readlink(root / name)
    except (FileNotFoundError, OSError):
        return None


def current_version(root: Path) -> str | None:
    target = current_target(root)
    return None if target is None else installed_version(root / target)


def point_current(root: Path, target: str | None, checkpoint: Callable[[str], None] = lambda _: None,
                  point: str = "link-made", name: str = CURRENT) -> None:
    """Make ``current`` (or ``name``) point at ``target`` (None: remove the link) atomically."""
    link = root / name
    if target is None:
        link.unlink(missing_ok=True)
        fsync_dir(root)
        return
    tmp = root / f".{name}.new"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    checkpoint(point)
    os.replace(tmp, link)
    fsync_dir(root)
