"""offline_production **v2, frozen**: kept so scores made with it still ``cloud rescore`` identically.
Do not edit; the current version is in offline_production.py (v3: two working days in a row
unobserved while the MES claims output is red, not orange).

Offline during claimed production: the gateway saw little or nothing while the MES claims output.

Per local day, observation coverage is the mean over devices of ``data.coverage_pct``
(good polls / expected polls; a missing window counts as 0), or, without it, the share of
the day covered by ``energy.kwh`` records. On each day the MES claims at least
``min_units``, the claimed units the gateway could not observe are estimated as
``claims_d x (1 - coverage_d)`` (days below ``min_coverage`` only). Severity by that
unobserved share of all claimed units, or by the longest run of claimed days the gateway
missed, whichever is worse.

Why the run as well (version 2): the share alone shrinks as the period grows, so four
working days unobserved read orange over five weeks and yellow over a quarter. But a
gateway buffers through network outages (store and forward), so coverage is lost only when
it is switched off or cut from its devices; days on end of that while the MES claims full
output is what a bank must see whatever the period. The run counts working days only, days
claiming at least ``run_day_share`` of the median claimed day: a weekend without claims, or
with a late booking of Friday's output, neither extends nor breaks it; an observed working
day breaks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import day_label, level, r, worst
from cloud_stub.rules.base import Finding, Rule, register


def day_coverage(ev: RuleInputs) -> tuple[np.ndarray, str] | None:
    d = ev.daily("data.coverage_pct")
    if d is not None:
        # Sum of pct x 1 h windows / day length: scale the summed percentages back to a share.
        starts, lens = ev.day_windows()
        n = len(d.subjects)
        lens_by = [ev.series("data.coverage_pct", s).length for s in d.subjects]  # type: ignore[union-attr]
        share = d.value * (float(np.mean(lens_by)) / lens) / 100.0 / n
        return np.clip(share, 0, 1), "data.coverage_pct"
    e = ev.daily("energy.kwh")
    if e is not None:
        return e.coverage, "energy.kwh"
    return None


@register
class OfflineProductionV2(Rule):
    id = "offline_production"
    version = 2
    subscore = "data_integrity"
    title = "Gateway offline while production is claimed"
    defaults: Mapping[str, Any] = {"min_coverage": 0.8, "min_units": 50.0,
                                   "unobserved_share_pct": {"yellow": 1.0, "orange": 5.0, "red": 15.0},
                                   "run_days": {"yellow": 1, "orange": 2, "red": 3}, "run_day_share": 0.2}

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        cov = day_coverage(ev)
        claims = ev.enterprise_daily("mes.produced_qty")
        if cov is None or not np.isfinite(claims).any():
            return []
        coverage, source = cov
        claimed = np.isfinite(claims) & (claims >= params["min_units"])
        low = claimed & (coverage < params["min_coverage"])
        if not low.any():
            return []
        d = np.flatnonzero(low)
        unobserved = float((claims[d] * (1 - coverage[d])).sum())
        share = 100 * unobserved / float(claims[claimed].sum())
        lv, rd = params["unobserved_share_pct"], params["run_days"]
        working = claimed & (claims >= params["run_day_share"] * float(np.median(claims[claimed])))
        run = longest_run(low[working])
        sev = worst(level(share, lv["yellow"], lv["orange"], lv["red"]),
                    level(run, rd["yellow"], rd["orange"], rd["red"])) or "yellow"
        starts, lens = ev.day_windows()
        days = [{"day": day_label(starts[i]), "claimed": r(claims[i], 1), "coverage_pct": r(100 * coverage[i], 1),
                 "offline_hours": r((1 - coverage[i]) * lens[i] / 3600, 1)} for i in d[:10]]
        msg = (f"On {d.size} day(s) the MES claims {claims[d].sum():.0f} units while the gateway observed only part "
               f"of the day ({source}); ~{unobserved:.0f} claimed units ({share:.1f} % of all claimed) fall in "
               f"unobserved time; the longest run is {run} working day(s) in a row. First {days[0]['day']}.")
        return [Finding(self.id, self.version, sev, self.subscore, f"offline:{int(starts[d[0]])}", int(starts[d[0]]),
                        int(starts[d[-1]] + lens[d[-1]]), (source, "mes.produced_qty"),
                        {"days": days, "units_unobserved": r(unobserved, 1)},
                        {"unobserved_share_pct": r(share, 2), "days_flagged": int(d.size), "longest_run_days": run},
                        {"min_coverage": params["min_coverage"], "unobserved_share_pct": dict(lv),
                         "run_days": dict(rd), "run_day_share": params["run_day_share"]}, "missing", msg)]


def longest_run(flags: np.ndarray) -> int:
    """The longest run of True in ``flags`` (the working days, in order: unobserved or not)."""
    best = cur = 0
    for f in flags.tolist():
        cur = cur + 1 if f else 0
        best = max(best, cur)
    return best
