"""Head statements at the receiver: verified, kept (the latest and a bounded history), served to banks.

A head statement (``gateway.wire.sign_head_statement``, docs/wire-format.md §10) is a
gateway's signed word that its chain, as this receiver acknowledged it, ends at ``seq`` with
``hash``. The receiver must serve it: a bank compares it with the chain it is served, so a
receiver that deletes the newest batches of a chain is caught (``feed verify`` names the
missing seqs).

Why each rule:

* **Verify before storing.** Everything an unauthenticated client sends is refused before
  anything is written, not even a finding: the key must be enrolled for the gateway and
  enterprise the statement names and not revoked, the signature must hold over the exact
  bytes, and the bytes must be a well-formed canonical statement. Only then is it stored.
* **Not a batch.** A statement never touches ``gateways.last_seq``: it describes the chain,
  it does not lengthen it.
* **A seq the receiver does not hold is kept.** That is the point: the gateway says the
  receiver acknowledged seq N; if the receiver's chain is shorter, the statement proves the
  truncation. (The answer carries ``chain_seq`` so an honest receiver restored from a backup
  gets the missing batches resent.)
* **A seq it does hold must name the same hash**, or the gateway signed two different
  batches for one seq: ``equivocation`` (409, finding of severity ``alert``).
* **Time only moves forward** (``stale_head``, 409): a replayed older statement must not
  replace the latest, which is what banks check freshness against. A statement dated more
  than ``MAX_FUTURE_S`` ahead of the receiver's clock is refused (``bad_time``), or a gateway
  with a wild clock could block every later statement.
* **Bounded.** Per gateway the newest ``HISTORY`` statements are kept (older rows are deleted
  in the same transaction): disk grows with the number of gateways, not with time.
"""

from __future__ import annotations

import logging
from typing import Any

from nacl.signing import SigningKey

from cloud_stub.banks import Grant
from cloud_stub.db import Store, iso, utc_now
from cloud_stub.feed import sign_page
from cloud_stub.findings import record_finding
from cloud_stub.ingest import IngestResult, _reject
from gateway import wire

log = logging.getLogger("cloud_stub.heads")

HISTORY = 20  # statements kept (and served) per gateway, newest first
MAX_FUTURE_S = 600.0  # a statement dated further ahead of the receiver's clock is refused


def ingest_head(rdb: Store, data: bytes, transport: str = "http", expect_gateway: str | None = None,
                now: float | None = None) -> IngestResult:
    """Verify one head statement envelope and keep it; never raises WireError. ``expect_gateway``
    is the gateway the transport names (the MQTT topic)."""
    result = _ingest_head(rdb, data, transport, expect_gateway, now)
    log.info("head statement %s", result.status,
             extra={"event": "head", "status": result.status, "code": result.code, "gateway": result.gateway_id,
                    "seq": result.seq, "transport": transport})
    return result


def _ingest_head(rdb: Store, data: bytes, transport: str, expect_gateway: str | None,
                 now: float | None) -> IngestResult:
    try:
        signed = wire.parse_head_envelope(data)
    except wire.WireError as exc:
        return _reject(exc.code, exc.message, 400)
    if "\x00" in signed.kid:
        return _reject("bad_envelope", "envelope field 'kid' has a NUL character", 400)
    with rdb.lock:
        key = rdb.conn.execute(
            "SELECT gateway_id, enterprise_id, public_key, revoked_at FROM gateway_keys WHERE kid = ?",
            (signed.kid,)).fetchone()
    if key is None:
        return _reject("unknown_key", f"key {signed.kid} is not enrolled", 403)
    gateway_id, enterprise_id, public_key_b64, revoked_at = key
    if revoked_at is not None:
        return _reject("revoked_key", f"key {signed.kid} was revoked at {revoked_at}", 403, gateway_id=gateway_id)
    try:
        stmt = wire.verify_head_statement(signed, wire.unb64(public_key_b64, "stored key"))
        if stmt["gateway"] != gateway_id or stmt["enterprise"] != enterprise_id:
            raise wire.WireError("gateway_mismatch",
                                 f"key {signed.kid} is enrolled for gateway {gateway_id} of {enterprise_id}")
        if expect_gateway is not None and expect_gateway != gateway_id:
            raise wire.WireError("gateway_mismatch", f"statement of {gateway_id} arrived on {expect_gateway}'s topic")
        ts = wire.parse_time(stmt["time"])
        clock = utc_now().timestamp() if now is None else now
        if ts is None or ts > clock + MAX_FUTURE_S:
            raise wire.WireError("bad_time", f"time {stmt['time']} is more than {MAX_FUTURE_S:g} s ahead of the "
                                             "receiver's clock")
    except wire.WireError as exc:
        return _reject(exc.code, exc.message, 400, gateway_id=gateway_id)
    with rdb.write() as conn:
        return _keep(conn, signed, stmt, transport, rdb.dialect == "postgresql")


