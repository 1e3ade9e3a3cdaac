"""Revenue trend breaks: orders booked per day fall well below the enterprise's own earlier level.

``erp.order_amount`` per local day (the lower bound of its privacy range). The mean of the
last ``recent_days`` observed days against the mean of the days before:
``drop_pct = 100 * (1 - recent / before)`` at least ``yellow_pct`` / ``orange_pct`` / ``red_pct`` is a
finding (a sharp rise is reported as info: it matters for the forecast, not as a risk).
Worked example: docs/cross-verification.md, "Revenue break".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules._common import r
from cloud_stub.rules._repay import RepaymentRule, grade
from cloud_stub.rules.base import Finding, register

REVENUE = "erp.order_amount"


@register
class RevenueBreak(RepaymentRule):
    id = "repay_revenue_break"
    version = 1
    title = "Revenue trend break"
    needs = (REVENUE,)
    defaults: Mapping[str, Any] = {"recent_days": 14, "min_before_days": 14, "yellow_pct": 50.0, "orange_pct": 70.0,
                                   "red_pct": 85.0, "rise_pct": 150.0}

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        p = params
        rev = ri.daily(REVENUE)
        idx = np.flatnonzero(np.isfinite(rev))
        recent = int(p["recent_days"])
        if len(idx) < recent + p["min_before_days"]:
            return []
        before, late = idx[:-recent], idx[-recent:]
        m0, m1 = float(np.mean(rev[before])), float(np.mean(rev[late]))
        if m0 <= 0:
            return []
        drop = 100.0 * (1 - m1 / m0)
        sev = grade(drop, p["yellow_pct"], p["orange_pct"], p["red_pct"])
        if sev is None and -drop >= p["rise_pct"]:
            sev = "info"
        if sev is None:
            return []
        starts = ri.day_starts()
        start, end = int(starts[late[0]]), int(starts[late[-1]]) + 86400
        return [self.finding(
            ri, sev, f"{start}-{end}", start, end,
            compared={"orders_per_day_before": r(m0, 2), "orders_per_day_recent": r(m1, 2),
                      "days_before": len(before), "days_recent": len(late)},
            statistic={"drop_pct": r(drop, 2)},
            threshold={k: p[k] for k in ("yellow_pct", "orange_pct", "red_pct", "rise_pct")},
            direction="below" if drop > 0 else "above",
            message=f"orders booked fell {drop:.1f} % ({m0:.0f} -> {m1:.0f} CNY/day, lower bounds of the ranges)"
            if drop > 0 else f"orders booked rose {-drop:.1f} %")]
