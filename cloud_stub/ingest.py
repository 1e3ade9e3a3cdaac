"""Batch ingest: verification and chain logic, the same for HTTP and MQTT.

``ingest(rdb, envelope_bytes)`` is a function of the database and the bytes received,
nothing else, so both transports (and the benchmark) get identical decisions. The order
of checks is part of the contract:

1. the envelope parses (``bad_envelope``, ``too_large``);
2. a byte-identical resend of an accepted batch is acknowledged ``duplicate`` at once
   (even if its key was revoked since: it changes nothing, and the gateway can drain its
   outbox);
3. the key is enrolled (``unknown_key``) and not revoked (``revoked_key``);
4. the signature holds over the received body bytes and the body is well formed
   (``bad_signature``, ``kid_mismatch``, ``bad_body``);
5. the body names the gateway and enterprise the key was enrolled for (``gateway_mismatch``);
6. under a write lock, the chain: same seq with other bytes is ``equivocation``; seq must
   be last+1 with ``prev`` = hash of the last accepted batch (``chain_broken``), unless the
   body declares ``"dropped": [last+1, seq-1]``; otherwise ``out_of_order`` with
   ``expected_seq``.

A rejection never changes stored batches or records. It adds a finding only when the
batch's body signature holds under an enrolled key (the gateway itself sent it: revoked
key, bad head signature, gateway mismatch, chain errors); what no enrolled key vouches for
(``bad_envelope``, ``unknown_key``, ``bad_signature``, a forged batch under a revoked key)
is counted in memory (``rejections``) and logged, never stored: anyone can send it.

The write lock is what keeps two receivers on one database from forking a chain. On
SQLite it is ``BEGIN IMMEDIATE`` (one writer at a time). On PostgreSQL the transaction
first locks the enterprise's row and then the gateway's row (``FOR NO KEY UPDATE``: it
does not block key enrollment's foreign-key checks), before reading anything the decision
depends on; a second receiver with the same gateway's batch waits there and then sees the
first one's batch (READ COMMITTED reads afresh per statement). The enterprise lock also
keeps record ids in commit order within an enterprise, which the feed's cursor relies on:
a record must never appear below a cursor a bank has already passed.

Group commit (MQTT, ``cloud_stub/mqtt_ingest.py``): ``lookup`` + ``verify_envelope`` do steps
1-5 for a group of envelopes (the lookups in two queries for the group), and
``commit_group`` does step 6 for all of them in one transaction, in order, each batch getting
the verdict it would get alone (``ingest_group`` is both, for callers that want one call).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from nacl.exceptions import BadSignatureError

from cloud_stub import counters as metrics
from cloud_stub import fleet_health, meter_identity, rejections
from cloud_stub.db import SQLConn, Store, iso, utc_now
from cloud_stub.findings import record_finding
from cloud_stub.json_limits import MAX_DEPTH, depth_exceeds
from gateway import wire

log = logging.getLogger("cloud_stub.ingest")

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


@dataclass
class IngestResult:
    """The answer to one submitted envelope; ``to_json`` is what HTTP returns and MQTT acks carry."""

    status: str  # accepted | duplicate | rejected
    http_status: int = 200
    code: str | None = None
    message: str | None = None
    seq: int | None = None
    hash: str | None = None
    gateway_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.code is not None:
            out["code"] = self.code
            out["message"] = self.message
        if self.seq is not None:
            out["seq"] = self.seq
        if self.hash is not None:
            out["hash"] = self.hash
        out.update(self.extra)
        return out


def _reject(code: str, message: str, http_status: int, **kw: Any) -> IngestResult:
    extra = kw.pop("extra", {})
    return IngestResult("rejected", http_status, code, message, extra=extra, **kw)


def _peek_seq(body: bytes) -> int | None:
    """Best-effort seq for a rejection reply, from bytes that may be bad."""
    try:
        seq = json.loads(body).get("seq")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return seq if isinstance(seq, int) else None


def _number(v: Any) -> float | None:
    """An indicator value as a number for analysis (booleans count as 0/1); None otherwise."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    return None


