"""Unexplained changes of pledged goods: weight steps with no matching ERP stock movement.

The gateway already matched each weight step against the ERP's ``stock_moves``
(``collateral.unexplained_changes``, ``detail.unexplained_kg`` signed: negative = removed).
The rule sums them per pledged asset over the period. Any unexplained removal is at least
orange; red once the removed weight reaches ``red_kg_pct`` of the asset's typical weight
(``collateral.weight_kg`` median) or ``red_count`` steps. Unexplained additions are yellow.

v2 reads the gateway's v2 steps (held for ``hold_s``, above a threshold from the scale's noise
and the pledge's size; transients and drift are not steps): ``red_kg_pct`` is 2 % (a held
step is at least 1 % of the pledge, so a removal of a few per cent in one go is red the day it
happens), ``red_count`` counts removal steps only (``detail.unexplained_out``; a load that
arrived and left is not two changes), and loads that came and went
(``collateral.transient_loads``) are reported as one info finding with their count and the
largest. v1 is kept for rescoring.

Declared stocktakes (also v2): goods are moved and put back while they are counted, so the
steps inside a stocktake declared for the asset (or the whole site) are expected. They are
netted per stocktake: a net within ``stocktake_net_pct`` of the typical weight is reported at
info; a larger net counts as one unexplained step of that net weight (goods that left during a
stocktake and never came back are still a removal).
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
class CollateralChangesV1(Rule):
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


def _events(ev: RuleInputs, subj: str) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray] | None:
    """The windows with unexplained steps: (series, their indexes, signed kg, removal-step counts)."""
    s = ev.series("collateral.unexplained_changes", subj)
    if s is None:
        return None
    hit = np.flatnonzero(np.isfinite(s.value) & (s.value > 0))
    details = [ev.detail(i) for i in s.ids[hit].tolist()]
    kg = np.array([float(d.get("unexplained_kg") or 0.0) for d in details])
    outs = np.array([float(d["unexplained_out"]) if d.get("unexplained_out") is not None
                     else (float(v) if k < 0 else 0.0) for d, k, v in zip(details, kg, s.value[hit], strict=True)])
    return s, hit, kg, outs


@register
class CollateralChanges(Rule):
    id = "collateral_changes"
    version = 2
    subscore = "collateral_safety"
    title = "Unexplained changes of pledged goods"
    defaults: Mapping[str, Any] = {"red_kg_pct": 2.0, "red_count": 2, "stocktake_net_pct": 1.0}
    honours_declarations = True

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        out = []
        subjects = sorted(set(ev.subjects("collateral.unexplained_changes")) | set(ev.subjects(
            "collateral.transient_loads")))
        for subj in subjects:
            got = _events(ev, subj)
            if got is not None and got[1].size:
                s, hit, kg, outs = got
                counts = s.value[hit]
                w = ev.series("collateral.weight_kg", subj)
                typical = stats.median(w.value) if w is not None else float("nan")
                hit, kg, counts, outs, info = _net_stocktakes(ev, s, subj, hit, kg, counts, outs, typical,
                                                               params["stocktake_net_pct"])
                out.extend(Finding(self.id, self.version, "info", self.subscore, f"{subj}:stocktake:{k}", a, b,
                                   ("collateral.unexplained_changes",), c, {"net_kg": c["net_kg"]},
                                   {"stocktake_net_pct": params["stocktake_net_pct"]}, "declared",
                                   f"{c['steps']} weight step(s) at {subj} during declared stocktake {k} "
                                   f"(net {c['net_kg']:+.0f} kg): expected.") for k, a, b, c in info)
                if hit.size:
                    out.append(self._changes(ev, subj, s, hit, kg, counts, outs, params))
            t = self._transients(ev, subj)
            if t is not None:
                out.append(t)
        return out

    def _changes(self, ev: RuleInputs, subj: str, s: Any, hit: np.ndarray, kg: np.ndarray, counts: np.ndarray,
                 outs: np.ndarray, params: Mapping[str, Any]) -> Finding:
        removed, added = float(-kg[kg < 0].sum()), float(kg[kg > 0].sum())
        count, removals = int(counts.sum()), int(outs.sum())
        w = ev.series("collateral.weight_kg", subj)
        typical = stats.median(w.value) if w is not None else float("nan")
        pct = 100 * removed / typical if np.isfinite(typical) and typical > 0 else float("nan")
        if removed > 0:
            red = (np.isfinite(pct) and pct >= params["red_kg_pct"]) or removals >= params["red_count"]
            sev, direction = ("red" if red else "orange"), "below"
            msg = (f"{removed:.0f} kg of pledged goods left {subj} in {removals} unexplained held step(s) with no "
                   f"matching stock movement ({pct:.1f} % of the typical {typical:.0f} kg).")
        else:
            sev, direction = "yellow", "above"
            msg = f"{added:.0f} kg arrived at {subj} in {count} held step(s) with no matching stock movement."
        events = [{"window_start": int(s.start[i]), "count": r(c, 0), "unexplained_kg": r(k, 2)}
                  for i, c, k in zip(hit[:20].tolist(), counts[:20].tolist(), kg[:20].tolist(), strict=True)]
        first = int(s.start[hit[0]])
        return Finding(
            self.id, self.version, sev, self.subscore, f"{subj}:{first}", first, int(s.start[hit[-1]] + s.length),
            ("collateral.unexplained_changes", "collateral.weight_kg"),
            {"events": events, "removed_kg": r(removed, 2), "added_kg": r(added, 2), "steps": count,
             "removal_steps": removals},
            {"removed_pct_of_typical": r(pct, 3)}, {"red_kg_pct": params["red_kg_pct"],
                                                    "red_count": params["red_count"]},
            direction, msg, {"kind": "median collateral.weight_kg", "typical_kg": r(typical, 2)})

    def _transients(self, ev: RuleInputs, subj: str) -> Finding | None:
        """Loads that came and went: info, so the bank sees them and knows they were not counted."""
        s = ev.series("collateral.transient_loads", subj)
        if s is None:
            return None
        hit = np.flatnonzero(np.isfinite(s.value) & (s.value > 0))
        if hit.size == 0:
            return None
        top = max((float(ev.detail(i).get("max_kg") or 0.0) for i in s.ids[hit].tolist()), key=abs)
        n = int(s.value[hit].sum())
        first = int(s.start[hit[0]])
        return Finding(
            self.id, self.version, "info", self.subscore, f"{subj}:transients:{first}", first,
            int(s.start[hit[-1]] + s.length), ("collateral.transient_loads",),
            {"transients": n, "windows": int(hit.size), "max_kg": r(top, 2)}, {"transients": n}, {},
            "transient", f"{n} load(s) came and went on {subj} (largest {top:+.0f} kg): not counted as changes.")


def _net_stocktakes(ev: RuleInputs, s: Series, subj: str, hit: np.ndarray, kg: np.ndarray, counts: np.ndarray,
                    outs: np.ndarray, typical: float, net_pct: float) -> tuple[Any, ...]:
    """:func:`stocktakes`, carrying the removal-step counts along (a netted removal is one step)."""
    decl = ev.declarations.per_window(s.start[hit], s.length, asset=subj, kinds=("stocktake",))
    if all(d is None for d in decl):
        return hit, kg, counts, outs, []
    new_hit, new_kg, new_counts, info = stocktakes(ev, s, subj, hit, kg, typical, net_pct)
    kept_out = {int(h): float(o) for h, o, d in zip(hit.tolist(), outs.tolist(), decl, strict=True) if d is None}
    new_outs = np.array([kept_out.get(int(h), 1.0 if k < 0 else 0.0) for h, k in zip(new_hit.tolist(),
                                                                                   new_kg.tolist(), strict=True)])
    return new_hit, new_kg, new_counts, new_outs, info


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
