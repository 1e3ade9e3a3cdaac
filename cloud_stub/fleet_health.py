"""Health summaries at ingest: keep the latest well-formed one per gateway; a malformed one is a finding.

Called inside the write transaction that accepts a batch (``ingest._extend_chain``). The batch is
accepted whatever its summary looks like: it is signed and continues the chain, and refusing it
would stop the gateway's whole outbox behind it (every later batch waits for this seq). So a
malformed summary loses nothing: its batch, its records and everything after are stored as
always; the summary is not used for the fleet list (the previous good one stays), and a
``health_malformed`` finding (warning) names the batch, the record and the key that is wrong,
plus a log line. A summary of a version this receiver does not know is treated the same way
(the finding says which version).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cloud_stub.db import SQLConn, iso, utc_now
from cloud_stub.findings import record_finding
from gateway.wire import health as wire_health

log = logging.getLogger("cloud_stub.fleet")


def note_batch(conn: SQLConn, body: dict[str, Any], batch_hash: str) -> None:
    """Look at the health records of one accepted batch (in the caller's transaction)."""
    records = body.get("records") or []
    for idx, rec in enumerate(records):
        if not isinstance(rec, dict) or rec.get("type") != wire_health.TYPE:
            continue
        gw, ent, seq = body["gateway"], body["enterprise"], body["seq"]
        try:
            wire_health.check_health(rec)
        except wire_health.HealthError as exc:
            log.warning("malformed health summary", extra={"event": "health_malformed", "gateway": gw, "seq": seq,
                                                           "index": idx, "error": str(exc)})
            record_finding(conn, "health_malformed", enterprise_id=ent, gateway_id=gw,
                           detail={"seq": seq, "hash": batch_hash, "index": idx, "key": exc.path,
                                   "expected": exc.expected, "message": str(exc)},
                           dedupe=f"{batch_hash}:{idx}")
            continue
        conn.execute(
            "INSERT INTO gateway_health (gateway_id, enterprise_id, seq, batch_hash, idx, time, received, summary)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gateway_id) DO UPDATE SET"
            " enterprise_id = excluded.enterprise_id, seq = excluded.seq, batch_hash = excluded.batch_hash,"
            " idx = excluded.idx, time = excluded.time, received = excluded.received, summary = excluded.summary"
            " WHERE excluded.seq >= gateway_health.seq",
            (gw, ent, seq, batch_hash, idx, rec["time"], iso(utc_now()), json.dumps(rec, sort_keys=True)))
