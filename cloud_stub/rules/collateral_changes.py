"""Unexplained changes of pledged goods: weight steps with no matching ERP stock movement.

The gateway already matched each weight step against the ERP's ``stock_moves``
(``collateral.unexplained_changes``, ``detail.unexplained_kg`` signed: negative = removed).
The rule sums them per pledged asset over the period. Any unexplained removal is at least
orange; red once the removed weight reaches ``red_kg_pct`` of the asset's typical weight
(``collateral.weight_kg`` median) or ``red_count`` steps. Unexplained additions are yellow.

Declared stocktakes (version 2): goods are moved and put back while they are counted, so
the steps inside a stocktake declared for the asset (or the whole site) are expected. They
are netted per stocktake: a net within ``stocktake_net_pct`` of the typical weight is
reported at info; a larger net counts as one unexplained step of that net weight (goods
that left during a stocktake and never came back are still a removal).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub import stats
from cloud_stub.rule_inputs import RuleInputs, Series
from cloud_stub.rules._common import r
from cloud_stub.rules.base import Finding, Rule, register


@register
class CollateralChanges(Rule):
    id = "collateral_changes"
    version = 2
    # Version 2 nets steps inside declared stocktakes; version 1 (below) did not know declarations.
    honours_declarations = True
    subscore = "collateral_safety"
    title = "Unexplained changes of pledged goods"
    defaults: Mapping[str, Any] = {"red_kg_pct": 5.0, "red_count": 2, "stocktake_net_pct": 1.0}

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
            w = ev.series("collateral.weight_kg", subj)
            typical = stats.median(w.value) if w is not None else float("nan")
            counts = s.value[hit]
            if self.honours_declarations:
                hit, kg, counts, info = stocktakes(ev, s, subj, hit, kg, typical, params["stocktake_net_pct"])
                out.extend(Finding(self.id, self.version, "info", self.subscore, f"{subj}:stocktake:{k}", a, b,
                                   ("collateral.unexplained_changes",), c, {"net_kg": c["net_kg"]},
                                   {"stocktake_net_pct": params["stocktake_net_pct"]}, "declared",
                                   f"{c['steps']} weight step(s) at {subj} during declared stocktake {k} "
                                   f"(net {c['net_kg']:+.0f} kg): expected.") for k, a, b, c in info)
                if hit.size == 0:
                    continue
            removed, added = float(-kg[kg < 0].sum()), float(kg[kg > 0].sum())
            count = int(counts.sum())
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


def stocktakes(ev: RuleInputs, s: Series, subj: str, hit: np.ndarray, kg: np.ndarray, typical: float,
               net_pct: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, int, int, dict[str, Any]]]]:
    """Net the steps inside declared stocktakes: returns the steps that still count (a net
    beyond ``net_pct`` of ``typical`` stays as one step at its last window) and, per
    stocktake within tolerance, (key, start, end, compared) for an info finding."""
    decl = ev.declarations.per_window(s.start[hit], s.length, asset=subj, kinds=("stocktake",))
    if all(d is None for d in decl):
        return hit, kg, s.value[hit], []
    keep = [i for i, d in enumerate(decl) if d is None]
    extra_hit, extra_kg, info = [], [], []
    for key in sorted({d.key for d in decl if d is not None}):
        idx = [i for i, d in enumerate(decl) if d is not None and d.key == key]
        net = float(kg[idx].sum())
        tol = net_pct / 100 * typical if np.isfinite(typical) else 0.0
        if abs(net) > tol:
            extra_hit.append(int(hit[idx[-1]]))
            extra_kg.append(net)
        else:
            info.append((key, int(s.start[hit[idx[0]]]), int(s.start[hit[idx[-1]]] + s.length),
                         {"steps": len(idx), "net_kg": r(net, 2), "declaration": key}))
    order = np.argsort(np.array([int(hit[i]) for i in keep] + extra_hit, dtype=np.int64), kind="stable")
    new_hit = np.array([int(hit[i]) for i in keep] + extra_hit, dtype=np.int64)[order]
    new_kg = np.array([float(kg[i]) for i in keep] + extra_kg)[order]
    counts = np.array([float(s.value[hit[i]]) for i in keep] + [1.0] * len(extra_hit))[order]
    return new_hit, new_kg, counts, info


@register
class CollateralChangesV1(CollateralChanges):
    """Version 1, before declarations: kept so scores made with it still rescore."""

    version = 1
    honours_declarations = False
