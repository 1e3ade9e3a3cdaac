"""ERP shipments vs physical out-movement: did the goods the ERP says were shipped leave the site?

RuleInputs per local day: ``vision.units_out`` of the dispatch/warehouse cameras (subjects
matching ``dispatch_patterns``) and decreases of pledged load-cell stock
(``collateral.weight_kg`` falling by more than ``min_drop_kg`` between windows), which
count as out-movement on a day the cameras missed. Without a dispatch camera the rule
says nothing: load cells watch the pledged stock only, which most shipments never touch.
Claims: ``erp.shipped_packs`` when the gateway sends it (v3: shipped parts converted on
site to the packs, cartons or pallets the dispatch camera counts, product by product, with
the site's product master), else ``erp.shipped_qty``; see :func:`cloud_stub.rules._packs.shipped_claims`.

* **Shipment with no out-movement** (red): a day with ``shipped >= min_ship`` where the
  dispatch cameras covered the day and counted nothing, no load cell dropped, and neither
  neighbouring day counted a surplus that could be this shipment (ERP dates may be a day
  off): surplus_j = out_j - rho x shipped_j must stay below half of rho x shipped_d.
* **Signed bias** of shipped vs counted, as in ``mes_vs_camera``, with the ratio rho learned
  from the first days (cartons vs units: no clipping by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import (
    BIAS_DEFAULTS,
    DISPATCH_PATTERNS,
    NO_EVIDENCE_EXCESS,
    WEIGHT_DEFAULTS,
    bias,
    bias_finding,
    bias_numbers,
    bias_severity,
    bias_severity_weighted,
    day_label,
    is_dispatch,
    level,
    r,
    recurrence_numbers,
)
from cloud_stub.rules._packs import PACK_DEFAULTS, ShippedClaims, shipped_claims
from cloud_stub.rules.base import Finding, Rule, register


def load_cell_drops(ev: RuleInputs, min_drop_kg: float) -> np.ndarray | None:
    """kg removed per day: sum of window-to-window decreases larger than ``min_drop_kg``."""
    subjects = ev.subjects("collateral.weight_kg")
    starts, lens = ev.day_windows()
    if not subjects or len(starts) == 0:
        return None
    out = np.zeros(len(starts))
    for subj in subjects:
        s = ev.series("collateral.weight_kg", subj)
        if s is None or len(s) < 2:
            continue
        ok = np.isfinite(s.value)
        t, v = s.start[ok], s.value[ok]
        dv = np.diff(v)
        drop = np.where(dv < -min_drop_kg, -dv, 0.0)
        day = np.searchsorted(starts, t[1:], side="right") - 1
        inside = (day >= 0) & (t[1:] < starts[np.maximum(day, 0)] + lens[np.maximum(day, 0)])
        np.add.at(out, day[inside], drop[inside])
    return out


class ShipmentsVsOutcounts(Rule):
    """The v2 checks, in packs when the gateway sends them (not registered itself: v3 below
    builds on it; v2, parts only, is frozen in shipments_vs_outcounts_v2.py for rescoring)."""

    id = "shipments_vs_outcounts"
    version = 3
    subscore = "production_authenticity"
    title = "ERP shipments vs dispatch counts and load-cell decreases"
    defaults: Mapping[str, Any] = {
        **BIAS_DEFAULTS, "ratio_min": None, "ratio_max": None, "min_ship": 20.0, "min_drop_kg": 50.0,
        "dispatch_patterns": list(DISPATCH_PATTERNS), **PACK_DEFAULTS,
    }

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        claims: ShippedClaims = shipped_claims(ev, params)
        p = {**params, **claims.params}  # in packs: min_ship_packs, min_units_packs
        shipped, claim, what = claims.daily, claims.indicator, claims.unit
        if not np.isfinite(shipped).any():
            return []
        cam = ev.daily("vision.units_out", lambda s: is_dispatch(s, p["dispatch_patterns"], ev.roles))
        if cam is None:
            # Load cells watch the pledged stock only: most shipments never touch it, so
            # without a dispatch camera the absence of a drop proves nothing.
            return []
        drops = load_cell_drops(ev, p["min_drop_kg"])
        starts, lens = ev.day_windows()
        out: list[Finding] = []
        b = bias(shipped, cam.value, cam.coverage, p)
        rho = (1.0 / b.ratio) if b is not None and b.ratio > 0 else None  # counted per shipped unit
        counted = cam.value
        covered = cam.coverage >= p["min_coverage"]
        moved_kg = drops if drops is not None else np.zeros(len(starts))
        flagged = []
        for d in np.flatnonzero(np.isfinite(shipped) & (shipped >= p["min_ship"])):
            if not covered[d] or counted[d] > 0 or moved_kg[d] > 0:
                continue
            need = 0.5 * (rho or 1.0) * shipped[d]
            surplus = [counted[j] - (rho or 1.0) * (shipped[j] if np.isfinite(shipped[j]) else 0.0)
                       for j in (d - 1, d + 1) if 0 <= j < len(starts) and covered[j]]
            if not surplus or max(surplus) < need:
                flagged.append(d)
        if flagged:
            sev = "red"
            days = [{"day": day_label(starts[d]), "shipped": r(shipped[d], 1), "dispatch_counted": r(counted[d], 1),
                     "load_cell_drop_kg": r(moved_kg[d], 1), "camera_coverage": r(cam.coverage[d], 3)}
                    for d in flagged[:10]]
            msg = (f"The ERP records {shipped[flagged].sum():.0f} {what} shipped on {len(flagged)} day(s) with no "
                   f"physical out-movement (dispatch cameras covered the day and counted 0, no load-cell decrease, "
                   f"no surplus on the neighbouring days); first {days[0]['day']}.")
            out.append(Finding(
                self.id, self.version, sev, self.subscore, f"no_out_movement:{int(starts[flagged[0]])}",
                int(starts[flagged[0]]), int(starts[flagged[-1]] + lens[flagged[-1]]),
                (claim, "vision.units_out", "collateral.weight_kg"), {"days": days},
                {"days_flagged": len(flagged), f"{what}_shipped": r(shipped[flagged].sum(), 1)},
                {"min_ship": p["min_ship"], "min_drop_kg": p["min_drop_kg"], "neighbour_surplus_share": 0.5},
                "claims_exceed_evidence", msg,
                {"kind": f"dispatch counts per shipped {what[:-1]} (first comparable days)",
                 "rho": r(rho) if rho else None}))
        if b is not None:
            sev, driver = bias_severity(b, p)
            if sev is not None:
                nums = bias_numbers(ev, b)
                msg = (f"The ERP shipped {nums['claims_total']:.0f} {what} over {nums['days_compared']} days; the "
                       f"dispatch cameras counted {nums['evidence_total']:.0f}. At the enterprise's own ratio "
                       f"{b.ratio:.3f} shipments run {100 * b.cum_excess:+.1f} % overall and "
                       f"{100 * b.roll_excess:+.1f} % over "
                       f"{nums['window']['first_day']}..{nums['window']['last_day']}.")
                out.append(bias_finding(self, ev, b, p, sev, driver, (claim, "vision.units_out"), msg,
                                        "median shipped/counted of the first comparable days", key="shipment_bias",
                                        nums=nums))
        return out


def dispatch_events(ev: RuleInputs, subjects: list[str], min_units: float) -> np.ndarray | None:
    """Out-movements seen per day: runs of consecutive dispatch-camera windows with at least
    ``min_units`` counted (a truck loading across an hour boundary is one event; two trucks in
    the same hour are one too, which only ever makes the check below more lenient)."""
    starts, lens = ev.day_windows()
    if not subjects or len(starts) == 0:
        return None
    out = np.zeros(len(starts))
    for subj in subjects:
        s = ev.series("vision.units_out", subj)
        if s is None or len(s) == 0:
            continue
        moving = np.isfinite(s.value) & (s.value >= min_units)
        begins = moving & ~np.concatenate(([False], moving[:-1] & (np.diff(s.start) <= s.length)))
        day = np.searchsorted(starts, s.start[begins], side="right") - 1
        ok = day >= 0
        np.add.at(out, day[ok], 1.0)
    return out


@register
class ShipmentsVsOutcountsV3(ShipmentsVsOutcounts):
    """Version 3: severity from the weight of evidence, and shipments matched per out-movement.

    * The shipment bias recurs: days over tolerance that keep coming back weigh like a streak
      (``_common.bias_severity_weighted``), so fake deliveries a few days a week reach the
      severity their total excess deserves.
    * Unmatched shipments: on a day the dispatch cameras covered and saw at least one
      out-movement, the day's shipped quantity exceeds what was counted (at the enterprise's
      own ratio) by more than ``unmatched_tolerance`` (what an honest door camera never
      misses in a day), and the ERP lists more shipments (``erp.shipments_count``) than
      out-movements were seen -- or does not say how many (a count suppressed by the
      privacy policy). A fake delivery note on a day that also had a real truck is seen;
      graded by the number of such days (``unmatched_days``).
    """

    version = 3
    defaults: Mapping[str, Any] = {
        **ShipmentsVsOutcounts.defaults, **WEIGHT_DEFAULTS, "min_event_units": 1.0, "unmatched_tolerance": 0.2,
        "unmatched_days": {"yellow": 1, "orange": 2, "red": 3},
    }

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        claims: ShippedClaims = shipped_claims(ev, params)
        p = {**params, **claims.params}  # in packs: min_ship_packs, min_units_packs
        shipped, claim, what = claims.daily, claims.indicator, claims.unit
        out = [f for f in super().evaluate(ev, params) if not f.key.startswith("shipment_bias")]
        cam = ev.daily("vision.units_out", lambda s: is_dispatch(s, p["dispatch_patterns"], ev.roles))
        if cam is None or not np.isfinite(shipped).any():
            return out
        b = bias(shipped, cam.value, cam.coverage, p)
        if b is None:
            return out
        sev, driver, rec = bias_severity_weighted(b, p)
        if sev is not None:
            nums = bias_numbers(ev, b)
            nums["recurrence"] = recurrence_numbers(rec, ev, b)
            msg = (f"The ERP shipped {nums['claims_total']:.0f} {what} over {nums['days_compared']} days; the "
                   f"dispatch cameras counted {nums['evidence_total']:.0f}. At the enterprise's own ratio "
                   f"{b.ratio:.3f} shipments run {100 * b.cum_excess:+.1f} % overall and "
                   f"{100 * b.roll_excess:+.1f} % over {nums['window']['first_day']}..{nums['window']['last_day']}"
                   + (f"; {rec.days_over} days over tolerance since {nums['recurrence']['first_day']}, "
                      f"{100 * rec.since_excess:+.1f} % since then." if rec is not None else "."))
            out.append(bias_finding(self, ev, b, p, sev, driver, (claim, "vision.units_out"), msg,
                                    "median shipped/counted of the first comparable days", key="shipment_bias",
                                    nums=nums))
        f = self._unmatched(ev, p, shipped, cam.value, cam.coverage, cam.subjects, b, claim, what)
        if f is not None:
            out.append(f)
        return out

    def _unmatched(self, ev: RuleInputs, p: Mapping[str, Any], shipped: np.ndarray, counted: np.ndarray,
                   coverage: np.ndarray, subjects: tuple[str, ...] | list[str], b: Any,
                   claim: str = "erp.shipped_qty", what: str = "units") -> Finding | None:
        notes = ev.enterprise_daily("erp.shipments_count")
        events = dispatch_events(ev, list(subjects), p["min_event_units"])
        if events is None:
            return None
        starts, lens = ev.day_windows()
        expected = b.ratio * counted
        with np.errstate(divide="ignore", invalid="ignore"):
            excess = np.where(expected > 0, shipped / expected - 1.0, NO_EVIDENCE_EXCESS)
        more_notes = np.where(np.isfinite(notes), notes > events, True)  # unknown count: the quantity decides
        days = np.flatnonzero(np.isfinite(shipped) & (coverage >= p["min_coverage"]) & (shipped >= p["min_ship"])
                              & (events >= 1) & more_notes & (excess > p["unmatched_tolerance"]))
        days = days[days > int(b.idx[min(b.baseline_days, b.idx.size) - 1])]  # after the baseline it learned from
        lv = p["unmatched_days"]
        sev = level(float(days.size), lv["yellow"], lv["orange"], lv["red"])
        if sev is None:
            return None
        rows = [{"day": day_label(starts[d]), "shipments": r(notes[d], 0) if np.isfinite(notes[d]) else None,
                 "out_movements_seen": r(events[d], 0),
                 "shipped": r(shipped[d], 1), "dispatch_counted": r(counted[d], 1),
                 "excess_pct": r(100 * excess[d], 1)} for d in days[:10]]
        unseen = float(np.sum(shipped[days] - np.where(expected[days] > 0, expected[days], 0.0)))
        msg = (f"On {days.size} day(s) with trucks seen at the door the ERP shipped more than "
               f"{100 * p['unmatched_tolerance']:.0f} % beyond what the dispatch cameras counted, and lists more "
               f"shipments than out-movements were seen (or does not say how many) "
               f"(~{unseen:.0f} {what} with no out-movement); first {rows[0]['day']}.")
        return Finding(
            self.id, self.version, sev, self.subscore, f"unmatched_shipments:{int(starts[days[0]])}",
            int(starts[days[0]]), int(starts[days[-1]] + lens[days[-1]]),
            ("erp.shipments_count", claim, "vision.units_out"), {"days": rows},
            {"days_flagged": int(days.size), f"{what}_unmatched": r(unseen, 1)},
            {"unmatched_tolerance_pct": 100 * p["unmatched_tolerance"], "min_event_units": p["min_event_units"],
             "days": dict(lv)},
            "claims_exceed_evidence", msg,
            {"kind": "median shipped/counted of the first comparable days", "ratio": r(b.ratio)})
