"""DSO trending up: customers take longer and longer to pay.

``erp.dso_days`` is one value per month (open receivables at the month's end / invoiced per
day that month). With at least two observed months, the rule takes the first and the last:
``rise = DSO_last - DSO_first`` days at least ``yellow_days`` / ``orange_days`` / ``red_days`` is a
finding, and so is a last DSO above ``high_dso`` (yellow) even without a rise.
Worked example: docs/cross-verification.md, "DSO trend".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules._common import r, worst
from cloud_stub.rules._repay import RepaymentRule, grade
from cloud_stub.rules.base import Finding, register

DSO = "erp.dso_days"


@register
class DsoTrend(RepaymentRule):
    id = "repay_dso_trend"
    version = 1
    title = "Days sales outstanding trending up"
    needs = (DSO,)
    defaults: Mapping[str, Any] = {"yellow_days": 10.0, "orange_days": 20.0, "red_days": 40.0, "high_dso": 90.0}

    def observed(self, ri: RepaymentInputs) -> bool:
        return len(ri.monthly(DSO)) >= 2

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        months = ri.monthly(DSO)
        if len(months) < 2:
            return []
        (t0, d0), (t1, d1) = months[0], months[-1]
        rise = d1 - d0
        sev = worst(grade(rise, params["yellow_days"], params["orange_days"], params["red_days"]),
                    "yellow" if d1 >= params["high_dso"] else None)
        if sev is None:
            return []
        return [self.finding(
            ri, sev, f"{t0}-{t1}", t0, min(ri.as_of, t1 + 31 * 86400),
            compared={"dso_first_days": r(d0, 2), "dso_last_days": r(d1, 2), "months": len(months),
                      "dso_by_month": [[t, r(v, 2)] for t, v in months]},
            statistic={"rise_days": r(rise, 2)},
            threshold={k: params[k] for k in ("yellow_days", "orange_days", "red_days", "high_dso")},
            direction="above", message=f"DSO went from {d0:.1f} to {d1:.1f} days over {len(months)} months")]
