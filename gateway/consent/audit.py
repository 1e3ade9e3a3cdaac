"""The enterprise's own record of what left the site: an append-only, hash-chained log.

Every signed batch released for uplink (time, categories, record count, batch hash) and
every consent change is one entry. Each entry's hash covers its fields and the previous
entry's hash, so deleting, reordering or editing an entry breaks the chain from there on;
SQLite triggers refuse UPDATE and DELETE on the table as a first line. ``verify`` also
checks every batch entry against the outbox (same hash, same record count) and that no
outbox batch is missing from the log.

For the status page: ``read_entries(store_or_path, limit)`` returns the newest entries
as plain dicts (see its docstring); it opens a path read-only, so it can run next to the
gateway process.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
_FIELDS = ("id", "at", "kind", "seq", "categories", "n_records", "batch_hash", "detail", "prev")


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of the entry's fields (sorted keys, no spaces)."""
    doc = {k: entry[k] for k in _FIELDS}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                     allow_nan=False).encode()).hexdigest()


def append_in_tx(store: Any, kind: str, *, at: float | None = None, seq: int | None = None,
                 categories: list[str] | None = None, n_records: int | None = None,
                 batch_hash: str | None = None, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """Append one entry; the caller holds ``store._lock`` inside a BEGIN IMMEDIATE transaction
    (so two processes, the gateway and a `consent` command, cannot fork the chain)."""
    db: sqlite3.Connection = store.db
    last = db.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    entry = {"id": (last[0] + 1) if last else 1, "at": round(time.time() if at is None else at, 3), "kind": kind,
             "seq": seq, "categories": sorted(categories or []), "n_records": n_records, "batch_hash": batch_hash,
             "detail": detail or {}, "prev": last[1] if last else GENESIS}
    entry["hash"] = entry_hash(entry)
    db.execute("INSERT INTO audit_log(id, at, kind, seq, categories, n_records, batch_hash, detail, prev, hash) "
               "VALUES(?,?,?,?,?,?,?,?,?,?)",
               (entry["id"], entry["at"], kind, seq, json.dumps(entry["categories"]), n_records, batch_hash,
                json.dumps(entry["detail"], sort_keys=True, ensure_ascii=False), entry["prev"], entry["hash"]))
    return entry


def append(store: Any, kind: str, **kw: Any) -> dict[str, Any]:
    with store._lock:
        store.db.execute("BEGIN IMMEDIATE")
        try:
            entry = append_in_tx(store, kind, **kw)
            store.db.execute("COMMIT")
        except BaseException:
            store.db.execute("ROLLBACK")
            raise
    return entry


def record_batches(store: Any) -> int:
    """Log every outbox batch not yet in the log, in seq order; returns how many were added.
    Reading the outbox (not a callback) means a crash between signing and logging is
    caught up on the next step instead of leaving a hole."""
    added = 0
    with store._lock:
        store.db.execute("BEGIN IMMEDIATE")
        try:
            last = store.db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log WHERE kind='batch'").fetchone()[0]
            rows = store.db.execute("SELECT seq, hash, created, n_records, categories FROM outbox WHERE seq>? "
                                    "ORDER BY seq", (last,)).fetchall()
            for seq, h, created, n, cats in rows:
                append_in_tx(store, "batch", at=created, seq=seq, categories=json.loads(cats), n_records=n,
                             batch_hash=h)
                added += 1
            store.db.execute("COMMIT")
        except BaseException:
            store.db.execute("ROLLBACK")
            raise
    return added


def _rows(db: sqlite3.Connection, limit: int | None, newest_first: bool) -> list[dict[str, Any]]:
    order = "DESC" if newest_first else "ASC"
    sql = ("SELECT id, at, kind, seq, categories, n_records, batch_hash, detail, prev, hash FROM audit_log "
           f"ORDER BY id {order}")
    params: tuple[Any, ...] = ()
    if limit is not None:
        sql += " LIMIT ?"
        params = (int(limit),)
    out = []
    for r in db.execute(sql, params).fetchall():
        out.append({"id": r[0], "at": r[1], "kind": r[2], "seq": r[3], "categories": json.loads(r[4]),
                    "n_records": r[5], "batch_hash": r[6], "detail": json.loads(r[7]), "prev": r[8], "hash": r[9]})
    return out


def _open_ro(path: str | Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=10)


def read_entries(store_or_path: Any, limit: int | None = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` entries (all when None), newest first, for display.

    Each entry: ``id``, ``at`` (epoch s), ``time`` (ISO 8601 UTC), ``kind`` ('batch', 'consent'
    = a change the gateway announced in a signed record, 'consent_local' = a change made on
    site with `edgeproof consent`), ``seq`` and ``batch_hash`` (batches and announced
    changes), ``categories``, ``n_records``, ``detail`` (consent changes: what changed),
    ``prev``/``hash`` (the chain), and ``acknowledged`` (batches: True once every uplink
    destination acknowledged that seq, False before, None when no destination has acked yet).
    """
    if isinstance(store_or_path, str | Path):
        db = _open_ro(store_or_path)
        try:
            return _decorate(db, _rows(db, limit, True))
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            db.close()
    with store_or_path._lock:
        return _decorate(store_or_path.db, _rows(store_or_path.db, limit, True))


def _decorate(db: sqlite3.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        acks = [r[0] for r in db.execute("SELECT seq FROM acks").fetchall()]
    except sqlite3.OperationalError:
        acks = []
    acked = min(acks) if acks else None
    for e in rows:
        e["time"] = datetime.fromtimestamp(e["at"], UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        e["acknowledged"] = (None if acked is None else e["seq"] <= acked) if e["kind"] == "batch" else None
    return rows


@dataclass
class Verification:
    ok: bool
    entries: int
    batches: int
    consent_changes: int
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "batches": self.batches,
                "consent_changes": self.consent_changes, "problems": self.problems}


def verify(store_or_path: Any) -> Verification:
    """Recompute the chain and compare batch entries with the outbox."""
    own = isinstance(store_or_path, str | Path)
    db = _open_ro(store_or_path) if own else store_or_path.db
    try:
        if own:
            rows = _rows(db, None, False)
            outbox = {r[0]: (r[1], r[2]) for r in db.execute("SELECT seq, hash, n_records FROM outbox")}
        else:
            with store_or_path._lock:
                rows = _rows(db, None, False)
                outbox = {r[0]: (r[1], r[2]) for r in db.execute("SELECT seq, hash, n_records FROM outbox")}
    finally:
        if own:
            db.close()
    problems: list[str] = []
    prev = GENESIS
    logged: set[int] = set()
    for i, e in enumerate(rows, start=1):
        if e["id"] != i:
            problems.append(f"entry {e['id']}: expected id {i} (an entry is missing)")
        if e["prev"] != prev:
            problems.append(f"entry {e['id']}: prev does not match the hash of entry {i - 1}")
        if entry_hash(e) != e["hash"]:
            problems.append(f"entry {e['id']}: hash does not match its content (edited)")
        prev = e["hash"]
        if e["kind"] == "batch":
            logged.add(e["seq"])
            ob = outbox.get(e["seq"])
            if ob is None and e["seq"] >= min(outbox, default=0):  # older ones may be pruned after ack
                problems.append(f"entry {e['id']}: batch seq {e['seq']} is not in the outbox")
            elif ob is not None and ob != (e["batch_hash"], e["n_records"]):
                problems.append(f"entry {e['id']}: batch seq {e['seq']} differs from the outbox "
                                f"(hash or record count)")
    missing = sorted(set(outbox) - logged)
    if missing:
        problems.append(f"outbox batches not in the log: {missing[:20]}{' ...' if len(missing) > 20 else ''}")
    return Verification(not problems, len(rows), len(logged),
                        sum(1 for e in rows if e["kind"] in ("consent", "consent_local")), problems)
