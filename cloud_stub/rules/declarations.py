"""Declarations that keep coinciding with anomalies: declaring must not hide fraud.

The other rules treat declared periods as expected (docs/cross-verification.md, "Declared
events"), so a declaration is itself evidence to weigh. Per analysis period:

* **Claims in declared downtime** (``production_authenticity``): on days a site-wide
  planned downtime or holiday covers, the MES claims at least ``claim_fraction`` of its
  typical day (median of the undeclared days with claims). The enterprise's own records
  contradict each other: orange for one day, red from ``red_claim_days``.
* **Declared after the fact over anomalies** (``data_integrity``): declarations made more
  than ``grace_h`` after their period began (``declared_at`` is signed, so it cannot be
  backdated without the chain showing it) that cover *anomalous* days: days the site was
  physically stopped (daily kWh at idle level, as ``changepoints`` computes it) or not
  observed (energy coverage below ``min_coverage``). Severity by weight of evidence, the
  worse of: how many such declarations (``late_count``) and how many anomalous days they
  cover (``late_days``). Late declarations over nothing anomalous are info.
* **Declared share** (``operating_stability``): the share of the period's days under
  declared downtime (any downtime kind, site-wide); a plant that declares most of its time
  away is not operating, however honestly it says so.

Withdrawn declarations excuse nothing and are listed in the late finding's numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub import stats
from cloud_stub.declarations import DOWNTIME, NO_OUTPUT, Declared
from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import day_label, level, r, worst
from cloud_stub.rules.base import Finding, Rule, register


def anomalous_days(ev: RuleInputs, min_coverage: float, stop_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(stopped, unobserved) per day window: idle-level energy on a covered day; energy
    coverage below ``min_coverage``. Both all-False without energy records."""
    starts, _ = ev.day_windows()
    n = len(starts)
    en = ev.daily("energy.kwh")
    if en is None:
        return np.zeros(n, bool), np.zeros(n, bool)
    unobserved = en.coverage < min_coverage
    kwh = np.where(unobserved, np.nan, en.value)
    stopped = np.zeros(n, bool)
    if np.isfinite(kwh).sum() >= 5:
        base = float(np.nanpercentile(kwh, 5))
        busy = stats.median(kwh[np.isfinite(kwh) & (kwh >= stats.median(kwh))])
        if busy > base:
            stopped = np.isfinite(kwh) & (kwh <= base + stop_fraction * (busy - base))
    return stopped, unobserved


