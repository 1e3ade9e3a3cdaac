"""Alert delivery: every alert queued once per channel in a persistent outbox, worked off with retries.

Flow, the same for every channel kind:

1. :func:`enqueue_new` reads the alerts stored since the last scan (a cursor in ``meta``) and
   queues one ``alert_outbox`` row per alert and eligible channel: operator channels get every
   alert, a bank's channels the alerts of enterprises it holds a live grant for. The row is
   unique per (alert, channel), so scanning twice, or two receivers scanning, queues it once.
2. :func:`deliver_due` claims due rows (a lease, so two receivers on one PostgreSQL do not send
   the same row at once), renders the alert for the channel and sends it (cloud_stub/senders.py):
   channels side by side on a small thread pool, each channel's alerts in order, each send with a
   timeout; a channel failing now holds its remaining alerts back with the failed one.
3. Each attempt is written to ``alert_deliveries``; the row becomes ``delivered``, ``failed``
   (a permanent refusal, or ``max_attempts`` used up) or stays ``pending`` with the next attempt
   after an exponential backoff with jitter. The idempotency key is fixed per row, so an endpoint
   that was down and saw a request it could not answer still acts on the alert once.

A bank's message is the alert as its feed serves it (``feed.alerts_page``): the detail is left
out when it names indicators of categories the bank was not granted, and a grant revoked
before delivery cancels the row. The worker runs on the receiver's periodic thread helper in ``cloud serve``
(:class:`DeliveryWorker`, cloud_stub/periodic.py) and from ``edgeproof cloud deliver``; ingest never waits for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from nacl.signing import SigningKey

from cloud_stub import banks, channels, feed, receiver_key
from cloud_stub.channels import Channel
from cloud_stub.db import iso, utc_now
from cloud_stub.errors import ReceiverError
from cloud_stub.periodic import PeriodicTask
from cloud_stub.senders import Message, SendError, send
from cloud_stub.texts import msg
from gateway.wire.backoff import Backoff

log = logging.getLogger("cloud_stub.outbox")
CURSOR_KEY = "alert_outbox.scanned"
BANK_CURSOR_KEY = "alert_outbox.scanned_bank"
BANK_ALERT = -1  # an outbox row's alert_id times this: a bank's private alert (bank_alerts.id), not alerts.id


@dataclass(frozen=True)
class Policy:
    """Retry and timeout settings; the defaults suit a production receiver, tests shrink the delays."""

    timeout: float = 10.0  # per send (connect and read)
    base_delay: float = 30.0  # first retry after about this long
    max_delay: float = 3600.0
    max_attempts: int = 12  # about a day of retries with the defaults
    parallel: int = 4  # channels served at once, so one slow channel does not hold the others
    batch: int = 100  # rows claimed per round

    def backoff(self, attempts: int, rnd: random.Random | None = None) -> float:
        """Seconds before attempt ``attempts + 1``: exponential, capped, with 'equal jitter' (half fixed,
        half random) so retries of many alerts after one outage do not arrive together (gateway/wire/backoff.py)."""
        policy = Backoff(min(self.base_delay, self.max_delay), self.max_delay, jitter=(0.5, 1.0))
        return policy.delay(max(1, attempts), rnd)


def idempotency_key(alert_id: int, channel_id: int, dedupe: str) -> str:
    """Stable for one alert on one channel (the alert's dedupe key makes it differ between receivers)."""
    return "ep-" + hashlib.sha256(f"{alert_id}\n{channel_id}\n{dedupe}".encode()).hexdigest()[:32]


def _live_grant(conn: Any, bank_id: str, enterprise_id: str) -> banks.Grant | None:
    row = conn.execute("SELECT categories FROM bank_grants WHERE bank_id = ? AND enterprise_id = ?"
                       " AND revoked_at IS NULL", (bank_id, enterprise_id)).fetchone()
    if row is None:
        return None
    cats = None if row[0] == banks.ALL else frozenset(c for c in row[0].split(",") if c)
    return banks.Grant(bank_id, enterprise_id, cats)


def enqueue_new(rdb: Any, now: float | None = None) -> int:
    """Queue the alerts stored since the last scan on every eligible channel; returns rows queued."""
    return _enqueue_alerts(rdb, now) + _enqueue_bank_alerts(rdb, now)


def _enqueue_bank_alerts(rdb: Any, now: float | None = None) -> int:
    """Queue a bank's private alerts (cloud_stub/bank_chain.py) on the operator's channels and that bank's,
    never another bank's. Their outbox rows carry ``alert_id = -<bank_alerts.id>`` (:data:`BANK_ALERT`), so
    one outbox serves both kinds; a channel gets the bank alerts raised after it was added."""
    now = time.time() if now is None else now
    with rdb.read() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (BANK_CURSOR_KEY,)).fetchone()
        fresh = conn.execute("SELECT max(id) FROM bank_alerts").fetchone()[0]
    if fresh is None or (row is not None and int(row[0]) >= fresh and rdb.dialect != "postgresql"):
        return 0
    queued = 0
    with rdb.write() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (BANK_CURSOR_KEY,)).fetchone()
        after = int(row[0]) if row else 0
        if row is not None and rdb.dialect == "postgresql":
            after = max(0, after - 200)  # ids committed out of order (see _enqueue_alerts)
        alerts = conn.execute("SELECT id, enterprise_id, bank_id, dedupe, created FROM bank_alerts WHERE id > ?"
                              " ORDER BY id LIMIT 5000", (after,)).fetchall()
        if not alerts:
            return 0
        chans = channels.list_channels(conn)
        created = iso(utc_now())
        for aid, ent, bank, dedupe, raised in alerts:
            for ch in chans:
                if ch.created > raised:
                    continue
                if ch.owner == channels.OWNER_BANK and (ch.bank_id != bank or _live_grant(conn, bank, ent) is None):
                    continue
                cur = conn.execute(
                    "INSERT INTO alert_outbox (alert_id, channel_id, idem_key, state, attempts, next_at, created)"
                    " VALUES (?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT DO NOTHING",
                    (BANK_ALERT * aid, ch.id, idempotency_key(BANK_ALERT * aid, ch.id, dedupe), now, created))
                queued += max(cur.rowcount, 0)
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value ="
                     " excluded.value", (BANK_CURSOR_KEY, str(alerts[-1][0])))
    return queued


