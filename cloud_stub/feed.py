"""The bank feed: pages of records with everything a bank needs to check them itself.

Each page carries the records (id, gateway, seq, index, batch hash, the record), every
batch those records come from once (body bytes, signature, key id) and the receiver's
signature over the page's shape: ``{"enterprise_id", "cursor", "next_cursor",
"record_ids", "batch_hashes", "locators"}`` where ``locators`` is ``[[id, batch_hash,
index], ...]``. Record contents are not repeated in the signed part: they are bound by
the gateway's signature over the batch body, and the locator says which element of
which body each record is.

Batches without records would otherwise never be seen by a bank and look like a gap in
the chain, so each is placed on the page whose record-id range covers the moment it was
accepted (``batches.rec_pos``).

Cursor: opaque, stable: base64url of ``r:<last record id>``. Pages follow acceptance order.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from nacl.signing import SigningKey

from cloud_stub.db import ReceiverDB
from cloud_stub.errors import ReceiverError
from gateway import wire

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


def encode_cursor(record_id: int) -> str:
    return base64.urlsafe_b64encode(f"r:{record_id}".encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if raw.startswith("r:") and raw[2:].isdigit():
            return int(raw[2:])
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    raise ReceiverError("bad_cursor", "cursor is not one this receiver issued", 400, status="error")


def feed_page(
    rdb: ReceiverDB, enterprise_id: str, cursor: str | None, limit: int, signing_key: SigningKey
) -> dict[str, Any]:
    """One signed page of ``enterprise_id``'s records after ``cursor``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ReceiverError("bad_limit", f"limit must be 1..{MAX_LIMIT}", 400, status="error")
    after = decode_cursor(cursor)
    with rdb.read() as conn:
        rows = conn.execute(
            "SELECT id, gateway_id, seq, idx, batch_hash, record FROM records"
            " WHERE enterprise_id = ? AND id > ? ORDER BY id LIMIT ?",
            (enterprise_id, after, limit + 1),
        ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1][0] if rows else after
        empty_sql = (
            "SELECT hash FROM batches WHERE enterprise_id = ? AND record_count = 0 AND rec_pos >= ?"
            + (" AND rec_pos < ?" if more else "") + " ORDER BY id"
        )
        empty_args: tuple[Any, ...] = (enterprise_id, after, last) if more else (enterprise_id, after)
        hashes = list(dict.fromkeys([r[4] for r in rows]))
        hashes += [r[0] for r in conn.execute(empty_sql, empty_args)]
        batches: dict[str, dict[str, str]] = {}
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for h, body, sig, kid in conn.execute(
                f"SELECT hash, body, sig, kid FROM batches WHERE hash IN ({marks})", chunk
            ):
                batches[h] = {"body": wire.b64(body), "sig": wire.b64(sig), "kid": kid}
    next_cursor = encode_cursor(last) if more else None
    records = [
        {"id": r[0], "gateway_id": r[1], "seq": r[2], "index": r[3], "batch_hash": r[4],
         "record": json.loads(r[5])}
        for r in rows
    ]
    signed = {
        "enterprise_id": enterprise_id,
        "cursor": cursor or None,
        "next_cursor": next_cursor,
        "record_ids": [r[0] for r in rows],
        "batch_hashes": hashes,
        "locators": [[r[0], r[4], r[3]] for r in rows],
    }
    return {
        "enterprise_id": enterprise_id,
        "cursor": cursor or None,
        "records": records,
        "batches": {h: batches[h] for h in hashes},
        "next_cursor": next_cursor,
        # Where to resume polling later even when next_cursor is null (end of feed for now).
        "resume_cursor": encode_cursor(last) if last else None,
        "page_signature": wire.sign_report(signed, signing_key),
    }
