"""Customer or supplier concentration above thresholds.

``erp.customer_hhi`` (orders by customer) and ``erp.supplier_hhi`` (purchases by supplier) are
Herfindahl-Hirschman indices per month on a 0-10,000 scale, computed on site from tokens.
The last observed month at least ``yellow_hhi`` / ``orange_hhi`` / ``red_hhi`` is a finding
(4,000 is about 2.5 equal counterparties, 10,000 is one; merger practice calls 2,500 "highly
concentrated", but a small workshop with four regular customers sits near 3,000 and is normal).
Either index alone is enough to run; the finding names which.
Worked example: docs/cross-verification.md, "Concentration".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules._common import r
from cloud_stub.rules._repay import RepaymentRule, grade
from cloud_stub.rules.base import Finding, register

SIDES = {"customer": "erp.customer_hhi", "supplier": "erp.supplier_hhi"}


@register
class Concentration(RepaymentRule):
    id = "repay_concentration"
    version = 1
    title = "Customer or supplier concentration above thresholds"
    needs = tuple(SIDES.values())
    defaults: Mapping[str, Any] = {"yellow_hhi": 4000.0, "orange_hhi": 6000.0, "red_hhi": 8000.0}

    def observed(self, ri: RepaymentInputs) -> bool:
        return any(ri.monthly(name) for name in SIDES.values())

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        out = []
        for side, name in SIDES.items():
            months = ri.monthly(name)
            if not months:
                continue
            t, hhi = months[-1]
            sev = grade(hhi, params["yellow_hhi"], params["orange_hhi"], params["red_hhi"])
            if sev is None:
                continue
            out.append(self.finding(
                ri, sev, f"{side}:{t}", t, min(ri.as_of, t + 31 * 86400),
                compared={"side": side, "hhi_last_month": r(hhi, 1), "hhi_by_month": [[m, r(v, 1)] for m, v in months],
                          "equivalent_counterparties": r(10000.0 / hhi, 2) if hhi > 0 else None},
                statistic={"hhi": r(hhi, 1)},
                threshold={k: params[k] for k in ("yellow_hhi", "orange_hhi", "red_hhi")},
                direction="above", indicators=(name,),
                message=f"{side} concentration HHI {hhi:.0f} (about {10000.0 / hhi:.1f} equal {side}s)"))
        return out
