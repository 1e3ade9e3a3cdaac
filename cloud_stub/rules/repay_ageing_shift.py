"""Overdue ageing shifting to older buckets.

``erp.receivables_ageing_amount`` gives open receivables per bucket (current, 1-30, 31-60,
61-90, >90 days past due) at each day's end. ``old_share`` = (31-60 + 61-90 + >90) / all
buckets, averaged over the first and the last ``window_days`` observed days. A rise of the old
share by ``yellow_pp`` / ``orange_pp`` / ``red_pp`` percentage points is a finding; a final >90 share
of at least ``red_over90_pct`` is red whatever the trend.
Worked example: docs/cross-verification.md, "Ageing shift".
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


@register
class AgeingShift(RepaymentRule):
    id = "repay_ageing_shift"
    version = 1
    title = "Overdue receivables shifting to older buckets"
    needs = (AGEING,)
    defaults: Mapping[str, Any] = {"window_days": 7, "yellow_pp": 5.0, "orange_pp": 15.0, "red_pp": 30.0,
                                   "red_over90_pct": 30.0}

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        per = {b: ri.daily(AGEING, f"ageing:{b}") for b in BUCKETS}
        total = np.sum([np.nan_to_num(v) for v in per.values()], axis=0)
        seen = np.all([np.isfinite(v) for v in per.values()], axis=0) & (total > 0)
        idx = np.flatnonzero(seen)
        w = int(params["window_days"])
        if len(idx) < 2 * w:
            return []
        old = np.sum([per[b] for b in OLD], axis=0)
        share = 100.0 * old / np.where(total > 0, total, np.nan)
        over90 = 100.0 * per[">90"] / np.where(total > 0, total, np.nan)
        first, last = idx[:w], idx[-w:]
        s0, s1 = float(np.mean(share[first])), float(np.mean(share[last]))
        o90 = float(np.mean(over90[last]))
        rise = s1 - s0
        sev = worst(grade(rise, params["yellow_pp"], params["orange_pp"], params["red_pp"]),
                    "red" if o90 >= params["red_over90_pct"] else None)
        if sev is None:
            return []
        starts = ri.day_starts()
        start, end = int(starts[first[0]]), int(starts[last[-1]]) + 86400
        buckets_last = {b: r(float(np.mean(per[b][last])), 2) for b in BUCKETS}
        return [self.finding(
            ri, sev, f"{start}-{end}", start, end,
            compared={"old_share_pct_first": r(s0, 2), "old_share_pct_last": r(s1, 2),
                      "over90_share_pct_last": r(o90, 2), "buckets_last_mean": buckets_last, "window_days": w},
            statistic={"rise_pp": r(rise, 2)},
            threshold={k: params[k] for k in ("yellow_pp", "orange_pp", "red_pp", "red_over90_pct")},
            direction="above",
            message=f"receivables more than 30 days overdue went from {s0:.1f} % to {s1:.1f} % of the open amount")]
