"""Moving a receiver from its SQLite file to PostgreSQL when it outgrows one file.

A receiver that outgrows SQLite must not start over: its chains (the next batch of every
gateway must extend the stored head), its enrollments and bank grants, and the history the
banks verify and the scores they hold all live in the database. ``move_store`` copies every
row of every table, ids included, from a SQLite receiver database into an empty PostgreSQL
one, in one PostgreSQL transaction, and then proves the copy: per table, the row count and a
content digest read back from PostgreSQL equal those of the SQLite snapshot. Anything less
and nothing is committed.

Why a digest and not only counts: a row can arrive altered (a float, a byte string, text in
another normalisation) and still be counted. The digest is order-independent (the sum of
per-row SHA-256 values modulo 2^256), so it needs no common sort order between the two
stores' collations and constant memory for tens of millions of rows.

The receiver key file is not in the database: keep using the same ``--key`` file, and every
stored score signature and every page signature stays valid. The SQLite source is read
under its write lock (``BEGIN IMMEDIATE``): a receiver still running on it cannot accept a
batch during the move (its gateways keep their batches and retry), so the copy is the whole
of one consistent state. Stop the receiver before the move and start it on PostgreSQL
after: a receiver left running on the file would go on writing there.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cloud_stub.schema import SCHEMA_VERSION
from cloud_stub.texts import msg

# Every table, parents before children (foreign keys); identity tables get their sequence moved on.
TABLES = ("enterprises", "enroll_tokens", "gateways", "gateway_keys", "batches", "records", "findings",
          "scores", "alerts", "banks", "bank_grants", "meta", "head_statements", "offboarding",
          "access_log", "timestamps", "alert_channels", "alert_outbox", "alert_deliveries", "dispute_decisions",
          "gateway_health", "fleet_settings", "fleet_conditions", "operators", "update_releases",
          "facilities", "price_points", "facility_coverage", "portfolio_runs", "device_identity",
          "outside_sources", "outside_records", "bank_findings", "bank_alerts")
IDENTITY_TABLES = ("batches", "records", "findings", "scores", "alerts", "head_statements", "access_log",
                   "timestamps", "alert_channels", "alert_outbox", "alert_deliveries", "dispute_decisions",
                   "outside_records", "bank_findings", "bank_alerts")
SKIP_META = ("schema_version",)  # PostgreSQL keeps its schema version in meta, SQLite in user_version
CHUNK = 5000  # rows per read and COPY round; fewer where a row holds a whole batch body or report
CHUNK_BY_TABLE = {"batches": 20, "scores": 100, "update_releases": 1}  # batch bodies reach 8 MB, bundles more
_MOD = 1 << 256


class MoveError(RuntimeError):
    """The move cannot start or did not prove itself; nothing was committed to the target."""


def _row_digest(row: tuple[Any, ...]) -> int:
    parts = []
    for v in row:
        if isinstance(v, memoryview):
            v = bytes(v)
        if isinstance(v, bool):
            v = int(v)
        parts.append(f"{type(v).__name__}:{v!r}")
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).digest(), "big")


def _moved(table: str) -> tuple[str, tuple[str, ...]]:
    """The WHERE clause (and its parameters) selecting the rows of ``table`` a move carries."""
    if table == "meta":
        return f" WHERE key NOT IN ({','.join('?' * len(SKIP_META))})", SKIP_META
    return "", ()


def _rows(conn: Any, table: str, cols: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    """The table's rows in chunks, streamed (a server-side cursor on PostgreSQL): constant memory."""
    where, params = _moved(table)
    sql = f"SELECT {', '.join(cols)} FROM {table}{where}"
    if hasattr(conn, "raw"):  # PostgreSQL (cloud_stub.db_postgres.PgConnection), inside a transaction
        from cloud_stub.db_postgres import to_pg

        cur = conn.raw.cursor(name=f"move_{table}")
        cur.execute(to_pg(sql) if params else sql, params or None)
    else:
        cur = conn.execute(sql, params)
    size = CHUNK_BY_TABLE.get(table, CHUNK)
    while True:
        chunk = cur.fetchmany(size)
        if not chunk:
            return
        yield [tuple(r) for r in chunk]


