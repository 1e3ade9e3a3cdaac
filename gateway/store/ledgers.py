"""Declared events and disputes/confirmations made on site: their SQL (gateway/declarations and
gateway/disputes use these; the tables are in the store's schema).

Both are append-only ledgers: a row is added, later signed into the chain (``batch_seq`` set), never
edited otherwise nor deleted. Rows come back as dicts keyed by column name. Functions whose name ends
in ``_in_tx`` run inside the caller's ``store.tx(...)``: a ledger's checks and its insert, or its
"signed in batch N" mark and the audit entry, commit together.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.store import Store

DECLARATION_COLUMNS = ("id", "action", "kind", "start", "end", "assets", "note", "note_token", "declared_at",
                       "withdraws", "source", "ext_id", "batch_seq")
_DECLARATIONS = ", ".join(f'"{c}"' for c in DECLARATION_COLUMNS)  # "end" is an SQL keyword
DISPUTE_COLUMNS = ("id", "action", "finding", "finding_id", "reason", "note", "measures", "made_at", "source",
                   "batch_seq")
_DISPUTES = ", ".join(DISPUTE_COLUMNS)
# A cutoff beyond any real time: SQLite compares REAL with +inf correctly, but a bound parameter
# must be finite for every driver; a declaration dated later than this is not one.
_FAR_FUTURE = 1e18


def _dicts(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, r, strict=True)) for r in rows]


# -- declarations ----------------------------------------------------------------------------
def declaration_by_ext_id_in_tx(store: Store, ext_id: str) -> int | None:
    """The id of the row a replayed declarations.csv line already made, or None."""
    row = store.db.execute("SELECT id FROM declarations WHERE ext_id = ?", (ext_id,)).fetchone()
    return None if row is None else int(row[0])


def declaration_action_in_tx(store: Store, declaration_id: int) -> str | None:
    """'declare' or 'withdraw' for the row with that id, None when there is none."""
    row = store.db.execute("SELECT action FROM declarations WHERE id = ?", (declaration_id,)).fetchone()
    return None if row is None else str(row[0])


def is_withdrawn_in_tx(store: Store, declaration_id: int) -> bool:
    return store.db.execute("SELECT 1 FROM declarations WHERE withdraws = ?", (declaration_id,)).fetchone() is not None


def add_declaration_in_tx(store: Store, *, kind: str, start: float, end: float, assets: list[str], note: str,
                          note_token: str | None, declared_at: float, source: str, ext_id: str | None) -> int:
    cur = store.db.execute(
        'INSERT INTO declarations(action, kind, start, "end", assets, note, note_token, declared_at, source, '
        "ext_id) VALUES('declare',?,?,?,?,?,?,?,?,?)",
        (kind, start, end, json.dumps(list(assets)), note, note_token, declared_at, source, ext_id))
    return int(cur.lastrowid or 0)


def add_withdrawal_in_tx(store: Store, *, withdraws: int, note: str, note_token: str | None, declared_at: float,
                         source: str, ext_id: str | None) -> int:
    cur = store.db.execute(
        "INSERT INTO declarations(action, note, note_token, declared_at, withdraws, source, ext_id) "
        "VALUES('withdraw',?,?,?,?,?,?)", (note, note_token, declared_at, withdraws, source, ext_id))
    return int(cur.lastrowid or 0)


def declarations(store: Store) -> list[dict[str, Any]]:
    """Every declaration and withdrawal, oldest first (``assets`` still JSON text)."""
    with store._lock:
        return _dicts(DECLARATION_COLUMNS,
                      store.db.execute(f"SELECT {_DECLARATIONS} FROM declarations ORDER BY id").fetchall())


def unsigned_declarations(store: Store, cutoff: float, limit: int) -> list[dict[str, Any]]:
    """Rows not yet signed and declared at or before ``cutoff``, oldest first."""
    with store._lock:
        return _dicts(DECLARATION_COLUMNS, store.db.execute(
            f"SELECT {_DECLARATIONS} FROM declarations WHERE batch_seq IS NULL AND declared_at <= ? "
            "ORDER BY id LIMIT ?", (min(cutoff, _FAR_FUTURE), limit)).fetchall())


def mark_declarations_signed_in_tx(store: Store, ids: list[int], seq: int) -> None:
    store.db.executemany("UPDATE declarations SET batch_seq = ? WHERE id = ?", [(seq, i) for i in ids])


# -- disputes and confirmations ----------------------------------------------------------------
def add_dispute(store: Store, *, action: str, finding: str | None, finding_id: int | None, reason: str | None,
                note: str, made_at: float, source: str) -> int:
    with store._lock:
        cur = store.db.execute(
            "INSERT INTO disputes(action, finding, finding_id, reason, note, made_at, source) VALUES(?,?,?,?,?,?,?)",
            (action, finding, finding_id, reason, note, made_at, source))
        return int(cur.lastrowid or 0)


def add_confirmation(store: Store, *, note: str, measures: str, made_at: float, source: str) -> int:
    """``measures``: the JSON of the measures in force, copied into the row."""
    with store._lock:
        cur = store.db.execute("INSERT INTO disputes(action, note, measures, made_at, source) "
                               "VALUES('confirm',?,?,?,?)", (note, measures, made_at, source))
        return int(cur.lastrowid or 0)


def disputes(store: Store) -> list[dict[str, Any]]:
    """Every dispute and confirmation, oldest first (``measures`` still JSON text)."""
    with store._lock:
        return _dicts(DISPUTE_COLUMNS, store.db.execute(f"SELECT {_DISPUTES} FROM disputes ORDER BY id").fetchall())


def unsigned_disputes(store: Store, cutoff: float, limit: int) -> list[dict[str, Any]]:
    """Rows not yet signed and made at or before ``cutoff``, oldest first."""
    with store._lock:
        return _dicts(DISPUTE_COLUMNS, store.db.execute(
            f"SELECT {_DISPUTES} FROM disputes WHERE batch_seq IS NULL AND made_at <= ? ORDER BY id LIMIT ?",
            (min(cutoff, _FAR_FUTURE), limit)).fetchall())


def mark_disputes_signed_in_tx(store: Store, ids: list[int], seq: int) -> None:
    store.db.executemany("UPDATE disputes SET batch_seq = ? WHERE id = ?", [(seq, i) for i in ids])