@register
class DeclarationsRule(Rule):
    id = "declarations"
    version = 1
    subscore = "data_integrity"
    title = "Declarations that coincide with anomalies"
    defaults: Mapping[str, Any] = {
        "grace_h": 12.0, "min_coverage": 0.8, "stop_fraction": 0.15, "claim_fraction": 0.2, "red_claim_days": 2,
        "late_count": {"yellow": 3, "orange": 6, "red": 12}, "late_days": {"yellow": 5, "orange": 10, "red": 30},
        "declared_share_pct": {"yellow": 50.0, "orange": 70.0, "red": 101.0},
    }

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        if not len(ev.declarations):
            return []
        starts, lens = ev.day_windows()
        if len(starts) == 0:
            return []
        out = self._claims(ev, params, starts, lens)
        out += self._late(ev, params, starts, lens)
        out += self._share(ev, params, starts, lens)
        return out

    def _claims(self, ev: RuleInputs, p: Mapping[str, Any], starts: np.ndarray, lens: np.ndarray) -> list[Finding]:
        claims = ev.enterprise_daily("mes.produced_qty")
        per_day = ev.declarations.per_window(starts, lens, kinds=NO_OUTPUT)
        declared = np.array([d is not None for d in per_day], bool)
        normal = claims[np.isfinite(claims) & (claims > 0) & ~declared]
        if not declared.any() or normal.size == 0:
            return []
        typical = stats.median(normal)
        out = []
        for key in sorted({d.key for d in per_day if d is not None}):
            idx = np.array([i for i, d in enumerate(per_day) if d is not None and d.key == key])
            c = claims[idx]
            hit = idx[np.isfinite(c) & (c >= p["claim_fraction"] * typical)]
            if hit.size == 0:
                continue
            d = next(x for x in per_day if x is not None and x.key == key)
            units = float(claims[hit].sum())
            sev = "red" if hit.size >= p["red_claim_days"] else "orange"
            w0, w1 = int(starts[hit[0]]), int(starts[hit[-1]] + lens[hit[-1]])
            out.append(Finding(
                self.id, self.version, sev, "production_authenticity", f"claims_in_declared:{key}", w0, w1,
                ("mes.produced_qty", "declaration"),
                {"declaration": key, "kind": d.kind, "claimed_days": [day_label(starts[i]) for i in hit.tolist()],
                 "units_claimed": r(units, 1)},
                {"claimed_days": int(hit.size), "typical_daily_units": r(typical, 1)},
                {"claim_fraction": p["claim_fraction"], "red_claim_days": p["red_claim_days"]},
                "claims_exceed_evidence",
                f"The MES claims {units:.0f} units on {hit.size} day(s) the enterprise itself declared as "
                f"{d.kind.replace('_', ' ')} ({key}): its own records contradict each other."))
        return out

    def _late(self, ev: RuleInputs, p: Mapping[str, Any], starts: np.ndarray, lens: np.ndarray) -> list[Finding]:
        grace = float(p["grace_h"]) * 3600
        late = [d for d in ev.declarations.active(DOWNTIME) if d.declared_at > d.start + grace]
        if not late:
            return []
        stopped, unobserved = anomalous_days(ev, p["min_coverage"], p["stop_fraction"])
        anomalous = stopped | unobserved
        covering: list[tuple[Declared, list[int]]] = []
        for d in late:
            days = [i for i in range(len(starts)) if anomalous[i] and _covers(d, int(starts[i]), int(lens[i]))]
            covering.append((d, days))
        excusing = [(d, days) for d, days in covering if days]
        n_days = len({i for _, days in excusing for i in days})
        lc, ld = p["late_count"], p["late_days"]
        sev = worst(level(len(excusing), lc["yellow"], lc["orange"], lc["red"]),
                    level(n_days, ld["yellow"], ld["orange"], ld["red"])) or "info"
        listed = [{"declaration": d.key, "kind": d.kind, "from": day_label(d.start, 0), "to": day_label(d.end, 0),
                   "declared_after_h": r((d.declared_at - d.start) / 3600, 1),
                   "anomalous_days": [day_label(starts[i]) for i in days][:10]} for d, days in covering[:20]]
        withdrawn = sum(1 for d in ev.declarations.items if d.withdrawn_at is not None)
        w0, w1 = min(d.start for d in late), max(d.end for d in late)
        return [Finding(
            self.id, self.version, sev, "data_integrity", "late_declarations", w0, w1,
            ("declaration", "energy.kwh"),
            {"late_declarations": listed, "withdrawn_declarations": withdrawn},
            {"late": len(late), "late_over_anomalies": len(excusing), "anomalous_days_covered": n_days,
             "stopped_days": int(stopped.sum()), "unobserved_days": int(unobserved.sum())},
            {"grace_h": p["grace_h"], "late_count": dict(lc), "late_days": dict(ld)}, "declared_after_the_fact",
            f"{len(late)} declaration(s) made after their period had begun; {len(excusing)} of them cover "
            f"{n_days} day(s) on which the site was stopped or unobserved.")]

    def _share(self, ev: RuleInputs, p: Mapping[str, Any], starts: np.ndarray, lens: np.ndarray) -> list[Finding]:
        declared = ev.declarations.mask(starts, lens, kinds=DOWNTIME)
        share = 100 * float(declared.mean())
        lv = p["declared_share_pct"]
        sev = level(share, lv["yellow"], lv["orange"], lv["red"])
        if sev is None:
            return []
        keys = sorted({d.key for d in ev.declarations.per_window(starts, lens, kinds=DOWNTIME) if d is not None})
        return [Finding(
            self.id, self.version, sev, "operating_stability", "declared_share", int(starts[0]),
            int(starts[-1] + lens[-1]), ("declaration",), {"declared_days": int(declared.sum()),
                                                         "days": len(starts), "declarations": keys},
            {"declared_share_pct": r(share, 1)}, {"declared_share_pct": dict(lv)}, "above",
            f"{int(declared.sum())} of {len(starts)} days ({share:.0f} %) are declared downtime, maintenance or "
            "holidays.")]


def _covers(d: Declared, start: int, length: int) -> bool:
    return min(start + length, d.end) - max(start, d.start) >= 0.5 * length
