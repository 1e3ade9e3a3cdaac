"""Disputes and confirmations kept in the gateway's store, and their signing into the chain.

``edgeproof dispute add`` / ``edgeproof confirm`` (or the status page) append a row here; the
running gateway packs every unsent row into a ``dispute`` or ``confirmation`` record at its
next packing step, in a batch of its own, whatever the consent categories (the gate calls
:func:`pack_pending`, as for declarations): the categories ``dispute`` and ``confirmation``
are visible to every bank the enterprise authorised, so the enterprise's word reaches each of
them. Nothing is deleted. The table lives in this module (created on first use).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from gateway.declarations.model import iso
from gateway.disputes.model import Dispute

TABLE = """
CREATE TABLE IF NOT EXISTS disputes (
    id INTEGER PRIMARY KEY, action TEXT NOT NULL, finding TEXT, finding_id INTEGER, reason TEXT,
    note TEXT NOT NULL DEFAULT '', measures TEXT, made_at REAL NOT NULL, source TEXT NOT NULL DEFAULT 'cli',
    batch_seq INTEGER)
"""
_COLS = ("id", "action", "finding", "finding_id", "reason", "note", "measures", "made_at", "source", "batch_seq")
_SELECT = ", ".join(_COLS)


def _ensure(store: Any) -> None:
    with store._lock:
        store.db.execute(TABLE)


def add_dispute(store: Any, d: Dispute, *, at: float | None = None, source: str = "cli") -> int:
    """Append a dispute; returns its id (``<gateway>/<id>`` names it at the receiver and the bank)."""
    _ensure(store)
    with store._lock:
        cur = store.db.execute(
            "INSERT INTO disputes(action, finding, finding_id, reason, note, made_at, source) VALUES(?,?,?,?,?,?,?)",
            (d.action, d.finding, d.finding_id, d.reason, d.note, time.time() if at is None else float(at), source))
        return int(cur.lastrowid or 0)


def measures_in_force(store: Any) -> dict[str, Any]:
    """The consent state the gateway holds now (what its last consent record announced), and its
    ``policy`` digest as in that record; ``{"consent": None}`` when the profile has no consent."""
    text = store.meta_get("consent.state")
    if not text:
        return {"consent": None, "policy": None}
    state = json.loads(text)
    return {"consent": state, "policy": hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]}


def add_confirmation(store: Any, note: str = "", *, at: float | None = None, source: str = "cli") -> int:
    """Record that the enterprise confirmed the measures in force now (they are copied into the row)."""
    _ensure(store)
    measures = json.dumps(measures_in_force(store), sort_keys=True)
    with store._lock:
        cur = store.db.execute("INSERT INTO disputes(action, note, measures, made_at, source) "
                               "VALUES('confirm',?,?,?,?)",
                               (note, measures, time.time() if at is None else float(at), source))
        return int(cur.lastrowid or 0)


def rows(store: Any) -> list[dict[str, Any]]:
    _ensure(store)
    with store._lock:
        got = store.db.execute(f"SELECT {_SELECT} FROM disputes ORDER BY id").fetchall()
    out = [dict(zip(_COLS, r, strict=True)) for r in got]
    for r in out:
        r["measures"] = json.loads(r["measures"]) if r["measures"] else None
    return out


def listing(store: Any) -> list[dict[str, Any]]:
    """As shown on site (CLI, status page): ISO times and whether it is signed yet."""
    return [{"id": r["id"], "action": r["action"], "finding": r["finding"], "finding_id": r["finding_id"],
             "reason": r["reason"], "note": r["note"], "measures": r["measures"], "made_at": iso(r["made_at"]),
             "source": r["source"], "signed_in_batch": r["batch_seq"]} for r in rows(store)]


def record(row: dict[str, Any], subject: str) -> dict[str, Any]:
    """The wire form of one row (docs/wire-format.md, "Dispute and confirmation records")."""
    made = iso(row["made_at"])
    base = {"subject": subject, "id": int(row["id"]), "made_at": made, "note": row["note"] or "",
            "window": {"start": int(row["made_at"]), "len": 0}}
    if row["action"] == "confirm":
        return {"type": "confirmation", "category": "confirmation", "name": "confirmation.measures", **base,
                "measures": row["measures"]}
    rec = {"type": "dispute", "category": "dispute", "name": f"dispute.{row['action']}", **base,
           "finding": row["finding"]}
    if row["finding_id"] is not None:
        rec["finding_id"] = int(row["finding_id"])
    if row["action"] == "explain":
        rec["reason"] = row["reason"]
    return rec


def pack_pending(store: Any, batcher: Any, subject: str, now: float | None = None, limit: int = 500) -> list[int]:
    """Sign every row not yet in the chain, in batches of their own; returns the new seqs."""
    _ensure(store)
    seqs: list[int] = []
    cutoff = 1e18 if now is None else float(now)
    while True:
        with store._lock:
            got = store.db.execute(f"SELECT {_SELECT} FROM disputes WHERE batch_seq IS NULL AND made_at <= ? "
                                   "ORDER BY id LIMIT ?", (cutoff, limit)).fetchall()
        pending = [dict(zip(_COLS, r, strict=True)) for r in got]
        if not pending:
            return seqs
        for r in pending:
            r["measures"] = json.loads(r["measures"]) if r["measures"] else None
        seq = batcher.pack_once(extra_records=[record(r, subject) for r in pending])
        from gateway.consent import audit

        with store._lock:
            store.db.execute("BEGIN IMMEDIATE")
            try:
                store.db.executemany("UPDATE disputes SET batch_seq = ? WHERE id = ?",
                                     [(seq, r["id"]) for r in pending])
                audit.append_in_tx(store, "dispute", at=now, seq=seq, detail={
                    "disputes": [{k: r.get(k) for k in ("id", "action", "finding", "reason")} for r in pending]})
                store.db.execute("COMMIT")
            except BaseException:
                store.db.execute("ROLLBACK")
                raise
        seqs.append(seq)
