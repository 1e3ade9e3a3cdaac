"""The receiver's database: ``open_db`` picks the store; the SQLite store lives here.

``open_db(target)`` opens a SQLite file for a path and PostgreSQL for a ``postgresql://``
URL (``cloud_stub.db_postgres``); both offer the same ``write()``, ``read()``, ``conn``,
``lock``, ``close()`` and ``dialect``, so the rest of the receiver writes its SQL once.

One file, WAL mode, so readers (the bank feed) never block the writer (ingest) and
several receiver processes can share the file. Every write that depends on what was
read (chain head, token use) runs inside ``BEGIN IMMEDIATE`` so two processes cannot
both extend the same chain. Within one process, one connection is shared by HTTP worker
threads and the MQTT thread behind a re-entrant lock: SQLite serialises writers anyway,
and one connection keeps statement caches warm for the ingest hot path.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from sqlite_utils import Database

from cloud_stub.schema import SCHEMA_VERSION, ddl, migrations

C = TypeVar("C")


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """Fixed-width UTC timestamps, so text comparison in SQL orders them correctly."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class SQLConn(Protocol):
    """What callers may use of a connection from ``write()``/``read()``/``conn``, on either store."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, seq_of_params: Iterable[Sequence[Any]], /) -> Any: ...


class Store(Protocol):
    """The receiver database API shared by ``ReceiverDB`` (SQLite) and ``PostgresDB``."""

    dialect: str  # "sqlite" | "postgresql"
    path: str  # for messages: the file, or the URL without its password
    lock: contextlib.AbstractContextManager[Any]  # a re-entrant lock around this process's connection
    conn: Any  # an SQLConn for single statements outside a transaction (hold ``lock``)

    def write(self) -> contextlib.AbstractContextManager[Any]: ...

    def read(self) -> contextlib.AbstractContextManager[Any]: ...

    def close(self) -> None: ...


class ReaderPool(Generic[C]):
    """Up to ``size`` read-only connections, made when first needed and reused.

    The writer keeps its own connection behind ``lock``; reads take one of these instead, so
    feed pages, analysis loads and ingest run side by side (SQLite WAL and PostgreSQL both give
    each reader a snapshot). More concurrent reads than ``size`` wait for a free one: the
    bound keeps file handles and server connections per process small and predictable.
    """

    def __init__(self, make: Callable[[], C], close: Callable[[C], None], size: int = 4,
                 usable: Callable[[C], bool] | None = None) -> None:
        self._make, self._close, self._usable = make, close, usable or (lambda _c: True)
        self._free: list[C] = []
        self._all: list[C] = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._closed = False
        self.opened = 0  # connections made so far: a pool that keeps reopening is losing them

    @contextlib.contextmanager
    def take(self) -> Iterator[C]:
        self._slots.acquire()
        try:
            conn = self._checkout()
            try:
                yield conn
            finally:
                self._checkin(conn)
        finally:
            self._slots.release()

    def _checkout(self) -> C:
        with self._lock:
            if self._closed:
                raise RuntimeError("the receiver database was closed")
            while self._free:
                conn = self._free.pop()
                if self._usable(conn):
                    return conn
                self._discard(conn)
        conn = self._make()
        with self._lock:
            self._all.append(conn)
            self.opened += 1
        return conn

    def _checkin(self, conn: C) -> None:
        """Back to the pool if it is idle and healthy (an exception in the caller's block is
        the caller's: its transaction was ended by ``read()``); otherwise closed."""
        with self._lock:
            if not self._closed and self._usable(conn):
                self._free.append(conn)
            else:
                self._discard(conn)

    def _discard(self, conn: C) -> None:
        if conn in self._all:
            self._all.remove(conn)
        try:
            self._close(conn)
        except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is gone either way
            pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in list(self._all):
                self._discard(conn)
            self._free.clear()


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def open_db(target: str | Path) -> Store:
    """A ``postgresql://`` (or ``postgres://``) URL opens PostgreSQL; anything else is a SQLite file path.

    psycopg is imported only here, so a SQLite receiver does not need it installed.
    """
    if is_postgres_url(target):
        from cloud_stub.db_postgres import PostgresDB

        return PostgresDB(str(target))
    return ReceiverDB(target)


def _create_private(path: str) -> None:
    """Create the database file 0600 if it does not exist yet (whatever the umask or the mode of
    its directory): it holds every enterprise's data and the token hashes. SQLite gives its
    ``-wal`` and ``-shm`` files the main file's mode. An existing file keeps its mode (the
    operator chose it)."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class ReceiverDB:
    """The open SQLite database plus the lock that serialises this process's use of it."""

    dialect = "sqlite"

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        self.path = str(path)
        _create_private(self.path)
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
        self.conn = conn
        self.db = Database(conn)
        self.lock = threading.RLock()
        # FULL by default: an ack tells the gateway it may delete the batch from its outbox,
        # so an acknowledged batch must survive a power cut of the receiver.
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        self.db.enable_wal()
        with self.lock:
            _create_schema(self.db)
        self.readers: ReaderPool[sqlite3.Connection] = ReaderPool(self._reader, lambda c: c.close(),
                                                                  usable=lambda c: not c.in_transaction)

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that also excludes other processes from reading-then-writing."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for multi-statement reads (a feed page), on a reader
        connection of its own: under WAL a bank pulling pages neither waits for ingest's
        write transaction nor holds it up (see ``ReaderPool``)."""
        with self.readers.take() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def _reader(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA query_only=1")  # a read that tries to write is an error, not a write
        return conn

    def close(self) -> None:
        with self.lock:
            self.readers.close()
            self.conn.close()


def _create_schema(db: Database) -> None:
    """Idempotent: tables and indexes are created if missing; an older schema is migrated in
    place in one transaction, or refused by name when it cannot be."""
    found = db.conn.execute("PRAGMA user_version").fetchone()[0]
    steps = migrations("sqlite", found) if found else []
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        for stmt in steps:
            db.conn.execute(stmt)
        for stmt in ddl("sqlite"):
            db.conn.execute(stmt)
        db.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")
