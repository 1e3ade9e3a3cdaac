"""The enterprise's imported exports in the store: ``erp_imports``, ``erp_rows``,
``erp_quarantine``, ``erp_changes`` (schema in gateway/store/__init__.py).

Every statement the connectors (gateway/connectors/importer.py, products.py) and the
enterprise indicators (gateway/indicators/enterprise.py, import_quality.py, collateral.py)
run lives here, under the store's lock, so locking and schema stay in one place.

Reads that can be large stream: ``rows_between`` pages through a range by (ts, id) in chunks
and holds the lock only per chunk (the gateway's writers never wait for a whole month), and
``totals`` sums fields of a range in SQL, so a window of 270,000 rows costs one scan and a few
floats instead of the rows themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.store import Store

# Rows fetched per statement by ``rows_between``: bounds what a read holds (a chunk of JSON
# text) and how long the gateway's other writers wait for the store's lock.
READ_CHUNK_ROWS = 2000
# The content_hash of an import still running (or that crashed): never matches a fingerprint.
INCOMPLETE = "incomplete:"
_KEYS_PER_STATEMENT = 500  # below SQLite's variable limit, whatever it was compiled with


@dataclass(frozen=True)
class StoredRow:
    """A row already in ``erp_rows`` under the key an import is writing."""

    id: int
    row_hash: str
    fields: str
    day: str
    import_id: int


# -- one import's transactions ---------------------------------------------------------------------
@contextlib.contextmanager
def import_transaction(store: Store) -> Iterator[None]:
    """One chunk of an import: BEGIN IMMEDIATE under the store's lock, COMMIT or ROLLBACK."""
    with store.tx("IMMEDIATE"):
        yield


def import_seen(store: Store, connector: str, content_hash: str) -> bool:
    """Was this content (export + mapping fingerprint) imported whole before?"""
    with store._lock:
        return store.db.execute("SELECT 1 FROM erp_imports WHERE connector=? AND content_hash=? LIMIT 1",
                                (connector, content_hash)).fetchone() is not None


def begin_import(store: Store, connector: str, source: str, fingerprint: str, at: float,
                 dataset: str) -> tuple[int, set[int]]:
    """Record an import as incomplete and start its key set (a temporary table: duplicates are
    found there and a snapshot's removals computed from it). Returns the import's id and the
    ids of this connector's earlier imports that never finished. Inside ``import_transaction``."""
    with store._lock:
        db = store.db
        cur = db.execute("INSERT INTO erp_imports(connector, source, content_hash, at, dataset) VALUES(?,?,?,?,?)",
                         (connector, source, INCOMPLETE + fingerprint, at, dataset))
        iid = int(cur.lastrowid or 0)
        db.execute("CREATE TEMP TABLE IF NOT EXISTS import_seen(key TEXT PRIMARY KEY, line INTEGER NOT NULL)")
        db.execute("DELETE FROM temp.import_seen")
        incomplete = {i for (i,) in db.execute(
            "SELECT id FROM erp_imports WHERE connector=? AND dataset=? AND content_hash LIKE ? AND id<>?",
            (connector, dataset, INCOMPLETE + "%", iid))}
    return iid, incomplete


def stored_rows(store: Store, connector: str, dataset: str, keys: Sequence[str]) -> dict[str, StoredRow]:
    """The rows already stored under these business keys (one chunk's keys)."""
    out: dict[str, StoredRow] = {}
    with store._lock:
        for i in range(0, len(keys), _KEYS_PER_STATEMENT):
            part = keys[i:i + _KEYS_PER_STATEMENT]
            out.update((r[0], StoredRow(*r[1:])) for r in store.db.execute(
                f"SELECT key, id, row_hash, fields, day, import_id FROM erp_rows WHERE connector=? AND dataset=? "
                f"AND key IN ({','.join('?' * len(part))})", (connector, dataset, *part)))
    return out


def claim_key(store: Store, key: str, line: int) -> int | None:
    """Note that this import has the key on ``line``; if it had it already, the first line."""
    with store._lock:
        first = store.db.execute("SELECT line FROM temp.import_seen WHERE key=?", (key,)).fetchone()
        if first is not None:
            return int(first[0])
        store.db.execute("INSERT INTO temp.import_seen(key, line) VALUES(?,?)", (key, line))
    return None


def add_row(store: Store, connector: str, dataset: str, key: str, day: str, ts: float, fields: str,
            row_hash: str, import_id: int) -> None:
    with store._lock:
        store.db.execute("INSERT INTO erp_rows(connector, dataset, key, day, ts, fields, row_hash, import_id) "
                         "VALUES(?,?,?,?,?,?,?,?)", (connector, dataset, key, day, ts, fields, row_hash, import_id))


def replace_row(store: Store, row_id: int, day: str, ts: float, fields: str, row_hash: str, import_id: int) -> None:
    with store._lock:
        store.db.execute("UPDATE erp_rows SET day=?, ts=?, fields=?, row_hash=?, import_id=? WHERE id=?",
                         (day, ts, fields, row_hash, import_id, row_id))


