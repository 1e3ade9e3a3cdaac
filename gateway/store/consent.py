"""Consent changes made on site and the enterprise's audit log: their SQL (gateway/consent uses these).

The meaning (what a change permits, how an audit entry's hash is computed, what counts as a broken
chain) stays in gateway/consent; here are only the statements, run under the store's lock. Functions
whose name ends in ``_in_tx`` write inside the caller's ``store.tx("IMMEDIATE")``, so a consent change
and its audit entry are committed together or not at all, and two processes (the gateway and a
`consent` command) cannot fork the audit chain.

The read functions take a ``Store`` or a ``ReadOnlyStore`` (gateway/store/readonly.py): the audit log
is also read from the file by a process that must not write it.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.store import Store
    from gateway.store.readonly import ReadOnlyStore

AUDIT_COLUMNS = ("id", "at", "kind", "seq", "categories", "n_records", "batch_hash", "detail", "prev", "hash")


# -- consent changes made on site ---------------------------------------------------------
def local_changes(store: Store) -> list[tuple[Any, ...]]:
    """Every change, oldest first: (id, at, action, categories as JSON, receiver, until, note)."""
    with store._lock:
        return store.db.execute("SELECT id, at, action, categories, receiver, until, note FROM consent_changes "
                                "ORDER BY id").fetchall()


def newest_change_id(store: Store) -> int:
    """The id of the newest change (0 when none): a packing step compares it with the one it read."""
    with store._lock:
        (newest,) = store.db.execute("SELECT COALESCE(MAX(id), 0) FROM consent_changes").fetchone()
    return int(newest)


def add_change_in_tx(store: Store, at: float, action: str, categories: list[str], receiver: str,
                     until: float | None, note: str) -> int:
    """Insert one change (categories stored sorted, as JSON); returns its id."""
    cur = store.db.execute("INSERT INTO consent_changes(at, action, categories, receiver, until, note) "
                           "VALUES(?,?,?,?,?,?)", (at, action, json.dumps(sorted(categories)), receiver, until, note))
    return int(cur.lastrowid or 0)


# -- the audit log ---------------------------------------------------------------------------
def last_audit_entry_in_tx(store: Store) -> tuple[int, str] | None:
    """(id, hash) of the newest entry, or None for an empty log: what the next entry chains to."""
    row = store.db.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def add_audit_entry_in_tx(store: Store, entry: dict[str, Any]) -> None:
    """Append one entry whose ``id``, ``prev`` and ``hash`` the caller computed."""
    store.db.execute(
        "INSERT INTO audit_log(id, at, kind, seq, categories, n_records, batch_hash, detail, prev, hash) "
        "VALUES(?,?,?,?,?,?,?,?,?,?)",
        (entry["id"], entry["at"], entry["kind"], entry["seq"], json.dumps(entry["categories"]), entry["n_records"],
         entry["batch_hash"], json.dumps(entry["detail"], sort_keys=True, ensure_ascii=False), entry["prev"],
         entry["hash"]))


def batches_not_audited_in_tx(store: Store) -> list[tuple[int, str, float, int, list[str]]]:
    """Outbox batches after the newest one the log records, in seq order:
    (seq, hash, created, n_records, categories)."""
    last = store.db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log WHERE kind='batch'").fetchone()[0]
    rows = store.db.execute("SELECT seq, hash, created, n_records, categories FROM outbox WHERE seq>? "
                            "ORDER BY seq", (last,)).fetchall()
    return [(int(s), str(h), float(c), int(n), json.loads(cats)) for s, h, c, n, cats in rows]


def _entries(db: sqlite3.Connection, limit: int | None, newest_first: bool) -> list[dict[str, Any]]:
    order = "DESC" if newest_first else "ASC"
    sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log ORDER BY id {order}"
    params: tuple[Any, ...] = ()
    if limit is not None:
        sql += " LIMIT ?"
        params = (int(limit),)
    out = []
    for r in db.execute(sql, params).fetchall():
        out.append({"id": r[0], "at": r[1], "kind": r[2], "seq": r[3], "categories": json.loads(r[4]),
                    "n_records": r[5], "batch_hash": r[6], "detail": json.loads(r[7]), "prev": r[8], "hash": r[9]})
    return out


def audit_entries_and_acks(store: Store | ReadOnlyStore, limit: int | None, newest_first: bool = True
                           ) -> tuple[list[dict[str, Any]], list[int]]:
    """The log's entries (``limit`` of them, all when None) as dicts, and every destination's
    acknowledged seq, read together. A file without an audit log (a store from before it, or not a
    store) has no entries; one without an acks table has no acknowledgements."""
    with store._lock:
        try:
            entries = _entries(store.db, limit, newest_first)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return [], []
            raise
        try:
            acks = [int(r[0]) for r in store.db.execute("SELECT seq FROM acks").fetchall()]
        except sqlite3.OperationalError:
            acks = []
    return entries, acks


def audit_entries_and_outbox(store: Store | ReadOnlyStore) -> tuple[list[dict[str, Any]], dict[int, tuple[str, int]]]:
    """Every entry, oldest first, and the outbox's {seq: (hash, n_records)}, read together (what
    `consent audit --verify` compares)."""
    with store._lock:
        entries = _entries(store.db, None, False)
        outbox = {int(r[0]): (r[1], r[2]) for r in store.db.execute("SELECT seq, hash, n_records FROM outbox")}
    return entries, outbox
