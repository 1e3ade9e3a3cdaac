"""Who saw what: every authenticated request, recorded append-only and hash-chained per enterprise.

An entry names the actor (``bank`` / ``operator`` / ``enterprise`` / ``gateway`` and its id, never a
token), the enterprise the request was about (None for receiver-wide requests such as the bank's
enterprise list), the method and path, what was returned (page kind, item ids, cursor; a batch's
hash and seq), the HTTP status, when and from where. Unauthenticated requests are never written:
an actor is only noted after authentication succeeded (``banks.authenticate``, an accepted or
duplicate batch), and only a request with an actor is logged (rejections.py counts the others).

Chain, per enterprise (and one for ``enterprise_id`` NULL)::

    hash = sha256(canonical_json({"chain": "access", <FIELDS of the entry>, "prev": prev}))

``prev`` is the hash of the enterprise's entry before it (64 zeros for the first): a deleted or edited
entry breaks every later link. The bank reads its enterprise's part (``GET /v1/feed/{ent}/access-log``)
and ``feed verify`` checks it (V33-V36); the evidence bundle carries an excerpt (:func:`excerpt`) and
the trusted timestamps cover :func:`head`.

Cheap on the ingest path: the request only appends to an in-memory list; a flusher thread writes
what is pending in one transaction (at once for bank/operator reads, within ``FLUSH_INTERVAL`` for
gateway batches), so a batch costs the receiver no extra fsync. What a crash loses is at most the
entries of that last interval (docs/evidence.md says so).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cloud_stub.access_log_chain import FIELDS, GENESIS, entry_hash
from cloud_stub.db import Store, iso, utc_now
from gateway import wire
from gateway.wire.backoff import Backoff

log = logging.getLogger("cloud_stub.access_log")

__all__ = ["FIELDS", "GENESIS", "AccessLog", "AccessLogMiddleware", "entry_hash", "excerpt", "head", "record"]
ACTOR_KINDS = ("bank", "operator", "enterprise", "gateway")
FLUSH_INTERVAL = 0.5
MAX_PENDING = 100_000  # while the database is unreachable: beyond this, entries are dropped (counted, logged)
MAX_IDS = 1000  # ids listed per entry; a longer page is listed as its first/last id and count

_current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("edgeproof_access", default=None)


# -- noting, during a request ----------------------------------------------------------------------------


def note_actor(kind: str, actor_id: str, enterprise_id: str | None = None) -> None:
    """The request being served was authenticated as ``kind``/``actor_id`` (call only after it was)."""
    ctx = _current.get()
    if ctx is not None:
        ctx["actor_kind"], ctx["actor_id"] = kind, str(actor_id)
        if enterprise_id is not None:
            ctx["enterprise_id"] = enterprise_id


def note_returned(returned: dict[str, Any], enterprise_id: str | None = None) -> None:
    ctx = _current.get()
    if ctx is not None:
        ctx["returned"] = returned
        if enterprise_id is not None:
            ctx["enterprise_id"] = enterprise_id


def note_private() -> None:
    """The request read one bank's private data (cloud_stub/bank_chain.py): log it in the receiver-wide chain
    (enterprise_id null, served to no bank), not the enterprise's, which every bank of the enterprise reads."""
    ctx = _current.get()
    if ctx is not None:
        ctx["enterprise_id"] = None


def _ids(items: list[Any]) -> dict[str, Any]:
    ids = [it.get("id") for it in items if isinstance(it, dict) and isinstance(it.get("id"), int)]
    if len(ids) <= MAX_IDS:
        return {"ids": ids}
    return {"first_id": ids[0], "last_id": ids[-1], "count": len(ids)}


def summarise_page(page: dict[str, Any]) -> dict[str, Any]:
    """What a signed feed page returned, small: its kind, cursor and the ids of what it held."""
    out: dict[str, Any] = {"kind": page.get("kind"), "cursor": page.get("cursor")}
    if isinstance(page.get("items"), list):
        out.update(_ids(page["items"]))
    if isinstance(page.get("records"), list):
        out["records"] = _ids(page["records"])["ids"] if len(page["records"]) <= MAX_IDS else _ids(page["records"])
    if isinstance(page.get("batches"), dict):
        out["batches"] = len(page["batches"])
    if isinstance(page.get("withheld"), list):
        out["withheld"] = len(page["withheld"])
    if isinstance(page.get("item"), dict):
        out["ids"] = [page["item"].get("id")]
    if isinstance(page.get("enterprises"), list):
        out["enterprises"] = [e.get("enterprise_id") for e in page["enterprises"] if isinstance(e, dict)]
    return {k: v for k, v in out.items() if v is not None}


