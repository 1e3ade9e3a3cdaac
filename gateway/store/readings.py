"""Raw readings and polls beyond what ``Store`` has itself: the status page's estimates and charts,
and a replay's trimming and resume point.

Writing readings, the time-window reads the indicator engine makes and the retention purge stay in
``Store``. Readings never leave the site; nothing here sends them anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.store import Store


def rowid_span(store: Store) -> tuple[int | None, int | None, float | None]:
    """(lowest rowid, highest rowid, time of the oldest reading), all None for an empty table.

    Counting rows exactly is a full scan on a Pi's SD card; rowids grow with time and purges delete
    the oldest, so the span is a close, O(log n) estimate. Two statements: SQLite answers MIN(rowid)
    or MAX(rowid) alone from the b-tree's edge, but both in one SELECT scan the whole table."""
    with store._lock:
        lo = store.db.execute("SELECT MIN(rowid) FROM readings").fetchone()[0]
        hi = store.db.execute("SELECT MAX(rowid) FROM readings").fetchone()[0]
        if lo is None:
            return None, hi, None
        oldest = store.db.execute("SELECT ts FROM readings WHERE rowid=?", (lo,)).fetchone()[0]
    return int(lo), int(hi), float(oldest)


def first_since(store: Store, since: float) -> float | None:
    """The time of the first reading at or after ``since``, None when there is none."""
    with store._lock:
        row = store.db.execute("SELECT MIN(ts) FROM readings WHERE ts>=?", (since,)).fetchone()
    return None if row[0] is None else float(row[0])


def buckets(store: Store, start: float, width: float) -> list[tuple[Any, ...]]:
    """Readings since ``start`` in buckets ``width`` seconds wide, per point (one range scan of the time
    index serves every point): (point_id, bucket number, mean value, values, rows) ordered by point
    and bucket; a bucket with fewer values than rows had gaps (readings without a value)."""
    with store._lock:
        return store.db.execute(
            "SELECT point_id, CAST((ts-?)/? AS INTEGER) AS b, AVG(value), COUNT(value), COUNT(*) FROM readings "
            "WHERE ts>=? GROUP BY point_id, b ORDER BY point_id, b", (start, width, start)).fetchall()


def drop_before(store: Store, before: float) -> int:
    """Delete readings and polls older than ``before`` (no loss is counted: the caller has computed
    every window they fed); returns how many readings went."""
    with store.tx("IMMEDIATE"):
        n = store.db.execute("DELETE FROM readings WHERE ts < ?", (before,)).rowcount
        store.db.execute("DELETE FROM polls WHERE ts < ?", (before,))
    return int(n)


def last_poll_of(store: Store, devices: list[str]) -> float | None:
    """When any of ``devices`` was last polled, None when none ever was."""
    if not devices:
        return None
    with store._lock:
        row = store.db.execute(f"SELECT MAX(ts) FROM polls WHERE device IN ({','.join('?' * len(devices))})",
                               devices).fetchone()
    return None if row is None or row[0] is None else float(row[0])
