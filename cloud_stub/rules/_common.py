"""What several rules share: camera roles, severity grading, day labels and the claims-vs-evidence bias.

Not a rule module (the leading underscore keeps :func:`cloud_stub.rules.all_rules` from
treating it as one).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from cloud_stub import stats
from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules.base import Finding

ORDER = ("info", "yellow", "orange", "red")
# vision.units_out subjects counting goods leaving the site (dispatch door, warehouse gate);
# every other units_out subject counts a production line.
DISPATCH_PATTERNS = ("*dispatch*", "*warehouse*", "*shipping*", "*door*")
# A computed excess this large stands for "claims with no evidence at all" (evidence 0).
NO_EVIDENCE_EXCESS = 10.0


def is_dispatch(subject: str, patterns: Sequence[str] = DISPATCH_PATTERNS,
                roles: Mapping[str, str] | None = None) -> bool:
    """Whether a camera subject counts goods leaving the site: the role the gateway's profile
    declared (``params.role``) when there is one, else its name matched against ``patterns``."""
    if roles and subject in roles:
        return roles[subject] == "dispatch"
    return any(fnmatch.fnmatchcase(subject, p) for p in patterns)


def level(x: float, yellow: float, orange: float, red: float) -> str | None:
    """The severity whose threshold ``x`` reaches (thresholds ascending); None below yellow."""
    if not np.isfinite(x) or x < yellow:
        return None
    return "red" if x >= red else "orange" if x >= orange else "yellow"


def worst(*sevs: str | None) -> str | None:
    got = [s for s in sevs if s is not None]
    return max(got, key=ORDER.index) if got else None


def step(sev: str | None, by: int) -> str | None:
    """Move a severity up (+) or down (-) by ``by`` steps, never below yellow nor above red."""
    if sev is None:
        return None
    return ORDER[min(3, max(1, ORDER.index(sev) + by))]


def day_label(start: int, length: int = 86400) -> str:
    """A local day window as its date: the UTC date of the window's midpoint (local noon),
    which is the local date for sites within about +-11 h of UTC."""
    return datetime.fromtimestamp(int(start) + int(length) // 2, UTC).strftime("%Y-%m-%d")


def r(x: float, nd: int = 4) -> float | None:
    """A number for a finding: rounded, JSON-safe (NaN/inf become None)."""
    return round(float(x), nd) if np.isfinite(x) else None


@dataclass(frozen=True)
class Bias:
    """Claims vs physical evidence per day, against the enterprise's own early ratio.

    ``ratio`` is the expected claims/evidence ratio (median of the first baseline days,
    clipped to the plausible range the rule allows); ``excess`` per comparable day is
    claims / (ratio x evidence) - 1. ``cum_excess`` is over all comparable days,
    ``roll_excess`` over the worst ``window`` consecutive comparable days.
    """

    idx: np.ndarray  # day indices (into the evidence's day windows) compared
    claims: np.ndarray
    evidence: np.ndarray
    excess: np.ndarray
    ratio: float
    ratio_raw: float
    baseline_days: int
    cum_excess: float
    roll_excess: float
    roll_first: int  # position in idx
    roll_last: int
    days_over: int
    longest_run: int
    no_evidence_days: int
    day_tolerance: float


def bias(claims: np.ndarray, evidence: np.ndarray, coverage: np.ndarray | None, p: Mapping[str, Any]) -> Bias | None:
    """The bias of ``claims`` over ``evidence`` (aligned daily arrays); None with too few days.

    Parameters used: min_coverage, baseline_days, min_baseline_days, ratio_min, ratio_max,
    window, day_tolerance, min_units, material_share (day-level statistics only count days
    whose claims or expected claims reach this share of the typical day).
    """
    cov = np.ones(len(claims)) if coverage is None else coverage
    comparable = (np.isfinite(claims) & np.isfinite(evidence) & (cov >= p["min_coverage"])
                  & ((claims > 0) | (evidence > 0)) & (np.maximum(claims, evidence) >= p["min_units"]))
    idx = np.flatnonzero(comparable)
    if idx.size < p["min_baseline_days"]:
        return None
    c, e = claims[idx], evidence[idx]
    base = idx[: p["baseline_days"]]
    b = stats.ratio_baseline(claims[base], evidence[base], min_den=0.0)
    if b.n < p["min_baseline_days"]:
        return None
    lo, hi = p["ratio_min"], p["ratio_max"]
    ratio = float(np.clip(b.ratio, lo if lo is not None else -np.inf, hi if hi is not None else np.inf))
    expected = ratio * e
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(expected > 0, c / expected - 1.0, np.where(c > 0, NO_EVIDENCE_EXCESS, 0.0))
    cum = float(c.sum() / expected.sum() - 1.0) if expected.sum() > 0 else NO_EVIDENCE_EXCESS
    w = min(int(p["window"]), idx.size)
    rc, re = stats.rolling_sum(c, w), stats.rolling_sum(expected, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        roll = np.where(re > 0, rc / re - 1.0, np.where(rc > 0, NO_EVIDENCE_EXCESS, 0.0))
    at = int(np.argmax(roll)) if roll.size else 0
    # Day-level statistics only on material days: a few units booked on an idle Saturday
    # (yesterday's output booked late) is bookkeeping, and the sums above already absorb it.
    typical = stats.median(c[c > 0]) if (c > 0).any() else 0.0
    material = np.maximum(c, expected) >= p.get("material_share", 0.25) * typical
    excess = np.where(material, excess, 0.0)
    over = excess > p["day_tolerance"]
    run = longest = 0
    for o in over:
        run = run + 1 if o else 0
        longest = max(longest, run)
    return Bias(idx, c, e, excess, ratio, b.ratio, b.n, cum, float(roll[at]) if roll.size else 0.0, at,
                at + w - 1, int(over.sum()), longest, int((material & (e <= 0) & (c > 0)).sum()),
                float(p["day_tolerance"]))


def bias_severity(b: Bias, p: Mapping[str, Any]) -> tuple[str | None, str]:
    """Severity from the cumulative excess, or from the worst window one step lower unless the
    excess persisted (``persist_days`` days over in a row); returns (severity, what drove it)."""
    cum = level(b.cum_excess, p["excess_yellow"], p["excess_orange"], p["excess_red"])
    roll = level(b.roll_excess, p["excess_yellow"], p["excess_orange"], p["excess_red"])
    if roll is not None and b.longest_run < p["persist_days"]:
        roll = step(roll, -1)
    sev = worst(cum, roll)
    driver = "cumulative" if sev is not None and sev == cum else "window"
    return sev, driver


BIAS_DEFAULTS: dict[str, Any] = {
    "min_coverage": 0.9, "baseline_days": 10, "min_baseline_days": 5, "window": 7, "day_tolerance": 0.10,
    "min_units": 50.0, "material_share": 0.25, "excess_yellow": 0.05, "excess_orange": 0.10, "excess_red": 0.20,
    "persist_days": 5,
}


def bias_numbers(ev: RuleInputs, b: Bias) -> dict[str, Any]:
    """The numbers a bias finding reports (cumulative, worst window, worst day)."""
    starts, lens = ev.day_windows()
    days = b.idx
    worst_i = int(np.argmax(b.excess))
    return {
        "days_compared": int(days.size),
        "claims_total": r(b.claims.sum(), 2), "evidence_total": r(b.evidence.sum(), 2),
        "expected_claims_total": r(b.ratio * b.evidence.sum(), 2),
        "window": {"first_day": day_label(starts[days[b.roll_first]]),
                   "last_day": day_label(starts[days[b.roll_last]]),
                   "claims": r(b.claims[b.roll_first:b.roll_last + 1].sum(), 2),
                   "evidence": r(b.evidence[b.roll_first:b.roll_last + 1].sum(), 2)},
        "worst_day": {"day": day_label(starts[days[worst_i]]), "claims": r(b.claims[worst_i], 2),
                      "evidence": r(b.evidence[worst_i], 2), "excess_pct": r(100 * b.excess[worst_i], 2)},
        "days_over_tolerance": b.days_over, "longest_run_days": b.longest_run,
        "days_claims_without_evidence": b.no_evidence_days,
        "period": {"start": int(starts[days[0]]), "end": int(starts[days[-1]] + lens[days[-1]])},
        "episode": episode(ev, b),
    }


def episode(ev: RuleInputs, b: Bias) -> dict[str, int]:
    """The span a bias finding is about (its window): from the first material day over the
    day tolerance to the last one, widened to cover the worst window."""
    starts, lens = ev.day_windows()
    first, last = b.roll_first, b.roll_last
    over = np.flatnonzero(b.excess > b.day_tolerance)
    if over.size:
        first, last = min(first, int(over[0])), max(last, int(over[-1]))
    i, j = int(b.idx[first]), int(b.idx[last])
    return {"start": int(starts[i]), "end": int(starts[j] + lens[j])}


def bias_finding(rule: Any, ev: RuleInputs, b: Bias, p: Mapping[str, Any], sev: str, driver: str,
                 indicators: tuple[str, ...], message: str, baseline_kind: str, *,
                 key: str = "claims_exceed_evidence", direction: str = "claims_exceed_evidence",
                 nums: dict[str, Any] | None = None) -> Finding:
    """The one shape of a claims-vs-evidence finding, so every such rule reports the same
    numbers, statistic, thresholds and baseline a reader can redo by hand."""
    nums = bias_numbers(ev, b) if nums is None else nums
    per = nums["episode"]
    baseline: dict[str, Any] = {"kind": baseline_kind, "ratio": r(b.ratio), "ratio_unclipped": r(b.ratio_raw),
                                "days": b.baseline_days}
    if p.get("ratio_min") is not None or p.get("ratio_max") is not None:
        baseline["clip"] = [p.get("ratio_min"), p.get("ratio_max")]
    return Finding(
        rule.id, rule.version, sev, rule.subscore, f"{key}:{per['start']}", per["start"], per["end"], indicators,
        nums,
        {"cumulative_excess_pct": r(100 * b.cum_excess, 2), "window_excess_pct": r(100 * b.roll_excess, 2),
         "window_days": int(p["window"]), "driver": driver},
        {"excess_pct": {"yellow": 100 * p["excess_yellow"], "orange": 100 * p["excess_orange"],
                        "red": 100 * p["excess_red"]},
         "day_tolerance_pct": 100 * p["day_tolerance"], "persist_days": p["persist_days"],
         "min_coverage": p["min_coverage"]},
        direction, message, baseline,
    )


def graded_bias(ev: RuleInputs, claims: np.ndarray, evidence: np.ndarray, coverage: np.ndarray | None,
                p: Mapping[str, Any]) -> tuple[Bias, str, str, dict[str, Any]] | None:
    """Bias, severity, what drove it and the reported numbers; None when too few days compare
    or the claims stay within the thresholds (the common path of claims-vs-evidence rules)."""
    b = bias(claims, evidence, coverage, p)
    if b is None:
        return None
    sev, driver = bias_severity(b, p)
    if sev is None:
        return None
    return b, sev, driver, bias_numbers(ev, b)


# --- weight of evidence (bias rules from mes_vs_camera v3, shipments_vs_outcounts v3) -------------------------

WEIGHT_DEFAULTS: dict[str, Any] = {"recur_days": 3, "recur_span_days": 3, "recur_window_days": 28}


@dataclass(frozen=True)
class Recurrence:
    """Days over the day tolerance that keep coming back, and the excess since the first of them.

    ``first`` is a position in the bias's ``idx``; ``since_excess`` = claims / expected - 1 over
    every comparable day from that one on (the quiet days in between included, so an
    intermittent pattern is weighed by what it adds over the whole span it covers).
    """

    first: int
    days_over: int
    span_days: int
    since_excess: float


def recurrence(b: Bias, p: Mapping[str, Any]) -> Recurrence | None:
    """At least ``recur_days`` material days over tolerance within the last ``recur_window_days``
    calendar days, the first and last at least ``recur_span_days`` apart; None otherwise."""
    over = np.flatnonzero(b.excess > b.day_tolerance)
    if over.size == 0:
        return None
    recent = over[b.idx[over] > b.idx[-1] - int(p["recur_window_days"])]
    if recent.size < int(p["recur_days"]):
        return None
    span = int(b.idx[recent[-1]] - b.idx[recent[0]])
    if span < int(p["recur_span_days"]):
        return None
    j = int(recent[0])
    expected = b.ratio * b.evidence[j:]
    since = float(b.claims[j:].sum() / expected.sum() - 1.0) if expected.sum() > 0 else NO_EVIDENCE_EXCESS
    return Recurrence(j, int(recent.size), span, since)


def bias_severity_weighted(b: Bias, p: Mapping[str, Any]) -> tuple[str | None, str, Recurrence | None]:
    """:func:`bias_severity`, and an intermittent pattern weighed like a continuous one: when
    days over tolerance recur (:func:`recurrence`), the excess since the first of them is
    graded on the same thresholds with no step down. A streak is one way to persist;
    three bad days a week for weeks is another. Returns (severity, driver, recurrence)."""
    sev, driver = bias_severity(b, p)
    rec = recurrence(b, p)
    if rec is None:
        return sev, driver, None
    since = level(rec.since_excess, p["excess_yellow"], p["excess_orange"], p["excess_red"])
    best = worst(sev, since)
    if best is not None and best != sev:
        driver = "recurring"
    return best, driver, rec


def recurrence_numbers(rec: Recurrence | None, ev: RuleInputs, b: Bias) -> dict[str, Any] | None:
    if rec is None:
        return None
    starts, _ = ev.day_windows()
    return {"first_day": day_label(starts[b.idx[rec.first]]), "days_over_tolerance": rec.days_over,
            "span_days": rec.span_days, "excess_since_first_pct": r(100 * rec.since_excess, 2)}
