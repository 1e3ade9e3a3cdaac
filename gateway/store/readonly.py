"""The store file opened read-only, next to (or without) a running gateway.

`edgeproof selftest`, the updater's health check and the enterprise's audit reader look at a
store that another process (the gateway) may be writing. They must never write it, nor create it
when it is missing, so they open it with SQLite's ``mode=ro`` URI and not through ``Store``
(which takes the file's modes, creates the schema and migrates).

A ``ReadOnlyStore`` has the two attributes the domain modules of this package use (``db`` and
``_lock``), so their read functions serve a live ``Store`` and a read-only file alike.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from types import TracebackType

# What a read of a store file raises when the file is not a database, is locked past the timeout, or
# lacks a table: callers outside this package catch it by this name and never import sqlite3.
DatabaseError = sqlite3.Error


class ReadOnlyStore:
    """One read-only connection to a store file; a context manager that closes it."""

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=timeout)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ReadOnlyStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def integrity_check(path: str | Path, full: bool = False, timeout: float = 10.0) -> list[str]:
    """SQLite's own check of the file: ``["ok"]`` when sound, else its first findings.
    ``full`` runs ``integrity_check`` (reads every page and index), else ``quick_check`` (no index
    cross-check: seconds instead of minutes on a Pi's SD card). Raises DatabaseError when the file
    cannot be read as a database at all."""
    pragma = "integrity_check" if full else "quick_check"
    with ReadOnlyStore(path, timeout) as ro:
        return [r[0] for r in ro.db.execute(f"PRAGMA {pragma}").fetchall()]
