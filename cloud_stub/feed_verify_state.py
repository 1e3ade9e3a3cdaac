"""The state file of an incremental ``feed verify --state FILE``: where each feed was verified up to.

A bank pulls a feed every day; re-verifying years of history each time costs more every day.
With a state file a run pulls only what was added since the last run that verified cleanly,
and still proves it joins on: each gateway's chain continues from the tip (seq, hash) the
last run verified, record ids must come after the last verified one, and the receiver's key
and every gateway key seen are pinned from then on (trust on first use, or pinned from the
start with ``--pin-receiver-key``). Per gateway it also keeps the latest verified head
statement and ``heads_from`` (key ``heads``, optional: older state files lack it), so a tail
deleted after a run is still caught, and the receiver's chain head must not be behind the
verified tip. A run that finds any failure does not move an enterprise's state, so the next
run checks the same range again and reports it again.

Standard library (and texts.py, the error texts) only, like feed_verify.py, so a bank can vendor both. The file holds no
secret (cursors, hashes, public keys); it is written whole to a temporary file, flushed and
renamed over the old one, so a crash leaves the old state or the new one, never half.

What it cannot do: data verified in an earlier run is not re-checked. A receiver that later
rewrites old records is caught only by a full run (without ``--state``) or a fresh state
file; run one now and then.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cloud_stub.texts import msg

VERSION = 1


class StateError(ValueError):
    """A state file that cannot be used; the message names the file, the key and what was expected."""


def empty(url: str) -> dict[str, Any]:
    return {"v": VERSION, "url": url, "receiver_key": None, "enterprises": {}}


def load(path: Path, url: str) -> dict[str, Any]:
    """The state in ``path`` (a fresh one when the file does not exist yet)."""
    if not path.exists():
        return empty(url)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StateError(msg("{path}: not a feed-verify state file: {exc}", path=path, exc=exc)) from None
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        found = doc.get("v") if isinstance(doc, dict) else doc
        raise StateError(msg("{path}: key 'v': expected {version}, found {found}", path=path, version=VERSION,
                             found=repr(found)))
    if doc.get("url") != url:
        raise StateError(msg("{path}: key 'url': this state is for {url}, not {url2}; use one state file per "
                             "receiver", path=path, url=repr(doc.get('url')), url2=repr(url)))
    if doc.get("receiver_key") is not None and not isinstance(doc["receiver_key"], str):
        raise StateError(msg("{path}: key 'receiver_key': expected a base64 string or null", path=path))
    ents = doc.get("enterprises")
    if not isinstance(ents, dict):
        raise StateError(msg("{path}: key 'enterprises': expected an object", path=path))
    for ent, st in ents.items():
        _check_enterprise(path, ent, st)
    return doc


def _check_enterprise(path: Path, ent: str, st: Any) -> None:
    where = f"{path}: key 'enterprises.{ent}"
    if not isinstance(st, dict):
        raise StateError(msg("{where}': expected an object", where=where))
    expect: dict[str, type | tuple[type, ...]] = {"cursors": dict, "max_record_id": int, "chains": dict,
                                                  "keys": dict, "pending_indicators": dict, "totals": dict}
    for key, typ in expect.items():
        if not isinstance(st.get(key), typ):
            raise StateError(msg("{where}.{key}': expected {value}, found {name}", where=where, key=key,
                                 value=typ.__name__ if isinstance(typ, type) else typ, name=type(st.get(key)).__name__))
    if not isinstance(st.get("heads", {}), dict):  # optional: state files from before head statements lack it
        raise StateError(msg("{where}.heads': expected dict, found {name}", where=where,
                             name=type(st.get('heads')).__name__))
    for gw, kept in (st.get("heads") or {}).items():
        if not (isinstance(kept, dict) and isinstance(kept.get("statement"), dict | None)
                and isinstance(kept.get("heads_from"), int | None)):
            raise StateError(msg('{where}.heads.{gw}\': expected {{"statement": object or null, "heads_from": int '
                                 "or null}}, found {kept}", where=where, gw=gw, kept=repr(kept)))
    for gw, tip in st["chains"].items():
        if not (isinstance(tip, list) and len(tip) == 2 and isinstance(tip[0], int) and isinstance(tip[1], str)):
            raise StateError(msg("{where}.chains.{gw}': expected [seq, hash], found {tip}", where=where, gw=gw,
                                 tip=repr(tip)))


def save(path: Path, doc: dict[str, Any]) -> None:
    """Replace ``path`` with ``doc`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def advance(doc: dict[str, Any], summaries: list[dict[str, Any]], receiver_key: str | None) -> list[str]:
    """Take each cleanly verified enterprise's new state; returns the enterprises that moved."""
    moved = []
    if receiver_key and doc.get("receiver_key") is None:
        doc["receiver_key"] = receiver_key
    for s in summaries:
        if s.get("failed") == 0 and isinstance(s.get("state"), dict):
            doc["enterprises"][s["enterprise_id"]] = s["state"]
            moved.append(s["enterprise_id"])
    return moved
