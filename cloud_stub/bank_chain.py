"""A bank's private findings and alerts: what its facilities give, seen by that bank alone.

Coverage and covenant findings (rules ``collateral_coverage`` and ``repay_covenants``) and the
``margin_call`` alerts they raise are made of one bank's facility terms and prices. Kept in the
enterprise's chains (findings.py, feed_chain.py) every other bank of the enterprise would see that
one exists (kind, severity, time, id) even with its detail withheld. So they are written here, in
two tables of their own (``bank_findings``, ``bank_alerts``), each hash-chained per
(enterprise, bank) with the same rule as the enterprise's chains (``feed_chain.link``, chains
``bank_finding`` / ``bank_alert``, ``bank`` among the hashed fields), and served only to that bank:

* ``GET /v1/feed/{enterprise}/bank-findings`` and ``.../bank-alerts`` (cloud_stub/http_bank_chain.py),
  signed and paged like the findings and alerts feeds (``cursor``, ``next_cursor``, ``resume_cursor``,
  ``after``); the page names the ``bank``;
* nothing else reads these tables for a bank: not the enterprise's findings, alerts, scores or
  access-log pages, not the enterprise's view, not the portfolio of another bank, no count;
* a read of these pages is logged in the receiver-wide access-log chain, not the enterprise's
  (which every bank of the enterprise reads).

Findings stored before this module (in the enterprise's chain, ``extra.bank``) stay where they are:
history is not rewritten (docs/receiver.md, "A bank's private findings").
"""

from __future__ import annotations

import json
from typing import Any

from nacl.signing import SigningKey

from cloud_stub import access_log, feed, feed_chain
from cloud_stub.banks import Grant
from cloud_stub.errors import ReceiverError
from cloud_stub.texts import msg
from gateway import wire

MAX_LIMIT = 10_000
# ``seq`` first: the item id a bank is served is its position in its own chain (1, 2, 3 ...), never the row id,
# which other banks' and enterprises' rows share: a gap in it would let a bank count their findings.
FINDING_COLUMNS = ("seq, kind, severity, enterprise_id, bank_id, detail, created, rule_version, subscore,"
                   " window_start, window_end, prev, hash")
ALERT_COLUMNS = "seq, enterprise_id, bank_id, kind, level, detail, created, prev, hash"


def _next_seq(conn: Any, table: str, enterprise_id: str, bank: str) -> int:
    return int(conn.execute(f"SELECT coalesce(max(seq), 0) + 1 FROM {table} WHERE enterprise_id = ? AND bank_id = ?",
                            (enterprise_id, bank)).fetchone()[0])


def has_finding(conn: Any, dedupe: str) -> bool:
    return conn.execute("SELECT 1 FROM bank_findings WHERE dedupe = ?", (dedupe,)).fetchone() is not None


def add_finding(conn: Any, bank: str, item: dict[str, Any], detail: dict[str, Any], dedupe: str) -> int | None:
    """Store one finding in the (enterprise, bank) chain; None when its dedupe key is already stored.
    ``item`` holds the chained fields but ``bank`` (feed_chain.FIELDS["bank_finding"]). The caller holds the
    transaction (PostgreSQL: the enterprise's row lock, as for every chained write)."""
    text = wire.canonical_json(detail).decode()
    full = {**item, "bank": bank}
    prev, h = feed_chain.link(conn, "bank_finding", full, json.loads(text))
    row = conn.execute(
        "INSERT INTO bank_findings (seq, bank_id, enterprise_id, kind, severity, detail, created, dedupe, rule_version,"
        " subscore, window_start, window_end, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING RETURNING id",
        (_next_seq(conn, "bank_findings", item["enterprise_id"], bank), bank, item["enterprise_id"], item["kind"],
         item["severity"], text, item["created"], dedupe, item.get("rule_version"), item.get("subscore"),
         item.get("window_start"), item.get("window_end"), prev, h),
    ).fetchone()
    return None if row is None else int(row[0])


