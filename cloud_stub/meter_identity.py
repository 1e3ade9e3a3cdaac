"""Meter identities at ingest: the latest per (gateway, device); a swapped meter or a duplicate is a finding.

Called inside the write transaction that accepts a batch (``ingest._extend_chain``), for each
``device_identity`` record (gateway/wire/identity.py). The batch is accepted whatever its records
say (it is signed and continues the chain); the receiver then:

- keeps the newest identity per (gateway, device) (by chain seq) in ``device_identity``;
- raises ``meter_identity_changed`` when a device's identity differs from the one it had (the
  receiver's stored one, or, when the receiver has none, the ``previous`` the gateway signed):
  the numbers are the old and new serial/model/firmware and which fields changed;
- raises ``meter_serial_duplicate`` when the same serial (under the same register map) is claimed
  by another device, on this gateway or another: one physical meter cannot feed two devices, so
  one of them is a copy, a simulator or a misread. Another enterprise's devices are counted, never
  named. The finding goes to the enterprise whose record completed the pair (the other claimant's
  findings are chained under its own enterprise lock, which this transaction does not hold);
- raises ``identity_malformed`` (and stores nothing) for a record that does not parse.

The rule ``meter_identity`` (cloud_stub/rules/meter_identity.py) turns these into scored findings.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cloud_stub.db import SQLConn, iso, utc_now
from cloud_stub.findings import record_finding
from gateway.wire import identity as wire_identity

log = logging.getLogger("cloud_stub.meter_identity")
MAX_NAMED = 20  # other devices named in one duplicate finding (the rest are counted)


def note_batch(conn: SQLConn, body: dict[str, Any], batch_hash: str) -> None:
    """Look at the identity records of one accepted batch (in the caller's transaction)."""
    for idx, rec in enumerate(body.get("records") or []):
        if isinstance(rec, dict) and rec.get("type") == wire_identity.TYPE:
            _note(conn, body, batch_hash, idx, rec)


def _note(conn: SQLConn, body: dict[str, Any], batch_hash: str, idx: int, rec: dict[str, Any]) -> None:
    gw, ent, seq = body["gateway"], body["enterprise"], body["seq"]
    try:
        wire_identity.check_identity(rec)
    except wire_identity.IdentityError as exc:
        log.warning("malformed identity record", extra={"event": "identity_malformed", "gateway": gw, "seq": seq,
                                                        "index": idx, "error": str(exc)})
        record_finding(conn, "identity_malformed", enterprise_id=ent, gateway_id=gw,
                       detail={"seq": seq, "hash": batch_hash, "index": idx, "key": exc.path,
                               "expected": exc.expected, "message": str(exc)}, dedupe=f"{batch_hash}:{idx}")
        return
    device, new, mp = rec["device"], rec["identity"], rec.get("map")
    row = conn.execute("SELECT identity, seq FROM device_identity WHERE gateway_id = ? AND device = ?",
                       (gw, device)).fetchone()
    if row is not None and int(row[1]) > seq:
        return  # an older record arriving late (a replay): the newer identity stays
    old = json.loads(row[0]) if row is not None else rec.get("previous")
    changed = sorted(k for k in wire_identity.FIELDS if old is not None and old.get(k) != new.get(k))
    if changed:
        record_finding(conn, "meter_identity_changed", enterprise_id=ent, gateway_id=gw,
                       detail={"device": device, "map": mp, "seq": seq, "hash": batch_hash, "index": idx,
                               "old": old, "new": new, "fields": changed, "signed_event": rec["event"],
                               "time": rec["time"]}, dedupe=f"{batch_hash}:{idx}")
    serial = new.get("serial")
    conn.execute(
        "INSERT INTO device_identity (gateway_id, device, enterprise_id, map, serial, identity, seq, batch_hash, idx,"
        " time, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gateway_id, device) DO UPDATE SET"
        " enterprise_id = excluded.enterprise_id, map = excluded.map, serial = excluded.serial,"
        " identity = excluded.identity, seq = excluded.seq, batch_hash = excluded.batch_hash, idx = excluded.idx,"
        " time = excluded.time, received = excluded.received",
        (gw, device, ent, mp, serial, json.dumps(new, sort_keys=True), seq, batch_hash, idx, rec["time"],
         iso(utc_now())))
    if serial is not None:
        _duplicates(conn, gw, ent, device, mp, serial, seq, batch_hash, idx)


def _duplicates(conn: SQLConn, gw: str, ent: str, device: str, mp: str | None, serial: str, seq: int,
                batch_hash: str, idx: int) -> None:
    others = conn.execute(
        "SELECT gateway_id, device, enterprise_id FROM device_identity WHERE serial = ? AND"
        " COALESCE(map, '') = COALESCE(?, '') AND NOT (gateway_id = ? AND device = ?) ORDER BY gateway_id, device",
        (serial, mp, gw, device)).fetchall()
    if not others:
        return
    own = [{"gateway": o[0], "device": o[1]} for o in others if o[2] == ent]
    foreign = sum(1 for o in others if o[2] != ent)
    detail = {"device": device, "map": mp, "serial": serial, "seq": seq, "hash": batch_hash, "index": idx,
              "claimed_by": len(others) + 1, "same_enterprise": own[:MAX_NAMED],
              "same_enterprise_count": len(own), "other_enterprises_devices": foreign,
              "gateways": len({o[0] for o in others} | {gw})}
    record_finding(conn, "meter_serial_duplicate", enterprise_id=ent, gateway_id=gw, detail=detail,
                   dedupe=f"{mp}:{serial}:{device}:{len(others)}")