def _record_row(rec: Any, idx: int, head: tuple[str, str, str, int], replayed: int) -> tuple[Any, ...]:
    """One records-table row; indicator fields are pulled out as columns for querying."""
    if not isinstance(rec, dict) or not isinstance(rec.get("type"), str):
        raise wire.WireError("bad_body", f"record {idx} is not an object with a string 'type'")
    window = rec.get("window")
    start = length = None
    if isinstance(window, dict):
        start = window.get("start") if isinstance(window.get("start"), int) else None
        length = window.get("len") if isinstance(window.get("len"), int) else None
    name, cat, subj = rec.get("name"), rec.get("category"), rec.get("subject")
    if any(isinstance(v, str) and "\x00" in v for v in (rec["type"], name, cat, subj)):
        # PostgreSQL text cannot hold NUL; refusing it on every store keeps decisions identical.
        raise wire.WireError("bad_body", f"record {idx} has a NUL character in a text field")
    text = _dumps(rec)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A JSON escape such as \\ud800 decodes to a lone surrogate, which is not Unicode and
        # which neither store can hold: refuse the batch instead of failing to store it.
        raise wire.WireError("bad_body", f"record {idx} holds a lone surrogate (not valid Unicode)") from exc
    return (
        *head, idx, rec["type"],
        name if isinstance(name, str) else None,
        # wire.record_category's rule: an empty category is no category (the record's type
        # stands for it, as in the signed head), so withholding and the head agree.
        cat if isinstance(cat, str) and cat else None,
        subj if isinstance(subj, str) else None,
        start, length, _number(rec.get("value")),
        _dumps(rec["q"]) if isinstance(rec.get("q"), list) else None,
        replayed, text,
    )


def is_replayed(body: dict[str, Any]) -> int:
    """1 when the gateway declared the batch a replay of recorded history (``edgeproof replay``)."""
    return 1 if isinstance(body.get("replay"), dict) else 0


@dataclass
class Verified:
    """A batch that passed every check that needs no chain state (step 1-5): what the write
    transaction needs to decide on the chain (step 6) and store it."""

    batch: wire.SignedBatch
    body: dict[str, Any]
    rows: list[tuple[Any, ...]]
    transport: str


@dataclass
class Known:
    """What the pre-checks of a group of envelopes read, in two queries for the whole group
    instead of two per envelope: stored batches by hash, enrolled keys by key id."""

    dups: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    keys: dict[str, tuple[Any, ...]] = field(default_factory=dict)


def ingest(
    rdb: Store, data: bytes, transport: str = "http", expect_gateway: str | None = None
) -> IngestResult:
    """Verify one envelope and, if it continues its gateway's chain, store it. Never raises WireError.

    ``expect_gateway`` is the gateway named by the transport (the MQTT topic); a body for
    another gateway is rejected so acks cannot be steered to someone else's topic.
    """
    started = time.perf_counter()
    result = _ingest(rdb, data, transport, expect_gateway)
    note_result(result, transport, started)
    return result


def note_result(result: IngestResult, transport: str, started: float) -> None:
    """Metrics and the ``batch`` log line of one verdict (once it is final: after the commit)."""
    metrics.observe_batch(transport, result.status, result.code, time.perf_counter() - started)
    log.info(
        "batch %s", result.status,
        extra={"event": "batch", "status": result.status, "code": result.code, "gateway": result.gateway_id,
               "seq": result.seq, "hash": result.hash, "transport": transport},
    )


def _ingest(rdb: Store, data: bytes, transport: str, expect_gateway: str | None) -> IngestResult:
    checked = verify_envelope(rdb, data, transport, expect_gateway)
    if isinstance(checked, IngestResult):
        return checked
    with rdb.write() as conn:
        return _extend_chain(conn, checked.batch, checked.body, checked.rows, transport,
                             rdb.dialect == "postgresql")


