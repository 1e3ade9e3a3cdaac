"""Machine run time vs MES run minutes: were the machines running when the MES says they were?

RuleInputs per local day: for each asset, ``machine.runtime_min`` (its own running signal)
when it has one, else ``machine.on_minutes`` (power above its on-threshold), summed over
assets. Claims: ``mes.run_min``. The signed bias uses the same arithmetic as
``mes_vs_camera`` (own early ratio clipped to ``ratio_min``..``ratio_max``; cumulative and
worst-window excess), with wider tolerances because run-time bookkeeping is coarse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import BIAS_DEFAULTS, bias_finding, graded_bias
from cloud_stub.rules.base import Finding, Rule, register


def machine_minutes(ev: RuleInputs) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None:
    run = set(ev.subjects("machine.runtime_min"))
    parts = []
    if run:
        parts.append(ev.daily("machine.runtime_min", run))
    on = [s for s in ev.subjects("machine.on_minutes") if s not in run]
    if on:
        parts.append(ev.daily("machine.on_minutes", on))
    parts = [x for x in parts if x is not None]
    if not parts:
        return None
    n = sum(len(x.subjects) for x in parts)
    value = sum(x.value for x in parts)
    cover = sum(x.coverage * len(x.subjects) for x in parts) / n
    return np.asarray(value), np.asarray(cover), tuple(s for x in parts for s in x.subjects)


@register
class MachineTimeVsMes(Rule):
    id = "machine_time_vs_mes"
    version = 1
    subscore = "production_authenticity"
    title = "Machine run time vs MES run minutes"
    defaults: Mapping[str, Any] = {
        **BIAS_DEFAULTS, "ratio_min": 0.8, "ratio_max": 1.15, "min_units": 60.0, "day_tolerance": 0.20,
        "excess_yellow": 0.10, "excess_orange": 0.20, "excess_red": 0.35,
    }

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        mm = machine_minutes(ev)
        claims = ev.enterprise_daily("mes.run_min")
        if mm is None or not np.isfinite(claims).any():
            return []
        graded = graded_bias(ev, claims, mm[0], mm[1], params)
        if graded is None:
            return []
        b, sev, driver, nums = graded
        msg = (f"The MES reports {nums['claims_total']:.0f} run minutes over {nums['days_compared']} days; the "
               f"machines ({', '.join(mm[2])}) ran {nums['evidence_total']:.0f}. At the enterprise's own ratio "
               f"{b.ratio:.3f} that is {100 * b.cum_excess:+.1f} % overall and {100 * b.roll_excess:+.1f} % over "
               f"{nums['window']['first_day']}..{nums['window']['last_day']}.")
        return [bias_finding(self, ev, b, params, sev, driver, ("mes.run_min", "machine.runtime_min",
                                                               "machine.on_minutes"), msg,
                             "median MES run / machine minutes of the first comparable days", nums=nums)]
