"""Declarations kept in the gateway's store, and their signing into the chain.

``edgeproof declare add|withdraw`` appends a row here; the running gateway (or a replay)
packs every unsent row into a ``declaration`` record at its next packing step, in a batch
of its own, whatever the consent categories (the gate calls :func:`pack_pending`). Nothing
is ever deleted: a withdrawal is its own row and its own signed record naming the
declaration it withdraws. The table lives in this module (created on first use), so the
store's schema is not edited for it.

Notes stay on site (free text that may hold names): the record carries only a keyed token
of the note (``note_token``), so in a dispute the enterprise can show the note it wrote and
prove it is the one declared then, while no name leaves the site.
"""

from __future__ import annotations

import json
import time
from typing import Any

from gateway.declarations.model import Declaration, DeclarationError, iso
from gateway.i18n import N_

TABLE = """
CREATE TABLE IF NOT EXISTS declarations (
    id INTEGER PRIMARY KEY, action TEXT NOT NULL, kind TEXT, start REAL, "end" REAL,
    assets TEXT NOT NULL DEFAULT '[]', note TEXT NOT NULL DEFAULT '', note_token TEXT,
    declared_at REAL NOT NULL, withdraws INTEGER, source TEXT NOT NULL DEFAULT 'cli', ext_id TEXT UNIQUE,
    batch_seq INTEGER)
"""
_COLS = ("id", "action", "kind", "start", "end", "assets", "note", "note_token", "declared_at", "withdraws",
         "source", "ext_id", "batch_seq")
_SELECT = ", ".join(f'"{c}"' for c in _COLS)


def _ensure(store: Any) -> None:
    with store._lock:
        store.db.execute(TABLE)


def add(store: Any, decl: Declaration, *, declared_at: float | None = None, note_token: str | None = None,
        source: str = "cli", ext_id: str | None = None) -> int:
    """Append a declaration; returns its id (the id the bank sees). With ``ext_id`` (a replayed
    declarations.csv row) a second add of the same row is a no-op returning the first id."""
    _ensure(store)
    at = time.time() if declared_at is None else float(declared_at)
    with store._lock:
        if ext_id is not None:
            row = store.db.execute("SELECT id FROM declarations WHERE ext_id = ?", (ext_id,)).fetchone()
            if row:
                return int(row[0])
        cur = store.db.execute(
            'INSERT INTO declarations(action, kind, start, "end", assets, note, note_token, declared_at, source, '
            "ext_id) VALUES('declare',?,?,?,?,?,?,?,?,?)",
            (decl.kind, decl.start, decl.end, json.dumps(list(decl.assets)), decl.note, note_token, at, source,
             ext_id))
        return int(cur.lastrowid or 0)


def withdraw(store: Any, declaration_id: int, *, note: str = "", note_token: str | None = None,
             at: float | None = None, source: str = "cli", ext_id: str | None = None) -> int:
    """Append a withdrawal of ``declaration_id``; returns the withdrawal's own id.
    DeclarationError if there is no such declaration or it was withdrawn already."""
    _ensure(store)
    at = time.time() if at is None else float(at)
    with store._lock:
        if ext_id is not None:
            row = store.db.execute("SELECT id FROM declarations WHERE ext_id = ?", (ext_id,)).fetchone()
            if row:
                return int(row[0])
        row = store.db.execute("SELECT action FROM declarations WHERE id = ?", (declaration_id,)).fetchone()
        if row is None or row[0] != "declare":
            raise DeclarationError("id", N_("the id of a declaration on this gateway (no declaration "
                                            "#{declaration_id}; see `edgeproof declare list`)"),
                                         declaration_id=declaration_id)
        if store.db.execute("SELECT 1 FROM declarations WHERE withdraws = ?", (declaration_id,)).fetchone():
            raise DeclarationError("id", N_("a declaration not yet withdrawn (#{declaration_id} was withdrawn "
                                            "already)"), declaration_id=declaration_id)
        cur = store.db.execute(
            "INSERT INTO declarations(action, note, note_token, declared_at, withdraws, source, ext_id) "
            "VALUES('withdraw',?,?,?,?,?,?)", (note, note_token, at, declaration_id, source, ext_id))
        return int(cur.lastrowid or 0)