def lookup(rdb: Store, envelopes: list[bytes]) -> Known:
    """The stored batches and enrolled keys a group of envelopes names, read in two queries.

    Unparsable envelopes are skipped here (``verify_envelope`` answers them). Read on a reader
    connection, so the pre-checks of the next group do not wait for the write transaction of
    the previous one; what changed since (a batch stored, a key revoked) the write
    transaction sees and decides on (``_extend_chain``)."""
    hashes, kids = set(), set()
    for data in envelopes:
        if len(data) <= wire.MAX_ENVELOPE_BYTES and depth_exceeds(data):
            continue  # refused in verify_envelope before any parse (a nesting bomb)
        try:
            batch = wire.parse_envelope(data)
        except wire.WireError:
            continue
        hashes.add(batch.hash)
        if "\x00" not in batch.kid:
            kids.add(batch.kid)
    known = Known()
    with rdb.read() as conn:
        for chunk in _chunks(sorted(hashes)):
            for row in conn.execute("SELECT hash, seq, sig, kid, gateway_id FROM batches WHERE hash IN ("
                                    + ",".join("?" * len(chunk)) + ")", chunk).fetchall():
                known.dups[row[0]] = (row[1], bytes(row[2]), row[3], row[4])
        for chunk in _chunks(sorted(kids)):
            for row in conn.execute("SELECT kid, gateway_id, enterprise_id, public_key, revoked_at FROM gateway_keys"
                                    " WHERE kid IN (" + ",".join("?" * len(chunk)) + ")", chunk).fetchall():
                known.keys[row[0]] = tuple(row[1:])
    return known


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def verify_envelope(rdb: Store, data: bytes, transport: str, expect_gateway: str | None,
                    known: Known | None = None) -> IngestResult | Verified:
    """Steps 1-5 (module docstring): a final verdict (rejection, duplicate) or a ``Verified`` batch
    for the write transaction. ``known``: the group's pre-read lookups (``lookup``); without it
    this batch's are read here."""
    if len(data) <= wire.MAX_ENVELOPE_BYTES and depth_exceeds(data):
        return _unauthenticated("bad_envelope", f"envelope nests deeper than {MAX_DEPTH} levels", 400)
    try:
        batch = wire.parse_envelope(data)
    except wire.WireError as exc:
        return _unauthenticated(exc.code, exc.message, 400)
    if depth_exceeds(batch.body):
        return _unauthenticated("bad_body", f"body nests deeper than {MAX_DEPTH} levels", 400, hash=batch.hash)
    if "\x00" in batch.kid:  # no key id has one, and PostgreSQL text cannot hold it: same answer on both stores
        return _reject("bad_envelope", "envelope field 'kid' has a NUL character", 400)
    h = batch.hash

    if known is not None:
        dup, key = known.dups.get(h), known.keys.get(batch.kid)
    else:
        with rdb.lock:
            dup = rdb.conn.execute(
                "SELECT seq, sig, kid, gateway_id FROM batches WHERE hash = ?", (h,)
            ).fetchone()
            key = rdb.conn.execute(
                "SELECT gateway_id, enterprise_id, public_key, revoked_at FROM gateway_keys WHERE kid = ?",
                (batch.kid,),
            ).fetchone()
    if dup is not None and bytes(dup[1]) == batch.sig and dup[2] == batch.kid and (
        expect_gateway is None or expect_gateway == dup[3]
    ):
        return IngestResult("duplicate", seq=dup[0], hash=h, gateway_id=dup[3])

    seq = _peek_seq(batch.body)
    if key is None:
        return _unauthenticated("unknown_key", f"key {batch.kid} is not enrolled", 403, seq=seq, hash=h)
    gateway_id, enterprise_id, public_key_b64, revoked_at = key
    public_key = wire.unb64(public_key_b64, "stored key")
    if revoked_at is not None:
        if not _signed_by(batch, public_key):  # anyone can name a revoked kid: nothing of theirs is kept
            return _unauthenticated("revoked_key", f"key {batch.kid} was revoked at {revoked_at}", 403,
                                    seq=seq, hash=h, gateway_id=gateway_id)
        _finding_alone(rdb, "rejected_batch", enterprise_id, gateway_id,
                       {"code": "revoked_key", "kid": batch.kid, "seq": seq, "hash": h}, h)
        return _reject("revoked_key", f"key {batch.kid} was revoked at {revoked_at}", 403,
                       seq=seq, hash=h, gateway_id=gateway_id)
    if not _signed_by(batch, public_key):
        return _unauthenticated("bad_signature", "signature does not match the body bytes", 400,
                                seq=seq, hash=h, gateway_id=gateway_id)
    try:
        # The body signature held (``_signed_by``): decode and check the head signature without
        # checking the body's a second time (what ``wire.verify`` would do).
        body = wire.decode_body(batch.body, expect_kid=batch.kid)
        if batch.head_sig is not None:
            wire.verify_head(wire.batch_head(body, h), batch.head_sig, public_key)
        if body["gateway"] != gateway_id or body["enterprise"] != enterprise_id:
            raise wire.WireError(
                "gateway_mismatch", f"key {batch.kid} is enrolled for gateway {gateway_id} of {enterprise_id}"
            )
        if expect_gateway is not None and expect_gateway != gateway_id:
            raise wire.WireError("gateway_mismatch",
                                 f"batch of {gateway_id} arrived on {expect_gateway}'s topic")
        seq = body["seq"]
        head = (h, enterprise_id, gateway_id, seq)
        replayed = is_replayed(body)
        rows = [_record_row(rec, i, head, replayed) for i, rec in enumerate(body["records"])]
        if isinstance(body.get("created"), str) and "\x00" in body["created"]:
            raise wire.WireError("bad_body", "created has a NUL character")
    except wire.WireError as exc:
        # The body's signature held: the gateway itself sent this (a bad head signature, a body
        # naming another key or gateway), so the finding is worth keeping.
        if exc.code in ("bad_signature", "kid_mismatch", "gateway_mismatch"):
            _finding_alone(rdb, "rejected_batch", enterprise_id, gateway_id,
                           {"code": exc.code, "kid": batch.kid, "seq": seq, "hash": h}, h)
        return _reject(exc.code, exc.message, 400, seq=seq, hash=h, gateway_id=gateway_id)
    return Verified(batch, body, rows, transport)


