"""The status snapshot file: the gateway writes its status document to ``<state>/status.json``
every 15 seconds, atomically (temp file + rename), so `edgeproof status` in another
process can read it even when the status page is off or password-protected.

No fsync: losing the last snapshot in a power cut costs nothing, and an SD card should
not be flushed every few seconds for it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

SNAPSHOT_FILE = "status.json"


def write_snapshot(state_dir: Path, doc: dict[str, Any]) -> Path:
    path = Path(state_dir) / SNAPSHOT_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(doc, default=str, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def read_snapshot(state_dir: Path) -> tuple[dict[str, Any], float] | None:
    """(document, age in seconds) or None when there is no snapshot."""
    path = Path(state_dir) / SNAPSHOT_FILE
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc, max(0.0, time.time() - float(doc.get("now", path.stat().st_mtime)))
