"""Machine cycles x cavities vs MES output, where the profile declares the mould's cavities.

Each ``machine.cycles`` record of an asset whose device declares ``params.cavities``
carries ``detail.cavities``: one mould opening makes that many parts, good or scrap. The
day's parts from cycles (sum over those assets of cycles x cavities) are compared with
``mes.produced_qty`` (good + scrap, summed over products) with the same signed-bias
arithmetic as ``mes_vs_camera``. The expected ratio is learned from the first days but
clipped to ``ratio_min``..``ratio_max``: if the cycle counters do not cover every machine
that produces, raise ``ratio_max`` in the analysis configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import BIAS_DEFAULTS, bias_finding, graded_bias
from cloud_stub.rules.base import Finding, Rule, register


def cycle_units(ev: RuleInputs) -> tuple[np.ndarray, np.ndarray] | None:
    """(parts per day from cycles x cavities, coverage) over the assets that declare cavities; None if none do."""
    starts, lens = ev.day_windows()
    subjects = []
    for subj in ev.subjects("machine.cycles"):
        s = ev.series("machine.cycles", subj)
        if s is not None and any(ev.detail(i).get("cavities") for i in s.ids.tolist()):
            subjects.append(subj)
    if not subjects or len(starts) == 0:
        return None
    total = np.zeros(len(starts))
    cover = np.zeros(len(starts))
    for subj in subjects:
        s = ev.series("machine.cycles", subj)
        assert s is not None
        cav = np.array([float(ev.detail(i).get("cavities") or np.nan) for i in s.ids.tolist()])
        parts = np.where(np.isfinite(s.value) & np.isfinite(cav), s.value * cav, 0.0)
        seen = (np.isfinite(s.value) & np.isfinite(cav)).astype(float) * s.length
        cp, cs = np.concatenate(([0.0], np.cumsum(parts))), np.concatenate(([0.0], np.cumsum(seen)))
        lo = np.searchsorted(s.start, starts)
        hi = np.maximum(np.searchsorted(s.start, starts + lens - s.length, side="right"), lo)
        total += cp[hi] - cp[lo]
        cover += (cs[hi] - cs[lo]) / lens
    return total, np.clip(cover / len(subjects), 0, 1)


@register
class CyclesVsMes(Rule):
    id = "cycles_vs_mes"
    version = 1
    subscore = "production_authenticity"
    title = "Machine cycles x cavities vs MES output"
    defaults: Mapping[str, Any] = {**BIAS_DEFAULTS, "ratio_min": 0.9, "ratio_max": 1.10}

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        cyc = cycle_units(ev)
        claims = ev.enterprise_daily("mes.produced_qty")
        if cyc is None or not np.isfinite(claims).any():
            return []
        graded = graded_bias(ev, claims, cyc[0], cyc[1], params)
        if graded is None:
            return []
        b, sev, driver, nums = graded
        msg = (f"The MES claims {nums['claims_total']:.0f} parts over {nums['days_compared']} days; the machines' "
               f"cycles x cavities made {nums['evidence_total']:.0f}. At the enterprise's own ratio {b.ratio:.3f} "
               f"the claims are {100 * b.cum_excess:+.1f} % overall and {100 * b.roll_excess:+.1f} % over "
               f"{nums['window']['first_day']}..{nums['window']['last_day']}.")
        return [bias_finding(self, ev, b, params, sev, driver, ("mes.produced_qty", "machine.cycles"), msg,
                             "median MES/(cycles x cavities) of the first comparable days", nums=nums)]