def commit_group(rdb: Store, checked: list[IngestResult | Verified]) -> list[IngestResult]:
    """Step 6 for a group of verified batches in ONE write transaction (one commit, one fsync),
    in the order given, so a gateway's batches extend its chain in the order they came.

    Verdicts already given (``IngestResult``) pass through. Each batch is decided as it would be
    alone: a later batch sees what an earlier one of the group stored, and a rejection's
    finding is written in the same transaction. On PostgreSQL the group first locks every
    enterprise row and then every gateway row it touches, each set sorted, so two receivers'
    groups (and a single HTTP ingest, which locks one enterprise then one gateway) cannot
    deadlock. If the transaction fails (a batch the database refuses), it is rolled back and
    every batch is run again in a transaction of its own: one bad batch costs its neighbours a
    retry, never their verdict.
    """
    todo = [c for c in checked if isinstance(c, Verified)]
    if not todo:
        return [c for c in checked if isinstance(c, IngestResult)]
    pg = rdb.dialect == "postgresql"
    decided: dict[int, IngestResult] = {}
    try:
        with rdb.write() as conn:
            if pg:
                ents = sorted({v.body["enterprise"] for v in todo})
                conn.execute("SELECT id FROM enterprises WHERE id IN (" + ",".join("?" * len(ents)) + ")"
                             " ORDER BY id FOR NO KEY UPDATE", ents).fetchall()
            # the gateway rows are locked (PostgreSQL) as their heads are read, after the enterprises
            group = _GroupState.read(conn, todo, " FOR NO KEY UPDATE" if pg else "")
            for v in todo:  # the row locks are held: _extend_chain need not take them again
                decided[id(v)] = _extend_chain(conn, v.batch, v.body, v.rows, v.transport, False, group)
    except Exception:  # noqa: BLE001 - rolled back; each batch alone says which one it was
        log.warning("group commit failed; each batch in a transaction of its own",
                    extra={"event": "group_commit_retry", "batches": len(todo)}, exc_info=True)
        decided = {}
        for v in todo:
            try:
                with rdb.write() as conn:
                    decided[id(v)] = _extend_chain(conn, v.batch, v.body, v.rows, v.transport, pg)
            except Exception:  # noqa: BLE001 - this batch only; its neighbours keep their verdicts
                log.exception("ingest failed", extra={"event": "ingest_error", "gateway": v.body.get("gateway"),
                                                      "seq": v.body.get("seq"), "hash": v.batch.hash})
                decided[id(v)] = IngestResult("error", 500, "internal", "receiver error; resend later",
                                              seq=v.body.get("seq"), hash=v.batch.hash,
                                              gateway_id=v.body.get("gateway"))
    return [decided[id(c)] if isinstance(c, Verified) else c for c in checked]


