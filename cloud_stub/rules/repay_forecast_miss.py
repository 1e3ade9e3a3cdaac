"""A forecast whose actuals keep falling outside its interval.

For daily production (``mes.good_qty``) and shipments (``erp.shipped_qty``): the forecaster of
cloud_stub/repayment/forecast.py is fitted on all but the last ``holdout_days`` days and
forecasts them with a ``level`` prediction interval. If at least ``yellow_share`` of those days
fall outside it *on the same side* (a systematic break, not noise: a 95 % interval should miss
about one day in twenty, either way), it is a finding (orange from ``orange_share``); the
direction says whether actuals ran above or below what the history predicted.
Worked example: docs/cross-verification.md, "Forecast misses".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud_stub.repayment import forecast
from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules._common import r
from cloud_stub.rules._repay import RepaymentRule
from cloud_stub.rules.base import Finding, register

SERIES = {"production": "mes.good_qty", "sales": "erp.shipped_qty"}


@register
class ForecastMiss(RepaymentRule):
    id = "repay_forecast_miss"
    version = 1
    title = "Actuals keep falling outside the forecast interval"
    needs = tuple(SERIES.values())
    defaults: Mapping[str, Any] = {"holdout_days": 14, "level": 0.95, "yellow_share": 0.5, "orange_share": 0.75}

    def observed(self, ri: RepaymentInputs) -> bool:
        return any(ri.has(n) for n in SERIES.values())

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        p = params
        out = []
        starts = ri.day_starts()
        for what, name in SERIES.items():
            y = ri.daily(name)
            got = forecast.holdout_misses(y, int(p["holdout_days"]), float(p["level"]))
            if got is None:
                continue
            side = "below" if got["below"] >= got["above"] else "above"
            share = got[side] / got["days"]
            sev = "orange" if share >= p["orange_share"] else "yellow" if share >= p["yellow_share"] else None
            if sev is None:
                continue
            start, end = int(starts[-got["days"]]), int(starts[-1]) + 86400
            out.append(self.finding(
                ri, sev, f"{what}:{start}", start, end,
                compared={"series": what, "actual_total": got["actual_total"], "forecast_total": got["forecast_total"],
                          "days": got["days"], "below": got["below"], "above": got["above"]},
                statistic={"share_outside_same_side": r(share, 3)},
                threshold={k: p[k] for k in ("level", "yellow_share", "orange_share")},
                direction=side, indicators=(name,),
                message=f"{what}: {got[side]} of the last {got['days']} days fell {side} the {p['level']:.0%} forecast "
                        f"interval (actual {got['actual_total']:g} vs forecast {got['forecast_total']:g})"))
        return out
