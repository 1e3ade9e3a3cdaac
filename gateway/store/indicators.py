"""Indicator rows as the packing step and the people watching it see them: what is pending, what
the consent gate held back and why, what was released, and the totals a decommission reports.

Inserting and revising indicators stays in ``Store`` (``add_indicators``, ``upsert_indicators``),
marking them packed in ``Store.append_batch`` (with the batch, in one transaction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.store import Store

_COLUMNS = "id, name, category, subject, window_start, window_len, value, unit, quality, version, detail"


def pending_of_category(store: Store, category: str, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` indicators of ``category`` neither packed nor held, oldest first."""
    with store._lock:
        cur = store.db.execute(f"SELECT {_COLUMNS} FROM indicators WHERE batch_seq IS NULL AND held IS NULL "
                               "AND category = ? ORDER BY id LIMIT ?", (category, limit))
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def hold(store: Store, reasons: dict[int, str]) -> None:
    """Hold back the indicators ``{id: reason}``: they stay out of every batch until released."""
    with store._lock:
        store.db.executemany("UPDATE indicators SET held=? WHERE id=?", [(r, i) for i, r in reasons.items()])


def release_consent_holds_in_tx(store: Store, categories: list[str] | None) -> int:
    """Put indicators held for consent (reason ``consent: ...``), not yet packed, back in line; only
    those of ``categories`` (all when None). Returns how many."""
    where = "held IS NOT NULL AND held LIKE 'consent:%' AND batch_seq IS NULL"
    params: list[Any] = []
    if categories is not None:
        where += f" AND category IN ({','.join('?' * len(categories))})"
        params = list(categories)
    return int(store.db.execute(f"UPDATE indicators SET held=NULL WHERE {where}", params).rowcount)


def not_packed(store: Store, include_held: bool = False) -> int:
    """Indicators not in any batch yet: waiting for the next packing step, and with ``include_held``
    also those held back."""
    sql = "SELECT COUNT(*) FROM indicators WHERE batch_seq IS NULL" + ("" if include_held else " AND held IS NULL")
    with store._lock:
        return int(store.db.execute(sql).fetchone()[0])


def held_total(store: Store) -> int:
    with store._lock:
        return int(store.db.execute("SELECT COUNT(*) FROM indicators WHERE held IS NOT NULL").fetchone()[0])


def held_by_reason(store: Store, newest: int) -> dict[str, int]:
    """{reason: count} over the newest ``newest`` indicators only (``held`` has no index: a rowid
    range keeps this cheap on a store that has kept years of indicators)."""
    with store._lock:
        return {str(reason): int(n) for reason, n in store.db.execute(
            "SELECT held, COUNT(*) FROM indicators WHERE held IS NOT NULL AND "
            "id > (SELECT COALESCE(MAX(id), 0) FROM indicators) - ? GROUP BY held", (newest,)).fetchall()}


def totals(store: Store) -> dict[str, int]:
    """Batches signed, indicators computed, sent and held, read together (a decommission record's counters)."""
    with store._lock:
        one = store.db.execute
        return {"batches": int(one("SELECT COUNT(*) FROM outbox").fetchone()[0]),
                "indicators": int(one("SELECT COUNT(*) FROM indicators").fetchone()[0]),
                "indicators_sent": int(one("SELECT COUNT(*) FROM indicators WHERE batch_seq IS NOT NULL")
                                       .fetchone()[0]),
                "indicators_held": int(one("SELECT COUNT(*) FROM indicators WHERE held IS NOT NULL").fetchone()[0])}