def _enqueue_alerts(rdb: Any, now: float | None = None) -> int:
    """The enterprise chains' alerts (table ``alerts``)."""
    now = time.time() if now is None else now
    queued = 0
    with rdb.read() as conn:  # the common case (no channel, or no new alert) takes no write lock at all
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (CURSOR_KEY,)).fetchone()
        fresh = conn.execute("SELECT max(id) FROM alerts").fetchone()[0]
        live = conn.execute("SELECT count(*) FROM alert_channels WHERE removed_at IS NULL").fetchone()[0]
    if not live or fresh is None or (row is not None and int(row[0]) >= fresh and rdb.dialect != "postgresql"):
        return 0
    with rdb.write() as conn:
        chans = channels.list_channels(conn)
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (CURSOR_KEY,)).fetchone()
        after = int(row[0]) if row else 0
        if not chans:
            return 0
        if row is None:
            after = min(ch.from_alert for ch in chans)
        elif rdb.dialect == "postgresql":
            # Concurrent writers can commit alert ids out of order: look back a little each round
            # (queueing is idempotent), so an alert committed late behind a higher id is not skipped.
            after = max(0, after - 200)
        alerts = conn.execute("SELECT id, enterprise_id, dedupe, kind, detail FROM alerts WHERE id > ? ORDER BY id"
                              " LIMIT 5000", (after,)).fetchall()
        if not alerts:
            return 0
        created = iso(utc_now())
        for aid, ent, dedupe, kind, detail in alerts:
            for ch in chans:
                if aid <= ch.from_alert:
                    continue
                if ch.owner == channels.OWNER_BANK and _live_grant(conn, ch.bank_id or "", ent) is None:
                    continue
                if ch.owner == channels.OWNER_BANK and kind == "margin_call" \
                        and feed.other_banks(kind, json.loads(detail), ch.bank_id or ""):
                    continue  # another bank's facility (issue 15): only its bank and the operator get it
                cur = conn.execute(
                    "INSERT INTO alert_outbox (alert_id, channel_id, idem_key, state, attempts, next_at, created)"
                    " VALUES (?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT DO NOTHING",
                    (aid, ch.id, idempotency_key(aid, ch.id, dedupe), now, created))
                queued += max(cur.rowcount, 0)
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value ="
                     " excluded.value", (CURSOR_KEY, str(alerts[-1][0])))
    return queued


