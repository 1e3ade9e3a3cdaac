"""The receiver's PostgreSQL store: the same API as the SQLite ``ReceiverDB``, for receivers that outgrow one file.

Every other module writes SQL once, with ``?`` placeholders, and calls ``rdb.write()``,
``rdb.read()``, ``rdb.conn`` and ``rdb.lock`` exactly as it does on SQLite. What differs is
absorbed here:

* placeholders: ``?`` becomes ``%s`` and a literal ``%`` becomes ``%%`` (psycopg's syntax),
  outside quoted strings and identifiers only;
* values come back as SQLite would give them: ``bytea`` as ``bytes``; ``numeric`` (what
  PostgreSQL's ``sum``/``avg`` of integers return) as ``int`` when integral and ``float``
  otherwise, not ``Decimal``; Python ``bool`` goes in as 0/1 because the schema has no
  boolean columns (SQLite stores ``True`` as 1);
* transactions: ``write()`` is a READ COMMITTED transaction (row locks where a decision
  depends on what was read, see ``cloud_stub.ingest``); ``read()`` is a REPEATABLE READ,
  READ ONLY snapshot, like a SQLite read transaction under WAL.

One writing connection per process behind one re-entrant lock, as on SQLite, and up to four
reading connections (``ReaderPool``) for ``read()``: the receiver scales out by running more
processes (several receivers sharing MQTT ingest). A connection the server dropped is
replaced before the next transaction.
The schema version lives in the ``meta`` table; another version is refused by name.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.adapt import Dumper, Loader

from cloud_stub.db import ReaderPool
from cloud_stub.schema import SCHEMA_VERSION, ddl, migrations
from cloud_stub.texts import msg

# Serialises schema creation when several receivers start at once on an empty database
# (CREATE TABLE IF NOT EXISTS is not safe against itself in PostgreSQL).
_SCHEMA_LOCK_KEY = 0x45_50_52_43_56  # "EPRCV"


def redact(url: str) -> str:
    """The URL with any password replaced, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@functools.lru_cache(maxsize=2048)