def rows(store: Any) -> list[dict[str, Any]]:
    """Every declaration and withdrawal, oldest first, each declaration with ``withdrawn_by``."""
    _ensure(store)
    with store._lock:
        got = store.db.execute(f"SELECT {_SELECT} FROM declarations ORDER BY id").fetchall()
    out = [dict(zip(_COLS, r, strict=True)) for r in got]
    by_target = {r["withdraws"]: r["id"] for r in out if r["action"] == "withdraw"}
    for r in out:
        r["assets"] = json.loads(r["assets"] or "[]")
        if r["action"] == "declare":
            r["withdrawn_by"] = by_target.get(r["id"])
    return out


def listing(store: Any) -> list[dict[str, Any]]:
    """The declarations as shown on site (CLI, status page): ISO times, state, where sent."""
    out = []
    for r in rows(store):
        item: dict[str, Any] = {"id": r["id"], "action": r["action"], "declared_at": iso(r["declared_at"]),
                                "note": r["note"], "signed_in_batch": r["batch_seq"], "source": r["source"]}
        if r["action"] == "declare":
            item.update(kind=r["kind"], **{"from": iso(r["start"]), "to": iso(r["end"])}, assets=r["assets"],
                        withdrawn_by=r["withdrawn_by"])
        else:
            item["withdraws"] = r["withdraws"]
        out.append(item)
    return out


def record(row: dict[str, Any], subject: str) -> dict[str, Any]:
    """The wire form of one row (docs/wire-format.md, "Declaration records")."""
    rec: dict[str, Any] = {"type": "declaration", "category": "declaration", "subject": subject,
                           "id": int(row["id"]), "declared_at": iso(row["declared_at"])}
    if row["action"] == "declare":
        start, end = int(row["start"]), int(row["end"])
        rec.update(name="declaration.declare", kind=row["kind"], window={"start": start, "len": end - start},
                   assets=list(row["assets"]), **{"from": iso(row["start"]), "to": iso(row["end"])})
    else:
        rec.update(name="declaration.withdraw", withdraws=int(row["withdraws"]),
                   window={"start": int(row["declared_at"]), "len": 0})
    if row.get("note_token"):
        rec["note_token"] = row["note_token"]
    return rec


def _pending(store: Any, cutoff: float, limit: int) -> list[dict[str, Any]]:
    """Unsigned rows declared at or before ``cutoff``, oldest first (every packing step asks)."""
    with store._lock:
        got = store.db.execute(f"SELECT {_SELECT} FROM declarations WHERE batch_seq IS NULL AND declared_at <= ? "
                               "ORDER BY id LIMIT ?", (min(cutoff, 1e18), limit)).fetchall()
    out = [dict(zip(_COLS, r, strict=True)) for r in got]
    for r in out:
        r["assets"] = json.loads(r["assets"] or "[]")
    return out


def pack_pending(store: Any, batcher: Any, subject: str, now: float | None = None, limit: int = 500) -> list[int]:
    """Sign every declaration (and withdrawal) not yet in the chain, in batches of their own
    (so a bank granted any category sees them: a batch is shown whole). A declaration dated
    after ``now`` (a replay not yet at its declared time) waits. Returns the new seqs."""
    _ensure(store)
    seqs: list[int] = []
    cutoff = float("inf") if now is None else float(now)
    while True:
        pending = _pending(store, cutoff, limit)
        if not pending:
            return seqs
        seq = batcher.pack_once(extra_records=[record(r, subject) for r in pending])
        ids = [r["id"] for r in pending]
        from gateway.consent import audit

        with store._lock:
            store.db.execute("BEGIN IMMEDIATE")
            try:
                store.db.executemany("UPDATE declarations SET batch_seq = ? WHERE id = ?", [(seq, i) for i in ids])
                audit.append_in_tx(store, "declaration", at=now, seq=seq, detail={
                    "declarations": [{k: r.get(k) for k in ("id", "action", "kind", "withdraws")} for r in pending]})
                store.db.execute("COMMIT")
            except BaseException:
                store.db.execute("ROLLBACK")
                raise
        seqs.append(seq)