def record_change(store: Store, import_id: int, at: float, connector: str, dataset: str, key: str, change: str,
                  old: str | None, new: str | None) -> None:
    """One line of ``erp_changes``: what a correction changed or removed (tokenised values)."""
    with store._lock:
        store.db.execute("INSERT INTO erp_changes(import_id, at, connector, dataset, key, change, old, new) "
                         "VALUES(?,?,?,?,?,?,?,?)", (import_id, at, connector, dataset, key, change, old, new))


def quarantine(store: Store, import_id: int, connector: str, source: str,
               lines: Iterable[tuple[int, str, str]]) -> None:
    """Lines that did not import, (line, reason, raw text): kept on site for the enterprise."""
    with store._lock:
        store.db.executemany("INSERT INTO erp_quarantine(import_id, connector, source, line, reason, raw) "
                             "VALUES(?,?,?,?,?,?)", [(import_id, connector, source, ln, r, raw[:2000])
                                                    for ln, r, raw in lines])


def rows_not_reexported(store: Store, connector: str, dataset: str, lo: str, hi: str, import_id: int,
                        limit: int) -> list[tuple[int, str, str, str]]:
    """(id, key, fields, day) of up to ``limit`` rows of the days [lo, hi] that this import's
    export no longer has (a snapshot's removals)."""
    with store._lock:
        return store.db.execute("SELECT id, key, fields, day FROM erp_rows WHERE connector=? AND dataset=? "
                                "AND day BETWEEN ? AND ? AND import_id<>? AND key NOT IN "
                                "(SELECT key FROM temp.import_seen) LIMIT ?",
                                (connector, dataset, lo, hi, import_id, limit)).fetchall()


def remove_row(store: Store, row_id: int) -> None:
    with store._lock:
        store.db.execute("DELETE FROM erp_rows WHERE id=?", (row_id,))


def finish_import(store: Store, import_id: int, connector: str, dataset: str, fingerprint: str,
                  period: tuple[str | None, str | None], counts: dict[str, int]) -> None:
    """Record the import as complete with its figures (``rows_ok``, ``rows_quarantined``,
    ``added``, ``changed``, ``removed``, ``unchanged``); imports of this connector that crashed
    half-way are superseded. Inside ``import_transaction``."""
    with store._lock:
        db = store.db
        db.execute("UPDATE erp_imports SET content_hash=?, period_start=?, period_end=?, rows_ok=?, "
                   "rows_quarantined=?, added=?, changed=?, removed=?, unchanged=? WHERE id=?",
                   (fingerprint, period[0], period[1], counts["rows_ok"], counts["rows_quarantined"],
                    counts["added"], counts["changed"], counts["removed"], counts["unchanged"], import_id))
        db.execute("UPDATE erp_imports SET content_hash='aborted:' || substr(content_hash, ?) WHERE connector=? "
                   "AND dataset=? AND content_hash LIKE ?", (len(INCOMPLETE) + 1, connector, dataset,
                                                             INCOMPLETE + "%"))
        db.execute("DELETE FROM temp.import_seen")


def quarantined_lines(store: Store, connector: str | None = None, limit: int = 200) -> list[tuple[Any, ...]]:
    """(import_id, connector, source, line, reason, raw) of quarantined lines, newest first."""
    sql = "SELECT import_id, connector, source, line, reason, raw FROM erp_quarantine"
    params: tuple[Any, ...] = ()
    if connector:
        sql += " WHERE connector=?"
        params = (connector,)
    sql += " ORDER BY id DESC LIMIT ?"
    with store._lock:
        return store.db.execute(sql, (*params, limit)).fetchall()


def import_totals(store: Store, start: float, end: float) -> list[tuple[Any, ...]]:
    """Per connector, of the imports made in [start, end): (connector, rows quarantined, rows
    ok, changed, removed, imports)."""
    with store._lock:
        return store.db.execute(
            "SELECT connector, SUM(rows_quarantined), SUM(rows_ok), SUM(changed), SUM(removed), COUNT(*) "
            "FROM erp_imports WHERE at>=? AND at<? GROUP BY connector ORDER BY connector", (start, end)).fetchall()


# -- rows of one connector or dataset ------------------------------------------------------------
def connector_fields(store: Store, dataset: str, last_connector: str) -> list[tuple[str, str]]:
    """(connector, fields) of a dataset, ``last_connector``'s rows last (they win a merge)."""
    with store._lock:
        return store.db.execute("SELECT connector, fields FROM erp_rows WHERE dataset=? "
                                "ORDER BY connector = ?, connector, id", (dataset, last_connector)).fetchall()


def remove_connector_rows(store: Store, connector: str, dataset: str) -> int:
    """Delete every row one connector imported into a dataset; returns how many."""
    with store._lock:
        return int(store.db.execute("DELETE FROM erp_rows WHERE connector=? AND dataset=?",
                                    (connector, dataset)).rowcount or 0)


