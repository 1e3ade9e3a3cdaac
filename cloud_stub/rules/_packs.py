"""What the shipments rule compares with the dispatch camera: packs where the gateway sends them.

The dispatch camera counts handling units (packs, cartons, pallets); the ERP ships parts.
A gateway with a product master converts each shipment line on site, product by product,
and sends ``erp.shipped_packs`` next to ``erp.shipped_qty`` (gateway/indicators/packs.py).
Comparing packs with counted packs makes the expected ratio about 1 whatever the product
mix; comparing parts forced the rule to learn one parts-per-pack ratio across all products,
which moves every time the mix does.

The camera's records carry no product, so the comparison is of daily totals: the product
by product part of the work is the conversion on site. A rule that wants the claims calls
:func:`shipped_claims` (one place to change when cameras learn to say which product).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cloud_stub.rule_inputs import RuleInputs

PACKS = "erp.shipped_packs"
PARTS = "erp.shipped_qty"
# Rule parameters in packs: a day of 20 packs is a real truck, where 20 parts is not, so the
# parts thresholds (min_ship, min_units) have pack counterparts used when comparing packs.
PACK_DEFAULTS = {"min_ship_packs": 1.0, "min_units_packs": 5.0}


@dataclass(frozen=True)
class ShippedClaims:
    daily: np.ndarray  # per day window of RuleInputs.day_windows(); NaN = no figure that day
    indicator: str  # erp.shipped_packs | erp.shipped_qty
    unit: str  # "packs" | "units", for messages and statistic keys
    params: Mapping[str, Any]  # overrides of the rule's parts thresholds (empty for parts)


def shipped_claims(ev: RuleInputs, params: Mapping[str, Any]) -> ShippedClaims:
    """Packs when the gateway sent any ``erp.shipped_packs``, else parts.

    With packs, a day with shipped parts but no pack figure (before the master existed, or a
    product missing from it) is NaN, not compared: parts and packs are never mixed in one series.
    """
    packs = ev.enterprise_daily(PACKS)
    if np.isfinite(packs).any():
        over = {"min_ship": float(params.get("min_ship_packs", PACK_DEFAULTS["min_ship_packs"])),
                "min_units": float(params.get("min_units_packs", PACK_DEFAULTS["min_units_packs"]))}
        return ShippedClaims(packs, PACKS, "packs", over)
    return ShippedClaims(ev.enterprise_daily(PARTS), PARTS, "units", {})
