"""The ``current`` link: <root>/current -> versions/<version>. Switching writes a new link under a
temporary name and rename()s it over ``current`` (atomic on POSIX), then fsyncs the directory, so
a power cut leaves the old link or the new one, never none. The service runs
<root>/current/bin/edgeproof.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from gateway.update.journal import fsync_dir

CURRENT = "current"
VERSIONS = "versions"
MARKER = ".edgeproof-installed.json"


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


def current_target(root: Path) -> str | None:
    try:
        return os.readlink(root / CURRENT)
    except (FileNotFoundError, OSError):
        return None


def current_version(root: Path) -> str | None:
    target = current_target(root)
    return None if target is None else installed_version(root / target)


def point_current(root: Path, target: str | None, checkpoint: Callable[[str], None] = lambda _: None,
                  point: str = "link-made") -> None:
    """Make ``current`` point at ``target`` (None: remove the link) atomically."""
    link = root / CURRENT
    if target is None:
        link.unlink(missing_ok=True)
        fsync_dir(root)
        return
    tmp = root / f".{CURRENT}.new"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    checkpoint(point)
    os.replace(tmp, link)
    fsync_dir(root)
