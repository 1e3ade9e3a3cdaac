"""Slow drift: CUSUM on the standardised daily residual of MES claims against physical evidence.

Gradual inflation (a few per cent more each week) hides inside any day-by-day tolerance.
A CUSUM accumulates small, consistent excesses: per source (line cameras, then machine
cycles x cavities, then energy), the daily residual is
``e_d = ln(claims_d / evidence_d)``, standardised against the first ``baseline_days``
comparable days, ``z_d = (e_d - median(e_base)) / max(MAD(e_base), sigma_floor)``; the
upper sum ``S_d = max(0, S_{d-1} + z_d - k)`` alarms when it exceeds ``h``.

Expected detection delay (noise-free, drift starting right after the baseline): the
smallest n with sum_{i<=n} (r i / sigma - k) > h, r the daily inflation rate in log units
(~ per cent / 100) and sigma the residual scale. With k = 0.5, h = 5 and sigma at the
0.03 floor: 1 %/day -> 7 comparable days, 0.5 %/day -> 11, 2 %/day -> 5
(``stats.cusum_delay``; docs/cross-verification.md has the table).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub import stats
from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import DISPATCH_PATTERNS, day_label, is_dispatch, level, r
from cloud_stub.rules.base import Finding, Rule, register


def sources(ev: RuleInputs, p: Mapping[str, Any]) -> list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]]:
    """(source, claims indicator, claims, evidence, coverage) for every physical source present."""
    out = []
    good = "mes.good_qty" if "mes.good_qty" in ev.series_by_name else "mes.produced_qty"
    cam = ev.daily("vision.units_out", lambda s: not is_dispatch(s, p["dispatch_patterns"], ev.roles))
    if cam is not None:
        out.append(("vision.units_out", good, ev.enterprise_daily(good), cam.value, cam.coverage))
    from cloud_stub.rules.cycles_vs_mes import cycle_units

    cyc = cycle_units(ev)
    if cyc is not None:
        out.append(("machine.cycles", "mes.produced_qty", ev.enterprise_daily("mes.produced_qty"), *cyc))
    en = ev.daily("energy.kwh")
    if en is not None:
        out.append(("energy.kwh", "mes.produced_qty", ev.enterprise_daily("mes.produced_qty"), en.value, en.coverage))
    return out


@register
class DriftCusum(Rule):
    id = "drift_cusum"
    version = 2
    subscore = "production_authenticity"
    title = "Gradual inflation of claims (CUSUM)"
    defaults: Mapping[str, Any] = {
        "k": 0.5, "h": 5.0, "baseline_days": 10, "min_baseline_days": 6, "min_coverage": 0.9, "min_units": 50.0,
        "sigma_floor": {"vision.units_out": 0.03, "machine.cycles": 0.03, "energy.kwh": 0.10},
        # A CUSUM alarm is reported only if the claims since the onset run at least this far
        # above the baseline relation: a noise excursion crosses h with a tiny mean excess.
        "min_effect_pct": {"vision.units_out": 3.0, "machine.cycles": 3.0, "energy.kwh": 8.0},
        "severity_sum": {"yellow": 1.0, "orange": 2.0, "red": 4.0},  # S / h at the end (or its peak)
        "dispatch_patterns": list(DISPATCH_PATTERNS),
    }

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        out = []
        for src, claim_name, claims, evid, cov in sources(ev, params):
            f = self._one(ev, params, src, claim_name, claims, evid, cov)
            if f is not None:
                out.append(f)
        return out

    def _one(self, ev: RuleInputs, p: Mapping[str, Any], src: str, claim_name: str, claims: np.ndarray,
             evid: np.ndarray, cov: np.ndarray) -> Finding | None:
        ok = (np.isfinite(claims) & np.isfinite(evid) & (cov >= p["min_coverage"]) & (claims >= p["min_units"])
              & (evid > 0))
        idx = np.flatnonzero(ok)
        if idx.size < p["min_baseline_days"] + 2:
            return None
        e = np.log(claims[idx] / evid[idx])
        base = e[: p["baseline_days"]]
        center, spread = stats.median(base), stats.mad(base)
        floor = float(p["sigma_floor"].get(src, 0.05))
        sigma = max(spread if np.isfinite(spread) else 0.0, floor)
        z = (e - center) / sigma
        z[: p["baseline_days"]] = 0.0  # the baseline days define "normal"; monitoring starts after them
        res = stats.cusum(z, p["k"], p["h"], two_sided=False)
        if res.alarm is None:
            return None
        peak = float(res.upper[res.alarm:].max())
        ratio = peak / p["h"]
        sv = p["severity_sum"]
        sev = level(ratio, sv["yellow"], sv["orange"], sv["red"]) or "yellow"
        starts, lens = ev.day_windows()
        onset, alarm = int(idx[res.onset]), int(idx[res.alarm])
        after = slice(res.onset, None)
        growth = float(np.exp(e[after].mean() - center) - 1.0)
        if 100 * growth < float(p["min_effect_pct"].get(src, 3.0)):
            return None
        compared = {
            "days_compared": int(idx.size), "onset_day": day_label(starts[onset]),
            "alarm_day": day_label(starts[alarm]),
            "detection_delay_days": int(res.alarm - res.onset + 1),
            "claims_since_onset": r(claims[idx][after].sum(), 2), "evidence_since_onset": r(evid[idx][after].sum(), 2),
            "mean_excess_since_onset_pct": r(100 * growth, 2),
            "last_days_residual_z": [r(x, 2) for x in z[-5:]],
        }
        msg = (f"{claim_name} drifted upwards against {src}: CUSUM of the standardised daily residual crossed "
               f"h={p['h']} on {compared['alarm_day']} (onset ~{compared['onset_day']}, "
               f"{compared['detection_delay_days']} compared days later); since the onset the claims run "
               f"{100 * growth:+.1f} % above the baseline relation, peak sum {peak:.1f}.")
        start = int(starts[onset])
        return Finding(
            self.id, self.version, sev, self.subscore, f"{src}:{start}", start, int(starts[idx[-1]] + lens[idx[-1]]),
            (claim_name, src), compared,
            {"cusum_peak": r(peak, 3), "cusum_last": r(float(res.upper[-1]), 3), "peak_over_h": r(ratio, 3)},
            {"k": p["k"], "h": p["h"], "severity_peak_over_h": dict(sv)}, "claims_exceed_evidence", msg,
            {"kind": "ln(claims/evidence) over the first comparable days", "median": r(center, 5),
             "mad": r(spread, 5), "sigma_used": r(sigma, 5), "days": int(base.size)},
        )