def days_with_rows(store: Store, dataset: str) -> set[str]:
    """Every local day that has rows of the dataset."""
    with store._lock:
        return {d for (d,) in store.db.execute("SELECT DISTINCT day FROM erp_rows WHERE dataset=?", (dataset,))}


def first_day(store: Store) -> str | None:
    """The earliest day of any imported row (None: nothing imported)."""
    with store._lock:
        row = store.db.execute("SELECT MIN(day) FROM erp_rows").fetchone()
    return None if row is None else row[0]


def has_rows(store: Store, dataset: str) -> bool:
    with store._lock:
        return store.db.execute("SELECT 1 FROM erp_rows WHERE dataset=? LIMIT 1", (dataset,)).fetchone() is not None


def count_rows(store: Store, dataset: str, start: float | None = None, end: float | None = None) -> int:
    """Rows of a dataset (whose own time is in [start, end) when given)."""
    sql, params = "SELECT COUNT(*) FROM erp_rows WHERE dataset=?", [dataset]
    if start is not None:
        sql, params = sql + " AND ts>=?", [*params, start]
    if end is not None:
        sql, params = sql + " AND ts<?", [*params, end]
    with store._lock:
        return int(store.db.execute(sql, params).fetchone()[0])


def rows_between(store: Store, dataset: str, start: float, end: float,
                 chunk: int = READ_CHUNK_ROWS) -> Iterator[tuple[str, float, str]]:
    """(day, ts, fields JSON) of a dataset's rows whose own time is in [start, end), oldest
    first (ts, then id), read ``chunk`` rows per statement (keyset paging on the (dataset, ts)
    index): memory is one chunk, and the lock is held per chunk, never across a yield."""
    last_ts, last_id = float("-inf"), -1
    while True:
        with store._lock:
            got = store.db.execute(
                "SELECT id, day, ts, fields FROM erp_rows WHERE dataset=? AND ts>=? AND ts<? AND ts>=? "
                "AND (ts>? OR id>?) ORDER BY ts, id LIMIT ?",
                (dataset, start, end, last_ts, last_ts, last_id, chunk)).fetchall()
        for rid, day, ts, fields in got:
            yield day, ts, fields
            last_ts, last_id = ts, rid
        if len(got) < chunk:
            return


def stock_moves_between(store: Store, start: float, end: float) -> list[tuple[float, str]]:
    """(ts, fields JSON) of ``stock_moves`` rows in [start, end), oldest first: the ERP
    movements a weight step may be explained by (a window's worth, a few rows)."""
    with store._lock:
        return store.db.execute("SELECT ts, fields FROM erp_rows WHERE dataset='stock_moves' AND ts>=? AND ts<? "
                                "ORDER BY ts", (start, end)).fetchall()


def totals(store: Store, dataset: str, start: float, end: float, fields: Sequence[str],
           by: str | None = None) -> dict[Any, tuple[int, list[float]]]:
    """Sums of numeric fields over a dataset's rows in [start, end), in SQL: group (the value
    of field ``by``, or None) -> (rows, [total of each field]). A missing or null field adds
    nothing. Ungrouped, rows are summed in the (dataset, ts) index's order, (ts, id), as a
    Python loop over ``rows_between`` would; grouped, in SQLite's order within a group (the
    same total up to the rounding of non-integer figures). One index range scan whatever the
    size of the window; nothing but the groups is held."""
    cols = ", ".join("TOTAL(json_extract(fields, ?))" for _ in fields)
    params: list[Any] = [f"$.{f}" for f in fields]
    if by:
        sql = (f"SELECT json_extract(fields, ?) AS g, COUNT(*), {cols} FROM erp_rows "
               "WHERE dataset=? AND ts>=? AND ts<? GROUP BY g")
        params = [f"$.{by}", *params]
    else:
        sql = f"SELECT NULL, COUNT(*), {cols} FROM erp_rows WHERE dataset=? AND ts>=? AND ts<?"
    with store._lock:
        got = store.db.execute(sql, (*params, dataset, start, end)).fetchall()
    return {r[0]: (int(r[1]), [float(v) for v in r[2:]]) for r in got if r[1]}


def count_distinct(store: Store, dataset: str, start: float, end: float, field: str) -> tuple[int, int]:
    """(rows, distinct values of ``field``) over a dataset's rows in [start, end); a row without
    the field counts by its own time. In SQL: no value is held in Python."""
    with store._lock:
        n, distinct = store.db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT COALESCE(json_extract(fields, ?), ts)) FROM erp_rows "
            "WHERE dataset=? AND ts>=? AND ts<?", (f"$.{field}", dataset, start, end)).fetchone()
    return int(n), int(distinct)


def indicator_subjects(store: Store, name: str, window_start: int, window_len: int, prefix: str) -> set[str]:
    """Subjects already stored for an indicator and window whose name starts with ``prefix``."""
    with store._lock:
        got = store.db.execute("SELECT subject FROM indicators WHERE name=? AND window_start=? AND window_len=? "
                               "AND subject LIKE ?", (name, window_start, window_len, prefix + "%")).fetchall()
    return {r[0] for r in got}
