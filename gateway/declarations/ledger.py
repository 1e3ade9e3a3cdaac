"""Declarations kept in the gateway's store, and their signing into the chain.

``edgeproof declare add|withdraw`` appends a row here; the running gateway (or a replay)
packs every unsent row into a ``declaration`` record at its next packing step, in a batch
of its own, whatever the consent categories (gateway/uplink/packing.py asks :func:`pending`,
has the batcher sign :func:`record` of each row, and tells :func:`signed` the seq). Nothing
is ever deleted: a withdrawal is its own row and its own signed record naming the
declaration it withdraws. The table is in the store's schema; its SQL in gateway/store/ledgers.py.

Notes stay on site (free text that may hold names): the record carries only a keyed token
of the note (``note_token``), so in a dispute the enterprise can show the note it wrote and
prove it is the one declared then, while no name leaves the site.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from gateway.declarations.model import Declaration, DeclarationError, iso
from gateway.i18n import N_
from gateway.store import ledgers as ledgers_db

if TYPE_CHECKING:
    from gateway.store import Store


def add(store: Store, decl: Declaration, *, declared_at: float | None = None, note_token: str | None = None,
        source: str = "cli", ext_id: str | None = None) -> int:
    """Append a declaration; returns its id (the id the bank sees). With ``ext_id`` (a replayed
    declarations.csv row) a second add of the same row is a no-op returning the first id."""
    at = time.time() if declared_at is None else float(declared_at)
    with store.tx("IMMEDIATE"):
        if ext_id is not None and (known := ledgers_db.declaration_by_ext_id_in_tx(store, ext_id)) is not None:
            return known
        return ledgers_db.add_declaration_in_tx(store, kind=decl.kind, start=decl.start, end=decl.end,
                                                assets=list(decl.assets), note=decl.note, note_token=note_token,
                                                declared_at=at, source=source, ext_id=ext_id)


def withdraw(store: Store, declaration_id: int, *, note: str = "", note_token: str | None = None,
             at: float | None = None, source: str = "cli", ext_id: str | None = None) -> int:
    """Append a withdrawal of ``declaration_id``; returns the withdrawal's own id.
    DeclarationError if there is no such declaration or it was withdrawn already."""
    at = time.time() if at is None else float(at)
    with store.tx("IMMEDIATE"):  # the checks and the insert together: two withdrawals cannot both pass
        if ext_id is not None and (known := ledgers_db.declaration_by_ext_id_in_tx(store, ext_id)) is not None:
            return known
        if ledgers_db.declaration_action_in_tx(store, declaration_id) != "declare":
            raise DeclarationError("id", N_("the id of a declaration on this gateway (no declaration "
                                            "#{declaration_id}; see `edgeproof declare list`)"),
                                   declaration_id=declaration_id)
        if ledgers_db.is_withdrawn_in_tx(store, declaration_id):
            raise DeclarationError("id", N_("a declaration not yet withdrawn (#{declaration_id} was withdrawn "
                                            "already)"), declaration_id=declaration_id)
        return ledgers_db.add_withdrawal_in_tx(store, withdraws=declaration_id, note=note, note_token=note_token,
                                               declared_at=at, source=source, ext_id=ext_id)


def rows(store: Store) -> list[dict[str, Any]]:
    """Every declaration and withdrawal, oldest first, each declaration with ``withdrawn_by``."""
    out = ledgers_db.declarations(store)
    by_target = {r["withdraws"]: r["id"] for r in out if r["action"] == "withdraw"}
    for r in out:
        r["assets"] = json.loads(r["assets"] or "[]")
        if r["action"] == "declare":
            r["withdrawn_by"] = by_target.get(r["id"])
    return out


def listing(store: Store) -> list[dict[str, Any]]:
    """The declarations as shown on site (CLI, status page): ISO times, state, where sent."""
    out = []
    for r in rows(store):
        item: dict[str, Any] = {"id": r["id"], "action": r["action"], "declared_at": iso(r["declared_at"]),
                                "note": r["note"], "signed_in_batch": r["batch_seq"], "source": r["source"]}
        if r["action"] == "declare":
            item.update(kind=r["kind"], **{"from": iso(r["start"]), "to": iso(r["end"])}, assets=r["assets"],
                        withdrawn_by=r["withdrawn_by"])
        else:
            item["withdraws"] = r["withdraws"]
        out.append(item)
    return out


def record(row: dict[str, Any], subject: str) -> dict[str, Any]:
    """The wire form of one row (docs/wire-format.md, "Declaration records")."""
    rec: dict[str, Any] = {"type": "declaration", "category": "declaration", "subject": subject,
                           "id": int(row["id"]), "declared_at": iso(row["declared_at"])}
    if row["action"] == "declare":
        start, end = int(row["start"]), int(row["end"])
        rec.update(name="declaration.declare", kind=row["kind"], window={"start": start, "len": end - start},
                   assets=list(row["assets"]), **{"from": iso(row["start"]), "to": iso(row["end"])})
    else:
        rec.update(name="declaration.withdraw", withdraws=int(row["withdraws"]),
                   window={"start": int(row["declared_at"]), "len": 0})
    if row.get("note_token"):
        rec["note_token"] = row["note_token"]
    return rec


def pending(store: Store, now: float | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Rows not yet signed into the chain, oldest first, at most ``limit``. A declaration dated
    after ``now`` (a replay not yet at its declared time) waits."""
    out = ledgers_db.unsigned_declarations(store, float("inf") if now is None else float(now), limit)
    for r in out:
        r["assets"] = json.loads(r["assets"] or "[]")
    return out


def signed(store: Store, signed_rows: list[dict[str, Any]], seq: int, now: float | None = None) -> None:
    """``signed_rows`` (from :func:`pending`) are signed in batch ``seq``: marked so, and logged in the
    audit log, together."""
    from gateway.consent import audit

    with store.tx("IMMEDIATE"):
        ledgers_db.mark_declarations_signed_in_tx(store, [r["id"] for r in signed_rows], seq)
        audit.append_in_tx(store, "declaration", at=now, seq=seq, detail={
            "declarations": [{k: r.get(k) for k in ("id", "action", "kind", "withdraws")} for r in signed_rows]})