def _keep(conn: Any, signed: wire.SignedHeadStatement, stmt: dict[str, Any], transport: str,
          row_locks: bool) -> IngestResult:
    """Decide against what is stored and keep the statement; runs inside the write transaction
    (on PostgreSQL after locking the gateway's row, as batch ingest does)."""
    gw, ent, seq, sh = stmt["gateway"], stmt["enterprise"], stmt["seq"], signed.hash
    lock = " FOR NO KEY UPDATE" if row_locks else ""
    if row_locks:
        conn.execute("SELECT id FROM enterprises WHERE id = ?" + lock, (ent,))
    last_seq = conn.execute("SELECT last_seq FROM gateways WHERE id = ?" + lock, (gw,)).fetchone()[0]
    extra = {"kind": "head", "chain_seq": last_seq}
    revoked = conn.execute("SELECT revoked_at FROM gateway_keys WHERE kid = ?", (signed.kid,)).fetchone()
    if revoked is None or revoked[0] is not None:
        return _reject("revoked_key", f"key {signed.kid} was revoked", 403, seq=seq, gateway_id=gw)
    if conn.execute("SELECT id FROM head_statements WHERE stmt_hash = ?", (sh,)).fetchone() is not None:
        return IngestResult("duplicate", seq=seq, hash=sh, gateway_id=gw, extra=extra)
    held = conn.execute("SELECT hash FROM batches WHERE gateway_id = ? AND seq = ?", (gw, seq)).fetchone()
    if held is not None and held[0] != stmt["hash"]:
        record_finding(conn, "equivocation", enterprise_id=ent, gateway_id=gw,
                       detail={"seq": seq, "accepted_hash": held[0], "conflicting_hash": stmt["hash"],
                               "kid": signed.kid, "head_statement": sh}, dedupe=f"{seq}:{stmt['hash']}")
        return _reject("equivocation", f"the gateway signed head seq {seq} with another hash than the batch "
                                       "accepted for that seq", 409, seq=seq, hash=sh, gateway_id=gw,
                       extra={"accepted_hash": held[0], **extra})
    latest = conn.execute("SELECT seq, time FROM head_statements WHERE gateway_id = ? ORDER BY id DESC LIMIT 1",
                          (gw,)).fetchone()
    if latest is not None and (seq < latest[0] or stmt["time"] <= latest[1]):
        return _reject("stale_head", f"a statement of seq {latest[0]} at {latest[1]} is kept already; a new one "
                                     "must not go back in seq and must be later", 409, seq=seq, hash=sh,
                       gateway_id=gw, extra={"latest_seq": latest[0], "latest_time": latest[1], **extra})
    conn.execute(
        "INSERT INTO head_statements (gateway_id, enterprise_id, seq, hash, time, kid, body, sig, stmt_hash,"
        " received, transport) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (gw, ent, seq, stmt["hash"], stmt["time"], signed.kid, signed.body, signed.sig, sh, iso(utc_now()),
         transport))
    keep_from = conn.execute("SELECT id FROM head_statements WHERE gateway_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                             (gw, HISTORY - 1)).fetchone()
    if keep_from is not None:
        conn.execute("DELETE FROM head_statements WHERE gateway_id = ? AND id < ?", (gw, keep_from[0]))
    return IngestResult("accepted", seq=seq, hash=sh, gateway_id=gw, extra=extra)


def heads_page(rdb: Store, grant: Grant, signing_key: SigningKey) -> dict[str, Any]:
    """Every gateway of the enterprise: the receiver's chain head (its own word) and the gateway's
    signed head statements, newest first, exactly as received (``body``, ``sig``, ``kid``).

    Shown to every authorised bank whatever its categories: a statement names a seq and a hash,
    no measurement. Not paged: at most HISTORY statements per gateway."""
    ent = grant.enterprise_id
    with rdb.read() as conn:
        gws = conn.execute("SELECT id, last_seq, last_hash FROM gateways WHERE enterprise_id = ? ORDER BY id",
                           (ent,)).fetchall()
        stmts: dict[str, list[dict[str, str]]] = {g[0]: [] for g in gws}
        for gw, body, sig, kid in conn.execute(
                "SELECT gateway_id, body, sig, kid FROM head_statements WHERE enterprise_id = ?"
                " ORDER BY gateway_id, id DESC", (ent,)):
            if gw in stmts:
                stmts[gw].append({"body": wire.b64(bytes(body)), "sig": wire.b64(bytes(sig)), "kid": kid})
    page = {"kind": "heads", "enterprise_id": ent,
            "gateways": [{"gateway_id": g[0], "chain": {"seq": g[1], "hash": g[2]}, "statements": stmts[g[0]]}
                         for g in gws]}
    return sign_page(page, signing_key)
