"""Orders falling behind their due dates: overdue orders piling up for days, or on-time delivery falling.

Reads the gateway's due-date indicators (cloud_stub/repayment/orders.py). Two signals:

* **overdue piling up**: the overdue share of the open quantity that has a due date
  (``erp.orders_open_due_qty``, ``due:overdue`` / all dated buckets) stays above its median over the
  days before (at least ``min_before_days`` of them) on each of the last ``persist_days`` observed
  days, by at least ``rise_each`` every day and by ``rise`` on average. Graded by that mean rise:
  yellow from ``rise``, orange from ``orange_rise``, red from ``red_rise`` (share points, 0-1). A plant
  that always runs a small overdue tail has it in its baseline and stays quiet; one whose overdue share
  jumped for a day or two (a truck a day late) does too.
* **on-time delivery falling**: ``on_time / (on_time + late)`` of the orders delivered in the last
  ``recent_days`` against the days before (``erp.orders_delivered_count``; a suppressed small count
  counts as 1, its lower bound), each side with at least ``min_deliveries`` deliveries. A finding when
  the recent rate is below ``floor`` and fell by at least ``drop`` (yellow), ``orange_drop``,
  ``red_drop``.

Missing due dates are "not observed" (no record of the indicators reached the bank): the rule costs
nothing and the coverage says so. Worked example: docs/cross-verification.md, "Order progress".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.repayment import orders
from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules._common import r
from cloud_stub.rules._repay import RepaymentRule, grade
from cloud_stub.rules.base import Finding, register


@register
class OrderDue(RepaymentRule):
    id = "repay_order_due"
    version = 1
    title = "Orders falling behind their due dates"
    needs = (orders.OPEN_QTY, orders.DELIVERED)
    defaults: Mapping[str, Any] = {"persist_days": 5, "min_before_days": 7, "rise_each": 0.05, "rise": 0.1,
                                   "orange_rise": 0.25,
                                   "red_rise": 0.5, "recent_days": 10, "min_deliveries": 5, "floor": 0.85,
                                   "drop": 0.15, "orange_drop": 0.3, "red_drop": 0.5}

    def observed(self, ri: RepaymentInputs) -> bool:
        return orders.observed(ri) is None

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        return [*self._overdue(ri, params), *self._on_time(ri, params)]

    def _overdue(self, ri: RepaymentInputs, p: Mapping[str, Any]) -> list[Finding]:
        share = orders.overdue_share(ri)
        idx = np.flatnonzero(np.isfinite(share))
        k = int(p["persist_days"])
        if len(idx) < k + int(p["min_before_days"]):
            return []
        before, recent = share[idx[:-k]], share[idx[-k:]]
        base = float(np.median(before))
        rises = recent - base
        mean_rise = float(rises.mean())
        sev = grade(mean_rise, p["rise"], p["orange_rise"], p["red_rise"])
        if float(rises.min()) < p["rise_each"] or sev is None:
            return []
        starts = ri.day_starts()
        start, end = int(starts[idx[-k]]), int(starts[idx[-1]]) + 86400
        q = orders.open_qty(ri)
        last = int(idx[-1])
        return [self.finding(
            ri, sev, f"overdue:{start}", start, end,
            compared={"overdue_share_recent": [r(x, 4) for x in recent], "overdue_share_baseline": r(base, 4),
                      "days_before": len(before), "recent_days": k, "overdue_qty_last": r(q["overdue"][last], 2),
                      "dated_open_qty_last": r(sum(float(q[b][last]) for b in orders.DATED), 2)},
            statistic={"mean_rise": r(mean_rise, 4), "min_rise": r(float(rises.min()), 4)},
            threshold={k_: p[k_] for k_ in ("persist_days", "rise_each", "rise", "orange_rise", "red_rise")},
            direction="above", indicators=(orders.OPEN_QTY,),
            message=f"overdue orders piling up: {recent[-1]:.0%} of the open quantity with a due date is overdue, "
                    f"{mean_rise:.0%} above the usual {base:.0%} on average over the last {k} days (at least "
                    f"{p['rise_each']:.0%} on each)")]

    def _on_time(self, ri: RepaymentInputs, p: Mapping[str, Any]) -> list[Finding]:
        n = len(ri.day_starts())
        k = int(p["recent_days"])
        if n <= k:
            return []
        on_b, late_b = orders.on_time(ri, slice(0, n - k))
        on_r, late_r = orders.on_time(ri, slice(n - k, n))
        if min(on_b + late_b, on_r + late_r) < p["min_deliveries"]:
            return []
        rate_b, rate_r = on_b / (on_b + late_b), on_r / (on_r + late_r)
        drop = rate_b - rate_r
        sev = grade(drop, p["drop"], p["orange_drop"], p["red_drop"]) if rate_r < p["floor"] else None
        if sev is None:
            return []
        starts = ri.day_starts()
        start, end = int(starts[n - k]), int(starts[-1]) + 86400
        return [self.finding(
            ri, sev, f"on_time:{start}", start, end,
            compared={"on_time_recent": on_r, "late_recent": late_r, "on_time_before": on_b, "late_before": late_b,
                      "recent_days": k, "days_before": n - k},
            statistic={"on_time_rate_recent": r(rate_r, 4), "on_time_rate_before": r(rate_b, 4), "drop": r(drop, 4)},
            threshold={k_: p[k_] for k_ in ("recent_days", "min_deliveries", "floor", "drop", "orange_drop",
                                            "red_drop")},
            direction="below", indicators=(orders.DELIVERED,),
            message=f"on-time delivery fell to {rate_r:.0%} of {on_r + late_r:.0f} orders delivered in the last {k} "
                    f"days, from {rate_b:.0%} before")]
