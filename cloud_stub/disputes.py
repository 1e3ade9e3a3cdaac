"""Disputes and confirmations from the enterprise, and each bank's decision on a dispute.

A gateway signs the enterprise's disputes (``dispute`` records: contest or explain a finding,
named by its chain hash) and confirmations of the measures in force (``confirmation`` records)
into its chain; they are stored like every record (``records``) and are visible to every bank
the enterprise authorised (banks.ALWAYS_VISIBLE). This module lists them with the finding each
names beside it and its status, and records a bank's decision:

* **open** until the bank decides; **accepted** or **rejected** (with the bank's reason) after.
* A decision is the receiver's signed statement (``wire.sign_report``: the receiver key, the
  report prefix) of what the bank decided, when, about which signed record; it is stored and
  never changed (a bank decides a dispute once: a second decision is 409 ``already_decided``), so
  the chain record, the finding and the decision together are the evidence of the dispute.
* A bank sees its own decisions; the enterprise (the gateway's signed fetch, enterprise_view.py)
  sees every bank's.
"""

from __future__ import annotations

import json
from typing import Any

from nacl.signing import SigningKey

from cloud_stub.db import ReceiverDB, iso, utc_now
from cloud_stub.errors import ReceiverError
from gateway import wire

TYPES = ("dispute", "confirmation")
DECISIONS = ("accepted", "rejected")
MAX_REASON = 500
DECISION_KIND = "dispute_decision"


def _records(conn: Any, enterprise_id: str, gateway_id: str | None = None) -> list[dict[str, Any]]:
    sql = ("SELECT id, batch_hash, gateway_id, seq, idx, record, replayed FROM records WHERE enterprise_id = ?"
           " AND type IN ('dispute', 'confirmation')")
    args: list[Any] = [enterprise_id]
    if gateway_id is not None:
        sql += " AND gateway_id = ?"
        args.append(gateway_id)
    out = []
    for rid, bh, gw, seq, idx, text, replayed in conn.execute(sql + " ORDER BY id", args).fetchall():
        rec = json.loads(text)
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), int) or isinstance(rec.get("id"), bool):
            continue  # still in the chain and the records feed; not a dispute this receiver can name
        out.append({"record_id": rid, "batch_hash": bh, "gateway_id": gw, "seq": seq, "index": idx,
                    "replayed": bool(replayed), "record": rec, "key": f"{gw}/{rec['id']}"})
    return out


