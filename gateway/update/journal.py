"""The update journal and the event log, both under the update root.

* ``update-journal.json`` holds the update in progress (or the last one): its id, the new
  version, the link target it replaces and the step reached. It is replaced atomically (write a
  temporary file, fsync it, rename, fsync the directory), so after a power cut it reads as the
  step before or the step after, never a torn file. ``updater.resume`` finishes from it.
* ``update-events.jsonl`` gets one line per finished update, refusal or rollback, fsynced, so the
  health summary can say what happened and why (``update_summary``).

Both hold versions and reasons only (no data, no secret): mode 0644 so the service user can read
them for the health summary while the updater runs as root.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from gateway import filemodes
from gateway.filemodes import fsync_dir as fsync_dir  # switch.py's import

JOURNAL = "update-journal.json"
# Resume runs from the last good version (the `stable` link), which may be older than the updater
# that wrote the journal: a change of these fields' meaning needs a new format name.
JOURNAL_FORMAT = "edgeproof-update-journal/1"
EVENTS = "update-events.jsonl"
MAX_EVENT_LINES_READ = 1000

# The steps, in order. Everything before "switching" leaves `current` untouched; from "switching" to
# "checking" the new version may be current; "rolling_back" restores the previous one.
STEPS = ("staged", "installing", "installed", "switching", "switched", "checking", "committed",
         "rolling_back", "rolled_back")
FINAL = ("committed", "rolled_back")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """The journal's writes survive a power cut, the rename included (gateway/filemodes.py)."""
    filemodes.write_atomic(path, data, mode, sync_dir=True)


def read_journal(root: Path) -> dict[str, Any] | None:
    path = root / JOURNAL
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Cannot happen through write_atomic; a hand-edited file is treated as "unfinished, roll back".
        return {"step": "unreadable", "version": None, "previous": None}
    if not isinstance(doc, dict) or doc.get("format", JOURNAL_FORMAT) != JOURNAL_FORMAT:
        return {"step": "unreadable", "version": None, "previous": None}
    return doc


def write_journal(root: Path, doc: dict[str, Any]) -> None:
    doc["updated"] = now_iso()
    write_atomic(root / JOURNAL, json.dumps(doc, sort_keys=True, indent=1).encode() + b"\n")


def record_event(root: Path, kind: str, version: str | None, result: str, reason: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    """Append one event (kind: update | resume | refused; result: ok | rolled_back | refused)."""
    event = {"kind": kind, "version": version, "time": now_iso(), "result": result, "reason": reason, **extra}
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / EVENTS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (json.dumps(event, sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return event


def read_events(root: Path) -> list[dict[str, Any]]:
    try:
        lines = (root / EVENTS).read_text().splitlines()[-MAX_EVENT_LINES_READ:]
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # a line cut by a power cut during append: the event before it still counts
        if isinstance(doc, dict):
            out.append(doc)
    return out


def update_summary(root: Path | None = None) -> dict[str, Any]:
    """What the signed health summary carries about updates:
    {current, previous, last_event: {kind, version, time, result, reason} | None}.

    ``current`` is the version the ``current`` link points at (None: not installed through updates);
    ``previous`` the version the last successful update replaced (what a rollback returns to).
    ``root`` defaults to $EDGEPROOF_UPDATE_ROOT or /opt/edgeproof. Reads two small files; never raises
    for a gateway that was not installed through updates (all None)."""
    from gateway.update.switch import current_version, default_root  # local: switch imports this module

    root = default_root() if root is None else root
    events = read_events(root)
    previous = next((e.get("from") for e in reversed(events) if e.get("result") == "ok"), None)
    last = events[-1] if events else None
    return {"current": current_version(root), "previous": previous,
            "last_event": None if last is None else {k: last.get(k) for k in
                                                     ("kind", "version", "time", "result", "reason")}}
