"""Receivables growing faster than revenue: sales booked but not turned into cash.

Per local day, ``erp.receivables_open_amount`` (open receivables at the day's end) and
``erp.order_amount`` (orders booked that day). Both arrive as the lower bound of their privacy
range (docs/privacy-consent.md), so the rule compares growth rates, not levels. Receivables are a
balance, compared between the first and the last ``window_days`` observed days; orders are a lumpy
flow, compared between the earlier and the later half of the observed days:

``ar_growth = mean(AR, last week) / mean(AR, first week) - 1`` and
``revenue_growth = mean(orders, later half) / mean(orders, earlier half) - 1``;
``gap = ar_growth - revenue_growth`` (in percentage points) at least ``yellow_pp`` / ``orange_pp``
/ ``red_pp`` is a finding. Worked example: docs/cross-verification.md, "Receivables vs revenue".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules._common import r
from cloud_stub.rules._repay import RepaymentRule, grade, halves
from cloud_stub.rules.base import Finding, register

AR, REVENUE = "erp.receivables_open_amount", "erp.order_amount"


@register
class ReceivablesGrowth(RepaymentRule):
    id = "repay_receivables_growth"
    version = 1
    title = "Receivables growing faster than revenue"
    needs = (AR, REVENUE)
    defaults: Mapping[str, Any] = {"min_days": 7, "window_days": 7, "yellow_pp": 20.0, "orange_pp": 40.0,
                                   "red_pp": 80.0}

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        ar, rev = ri.daily(AR), ri.daily(REVENUE)
        both = np.where(np.isfinite(ar) & np.isfinite(rev), ar, np.nan)
        split = halves(both, params["min_days"])
        if split is None:
            return []
        early, late = split
        w = int(params["window_days"])
        ar0, ar1 = float(np.mean(ar[early[:w]])), float(np.mean(ar[late[-w:]]))
        rv0, rv1 = float(np.mean(rev[early])), float(np.mean(rev[late]))
        if ar0 <= 0 or rv0 <= 0:
            return []
        ar_g, rv_g = 100.0 * (ar1 / ar0 - 1), 100.0 * (rv1 / rv0 - 1)
        gap = ar_g - rv_g
        sev = grade(gap, params["yellow_pp"], params["orange_pp"], params["red_pp"])
        if sev is None:
            return []
        starts = ri.day_starts()
        start, end = int(starts[early[0]]), int(starts[late[-1]]) + 86400
        return [self.finding(
            ri, sev, f"{start}-{end}", start, end,
            compared={"receivables_mean_first_week": r(ar0, 2), "receivables_mean_last_week": r(ar1, 2),
                      "orders_per_day_earlier": r(rv0, 2), "orders_per_day_later": r(rv1, 2),
                      "days_earlier": len(early), "days_later": len(late)},
            statistic={"receivables_growth_pct": r(ar_g, 2), "revenue_growth_pct": r(rv_g, 2), "gap_pp": r(gap, 2)},
            threshold={"yellow_pp": params["yellow_pp"], "orange_pp": params["orange_pp"], "red_pp": params["red_pp"]},
            direction="above",
            message=f"open receivables grew {ar_g:.1f} % while orders grew {rv_g:.1f} % "
                    f"(gap {gap:.1f} pp, {sev} from {params[sev + '_pp']:g} pp)")]
