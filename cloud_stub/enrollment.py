"""Enrollment registry: one-time tokens, gateway keys, revocation.

Tokens are shown once and stored only as SHA-256 hashes, so a copy of the database
does not let anyone enroll a gateway. A token is consumed only by a successful
enrollment: a bad proof does not burn it (the holder may retry with the right key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from cloud_stub import key_attestation
from cloud_stub.db import SQLConn, Store, iso, utc_now
from cloud_stub.errors import ReceiverError
from cloud_stub.texts import msg
from gateway import wire

# Gateway ids become MQTT topic levels and URL path segments: no '/', '+', '#', spaces.
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise ReceiverError("bad_request", msg("{what} must match {pattern}", what=what, pattern=ID_RE.pattern))
    return value


def ensure_enterprise(conn: SQLConn, enterprise_id: str) -> None:
    conn.execute(
        "INSERT INTO enterprises (id, created) VALUES (?, ?) ON CONFLICT DO NOTHING", (enterprise_id, iso(utc_now()))
    )


def issue_token(
    rdb: Store, enterprise_id: str, ttl: timedelta = timedelta(hours=72), now: datetime | None = None
) -> dict[str, str]:
    """Create the enterprise if new and return a fresh one-time enrollment token."""
    check_id(enterprise_id, "enterprise id")
    now = now or utc_now()
    token = "enr_" + secrets.token_urlsafe(32)
    expires = iso(now + ttl)
    with rdb.write() as conn:
        ended = conn.execute("SELECT started_at FROM offboarding WHERE enterprise_id = ?", (enterprise_id,)).fetchone()
        if ended is not None:  # cloud_stub/offboard.py: an offboarded enterprise enrolls no new gateway
            raise ReceiverError("terminated", msg("{enterprise_id} was offboarded on {ended}: no new enrollment",
                                                  enterprise_id=enterprise_id, ended=ended[0]), 409)
        ensure_enterprise(conn, enterprise_id)
        conn.execute(
            "INSERT INTO enroll_tokens (token_hash, enterprise_id, created, expires) VALUES (?, ?, ?, ?)",
            (token_hash(token), enterprise_id, iso(now), expires),
        )
    return {"enterprise_id": enterprise_id, "token": token, "expires": expires}


def _decode_b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ReceiverError("bad_request", msg("{what} must be a base64 string", what=what))
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ReceiverError("bad_request", msg("{what} is not valid base64", what=what)) from exc


def enroll(
    rdb: Store, token: Any, gateway_id: Any, public_key_b64: Any, proof_b64: Any, key_store: Any = None
) -> dict[str, str]:
    """Register a gateway's public key against the enterprise the token was issued for.

    Returns the enterprise id and key id. The chain head is per gateway id, so
    re-enrolling a gateway with a new key (a new token) keeps its chain and its old keys.
    """
    if not isinstance(token, str) or not token:
        raise ReceiverError("bad_request", msg("token must be a non-empty string"))
    check_id(gateway_id, "gateway_id")
    public_key = _decode_b64(public_key_b64, "public_key")
    if len(public_key) != 32 and wire.key_alg(public_key) != wire.P256:
        raise ReceiverError("bad_request", msg("public_key must be 32 bytes (Ed25519) or a 65-byte P-256 point"))
    proof = _decode_b64(proof_b64, "proof")
    kid = wire.key_id(public_key)
    now = iso(utc_now())
    # PostgreSQL: lock the token's row so two receivers cannot both consume it, and the
    # gateway id (an advisory lock: its row may not exist yet) so two receivers enrolling one
    # new gateway with two tokens do not both insert it. SQLite's BEGIN IMMEDIATE already
    # admits one writer at a time.
    pg = rdb.dialect == "postgresql"
    lock = " FOR UPDATE" if pg else ""
    with rdb.write() as conn:
        if pg:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (f"enroll:{gateway_id}",))
        row = conn.execute(
            "SELECT enterprise_id, expires, used_at FROM enroll_tokens WHERE token_hash = ?" + lock,
            (token_hash(token),),
        ).fetchone()
        if row is None:
            raise ReceiverError("unknown_token", msg("no such enrollment token"), 403)
        enterprise_id, expires, used_at = row
        if used_at is not None:
            raise ReceiverError("token_used", msg("this enrollment token was already used"), 403)
        if now >= expires:
            raise ReceiverError("token_expired", msg("this enrollment token expired at {expires}",
                                                     expires=expires), 403)
        try:
            wire.verify_enrollment(token, gateway_id, public_key, proof)
        except wire.WireError as exc:
            raise ReceiverError(exc.code, exc.message, 400) from exc
        except ValueError as exc:  # a P-256 "point" that is not on the curve
            raise ReceiverError("bad_request", msg("public_key is not a valid key")) from exc
        protection = key_attestation.assess(public_key, key_store, token, gateway_id)
        gw = conn.execute("SELECT enterprise_id FROM gateways WHERE id = ?", (gateway_id,)).fetchone()
        if gw is not None and gw[0] != enterprise_id:
            raise ReceiverError("gateway_conflict", msg("this gateway id is enrolled for another enterprise"), 409)
        key = conn.execute("SELECT gateway_id, revoked_at FROM gateway_keys WHERE kid = ?", (kid,)).fetchone()
        if key is not None and key[0] != gateway_id:
            raise ReceiverError("key_in_use", msg("this public key is enrolled for another gateway"), 409)
        if key is not None and key[1] is not None:
            raise ReceiverError("revoked_key", msg("this public key was revoked; make a new one"), 403)
        if gw is None:
            conn.execute(
                "INSERT INTO gateways (id, enterprise_id, enrolled_at, last_seq, last_hash)"
                " VALUES (?, ?, ?, 0, ?)",
                (gateway_id, enterprise_id, now, wire.GENESIS_PREV),
            )
        if key is None:
            conn.execute(
                "INSERT INTO gateway_keys (kid, gateway_id, enterprise_id, public_key, enrolled_at, protection)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (kid, gateway_id, enterprise_id, wire.b64(public_key), now, protection),
            )
        conn.execute(
            "UPDATE enroll_tokens SET used_at = ?, used_by = ? WHERE token_hash = ?",
            (now, gateway_id, token_hash(token)),
        )
    return {"enterprise_id": enterprise_id, "gateway_id": gateway_id, "kid": kid, "protection": protection}


def revoke_key(rdb: Store, kid: str) -> dict[str, str]:
    """Mark a key revoked; batches signed with it after this are rejected ``revoked_key``."""
    with rdb.write() as conn:
        row = conn.execute("SELECT gateway_id, revoked_at FROM gateway_keys WHERE kid = ?", (kid,)).fetchone()
        if row is None:
            raise ReceiverError("unknown_key", msg("no enrolled key {kid}", kid=kid), 404)
        revoked_at = row[1] or iso(utc_now())
        conn.execute("UPDATE gateway_keys SET revoked_at = ? WHERE kid = ?", (revoked_at, kid))
    return {"kid": kid, "gateway_id": row[0], "revoked_at": revoked_at}


def gateway_keys(rdb: Store, gateway_id: str) -> dict[str, Any]:
    """Every key ever enrolled for a gateway, revoked ones included (old batches stay checkable)."""
    with rdb.read() as conn:
        gw = conn.execute("SELECT enterprise_id FROM gateways WHERE id = ?", (gateway_id,)).fetchone()
        if gw is None:
            raise ReceiverError("unknown_gateway", msg("no enrolled gateway {gateway_id}",
                                                       gateway_id=gateway_id), 404, status="error")
        keys = [
            {"kid": r[0], "public_key": r[1], "enrolled_at": r[2], "revoked_at": r[3], "protection": r[4]}
            for r in conn.execute(
                "SELECT kid, public_key, enrolled_at, revoked_at, protection FROM gateway_keys WHERE gateway_id = ?"
                " ORDER BY enrolled_at, kid",
                (gateway_id,),
            )
        ]
    return {"gateway_id": gateway_id, "enterprise_id": gw[0], "keys": keys}