def to_pg(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s``; every literal ``%`` doubled. Quoted text is left alone."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if ch == "%":
            out.append("%%")  # psycopg reads % everywhere in a parametrised query, even inside quotes
            continue
        if quote is not None:
            if ch == quote:
                quote = None  # a doubled quote ('') closes and reopens: same result
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append(ch)
    return "".join(out)


class _NumericLoader(Loader):
    """numeric -> int when integral (sum of integers), float otherwise (avg), as SQLite returns them."""

    def load(self, data: Any) -> int | float:
        text = bytes(data)
        if b"." in text or b"e" in text or b"E" in text or b"N" in text or b"I" in text:
            return float(text)
        return int(text)


class _BoolAsIntDumper(Dumper):
    """Python bool -> bigint 0/1: the schema stores flags in integer columns, as on SQLite."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class PgConnection:
    """A psycopg connection that speaks the sqlite3 subset the receiver uses (``?``, execute, executemany)."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        if not params:
            return self.raw.execute(sql)  # no parameters: psycopg sends the text as it is
        return self.raw.execute(to_pg(sql), params)

    def executemany(self, sql: str, seq_of_params: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        cur = self.raw.cursor()
        copy = _copy_statement(sql)
        if copy is not None:
            # A plain multi-row INSERT (ingest's 500 records a batch) goes in as COPY: same rows,
            # same constraints and identity ids, several times faster than one INSERT per row.
            with cur.copy(copy) as cp:
                for row in seq_of_params:
                    cp.write_row(row)
            return cur
        cur.executemany(to_pg(sql), seq_of_params)
        return cur


_PLAIN_INSERT = re.compile(
    r"^\s*INSERT\s+INTO\s+(\w+)\s*\(([\w\s,]+)\)\s*VALUES\s*\(([?,\s]+)\)\s*$", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def _copy_statement(sql: str) -> str | None:
    """``COPY t (cols) FROM STDIN`` for ``INSERT INTO t (cols) VALUES (?, ...)``; None for anything else
    (ON CONFLICT, RETURNING, expressions), which keeps its own semantics through executemany."""
    m = _PLAIN_INSERT.match(sql)
    if m is None:
        return None
    cols = [c.strip() for c in m.group(2).split(",")]
    if len(cols) != m.group(3).count("?"):
        return None
    return f"COPY {m.group(1)} ({', '.join(cols)}) FROM STDIN"


class PostgresDB:
    """An open PostgreSQL receiver database plus the lock that serialises this process's use of it."""

    dialect = "postgresql"

    def __init__(self, url: str, connect_timeout: int = 10) -> None:
        self.url = url
        self.path = redact(url)  # what logs and messages may show
        self.connect_timeout = connect_timeout
        self.lock = threading.RLock()
        self._closed = False
        self._conn = PgConnection(self._connect())
        self.readers: ReaderPool[PgConnection] = ReaderPool(
            lambda: PgConnection(self._connect()), lambda c: c.raw.close(),
            usable=lambda c: not (c.raw.closed or c.raw.broken)
            and c.raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)
        with self.lock:
            self._create_schema()

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            raw = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout)
        except psycopg.Error as exc:
            raise RuntimeError(msg("cannot connect to PostgreSQL at {path}: {strip}", path=self.path,
                                   strip=str(exc).strip())) from None
        raw.adapters.register_loader("numeric", _NumericLoader)
        raw.adapters.register_dumper(bool, _BoolAsIntDumper)
        return raw

    @property
    def conn(self) -> PgConnection:
        """For single statements outside a transaction (autocommit); hold ``lock`` while using it."""
        return self._live()

    def _live(self) -> PgConnection:
        """The connection, replaced first if the server dropped it (restart, idle timeout)."""
        if self._closed:
            raise RuntimeError(msg("the receiver database was closed"))
        if self._conn.raw.closed or self._conn.raw.broken:
            self._conn.raw.close()
            self._conn.raw = self._connect()
        return self._conn

    def _rollback(self) -> None:
        raw = self._conn.raw
        if not (raw.closed or raw.broken):
            raw.execute("ROLLBACK")

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[PgConnection]:
        with self.lock:
            conn = self._live()
            conn.raw.execute(begin)
            try:
                yield conn
            except BaseException:
                self._rollback()
                raise
            else:
                conn.raw.execute("COMMIT")

    def write(self) -> contextlib.AbstractContextManager[PgConnection]:
        """A write transaction; decisions that depend on what was read take row locks inside it."""
        return self._transaction("BEGIN")

    @contextlib.contextmanager
    def read(self) -> Iterator[PgConnection]:
        """A consistent snapshot for multi-statement reads (a feed page); writing in it is an
        error. It runs on a reader connection of its own (``ReaderPool``), so bank pulls and
        analysis loads neither wait for ingest's transaction nor hold it up."""
        with self.readers.take() as conn:
            conn.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                yield conn
            except BaseException:
                if not (conn.raw.closed or conn.raw.broken):
                    conn.raw.execute("ROLLBACK")
                raise
            else:
                conn.raw.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self._closed = True
            self.readers.close()
            self._conn.raw.close()

    def _create_schema(self) -> None:
        """Idempotent and safe when receivers start together; another schema version is refused by name."""
        with self.write() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK_KEY,))
            found: int | None = None
            if conn.execute("SELECT to_regclass('meta')").fetchone()[0] is not None:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                found = int(row[0]) if row else None
            if found is None and conn.execute("SELECT to_regclass('batches')").fetchone()[0] is not None:
                raise RuntimeError(msg("{path} has receiver tables but no schema version: use a new database",
                                       path=self.path))
            for stmt in migrations("postgresql", found) if found is not None else []:
                conn.execute(stmt)
            for stmt in ddl("postgresql"):
                conn.execute(stmt)
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) "
                         "DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))
