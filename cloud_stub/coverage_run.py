"""``cloud coverage run``: assess every facility of a bank, store findings, alerts and the latest coverage.

Per live facility: the enterprise's verified collateral indicators (the signed batch bodies, as every rule
reads them), the bank's newest prices, the collateral_coverage rule (cloud_stub/rules/collateral_coverage.py)
and the facility's covenants (repay_covenants). Their findings are the bank's private data: stored in the
bank's own chains, hash-chained per (enterprise, bank) (cloud_stub/bank_chain.py), never in the enterprise's;
a yellow/orange/red coverage also raises a ``margin_call`` alert there (delivered by the alert outbox to the
operator's channels and to this bank's, never another bank's). The assessment itself, with each covenant's
latest result, is kept per facility (``facility_coverage``), what the bank's facilities page and the
portfolio serve.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cloud_stub import bank_chain, collateral_value, facilities, prices
from cloud_stub.db import iso, utc_now
from cloud_stub.errors import ReceiverError
from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rule_inputs import load_rule_inputs
from cloud_stub.rules.collateral_coverage import CollateralCoverage
from cloud_stub.rules.repay_covenants import Covenants
from cloud_stub.texts import Msg, msg
from gateway import wire

ALERT_LEVELS = ("yellow", "orange", "red")
COVENANT_DAYS = 70  # the last full month before as_of and the month before it (concentration's last month)


def _inputs(conn: Any, fac: dict[str, Any], as_of: int) -> Any:
    ent = fac["enterprise_id"]
    rid = conn.execute("SELECT coalesce(max(id), 0) FROM records WHERE enterprise_id = ?", (ent,)).fetchone()[0]
    hours = float(fac["covenants"].get("max_weight_age_hours") or 24.0)
    return load_rule_inputs(conn, ent, as_of - int(hours * 3600) - 86400, as_of, int(rid), 0)


def _store(conn: Any, fac: dict[str, Any], a: dict[str, Any], found: list[Any], since: int,
           row_locks: bool, covenants: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The findings and margin-call alerts in the bank's private chains (cloud_stub/bank_chain.py) and the
    latest assessment (with its covenant results) in ``facility_coverage``; returns the alerts raised."""
    ent, now, bank = fac["enterprise_id"], iso(utc_now()), fac["bank"]
    if row_locks:  # chained writes of one enterprise: the lock ingest and analysis take
        conn.execute("SELECT id FROM enterprises WHERE id = ? FOR NO KEY UPDATE", (ent,))
    alerts: list[dict[str, Any]] = []
    for f in found:
        d = {**f.to_json(), "dedupe": f.dedupe}
        dd = f"{ent}/{bank}/{f.dedupe}"
        if bank_chain.has_finding(conn, dd) or conn.execute(
                "SELECT 1 FROM findings WHERE dedupe = ?", (f"{ent}/{f.dedupe}",)).fetchone():
            continue  # the same level since the same run: raised once (also when an older receiver raised it
            # in the enterprise's chain, where it stays: docs/receiver.md, "A bank's private findings")
        item = {"kind": f.rule, "severity": f.severity, "enterprise_id": ent, "created": now,
                "rule_version": f.version, "subscore": f.subscore, "window_start": f.window_start,
                "window_end": f.window_end}
        bank_chain.add_finding(conn, bank, item, d, dd)
        if f.severity not in ALERT_LEVELS or f.rule != CollateralCoverage.id:
            continue  # covenant breaches are findings only (no margin-call alert)
        shown = f.extra["assessment"]
        detail = {"bank": bank, "facility_id": fac["facility_id"], "finding": f.dedupe, "rule": f.rule,
                  "subscore": f.subscore, "message": f.message, "coverage": shown["coverage"],
                  "value_range": shown["value_range"], "outstanding": a["outstanding"], "currency": a["currency"],
                  "thresholds": a["thresholds"], "window": {"start": f.window_start, "end": f.window_end}}
        aid = bank_chain.add_alert(conn, bank, ent, "margin_call", f.severity, detail, now,
                                   f"{ent}/{bank}/margin_call/{f.dedupe}")
        if aid is not None:
            alerts.append({"id": aid, "kind": "margin_call", "level": f.severity, "detail": detail})
    shown = {**collateral_value.served(a), "since": since}
    if covenants is not None:
        shown["covenant_results"] = covenants
    conn.execute(
        "INSERT INTO facility_coverage (bank_id, facility_id, enterprise_id, as_of, level, assessment, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bank_id, facility_id) DO UPDATE SET enterprise_id ="
        " excluded.enterprise_id, as_of = excluded.as_of, level = excluded.level, assessment = excluded.assessment,"
        " created = excluded.created",
        (bank, fac["facility_id"], ent, a["as_of"], a["level"], wire.canonical_json(shown).decode(), now))
    return alerts