def add_alert(conn: Any, bank: str, enterprise_id: str, kind: str, level: str, detail: dict[str, Any],
              created: str, dedupe: str) -> int | None:
    """Store one alert in the (enterprise, bank) alert chain; None when its dedupe key is already stored.
    The alert outbox queues it for the operator's channels and this bank's (outbox.py)."""
    text = wire.canonical_json(detail).decode()
    item = {"enterprise_id": enterprise_id, "bank": bank, "kind": kind, "level": level, "created": created}
    prev, h = feed_chain.link(conn, "bank_alert", item, json.loads(text))
    row = conn.execute(
        "INSERT INTO bank_alerts (seq, bank_id, enterprise_id, kind, level, detail, created, dedupe, prev, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        (_next_seq(conn, "bank_alerts", enterprise_id, bank), bank, enterprise_id, kind, level, text, created, dedupe,
         prev, h)).fetchone()
    return None if row is None else int(row[0])


def finding_item(r: Any) -> dict[str, Any]:
    detail = json.loads(r[5])
    return {"id": r[0], "kind": r[1], "severity": r[2], "enterprise_id": r[3], "bank": r[4], "created": r[6],
            "rule_version": r[7], "subscore": r[8], "window_start": r[9], "window_end": r[10], "prev": r[11],
            "hash": r[12], "detail_sha256": feed_chain.detail_sha256(detail), "detail": detail}


def alert_item(r: Any) -> dict[str, Any]:
    detail = json.loads(r[5])
    return {"id": r[0], "enterprise_id": r[1], "bank": r[2], "kind": r[3], "level": r[4], "created": r[6],
            "prev": r[7], "hash": r[8], "detail_sha256": feed_chain.detail_sha256(detail), "detail": detail}


def _rows(conn: Any, table: str, columns: str, grant: Grant, after: int, limit: int) -> tuple[list[Any], bool]:
    rows = conn.execute(f"SELECT {columns} FROM {table} WHERE enterprise_id = ? AND bank_id = ? AND seq > ?"
                        " ORDER BY seq LIMIT ?", (grant.enterprise_id, grant.bank_id, after, limit + 1)).fetchall()
    return rows[:limit], len(rows) > limit


def _page(rdb: Any, grant: Grant, signing_key: SigningKey, kind: str, prefix: str, cursor: str | None,
          after_id: int | None, limit: int) -> dict[str, Any]:
    feed.check_limit(limit, MAX_LIMIT)
    after = feed.decode_cursor(cursor, prefix) if cursor else (after_id or 0)
    if after < 0:
        raise ReceiverError("bad_request", msg("'after' must be >= 0"), 400, status="error")
    table, columns, make = (("bank_findings", FINDING_COLUMNS, finding_item) if kind == "bank_findings"
                            else ("bank_alerts", ALERT_COLUMNS, alert_item))
    with rdb.read() as conn:
        rows, more = _rows(conn, table, columns, grant, after, limit)
    items = [make(r) for r in rows]
    page = feed._list_page(kind, grant, cursor, rows, more, after, prefix, items, signing_key, bank=grant.bank_id)
    keep_off_enterprise_log()
    return page


def findings_page(rdb: Any, grant: Grant, signing_key: SigningKey, *, cursor: str | None = None,
                  after_id: int | None = None, limit: int = 1000) -> dict[str, Any]:
    """This bank's private findings about the grant's enterprise, oldest first, signed (V51, V52)."""
    return _page(rdb, grant, signing_key, "bank_findings", "bf", cursor, after_id, limit)


def alerts_page(rdb: Any, grant: Grant, signing_key: SigningKey, *, cursor: str | None = None,
                after_id: int | None = None, limit: int = 1000) -> dict[str, Any]:
    """This bank's private alerts about the grant's enterprise, oldest first, signed (V51, V52)."""
    return _page(rdb, grant, signing_key, "bank_alerts", "ba", cursor, after_id, limit)


def keep_off_enterprise_log() -> None:
    """The request being served read one bank's private data: its access-log entry goes to the receiver-wide
    chain (enterprise_id null, which no bank is served), not to the enterprise's, which every bank of the
    enterprise reads (an entry there would tell another bank that such data exists)."""
    access_log.note_private()

