"""``cloud coverage run``: assess every facility of a bank, store findings, alerts and the latest coverage.

Per live facility: the enterprise's verified collateral indicators (the signed batch bodies, as every rule
reads them), the bank's newest prices, the collateral_coverage rule (cloud_stub/rules/collateral_coverage.py).
Its findings are stored hash-chained like every finding (feed_chain.link); a yellow/orange/red one also
raises a ``margin_call`` alert (delivered by the alert outbox to the operator's channels and to this
bank's, never another bank's). The assessment itself is kept per facility (``facility_coverage``), what the
bank's facilities page and the portfolio serve.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cloud_stub import collateral_value, facilities, feed_chain, prices
from cloud_stub.db import iso, utc_now
from cloud_stub.errors import ReceiverError
from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rule_inputs import load_rule_inputs
from cloud_stub.rules.collateral_coverage import CollateralCoverage
from cloud_stub.rules.repay_covenants import Covenants
from gateway import wire

ALERT_LEVELS = ("yellow", "orange", "red")
COVENANT_DAYS = 70  # the last full month before as_of and the month before it (concentration's last month)


def _inputs(conn: Any, fac: dict[str, Any], as_of: int) -> Any:
    ent = fac["enterprise_id"]
    rid = conn.execute("SELECT coalesce(max(id), 0) FROM records WHERE enterprise_id = ?", (ent,)).fetchone()[0]
    hours = float(fac["covenants"].get("max_weight_age_hours") or 24.0)
    return load_rule_inputs(conn, ent, as_of - int(hours * 3600) - 86400, as_of, int(rid), 0)


def _store(conn: Any, fac: dict[str, Any], a: dict[str, Any], found: list[Any], since: int,
           row_locks: bool) -> list[dict[str, Any]]:
    ent, now = fac["enterprise_id"], iso(utc_now())
    if row_locks:  # findings and alerts are chained per enterprise: the lock ingest and analysis take
        conn.execute("SELECT id FROM enterprises WHERE id = ? FOR NO KEY UPDATE", (ent,))
    alerts: list[dict[str, Any]] = []
    for f in found:
        d = {**f.to_json(), "dedupe": f.dedupe}
        text = wire.canonical_json(d).decode()
        dd = f"{ent}/{f.dedupe}"
        if conn.execute("SELECT 1 FROM findings WHERE dedupe = ?", (dd,)).fetchone():
            continue  # the same level since the same run: raised once
        item = {"kind": f.rule, "severity": f.severity, "enterprise_id": ent, "gateway_id": None, "created": now,
                "rule_version": f.version, "subscore": f.subscore, "window_start": f.window_start,
                "window_end": f.window_end}
        prev, h = feed_chain.link(conn, "finding", item, json.loads(text))
        conn.execute(
            "INSERT INTO findings (kind, severity, enterprise_id, gateway_id, detail, created, dedupe, rule_version,"
            " subscore, window_start, window_end, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (f.rule, f.severity, ent, None, text, now, dd, f.version, f.subscore, f.window_start, f.window_end,
             prev, h))
        if f.severity not in ALERT_LEVELS or f.rule != CollateralCoverage.id:
            continue  # covenant breaches are findings only (no margin-call alert)
        shown = f.extra["assessment"]
        detail = {"bank": fac["bank"], "facility_id": fac["facility_id"], "finding": f.dedupe, "rule": f.rule,
                  "subscore": f.subscore, "message": f.message, "coverage": shown["coverage"],
                  "value_range": shown["value_range"], "outstanding": a["outstanding"], "currency": a["currency"],
                  "thresholds": a["thresholds"], "window": {"start": f.window_start, "end": f.window_end}}
        atext = wire.canonical_json(detail).decode()
        aprev, ah = feed_chain.link(conn, "alert", {"enterprise_id": ent, "kind": "margin_call", "level": f.severity,
                                                    "created": now}, json.loads(atext))
        cur = conn.execute(
            "INSERT INTO alerts (enterprise_id, kind, level, detail, created, dedupe, prev, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            (ent, "margin_call", f.severity, atext, now, f"{ent}/margin_call/{f.dedupe}", aprev, ah)).fetchone()
        if cur is not None:
            alerts.append({"id": cur[0], "kind": "margin_call", "level": f.severity, "detail": detail})
    shown = {**collateral_value.served(a), "since": since}
    conn.execute(
        "INSERT INTO facility_coverage (bank_id, facility_id, enterprise_id, as_of, level, assessment, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bank_id, facility_id) DO UPDATE SET enterprise_id ="
        " excluded.enterprise_id, as_of = excluded.as_of, level = excluded.level, assessment = excluded.assessment,"
        " created = excluded.created",
        (fac["bank"], fac["facility_id"], ent, a["as_of"], a["level"], wire.canonical_json(shown).decode(), now))
    return alerts


def _covenant_inputs(conn: Any, fac: dict[str, Any], as_of: int, categories: list[str] | None) -> RepaymentInputs:
    """The enterprise's verified MES/ERP indicators the bank is granted, over the covenants' months."""
    ent = fac["enterprise_id"]
    rid = conn.execute("SELECT coalesce(max(id), 0) FROM records WHERE enterprise_id = ?", (ent,)).fetchone()[0]
    cats = None if categories is None or "*" in categories else categories
    ev = load_rule_inputs(conn, ent, as_of - COVENANT_DAYS * 86400, as_of, int(rid), 0, categories=cats)
    return RepaymentInputs(ev, as_of)


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
    cov_rule, checks = Covenants(), []
    if any(v is not None for k, v in fac["covenants"].items()
           if k in ("min_coverage", "max_concentration_pct", "min_monthly_output")):
        ck = (fac["enterprise_id"], -1)  # the covenants' longer window, shared like the coverage's
        if ck not in cache:
            with rdb.read() as conn:
                cache[ck] = _covenant_inputs(conn, fac, as_of, categories)
        ri = cache[ck]
        checks = cov_rule.check(ri, fac, a["coverage"])
        found = found + cov_rule.findings(ri, checks, fac["bank"], fac["facility_id"])
    since = int(previous["since"]) if previous.get("level") == a["level"] and previous.get("since") else as_of
    with rdb.write() as conn:
        alerts = _store(conn, fac, a, found, since, getattr(rdb, "dialect", "sqlite") == "postgresql")
    return {"assessment": {**collateral_value.served(a), "since": since, "covenants": checks},
            "findings": [f.to_json() for f in found], "alerts": alerts}


def run_bank(rdb: Any, bank_id: str, as_of: int | None = None, enterprise_id: str | None = None) -> dict[str, Any]:
    """Assess every live facility of ``bank_id`` (of one enterprise, or all)."""
    as_of = int(time.time()) if as_of is None else int(as_of)
    with rdb.read() as conn:
        if conn.execute("SELECT 1 FROM banks WHERE id = ?", (bank_id,)).fetchone() is None:
            raise ReceiverError("unknown_bank", f"no bank {bank_id!r}", 404, status="error")
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


def not_served(fac: dict[str, Any], categories: list[str] | None) -> str | None:
    """Why the bank may not be given this facility's coverage now, or None.

    Coverage is made of the enterprise's collateral indicators: a bank without a live grant (after the
    enterprise's signed consent) or without the category of a pledge's indicator (its name's prefix,
    ``collateral`` for ``collateral.weight_kg``) is not given it."""
    if categories is None:
        return "the enterprise does not serve this bank (no live grant its consent names the bank in)"
    if "*" in categories:
        return None
    missing = sorted({p["indicator"].split(".", 1)[0] for p in fac["pledges"]} - set(categories))
    return f"the bank is not granted the categories {missing}" if missing else None


def latest(conn: Any, bank_id: str, enterprise_id: str | None = None) -> dict[str, dict[str, Any]]:
    """The stored assessment of each of the bank's facilities (by facility id)."""
    q, args = "SELECT facility_id, assessment FROM facility_coverage WHERE bank_id = ?", [bank_id]
    if enterprise_id is not None:
        q += " AND enterprise_id = ?"
        args.append(enterprise_id)
    return {r[0]: json.loads(r[1]) for r in conn.execute(q, args).fetchall()}
