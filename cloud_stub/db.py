"""The receiver's SQLite database: schema, connection settings and the one lock around it.

One file, WAL mode, so readers (the bank feed) never block the writer (ingest) and
several receiver processes can share the file. Every write that depends on what was
read (chain head, token use) runs inside ``BEGIN IMMEDIATE`` so two processes cannot
both extend the same chain. Within one process, one connection is shared by HTTP worker
threads and the MQTT thread behind a re-entrant lock: SQLite serialises writers anyway,
and one connection keeps statement caches warm for the ingest hot path.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

SCHEMA_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """Fixed-width UTC timestamps, so text comparison in SQL orders them correctly."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ReceiverDB:
    """The open database plus the lock that serialises this process's use of it."""

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        self.path = str(path)
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
        """A consistent snapshot for multi-statement reads (a feed page)."""
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def _create_schema(db: Database) -> None:
    """Idempotent: tables and indexes are created if missing; the version is recorded."""
    db.table("enterprises").create(
        {"id": str, "created": str}, pk="id", not_null=["created"], if_not_exists=True
    )
    db.table("enroll_tokens").create(
        {"token_hash": str, "enterprise_id": str, "created": str, "expires": str,
         "used_at": str, "used_by": str},
        pk="token_hash", not_null=["enterprise_id", "created", "expires"],
        foreign_keys=[("enterprise_id", "enterprises", "id")], if_not_exists=True,
    )
    # The chain head lives with the gateway: the chain is per gateway_id, whatever key signed.
    db.table("gateways").create(
        {"id": str, "enterprise_id": str, "enrolled_at": str, "last_seq": int, "last_hash": str},
        pk="id", not_null=["enterprise_id", "enrolled_at", "last_seq", "last_hash"],
        foreign_keys=[("enterprise_id", "enterprises", "id")], if_not_exists=True,
    )
    db.table("gateway_keys").create(
        {"kid": str, "gateway_id": str, "enterprise_id": str, "public_key": str,
         "enrolled_at": str, "revoked_at": str},
        pk="kid", not_null=["gateway_id", "enterprise_id", "public_key", "enrolled_at"],
        foreign_keys=[("gateway_id", "gateways", "id")], if_not_exists=True,
    )
    db.table("gateway_keys").create_index(["gateway_id"], if_not_exists=True)
    # rowid order is acceptance order; rec_pos = highest record id before this batch's records,
    # which places record-less batches in the feed (see feed.py).
    db.table("batches").create(
        {"hash": str, "gateway_id": str, "enterprise_id": str, "seq": int, "kid": str,
         "body": bytes, "sig": bytes, "record_count": int, "rec_pos": int,
         "received": str, "transport": str},
        pk="hash",
        not_null=["gateway_id", "enterprise_id", "seq", "kid", "body", "sig", "record_count",
                  "rec_pos", "received"],
        if_not_exists=True,
    )
    db.table("batches").create_index(["gateway_id", "seq"], unique=True, if_not_exists=True)
    db.table("batches").create_index(["enterprise_id", "rec_pos"], if_not_exists=True)
    db.conn.execute(
        "CREATE TABLE IF NOT EXISTS records ("
        " id INTEGER PRIMARY KEY, batch_hash TEXT NOT NULL, enterprise_id TEXT NOT NULL,"
        " gateway_id TEXT NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL, type TEXT NOT NULL,"
        " name TEXT, category TEXT, subject TEXT, window_start INTEGER, window_len INTEGER,"
        " record TEXT NOT NULL)"
    )
    db.table("records").create_index(["enterprise_id", "id"], if_not_exists=True)
    db.table("records").create_index(["batch_hash", "idx"], unique=True, if_not_exists=True)
    db.table("findings").create(
        {"id": int, "kind": str, "severity": str, "enterprise_id": str, "gateway_id": str,
         "detail": str, "created": str, "dedupe": str},
        pk="id", not_null=["kind", "severity", "detail", "created", "dedupe"], if_not_exists=True,
    )
    db.table("findings").create_index(["dedupe"], unique=True, if_not_exists=True)
    db.table("findings").create_index(["enterprise_id", "id"], if_not_exists=True)
    db.table("banks").create(
        {"id": str, "token_hash": str, "created": str}, pk="id", not_null=["token_hash", "created"],
        if_not_exists=True,
    )
    db.table("banks").create_index(["token_hash"], unique=True, if_not_exists=True)
    db.table("bank_grants").create(
        {"bank_id": str, "enterprise_id": str, "granted_at": str, "revoked_at": str},
        pk=("bank_id", "enterprise_id"), not_null=["granted_at"], if_not_exists=True,
    )
    db.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
