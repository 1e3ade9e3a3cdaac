"""Repayment capacity: repayment rules -> findings -> a 0-100 score, grade, level, reasons, coverage.

Pure function of (rule inputs, outside records, as_of, rule versions, table), like the
authenticity scorecard, so ``cloud rescore`` and ``feed rescore`` reproduce it bit for bit.
It never reads or changes the authenticity score: the report carries both side by side.

* Each finding costs its severity's points; one rule at most ``rule_cap``;
  ``score = max(0, 100 - sum)``, rounded to 2 decimals; grade by the table's bands.
* A rule whose inputs are absent is *not observed*: it costs nothing and lowers the coverage.
  With no rule observed the assessment is ``not_assessed`` (score null); with fewer than
  ``min_share`` of the indicator rules observed the grade is ``insufficient_data``.
* Level: from the grade, raised (never lowered) by the worst finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cloud_stub.errors import ReceiverError
from cloud_stub.repayment import forecast, orders
from cloud_stub.repayment.config import BUCKETS, RepaymentConfig
from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules.base import Finding, Rule
from cloud_stub.scoring.config import GRADES, LEVELS
from cloud_stub.texts import msg

NOT_ASSESSED = "not_assessed"
INSUFFICIENT = "insufficient_data"
MAX_REASONS = 5
PRODUCTION, SALES = "mes.good_qty", "erp.shipped_qty"
AGEING, OPEN_BY_STAGE = "erp.receivables_ageing_amount", "erp.orders_open_by_stage"


class RepaymentError(ReceiverError):
    """A repayment rule failed or returned a malformed finding; nothing was stored."""


@dataclass(frozen=True)
class RepaymentContext:
    """What an assessment needs besides the rule inputs: table, rule classes, outside records."""

    cfg: RepaymentConfig
    rules: Mapping[str, type[Rule]]
    outside: list[dict[str, Any]] = field(default_factory=list)
    max_outside_id: int = 0


def _r(x: float, nd: int = 2) -> float | None:
    return round(float(x), nd) if np.isfinite(x) else None


def _observed(rule: Any, ri: RepaymentInputs) -> bool:
    kinds = [n.split(":", 1)[1] for n in rule.needs if n.startswith("outside:")]
    if kinds:
        return any(ri.outside_of(k) for k in kinds)
    return bool(rule.observed(ri))


def run_repayment_rules(ri: RepaymentInputs, rules: Mapping[str, type[Rule]]) -> tuple[list[Finding], dict[str, bool]]:
    out: list[Finding] = []
    observed: dict[str, bool] = {}
    for rid in sorted(rules):
        cls = rules[rid]
        rule = cls()
        try:
            seen = _observed(rule, ri)
            found = rule.evaluate(ri, dict(cls.defaults)) if seen else []
        except Exception as exc:
            raise RepaymentError("rule_failed", msg("repayment rule {rule} v{version} failed on {enterprise}: "
                                                    "{kind}: {error}", rule=rid, version=cls.version,
                                                    enterprise=ri.ev.enterprise_id, kind=type(exc).__name__,
                                                    error=exc), 500) from exc
        for f in found:
            if f.rule != rid or f.version != cls.version:
                raise RepaymentError("rule_failed", msg("repayment rule {rule} returned a finding labelled {label}",
                                                        rule=rid, label=f.rule), 500)
        observed[rid] = seen
        out.extend(found)
    return sorted(out, key=lambda f: f.dedupe), observed


def _grade(cfg: RepaymentConfig, score: float) -> str:
    for g in GRADES:
        if score >= cfg.grades[g]:
            return g
    return "E"


def _raise(level: str, to: str) -> str:
    return to if LEVELS.index(to) > LEVELS.index(level) else level


def _forecasts(ri: RepaymentInputs, cfg: RepaymentConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for what, name, unit in (("production", PRODUCTION, "units (MES good quantity)"),
                             ("sales", SALES, "units shipped (ERP)")):
        if not ri.has(name):
            out[what] = {"assessed": False, "reason": f"no {name} records"}
            continue
        got = forecast.forecast(ri.daily(name), cfg.horizons, cfg.forecast_level, cfg.forecast_calibration)
        out[what] = {**got, "indicator": name, "unit": unit}
    return out


def _latest_all(ri: RepaymentInputs, name: str, subjects: list[str]) -> tuple[int, dict[str, float]] | None:
    per = {s: ri.daily(name, s) for s in subjects}
    seen = np.all([np.isfinite(v) for v in per.values()], axis=0)
    idx = np.flatnonzero(seen)
    if len(idx) == 0:
        return None
    i = int(idx[-1])
    return int(ri.day_starts()[i]), {s: float(v[i]) for s, v in per.items()}


def _cash_flow(ri: RepaymentInputs, cfg: RepaymentConfig) -> dict[str, Any]:
    got = _latest_all(ri, AGEING, [f"ageing:{b}" for b in BUCKETS])
    if got is None:
        return {"assessed": False, "reason": f"no day with every {AGEING} bucket observed"}
    day, amounts = got
    by = {b: amounts[f"ageing:{b}"] for b in BUCKETS}
    out: dict[str, Any] = {"assessed": True, "as_of_day": day, "open_by_bucket": {b: _r(v) for b, v in by.items()},
                           "basis": "open receivables per ageing bucket (lower bounds of their privacy ranges) x "
                                    "the table's collection shares"}
    for h, shares in sorted(cfg.collect.items()):
        out[f"inflow_next_{h}d"] = _r(sum(by[b] * shares[b] for b in BUCKETS))
    return out


def _open_orders(ri: RepaymentInputs, cfg: RepaymentConfig, forecasts: Mapping[str, Any]) -> dict[str, Any]:
    if cfg.orders_horizon is not None:  # repayment-v2 on: against due dates (cloud_stub/repayment/orders.py)
        got = orders.open_orders(ri, forecasts.get("production") or {}, cfg.orders_horizon)
        pipeline = _pipeline(ri)
        return {**got, **pipeline}
    # repayment-v1 (its reports rescore as they were made): no due dates reached the receiver then.
    out: dict[str, Any] = {"assessed": False,
                           "reason": "progress against due dates needs each open order's due date, which no ERP "
                                     "indicator carries to the receiver (erp.orders_open_by_stage counts open orders "
                                     "by stage only)"}
    return {**out, **_pipeline(ri)}


def _pipeline(ri: RepaymentInputs) -> dict[str, Any]:
    """The open pipeline by stage on the latest day it was observed (erp.orders_open_by_stage)."""
    out: dict[str, Any] = {}
    subjects = sorted(s for s in ri.ev.subjects(OPEN_BY_STAGE))
    if subjects:
        per = {s: ri.daily(OPEN_BY_STAGE, s) for s in subjects}
        idx = np.flatnonzero(np.any([np.isfinite(v) for v in per.values()], axis=0))
        if len(idx):
            i = int(idx[-1])
            out["pipeline_by_stage"] = {s.split(":", 1)[1]: _r(v[i]) for s, v in per.items()}
            out["pipeline_day"] = int(ri.day_starts()[i])
    return out


def assess(ev: RuleInputs, ctx: RepaymentContext, as_of: int) -> dict[str, Any]:
    """The ``repayment`` key of a score report (docs/scoring.md, "Repayment capacity")."""
    cfg = ctx.cfg
    ri = RepaymentInputs(ev, as_of, list(ctx.outside))
    findings, observed = run_repayment_rules(ri, ctx.rules)
    lost: dict[str, float] = {}
    for f in findings:
        lost[f.rule] = lost.get(f.rule, 0.0) + cfg.points[f.severity]
    lost = {k: min(cfg.rule_cap, v) for k, v in lost.items()}
    indicator_rules = [rid for rid in ctx.rules if not any(n.startswith("outside:") for n in ctx.rules[rid].needs)]
    ind_seen = sum(1 for rid in indicator_rules if observed[rid])
    share = ind_seen / len(indicator_rules) if indicator_rules else 0.0
    coverage = {"rules": len(ctx.rules), "observed": sum(observed.values()),
                "indicator_rules": len(indicator_rules), "indicator_rules_observed": ind_seen,
                "indicator_share": _r(share, 4), "min_share": cfg.min_share,
                "not_observed": sorted(rid for rid, seen in observed.items() if not seen),
                "outside_records": len(ctx.outside)}
    out: dict[str, Any] = {"version": cfg.version, "config_sha256": cfg.sha256,
                           "rules": {rid: ctx.rules[rid].version for rid in sorted(ctx.rules)},
                           "observed": dict(sorted(observed.items())), "coverage": coverage}
    # Repayment capacity stands on the enterprise's ERP figures or outside records: MES output alone
    # (a forecast) is not an assessment of whether it can repay.
    has_erp = any(name.startswith("erp.") and ri.has(name) for name in ev.names())
    if not any(observed.values()) or not (has_erp or ctx.outside):
        out.update(status=NOT_ASSESSED, score=None, grade=NOT_ASSESSED, score_grade=None, level=None,
                   level_because=["no repayment rule had its inputs (no ERP receivables/orders, no outside data)"],
                   reasons=[])
    else:
        score = _r(max(0.0, 100.0 - sum(lost.values())))
        grade = _grade(cfg, float(score or 0.0))
        level = cfg.level_by_grade[grade]
        why = [f"grade {grade}: {level}"]
        for sev, to in (("red", cfg.red_any), ("orange", cfg.orange_any)):
            if any(f.severity == sev for f in findings) and _raise(level, to) != level:
                level = _raise(level, to)
                why.append(f"{sev} finding")
        insufficient = share < cfg.min_share
        if insufficient and _raise(level, "yellow") != level:
            level = "yellow"
            why.append("insufficient data")
        out.update(status="assessed", score=score, grade=INSUFFICIENT if insufficient else grade, score_grade=grade,
                   level=level, level_because=why, reasons=_reasons(cfg, findings, lost, insufficient, share))
    fcs = _forecasts(ri, cfg)
    out.update(findings=[{**f.to_json(), "dedupe": f.dedupe} for f in findings],
               forecasts=fcs, cash_flow=_cash_flow(ri, cfg), open_orders=_open_orders(ri, cfg, fcs),
               basis={"max_outside_id": ctx.max_outside_id, "outside": list(ctx.outside)})
    return out


def _reasons(cfg: RepaymentConfig, findings: list[Finding], lost: Mapping[str, float], insufficient: bool,
             share: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if insufficient:
        out.append({"code": "RC00", "text": f"Only {share:.0%} of the indicator rules had their inputs "
                    f"(need {cfg.min_share:.0%}): not enough ERP data to grade", "points_lost": 0.0, "rule": None,
                    "findings": [], "messages": []})
    for rid in sorted(lost, key=lambda k: (-lost[k], k)):
        if lost[rid] <= 0:
            continue
        mine = sorted((f for f in findings if f.rule == rid), key=lambda f: (-LEVELS.index(_lvl(f.severity)), f.dedupe))
        code, text = cfg.reasons.get(rid, ("RC99", "Other repayment findings"))
        out.append({"code": code, "text": text, "rule": rid, "points_lost": _r(lost[rid]),
                    "severity": mine[0].severity, "findings": [f.dedupe for f in mine],
                    "messages": [f.message for f in mine], "numbers": dict(mine[0].statistic)})
    return out[:MAX_REASONS]


def _lvl(severity: str) -> str:
    return "green" if severity == "info" else severity
