"""Unexplained changes of pledged goods: weight steps with no matching ERP stock movement.

The gateway already matched each weight step against the ERP's ``stock_moves``
(``collateral.unexplained_changes``, ``detail.unexplained_kg`` signed: negative = removed).
The rule sums them per pledged asset over the period. Any unexplained removal is at least
orange; red once the removed weight reaches ``red_kg_pct`` of the asset's typical weight
(``collateral.weight_kg`` median) or ``red_count`` steps. Unexplained additions are yellow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub import stats
from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import r
from cloud_stub.rules.base import Finding, Rule, register


@register
class CollateralChanges(Rule):
    id = "collateral_changes"
    version = 1
    subscore = "collateral_safety"
    title = "Unexplained changes of pledged goods"
    defaults: Mapping[str, Any] = {"red_kg_pct": 5.0, "red_count": 2}

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        out = []
        for subj in ev.subjects("collateral.unexplained_changes"):
            s = ev.series("collateral.unexplained_changes", subj)
            if s is None:
                continue
            hit = np.flatnonzero(np.isfinite(s.value) & (s.value > 0))
            if hit.size == 0:
                continue
            kg = np.array([float(ev.detail(i).get("unexplained_kg") or 0.0) for i in s.ids[hit].tolist()])
            removed, added = float(-kg[kg < 0].sum()), float(kg[kg > 0].sum())
            count = int(s.value[hit].sum())
            w = ev.series("collateral.weight_kg", subj)
            typical = stats.median(w.value) if w is not None else float("nan")
            pct = 100 * removed / typical if np.isfinite(typical) and typical > 0 else float("nan")
            if removed > 0:
                sev = "red" if (np.isfinite(pct) and pct >= params["red_kg_pct"]) or count >= params["red_count"] \
                    else "orange"
                direction = "below"
                msg = (f"{removed:.0f} kg of pledged goods left {subj} in {count} unexplained step(s) with no matching "
                       f"stock movement ({pct:.1f} % of the typical {typical:.0f} kg).")
            else:
                sev, direction = "yellow", "above"
                msg = f"{added:.0f} kg arrived at {subj} in {count} step(s) with no matching stock movement."
            events = [{"window_start": int(s.start[i]), "count": r(s.value[i], 0), "unexplained_kg": r(k, 2)}
                      for i, k in zip(hit[:20].tolist(), kg[:20].tolist(), strict=True)]
            first = int(s.start[hit[0]])
            out.append(Finding(
                self.id, self.version, sev, self.subscore, f"{subj}:{first}", first, int(s.start[hit[-1]] + s.length),
                ("collateral.unexplained_changes", "collateral.weight_kg"),
                {"events": events, "removed_kg": r(removed, 2), "added_kg": r(added, 2), "steps": count},
                {"removed_pct_of_typical": r(pct, 3)}, {"red_kg_pct": params["red_kg_pct"],
                                                        "red_count": params["red_count"]},
                direction, msg, {"kind": "median collateral.weight_kg", "typical_kg": r(typical, 2)}))
        return out
