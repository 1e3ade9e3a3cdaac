"""Slow payers, graded by weight of evidence: overdue ageing shifting to older buckets (version 2).

Version 1 (repay_ageing_shift.py, kept frozen so its scores still rescore bit for bit) grades one number,
the rise of the share of receivables more than 30 days overdue. A customer base that stops paying shows
more than that, and early: the overdue book grows as a whole, and the shift keeps going week after week.
Version 2 adds that evidence up. From ``erp.receivables_ageing_amount`` (open amount per bucket current,
1-30, 31-60, 61-90, >90 days past due at each day's end), over the first and the last ``window_days``
observed days:

* **old share** = (31-60 + 61-90 + >90) / all; its rise ``rise_pp`` gives 1 / 2 / 3 points at
  ``yellow_pp`` / ``orange_pp`` / ``red_pp`` (5 / 15 / 30 percentage points, version 1's lines);
* **overdue share** = every bucket past due (1-30 and older) / all; its rise gives 1 / 2 points at
  ``overdue_pp`` / ``overdue_high_pp`` (20 / 40 pp): invoices going unpaid fill 1-30 before they age;
* **still rising**: the old share of the last window is ``still_rising_pp`` (2.5 pp) or more above the
  window before it: 1 point (the shift is going on now, not a step that happened once).

Points 1-2 are ``yellow``, 3 ``orange``, ``red_points`` (4) or more ``red``. A finding needs an old-share
rise of at least ``yellow_pp`` (overdue alone is payment timing, not ageing), never grades below version 1
(a 30 pp rise is red, as before), and a final >90 share of ``red_over90_pct`` is red whatever the trend.
The finding states every piece of evidence with its points. Worked example: docs/cross-verification.md,
"Slow payers (ageing shift v2)".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules._common import r, worst
from cloud_stub.rules._repay import RepaymentRule, grade
from cloud_stub.rules.base import Finding, register

AGEING = "erp.receivables_ageing_amount"
BUCKETS = ("current", "1-30", "31-60", "61-90", ">90")
OLD = ("31-60", "61-90", ">90")
OVERDUE = ("1-30", *OLD)
POINTS = {None: 0, "yellow": 1, "orange": 2, "red": 3}


def by_points(points: int, red_points: int) -> str | None:
    """Severity of a sum of evidence points: 1-2 yellow, from 3 orange, from ``red_points`` red."""
    if points <= 0:
        return None
    return "red" if points >= red_points else "orange" if points >= 3 else "yellow"


@register
class AgeingShiftV2(RepaymentRule):
    id = "repay_ageing_shift"
    version = 2
    title = "Slow payers: overdue receivables shifting to older buckets, graded by weight of evidence"
    needs = (AGEING,)
    defaults: Mapping[str, Any] = {"window_days": 7, "yellow_pp": 5.0, "orange_pp": 15.0, "red_pp": 30.0,
                                   "red_over90_pct": 30.0, "overdue_pp": 20.0, "overdue_high_pp": 40.0,
                                   "still_rising_pp": 2.5, "red_points": 4}

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        p = params
        per = {b: ri.daily(AGEING, f"ageing:{b}") for b in BUCKETS}
        total = np.sum([np.nan_to_num(v) for v in per.values()], axis=0)
        seen = np.all([np.isfinite(v) for v in per.values()], axis=0) & (total > 0)
        idx = np.flatnonzero(seen)
        w = int(p["window_days"])
        if len(idx) < 2 * w:
            return []
        denom = np.where(total > 0, total, np.nan)
        old = 100.0 * np.sum([per[b] for b in OLD], axis=0) / denom
        overdue = 100.0 * np.sum([per[b] for b in OVERDUE], axis=0) / denom
        over90 = 100.0 * per[">90"] / denom
        first, last, before = idx[:w], idx[-w:], idx[-2 * w:-w]
        s0, s1 = float(np.mean(old[first])), float(np.mean(old[last]))
        d0, d1 = float(np.mean(overdue[first])), float(np.mean(overdue[last]))
        prev = float(np.mean(old[before]))
        o90 = float(np.mean(over90[last]))
        rise, orise, still = s1 - s0, d1 - d0, s1 - prev
        v1_grade = grade(rise, p["yellow_pp"], p["orange_pp"], p["red_pp"])
        evidence = {
            "old_share_rise": {"pp": r(rise, 2), "points": POINTS[v1_grade]},
            "overdue_share_rise": {"pp": r(orise, 2),
                                   "points": 2 if orise >= p["overdue_high_pp"] else 1 if orise >= p["overdue_pp"]
                                   else 0},
            "still_rising": {"pp": r(still, 2), "points": 1 if still >= p["still_rising_pp"] else 0},
        }
        points = sum(e["points"] for e in evidence.values()) if v1_grade is not None else 0
        sev = worst(v1_grade, by_points(points, int(p["red_points"])),
                    "red" if o90 >= p["red_over90_pct"] else None)
        if sev is None:
            return []
        starts = ri.day_starts()
        start, end = int(starts[first[0]]), int(starts[last[-1]]) + 86400
        buckets_last = {b: r(float(np.mean(per[b][last])), 2) for b in BUCKETS}
        return [self.finding(
            ri, sev, f"{start}-{end}", start, end,
            compared={"old_share_pct_first": r(s0, 2), "old_share_pct_last": r(s1, 2),
                      "old_share_pct_window_before_last": r(prev, 2), "overdue_share_pct_first": r(d0, 2),
                      "overdue_share_pct_last": r(d1, 2), "over90_share_pct_last": r(o90, 2),
                      "buckets_last_mean": buckets_last, "window_days": w},
            statistic={"rise_pp": r(rise, 2), "points": points, "evidence": evidence},
            threshold={k: p[k] for k in ("yellow_pp", "orange_pp", "red_pp", "red_over90_pct", "overdue_pp",
                                         "overdue_high_pp", "still_rising_pp", "red_points")},
            direction="above",
            message=(f"receivables more than 30 days overdue went from {s0:.1f} % to {s1:.1f} % of the open amount "
                     f"(all overdue {d0:.1f} % to {d1:.1f} %, {still:+.1f} pp in the last {w} days): "
                     f"{points} points of evidence"))]
