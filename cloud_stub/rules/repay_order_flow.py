"""The order lifecycle not flowing: a stage that stalls while the one before keeps going, or jumps
while the one before does not.

``erp.orders_stage_count`` counts, per local day, the orders that reached each stage (subject
``stage:<stage>``); the rule follows ordered -> produced -> shipped -> invoiced -> paid (stages
the ERP does not fill are skipped). A day whose count is suppressed for privacy (1 or 2 orders,
``suppressed_small_count``) counts as 1, its lower bound; a day without a record is unknown.
For each consecutive pair (upstream, stage), rates per observed day over the last
``recent_days`` are compared with the days before:

* **stall**: ``stage_ratio = rate_recent / rate_before <= stall_ratio`` while the upstream keeps
  at least ``upstream_keeps`` of its rate (orange; red at or below ``red_stall_ratio``);
* **jump**: ``stage_ratio >= jump_ratio`` while the upstream ratio stays below ``upstream_flat``
  (yellow; orange at ``orange_jump_ratio``): invoices or payments appearing without the goods.

A stage with fewer than ``min_before`` orders before the recent window is not yet established
(e.g. payments 30-60 days after invoicing in a young history) and is not judged.
Worked example: docs/cross-verification.md, "Order flow".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rule_inputs import DAY_MAX_S, DAY_MIN_S
from cloud_stub.rules._common import r
from cloud_stub.rules._repay import RepaymentRule
from cloud_stub.rules.base import Finding, register

STAGES = "erp.orders_stage_count"
FLOW = ("order", "produce", "ship", "receivable", "payment")


def stage_counts(ri: RepaymentInputs, stage: str) -> np.ndarray:
    """Daily counts of one stage on the local days; suppressed small counts as 1, unknown NaN."""
    starts = ri.day_starts()
    out = np.full(len(starts), np.nan)
    for (subj, n), s in ri.ev.series_by_name.get(STAGES, {}).items():
        if subj != f"stage:{stage}" or not DAY_MIN_S <= n <= DAY_MAX_S:
            continue
        vals = np.where(np.isfinite(s.value), s.value, np.where(s.flagged("suppressed_small_count"), 1.0, np.nan))
        idx = np.searchsorted(starts, s.start)
        ok = (idx < len(starts))
        ok[ok] = starts[idx[ok]] == s.start[ok]
        out[idx[ok]] = vals[ok]
    return out


@register
class OrderFlow(RepaymentRule):
    id = "repay_order_flow"
    version = 1
    title = "Order lifecycle not flowing (stalls or jumps between stages)"
    needs = (STAGES,)
    defaults: Mapping[str, Any] = {"recent_days": 10, "min_before_days": 10, "min_before": 8.0, "stall_ratio": 0.3,
                                   "red_stall_ratio": 0.1, "upstream_keeps": 0.7, "jump_ratio": 2.5,
                                   "orange_jump_ratio": 4.0, "upstream_flat": 1.3}

    def observed(self, ri: RepaymentInputs) -> bool:
        return STAGES in ri.ev.series_by_name

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        p = params
        counts = {s: stage_counts(ri, s) for s in FLOW}
        present = [s for s in FLOW if np.isfinite(counts[s]).sum() > 0 and np.nansum(counts[s]) > 0]
        starts = ri.day_starts()
        n = len(starts)
        recent = int(p["recent_days"])
        if n < recent + int(p["min_before_days"]):
            return []
        cut = n - recent
        rates: dict[str, tuple[float, float, float]] = {}
        for s in present:
            b, a = counts[s][:cut], counts[s][cut:]
            if np.isfinite(b).sum() < p["min_before_days"] or np.isfinite(a).sum() < recent // 2:
                continue
            rb, ra = float(np.nanmean(b)), float(np.nanmean(a))
            rates[s] = (rb, ra, float(np.nansum(b)))
        out: list[Finding] = []
        for up, st in zip(present, present[1:], strict=False):
            if up not in rates or st not in rates or rates[st][2] < p["min_before"] or rates[up][0] <= 0:
                continue
            ur = rates[up][1] / rates[up][0]
            sr = rates[st][1] / rates[st][0]
            sev, kind = None, ""
            if sr <= p["stall_ratio"] and ur >= p["upstream_keeps"]:
                sev, kind = ("red" if sr <= p["red_stall_ratio"] else "orange"), "stall"
            elif sr >= p["jump_ratio"] and ur < p["upstream_flat"]:
                sev, kind = ("orange" if sr >= p["orange_jump_ratio"] else "yellow"), "jump"
            if sev is None:
                continue
            start, end = int(starts[cut]), int(starts[-1]) + 86400
            out.append(self.finding(
                ri, sev, f"{kind}:{st}:{start}", start, end,
                compared={"stage": st, "upstream": up, f"{st}_per_day_before": r(rates[st][0], 3),
                          f"{st}_per_day_recent": r(rates[st][1], 3), f"{up}_per_day_before": r(rates[up][0], 3),
                          f"{up}_per_day_recent": r(rates[up][1], 3), "recent_days": recent, "days_before": cut},
                statistic={"stage_ratio": r(sr, 3), "upstream_ratio": r(ur, 3)},
                threshold={k: p[k] for k in ("stall_ratio", "red_stall_ratio", "upstream_keeps", "jump_ratio",
                                             "orange_jump_ratio", "upstream_flat")},
                direction="below" if kind == "stall" else "above",
                message=f"orders reaching '{st}' {'stalled' if kind == 'stall' else 'jumped'}: {rates[st][1]:.2f}/day "
                        f"in the last {recent} days against {rates[st][0]:.2f}/day before, while '{up}' went "
                        f"{rates[up][0]:.2f} -> {rates[up][1]:.2f}/day"))
        return out