def _columns_sqlite(conn: Any, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _columns_pg(conn: Any, table: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ?", (table,))}


def _digest(conn: Any, table: str, cols: list[str]) -> tuple[int, str]:
    n, acc = 0, 0
    for chunk in _rows(conn, table, cols):
        n += len(chunk)
        for row in chunk:
            acc = (acc + _row_digest(row)) % _MOD
    return n, f"{acc:064x}"


def move_store(source: str | Path, target_url: str, progress: Any = None) -> dict[str, Any]:
    """Copy a SQLite receiver database into an empty PostgreSQL one and prove the copy.

    Returns ``{"source", "target", "schema_version", "tables": {name: {"rows", "digest"}},
    "seconds"}``. Raises MoveError (nothing committed) when the target is not empty or a
    table differs after the copy.
    """
    import psycopg

    from cloud_stub.db import ReceiverDB
    from cloud_stub.db_postgres import PostgresDB, redact

    t0 = time.monotonic()
    src_path = Path(source)
    if not src_path.is_file():
        raise MoveError(msg("{src_path}: no such receiver database", src_path=src_path))
    src = ReceiverDB(src_path)  # a schema-2 file is brought to the current schema first, in place
    try:
        dst = PostgresDB(target_url)
    except Exception:
        src.close()
        raise
    tables: dict[str, dict[str, Any]] = {}
    try:
        with src.lock:
            sconn = src.conn
            sconn.execute("BEGIN IMMEDIATE")  # the source's write lock: one state, nothing accepted meanwhile
            try:
                with dst.write() as dconn:
                    _refuse_non_empty(dconn, redact(target_url))
                    for table in TABLES:
                        cols = _columns_sqlite(sconn, table)
                        missing = [c for c in cols if c not in _columns_pg(dconn, table)]
                        if missing:
                            raise MoveError(msg("table {table}: columns {missing} are not in the target schema",
                                                table=table, missing=missing))
                        insert = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                        try:
                            for chunk in _rows(sconn, table, cols):
                                dconn.executemany(insert, chunk)  # COPY on PostgreSQL
                                if progress is not None:
                                    progress(table, len(chunk))
                        except psycopg.Error as exc:
                            raise MoveError(msg("table {table}: the target refused a row: {splitlines}", table=table,
                                                splitlines=str(exc).strip().splitlines()[0])) from None
                        if table in IDENTITY_TABLES:
                            dconn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                          f"(SELECT coalesce(max(id), 1) FROM {table}), "
                                          f"(SELECT count(*) > 0 FROM {table}))")
                        want = _digest(sconn, table, cols)
                        got = _digest(dconn, table, cols)
                        if want != got:
                            raise MoveError(msg("table {table}: {got} rows, digest {got2} in the target; {want} "
                                                "rows, digest {want2} in the source", table=table, got=got[0],
                                                got2=got[1][:16], want=want[0], want2=want[1][:16]))
                        tables[table] = {"rows": want[0], "digest": want[1]}
            finally:
                sconn.execute("ROLLBACK")  # nothing was written to the source
    finally:
        dst.close()
        src.close()
    return {"source": str(src_path), "target": redact(target_url), "schema_version": SCHEMA_VERSION,
            "tables": tables, "seconds": round(time.monotonic() - t0, 3)}


def _refuse_non_empty(dconn: Any, where: str) -> None:
    for table in TABLES:
        where, params = _moved(table)
        n = dconn.execute(f"SELECT count(*) FROM {table}{where}", params).fetchone()[0]
        if n:
            raise MoveError(msg("{where} is not empty (table {table} has {n} rows): move into a new, empty "
                                "database", where=where, table=table, n=n))
