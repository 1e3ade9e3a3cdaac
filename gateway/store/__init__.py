"""The gateway's one SQLite file (WAL): raw readings, indicators, the signed outbox.

Raw readings never leave the site; they are kept for a retention period and size cap.
What the gateway calls "stored" is committed: readings are acknowledged only after
COMMIT returns, so a kill -9 loses nothing acknowledged. With synchronous=FULL the same
holds for a real power cut; commits are batched so fsync is paid a few times a second.

Outbox rows are never deleted before every destination acknowledged them ("retain
unsent"); each destination keeps its own acknowledged position. Acknowledged rows stay for
a retention window (``purge_acked``) so a receiver restored from a backup can ask for them
again; the newest row always stays (it holds the chain's head seq).

The store owns its connection: no module outside this package runs SQL on the file
(tests/hardening/test_store_owns_sql.py). ``Store`` holds the core (readings, indicators, the
outbox's writes, meta); the other tables' statements live in one module per domain beside it
(``consent``: local consent changes and the audit log; ``ledgers``: declarations and disputes;
``outbox``: reads of the outbox and acks; ``indicators``: holds and counts; ``readings``: the
status page's and a replay's reads; ``import_summary``; ``readonly``: the file opened read-only),
each function under the store's lock, and every multi-statement write in ``Store.tx``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.filemodes import private_dir, private_file
from gateway.i18n import N_
from gateway.user_error import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY, device TEXT NOT NULL, point TEXT NOT NULL, meaning TEXT NOT NULL,
    unit TEXT NOT NULL DEFAULT '', UNIQUE(device, point));
CREATE TABLE IF NOT EXISTS readings (
    ts REAL NOT NULL, point_id INTEGER NOT NULL, value REAL, quality TEXT NOT NULL);
-- One index, on time only: readings arrive in time order, so it grows at its end (a
-- (point_id, ts) index touched a page per point per commit: ~7 KB written per reading on
-- an aged store, against <1 KB). Window reads fetch all points of a window in one range.
CREATE INDEX IF NOT EXISTS readings_ts ON readings(ts);
DROP INDEX IF EXISTS readings_point_ts;
CREATE TABLE IF NOT EXISTS polls (
    ts REAL NOT NULL, device TEXT NOT NULL, ok INTEGER NOT NULL, error TEXT);
CREATE INDEX IF NOT EXISTS polls_device_ts ON polls(device, ts);
CREATE INDEX IF NOT EXISTS polls_ts ON polls(ts);
CREATE TABLE IF NOT EXISTS indicators (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, subject TEXT NOT NULL,
    window_start INTEGER NOT NULL, window_len INTEGER NOT NULL, value REAL, unit TEXT NOT NULL,
    quality TEXT NOT NULL DEFAULT '[]', version INTEGER NOT NULL, detail TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL, batch_seq INTEGER, held TEXT,
    UNIQUE(name, subject, window_start, window_len));
CREATE INDEX IF NOT EXISTS indicators_unbatched ON indicators(batch_seq, id);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, body BLOB NOT NULL, sig BLOB NOT NULL, kid TEXT NOT NULL,
    created REAL NOT NULL, n_records INTEGER NOT NULL, categories TEXT NOT NULL DEFAULT '[]', head_sig BLOB);
CREATE TABLE IF NOT EXISTS acks (
    destination TEXT PRIMARY KEY, seq INTEGER NOT NULL, at REAL NOT NULL, detail TEXT);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Enterprise exports (MES/ERP) read by gateway/connectors: names are tokenised before they
-- get here; quarantined lines keep the raw text for the enterprise to fix (never sent).
CREATE TABLE IF NOT EXISTS erp_imports (
    id INTEGER PRIMARY KEY, connector TEXT NOT NULL, source TEXT NOT NULL, content_hash TEXT NOT NULL,
    at REAL NOT NULL, dataset TEXT NOT NULL, rows_ok INTEGER NOT NULL DEFAULT 0,
    rows_quarantined INTEGER NOT NULL DEFAULT 0, added INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0, removed INTEGER NOT NULL DEFAULT 0, unchanged INTEGER NOT NULL DEFAULT 0,
    period_start TEXT, period_end TEXT);
CREATE INDEX IF NOT EXISTS erp_imports_hash ON erp_imports(connector, content_hash);
CREATE TABLE IF NOT EXISTS erp_rows (
    id INTEGER PRIMARY KEY, connector TEXT NOT NULL, dataset TEXT NOT NULL, key TEXT NOT NULL,
    day TEXT NOT NULL, ts REAL NOT NULL, fields TEXT NOT NULL, row_hash TEXT NOT NULL, import_id INTEGER NOT NULL,
    UNIQUE(connector, dataset, key));
CREATE INDEX IF NOT EXISTS erp_rows_dataset_ts ON erp_rows(dataset, ts);
CREATE TABLE IF NOT EXISTS erp_quarantine (
    id INTEGER PRIMARY KEY, import_id INTEGER NOT NULL, connector TEXT NOT NULL, source TEXT NOT NULL,
    line INTEGER NOT NULL, reason TEXT NOT NULL, raw TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS erp_changes (
    id INTEGER PRIMARY KEY, import_id INTEGER NOT NULL, at REAL NOT NULL, connector TEXT NOT NULL,
    dataset TEXT NOT NULL, key TEXT NOT NULL, change TEXT NOT NULL, old TEXT, new TEXT);
-- Consent changes made on site, and the append-only audit log (gateway/consent).
CREATE TABLE IF NOT EXISTS consent_changes (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, action TEXT NOT NULL, categories TEXT NOT NULL,
    receiver TEXT NOT NULL DEFAULT '*', until REAL, note TEXT);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, seq INTEGER, categories TEXT NOT NULL,
    n_records INTEGER, batch_hash TEXT, detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
-- Declared events and disputes/confirmations made on site (gateway/declarations, gateway/disputes; their
-- queries in gateway/store/ledgers.py). Created on first use before they joined the schema: the same
-- statements, so a store that already has them keeps them as they are.
CREATE TABLE IF NOT EXISTS declarations (
    id INTEGER PRIMARY KEY, action TEXT NOT NULL, kind TEXT, start REAL, "end" REAL,
    assets TEXT NOT NULL DEFAULT '[]', note TEXT NOT NULL DEFAULT '', note_token TEXT,
    declared_at REAL NOT NULL, withdraws INTEGER, source TEXT NOT NULL DEFAULT 'cli', ext_id TEXT UNIQUE,
    batch_seq INTEGER);
CREATE TABLE IF NOT EXISTS disputes (
    id INTEGER PRIMARY KEY, action TEXT NOT NULL, finding TEXT, finding_id INTEGER, reason TEXT,
    note TEXT NOT NULL DEFAULT '', measures TEXT, made_at REAL NOT NULL, source TEXT NOT NULL DEFAULT 'cli',
    batch_seq INTEGER);
"""

