"""Outside records in the receiver database: sources, import (idempotent by digest), reading back.

Importing is all or nothing per file: one bad record and nothing of the file is stored (the
error names the file, the record and the key). A record already held (same enterprise, same
digest) is counted as a duplicate and not stored twice. Records are read back for an analysis
up to an id bound, so a stored report names exactly the records it used
(``repayment.basis.outside``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from cloud_stub.db import iso, utc_now
from cloud_stub.outside.records import OutsideRecord, RecordError, check_signature
from cloud_stub.texts import msg
from gateway import wire


def add_source(rdb: Any, name: str, public_key_b64: str | None) -> dict[str, Any]:
    """Register a source (or replace its key). The key is the source's Ed25519 public key, base64."""
    from cloud_stub.outside.records import _NAME

    if not _NAME.match(name):
        raise RecordError("source", "name", msg("a plain lower-case name"), name)
    if public_key_b64 is not None:
        try:
            if len(wire.unb64(public_key_b64, "public key")) != 32:
                raise ValueError
        except (wire.WireError, ValueError):
            raise RecordError(f"source {name}", "public_key", msg("a base64 Ed25519 public key (32 bytes)")) from None
    with rdb.write() as conn:
        conn.execute("DELETE FROM outside_sources WHERE name = ?", (name,))
        conn.execute("INSERT INTO outside_sources (name, public_key, added) VALUES (?, ?, ?)",
                     (name, public_key_b64, iso(utc_now())))
    return {"source": name, "signed": public_key_b64 is not None}


def source_key(conn: Any, name: str) -> bytes | None:
    row = conn.execute("SELECT public_key FROM outside_sources WHERE name = ?", (name,)).fetchone()
    return wire.unb64(row[0], "public key") if row is not None and row[0] else None


def import_records(rdb: Any, records: Iterable[tuple[str, OutsideRecord]], retrieved: str | None = None,
                   known_enterprises_only: bool = True) -> dict[str, Any]:
    """Store validated records (``(where, record)`` pairs) in one transaction; returns counts."""
    retrieved = retrieved or iso(utc_now())
    stored = dupes = 0
    digests: list[str] = []
    with rdb.write() as conn:
        for where, rec in records:
            c = rec.content
            if known_enterprises_only and conn.execute("SELECT 1 FROM enterprises WHERE id = ?",
                                                       (c["enterprise_id"],)).fetchone() is None:
                raise RecordError(where, "enterprise_id", msg("an enterprise this receiver knows"), c["enterprise_id"])
            ok = check_signature(rec, source_key(conn, c["source"]), where)
            if conn.execute("SELECT 1 FROM outside_records WHERE enterprise_id = ? AND sha256 = ?",
                            (c["enterprise_id"], rec.sha256)).fetchone():
                dupes += 1
                continue
            conn.execute(
                "INSERT INTO outside_records (enterprise_id, source, kind, record_date, retrieved, sha256, content,"
                " signature, signature_ok) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (c["enterprise_id"], c["source"], c["kind"], c["date"], retrieved, rec.sha256,
                 wire.canonical_json(c).decode(), rec.signature, None if ok is None else int(ok)))
            stored += 1
            digests.append(rec.sha256)
    return {"stored": stored, "duplicates": dupes, "retrieved": retrieved, "sha256": digests}


def max_id(conn: Any, enterprise_id: str) -> int:
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM outside_records WHERE enterprise_id = ?",
                            (enterprise_id,)).fetchone()[0])


def load_basis(conn: Any, enterprise_id: str, max_outside_id: int) -> list[dict[str, Any]]:
    """The enterprise's records up to ``max_outside_id`` in the form a report states them (id order)."""
    rows = conn.execute(
        "SELECT id, source, kind, record_date, retrieved, sha256, content, signature, signature_ok"
        " FROM outside_records WHERE enterprise_id = ? AND id <= ? ORDER BY id", (enterprise_id, max_outside_id),
    ).fetchall()
    return [as_basis(int(r[0]), json.loads(r[6]), str(r[4]), str(r[5]), r[7], r[8]) for r in rows]


def as_basis(rid: int, content: dict[str, Any], retrieved: str, sha256: str, signature: str | None,
             signature_ok: Any) -> dict[str, Any]:
    return {"id": rid, "source": content["source"], "kind": content["kind"], "date": content["date"],
            "retrieved": retrieved, "sha256": sha256, "data": content["data"],
            "enterprise_id": content["enterprise_id"], "signature": signature,
            "signature_verified": None if signature_ok is None else bool(signature_ok)}


def list_records(rdb: Any, enterprise_id: str) -> list[dict[str, Any]]:
    with rdb.read() as conn:
        return load_basis(conn, enterprise_id, max_id(conn, enterprise_id))