def _covenant_inputs(conn: Any, fac: dict[str, Any], as_of: int,
                     categories: list[str] | None) -> tuple[RepaymentInputs, dict[str, Any]]:
    """The enterprise's verified MES/ERP indicators the bank is granted, over the covenants' months, and the
    basis they were read on (what the facilities page states beside each covenant result)."""
    ent = fac["enterprise_id"]
    rid = conn.execute("SELECT coalesce(max(id), 0) FROM records WHERE enterprise_id = ?", (ent,)).fetchone()[0]
    cats = None if categories is None or "*" in categories else categories
    start = as_of - COVENANT_DAYS * 86400
    ev = load_rule_inputs(conn, ent, start, as_of, int(rid), 0, categories=cats)
    basis = {"from": start, "to": as_of, "max_record_id": int(rid), "categories": sorted(cats) if cats else ["*"],
             "indicators": "verified indicator records of the enterprise up to max_record_id, windows in [from, to)"}
    return RepaymentInputs(ev, as_of), basis


def covenant_results(checks: list[dict[str, Any]], found: list[Any], as_of: int,
                     basis: dict[str, Any]) -> dict[str, Any]:
    """Each covenant's latest result as the facilities page serves it: the check (status met / breached /
    undetermined / not_observed, limit, observed, period, coverage) and the key of its finding in the bank's
    private chain (breaches only; None otherwise)."""
    by_check = {id(f.extra.get("covenant")): f.dedupe for f in found if f.rule == Covenants.id}
    return {"as_of": as_of, "basis": basis,
            "results": [{**c, "finding": by_check.get(id(c))} for c in checks]}


def assess_facility(rdb: Any, fac: dict[str, Any], as_of: int, inputs: dict[tuple[str, int], Any] | None = None,
                    categories: list[str] | None = None) -> dict[str, Any]:
    """Assess one facility now (``as_of``), store what it found; returns {assessment, findings, alerts}.
    ``inputs`` caches the loaded indicators per (enterprise, hours): facilities of one enterprise share them.
    ``categories``: what the bank is granted (None or ``*``: all); the covenants read only those."""
    rule = CollateralCoverage()
    cache = {} if inputs is None else inputs
    with rdb.read() as conn:
        ck = (fac["enterprise_id"], int(float(fac["covenants"].get("max_weight_age_hours") or 24.0) * 3600))
        if ck not in cache:
            cache[ck] = _inputs(conn, fac, as_of)
        ev = cache[ck]
        px = {p["product_class"]: prices.latest(conn, fac["bank"], p["product_class"], as_of) for p in fac["pledges"]}
        row = conn.execute("SELECT level, assessment FROM facility_coverage WHERE bank_id = ? AND facility_id = ?",
                           (fac["bank"], fac["facility_id"])).fetchone()
    previous = {"level": row[0], "since": json.loads(row[1]).get("since")} if row is not None else {}
    a = rule.assess_facility(ev, {"facility": fac, "prices": px, "as_of": as_of})
    found = rule.findings(a, previous)
    cov_rule, checks, results = Covenants(), [], None
    if any(v is not None for k, v in fac["covenants"].items()
           if k in ("min_coverage", "max_concentration_pct", "min_monthly_output")):
        ck = (fac["enterprise_id"], -1)  # the covenants' longer window, shared like the coverage's
        if ck not in cache:
            with rdb.read() as conn:
                cache[ck] = _covenant_inputs(conn, fac, as_of, categories)
        ri, basis = cache[ck]
        checks = cov_rule.check(ri, fac, a["coverage"])
        breaches = cov_rule.findings(ri, checks, fac["bank"], fac["facility_id"])
        found = found + breaches
        results = covenant_results(checks, breaches, as_of, basis)
    since = int(previous["since"]) if previous.get("level") == a["level"] and previous.get("since") else as_of
    with rdb.write() as conn:
        alerts = _store(conn, fac, a, found, since, getattr(rdb, "dialect", "sqlite") == "postgresql", results)
    return {"assessment": {**collateral_value.served(a), "since": since, "covenants": checks},
            "findings": [f.to_json() for f in found], "alerts": alerts}


