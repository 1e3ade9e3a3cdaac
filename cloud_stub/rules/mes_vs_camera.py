"""MES output vs the production-line cameras: is the claimed output physically seen leaving the line?

Claims: ``mes.good_qty`` per local day (falling back to the sum of ``mes.produced_qty``).
RuleInputs: ``vision.units_out`` of the production-line cameras (every subject that is not a
dispatch/warehouse camera) summed over the same day, on days the cameras covered.

A camera misses a few per cent and the MES may count a little differently, so the rule
does not expect equality: it learns the enterprise's own claims/camera ratio from the
first ``baseline_days`` comparable days (clipped to ``ratio_min``..``ratio_max``, so an
enterprise inflating from day one cannot teach the rule that inflation is normal) and
measures the *signed* bias over time: cumulative over the whole period and over the
worst ``window`` consecutive days, not only single bad days.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import (
    BIAS_DEFAULTS,
    DISPATCH_PATTERNS,
    bias,
    bias_finding,
    bias_numbers,
    bias_severity,
    is_dispatch,
)
from cloud_stub.rules.base import Finding, Rule, register


def claims_and_camera(ev: RuleInputs, p: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, str,
                                                                      tuple[str, ...]] | None:
    """(MES daily, camera daily, camera coverage, MES indicator, camera subjects), or None."""
    cam = ev.daily("vision.units_out", lambda s: not is_dispatch(s, p["dispatch_patterns"], ev.roles))
    if cam is None:
        return None
    name = "mes.good_qty" if "mes.good_qty" in ev.series_by_name else "mes.produced_qty"
    claims = ev.enterprise_daily(name)
    if not np.isfinite(claims).any():
        return None
    return claims, cam.value, cam.coverage, name, cam.subjects


BASELINE_KIND = "median claims/camera ratio of the first comparable days"


@register
class MesVsCamera(Rule):
    id = "mes_vs_camera"
    version = 2
    subscore = "production_authenticity"
    title = "MES output vs line camera counts"
    defaults: Mapping[str, Any] = {
        **BIAS_DEFAULTS, "ratio_min": 0.9, "ratio_max": 1.10, "under_report_info": -0.05,
        "dispatch_patterns": list(DISPATCH_PATTERNS),
    }

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        got = claims_and_camera(ev, params)
        if got is None:
            return []
        claims, cam, cov, name, subjects = got
        b = bias(claims, cam, cov, params)
        if b is None:
            return []
        nums = bias_numbers(ev, b)
        sev, driver = bias_severity(b, params)
        inds = (name, "vision.units_out")
        if sev is not None:
            w = nums["window"]
            msg = (f"The MES claims {nums['claims_total']:.0f} units over {nums['days_compared']} days where the line "
                   f"cameras ({', '.join(subjects)}) saw {nums['evidence_total']:.0f}; at the enterprise's own ratio "
                   f"{b.ratio:.3f} that is {100 * b.cum_excess:+.1f} % overall and {100 * b.roll_excess:+.1f} % over "
                   f"{w['first_day']}..{w['last_day']} ({b.days_over} days more than "
                   f"{100 * params['day_tolerance']:.0f} % over).")
            return [bias_finding(self, ev, b, params, sev, driver, inds, msg, BASELINE_KIND, nums=nums)]
        if b.cum_excess <= params["under_report_info"]:
            msg = (f"The line cameras saw {nums['evidence_total']:.0f} units, more than the MES claims "
                   f"({nums['claims_total']:.0f}, {100 * b.cum_excess:+.1f} % at the baseline ratio): output is "
                   "under-reported or the cameras count something else.")
            return [bias_finding(self, ev, b, params, "info", driver, inds, msg, BASELINE_KIND,
                                 key="evidence_exceeds_claims", direction="evidence_exceeds_claims", nums=nums)]
        return []