def _claim(rdb: Any, policy: Policy, now: float) -> list[tuple[int, int, int, str, int]]:
    """Due rows this process now holds a lease on: (outbox id, alert id, channel id, idem key, attempts)."""
    lease = now + policy.timeout * 3 + 30
    due = ("SELECT id, alert_id, channel_id, idem_key, attempts FROM alert_outbox WHERE state = 'pending'"
           " AND next_at <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_at, id LIMIT ?")
    with rdb.read() as conn:  # nothing due: no write lock taken
        if not conn.execute(due, (now, now, 1)).fetchone():
            return []
    with rdb.write() as conn:
        rows = conn.execute(due, (now, now, policy.batch)).fetchall()
        out = []
        for r in rows:
            cur = conn.execute("UPDATE alert_outbox SET lease_until = ? WHERE id = ? AND state = 'pending'"
                               " AND (lease_until IS NULL OR lease_until < ?)", (lease, r[0], now))
            if cur.rowcount == 1:
                out.append(tuple(r))
    return out


def _alert_item(rdb: Any, alert_id: int, ch: Channel, key: SigningKey) -> dict[str, Any] | None:
    """The alert as this channel's owner may see it; None when a bank no longer holds the grant.

    Reads are taken one after the other, never nested: the delivery threads share the reader pool."""
    if alert_id < 0:
        return _bank_alert_item(rdb, -alert_id, ch, key)
    with rdb.read() as conn:
        row = conn.execute("SELECT id, enterprise_id, kind, level, detail, created, prev, hash FROM alerts"
                           " WHERE id = ?", (alert_id,)).fetchone()
        grant = _live_grant(conn, ch.bank_id or "", row[1]) if row is not None and ch.bank_id else None
    if row is None:
        return None
    if ch.owner == channels.OWNER_OPERATOR:
        return {"id": row[0], "enterprise_id": row[1], "kind": row[2], "level": row[3], "created": row[5],
                "prev": row[6], "hash": row[7], "detail": json.loads(row[4])}
    if grant is None:
        return None
    page = feed.alerts_page(rdb, grant, key, cursor=None, limit=1, after_id=alert_id - 1)
    items = [it for it in page["items"] if it["id"] == alert_id]
    return items[0] if items else None


def _bank_alert_item(rdb: Any, bank_alert_id: int, ch: Channel, key: SigningKey) -> dict[str, Any] | None:
    """A bank's private alert for the operator's channel, or for that bank's while it holds the grant."""
    from cloud_stub import bank_chain

    with rdb.read() as conn:
        row = conn.execute(f"SELECT {bank_chain.ALERT_COLUMNS} FROM bank_alerts WHERE id = ?",
                           (bank_alert_id,)).fetchone()
        grant = _live_grant(conn, ch.bank_id or "", row[1]) if row is not None and ch.bank_id else None
    if row is None:
        return None
    item = bank_chain.alert_item(row)
    if ch.owner == channels.OWNER_OPERATOR:
        return item
    return item if grant is not None and ch.bank_id == item["bank"] else None


def render(item: dict[str, Any], ch: Channel, idem_key: str, kid: str) -> Message:
    """The JSON payload (webhooks) and the title and text (e-mail, messaging apps) of one alert."""
    payload = {"type": "edgeproof.alert", "v": 1, "channel": ch.name, "receiver_kid": kid,
               "idempotency_key": idem_key, "alert": item}
    title = f"[EdgeProof] {item['level']} {item['kind']}: {item['enterprise_id']}"
    lines = [f"Alert {item['id']} for enterprise {item['enterprise_id']}: {item['kind']} ({item['level']})",
             f"Raised: {item['created']}"]
    if "detail" in item:
        lines.append("Detail: " + json.dumps(item["detail"], sort_keys=True, ensure_ascii=False))
    else:
        lines.append("Detail withheld: it names indicators of categories this bank was not granted.")
    feed_path = "bank-alerts" if "bank" in item else "alerts"
    lines.append(f"Alert hash: {item['hash']} (verify it in the bank feed, GET /v1/feed/{item['enterprise_id']}"
                 f"/{feed_path})")
    return Message(payload, title, "\n".join(lines), idem_key)