def ingest_group(rdb: Store, items: list[tuple[bytes, str, str | None]]) -> list[IngestResult]:
    """``ingest`` for several envelopes ``(data, transport, expect_gateway)`` at once: the
    lookups of the group in two queries, each verified, then all stored in one transaction
    (``commit_group``). Same verdicts, in the same order, as ingesting them one by one."""
    started = time.perf_counter()
    known = lookup(rdb, [d for d, _, _ in items])
    checked = [verify_envelope(rdb, d, t, g, known) for d, t, g in items]
    results = commit_group(rdb, checked)
    for (_, transport, _), r in zip(items, results, strict=True):
        note_result(r, transport, started)
    return results


def _signed_by(batch: wire.SignedBatch, public_key: bytes) -> bool:
    """Whether the body signature holds under the enrolled key (the key id must name it too)."""
    if wire.key_id(public_key) != batch.kid:
        return False
    try:
        wire.verify_signature(public_key, wire.SIGN_PREFIX + batch.body, batch.sig)
    except BadSignatureError:
        return False
    return True


def _unauthenticated(code: str, message: str, http_status: int, **kw: Any) -> IngestResult:
    """A rejection of bytes no enrolled key vouches for: counted in memory and logged, never
    stored, so junk cannot fill the disk (see ``rejections``)."""
    rejections.count(code, kw.get("gateway_id"))
    return _reject(code, message, http_status, **kw)


def _finding_alone(rdb: Store, kind: str, ent: str | None, gw: str | None,
                   detail: dict[str, Any], dedupe: str) -> None:
    with rdb.write() as conn:
        if ent is not None and rdb.dialect == "postgresql":
            # The same enterprise lock as the chain extension: an enterprise's finding ids then
            # commit in order, so a score's "findings up to id N" bound selects the same set later.
            conn.execute("SELECT id FROM enterprises WHERE id = ? FOR NO KEY UPDATE", (ent,))
        record_finding(conn, kind, enterprise_id=ent, gateway_id=gw, detail=detail, dedupe=dedupe)


@dataclass
class _GroupState:
    """What the chain decisions of a group read, fetched for the whole group in four queries
    (under the group's row locks) and kept current as each batch of the group is decided, so
    a later batch sees an earlier one exactly as it would in the database."""

    heads: dict[str, tuple[int, str]]  # gateway -> (last_seq, last_hash)
    keys: dict[str, tuple[Any]]  # kid -> (revoked_at,); an absent kid is not enrolled
    seqs: dict[tuple[str, int], tuple[str]]  # (gateway, seq) -> (hash,) of a stored batch
    gap_gateways: set[str]  # gateways with a gap finding (only they can have a gap to close)

    @classmethod
    def read(cls, conn: SQLConn, todo: list[Verified], lock: str) -> _GroupState:
        gws = sorted({v.body["gateway"] for v in todo})
        kids = sorted({v.batch.kid for v in todo})
        seqs = sorted({v.body["seq"] for v in todo})
        marks = ",".join("?" * len(gws))
        heads = {g: (s, h) for g, s, h in conn.execute(
            f"SELECT id, last_seq, last_hash FROM gateways WHERE id IN ({marks}) ORDER BY id{lock}", gws).fetchall()}
        keys = {k: (r,) for k, r in conn.execute("SELECT kid, revoked_at FROM gateway_keys WHERE kid IN ("
                                                 + ",".join("?" * len(kids)) + ")", kids).fetchall()}
        stored = {(g, s): (h,) for g, s, h in conn.execute(
            f"SELECT gateway_id, seq, hash FROM batches WHERE gateway_id IN ({marks}) AND seq IN ("
            + ",".join("?" * len(seqs)) + ")", [*gws, *seqs]).fetchall()}
        gaps = {g for (g,) in conn.execute(f"SELECT DISTINCT gateway_id FROM findings WHERE gateway_id IN ({marks})"
                                           " AND kind IN ('gap_observed', 'gap_filled')", gws).fetchall()}
        return cls(heads, keys, stored, gaps)


