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
  treat declared periods as expected, so every bank must see every declaration; and so are
  ``decommission`` records (a gateway's signed last word: the chain ends here);
* a batch is shown whole or not at all (the gateway signs the whole body), so it is
  visible only when every category in it is visible (see ``feed.py``);
* the operator's grant is never wider than the enterprise's signed consent: a bank is served
  the intersection (``consent.py``), and a bank the consent never named is not authorised.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cloud_stub import access_log, consent, offboard
from cloud_stub.db import ReceiverDB, iso, utc_now
from cloud_stub.enrollment import check_id, ensure_enterprise, token_hash
from cloud_stub.errors import ReceiverError
from cloud_stub.texts import msg

ALL = "*"
ALWAYS_VISIBLE = frozenset({"consent", "declaration", "decommission", "dispute", "confirmation", "health"})
CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Grant:
    """One bank's live authorisation for one enterprise. ``categories`` None means all."""

    bank_id: str
    enterprise_id: str
    categories: frozenset[str] | None
    # How consent shaped ``categories`` (consent.Effective.status); "" when built without it.
    consent: str = ""

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
        raise ReceiverError("bad_request", msg("categories: '*' cannot be combined with named categories"))
    for c in cats:
        if not CATEGORY_RE.match(c):
            raise ReceiverError("bad_request", msg("category {c} must match {pattern}", c=repr(c),
                                                   pattern=CATEGORY_RE.pattern))
    if not cats:
        raise ReceiverError("bad_request", msg("categories: give '*' or at least one category"))
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
        ended = offboard.tombstone(conn, enterprise_id)
        if ended is not None:
            raise ReceiverError("terminated", msg("{enterprise_id} was offboarded on {started_at}: no new grants",
                                                  enterprise_id=enterprise_id, started_at=ended['started_at']), 409)
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
    eff = grant_consent(rdb, bank_id, enterprise_id)
    consent.report_wider(bank_id, enterprise_id, eff.wider, eff.status)
    return {"bank": bank_id, "enterprise_id": enterprise_id, "categories": cats.split(","), "token": token,
            "consent": eff.as_dict()}


def grant_consent(rdb: ReceiverDB, bank_id: str, enterprise_id: str) -> consent.Effective:
    """The bank's live grant for the enterprise after the enterprise's signed consent."""
    with rdb.read() as conn:
        row = conn.execute("SELECT categories FROM bank_grants WHERE bank_id = ? AND enterprise_id = ?"
                           " AND revoked_at IS NULL", (bank_id, enterprise_id)).fetchone()
        ec = consent.load(conn, enterprise_id)
    granted = _grant_categories(row[0]) if row else frozenset()
    return consent.effective(ec, bank_id, granted, time.time())


def grants_with_consent(rdb: ReceiverDB, enterprise_id: str) -> list[dict[str, Any]]:
    """Every live bank grant of the enterprise with what consent lets through (``cloud consent``)."""
    with rdb.read() as conn:
        rows = conn.execute("SELECT bank_id, categories, granted_at FROM bank_grants WHERE enterprise_id = ?"
                            " AND revoked_at IS NULL ORDER BY bank_id", (enterprise_id,)).fetchall()
        ec = consent.load(conn, enterprise_id)
    now = time.time()
    return [{"bank": r[0], "enterprise_id": enterprise_id, "granted_at": r[2],
             **consent.effective(ec, r[0], _grant_categories(r[1]), now).as_dict()} for r in rows]


def revoke_grant(rdb: ReceiverDB, bank_id: str, enterprise_id: str) -> dict[str, Any]:
    now = iso(utc_now())
    with rdb.write() as conn:
        cur = conn.execute(
            "UPDATE bank_grants SET revoked_at = ?"
            " WHERE bank_id = ? AND enterprise_id = ? AND revoked_at IS NULL",
            (now, bank_id, enterprise_id),
        )
        if cur.rowcount == 0:
            raise ReceiverError("unknown_grant", msg("{bank_id} holds no grant for {enterprise_id}", bank_id=bank_id,
                                                     enterprise_id=enterprise_id), 404)
    return {"bank": bank_id, "enterprise_id": enterprise_id, "revoked_at": now}


def authenticate(rdb: ReceiverDB, authorization: str | None) -> str:
    """Resolve an ``Authorization: Bearer`` header to a bank id; 401 when it cannot be."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:  # the scheme is case-insensitive (RFC 7235)
        raise ReceiverError("unauthenticated", msg("a bank bearer token is required"), 401, status="error")
    with rdb.read() as conn:
        row = conn.execute("SELECT id FROM banks WHERE token_hash = ?", (token_hash(token),)).fetchone()
    if row is None:
        raise ReceiverError("unauthenticated", msg("unknown bank token"), 401, status="error")
    access_log.note_actor("bank", str(row[0]))  # authenticated: this request goes into the access log
    return str(row[0])


def authorise(rdb: ReceiverDB, authorization: str | None, enterprise_id: str) -> Grant:
    """The bank's live grant for ``enterprise_id``.

    401 when the bank cannot be identified, 403 when it is identified but not authorised
    (an unknown enterprise is also 403, so a bank cannot probe which enterprises exist).
    """
    bank_id = authenticate(rdb, authorization)
    with rdb.read() as conn:
        ended = offboard.tombstone(conn, enterprise_id)
        if ended is not None and bank_id in ended["banks"]:
            raise ReceiverError("terminated", msg("{enterprise_id} was offboarded on {started_at}: its feed has "
                                                  "ended", enterprise_id=enterprise_id,
                                                  started_at=ended['started_at']), 410, status="error")
        row = conn.execute(
            "SELECT categories FROM bank_grants WHERE bank_id = ? AND enterprise_id = ? AND revoked_at IS NULL",
            (bank_id, enterprise_id),
        ).fetchone()
        ec = consent.load(conn, enterprise_id) if row is not None else None
    if row is None or ec is None:
        raise ReceiverError("forbidden", msg("this bank is not authorised for that enterprise"), 403, status="error")
    eff = consent.effective(ec, bank_id, _grant_categories(row[0]), time.time())
    if eff.status == "not_named":  # the same answer as no grant: a bank cannot probe who else is named
        raise ReceiverError("forbidden", msg("this bank is not authorised for that enterprise"), 403, status="error")
    access_log.note_actor("bank", bank_id, enterprise_id)  # authorised: the request is about this enterprise
    return Grant(bank_id, enterprise_id, eff.categories, eff.status)


_PROTECTION_ORDER = ("file", "tpm", "tpm-attested")  # weakest first (cloud_stub/key_attestation.py)


def weakest_key(conn: Any, enterprise_id: str) -> str | None:
    """The weakest protection among the enterprise's live (unrevoked) gateway keys: what a bank requiring
    hardware keys must look at, since any live key can sign for the enterprise. None when it has no live key."""
    levels = {r[0] for r in conn.execute("SELECT DISTINCT protection FROM gateway_keys"
                                         " WHERE enterprise_id = ? AND revoked_at IS NULL", (enterprise_id,))}
    for level in _PROTECTION_ORDER:
        if level in levels:
            return level
    return None


def bank_enterprises(rdb: ReceiverDB, bank_id: str) -> list[dict[str, Any]]:
    """Every enterprise with a live grant for ``bank_id``, with the categories served: the grant
    after the enterprise's signed consent (an enterprise whose consent never named the bank is
    left out). ``consent`` says how: ``consent`` or ``no_consent`` (old chains: the grant alone).
    An enterprise offboarded while the bank held a grant stays listed with ``terminated`` (the date)."""
    now = time.time()
    out = []
    with rdb.read() as conn:
        rows = conn.execute(
            "SELECT enterprise_id, categories, granted_at FROM bank_grants"
            " WHERE bank_id = ? AND revoked_at IS NULL ORDER BY enterprise_id",
            (bank_id,),
        ).fetchall()
        for r in rows:
            eff = consent.effective(consent.load(conn, r[0]), bank_id, _grant_categories(r[1]), now)
            if eff.status == "not_named":
                continue
            out.append({"enterprise_id": r[0], "categories": Grant(bank_id, r[0], eff.categories).granted(),
                        "granted_at": r[2], "consent": eff.status, "key_protection": weakest_key(conn, r[0])})
        # Enterprises offboarded while this bank held a grant: listed as terminated, with the date.
        for t in offboard.terminated_for_bank(conn, bank_id):
            out.append({"enterprise_id": t["enterprise_id"], "categories": [], "granted_at": None,
                        "consent": None, "terminated": t["terminated"]})
    return sorted(out, key=lambda e: e["enterprise_id"])
