"""The receiver's operators: who may read the fleet API (every gateway of every enterprise).

Until the fleet API, operators worked only through ``edgeproof cloud ...`` with direct access to
the database; the HTTP API knew banks only. A bank token must not open the fleet (a bank sees
only the enterprises that authorised it), so operators get their own bearer tokens: shown once,
stored as SHA-256 like bank tokens (``enrollment.token_hash``), revocable (the row stays).
"""

from __future__ import annotations

import secrets
from typing import Any

from cloud_stub.db import Store, iso, utc_now
from cloud_stub.enrollment import check_id, token_hash
from cloud_stub.errors import ReceiverError
from cloud_stub.texts import msg


def add_operator(rdb: Store, name: str) -> dict[str, Any]:
    """Create the operator (or rotate its token, which also lifts a revocation); the token is shown once."""
    check_id(name, "operator")
    token = "op_" + secrets.token_urlsafe(32)
    with rdb.write() as conn:
        conn.execute(
            "INSERT INTO operators (id, token_hash, created, revoked_at) VALUES (?, ?, ?, NULL)"
            " ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, revoked_at = NULL",
            (name, token_hash(token), iso(utc_now())))
    return {"operator": name, "token": token}


def revoke_operator(rdb: Store, name: str) -> None:
    with rdb.write() as conn:
        cur = conn.execute("UPDATE operators SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                           (iso(utc_now()), name))
        if cur.rowcount == 0:
            raise ReceiverError("not_found", msg("no active operator {name}", name=repr(name)), 404)


def authenticate(rdb: Store, authorization: str | None) -> str:
    """Resolve ``Authorization: Bearer <operator token>`` to the operator's name; 401 otherwise."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ReceiverError("unauthenticated", msg("an operator bearer token is required"), 401, status="error")
    with rdb.read() as conn:
        row = conn.execute("SELECT id FROM operators WHERE token_hash = ? AND revoked_at IS NULL",
                           (token_hash(token),)).fetchone()
    if row is None:
        raise ReceiverError("unauthenticated", msg("unknown or revoked operator token"), 401, status="error")
    return str(row[0])
