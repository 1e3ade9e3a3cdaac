"""Banks and the enterprises that authorised them: who may read which feed, and which categories.

A bank's bearer token is shown once, stored as a SHA-256 hash. Authorisation is a grant
from an enterprise to a bank, for all indicator categories (``*``) or a list of them;
revoking it keeps the row (with ``revoked_at``) so the history of who could see what is
not lost.

Category rules, in one place so every endpoint applies the same ones:

* a record's category is its ``category`` field, or its ``type`` when it has none;
* ``consent`` records (the gateway's signed consent announcements) are visible to every
  authorised bank: they say *why* data stopped or resumed, which a bank granted only some
  categories needs as much as any other, and they carry no measurement; so are
  ``declaration`` records (declared downtime, maintenance, stocktakes, holidays): the rules
  treat declared periods as expected, so every bank must see every declaration;
* a batch is shown whole or not at all (the gateway signs the whole body), so it is
  visible only when every category in it is visible (see ``feed.py``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from cloud_stub.db import ReceiverDB, iso, utc_now
from cloud_stub.enrollment import check_id, ensure_enterprise, token_hash
from cloud_stub.errors import ReceiverError

ALL = "*"
ALWAYS_VISIBLE = frozenset({"consent", "declaration", "health"})
CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Grant:
    """One bank's live authorisation for one enterprise. ``categories`` None means all."""

    bank_id: str
    enterprise_id: str
    categories: frozenset[str] | None

    def allows(self, category: str | None) -> bool:
        return self.categories is None or category in self.categories \
            or category in ALWAYS_VISIBLE

    def allows_all(self, categories: set[str] | frozenset[str] | list[str]) -> bool:
        return all(self.allows(c) for c in categories)

    def granted(self) -> list[str]:
        """As served: ``["*"]`` or the sorted category list."""
        return [ALL] if self.categories is None else sorted(self.categories)


def parse_categories(text: str | None) -> str:
    """``energy,machine`` -> the stored form (sorted, comma-separated), or ``*``; bad names are a 400."""
    if text is None or text.strip() in ("", ALL):
        return ALL
    cats = sorted({c.strip() for c in text.split(",") if c.strip()})
    if ALL in cats:
        raise ReceiverError("bad_request", "categories: '*' cannot be combined with named categories")
    for c in cats:
        if not CATEGORY_RE.match(c):
            raise ReceiverError("bad_request", f"category {c!r} must match {CATEGORY_RE.pattern}")
    if not cats:
        raise ReceiverError("bad_request", "categories: give '*' or at least one category")
    return ",".join(cats)


def _grant_categories(stored: str) -> frozenset[str] | None:
    return None if stored == ALL else frozenset(c for c in stored.split(",") if c)


def add_bank(rdb: ReceiverDB, bank_id: str, enterprise_id: str, categories: str | None = None) -> dict[str, Any]:
    """Create the bank if new (or rotate its token), grant it ``enterprise_id``, return its token.

    The token is rotated on every call because only its hash is stored: there is no
    way to show an existing token again. Re-adding a grant replaces its categories.
    """
    check_id(bank_id, "bank name")
    check_id(enterprise_id, "enterprise id")
    cats = parse_categories(categories)
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
            "INSERT INTO bank_grants (bank_id, enterprise_id, granted_at, categories) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(bank_id, enterprise_id)"
            " DO UPDATE SET revoked_at = NULL, granted_at = excluded.granted_at, categories = excluded.categories",
            (bank_id, enterprise_id, now, cats),
        )
    return {"bank": bank_id, "enterprise_id": enterprise_id, "categories": cats.split(","), "token": token}


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


def authenticate(rdb: ReceiverDB, authorization: str | None) -> str:
    """Resolve an ``Authorization: Bearer`` header to a bank id; 401 when it cannot be."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:  # the scheme is case-insensitive (RFC 7235)
        raise ReceiverError("unauthenticated", "a bank bearer token is required", 401, status="error")
    with rdb.read() as conn:
        row = conn.execute("SELECT id FROM banks WHERE token_hash = ?", (token_hash(token),)).fetchone()
    if row is None:
        raise ReceiverError("unauthenticated", "unknown bank token", 401, status="error")
    return str(row[0])


def authorise(rdb: ReceiverDB, authorization: str | None, enterprise_id: str) -> Grant:
    """The bank's live grant for ``enterprise_id``.

    401 when the bank cannot be identified, 403 when it is identified but not authorised
    (an unknown enterprise is also 403, so a bank cannot probe which enterprises exist).
    """
    bank_id = authenticate(rdb, authorization)
    with rdb.read() as conn:
        row = conn.execute(
            "SELECT categories FROM bank_grants WHERE bank_id = ? AND enterprise_id = ? AND revoked_at IS NULL",
            (bank_id, enterprise_id),
        ).fetchone()
    if row is None:
        raise ReceiverError("forbidden", "this bank is not authorised for that enterprise", 403, status="error")
    return Grant(bank_id, enterprise_id, _grant_categories(row[0]))


def bank_enterprises(rdb: ReceiverDB, bank_id: str) -> list[dict[str, Any]]:
    """Every enterprise with a live grant for ``bank_id``, with the categories granted."""
    with rdb.read() as conn:
        rows = conn.execute(
            "SELECT enterprise_id, categories, granted_at FROM bank_grants"
            " WHERE bank_id = ? AND revoked_at IS NULL ORDER BY enterprise_id",
            (bank_id,),
        ).fetchall()
    return [
        {"enterprise_id": r[0], "categories": Grant(bank_id, r[0], _grant_categories(r[1])).granted(),
         "granted_at": r[2]}
        for r in rows
    ]