def _finish(rdb: Any, oid: int, ch_id: int, alert_id: int, attempt: int, status: str, started: float,
            http_status: int | None, error: str | None, state: str, next_at: float | None) -> None:
    now_iso = iso(utc_now())
    with rdb.write() as conn:
        conn.execute("INSERT INTO alert_deliveries (outbox_id, channel_id, alert_id, attempt, time, status,"
                     " http_status, duration_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (oid, ch_id, alert_id, attempt, now_iso, status, http_status,
                      round((time.monotonic() - started) * 1000, 1), error))
        conn.execute("UPDATE alert_outbox SET state = ?, attempts = ?, next_at = coalesce(?, next_at),"
                     " lease_until = NULL, done_at = ?, last_error = ? WHERE id = ?",
                     (state, attempt, next_at, None if state == "pending" else now_iso, error, oid))


def _deliver_one(rdb: Any, key: SigningKey, kid: str, policy: Policy, row: tuple[int, int, int, str, int]) -> str:
    oid, alert_id, ch_id, idem, attempts = row
    attempt = attempts + 1
    started = time.monotonic()
    with rdb.read() as conn:
        ch = channels.by_id(conn, ch_id)
    item = _alert_item(rdb, alert_id, ch, key) if ch is not None and ch.removed_at is None else None
    if ch is None or ch.removed_at is not None or item is None:
        why = "channel removed" if ch is None or ch.removed_at is not None else "no live grant for this enterprise"
        _finish(rdb, oid, ch_id, alert_id, attempt, "cancelled", started, None, why, "cancelled", None)
        return "cancelled"
    try:
        code = send(ch, render(item, ch, idem, kid), key, kid, policy.timeout)
    except SendError as exc:
        final = not exc.retry or attempt >= policy.max_attempts
        status = "failed" if final else "retry"
        next_at = None if final else time.time() + policy.backoff(attempt)
        _finish(rdb, oid, ch_id, alert_id, attempt, status, started, exc.http_status, str(exc),
                "failed" if final else "pending", next_at)
        log.warning("alert delivery %s", status, extra={"event": "alert_delivery", "status": status,
                                                       "channel": ch.name, "alert": alert_id, "attempt": attempt,
                                                       "error": str(exc)})
        return status
    _finish(rdb, oid, ch_id, alert_id, attempt, "delivered", started, code, None, "delivered", None)
    log.info("alert delivered", extra={"event": "alert_delivery", "status": "delivered", "channel": ch.name,
                                       "alert": alert_id, "attempt": attempt})
    return "delivered"


def _release(rdb: Any, ids: list[int], not_before: float | None = None) -> None:
    """Give claimed rows back unsent (no attempt counted), due again no earlier than ``not_before``."""
    if not ids:
        return
    with rdb.write() as conn:
        for oid in ids:
            conn.execute("UPDATE alert_outbox SET lease_until = NULL, next_at = CASE WHEN next_at < ? THEN ? ELSE"
                         " next_at END WHERE id = ? AND state = 'pending'",
                         (not_before or 0.0, not_before or 0.0, oid))


def _deliver_channel(rdb: Any, key: SigningKey, kid: str, policy: Policy, rows: list[tuple[int, int, int, str, int]],
                     stop: threading.Event | None) -> list[str]:
    """One channel's due rows, in order. When the channel fails in a way worth retrying, the rest wait with the
    failed one (same next attempt time): a dead endpoint costs one timeout per backoff step, not one per alert."""
    out: list[str] = []
    for i, row in enumerate(rows):
        if stop is not None and stop.is_set():
            _release(rdb, [r[0] for r in rows[i:]])
            break
        status = _deliver_one(rdb, key, kid, policy, row)
        out.append(status)
        if status == "retry" and i + 1 < len(rows):
            with rdb.read() as conn:
                nxt = conn.execute("SELECT next_at FROM alert_outbox WHERE id = ?", (row[0],)).fetchone()
            _release(rdb, [r[0] for r in rows[i + 1:]], float(nxt[0]) if nxt else None)
            break
    return out


def deliver_due(rdb: Any, key: SigningKey, policy: Policy = Policy(), now: float | None = None,
                stop: threading.Event | None = None) -> dict[str, int]:
    """One round: queue new alerts, send every due row once (channels side by side, each channel's rows in
    order). Returns counts by outcome. ``stop`` set: rows not yet sent are given back for a later round."""
    enqueue_new(rdb, now)
    rows = _claim(rdb, policy, time.time() if now is None else now)
    out: dict[str, int] = {}
    if not rows:
        return out
    kid = receiver_key.public_info(key)["kid"]
    by_channel: dict[int, list[tuple[int, int, int, str, int]]] = {}
    for r in rows:
        by_channel.setdefault(r[2], []).append(r)
    with ThreadPoolExecutor(max_workers=max(1, min(policy.parallel, len(by_channel)))) as pool:
        for statuses in pool.map(lambda rs: _deliver_channel(rdb, key, kid, policy, rs, stop), by_channel.values()):
            for status in statuses:
                out[status] = out.get(status, 0) + 1
    return out