def _extend_chain(
    conn: SQLConn, batch: wire.SignedBatch, body: dict[str, Any], rows: list[tuple[Any, ...]],
    transport: str, row_locks: bool, group: _GroupState | None = None,
) -> IngestResult:
    """Decide against the stored chain head and store; runs inside the write transaction.

    ``row_locks`` (PostgreSQL): lock the enterprise and gateway rows first, always in that
    order (no deadlock between receivers), before anything the decision reads. ``group``: the
    group's pre-read state (``commit_group``, which took the locks), instead of reading here.
    """
    h, seq, gw, ent = batch.hash, body["seq"], body["gateway"], body["enterprise"]
    lock = " FOR NO KEY UPDATE" if row_locks else ""
    if row_locks:
        conn.execute("SELECT id FROM enterprises WHERE id = ?" + lock, (ent,))
    if group is not None:
        last_seq, last_hash = group.heads[gw]
        revoked: Any = group.keys.get(batch.kid)
        same_seq: Any = group.seqs.get((gw, seq))
    else:
        last_seq, last_hash = conn.execute(
            "SELECT last_seq, last_hash FROM gateways WHERE id = ?" + lock, (gw,)
        ).fetchone()
        revoked = conn.execute("SELECT revoked_at FROM gateway_keys WHERE kid = ?", (batch.kid,)).fetchone()
    if revoked is None or revoked[0] is not None:  # revoked while we were verifying
        return _reject("revoked_key", f"key {batch.kid} was revoked", 403, seq=seq, hash=h, gateway_id=gw)
    if group is None:
        same_seq = conn.execute("SELECT hash FROM batches WHERE gateway_id = ? AND seq = ?", (gw, seq)).fetchone()
    if same_seq is not None:
        if same_seq[0] == h:
            return IngestResult("duplicate", seq=seq, hash=h, gateway_id=gw)
        record_finding(conn, "equivocation", enterprise_id=ent, gateway_id=gw,
                       detail={"seq": seq, "accepted_hash": same_seq[0], "conflicting_hash": h,
                               "kid": batch.kid}, dedupe=f"{seq}:{h}")
        return _reject("equivocation", f"seq {seq} was already accepted with different bytes", 409,
                       seq=seq, hash=h, gateway_id=gw, extra={"accepted_hash": same_seq[0]})
    expected = last_seq + 1
    declared: tuple[int, int] | None = None
    if seq < expected:
        # Only possible for a seq inside a range the gateway itself declared dropped.
        record_finding(conn, "stale_seq", enterprise_id=ent, gateway_id=gw,
                       detail={"seq": seq, "expected_seq": expected, "hash": h}, dedupe=h)
        return _reject("stale_seq", f"seq {seq} is behind the chain (next is {expected})", 409,
                       seq=seq, hash=h, gateway_id=gw, extra={"expected_seq": expected})
    if seq > expected:
        if wire.declared_gap(body) != [expected, seq - 1]:
            record_finding(conn, "gap_observed", enterprise_id=ent, gateway_id=gw,
                           detail={"expected_seq": expected, "received_seq": seq, "hash": h},
                           dedupe=f"{expected}:{seq}")
            if group is not None:
                group.gap_gateways.add(gw)
            # resend_from: the receiver's request to restart the line there (a receiver restored
            # from a backup lacks what it had acknowledged; docs/wire-format.md §16).
            return _reject("out_of_order", f"expected seq {expected}, got {seq}: resend from seq {expected}", 409,
                           seq=seq, hash=h, gateway_id=gw,
                           extra={"expected_seq": expected, "resend_from": expected})
        declared = (expected, seq - 1)
    elif body["prev"] != last_hash:
        record_finding(conn, "rejected_batch", enterprise_id=ent, gateway_id=gw,
                       detail={"code": "chain_broken", "seq": seq, "prev": body["prev"],
                               "expected_prev": last_hash, "hash": h}, dedupe=h)
        return _reject("chain_broken", f"prev does not match the hash of seq {last_seq}", 409,
                       seq=seq, hash=h, gateway_id=gw, extra={"expected_prev": last_hash})

    rec_pos = conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0]
    conn.execute(
        "INSERT INTO batches (hash, gateway_id, enterprise_id, seq, kid, body, sig, record_count, rec_pos,"
        " received, transport, created, replayed, head_sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (h, gw, ent, seq, batch.kid, batch.body, batch.sig, len(rows), rec_pos, iso(utc_now()), transport,
         body["created"] if isinstance(body.get("created"), str) else None, is_replayed(body), batch.head_sig),
    )
    conn.executemany(
        "INSERT INTO records (batch_hash, enterprise_id, gateway_id, seq, idx, type, name, category, subject,"
        " window_start, window_len, value, quality, replayed, record)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("UPDATE gateways SET last_seq = ?, last_hash = ? WHERE id = ?", (seq, h, gw))
    if any(isinstance(r, dict) and r.get("type") == "decommission" for r in body["records"]):
        # The gateway's signed last word (`edgeproof decommission`): its key is destroyed next, so a
        # later batch signed with it is a copy of the key, refused `revoked_key` with a finding.
        conn.execute("UPDATE gateway_keys SET revoked_at = ? WHERE kid = ? AND revoked_at IS NULL",
                     (iso(utc_now()), batch.kid))
        if group is not None:
            group.keys[batch.kid] = (iso(utc_now()),)
    if group is not None:
        group.heads[gw] = (seq, h)
        group.seqs[(gw, seq)] = (h,)
    fleet_health.note_batch(conn, body, h)  # health summaries: the fleet list's latest, or a finding
    if group is None or gw in group.gap_gateways:
        _close_filled_gaps(conn, ent, gw, seq)
    meter_identity.note_batch(conn, body, h)  # meter identities: latest per device; swaps and duplicates
    if declared is not None:
        record_finding(conn, "gap_declared", enterprise_id=ent, gateway_id=gw,
                       detail={"first": declared[0], "last": declared[1],
                               "count": declared[1] - declared[0] + 1,
                               "declared_in_seq": seq, "hash": h, "prev_unverified": body["prev"],
                               "loss": body.get("loss")}, dedupe=f"{declared[0]}:{declared[1]}")
    return IngestResult("accepted", seq=seq, hash=h, gateway_id=gw)


def _close_filled_gaps(conn: SQLConn, ent: str, gw: str, seq: int) -> None:
    """Record ``gap_filled`` for every observed gap of ``gw`` this batch completes.

    A ``gap_observed`` (seq R arrived while E was expected) is answered with ``resend_from`` E;
    once the chain holds R - 1 the gateway has resent everything between, and the gap no longer
    stands: the ``gap_filled`` finding says so in the same hash-chained findings, so the score and
    a bank's verifier (check V41) discount it reproducibly. The index on (gateway_id, kind) keeps
    this one lookup per accepted batch cheap."""
    rows = conn.execute("SELECT kind, detail FROM findings WHERE gateway_id = ? AND kind IN ('gap_observed',"
                        " 'gap_filled')", (gw,)).fetchall()
    if not rows:
        return
    filled = {(d.get("expected_seq"), d.get("received_seq")) for k, d in ((k, json.loads(t)) for k, t in rows)
              if k == "gap_filled"}
    for kind, text in rows:
        d = json.loads(text)
        key = (d.get("expected_seq"), d.get("received_seq"))
        if kind != "gap_observed" or key in filled or not all(isinstance(v, int) for v in key):
            continue
        if key[0] <= seq and key[1] - 1 <= seq:
            record_finding(conn, "gap_filled", enterprise_id=ent, gateway_id=gw,
                           detail={"expected_seq": key[0], "received_seq": key[1], "filled_by_seq": seq},
                           dedupe=f"{key[0]}:{key[1]}")
            filled.add(key)
