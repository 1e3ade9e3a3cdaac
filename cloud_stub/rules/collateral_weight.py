"""Pledged goods' weight vs the pledged quantity: is the collateral still all there?

``collateral.drift_pct`` = (weight - pledged baseline) / baseline x 100 per window, per
pledged asset. The rule takes the last hours (``recent_windows``) as the current state
(median, so one noisy reading does not decide) and the time spent below ``-tolerance``.
Severity by the current shortfall: ``yellow``/``orange``/``red`` thresholds in per cent of
the pledged weight, one step up when the shortfall has lasted ``persist_hours``.
A surplus (more than pledged) is reported as info.

v2 (same arithmetic, thresholds 2 / 2.5 / 3 % instead of 2 / 5 / 10 %): now that a held step
on the gateway needs ``step_pct`` (1 %) of the pledge, a removal in lots below that is seen
only here, so the cumulative shortfall must turn red once it is material (3 %), while an
honest scale's drift (a random walk of about 0.05 %/day, a daily swing of a few hundredths of
a per cent) stays under the 2 % tolerance for months. v1 is kept for rescoring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub import stats
from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import level, r, step
from cloud_stub.rules.base import Finding, Rule, register


@register
class CollateralWeightV1(Rule):
    id = "collateral_weight"
    version = 1
    subscore = "collateral_safety"
    title = "Pledged weight vs pledged quantity"
    defaults: Mapping[str, Any] = {
        "recent_windows": 6, "shortfall_pct": {"yellow": 2.0, "orange": 5.0, "red": 10.0}, "persist_hours": 24.0,
        "surplus_info_pct": 5.0,
    }

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        out = []
        for subj in ev.subjects("collateral.drift_pct"):
            s = ev.series("collateral.drift_pct", subj)
            if s is None or not np.isfinite(s.value).any():
                continue
            ok = np.isfinite(s.value)
            v, t = s.value[ok], s.start[ok]
            now = stats.median(v[-params["recent_windows"]:])
            lv = params["shortfall_pct"]
            below = v < -lv["yellow"]
            hours_below = float(below.sum() * s.length / 3600)
            first = int(t[np.argmax(below)]) if below.any() else int(t[0])
            sev = level(-now, lv["yellow"], lv["orange"], lv["red"])
            if sev is not None and hours_below >= params["persist_hours"]:
                sev = step(sev, +1)
            compared = {"drift_now_pct": r(now, 3), "drift_min_pct": r(float(v.min()), 3),
                        "hours_below_tolerance": r(hours_below, 2), "windows": int(v.size),
                        "first_below": first if below.any() else None}
            if sev is not None:
                msg = (f"Pledged goods at {subj} weigh {-now:.1f} % less than pledged (median of the last "
                       f"{params['recent_windows']} windows), below tolerance for {hours_below:.0f} h.")
                out.append(Finding(self.id, self.version, sev, self.subscore, f"{subj}:shortfall:{first}", first,
                                   int(t[-1] + s.length), ("collateral.drift_pct",), compared,
                                   {"drift_now_pct": r(now, 3)}, {"shortfall_pct": dict(lv),
                                                                   "persist_hours": params["persist_hours"]},
                                   "below", msg, {"kind": "pledged baseline_kg (profile)", "drift_pct": 0.0}))
            elif now >= params["surplus_info_pct"]:
                out.append(Finding(self.id, self.version, "info", self.subscore, f"{subj}:surplus:{int(t[0])}",
                                   int(t[0]), int(t[-1] + s.length), ("collateral.drift_pct",), compared,
                                   {"drift_now_pct": r(now, 3)}, {"surplus_info_pct": params["surplus_info_pct"]},
                                   "above", f"Pledged goods at {subj} weigh {now:.1f} % more than pledged.",
                                   {"kind": "pledged baseline_kg (profile)", "drift_pct": 0.0}))
        return out


@register
class CollateralWeight(CollateralWeightV1):
    version = 2
    defaults: Mapping[str, Any] = {
        **CollateralWeightV1.defaults, "shortfall_pct": {"yellow": 2.0, "orange": 2.5, "red": 3.0},
    }