def _findings_by_hash(conn: Any, enterprise_id: str, hashes: set[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    wanted = sorted(h for h in hashes if isinstance(h, str))
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for r in conn.execute(
                "SELECT id, kind, severity, gateway_id, created, subscore, window_start, window_end, hash"
                f" FROM findings WHERE enterprise_id = ? AND hash IN ({marks})", [enterprise_id, *chunk]):
            out[r[8]] = {"id": r[0], "kind": r[1], "severity": r[2], "gateway_id": r[3], "created": r[4],
                         "subscore": r[5], "window_start": r[6], "window_end": r[7], "hash": r[8]}
    return out


def _decisions(conn: Any, enterprise_id: str, bank_id: str | None) -> dict[str, list[dict[str, Any]]]:
    sql = ("SELECT gateway_id, dispute_id, bank_id, decision, reason, decided_at, body, signature"
           " FROM dispute_decisions WHERE enterprise_id = ?")
    args: list[Any] = [enterprise_id]
    if bank_id is not None:
        sql += " AND bank_id = ?"
        args.append(bank_id)
    out: dict[str, list[dict[str, Any]]] = {}
    for gw, did, bank, decision, reason, at, body, sig in conn.execute(sql + " ORDER BY id", args).fetchall():
        out.setdefault(f"{gw}/{did}", []).append({"bank": bank, "decision": decision, "reason": reason,
                                                  "decided_at": at, "statement": json.loads(body),
                                                  "signature": json.loads(sig)})
    return out


def list_disputes(rdb: ReceiverDB, enterprise_id: str, bank_id: str | None = None) -> list[dict[str, Any]]:
    """Every dispute and confirmation of the enterprise, oldest first: the signed record and where it
    sits in the chain, the finding it names (``finding``: null when no served finding has that hash),
    its ``status`` and the signed ``decisions`` (``bank_id``: that bank's only; None: every bank's)."""
    with rdb.read() as conn:
        recs = _records(conn, enterprise_id)
        found = _findings_by_hash(conn, enterprise_id, {r["record"].get("finding") for r in recs})
        decided = _decisions(conn, enterprise_id, bank_id)
    items = []
    for r in recs:
        rec = r["record"]
        item = {**r, "type": rec.get("type"), "finding": None, "decisions": decided.get(r["key"], [])}
        if rec.get("type") == "dispute":
            item["finding"] = found.get(rec.get("finding"))
            item["status"] = _status(item["decisions"], bank_id)
        else:
            item["status"] = "recorded"
        items.append(item)
    return items


def _status(decisions: list[dict[str, Any]], bank_id: str | None) -> str:
    """open, accepted or rejected for one bank; for the enterprise (every bank): ``open`` until one
    bank decided, else the decisions' common word, or ``mixed``."""
    words = {d["decision"] for d in decisions}
    if not words:
        return "open"
    return words.pop() if len(words) == 1 else "mixed"


def decide(rdb: ReceiverDB, signing_key: SigningKey, bank_id: str, enterprise_id: str, gateway_id: str,
           dispute_id: int, decision: Any, reason: Any) -> dict[str, Any]:
    """Record ``bank_id``'s decision on dispute ``<gateway_id>/<dispute_id>`` and sign it; returns
    ``{"status": "ok", "decision": statement, "signature": receiver signature}``."""
    if decision not in DECISIONS:
        raise ReceiverError("bad_request", f"decision must be one of {list(DECISIONS)}", 400, status="error")
    if reason is None:
        reason = ""
    if not isinstance(reason, str) or "\x00" in reason or len(reason) > MAX_REASON:
        raise ReceiverError("bad_request", f"reason must be text of at most {MAX_REASON} characters", 400,
                            status="error")
    reason = reason.strip()
    if decision == "rejected" and not reason:
        raise ReceiverError("bad_request", "a rejection needs the bank's reason (the enterprise reads it)", 400,
                            status="error")
    with rdb.write() as conn:
        target = next((r for r in _records(conn, enterprise_id, gateway_id)
                       if r["record"].get("id") == dispute_id and r["record"].get("type") == "dispute"), None)
        if target is None:
            raise ReceiverError("unknown_dispute", f"no dispute {gateway_id}/{dispute_id} for this enterprise", 404,
                                status="error")
        if conn.execute("SELECT 1 FROM dispute_decisions WHERE gateway_id = ? AND dispute_id = ? AND bank_id = ?",
                        (gateway_id, dispute_id, bank_id)).fetchone():
            raise ReceiverError("already_decided", "this bank has decided this dispute already", 409,
                                status="error")
        statement = {"v": 1, "kind": DECISION_KIND, "enterprise_id": enterprise_id, "gateway_id": gateway_id,
                     "dispute_id": dispute_id, "record_id": target["record_id"],
                     "batch_hash": target["batch_hash"], "index": target["index"],
                     "finding": target["record"].get("finding"), "bank": bank_id, "decision": decision,
                     "reason": reason, "decided_at": iso(utc_now())}
        signature = wire.sign_report(statement, signing_key)
        conn.execute(
            "INSERT INTO dispute_decisions (enterprise_id, gateway_id, dispute_id, bank_id, decision, reason,"
            " decided_at, body, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (enterprise_id, gateway_id, dispute_id, bank_id, decision, reason, statement["decided_at"],
             json.dumps(statement, sort_keys=True, ensure_ascii=False), json.dumps(signature, sort_keys=True)))
    return {"status": "ok", "decision": statement, "signature": signature}
