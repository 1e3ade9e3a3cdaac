"""Offboarding an enterprise from the receiver: stop, archive, hold, purge, and prove it.

``offboard`` (the start, one transaction): every gateway key of the enterprise is revoked (later
batches are refused ``revoked_key``), unused enrollment tokens are deleted, every live bank grant
ends, and a row in ``offboarding`` records when, why, until when the data is held and which banks
held grants. Those banks keep seeing the enterprise in their listing, ``terminated`` with the
date, and its feeds answer 410 ``terminated`` (nothing is served during the hold: the data is kept
for disputes, not for lending). Then the evidence bundle (``cloud_stub.evidence_bundle``) is
written to the archive directory; its path and SHA-256 go into the row.

``purge`` (when the hold has passed: ``--purge-due``, or at once with ``--hold-days 0``): every
row of every table with an ``enterprise_id`` column (found in the schema, so tables other
modules add are covered), then the gateways and the enterprise row, are counted, digested and
deleted in one transaction; the ``offboarding`` row stays as the tombstone with the
receiver-signed destruction certificate (counts and SHA-256 of what was deleted, per table).

Digests: per table, SHA-256 over one line per row (``json.dumps`` of the row's values in
column order, bytes as hex), rows ordered by all columns: the same rows give the same digest
on SQLite and PostgreSQL, so a copy kept elsewhere (the archive) can be matched later.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from cloud_stub.db import iso, utc_now
from cloud_stub.enrollment import check_id
from cloud_stub.errors import ReceiverError
from cloud_stub.texts import msg
from gateway import wire

log = logging.getLogger("edgeproof.cloud.offboard")
CERT_KIND = "edgeproof.receiver.destruction"
TOMBSTONE = "offboarding"
LAST = ("gateways", "enterprises")  # referenced by others' foreign keys: deleted after them
# A table whose rows must not simply be deleted (a log hash-chained across enterprises, whose chain
# others still verify: its details are blanked instead) registers how to purge it here:
# ``fn(conn, enterprise_id) -> (rows, sha256 of what was removed)``. Default: digest, then DELETE.
Purger = Callable[[Any, str], tuple[int, str]]
PURGERS: dict[str, Purger] = {}


def register_purger(table: str, fn: Purger) -> None:
    """Purge ``table`` with ``fn`` instead of deleting its rows (e.g. the access log, cloud_stub/access_log.py)."""
    PURGERS[table] = fn


def tombstone(conn: Any, enterprise_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT enterprise_id, started_at, hold_until, reason, banks, archive, archive_sha256, archive_kind,"
        " purged_at, certificate FROM offboarding WHERE enterprise_id = ?", (enterprise_id,)).fetchone()
    if row is None:
        return None
    keys = ("enterprise_id", "started_at", "hold_until", "reason", "banks", "archive", "archive_sha256",
            "archive_kind", "purged_at", "certificate")
    out = dict(zip(keys, row, strict=True))
    out["banks"] = json.loads(out["banks"] or "[]")
    out["certificate"] = json.loads(out["certificate"]) if out["certificate"] else None
    return out


def terminated_for_bank(conn: Any, bank_id: str) -> list[dict[str, Any]]:
    """The enterprises offboarded while this bank held a grant: shown to it as terminated."""
    out = []
    for ent, started, banks, purged in conn.execute(
            "SELECT enterprise_id, started_at, banks, purged_at FROM offboarding ORDER BY enterprise_id"):
        if bank_id in json.loads(banks or "[]"):
            out.append({"enterprise_id": ent, "terminated": started, "purged": purged})
    return out


def start(rdb: Any, enterprise_id: str, hold_days: float, reason: str = "", now: datetime | None = None
          ) -> dict[str, Any]:
    """Revoke keys, end grants, record the tombstone-to-be. Refuses an unknown or already offboarded one."""
    check_id(enterprise_id, "enterprise id")
    if hold_days < 0:
        raise ReceiverError("bad_request", msg("--hold-days must be 0 or more"))
    now = now or utc_now()
    stamp = iso(now)
    hold_until = iso(now + timedelta(days=hold_days))
    with rdb.write() as conn:
        if conn.execute("SELECT 1 FROM offboarding WHERE enterprise_id = ?", (enterprise_id,)).fetchone():
            raise ReceiverError("already_offboarded", msg("{enterprise_id} is already offboarded (cloud offboard "
                                                          "--status shows when its hold ends)",
                                                          enterprise_id=enterprise_id), 409)
        if conn.execute("SELECT 1 FROM enterprises WHERE id = ?", (enterprise_id,)).fetchone() is None:
            raise ReceiverError("unknown_enterprise", msg("no enterprise {enterprise_id} on this receiver",
                                                          enterprise_id=enterprise_id), 404)
        kids = [r[0] for r in conn.execute("SELECT kid FROM gateway_keys WHERE enterprise_id = ?"
                                           " AND revoked_at IS NULL ORDER BY kid", (enterprise_id,))]
        conn.execute("UPDATE gateway_keys SET revoked_at = ? WHERE enterprise_id = ? AND revoked_at IS NULL",
                      (stamp, enterprise_id))
        tokens = conn.execute("DELETE FROM enroll_tokens WHERE enterprise_id = ? AND used_at IS NULL",
                              (enterprise_id,)).rowcount
        banks = [r[0] for r in conn.execute("SELECT bank_id FROM bank_grants WHERE enterprise_id = ?"
                                            " AND revoked_at IS NULL ORDER BY bank_id", (enterprise_id,))]
        conn.execute("UPDATE bank_grants SET revoked_at = ? WHERE enterprise_id = ? AND revoked_at IS NULL",
                      (stamp, enterprise_id))
        conn.execute("INSERT INTO offboarding (enterprise_id, started_at, hold_until, reason, banks)"
                     " VALUES (?, ?, ?, ?, ?)", (enterprise_id, stamp, hold_until, reason, json.dumps(banks)))
    log.warning("enterprise offboarded", extra={"enterprise": enterprise_id, "keys_revoked": len(kids),
                                                 "grants_ended": len(banks), "hold_until": hold_until})
    return {"enterprise_id": enterprise_id, "started_at": stamp, "hold_until": hold_until,
            "keys_revoked": kids, "grants_ended": banks, "tokens_deleted": tokens}


def archive(rdb: Any, enterprise_id: str, out_dir: Path, signing_key: SigningKey) -> dict[str, Any]:
    """The enterprise's evidence bundle (docs/evidence.md) into ``out_dir``, checkable offline with
    `edgeproof evidence verify`; its path and digest recorded in the offboarding row (the tombstone)."""
    from cloud_stub.evidence_bundle import export_bundle

    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out_dir / f"evidence-{enterprise_id}-{stamp}.tar"
    export_bundle(rdb, enterprise_id, path, key=signing_key)
    kind = "evidence-bundle"
    path.chmod(0o600)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with rdb.write() as conn:
        conn.execute("UPDATE offboarding SET archive = ?, archive_sha256 = ?, archive_kind = ? WHERE enterprise_id = ?",
                     (str(path), digest, kind, enterprise_id))
    return {"path": str(path), "sha256": digest, "bytes": path.stat().st_size, "kind": kind}


def enterprise_tables(conn: Any, dialect: str) -> list[str]:
    """Every table with an ``enterprise_id`` column except the tombstone, found in the schema."""
    if dialect == "postgresql":
        rows = conn.execute("SELECT table_name FROM information_schema.columns WHERE column_name = 'enterprise_id'"
                            " AND table_schema = current_schema() ORDER BY table_name").fetchall()
        names = [r[0] for r in rows]
    else:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        names = [t for t in tables if any(c[1] == "enterprise_id" for c in conn.execute(f'PRAGMA table_info("{t}")'))]
    return [t for t in names if t != TOMBSTONE and t not in LAST]


def _plain(v: Any) -> Any:
    if isinstance(v, memoryview):
        v = bytes(v)
    return v.hex() if isinstance(v, bytes | bytearray) else v


def _digest(conn: Any, table: str, where: str, arg: str) -> tuple[int, str]:
    """(rows, SHA-256 over the rows' JSON lines, sorted) of ``table`` where ``where`` = ``arg``."""
    rows = conn.execute(f'SELECT * FROM "{table}" WHERE {where} = ?', (arg,)).fetchall()
    h = hashlib.sha256()
    for line in sorted(json.dumps([_plain(v) for v in r], default=str) for r in rows):
        h.update(line.encode() + b"\n")
    return len(rows), h.hexdigest()


def due(rdb: Any, now: datetime | None = None) -> list[str]:
    """Offboarded enterprises whose hold has passed and that are not purged yet."""
    stamp = iso(now or utc_now())
    with rdb.read() as conn:
        return [r[0] for r in conn.execute("SELECT enterprise_id FROM offboarding WHERE purged_at IS NULL"
                                           " AND hold_until <= ? ORDER BY enterprise_id", (stamp,))]


def purge(rdb: Any, enterprise_id: str, signing_key: SigningKey, now: datetime | None = None,
          force: bool = False) -> dict[str, Any]:
    """Delete every row of the enterprise but the tombstone; sign and keep the destruction certificate."""
    now = now or utc_now()
    stamp = iso(now)
    with rdb.write() as conn:
        tomb = tombstone(conn, enterprise_id)
        if tomb is None:
            raise ReceiverError("not_offboarded", msg("{enterprise_id} was not offboarded: run cloud offboard "
                                                      "first", enterprise_id=enterprise_id), 409)
        if tomb["purged_at"]:
            raise ReceiverError("already_purged", msg("{enterprise_id} was purged at {purged_at}",
                                                      enterprise_id=enterprise_id, purged_at=tomb['purged_at']), 409)
        if tomb["hold_until"] > stamp and not force:
            raise ReceiverError("on_hold", msg("{enterprise_id} is held until {hold_until}",
                                               enterprise_id=enterprise_id, hold_until=tomb['hold_until']), 409)
        tables: dict[str, dict[str, Any]] = {}
        gateways = [r[0] for r in conn.execute("SELECT id FROM gateways WHERE enterprise_id = ? ORDER BY id",
                                               (enterprise_id,))]
        # Public keys are kept in the certificate: a gateway's own destruction certificate (and any
        # archived batch) stays checkable after its rows are gone.
        keys = [{"kid": r[0], "gateway_id": r[1], "public_key": r[2], "enrolled_at": r[3], "revoked_at": r[4]}
                for r in conn.execute("SELECT kid, gateway_id, public_key, enrolled_at, revoked_at FROM gateway_keys"
                                      " WHERE enterprise_id = ? ORDER BY gateway_id, enrolled_at, kid",
                                      (enterprise_id,))]
        for t in enterprise_tables(conn, rdb.dialect):
            if t in PURGERS:
                n, d = PURGERS[t](conn, enterprise_id)
            else:
                n, d = _digest(conn, t, "enterprise_id", enterprise_id)
                conn.execute(f'DELETE FROM "{t}" WHERE enterprise_id = ?', (enterprise_id,))
            if n:
                tables[t] = {"rows": n, "sha256": d}
        for t, col in (("gateways", "enterprise_id"), ("enterprises", "id")):
            n, d = _digest(conn, t, col, enterprise_id)
            conn.execute(f"DELETE FROM {t} WHERE {col} = ?", (enterprise_id,))
            tables[t] = {"rows": n, "sha256": d}
        cert = {"kind": CERT_KIND, "version": 1, "enterprise_id": enterprise_id, "offboarded_at": tomb["started_at"],
                "hold_until": tomb["hold_until"], "purged_at": stamp, "reason": tomb["reason"],
                "banks": tomb["banks"], "gateways": gateways, "gateway_keys": keys,
                "archive": {"path": tomb["archive"], "sha256": tomb["archive_sha256"], "kind": tomb["archive_kind"]},
                "deleted": tables, "kept": {"offboarding": "this tombstone row (enterprise id, dates, banks, "
                                                           "archive digest, this certificate)"}}
        signed = wire.sign_certificate(cert, signing_key)
        conn.execute("UPDATE offboarding SET purged_at = ?, certificate = ? WHERE enterprise_id = ?",
                     (stamp, json.dumps(signed, sort_keys=True), enterprise_id))
    log.warning("enterprise purged", extra={"enterprise": enterprise_id,
                                             "rows": sum(v["rows"] for v in tables.values())})
    return {"certificate": signed, **cert}


def write_certificate(signed: dict[str, Any], out_dir: Path, enterprise_id: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"destruction-{enterprise_id}-{stamp}.json"
    path.write_text(json.dumps(signed, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
