"""Feed-verify checks V43-V46 (docs/wire-format.md §9 and §12.4): the enterprise's disputes and
confirmations as the receiver shows them to a bank, and the bank's decisions.

What they make visible: a receiver that shows a dispute other than the one the gateway signed,
hides one, places it beside another finding than the one it names, or serves a decision it did
not sign, or one about another dispute or by another bank. The ``# check Vn`` tags are at the
calls in feed_verify.py (the order the list states).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloud_stub.texts import msg
from gateway import wire

TYPES = ("dispute", "confirmation")
Fail = Callable[[str], None]


def _same(a: Any, b: Any) -> bool:
    try:
        return wire.canonical_json({"v": a}) == wire.canonical_json({"v": b})
    except (wire.WireError, TypeError, ValueError):
        return False


def check_page(page: dict[str, Any], receiver_pk: bytes, enterprise: str, fail: Fail) -> list[dict[str, Any]]:
    """V43: signed whole by the receiver key, for this enterprise; returns its items ([] when it fails)."""
    try:
        signed = wire.verify_report(page["page_signature"], receiver_pk)
    except (wire.WireError, KeyError, TypeError, ValueError) as exc:
        fail(msg("disputes page: receiver signature: {error}", error=exc))
        return []
    if not _same(signed, {k: v for k, v in page.items() if k != "page_signature"}):
        fail(msg("disputes page: the signature does not cover the page as received"))
        return []
    if page.get("enterprise_id") != enterprise or page.get("kind") != "disputes":
        fail(msg("disputes page: for another enterprise, or not a disputes page"))
        return []
    items = page.get("items")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def check_records(items: list[dict[str, Any]], verified: dict[int, dict[str, Any]], floor: int, fail: Fail) -> None:
    """V44: each item is a record that passed V12-V17 (same locator, same record), and every dispute
    or confirmation record verified in this run is listed. Items at or below ``floor`` (verified by an
    earlier run) are not re-checked."""
    listed = set()
    for it in items:
        rid = it.get("record_id")
        listed.add(rid)
        if isinstance(rid, int) and not isinstance(rid, bool) and rid <= floor:
            continue
        r = verified.get(rid)  # type: ignore[arg-type]
        if r is None:
            fail(msg("dispute item {key}: record {record} is not a verified record of the records feed",
                     key=it.get("key"), record=rid))
            continue
        for k, rk in (("batch_hash", "batch_hash"), ("index", "index"), ("gateway_id", "gateway_id"),
                      ("seq", "seq"), ("record", "record")):
            if not _same(it.get(k), r.get(rk)):
                fail(msg("dispute item {key}: {field} differs from the signed record {record}", key=it.get("key"),
                         field=k, record=rid))
        rec = r.get("record") or {}
        if not _same(it.get("key"), f"{r.get('gateway_id')}/{rec.get('id')}") or not _same(it.get("type"),
                                                                                          rec.get("type")):
            fail(msg("dispute item {key}: key or type differs from the signed record {record}", key=it.get("key"),
                     record=rid))
    missing = sorted(rid for rid in verified if rid not in listed)
    if missing:
        fail(msg("disputes page leaves out signed dispute/confirmation records {records}", records=missing[:5]))


def check_findings(items: list[dict[str, Any]], findings: dict[str, dict[str, Any]], full: bool, fail: Fail) -> None:
    """V45: the finding shown beside a dispute is the findings-feed item with the hash the signed record
    names (and a dispute shown without one names no served finding). In an incremental run only the
    findings read in this run are compared."""
    for it in items:
        rec = it.get("record") if isinstance(it.get("record"), dict) else {}
        if rec.get("type") != "dispute":
            continue
        named, shown = rec.get("finding"), it.get("finding")
        served = findings.get(named) if isinstance(named, str) else None
        if shown is None:
            if served is not None:
                fail(msg("dispute {key}: shown without its finding #{finding}, which is served", key=it.get("key"),
                         finding=served.get("id")))
            continue
        if not isinstance(shown, dict) or shown.get("hash") != named:
            fail(msg("dispute {key}: shown beside another finding than the one it names", key=it.get("key")))
        elif served is None:
            if full:
                fail(msg("dispute {key}: its finding {finding} is not in the findings feed", key=it.get("key"),
                         finding=str(named)[:16]))
        elif not all(_same(shown.get(k), served.get(k)) for k in ("id", "kind", "severity", "gateway_id", "created")):
            fail(msg("dispute {key}: the finding beside it differs from findings item {finding}", key=it.get("key"),
                     finding=served.get("id")))


def check_decisions(items: list[dict[str, Any]], receiver_pk: bytes, enterprise: str, bank: Any, fail: Fail) -> None:
    """V46: each decision is the receiver's signed statement about this dispute (enterprise, gateway, dispute
    id, record locator, finding) by this bank, its fields as signed; ``status`` follows from the decisions."""
    for it in items:
        rec = it.get("record") if isinstance(it.get("record"), dict) else {}
        decisions = it.get("decisions") if isinstance(it.get("decisions"), list) else []
        if rec.get("type") == "confirmation":
            if decisions or it.get("status") != "recorded":
                fail(msg("confirmation {key}: has decisions or a status other than 'recorded'", key=it.get("key")))
            continue
        words = set()
        for d in decisions:
            try:
                st = wire.verify_report(d["signature"], receiver_pk)
            except (wire.WireError, KeyError, TypeError, ValueError) as exc:
                fail(msg("dispute {key}: decision not signed by the receiver: {error}", key=it.get("key"), error=exc))
                continue
            want = {"kind": "dispute_decision", "enterprise_id": enterprise, "gateway_id": it.get("gateway_id"),
                    "dispute_id": rec.get("id"), "record_id": it.get("record_id"), "batch_hash": it.get("batch_hash"),
                    "index": it.get("index"), "finding": rec.get("finding"), "bank": bank}
            wrong = [k for k, v in want.items() if not _same(st.get(k), v)]
            wrong += [k for k in ("bank", "decision", "reason", "decided_at") if not _same(d.get(k), st.get(k))]
            if not _same(d.get("statement"), st):
                wrong.append("statement")
            if st.get("decision") not in ("accepted", "rejected"):
                wrong.append("decision")
            if wrong:
                fail(msg("dispute {key}: decision differs from what the receiver signed or names another dispute or "
                         "bank ({fields})", key=it.get("key"), fields=", ".join(sorted(set(wrong)))))
            words.add(st.get("decision"))
        expect = "open" if not words else (words.pop() if len(words) == 1 else "mixed")
        if it.get("status") != expect:
            fail(msg("dispute {key}: status {status}, but its decisions say {expected}", key=it.get("key"),
                     status=repr(it.get("status")), expected=repr(expect)))