def run_bank(rdb: Any, bank_id: str, as_of: int | None = None, enterprise_id: str | None = None) -> dict[str, Any]:
    """Assess every live facility of ``bank_id`` (of one enterprise, or all)."""
    as_of = int(time.time()) if as_of is None else int(as_of)
    with rdb.read() as conn:
        if conn.execute("SELECT 1 FROM banks WHERE id = ?", (bank_id,)).fetchone() is None:
            raise ReceiverError("unknown_bank", msg("no bank {bank}", bank=repr(bank_id)), 404, status="error")
        facs = facilities.list_for(conn, bank_id, enterprise_id)
    from cloud_stub import banks, portfolio

    served = {e["enterprise_id"]: e["categories"] for e in banks.bank_enterprises(rdb, bank_id)
              if not e.get("terminated")}
    portfolio.snapshot(rdb, bank_id)  # the portfolio's "changed since the last run" compares with this
    inputs: dict[tuple[str, int], Any] = {}
    out, skipped = [], []
    for f in facs:
        why = not_served(f, served.get(f["enterprise_id"]))
        if why is not None:  # the bank may not see the data the coverage is made of: nothing computed
            skipped.append({"facility_id": f["facility_id"], "enterprise_id": f["enterprise_id"], "reason": why})
            continue
        out.append(assess_facility(rdb, f, as_of, inputs, served.get(f["enterprise_id"])))
    return {"bank": bank_id, "as_of": as_of, "facilities": [o["assessment"] for o in out],
            "alerts": [a for o in out for a in o["alerts"]], "skipped": skipped,
            "findings": sum(len(o["findings"]) for o in out)}


def not_served(fac: dict[str, Any], categories: list[str] | None) -> Msg | None:
    """Why the bank may not be given this facility's coverage now, or None.

    Coverage is made of the enterprise's collateral indicators: a bank without a live grant (after the
    enterprise's signed consent) or without the category of a pledge's indicator (its name's prefix,
    ``collateral`` for ``collateral.weight_kg``) is not given it."""
    if categories is None:
        return msg("the enterprise does not serve this bank (no live grant its consent names the bank in)")
    if "*" in categories:
        return None
    missing = sorted({p["indicator"].split(".", 1)[0] for p in fac["pledges"]} - set(categories))
    return msg("the bank is not granted the categories {missing}", missing=missing) if missing else None


def latest(conn: Any, bank_id: str, enterprise_id: str | None = None) -> dict[str, dict[str, Any]]:
    """The stored assessment of each of the bank's facilities (by facility id)."""
    q, args = "SELECT facility_id, assessment FROM facility_coverage WHERE bank_id = ?", [bank_id]
    if enterprise_id is not None:
        q += " AND enterprise_id = ?"
        args.append(enterprise_id)
    return {r[0]: json.loads(r[1]) for r in conn.execute(q, args).fetchall()}
