"""Banks and the enterprises that authorised them: who may read which feed.

A bank's bearer token is shown once, stored as a SHA-256 hash. Authorisation is a grant
from an enterprise to a bank; revoking it keeps the row (with ``revoked_at``) so the
history of who could see what is not lost.
"""

from __future__ import annotations

import secrets
from typing import Any

from cloud_stub.db import ReceiverDB, iso, utc_now
from cloud_stub.enrollment import check_id, ensure_enterprise, token_hash
from cloud_stub.errors import ReceiverError


def add_bank(rdb: ReceiverDB, bank_id: str, enterprise_id: str) -> dict[str, Any]:
    """Create the bank if new (or rotate its token), grant it ``enterprise_id``, return its token.

    The token is rotated on every call because only its hash is stored: there is no
    way to show an existing token again.
    """
    check_id(bank_id, "bank name")
    check_id(enterprise_id, "enterprise id")
    token = "bank_" + secrets.token_urlsafe(32)
    now = iso(utc_now())
    with rdb.write() as conn:
        ensure_enterprise(conn, enterprise_id)
        conn.execute(
            "INSERT INTO banks (id, token_hash, created) VALUES (?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET token_hash = excluded.token_hash",
            (bank_id, token_hash(token), now),
        )
        conn.execute(
            "INSERT INTO bank_grants (bank_id, enterprise_id, granted_at) VALUES (?, ?, ?)"
            " ON CONFLICT(bank_id, enterprise_id)"
            " DO UPDATE SET revoked_at = NULL, granted_at = excluded.granted_at",
            (bank_id, enterprise_id, now),
        )
    return {"bank": bank_id, "enterprise_id": enterprise_id, "token": token}


def revoke_grant(rdb: ReceiverDB, bank_id: str, enterprise_id: str) -> dict[str, Any]:
    now = iso(utc_now())
    with rdb.write() as conn:
        cur = conn.execute(
            "UPDATE bank_grants SET revoked_at = ?"
            " WHERE bank_id = ? AND enterprise_id = ? AND revoked_at IS NULL",
            (now, bank_id, enterprise_id),
        )
        if cur.rowcount == 0:
            raise ReceiverError("unknown_grant", f"{bank_id} holds no grant for {enterprise_id}", 404)
    return {"bank": bank_id, "enterprise_id": enterprise_id, "revoked_at": now}


def authorise(rdb: ReceiverDB, authorization: str | None, enterprise_id: str) -> str:
    """Resolve an ``Authorization: Bearer`` header to a bank allowed to read ``enterprise_id``.

    401 when the bank cannot be identified, 403 when it is identified but not authorised
    (an unknown enterprise is also 403, so a bank cannot probe which enterprises exist).
    """
    if not authorization or not authorization.startswith("Bearer "):
        raise ReceiverError("unauthenticated", "a bank bearer token is required", 401, status="error")
    token = authorization[len("Bearer "):].strip()
    with rdb.lock:
        row = rdb.conn.execute("SELECT id FROM banks WHERE token_hash = ?", (token_hash(token),)).fetchone()
        if row is None:
            raise ReceiverError("unauthenticated", "unknown bank token", 401, status="error")
        grant = rdb.conn.execute(
            "SELECT 1 FROM bank_grants WHERE bank_id = ? AND enterprise_id = ? AND revoked_at IS NULL",
            (row[0], enterprise_id),
        ).fetchone()
    if grant is None:
        raise ReceiverError("forbidden", "this bank is not authorised for that enterprise", 403,
                            status="error")
    return str(row[0])
