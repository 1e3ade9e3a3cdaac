"""Disputes and confirmations kept in the gateway's store, and their signing into the chain.

``edgeproof dispute add`` / ``edgeproof confirm`` (or the status page) append a row here; the
running gateway packs every unsent row into a ``dispute`` or ``confirmation`` record at its
next packing step, in a batch of its own, whatever the consent categories (gateway/uplink/packing.py
asks :func:`pending`, has the batcher sign :func:`record` of each row and tells :func:`signed`
the seq, as for declarations): the categories ``dispute`` and ``confirmation`` are visible to
every bank the enterprise authorised, so the enterprise's word reaches each of them. Nothing is
deleted. The table is in the store's schema; its SQL in gateway/store/ledgers.py.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from gateway.declarations.model import iso
from gateway.disputes.model import Dispute
from gateway.store import ledgers as ledgers_db

if TYPE_CHECKING:
    from gateway.store import Store


def add_dispute(store: Store, d: Dispute, *, at: float | None = None, source: str = "cli") -> int:
    """Append a dispute; returns its id (``<gateway>/<id>`` names it at the receiver and the bank)."""
    return ledgers_db.add_dispute(store, action=d.action, finding=d.finding, finding_id=d.finding_id, reason=d.reason,
                                  note=d.note, made_at=time.time() if at is None else float(at), source=source)


def measures_in_force(store: Store) -> dict[str, Any]:
    """The consent state the gateway holds now (what its last consent record announced), and its
    ``policy`` digest as in that record; ``{"consent": None}`` when the profile has no consent."""
    text = store.meta_get("consent.state")
    if not text:
        return {"consent": None, "policy": None}
    state = json.loads(text)
    return {"consent": state, "policy": hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]}


def add_confirmation(store: Store, note: str = "", *, at: float | None = None, source: str = "cli") -> int:
    """Record that the enterprise confirmed the measures in force now (they are copied into the row)."""
    return ledgers_db.add_confirmation(store, note=note, measures=json.dumps(measures_in_force(store), sort_keys=True),
                                       made_at=time.time() if at is None else float(at), source=source)


def rows(store: Store) -> list[dict[str, Any]]:
    out = ledgers_db.disputes(store)
    for r in out:
        r["measures"] = json.loads(r["measures"]) if r["measures"] else None
    return out


def listing(store: Store) -> list[dict[str, Any]]:
    """As shown on site (CLI, status page): ISO times and whether it is signed yet."""
    return [{"id": r["id"], "action": r["action"], "finding": r["finding"], "finding_id": r["finding_id"],
             "reason": r["reason"], "note": r["note"], "measures": r["measures"], "made_at": iso(r["made_at"]),
             "source": r["source"], "signed_in_batch": r["batch_seq"]} for r in rows(store)]


def record(row: dict[str, Any], subject: str) -> dict[str, Any]:
    """The wire form of one row (docs/wire-format.md, "Dispute and confirmation records")."""
    made = iso(row["made_at"])
    base = {"subject": subject, "id": int(row["id"]), "made_at": made, "note": row["note"] or "",
            "window": {"start": int(row["made_at"]), "len": 0}}
    if row["action"] == "confirm":
        return {"type": "confirmation", "category": "confirmation", "name": "confirmation.measures", **base,
                "measures": row["measures"]}
    rec = {"type": "dispute", "category": "dispute", "name": f"dispute.{row['action']}", **base,
           "finding": row["finding"]}
    if row["finding_id"] is not None:
        rec["finding_id"] = int(row["finding_id"])
    if row["action"] == "explain":
        rec["reason"] = row["reason"]
    return rec


def pending(store: Store, now: float | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Rows not yet signed into the chain and made at or before ``now``, oldest first, at most ``limit``."""
    out = ledgers_db.unsigned_disputes(store, 1e18 if now is None else float(now), limit)
    for r in out:
        r["measures"] = json.loads(r["measures"]) if r["measures"] else None
    return out


def signed(store: Store, signed_rows: list[dict[str, Any]], seq: int, now: float | None = None) -> None:
    """``signed_rows`` (from :func:`pending`) are signed in batch ``seq``: marked so, and logged in the
    audit log, together."""
    from gateway.consent import audit

    with store.tx("IMMEDIATE"):
        ledgers_db.mark_disputes_signed_in_tx(store, [r["id"] for r in signed_rows], seq)
        audit.append_in_tx(store, "dispute", at=now, seq=seq, detail={
            "disputes": [{k: r.get(k) for k in ("id", "action", "finding", "reason")} for r in signed_rows]})
