"""Energy per unit against the enterprise's own baseline: do the meters support the claimed output?

Per local day: ``kWh_d`` = all ``energy.kwh`` subjects summed (days the meters covered),
``U_d`` = ``mes.produced_qty`` summed over products. The baseline is a robust line fitted
over production days, ``kWh = a + b U`` (Theil–Sen: median of pairwise slopes), and the
idle level ``I`` = median kWh of days with no claimed output (``a`` if there are none).

* **Production claimed on idle power**: a day claiming at least ``min_claim_share`` of the
  typical daily units whose energy above idle, ``kWh_d - I``, is below ``idle_fraction`` x
  ``b U_d`` (the energy the claimed units need). Smaller claims on idle days are normal
  bookkeeping (output of the previous day booked late).
* **Power with no production claimed**: a non-production day whose energy above idle
  exceeds ``busy_fraction`` x ``b`` x median daily units.
* **Too little energy for the units**: the relative residual ``(kWh_d - (a + b U_d)) / (a + b U_d)``
  has robust z below ``-z_threshold`` on at least ``min_days`` days.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub import stats
from cloud_stub.evidence import Evidence
from cloud_stub.rules._common import day_label, level, r
from cloud_stub.rules.base import Finding, Rule, register


@register
class EnergyPerUnit(Rule):
    id = "energy_per_unit"
    version = 1
    subscore = "production_authenticity"
    title = "Energy per unit vs the enterprise's own baseline"
    defaults: Mapping[str, Any] = {
        "min_coverage": 0.9, "min_days": 8, "min_units": 50.0, "min_claim_share": 0.25, "idle_fraction": 0.25,
        "busy_fraction": 0.5,
        "z_threshold": 3.5, "resid_floor": 0.05, "low_min_days": 3,
        "idle_days": {"yellow": 1, "orange": 2, "red": 3},
        "unclaimed_days": {"yellow": 1, "orange": 3, "red": 99},
        "low_days": {"yellow": 3, "orange": 6, "red": 10},
    }

    def evaluate(self, ev: Evidence, params: Mapping[str, Any]) -> list[Finding]:
        p = params
        en = ev.daily("energy.kwh")
        units = ev.enterprise_daily("mes.produced_qty")
        if en is None or not np.isfinite(units).any():
            return []
        good = np.isfinite(en.value) & (en.coverage >= p["min_coverage"])
        units0 = np.where(np.isfinite(units), units, np.where(np.isfinite(ev.enterprise_daily("mes.good_qty")),
                                                                0.0, np.nan))
        some = good & np.isfinite(units0) & (units0 >= p["min_units"])
        if some.sum() < p["min_days"]:
            return []
        # Production days claim a material share of a typical day; a small claim on an idle
        # day is bookkeeping (output booked a day late), not production.
        typical = stats.median(units0[some])
        prod = some & (units0 >= p["min_claim_share"] * typical)
        idle = good & np.isfinite(units0) & (units0 < p["min_claim_share"] * typical)
        if prod.sum() < p["min_days"]:
            return []
        try:
            fit = stats.theil_sen(units0[prod], en.value[prod])
        except ValueError:
            return []
        if fit.slope <= 0:
            return []
        idle_kwh = stats.median(en.value[idle]) if idle.sum() >= 2 else max(fit.intercept, 0.0)
        typical = stats.median(units0[prod])
        starts, lens = ev.day_windows()
        base = {"kind": "Theil-Sen kWh = a + b x units over production days; idle = median kWh of non-production days",
                "a_kwh": r(fit.intercept, 3), "b_kwh_per_unit": r(fit.slope, 5), "idle_kwh": r(idle_kwh, 3),
                "typical_units": r(typical, 1), "production_days": int(prod.sum()), "idle_days": int(idle.sum())}
        inds = ("energy.kwh", "mes.produced_qty")
        out: list[Finding] = []

        above = en.value - idle_kwh
        need = fit.slope * units0
        idle_claim = prod & (above < p["idle_fraction"] * need)
        if idle_claim.any():
            d = np.flatnonzero(idle_claim)
            n = int(d.size)
            lv = p["idle_days"]
            sev = level(n, lv["yellow"], lv["orange"], lv["red"]) or "yellow"
            days = [{"day": day_label(starts[i]), "units_claimed": r(units0[i], 1), "kwh": r(en.value[i], 2),
                     "kwh_above_idle": r(above[i], 2), "kwh_needed": r(need[i], 2)} for i in d[:10]]
            share = float(units0[d].sum() / np.nansum(units0[prod]))
            msg = (f"On {n} day(s) the MES claims {units0[d].sum():.0f} units while the meters drew idle power "
                   f"({above[d].sum():.0f} kWh above idle where the claimed units need ~{need[d].sum():.0f} kWh); "
                   f"first {days[0]['day']}.")
            out.append(Finding(
                self.id, self.version, sev, self.subscore, f"idle_power_claims:{int(starts[d[0]])}",
                int(starts[d[0]]), int(starts[d[-1]] + lens[d[-1]]), inds,
                {"days": days, "units_claimed": r(units0[d].sum(), 1), "share_of_claimed_pct": r(100 * share, 2)},
                {"days_flagged": n, "kwh_above_idle_over_needed": [r(above[i] / need[i], 3) for i in d[:10]]},
                {"idle_fraction": p["idle_fraction"], "days": dict(lv)}, "claims_exceed_evidence", msg, base))

        unclaimed = idle & (above > p["busy_fraction"] * fit.slope * typical)
        if unclaimed.any():
            d = np.flatnonzero(unclaimed)
            lv = p["unclaimed_days"]
            sev = level(d.size, lv["yellow"], lv["orange"], lv["red"]) or "yellow"
            msg = (f"On {d.size} day(s) with little or no output claimed the meters drew {above[d].sum():.0f} kWh "
                   "above idle, "
                   f"enough for ~{above[d].sum() / fit.slope:.0f} units: undeclared production or unexplained load "
                   f"(first {day_label(starts[d[0]])}).")
            out.append(Finding(
                self.id, self.version, sev, self.subscore, f"power_without_claims:{int(starts[d[0]])}",
                int(starts[d[0]]), int(starts[d[-1]] + lens[d[-1]]), inds,
                {"days": [{"day": day_label(starts[i]), "kwh": r(en.value[i], 2), "kwh_above_idle": r(above[i], 2),
                           "units_claimed": r(units0[i], 1)} for i in d[:10]]},
                {"days_flagged": int(d.size), "units_equivalent": r(above[d].sum() / fit.slope, 1)},
                {"busy_fraction": p["busy_fraction"], "days": dict(lv)}, "evidence_exceeds_claims", msg, base))

        rest = prod & ~idle_claim
        pred = fit.predict(units0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(pred > 0, (en.value - pred) / pred, np.nan)
        center, spread = stats.median(rel[rest]), stats.mad(rel[rest])
        sigma = max(spread if np.isfinite(spread) else 0.0, p["resid_floor"])
        z = (rel - center) / sigma
        low = rest & (z < -p["z_threshold"])
        lv = p["low_days"]
        sev = level(int(low.sum()), lv["yellow"], lv["orange"], lv["red"])
        if sev is not None and low.sum() >= p["low_min_days"]:
            d = np.flatnonzero(low)
            kpu = en.value[d] / units0[d]
            msg = (f"On {d.size} production days the energy per unit was far below the enterprise's own relation "
                   f"(robust z < -{p['z_threshold']}; median {np.median(kpu):.3f} kWh/unit vs "
                   f"{stats.median(en.value[rest] / units0[rest]):.3f} typical): the claimed units are not "
                   "backed by the energy drawn.")
            out.append(Finding(
                self.id, self.version, sev, self.subscore, f"low_energy_per_unit:{int(starts[d[0]])}",
                int(starts[d[0]]), int(starts[d[-1]] + lens[d[-1]]), inds,
                {"days": [{"day": day_label(starts[i]), "kwh": r(en.value[i], 2), "units": r(units0[i], 1),
                           "predicted_kwh": r(pred[i], 2), "z": r(z[i], 2)} for i in d[:10]]},
                {"days_flagged": int(d.size), "residual_median": r(center, 4), "residual_mad": r(spread, 4),
                 "sigma_used": r(sigma, 4), "min_z": r(float(z[d].min()), 2)},
                {"z": -p["z_threshold"], "days": dict(lv)}, "claims_exceed_evidence", msg, base))
        return out
