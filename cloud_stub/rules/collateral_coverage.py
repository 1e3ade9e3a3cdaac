"""Collateral coverage of a bank's facility: margin-call warnings yellow / orange / red, with the numbers.

value = pledged quantity (the newest verified collateral window) x the bank's price of the product class;
coverage = value / outstanding (cloud_stub/collateral_value.py). The facility's thresholds (covenants
``margin_call``, or ``min_coverage`` as the yellow line; default 1.3 / 1.15 / 1.0) give the level:
coverage below ``red`` is red, and so on. A healthy coverage raises nothing.

Unlike the authenticity rules this one needs the bank's data, so it runs per facility from
``cloud coverage run`` (cloud_stub/coverage_run.py), with ``facility``, ``prices``, ``as_of`` and
``previous`` (the stored level and since when it holds) in ``params``; run by the authenticity
analysis, without a facility, it finds nothing. Findings carry ``extra.bank`` and are stored in that
bank's private chain (cloud_stub/bank_chain.py): another bank sees nothing of them.

Findings (key = bank/facility/level/since, so a level that persists is raised once):

* ``yellow`` / ``orange`` / ``red``, direction ``below``: coverage under that threshold;
* ``info``, direction ``missing``: a pledge's quantity or price is not observed: coverage unknown, never 0;
* ``info``, direction ``stale``: a price older than ``max_price_age_days`` was used (its age in days);
* ``info``, direction ``recovered``: back at or above the yellow line after a margin-call level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub import collateral_value, facilities
from cloud_stub.rule_inputs import RuleInputs
from cloud_stub.rules._common import r
from cloud_stub.rules.base import Finding, Rule, register


def newest_quantity(ev: RuleInputs, name: str, subject: str, as_of: int, max_age_s: float) -> dict[str, Any] | None:
    """The newest finite window of ``name`` for ``subject`` ending within ``max_age_s`` before ``as_of``."""
    best: tuple[int, int, float] | None = None
    for length in ev.lengths(name, subject):
        s = ev.series(name, subject, length)
        if s is None or not len(s):
            continue
        ok = np.isfinite(s.value) & (s.start + s.length <= as_of)
        if not ok.any():
            continue
        i = int(np.flatnonzero(ok)[-1])
        end = int(s.start[i] + s.length)
        if best is None or end > best[1] or (end == best[1] and s.length < best[1] - best[0]):
            best = (int(s.start[i]), end, float(s.value[i]))
    if best is None or best[1] < as_of - max_age_s:
        return None
    return {"value": best[2], "window": {"start": best[0], "end": best[1]}}


@register
class CollateralCoverage(Rule):
    id = "collateral_coverage"
    version = 1
    subscore = "collateral_safety"
    title = "Collateral value vs the outstanding (margin call)"
    defaults: Mapping[str, Any] = {}

    def assess_facility(self, ev: RuleInputs, params: Mapping[str, Any]) -> dict[str, Any]:
        """The facility's exact assessment from the verified indicators and the prices in ``params``."""
        fac, as_of = params["facility"], int(params["as_of"])
        max_age = float(fac["covenants"].get("max_weight_age_hours") or 24.0) * 3600
        qty = {f"{p['indicator']}|{p['subject']}": newest_quantity(ev, p["indicator"], p["subject"], as_of, max_age)
               for p in fac["pledges"]}
        return collateral_value.assess(fac, qty, dict(params.get("prices") or {}),
                                       facilities.levels(fac["covenants"]), as_of)

    def evaluate(self, ev: RuleInputs, params: Mapping[str, Any]) -> list[Finding]:
        if not params.get("facility"):
            return []  # the authenticity analysis: no facility, nothing to compare
        a = self.assess_facility(ev, params)
        return self.findings(a, params.get("previous") or {})

    def findings(self, a: dict[str, Any], previous: Mapping[str, Any]) -> list[Finding]:
        """The findings of one assessment; ``previous`` = {level, since, flags} of the stored one."""
        shown = collateral_value.served(a)
        bank, fid, as_of = a["bank"], a["facility_id"], a["as_of"]
        names = tuple(sorted({p["indicator"] for p in a["pledges"]}))
        starts = [p["quantity_window"]["start"] for p in a["pledges"] if p["quantity_window"]]
        start = min(starts) if starts else as_of
        same = previous.get("level") == a["level"]
        since = int(previous.get("since") or as_of) if same else as_of
        extra = {"bank": bank, "facility_id": fid, "assessment": shown}
        compared = {"coverage": shown["coverage"], "value_range": shown["value_range"],
                    "outstanding": a["outstanding"], "currency": a["currency"], "observed": a["observed"]}
        out: list[Finding] = []
        lv = a["level"]
        if lv in ("yellow", "orange", "red"):
            th = a["thresholds"]
            worth = _money(shown["value_range"], a["currency"])
            msg = (f"Margin call ({lv}) on facility {fid}: collateral worth {worth}"
                   f" covers {a['coverage']:.2f}x the outstanding {a['outstanding']:,.0f} {a['currency']}, below the"
                   f" {lv} line {th[lv]:g}x (yellow {th['yellow']:g}, orange {th['orange']:g}, red {th['red']:g}).")
            out.append(Finding(self.id, self.version, lv, self.subscore, f"{bank}/{fid}/{lv}/{since}", start, as_of,
                               names, compared, {"coverage": r(a["coverage"], 4)}, dict(th), "below", msg,
                               {"kind": "margin-call threshold", "coverage": th[lv]}, extra))
        elif lv == "ok" and previous.get("level") in ("yellow", "orange", "red"):
            msg = (f"Facility {fid} covered again: {a['coverage']:.2f}x the outstanding {a['outstanding']:,.0f} "
                   f"{a['currency']}, at or above the yellow line {a['thresholds']['yellow']:g}x (was "
                   f"{previous['level']}).")
            out.append(Finding(self.id, self.version, "info", self.subscore, f"{bank}/{fid}/ok/{since}", start, as_of,
                               names, compared, {"coverage": r(a["coverage"], 4)}, dict(a["thresholds"]),
                               "recovered", msg, {"kind": "previous level", "level": previous["level"]}, extra))
        elif lv == "not_observed":
            why = "; ".join(f"{p['subject']} ({p['product_class']}): {', '.join(p['missing'])} not observed"
                            for p in a["pledges"] if p["missing"]) or "no pledged goods recorded"
            msg = (f"Coverage of facility {fid} not observed ({a['observed']['observed']} of "
                   f"{a['observed']['pledges']} pledges valued): {why}.")
            out.append(Finding(self.id, self.version, "info", self.subscore, f"{bank}/{fid}/not_observed/{since}",
                               start, as_of, names, compared, {"coverage": None}, dict(a["thresholds"]), "missing",
                               msg, None, extra))
        if a["stale_prices"]:
            worst = max(s["age_days"] for s in a["stale_prices"])
            days = sorted({s["price_day"] for s in a["stale_prices"]})
            msg = (f"Facility {fid} valued with stale prices: " + ", ".join(
                f"{s['product_class']} of {s['price_day']} ({s['age_days']} days old)" for s in a["stale_prices"])
                + f"; the covenant allows {a['max_price_age_days']:g} days.")
            out.append(Finding(self.id, self.version, "info", self.subscore, f"{bank}/{fid}/stale/{days[-1]}", start,
                               as_of, names, compared, {"price_age_days": worst},
                               {"max_price_age_days": a["max_price_age_days"]},
                               "stale", msg, None, extra))
        return out


def _money(rng: list[Any] | None, currency: str) -> str:
    if rng is None:
        return "unknown"
    lo, hi = rng
    return f"{lo:,.0f}-{hi:,.0f} {currency}" if hi is not None else f"over {lo:,.0f} {currency}"
