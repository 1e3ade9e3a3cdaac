"""Collateral value and coverage of one facility: pledged quantity x the bank's price, over the outstanding.

Pure arithmetic, no database: the rule (cloud_stub/rules/collateral_coverage.py) feeds it the verified
collateral indicators and the prices, the assessment run (cloud_stub/coverage_run.py) stores and serves it.

* Per pledge: the quantity is the newest verified window of the pledge's indicator (default
  ``collateral.weight_kg``, its median over the window) for the pledge's subject, not older than
  ``max_weight_age_hours``; the price is the bank's newest price of the product class (its age in days;
  older than ``max_price_age_days`` = ``stale_price``). value = quantity x price.
* A pledge without a quantity or without a usable price (none, another currency or unit) is *not
  observed*: its value is null, never zero, and so is the facility's coverage (``no_data``), with the
  share of pledges that were observed (``observed``) and why each one was not.
* coverage = value / outstanding (the drawn balance); no outstanding: coverage null (nothing owed).
* The level is the worst margin-call threshold the coverage is below (facilities.levels), else ``ok``.
* The value leaves the receiver bucketed like every amount (docs/privacy-consent.md, ``amount_buckets``):
  ``value_range`` = [lo, hi] of the bucket (hi null above the top); coverage is served to 2 decimals.
"""

from __future__ import annotations

import math
from typing import Any

# The gateway's default amount buckets (docs/privacy-consent.md, "Generalisation"), in the facility's currency.
AMOUNT_BUCKETS = (0.0, 10e3, 50e3, 100e3, 500e3, 1e6, 5e6, 20e6)
LEVELS = ("ok", "yellow", "orange", "red")


def bucket(value: float, edges: tuple[float, ...] = AMOUNT_BUCKETS) -> list[float | None]:
    """``[lo, hi]`` of the bucket holding ``value`` (hi None above the top: top coding)."""
    lo: float = edges[0]
    for i, e in enumerate(edges):
        if value >= e:
            lo = e
            hi = edges[i + 1] if i + 1 < len(edges) else None
    return [lo, hi]


def level_of(coverage: float | None, thresholds: dict[str, float]) -> str:
    """The margin-call level of a coverage ratio: ``ok``, ``yellow``, ``orange`` or ``red``; None (not
    observed) is ``not_observed``."""
    if coverage is None:
        return "not_observed"
    for lv in ("red", "orange", "yellow"):
        if coverage < thresholds[lv]:
            return lv
    return "ok"


def pledge_value(pledge: dict[str, Any], quantity: dict[str, Any] | None, price: dict[str, Any] | None,
                 currency: str, max_price_age_days: float) -> dict[str, Any]:
    """One pledge's quantity, price and value; ``value`` None with ``missing`` naming what was not observed."""
    out: dict[str, Any] = {"subject": pledge["subject"], "product_class": pledge["product_class"],
                           "indicator": pledge["indicator"], "unit": pledge["unit"],
                           "quantity": None, "quantity_window": None, "price": None, "price_day": None,
                           "price_age_days": None, "stale_price": False, "value": None, "missing": []}
    if quantity is None:
        out["missing"].append("quantity")
    else:
        out["quantity"], out["quantity_window"] = quantity["value"], quantity["window"]
    if price is None:
        out["missing"].append("price")
    elif price["currency"] != currency or price["unit"] != pledge["unit"]:
        out["missing"].append(f"price in {currency}/{pledge['unit']} (the series is in "
                              f"{price['currency']}/{price['unit']})")
    else:
        out.update(price=price["price"], price_day=price["day"], price_age_days=price["age_days"],
                   stale_price=price["age_days"] > max_price_age_days)
    if not out["missing"]:
        out["value"] = out["quantity"] * out["price"]
    return out


def assess(facility: dict[str, Any], quantities: dict[str, dict[str, Any] | None],
           prices: dict[str, dict[str, Any] | None], thresholds: dict[str, float], as_of: int) -> dict[str, Any]:
    """The coverage assessment of one facility (exact figures; :func:`served` buckets them)."""
    cov = facility["covenants"]
    pledges = [pledge_value(p, quantities.get(f"{p['indicator']}|{p['subject']}"), prices.get(p["product_class"]),
                            facility["currency"], float(cov.get("max_price_age_days") or 3.0))
               for p in facility["pledges"]]
    observed = sum(1 for p in pledges if p["value"] is not None)
    outstanding = float(facility["drawn"])
    value = sum(p["value"] for p in pledges) if pledges and observed == len(pledges) else None
    coverage = value / outstanding if value is not None and outstanding > 0 else None
    flags = []
    if value is None:
        flags.append("no_data")
    stale = [{"product_class": p["product_class"], "price_day": p["price_day"], "age_days": p["price_age_days"]}
             for p in pledges if p["stale_price"]]
    if stale:
        flags.append("stale_price")
    if not pledges:
        flags.append("no_pledges")
    lv = "ok" if value is not None and outstanding <= 0 else level_of(coverage, thresholds)
    return {"facility_id": facility["facility_id"], "enterprise_id": facility["enterprise_id"],
            "bank": facility["bank"], "as_of": as_of, "currency": facility["currency"],
            "outstanding": outstanding, "value": value, "coverage": coverage, "level": lv,
            "thresholds": dict(thresholds), "observed": {"pledges": len(pledges), "observed": observed},
            "stale_prices": stale, "max_price_age_days": float(cov.get("max_price_age_days") or 3.0), "flags": flags,
            "pledges": pledges}


def served(a: dict[str, Any]) -> dict[str, Any]:
    """The assessment as it leaves the receiver: the value as its bucket, coverage to 2 decimals, each
    pledge's value bucketed (quantities are the verified indicators the bank already gets; prices are its own)."""
    out = {k: v for k, v in a.items() if k not in ("value", "coverage", "pledges")}
    out["value_range"] = bucket(a["value"]) if a["value"] is not None else None
    out["coverage"] = round(a["coverage"], 2) if a["coverage"] is not None and math.isfinite(a["coverage"]) else None
    out["pledges"] = [{**{k: v for k, v in p.items() if k != "value"},
                       "value_range": bucket(p["value"]) if p["value"] is not None else None}
                      for p in a["pledges"]]
    return out
