"""Findings: what the receiver noticed about a gateway's data that a lender should know.

A finding is written even when the batch that triggered it is rejected (that is the
point: an equivocation or a gap must not vanish with the rejected bytes). A retrying
gateway would repeat the same finding forever, so each carries a ``dedupe`` key and
is stored once.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from cloud_stub import feed_chain
from cloud_stub.db import iso, utc_now

# kind -> severity. "alert" means a human should look now; "data_integrity" feeds the
# data-integrity sub-score; "warning" is a rejected or suspicious submission.
SEVERITY = {
    "equivocation": "alert",
    "gap_declared": "data_integrity",
    "gap_observed": "warning",
    # An observed gap the gateway's resend closed (cloud_stub/ingest.py, _close_filled_gaps).
    "gap_filled": "info",
    "stale_seq": "warning",
    "rejected_batch": "warning",
}


def record_finding(
    conn: sqlite3.Connection,
    kind: str,
    *,
    enterprise_id: str | None,
    gateway_id: str | None,
    detail: dict[str, Any],
    dedupe: str,
) -> None:
    """Insert a finding unless one with the same dedupe key exists. Caller holds the transaction
    (and, on PostgreSQL, the enterprise's row lock: the finding is hash-chained, feed_chain.py)."""
    text = json.dumps(detail, sort_keys=True)
    item = {"kind": kind, "severity": SEVERITY.get(kind, "warning"), "enterprise_id": enterprise_id,
            "gateway_id": gateway_id, "created": iso(utc_now())}
    prev, h = feed_chain.link(conn, "finding", item, json.loads(text))
    conn.execute(
        "INSERT INTO findings (kind, severity, enterprise_id, gateway_id, detail, created, dedupe, prev, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (kind, item["severity"], enterprise_id, gateway_id, text, item["created"], f"{kind}:{gateway_id}:{dedupe}",
         prev, h),
    )


def list_findings(
    conn: sqlite3.Connection, enterprise_id: str | None = None, after_id: int = 0, limit: int = 1000
) -> list[dict[str, Any]]:
    """Findings in the order they were raised, optionally for one enterprise only."""
    sql = "SELECT id, kind, severity, enterprise_id, gateway_id, detail, created FROM findings WHERE id > ?"
    args: list[Any] = [after_id]
    if enterprise_id is not None:
        sql += " AND enterprise_id = ?"
        args.append(enterprise_id)
    sql += " ORDER BY id LIMIT ?"
    args.append(limit)
    return [
        {"id": r[0], "kind": r[1], "severity": r[2], "enterprise_id": r[3], "gateway_id": r[4],
         "detail": json.loads(r[5]), "created": r[6]}
        for r in conn.execute(sql, args)
    ]