def note_page(page: dict[str, Any]) -> None:
    """Called by ``feed.sign_page`` for every page served: the page's enterprise and what it held."""
    if _current.get() is not None:
        ent = page.get("enterprise_id")
        note_returned(summarise_page(page), ent if isinstance(ent, str) else None)


# -- writing ----------------------------------------------------------------------------------------------


class AccessLog:
    """Pending entries and the thread that writes them; one per receiver process (``create_app``)."""

    def __init__(self, rdb: Store, interval: float = FLUSH_INTERVAL) -> None:
        self.rdb = rdb
        self.interval = interval
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dropped = 0
        self._failures = 0
        # after failures, back off (the interval doubling per failure, up to 30 s) instead of hammering a
        # store that is down
        self._backoff = Backoff(min(max(2 * interval, 1e-3), 30.0), 30.0)

    def add(self, entry: dict[str, Any], urgent: bool = False) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING:  # the store has been failing for a long while: keep memory bounded
                self.dropped += 1
                if self.dropped % 1000 == 1:
                    log.error("access log backlog full: entries dropped", extra={"event": "access_log_dropped",
                                                                                 "dropped": self.dropped})
                return
            self._pending.append(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
                self._thread.start()
        if urgent:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval if not self._failures else self._backoff.delay(self._failures))
            self._wake.clear()
            try:
                self.flush()
                self._failures = 0
            except (sqlite3.ProgrammingError, RuntimeError) as exc:  # the database was closed under us
                log.warning("access log stopped: %s (%d entries not written)", exc, len(self._pending),
                            extra={"event": "access_log_stopped"})
                return
            except Exception:  # noqa: BLE001 - kept pending and retried; a log write must not kill the thread
                self._failures = min(self._failures + 1, 10)
                log.exception("access log write failed", extra={"event": "access_log_error"})

    def flush(self) -> int:
        """Write every pending entry now (in one transaction); the number written."""
        with self._write_lock:
            with self._lock:
                todo, self._pending = self._pending, []
            if not todo:
                return 0
            try:
                append(self.rdb, todo)
            except BaseException:
                with self._lock:
                    self._pending[:0] = todo
                raise
            self.written += len(todo)
            return len(todo)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()