def send_test(rdb: Any, key: SigningKey, name: str, policy: Policy = Policy()) -> dict[str, Any]:
    """Send a made-up alert to one channel now (``cloud channel test``); logged with status test/test_failed."""
    with rdb.read() as conn:
        ch = channels.get(conn, name)
    kid = receiver_key.public_info(key)["kid"]
    item = {"id": 0, "enterprise_id": "(test)", "kind": "test", "level": "info", "created": iso(utc_now()),
            "prev": None, "hash": None, "detail": {"message": "test message from `edgeproof cloud channel test`"}}
    idem = "ep-test-" + hashlib.sha256(f"{ch.id}{time.time()}".encode()).hexdigest()[:24]
    started = time.monotonic()
    try:
        code = send(ch, render(item, ch, idem, kid), key, kid, policy.timeout)
    except SendError as exc:
        _log_test(rdb, ch, started, "test_failed", exc.http_status, str(exc))
        return {"channel": name, "status": "failed", "error": str(exc), "http_status": exc.http_status}
    _log_test(rdb, ch, started, "test", code, None)
    return {"channel": name, "status": "delivered", "http_status": code}


def _log_test(rdb: Any, ch: Channel, started: float, status: str, code: int | None, error: str | None) -> None:
    with rdb.write() as conn:
        conn.execute("INSERT INTO alert_deliveries (outbox_id, channel_id, alert_id, attempt, time, status,"
                     " http_status, duration_ms, error) VALUES (NULL, ?, NULL, 1, ?, ?, ?, ?, ?)",
                     (ch.id, iso(utc_now()), status, code, round((time.monotonic() - started) * 1000, 1), error))


def deliveries(rdb: Any, channel: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The delivery log, newest first (every attempt: time, channel, alert, status, error)."""
    with rdb.read() as conn:
        cid = None
        if channel is not None:
            row = conn.execute("SELECT id FROM alert_channels WHERE name = ? OR name LIKE ? ORDER BY id DESC",
                               (channel, f"{channel}~removed~%")).fetchone()
            if row is None:
                raise ReceiverError("unknown_channel", msg("no channel named {channel}",
                                                           channel=repr(channel)), 404, status="error")
            cid = row[0]
        sql = ("SELECT d.id, d.time, c.name, d.alert_id, d.attempt, d.status, d.http_status, d.duration_ms, d.error,"
               " o.idem_key FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id"
               " LEFT JOIN alert_outbox o ON o.id = d.outbox_id")
        args: list[Any] = []
        if cid is not None:
            sql += " WHERE d.channel_id = ?"
            args.append(cid)
        rows = conn.execute(sql + " ORDER BY d.id DESC LIMIT ?", (*args, limit)).fetchall()
    return [{"id": r[0], "time": r[1], "channel": r[2].split("~removed~")[0], "alert_id": r[3], "attempt": r[4],
             "status": r[5], "http_status": r[6], "duration_ms": r[7], "error": r[8], "idempotency_key": r[9]}
            for r in rows]


def depths(conn: Any) -> dict[str, int]:
    """Outbox rows by state (for /metrics)."""
    return {r[0]: int(r[1]) for r in conn.execute("SELECT state, count(*) FROM alert_outbox GROUP BY state")}


class DeliveryWorker(PeriodicTask):
    """:func:`deliver_due` every ``interval`` seconds on the receiver's periodic thread (cloud_stub/periodic.py),
    the first round at once, until :meth:`stop`; rows a stop interrupts are given back for a later round. It uses
    the connection it is given (the server's) and leaves it open."""

    name = "alert_delivery"
    failed_event = "alert_delivery_error"

    def __init__(self, rdb: Any, key: SigningKey, interval: float = 2.0, policy: Policy = Policy()) -> None:
        super().__init__(lambda: rdb, interval, log, first_round_now=True, close_rdb=False)
        self.rdb, self.key, self.policy = rdb, key, policy

    def round(self, rdb: Any) -> None:
        deliver_due(rdb, self.key, self.policy, stop=self.stopping)
