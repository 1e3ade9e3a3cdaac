"""Reads of the signed outbox and the acknowledgements beyond the ones ``Store`` has itself: what the
head statements, the health summary, the status page, decommissioning and the updater ask of them.

Writes to the outbox stay in ``Store`` (``append_batch``, ``set_acked``, ``rewind_acked``,
``purge_acked``): the chain advances in one place. The read functions take a ``Store`` or a
``ReadOnlyStore`` (gateway/store/readonly.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.store import Store
    from gateway.store.readonly import ReadOnlyStore


def batch_hash(store: Store, seq: int | None) -> str | None:
    """The hash of batch ``seq`` (what a head statement, an audit entry or a decommission report names),
    None when that batch is not (or no longer) in the outbox."""
    if seq is None:
        return None
    with store._lock:
        row = store.db.execute("SELECT hash FROM outbox WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row[0])


def first_head_signed_seq(store: Store) -> int | None:
    """The oldest batch in the outbox that carries a head signature, None when none does."""
    with store._lock:
        row = store.db.execute("SELECT MIN(seq) FROM outbox WHERE head_sig IS NOT NULL").fetchone()
    return int(row[0]) if row and row[0] is not None else None


def unacknowledged(store: Store, after_seq: int) -> tuple[int, int, float | None]:
    """Batches after ``after_seq`` (the destination's acknowledged seq): (how many, their records,
    when the oldest was created or None)."""
    with store._lock:
        n, records, oldest = store.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(n_records), 0), MIN(created) FROM outbox WHERE seq > ?",
            (after_seq,)).fetchone()
    return int(n), int(records), None if oldest is None else float(oldest)


def consent_batches_after(store: Store, after_seq: int) -> tuple[list[tuple[int, bytes]], int]:
    """(seq, body) of the batches after ``after_seq`` that hold a consent record, in seq order, and the
    outbox's head seq read with them (the next call starts from there)."""
    with store._lock:
        rows = store.db.execute(
            "SELECT seq, body FROM outbox WHERE seq > ? AND categories LIKE '%\"consent\"%' ORDER BY seq",
            (after_seq,)).fetchall()
        head = store.outbox_head()
    return [(int(s), bytes(b)) for s, b in rows], head


def recent_categories(store: Store, batches: int = 200) -> list[str]:
    """The ``categories`` column (JSON text) of the newest ``batches`` batches."""
    with store._lock:
        return [r[0] for r in store.db.execute("SELECT categories FROM outbox ORDER BY seq DESC LIMIT ?",
                                               (batches,)).fetchall()]


def batches_before(store: Store, before: int | None, limit: int) -> list[tuple[Any, ...]]:
    """The newest ``limit`` batches (below ``before`` when given), newest first:
    (seq, hash, body, kid, created, n_records, categories as JSON)."""
    sql = "SELECT seq, hash, body, kid, created, n_records, categories FROM outbox"
    params: tuple[Any, ...] = ()
    if before is not None:
        sql += " WHERE seq < ?"
        params = (before,)
    with store._lock:
        return store.db.execute(sql + " ORDER BY seq DESC LIMIT ?", (*params, limit)).fetchall()


def last_ack_at(store: Store | ReadOnlyStore) -> float | None:
    """When any destination last acknowledged a batch (epoch s), None when none ever did."""
    with store._lock:
        row = store.db.execute("SELECT MAX(at) FROM acks").fetchone()
    return None if row is None or row[0] is None else float(row[0])
