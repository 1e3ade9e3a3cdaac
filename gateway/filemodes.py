"""File modes for what the gateway writes: data is 0600, or inside a 0700 directory.

Raw readings, imported exports, keys and the audit log live in the state directory and the
store. A state directory made beforehand by a package or an installer (``mkdir`` at the
default umask: 0755) would leave every file in it readable by every local user, so the
gateway tightens the directories it owns when it opens them, and creates its database 0600
(SQLite gives the -wal and -shm files the database's mode).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("edgeproof.files")


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) or tighten it to 0700 when it is ours and looser."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = p.stat()
    if st.st_mode & 0o077 and st.st_uid == os.geteuid():
        os.chmod(p, 0o700)
        log.warning("directory was readable by others; now 0700", extra={"path": str(p),
                                                                          "was": oct(stat.S_IMODE(st.st_mode))})
    return p


def private_file(path: str | Path) -> Path:
    """Create ``path`` empty with mode 0600 if missing; tighten an existing one of ours to 0600."""
    p = Path(path)
    try:
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        st = p.stat()
        if st.st_mode & 0o077 and st.st_uid == os.geteuid():
            os.chmod(p, 0o600)
    return p


def write_atomic(path: Path, data: bytes, mode: int = 0o644, *, sync_dir: bool = False) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new bytes after a power cut, never a mix:
    a hidden temporary file beside it, created with ``mode`` (never wider for a moment), fsynced, then renamed
    over. ``sync_dir``: fsync the directory too, so the rename itself survives the cut (the update journal)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (POSIX: fsync the directory)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
