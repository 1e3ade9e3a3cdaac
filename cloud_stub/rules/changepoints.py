"""Stoppages and level shifts in physical activity, and MES claims made through a stoppage.

Activity per local day: ``energy.kwh`` summed over all meters (days the meters covered),
and, where present, ``machine.cycles`` summed over machines. With ``base`` = the 5th
percentile of daily kWh (idle draw) and ``L`` = the median of the busier half of days, a
day is *stopped* when ``kWh_d <= base + stop_fraction x (L - base)`` (and its cycles are
at most ``stop_fraction`` of their busy median, when cycles exist). Runs of at least
``min_days`` observed stopped days are stoppages (an ordinary weekend is 2 days and is not
one; a day without enough data ends a run: unobserved is not stopped).

* A stoppage is ``operating_stability``: info below ``yellow_days`` (a public-holiday week
  is normal), yellow up to ``orange_days``, orange beyond, or when it has lasted
  ``yellow_days`` and is still going at the end of the period.
* Days inside a stoppage on which the MES claims at least ``claim_fraction`` of its typical
  daily output are production claimed through a physical stoppage
  (``production_authenticity``): one day orange, ``red_claim_days`` or more red.
* Declared downtime (version 2): days of a stoppage covered by a site-wide declaration of
  planned downtime, maintenance or a holiday (cloud_stub/declarations.py) are expected and do
  not count towards its length; a stoppage entirely declared is info, whatever its length.
  Claims made through it are still flagged: declaring a stoppage does not make output in it
  possible (the ``declarations`` rule flags such claims in declared downtime as well).
* Level shifts of the working-day energy (binary segmentation of the mean, BIC-like
  penalty) larger than ``shift_pct`` are reported as info.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub import stats
from cloud_stub.declarations import DOWNTIME
from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import day_label, r
from cloud_stub.rules.base import Finding, Rule, register


@register
class Changepoints(Rule):
    id = "changepoints"
    version = 2
    # Version 2 treats declared downtime as expected; version 1 (below) did not know declarations.
    honours_declarations = True
    subscore = "operating_stability"
    title = "Stoppages and level shifts; claims through stoppages"
    defaults: Mapping[str, Any] = {
        "min_coverage": 0.9, "min_days": 3, "stop_fraction": 0.15, "yellow_days": 10, "orange_days": 21,
        "claim_fraction": 0.2, "red_claim_days": 2, "shift_pct": 30.0, "min_history_days": 10,
    }

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        p = params
        en = ev.daily("energy.kwh")
        if en is None:
            return []
        kwh = np.where(en.coverage >= p["min_coverage"], en.value, np.nan)
        if np.isfinite(kwh).sum() < p["min_history_days"]:
            return []
        base = float(np.nanpercentile(kwh, 5))
        upper = kwh[np.isfinite(kwh) & (kwh >= stats.median(kwh))]
        busy = stats.median(upper)
        if not busy > base:
            return []
        threshold = base + p["stop_fraction"] * (busy - base)
        act = kwh.copy()
        cyc = ev.daily("machine.cycles")
        cyc_thr = None
        if cyc is not None:
            cv = np.where(cyc.coverage >= p["min_coverage"], cyc.value, np.nan)
            cyc_busy = stats.median(cv[np.isfinite(cv) & (cv >= stats.median(cv))])
            if np.isfinite(cyc_busy) and cyc_busy > 0:
                cyc_thr = p["stop_fraction"] * cyc_busy
                # A day counts as stopped only if the cycles agree (when known).
                act = np.where(np.isfinite(cv) & (cv > cyc_thr), threshold + busy, act)
        # A day without enough data is unknown, not stopped: it ends a stoppage (the offline
        # rule speaks about it), so claims on unobserved days are never "claims in a stoppage".
        runs = stats.low_runs(act, threshold, min_len=p["min_days"], nan_breaks=True)
        claims = ev.enterprise_daily("mes.produced_qty")
        typical = stats.median(claims[np.isfinite(claims) & (claims > 0)]) if np.isfinite(claims).any() else np.nan
        starts, lens = ev.day_windows()
        base_info = {"kind": "5th percentile (idle) and median of the busier half of daily kWh",
                     "idle_kwh": r(base, 2), "busy_kwh": r(busy, 2), "stop_threshold_kwh": r(threshold, 2),
                     "cycles_stop_threshold": r(cyc_thr, 1) if cyc_thr is not None else None}
        out: list[Finding] = []
        last_day = int(np.flatnonzero(np.isfinite(kwh))[-1])
        declared = ev.declarations.per_window(starts, lens, kinds=DOWNTIME) if self.honours_declarations else None
        for a, b in runs:
            n = b - a
            ongoing = b - 1 >= last_day
            w0, w1 = int(starts[a]), int(starts[b - 1] + lens[b - 1])
            keys = sorted({d.key for d in declared[a:b] if d is not None}) if declared is not None else []
            n_sev = n - sum(d is not None for d in declared[a:b]) if declared is not None else n
            sev = "info" if n_sev < p["yellow_days"] else "yellow" if n_sev < p["orange_days"] else "orange"
            if ongoing and n_sev >= p["yellow_days"]:
                sev = "orange"
            compared = {"first_day": day_label(starts[a]), "last_day": day_label(starts[b - 1]), "days": n,
                        "kwh_per_day": [r(x, 1) for x in kwh[a:b]], "ongoing": ongoing}
            if keys:
                compared.update(declared_days=n - n_sev, declarations=keys)
            out.append(Finding(
                self.id, self.version, sev, "operating_stability", f"stoppage:{w0}", w0, w1,
                ("energy.kwh", "machine.cycles") if cyc_thr is not None else ("energy.kwh",), compared,
                {"days": n, "mean_kwh": r(float(np.nanmean(kwh[a:b])), 2)},
                {"min_days": p["min_days"], "stop_fraction": p["stop_fraction"], "yellow_days": p["yellow_days"],
                 "orange_days": p["orange_days"]}, "below",
                f"Physical stoppage of {n} days ({compared['first_day']}..{compared['last_day']}): energy at idle "
                f"level{' and no machine cycles' if cyc_thr is not None else ''}"
                + ("; still stopped at the end of the period." if ongoing else ".")
                + (f" {n - n_sev} of these days were declared ({', '.join(keys)})." if keys else ""), base_info))
            if np.isfinite(typical):
                c = claims[a:b]
                claimed = np.flatnonzero(np.isfinite(c) & (c >= p["claim_fraction"] * typical))
                if claimed.size:
                    sev2 = "red" if claimed.size >= p["red_claim_days"] else "orange"
                    units = float(c[claimed].sum())
                    out.append(Finding(
                        self.id, self.version, sev2, "production_authenticity", f"claims_in_stoppage:{w0}", w0, w1,
                        ("mes.produced_qty", "energy.kwh"),
                        {**compared, "claimed_days": [day_label(starts[a + i]) for i in claimed.tolist()],
                         "units_claimed": r(units, 1)},
                        {"claimed_days": int(claimed.size), "typical_daily_units": r(typical, 1)},
                        {"claim_fraction": p["claim_fraction"], "red_claim_days": p["red_claim_days"]},
                        "claims_exceed_evidence",
                        f"The MES claims {units:.0f} units on {claimed.size} day(s) of a physical stoppage "
                        f"({compared['first_day']}..{compared['last_day']}) when the machines drew idle power.",
                        base_info))
        out.extend(self._shifts(ev, p, kwh, threshold))
        return out

    def _shifts(self, ev: RuleInputs, p: Mapping[str, Any], kwh: np.ndarray, threshold: float) -> list[Finding]:
        work = np.where(kwh > threshold, kwh, np.nan)
        cps = stats.binary_segmentation(work, min_size=5)
        starts, lens = ev.day_windows()
        out = []
        bounds = [0, *cps, len(work)]
        for i, cp in enumerate(cps):
            before, after = stats.median(work[bounds[i]:cp]), stats.median(work[cp:bounds[i + 2]])
            if not (np.isfinite(before) and np.isfinite(after) and before > 0):
                continue
            change = 100 * (after - before) / before
            if abs(change) < p["shift_pct"]:
                continue
            t = int(starts[cp])
            out.append(Finding(
                self.id, self.version, "info", "operating_stability", f"level_shift:{t}", t, ev.period_end,
                ("energy.kwh",), {"day": day_label(t), "median_before_kwh": r(before, 1),
                                  "median_after_kwh": r(after, 1)},
                {"change_pct": r(change, 1)}, {"shift_pct": p["shift_pct"]}, "above" if change > 0 else "below",
                f"Working-day energy changed {change:+.0f} % from {day_label(t)} "
                f"({before:.0f} -> {after:.0f} kWh/day)."))
        return out


@register
class ChangepointsV1(Changepoints):
    """Version 1, before declarations: kept so scores made with it still rescore."""

    version = 1
    honours_declarations = False