def append(rdb: Store, entries: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Chain and insert ``entries`` (dicts of :data:`FIELDS`; a gateway's enterprise is looked up when
    missing) in one write transaction; their ``(id, hash)``."""
    out: list[tuple[int, str]] = []
    with rdb.write() as conn:
        if rdb.dialect == "postgresql":  # two receivers on one database must not fork a chain
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('edgeproof.access_log'))")
        tips: dict[str | None, str] = {}
        gw_ent: dict[str, str | None] = {}
        for e in entries:
            if e.get("enterprise_id") is None and e.get("actor_kind") == "gateway":
                gw = str(e.get("actor_id"))
                if gw not in gw_ent:
                    row = conn.execute("SELECT enterprise_id FROM gateways WHERE id = ?", (gw,)).fetchone()
                    gw_ent[gw] = row[0] if row else None
                e["enterprise_id"] = gw_ent[gw]
            ent = e.get("enterprise_id")
            if ent not in tips:
                tips[ent] = chain_tip(conn, ent)[1]
            e.setdefault("returned", {})
            h = entry_hash(e, tips[ent])
            cur = conn.execute(
                "INSERT INTO access_log (time, actor_kind, actor_id, enterprise_id, method, path, client, status,"
                " returned, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (e["time"], e["actor_kind"], e["actor_id"], ent, e.get("method"), e.get("path"), e.get("client"),
                 e.get("status"), json.dumps(e["returned"], sort_keys=True, separators=(",", ":")), tips[ent], h))
            out.append((int(cur.fetchone()[0]), h))
            tips[ent] = h
    return out


def chain_tip(conn: Any, enterprise_id: str | None) -> tuple[int, str]:
    """``(id, hash)`` of the enterprise's latest entry in the caller's transaction (``(0, GENESIS)``: none)."""
    where = "enterprise_id = ?" if enterprise_id is not None else "enterprise_id IS NULL"
    row = conn.execute(f"SELECT id, hash FROM access_log WHERE {where} ORDER BY id DESC LIMIT 1",
                       (enterprise_id,) if enterprise_id is not None else ()).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def record(rdb: Store, actor_kind: str, actor_id: str, enterprise_id: str | None, what: str,
           returned: dict[str, Any], client: str = "local") -> tuple[int, str]:
    """One entry written now, for an action outside HTTP (an operator's export on the command line)."""
    entry = {"time": iso(utc_now()), "actor_kind": actor_kind, "actor_id": actor_id, "enterprise_id": enterprise_id,
             "method": "CLI", "path": what, "client": client, "status": 0, "returned": returned}
    return append(rdb, [entry])[0]


# -- reading ----------------------------------------------------------------------------------------------

COLUMNS = "id, time, actor_kind, actor_id, enterprise_id, method, path, client, status, returned, prev, hash"


def row_item(row: Any) -> dict[str, Any]:
    keys = COLUMNS.split(", ")
    item = dict(zip(keys, row, strict=True))
    item["returned"] = json.loads(item["returned"])
    item["id"] = int(item["id"])
    return item


def head(rdb: Store) -> dict[str, Any]:
    """The log's head: per enterprise chain its last ``[id, hash]`` (``""`` for receiver-wide entries), the
    entry count, and ``digest`` = sha256 of the canonical JSON of ``tips``: what a trusted timestamp covers."""
    with rdb.read() as conn:
        rows = conn.execute(
            "SELECT a.enterprise_id, a.id, a.hash FROM access_log a JOIN (SELECT enterprise_id, MAX(id) AS m"
            " FROM access_log GROUP BY enterprise_id) t ON a.id = t.m").fetchall()
        count = conn.execute("SELECT COUNT(*) FROM access_log").fetchone()[0]
    tips = {(r[0] if r[0] is not None else ""): [int(r[1]), str(r[2])] for r in rows}
    return {"tips": tips, "entries": int(count),
            "digest": hashlib.sha256(wire.canonical_json(tips)).hexdigest()}


def enterprise_head(rdb: Store, enterprise_id: str) -> dict[str, Any] | None:
    """``{"id", "hash"}`` of the enterprise's latest entry, None when it has none."""
    with rdb.read() as conn:
        i, h = chain_tip(conn, enterprise_id)
    return {"id": i, "hash": h} if i else None


def excerpt(rdb: Store, enterprise_id: str, t_from: str | None = None, t_to: str | None = None) -> list[dict[str, Any]]:
    """The enterprise's entries with ``t_from <= time < t_to`` (ISO 8601 UTC text, either bound optional), in
    chain order. The first one's ``prev`` anchors the excerpt to the entries before it."""
    sql = f"SELECT {COLUMNS} FROM access_log WHERE enterprise_id = ?"
    params: list[Any] = [enterprise_id]
    if t_from is not None:
        sql += " AND time >= ?"
        params.append(t_from)
    if t_to is not None:
        sql += " AND time < ?"
        params.append(t_to)
    with rdb.read() as conn:
        rows = conn.execute(sql + " ORDER BY id", params).fetchall()
    return [row_item(r) for r in rows]


def check_chain(items: list[dict[str, Any]], prev: str | None = GENESIS) -> list[str]:
    """Problems with a run of entries of one enterprise (``prev``: the hash before the first; None takes
    the first entry's own ``prev`` as given, for an excerpt that starts mid-chain)."""
    out: list[str] = []
    last = prev
    for it in items:
        where = f"access-log entry {it.get('id')}"
        if entry_hash(it, str(it.get("prev"))) != it.get("hash"):
            out.append(f"{where}: hash does not cover its fields (edited)")
        if last is not None and it.get("prev") != last:
            out.append(f"{where}: prev is not the hash of the entry before it (an entry was deleted or inserted)")
        last = str(it.get("hash"))
    return out


# -- the HTTP side ----------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class AccessLogMiddleware:
    """Pure ASGI (no body buffering): sets up the request's note, and queues an entry once the response
    started if an actor was noted. Cheap enough for the ingest path: a dict and a list append."""

    def __init__(self, app: ASGIApp, access: AccessLog) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        query = scope.get("query_string", b"").decode("latin-1")
        ctx: dict[str, Any] = {"actor_kind": None, "actor_id": None, "enterprise_id": None, "returned": {},
                               "method": scope.get("method"),
                               "path": scope.get("path", "") + (f"?{query}" if query else ""),
                               "client": f"{client[0]}:{client[1]}" if client else None}
        status: list[int] = [0]

        async def send_status(message: Any) -> None:
            if message.get("type") == "http.response.start":
                status[0] = int(message.get("status", 0))
            await send(message)

        token = _current.set(ctx)
        try:
            await self.app(scope, receive, send_status)
        finally:
            _current.reset(token)
            if ctx["actor_kind"] is not None:
                entry = {k: ctx[k] for k in ("actor_kind", "actor_id", "enterprise_id", "method", "path", "client",
                                             "returned")}
                entry.update(time=iso(utc_now()), status=status[0])
                # reads are written at once; the ingest path (batches, head statements) within FLUSH_INTERVAL
                self.access.add(entry, urgent=not str(ctx["path"]).startswith(("/v1/batches", "/v1/heads")))
