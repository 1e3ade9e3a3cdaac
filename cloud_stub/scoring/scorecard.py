"""The scorecard: findings in, points, grade, warning level and reason codes out.

Pure arithmetic on findings and a validated table, nothing else: no database, no clock,
so the same findings and the same table always give the same card (the basis of
reproducibility). Every point lost is attributed to a sub-score, a rule and the findings
that caused it, which is what lets a credit analyst explain the score to the borrower.

The arithmetic (docs/scoring.md has a worked example):

* each finding costs ``w_severity * w_subscore * w_rule * persistence`` log-odds;
* one rule's findings cost at most its cap (``penalties.rule_cap`` or ``rule_caps.<id>``);
* one sub-score costs at most its cap; when the cap binds, its rules' losses are scaled
  down in proportion, so the attribution still adds up;
* ``score = offset + factor * (ln(clean_odds) - sum of sub-score losses)``, and a sub-score
  shows ``points = max - lost`` out of ``max = factor * cap``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cloud_stub.rules.base import SUBSCORES, Finding
from cloud_stub.scoring.config import GRADES, LEVELS, ScoringConfig

DAY = 86400
INSUFFICIENT = "insufficient_data"
MAX_REASONS = 4


@dataclass(frozen=True)
class Sufficiency:
    """How much evidence the score stands on; too little and the grade says so."""

    days_with_data: int
    indicator_records: int
    source_families: tuple[str, ...]
    # Days between the end of the last indicator window and the end of the period (None: no data).
    days_since_data: float | None = None

    def problems(self, cfg: ScoringConfig) -> list[str]:
        out = []
        if self.days_with_data < cfg.min_days_with_data:
            out.append(f"{self.days_with_data} days with indicator data, need {cfg.min_days_with_data}")
        if self.indicator_records < cfg.min_indicator_records:
            out.append(f"{self.indicator_records} indicator records, need {cfg.min_indicator_records}")
        if len(self.source_families) < cfg.min_source_families:
            out.append(f"{len(self.source_families)} source families ({', '.join(self.source_families) or 'none'})"
                       f", need {cfg.min_source_families} to cross-check")
        if self.days_since_data is not None and self.days_since_data > cfg.max_days_since_data:
            out.append(f"last indicator data {self.days_since_data:.1f} days before the end of the period, "
                       f"at most {cfg.max_days_since_data:g}")
        return out


@dataclass
class _RuleLoss:
    rule: str
    subscore: str
    raw: float = 0.0  # sum over findings before caps
    findings: list[tuple[float, Finding]] = field(default_factory=list)
    capped_at: float | None = None
    lost: float = 0.0  # log-odds after the rule cap and the sub-score scaling


def finding_penalty(cfg: ScoringConfig, f: Finding) -> float:
    """Log-odds one finding costs before caps: severity x sub-score x rule weight x persistence."""
    days = max(0.0, (f.window_end - f.window_start) / DAY)
    persistence = min(cfg.persistence_max, 1.0 + cfg.persistence_per_day * max(0.0, days - 1.0))
    return (cfg.severity_weight[f.severity] * cfg.subscore_weight[f.subscore] * cfg.rule_weights.get(f.rule, 1.0)
            * persistence)


def _r(x: float) -> float:
    """Rounded for the report: enough digits to redo the sums, stable across platforms."""
    return round(x, 4)


def score_card(cfg: ScoringConfig, findings: Sequence[Finding], sufficiency: Sufficiency,
               equivocations: int = 0) -> dict[str, Any]:
    """The card for one enterprise: score, grade, warning level, sub-scores, reasons.

    ``equivocations`` counts chain findings where a gateway signed two different batches
    with one seq; they are not rule findings but no lender should see green after one.
    """
    # One group per (rule, sub-score): a rule may report in two sub-scores (a stoppage is
    # operating stability, output claimed during it is production authenticity).
    by_rule: dict[tuple[str, str], _RuleLoss] = {}
    for f in sorted(findings, key=lambda x: x.dedupe):
        loss = by_rule.setdefault((f.rule, f.subscore), _RuleLoss(f.rule, f.subscore))
        p = finding_penalty(cfg, f)
        loss.raw += p
        loss.findings.append((p, f))
    # The rule cap applies to the rule as a whole, shared in proportion by its groups.
    rule_raw: dict[str, float] = {}
    for loss in by_rule.values():
        rule_raw[loss.rule] = rule_raw.get(loss.rule, 0.0) + loss.raw
    for loss in by_rule.values():
        cap, raw = cfg.rule_caps.get(loss.rule, cfg.rule_cap), rule_raw[loss.rule]
        loss.lost = loss.raw * (cap / raw if raw > cap else 1.0)
        loss.capped_at = cap if raw > cap else None

    factor = cfg.factor
    subscores: dict[str, Any] = {}
    total_lost = 0.0
    for name in SUBSCORES:
        rules = [r for r in by_rule.values() if r.subscore == name]
        before = float(sum(r.lost for r in rules))
        cap = cfg.subscore_cap[name]
        lost = min(before, cap)
        if before > 0:
            for r in rules:
                r.lost *= lost / before
        total_lost += lost
        subscores[name] = {
            "points": _r(factor * (cap - lost)), "max": _r(factor * cap), "points_lost": _r(factor * lost),
            "log_odds_lost": _r(lost), "capped": before > cap,
            "findings": sorted(f.dedupe for r in rules for _, f in r.findings),
            "rules": {r.rule: {"findings": len(r.findings), "log_odds_raw": _r(r.raw),
                               "rule_cap": cfg.rule_caps.get(r.rule, cfg.rule_cap),
                               "rule_capped": r.capped_at is not None, "points_lost": _r(factor * r.lost)}
                      for r in sorted(rules, key=lambda x: x.rule)},
        }

    log_odds = math.log(cfg.clean_odds) - total_lost
    score = _r(cfg.points(log_odds))
    problems = sufficiency.problems(cfg)
    grade = _grade(cfg, score)
    level, why = _warning(cfg, grade, findings, equivocations, bool(problems))
    return {
        "score": score,
        "grade": INSUFFICIENT if problems else grade,
        "score_grade": grade,
        "warning_level": level,
        "warning_because": why,
        "odds": _r(math.exp(log_odds)),
        "scale": {"base_score": cfg.base_score, "base_odds": cfg.base_odds, "pdo": cfg.pdo,
                  "factor": _r(factor), "offset": _r(cfg.offset), "clean_odds": cfg.clean_odds,
                  "max_score": _r(cfg.points(math.log(cfg.clean_odds)))},
        "subscores": subscores,
        "reasons": _reasons(cfg, by_rule, problems, factor),
        "sufficiency": {"ok": not problems, "problems": problems, "days_with_data": sufficiency.days_with_data,
                        "indicator_records": sufficiency.indicator_records,
                        "source_families": list(sufficiency.source_families),
                        "days_since_data": sufficiency.days_since_data},
    }


def _grade(cfg: ScoringConfig, score: float) -> str:
    for g in GRADES:
        if score >= cfg.grades[g]:
            return g
    return "E"


def _worse(a: str, b: str) -> str:
    return a if LEVELS.index(a) >= LEVELS.index(b) else b


def _warning(cfg: ScoringConfig, grade: str, findings: Sequence[Finding], equivocations: int,
             insufficient: bool) -> tuple[str, list[str]]:
    """The level from the grade, raised (never lowered) by what the findings say; and why."""
    level = cfg.warning_by_grade[grade]
    why = [f"grade {grade}: {level}"]

    def raise_to(lvl: str, because: str) -> None:
        nonlocal level
        if LEVELS.index(lvl) > LEVELS.index(level):
            level = lvl
            why.append(because)

    reds = sorted({f.subscore for f in findings if f.severity == "red"})
    for sub in reds:
        if sub in cfg.red_floor_subscores:
            raise_to("red", f"red finding in {sub}")
        else:
            raise_to(cfg.red_elsewhere, f"red finding in {sub}")
    if any(f.severity == "orange" for f in findings):
        raise_to(cfg.orange_any, "orange finding")
    if equivocations:
        raise_to(cfg.equivocation_level, f"{equivocations} equivocation(s) in the gateway chain")
    if insufficient:
        raise_to(cfg.insufficient_level, "insufficient data")
    return level, why


def _reasons(cfg: ScoringConfig, by_rule: dict[tuple[str, str], _RuleLoss], problems: list[str],
             factor: float) -> list[dict[str, Any]]:
    """Up to four reason codes, most points lost first, each with the findings behind it.

    Rules sharing a code (the sub-score catch-alls) are merged under it, and so are a rule's
    findings in two sub-scores (one code per rule). Insufficient data,
    when it applies, is always the first reason (DS01): it qualifies everything else.
    """
    merged: dict[str, dict[str, Any]] = {}
    for r in by_rule.values():
        if r.lost <= 0:
            continue
        reason = cfg.reason_for(r.rule, r.subscore)
        entry = merged.setdefault(reason.code, {"code": reason.code, "text": reason.text, "points_lost": 0.0,
                                                "subscores": set(), "rules": set(), "findings": []})
        entry["points_lost"] += factor * r.lost
        entry["subscores"].add(r.subscore)
        entry["rules"].add(r.rule)
        ranked = sorted(r.findings, key=lambda pf: (-pf[0], pf[1].dedupe))
        entry["findings"].extend(f.dedupe for p, f in ranked if p > 0)
    ordered = sorted(merged.values(), key=lambda e: (-e["points_lost"], e["code"]))
    out = []
    if problems:
        out.append({"code": "DS01", "text": "Insufficient data to grade: " + "; ".join(problems),
                    "points_lost": 0.0, "subscores": [], "rules": [], "findings": []})
    for e in ordered[: MAX_REASONS - len(out)]:
        e["points_lost"] = _r(e["points_lost"])
        e["rules"] = sorted(e["rules"])
        e["subscores"] = sorted(e["subscores"])
        out.append(e)
    return out