LOSS_KEYS = ("polls_failed", "readings_purged_unsent", "readings_dropped_unstored", "batches_dropped")


@dataclass(frozen=True)
class PointRow:
    id: int
    device: str
    point: str
    meaning: str
    unit: str


class StoreLockedError(UserError, RuntimeError):
    """Another gateway process already owns this store."""


class Store:
    """Thread-safe wrapper around one sqlite3 connection (the gateway writes from one loop,
    the status page reads from another thread)."""

    # SQLite's page cache, KiB. The default (2 MiB) fills within minutes and stays resident:
    # a gateway only appends to the right edge of its B-trees and reads recent windows, whose
    # pages the OS page cache holds anyway, so 512 KiB costs no measurable CPU
    # (bench/gateway_poll.py) and keeps ~1.5 MB off a Pi's resident set.
    CACHE_KIB = 512

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        # Raw readings and imported exports: the file 0600 in a 0700 directory (gateway/filemodes.py).
        private_dir(self.path.parent)
        for suffix in ("", "-wal", "-shm"):
            if suffix == "" or Path(f"{self.path}{suffix}").exists():
                private_file(f"{self.path}{suffix}")
        self._lock = threading.RLock()
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute(f"PRAGMA cache_size=-{self.CACHE_KIB}")
        self.db.executescript(SCHEMA)
        self._migrate()
        self._points: dict[tuple[str, str], PointRow] = {}
        for row in self.db.execute("SELECT id, device, point, meaning, unit FROM points"):
            self._points[(row[1], row[2])] = PointRow(*row)
        self._lockfile: Any = None

    def _migrate(self) -> None:
        """Bring a store written by an older gateway up to date, in place (a field gateway is
        upgraded with its data): columns added since are added, empty for the old rows."""
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(outbox)")}
        if "head_sig" not in cols:  # batches signed before head signatures travel without one
            self.db.execute("ALTER TABLE outbox ADD COLUMN head_sig BLOB")

    # -- single-writer guard -------------------------------------------------------------
    def acquire_exclusive(self) -> None:
        """Refuse a second gateway process on the same store (flock on a side file)."""
        import fcntl

        lock_path = self.path.with_suffix(self.path.suffix + ".lock")
        fh = open(lock_path, "a+")  # noqa: SIM115 - held for the process lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.seek(0)
            owner = fh.read().strip() or "another process"
            fh.close()
            raise StoreLockedError(
                N_("store {path} is in use by {owner}; stop that gateway first (only one gateway process may write a "
                   "store)"), path=self.path, owner=owner) from exc
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._lockfile = fh

    def close(self) -> None:
        with self._lock:
            self.db.close()
        if self._lockfile is not None:
            self._lockfile.close()

    @contextlib.contextmanager
    def tx(self, mode: str = "") -> Iterator[None]:
        """The one transaction helper: the store lock, ``BEGIN [mode]``, COMMIT when the block ends, ROLLBACK
        when it raises. Every write of more than one statement goes through it (here and in the domain
        modules of this package); ``mode="IMMEDIATE"`` takes SQLite's write lock at once, so a second
        process (a `consent` or `declare` command next to the running gateway) waits instead of interleaving.
        Not reentrant: SQLite has no nested BEGIN."""
        with self._lock:
            self.db.execute(f"BEGIN {mode}")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise


    def _rollback(self) -> None:
        """SQLite rolls back by itself on some errors (SQLITE_FULL): don't mask the cause."""
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    # -- meta and counters --------------------------------------------------------------
    def meta_get(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def meta_set(self, key: str, value: str) -> None:
        with self._lock:
            self.db.execute("INSERT INTO meta(key, value) VALUES(?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    def bump(self, key: str, by: int = 1) -> int:
        with self.tx("IMMEDIATE"):
            cur = int(self.meta_get(key, "0") or 0) + by
            self.meta_set(key, str(cur))
        return cur

    def loss_counters(self) -> dict[str, int]:
        return {k: int(self.meta_get(f"loss.{k}", "0") or 0) for k in LOSS_KEYS}

    # -- points and readings -------------------------------------------------------------
    def point(self, device: str, point: str, meaning: str, unit: str) -> PointRow:
        key = (device, point)
        row = self._points.get(key)
        if row is not None and row.meaning == meaning and row.unit == unit:
            return row
        with self._lock:
            self.db.execute(
                "INSERT INTO points(device, point, meaning, unit) VALUES(?,?,?,?) "
                "ON CONFLICT(device, point) DO UPDATE SET meaning=excluded.meaning, unit=excluded.unit",
                (device, point, meaning, unit))
            r = self.db.execute("SELECT id, device, point, meaning, unit FROM points WHERE device=? AND point=?",
                                key).fetchone()
        self._points[key] = PointRow(*r)
        return self._points[key]

    def points(self) -> list[PointRow]:
        return list(self._points.values())

    def add_readings(self, rows: Sequence[tuple[float, int, float | None, str]],
                     polls: Sequence[tuple[float, str, int, str | None]] = ()) -> None:
        """rows: (ts, point_id, value, quality). Returns after COMMIT: then they are stored."""
        with self.tx():
            self.db.executemany("INSERT INTO readings(ts, point_id, value, quality) VALUES(?,?,?,?)", rows)
            if polls:
                self.db.executemany("INSERT INTO polls(ts, device, ok, error) VALUES(?,?,?,?)", polls)
            failed = sum(1 for p in polls if not p[2])
            if failed:
                self.db.execute(
                    "INSERT INTO meta(key, value) VALUES('loss.polls_failed', ?) ON CONFLICT(key) "
                    "DO UPDATE SET value=CAST(value AS INTEGER)+?", (str(failed), failed))

    def readings(self, point_id: int, start: float, end: float) -> list[tuple[float, float | None, str]]:
        ts, values, quality = self.readings_window([point_id], start, end).get(point_id, ([], [], []))
        return list(zip(ts, values, quality, strict=True))

    def readings_window(self, point_ids: Iterable[int], start: float, end: float
                        ) -> dict[int, tuple[list[float], list[float | None], list[str]]]:
        """Readings of the given points in [start, end), per point as columns (timestamps,
        values, qualities), oldest first: one range scan of the time index for all of them.

        Columns, not a list of (ts, value, quality) tuples: a window is read to build
        ``Series`` columns anyway, and at 100 ms polls an hour of one meter is ~72k rows, whose
        tuples alone (~4 MB) would raise the gateway's resident peak for good (CPython keeps
        freed small objects' arenas)."""
        wanted = sorted(set(point_ids))
        out: dict[int, tuple[list[float], list[float | None], list[str]]] = {pid: ([], [], []) for pid in wanted}
        if not wanted:
            return out
        marks = ",".join("?" * len(wanted))
        with self._lock:
            cur = self.db.execute(
                f"SELECT point_id, ts, value, quality FROM readings WHERE ts>=? AND ts<? AND point_id IN ({marks}) "
                "ORDER BY ts", (start, end, *wanted))
            for pid, ts, value, quality in cur:
                col = out[pid]
                col[0].append(ts)
                col[1].append(value)
                col[2].append(quality)
        return out

    def last_good_before(self, point_id: int, ts: float, horizon_s: float = 3600.0) -> tuple[float, float] | None:
        """Walks the time index back from ``ts``; the horizon bounds that walk for a point
        that has been silent for long."""
        with self._lock:
            row = self.db.execute(
                "SELECT ts, value FROM readings WHERE point_id=? AND ts<? AND ts>=? AND quality IN ('good','stale') "
                "AND value IS NOT NULL ORDER BY ts DESC LIMIT 1", (point_id, ts, ts - horizon_s)).fetchone()
        return (row[0], row[1]) if row else None

    def first_good_after(self, point_id: int, ts: float, horizon_s: float = 3600.0) -> tuple[float, float] | None:
        """The first usable reading at or after ``ts`` (within the horizon): the reading that
        closes a counter's last interval of a window. Walks the time index forward."""
        with self._lock:
            row = self.db.execute(
                "SELECT ts, value FROM readings WHERE point_id=? AND ts>=? AND ts<? AND quality IN ('good','stale') "
                "AND value IS NOT NULL ORDER BY ts LIMIT 1", (point_id, ts, ts + horizon_s)).fetchone()
        return (row[0], row[1]) if row else None

    def latest(self, point_id: int) -> tuple[float, float | None, str] | None:
        with self._lock:
            return self.db.execute("SELECT ts, value, quality FROM readings WHERE point_id=? ORDER BY ts DESC LIMIT 1",
                                   (point_id,)).fetchone()

    def polls(self, device: str, start: float, end: float) -> tuple[int, int]:
        with self._lock:
            row = self.db.execute("SELECT COALESCE(SUM(ok),0), COUNT(*) - COALESCE(SUM(ok),0) FROM polls "
                                  "WHERE device=? AND ts>=? AND ts<?", (device, start, end)).fetchone()
        return int(row[0]), int(row[1])

    def last_poll(self, device: str) -> float | None:
        """When the device was last polled (ok or not): one step of the (device, ts) index,
        whatever the size of the table (the readings table has no per-point index)."""
        with self._lock:
            row = self.db.execute("SELECT ts FROM polls WHERE device=? ORDER BY ts DESC LIMIT 1", (device,)).fetchone()
        return None if row is None else float(row[0])

    def count(self, table: str) -> int:
        assert table in ("readings", "indicators", "outbox", "polls", "points")
        with self._lock:
            return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    # -- indicators ---------------------------------------------------------------------
    def add_indicators(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert computed indicators once per (name, subject, window); returns how many were new."""
        now = time.time()
        params = [(r["name"], r["category"], r["subject"], int(r["window_start"]), int(r["window_len"]),
                   r["value"], r["unit"], json.dumps(r.get("quality", [])), int(r["version"]),
                   json.dumps(r.get("detail", {}), sort_keys=True), now) for r in rows]
        with self._lock:
            before = self.db.total_changes
            with self.tx():
                self.db.executemany(
                    "INSERT OR IGNORE INTO indicators(name, category, subject, window_start, window_len, value, "
                    "unit, quality, version, detail, created) VALUES(?,?,?,?,?,?,?,?,?,?,?)", params)
            return self.db.total_changes - before

    def upsert_indicators(self, rows: Iterable[dict[str, Any]]) -> tuple[int, int]:
        """Insert or revise indicators whose inputs can be corrected after the fact (MES/ERP
        exports). Returns (new, revised). An unchanged value is left alone; a changed one is
        updated and, if it was already sent, marked unsent again with ``detail.rev`` bumped and
        the ``revised`` flag, so the bank receives the correction as a later record for the
        same (name, subject, window). The outbox keeps the earlier signed figure."""
        new = revised = 0
        now = time.time()
        with self.tx("IMMEDIATE"):
            for r in rows:
                key = (r["name"], r["subject"], int(r["window_start"]), int(r["window_len"]))
                old = self.db.execute("SELECT id, value, quality, detail, batch_seq, unit, version FROM indicators "
                                      "WHERE name=? AND subject=? AND window_start=? AND window_len=?",
                                      key).fetchone()
                quality = list(r.get("quality", []))
                detail = dict(r.get("detail", {}))
                if old is None:
                    self.db.execute(
                        "INSERT INTO indicators(name, category, subject, window_start, window_len, value, unit, "
                        "quality, version, detail, created) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                        (key[0], r["category"], key[1], key[2], key[3], r["value"], r["unit"], json.dumps(quality),
                         int(r["version"]), json.dumps(detail, sort_keys=True), now))
                    new += 1
                    continue
                old_detail = json.loads(old[3])
                rev = int(old_detail.get("rev", 1))
                old_q = [q for q in json.loads(old[2]) if q != "revised"]
                old_cmp = {k: v for k, v in old_detail.items() if k != "rev"}
                if (old[1], old_q, old_cmp, old[5], old[6]) == (r["value"], quality, detail, r["unit"],
                                                                 int(r["version"])):
                    continue
                if old[4] is not None:  # already sent: the correction goes out as a new revision
                    detail["rev"] = rev + 1
                    quality.append("revised")
                elif rev > 1:
                    detail["rev"] = rev
                    quality.append("revised")
                self.db.execute("UPDATE indicators SET value=?, unit=?, quality=?, version=?, detail=?, "
                                "batch_seq=NULL, held=NULL, created=? WHERE id=?",
                                (r["value"], r["unit"], json.dumps(quality), int(r["version"]),
                                 json.dumps(detail, sort_keys=True), now, old[0]))
                revised += 1
        return new, revised

    def unbatched_indicators(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            cur = self.db.execute(
                "SELECT id, name, category, subject, window_start, window_len, value, unit, quality, version, detail "
                "FROM indicators WHERE batch_seq IS NULL AND held IS NULL ORDER BY id LIMIT ?", (limit,))
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def recent_indicators(self, limit: int = 200) -> list[dict[str, Any]]:
        with self._lock:
            cur = self.db.execute("SELECT * FROM indicators ORDER BY id DESC LIMIT ?", (limit,))
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    # -- outbox -------------------------------------------------------------------------
    def append_batch(self, seq: int, hash_: str, body: bytes, sig: bytes, kid: str, indicator_ids: list[int],
                     categories: list[str], n_records: int, meta: dict[str, str],
                     head_sig: bytes | None = None) -> None:
        """One transaction: the batch enters the outbox, its indicators are marked, the chain
        head advances. A crash leaves either all of it or none of it."""
        with self.tx("IMMEDIATE"):
            self.db.execute("INSERT INTO outbox(seq, hash, body, sig, kid, created, n_records, categories, "
                            "head_sig) VALUES(?,?,?,?,?,?,?,?,?)",
                            (seq, hash_, body, sig, kid, time.time(), n_records, json.dumps(categories), head_sig))
            self.db.executemany("UPDATE indicators SET batch_seq=? WHERE id=?", [(seq, i) for i in indicator_ids])
            for k, v in meta.items():
                self.meta_set(k, v)

    def outbox_after(self, seq: int, limit: int = 50) -> list[tuple[int, str, bytes, bytes, str, bytes | None]]:
        """(seq, hash, body, sig, kid, head_sig) of the batches after ``seq``, in order."""
        with self._lock:
            return self.db.execute("SELECT seq, hash, body, sig, kid, head_sig FROM outbox WHERE seq>? "
                                   "ORDER BY seq LIMIT ?", (seq, limit)).fetchall()

    def outbox_head(self) -> int:
        with self._lock:
            row = self.db.execute("SELECT MAX(seq) FROM outbox").fetchone()
        return int(row[0] or 0)

    def acked(self, destination: str) -> int:
        with self._lock:
            row = self.db.execute("SELECT seq FROM acks WHERE destination=?", (destination,)).fetchone()
        return int(row[0]) if row else 0

    def ack_info(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"destination": d, "seq": s, "at": a} for d, s, a in
                    self.db.execute("SELECT destination, seq, at FROM acks").fetchall()]

    def set_acked(self, destination: str, seq: int, detail: str | None = None) -> None:
        with self._lock:
            self.db.execute("INSERT INTO acks(destination, seq, at, detail) VALUES(?,?,?,?) ON CONFLICT(destination) "
                            "DO UPDATE SET seq=MAX(seq, excluded.seq), at=excluded.at, detail=excluded.detail",
                            (destination, seq, time.time(), detail))

    def outbox_first(self) -> int | None:
        """The oldest seq still held in the outbox (what a resend can start from), or None."""
        with self._lock:
            row = self.db.execute("SELECT MIN(seq) FROM outbox").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def purge_acked(self, retain_s: float, max_bytes: float, now: float | None = None) -> int:
        """Delete acknowledged batches older than ``retain_s``, then, while the store is over
        ``max_bytes``, the oldest acknowledged ones. Never a batch some destination has not
        acknowledged, and never the newest batch (``outbox_head`` reads the chain's seq from it).

        Kept rather than deleted on ack because a receiver restored from an older backup asks
        for what it lacks (``Sender``'s rewind): what is gone here cannot be resent."""
        cutoff = (time.time() if now is None else now) - retain_s
        removed = 0
        with self._lock:
            row = self.db.execute("SELECT MIN(seq) FROM acks").fetchone()
            head = self.db.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
            if row is None or row[0] is None or head is None:
                return 0
            # Acknowledged by every destination, below each one's acknowledged seq (a head statement
            # names that batch's hash: gateway/uplink/heads.py) and below the newest.
            limit = min(int(row[0]), int(head)) - 1
            with self.tx("IMMEDIATE"):
                removed += self.db.execute("DELETE FROM outbox WHERE seq <= ? AND created < ?",
                                           (limit, cutoff)).rowcount
            for _ in range(20):  # then the oldest acknowledged, a slice at a time, while over the cap
                if self.size_bytes() <= max_bytes:
                    break
                first = self.db.execute("SELECT MIN(seq) FROM outbox").fetchone()[0]
                if first is None or first > limit:
                    break
                upto = min(limit, first + max(1, (limit - first + 1) // 10))
                with self.tx("IMMEDIATE"):
                    removed += self.db.execute("DELETE FROM outbox WHERE seq <= ?", (upto,)).rowcount
        return removed

    def rewind_acked(self, destination: str, seq: int) -> None:
        """Set the acknowledged seq *back* (the receiver lacks batches it once acknowledged:
        restored from a backup), so the sender resends from ``seq + 1``. Under the store lock
        like every other write: the sender thread and the packer share the connection."""
        with self._lock:
            self.db.execute("UPDATE acks SET seq=? WHERE destination=?", (seq, destination))

    # -- retention ----------------------------------------------------------------------
    def size_bytes(self) -> int:
        """Bytes in use: SQLite keeps freed pages in the file, so the file size alone would
        keep the size cap tripping (and purging) long after old readings were gone."""
        with self._lock:
            pages = self.db.execute("PRAGMA page_count").fetchone()[0]
            free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
            page_size = self.db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * page_size)

    def file_bytes(self) -> int:
        return sum(Path(str(self.path) + sfx).stat().st_size for sfx in ("", "-wal")
                   if Path(str(self.path) + sfx).exists())

    def purge(self, retention_s: float, max_bytes: float, computed_until: float) -> int:
        """Drop raw readings by age, then oldest-first while over the size cap. Readings newer
        than ``computed_until`` (not yet turned into indicators) that must go are counted as
        ``readings_purged_unsent`` so the loss is visible in every later batch."""
        cutoff = time.time() - retention_s
        removed = 0
        with self._lock:
            removed += self._purge_before(cutoff, computed_until)
            for _ in range(10):  # oldest 10 % of the time span at a time, until under the cap
                if self.size_bytes() <= max_bytes:
                    break
                row = self.db.execute("SELECT MIN(ts), MAX(ts) FROM readings").fetchone()
                if row[0] is None:
                    break
                step = max((row[1] - row[0]) * 0.1, 1.0)
                removed += self._purge_before(row[0] + step, computed_until)
                self.db.execute("DELETE FROM polls WHERE ts < ?", (row[0] + step,))
            self.db.execute("DELETE FROM polls WHERE ts < ?", (cutoff,))
        return removed

    def _purge_before(self, ts: float, computed_until: float) -> int:
        unsent = self.db.execute("SELECT COUNT(*) FROM readings WHERE ts < ? AND ts >= ?",
                                 (ts, computed_until)).fetchone()[0]
        with self.tx("IMMEDIATE"):
            cur = self.db.execute("DELETE FROM readings WHERE ts < ?", (ts,))
            if unsent:
                self.db.execute("INSERT INTO meta(key, value) VALUES('loss.readings_purged_unsent', ?) "
                                "ON CONFLICT(key) DO UPDATE SET value=CAST(value AS INTEGER)+?", (str(unsent), unsent))
        return cur.rowcount
