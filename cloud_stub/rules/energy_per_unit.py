"""Energy per unit against the enterprise's own baseline: do the meters support the claimed output?

Per local day: ``kWh_d`` = all ``energy.kwh`` subjects summed (days the meters covered),
``U_d`` = ``mes.produced_qty`` summed over products. Production days claim at least
``min_claim_share`` of a typical day; the others are non-production days (weekends,
holidays, a few units booked a day late).

Baseline: the idle level ``I`` = median kWh of non-production days (a Theil–Sen fit
``kWh = a + b U`` over production days gives ``a`` when there are fewer than two), and the
energy per unit above idle ``r0`` = median of ``(kWh_d - I) / U_d`` over the first
``baseline_days`` production days (early days, so later inflation cannot teach the rule
its own numbers). A day's units need ``r0 U_d`` kWh above idle.

* **Production claimed on idle power**: a production day with ``kWh_d - I`` below
  ``idle_fraction`` x ``r0 U_d``.
* **Power with no production claimed**: a non-production day whose energy above idle
  exceeds ``busy_fraction`` x ``r0`` x typical daily units.
* **Too little energy for the units**: the relative residual ``(kWh_d - I) / (r0 U_d) - 1``
  has robust z (against the baseline days, MAD floored at ``resid_floor``: day-level energy
  noise of +-10 % is normal) below ``-z_threshold`` and is below ``-min_shortfall`` on at
  least ``low_min_days`` days.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub import stats
from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import day_label, level, r
from cloud_stub.rules.base import Finding, Rule, register


@register
class EnergyPerUnit(Rule):
    id = "energy_per_unit"
    version = 1
    subscore = "production_authenticity"
    title = "Energy per unit vs the enterprise's own baseline"
    defaults: Mapping[str, Any] = {
        "min_coverage": 0.9, "min_days": 8, "baseline_days": 10, "min_units": 50.0, "min_claim_share": 0.25,
        "idle_fraction": 0.25, "busy_fraction": 0.5, "z_threshold": 3.0, "resid_floor": 0.08, "min_shortfall": 0.25,
        "low_min_days": 3,
        "idle_days": {"yellow": 1, "orange": 2, "red": 3},
        "unclaimed_days": {"yellow": 1, "orange": 3, "red": 99},
        "low_days": {"yellow": 3, "orange": 6, "red": 10},
    }

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        p = params
        en = ev.daily("energy.kwh")
        units = ev.enterprise_daily("mes.produced_qty")
        if en is None or not np.isfinite(units).any():
            return []
        good = np.isfinite(en.value) & (en.coverage >= p["min_coverage"])
        # A day with MES figures but no product rows claimed nothing.
        units0 = np.where(np.isfinite(units), units, np.where(np.isfinite(ev.enterprise_daily("mes.good_qty")),
                                                                0.0, np.nan))
        some = good & np.isfinite(units0) & (units0 >= p["min_units"])
        if some.sum() < p["min_days"]:
            return []
        typical = stats.median(units0[some])
        prod = some & (units0 >= p["min_claim_share"] * typical)
        idle = good & np.isfinite(units0) & (units0 < p["min_claim_share"] * typical)
        if prod.sum() < p["min_days"]:
            return []
        typical = stats.median(units0[prod])
        if idle.sum() >= 2:
            idle_kwh, idle_src = stats.median(en.value[idle]), "median kWh of non-production days"
        else:
            try:
                idle_kwh = max(stats.theil_sen(units0[prod], en.value[prod]).intercept, 0.0)
            except ValueError:
                return []
            idle_src = "Theil-Sen intercept of kWh on units over production days"
        above = en.value - idle_kwh
        base_days = np.flatnonzero(prod)[: p["baseline_days"]]
        r0 = stats.median(above[base_days] / units0[base_days])
        if not r0 > 0:
            return []
        need = r0 * units0
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(need > 0, above / need - 1.0, np.nan)
        center, spread = stats.median(rel[base_days]), stats.mad(rel[base_days])
        sigma = max(spread if np.isfinite(spread) else 0.0, p["resid_floor"])
        starts, lens = ev.day_windows()
        base = {"kind": "idle level and median (kWh - idle) / unit over the first production days",
                "idle_kwh": r(idle_kwh, 3), "idle_from": idle_src, "kwh_per_unit_above_idle": r(r0, 5),
                "baseline_days": int(base_days.size), "typical_units": r(typical, 1),
                "production_days": int(prod.sum()), "non_production_days": int(idle.sum())}
        inds = ("energy.kwh", "mes.produced_qty")
        out: list[Finding] = []

        idle_claim = prod & (above < p["idle_fraction"] * need)
        if idle_claim.any():
            d = np.flatnonzero(idle_claim)
            lv = p["idle_days"]
            sev = level(d.size, lv["yellow"], lv["orange"], lv["red"]) or "yellow"
            days = [{"day": day_label(starts[i]), "units_claimed": r(units0[i], 1), "kwh": r(en.value[i], 2),
                     "kwh_above_idle": r(above[i], 2), "kwh_needed": r(need[i], 2)} for i in d[:10]]
            share = float(units0[d].sum() / units0[prod].sum())
            msg = (f"On {d.size} day(s) the MES claims {units0[d].sum():.0f} units while the meters drew idle power "
                   f"({above[d].sum():.0f} kWh above idle where the claimed units need ~{need[d].sum():.0f} kWh); "
                   f"first {days[0]['day']}.")
            out.append(Finding(
                self.id, self.version, sev, self.subscore, f"idle_power_claims:{int(starts[d[0]])}",
                int(starts[d[0]]), int(starts[d[-1]] + lens[d[-1]]), inds,
                {"days": days, "units_claimed": r(units0[d].sum(), 1), "share_of_claimed_pct": r(100 * share, 2)},
                {"days_flagged": int(d.size), "kwh_above_idle_over_needed": [r(above[i] / need[i], 3) for i in d[:10]]},
                {"idle_fraction": p["idle_fraction"], "days": dict(lv)}, "claims_exceed_evidence", msg, base))

        unclaimed = idle & (above > p["busy_fraction"] * r0 * typical)
        if unclaimed.any():
            d = np.flatnonzero(unclaimed)
            lv = p["unclaimed_days"]
            sev = level(d.size, lv["yellow"], lv["orange"], lv["red"]) or "yellow"
            msg = (f"On {d.size} day(s) with little or no output claimed the meters drew {above[d].sum():.0f} kWh "
                   f"above idle, enough for ~{above[d].sum() / r0:.0f} units: undeclared production or unexplained "
                   f"load (first {day_label(starts[d[0]])}).")
            out.append(Finding(
                self.id, self.version, sev, self.subscore, f"power_without_claims:{int(starts[d[0]])}",
                int(starts[d[0]]), int(starts[d[-1]] + lens[d[-1]]), inds,
                {"days": [{"day": day_label(starts[i]), "kwh": r(en.value[i], 2), "kwh_above_idle": r(above[i], 2),
                           "units_claimed": r(units0[i], 1)} for i in d[:10]]},
                {"days_flagged": int(d.size), "units_equivalent": r(above[d].sum() / r0, 1)},
                {"busy_fraction": p["busy_fraction"], "days": dict(lv)}, "evidence_exceeds_claims", msg, base))

        z = (rel - center) / sigma
        low = prod & ~idle_claim & (z < -p["z_threshold"]) & (rel < -p["min_shortfall"])
        lv = p["low_days"]
        sev = level(int(low.sum()), lv["yellow"], lv["orange"], lv["red"])
        if sev is not None and low.sum() >= p["low_min_days"]:
            d = np.flatnonzero(low)
            msg = (f"On {d.size} production days the energy drawn covers only {100 * (1 + np.median(rel[d])):.0f} % "
                   f"(median) of what the claimed units need at the enterprise's own {r0:.3f} kWh/unit above idle "
                   f"(robust z < -{p['z_threshold']}): the claimed units are not backed by the energy drawn.")
            out.append(Finding(
                self.id, self.version, sev, self.subscore, f"low_energy_per_unit:{int(starts[d[0]])}",
                int(starts[d[0]]), int(starts[d[-1]] + lens[d[-1]]), inds,
                {"days": [{"day": day_label(starts[i]), "kwh": r(en.value[i], 2), "units": r(units0[i], 1),
                           "kwh_needed_above_idle": r(need[i], 2), "z": r(z[i], 2)} for i in d[:10]]},
                {"days_flagged": int(d.size), "residual_median": r(center, 4), "residual_mad": r(spread, 4),
                 "sigma_used": r(sigma, 4), "min_z": r(float(z[d].min()), 2),
                 "energy_over_needed_median_pct": r(100 * (1 + float(np.median(rel[d]))), 1)},
                {"z": -p["z_threshold"], "shortfall": p["min_shortfall"], "min_days": p["low_min_days"],
                 "days": dict(lv)},
                "claims_exceed_evidence", msg, base))
        return out


@register
class EnergyPerUnitV2(EnergyPerUnit):
    """Version 2: the "too little energy" cut is relative to the enterprise's own dispersion.

    Version 1 also required a fixed shortfall of 25 % (``min_shortfall``) and floored the
    residual's spread at 8 %, so a plant with steady energy per unit could inflate its output
    by 20 % and stay below the cut. Here a day is low when its residual is more than
    ``z_threshold`` robust standard deviations of the enterprise's own baseline days below
    their centre; the spread is floored at ``resid_floor`` (4 %: a meter's day-level noise
    never reads as zero) and no fixed cut remains.
    """

    version = 2
    defaults: Mapping[str, Any] = {**EnergyPerUnit.defaults, "resid_floor": 0.04, "min_shortfall": 0.0}
