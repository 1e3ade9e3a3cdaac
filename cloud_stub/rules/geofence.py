"""Geofence exits of pledged goods: did the collateral leave its agreed place?

``collateral.geofence_exits`` counts exits per window and ``collateral.inside_geofence``
gives the last state (0 = outside). Severity: any exit orange; red when the goods are
still outside at the end of the period or stayed outside ``red_hours`` or more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import r
from cloud_stub.rules.base import Finding, Rule, register


@register
class Geofence(Rule):
    id = "geofence"
    version = 1
    subscore = "collateral_safety"
    title = "Geofence exits of pledged goods"
    defaults: Mapping[str, Any] = {"red_hours": 24.0}

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        out = []
        subjects = sorted({*ev.subjects("collateral.geofence_exits"), *ev.subjects("collateral.inside_geofence")})
        for subj in subjects:
            ex = ev.series("collateral.geofence_exits", subj)
            ins = ev.series("collateral.inside_geofence", subj)
            exits = float(np.nansum(ex.value)) if ex is not None else 0.0
            outside_h, still_out, first = 0.0, False, None
            if ins is not None and len(ins):
                outside = np.isfinite(ins.value) & (ins.value < 0.5)
                outside_h = float(outside.sum() * ins.length / 3600)
                last = np.flatnonzero(np.isfinite(ins.value))
                still_out = bool(last.size and ins.value[last[-1]] < 0.5)
                if outside.any():
                    first = int(ins.start[np.argmax(outside)])
            if exits <= 0 and outside_h <= 0:
                continue
            if first is None and ex is not None:
                first = int(ex.start[np.argmax(np.nan_to_num(ex.value) > 0)])
            first = ev.period_start if first is None else first
            sev = "red" if still_out or outside_h >= params["red_hours"] else "orange"
            msg = (f"Pledged goods at {subj} left the geofence {exits:.0f} time(s), {outside_h:.0f} h outside"
                   + ("; still outside at the end of the period." if still_out else "."))
            out.append(Finding(self.id, self.version, sev, self.subscore, f"{subj}:{first}", first, ev.period_end,
                               ("collateral.geofence_exits", "collateral.inside_geofence"),
                               {"exits": r(exits, 0), "hours_outside": r(outside_h, 2), "outside_at_end": still_out},
                               {"exits": r(exits, 0), "hours_outside": r(outside_h, 2)},
                               {"red_hours": params["red_hours"], "orange": "any exit"}, "outside", msg))
        return out
