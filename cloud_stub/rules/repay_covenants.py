"""Covenant breaches of a bank's facility: minimum coverage, maximum concentration, minimum monthly output.

A facility's covenants (cloud_stub/facilities.py ``Covenants``) are the bank's own data, so this rule runs
only per facility, from ``cloud coverage run`` (cloud_stub/coverage_run.py) right after the facility's
coverage is assessed, never inside the per-enterprise signed score report (whose repayment assessment is
one document for every bank: one bank's covenant must not show in another bank's report, and the report's
rescore must stay bit for bit). ``per_facility = True`` keeps it out of that assessment's rule set
(cloud_stub/repayment/context.py ``current_rules``). Run without a facility it finds nothing.

Per covenant the rule states ``limit``, ``observed`` and ``period`` and one of ``met`` / ``breached`` /
``not_observed`` (with the coverage that was missing: never a breach, never a zero), or, for the
concentration, ``undetermined``:

* ``min_monthly_output``: ``mes.good_qty`` summed over the enterprise's local days of the last full
  calendar month before ``as_of``. Every day observed: the total is compared. Some days missing: a
  partial total already at the limit is ``met``; below it the month is ``not_observed`` (the missing days
  could hold the rest).
* ``max_concentration_pct``: ``erp.customer_hhi`` / ``erp.supplier_hhi`` of the last observed month.
  Only the index reaches the bank, not the shares; HHI / 100 is a lower bound of the largest
  counterparty's share in percent (HHI = sum of squared shares <= largest share x 100 %), so HHI / 100
  above the limit is a certain breach; sqrt(HHI) / 100 at or below it (the largest share's upper bound) is
  ``met``; between the two the index cannot decide: ``undetermined``, with both bounds (observed, not a
  breach).
* ``min_coverage``: the facility's coverage just assessed (value / outstanding); ``not_observed`` when the
  coverage is (a price or a weight missing).

Each breach is an ``orange`` finding (key = bank/facility/covenant/period, so a breach that persists is
raised once) with ``extra.bank`` (only that bank is shown it, like collateral_coverage).
Worked example: docs/cross-verification.md, "Covenant breaches".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np

from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules._common import r
from cloud_stub.rules._repay import RepaymentRule
from cloud_stub.rules.base import Finding, register

OUTPUT = "mes.good_qty"
SIDES = {"customer": "erp.customer_hhi", "supplier": "erp.supplier_hhi"}
SEVERITY = "orange"


def last_full_month(day_starts: np.ndarray, as_of: int, tz_offset_s: int = 0) -> tuple[int, int, str]:
    """(first day start, end, 'YYYY-MM') of the calendar month before ``as_of``'s month, in local time
    (``tz_offset_s`` east of UTC; the enterprise's day windows begin at its local midnights)."""
    local = datetime.fromtimestamp(as_of + tz_offset_s, UTC)
    y, m = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    first = int(datetime(y, m, 1, tzinfo=UTC).timestamp()) - tz_offset_s
    end = int(datetime(local.year, local.month, 1, tzinfo=UTC).timestamp()) - tz_offset_s
    return first, end, f"{y:04d}-{m:02d}"


def month_output(day_starts: np.ndarray, values: np.ndarray, first: int, end: int) -> dict[str, Any]:
    """Sum of the observed days of [first, end) with the coverage (days observed of the month's days)."""
    days = round((end - first) / 86400)
    inside = (day_starts >= first) & (day_starts < end)
    seen = inside & np.isfinite(values)
    return {"total": float(values[seen].sum()) if seen.any() else None, "days_observed": int(seen.sum()),
            "days": days}


def judge_output(limit: float, got: Mapping[str, Any]) -> str:
    """met / breached / not_observed for a minimum monthly output (a partial month only proves ``met``)."""
    if got["total"] is None:
        return "not_observed"
    if got["total"] >= limit:
        return "met"
    return "breached" if got["days_observed"] >= got["days"] else "not_observed"


def judge_concentration(limit_pct: float, hhi: float) -> tuple[str, float, float]:
    """(status, lower, upper bound of the largest share in %) from an HHI on the 0-10,000 scale."""
    lo, hi = hhi / 100.0, min(100.0, float(np.sqrt(max(hhi, 0.0))))
    if lo > limit_pct:
        return "breached", lo, hi
    return ("met" if hi <= limit_pct else "undetermined"), lo, hi


def _tz_offset(ri: RepaymentInputs) -> int:
    """Local midnight's offset east of UTC, from the enterprise's day windows (0 without any)."""
    starts = ri.day_starts()
    return int((-int(starts[0])) % 86400) if len(starts) else 0


@register
class Covenants(RepaymentRule):
    id = "repay_covenants"
    version = 1
    title = "Facility covenant breaches (minimum coverage, maximum concentration, minimum monthly output)"
    needs = (OUTPUT, *SIDES.values())
    per_facility: ClassVar[bool] = True
    defaults: Mapping[str, Any] = {}

    def observed(self, ri: RepaymentInputs) -> bool:
        return False  # never part of the per-enterprise assessment (see the module docstring)

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        if not params.get("facility"):
            return []
        fac = params["facility"]
        return self.findings(ri, self.check(ri, fac, params.get("coverage")), fac.get("bank", ""),
                             fac.get("facility_id", ""))

    def check(self, ri: RepaymentInputs, fac: Mapping[str, Any], coverage: float | None) -> list[dict[str, Any]]:
        """One entry per covenant the facility sets: covenant, limit, observed, period, status, coverage."""
        cov, out = fac.get("covenants") or {}, []
        if cov.get("min_monthly_output") is not None:
            limit = float(cov["min_monthly_output"])
            first, end, label = last_full_month(ri.day_starts(), ri.as_of, _tz_offset(ri))
            got = month_output(ri.day_starts(), ri.daily(OUTPUT), first, end)
            status = judge_output(limit, got)
            partial = r(got["total"], 2) if got["total"] is not None else None
            out.append({"covenant": "min_monthly_output", "indicator": OUTPUT, "limit": limit,
                        # a month not fully observed has no total: only the sum of its observed days
                        "observed": None if status == "not_observed" else partial,
                        "observed_days_sum": partial,
                        "period": {"month": label, "start": first, "end": end},
                        "coverage": {"days_observed": got["days_observed"], "days": got["days"]},
                        "status": status})
        if cov.get("max_concentration_pct") is not None:
            limit = float(cov["max_concentration_pct"])
            for side, name in SIDES.items():
                months = ri.monthly(name)
                if not months:
                    out.append({"covenant": "max_concentration_pct", "side": side, "indicator": name, "limit": limit,
                                "observed": None, "period": None, "coverage": {"months_observed": 0},
                                "status": "not_observed"})
                    continue
                t, hhi = months[-1]
                status, lo, hi = judge_concentration(limit, hhi)
                out.append({"covenant": "max_concentration_pct", "side": side, "indicator": name, "limit": limit,
                            "observed": r(lo, 2), "largest_share_pct_at_most": r(hi, 2), "hhi": r(hhi, 1),
                            "period": {"month_start": t}, "coverage": {"months_observed": len(months)},
                            "status": status})
        if cov.get("min_coverage") is not None:
            limit = float(cov["min_coverage"])
            status = "not_observed" if coverage is None else "breached" if coverage < limit else "met"
            out.append({"covenant": "min_coverage", "limit": limit,
                        "observed": None if coverage is None else r(coverage, 4),
                        "period": {"as_of": ri.as_of}, "coverage": {"observed": coverage is not None},
                        "status": status})
        return out

    def findings(self, ri: RepaymentInputs, checks: list[dict[str, Any]], bank: str = "",
                 facility_id: str = "") -> list[Finding]:
        out = []
        for c in checks:
            if c["status"] != "breached":
                continue
            name = c["covenant"] + (f":{c['side']}" if "side" in c else "")
            per = c["period"] or {}
            start = int(per.get("start") or per.get("month_start") or per.get("as_of") or ri.as_of)
            end = int(per["end"]) if "end" in per else min(ri.as_of, start + 31 * 86400) if "month_start" in per \
                else ri.as_of
            label = per.get("month") or per.get("month_start") or per.get("as_of")
            if c["covenant"] == "min_monthly_output":
                msg = (f"Covenant breached on facility {facility_id}: output {c['observed']:,.0f} ({OUTPUT}) in "
                       f"{per['month']}, below the minimum {c['limit']:,.0f} (all {c['coverage']['days']} days "
                       f"observed)")
            elif c["covenant"] == "max_concentration_pct":
                msg = (f"Covenant breached on facility {facility_id}: the largest {c['side']} holds at least "
                       f"{c['observed']:.1f}% of the month (HHI {c['hhi']:.0f}), above the maximum {c['limit']:g}%")
            else:
                msg = (f"Covenant breached on facility {facility_id}: coverage {c['observed']:.2f}x, below the "
                       f"minimum {c['limit']:g}x")
            indicators = (c["indicator"],) if "indicator" in c else ("collateral.weight_kg",)
            out.append(self.finding(
                ri, SEVERITY, f"{bank}/{facility_id}/{name}/{label}", start, end,
                compared={k: c[k] for k in ("covenant", "limit", "observed", "period", "coverage") if k in c},
                statistic={"observed": c["observed"]}, threshold={c["covenant"]: c["limit"]},
                direction="below" if c["covenant"].startswith("min_") else "above", message=msg,
                indicators=indicators, bank=bank, facility_id=facility_id, covenant=c))
        return out
