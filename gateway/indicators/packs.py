"""Shipments in the handling units the dispatch camera counts, converted product by product.

The ERP ships parts; the dispatch camera counts packs (or cartons, or pallets), and one
product's pack holds 60 parts where another's holds 200. With a product master on site
(gateway/connectors/products.py) each shipment line becomes ceil(qty / parts per pack)
packs (a part-filled pack still leaves as one pack), summed per day or month. The receiver's
``shipments_vs_outcounts`` compares these with the camera's counts when present, so the
product mix no longer moves a single learned ratio. Only the totals leave the site.
"""

from __future__ import annotations

import math

from gateway.connectors.products import load_products, master_rows
from gateway.indicators.base import IndicatorValue, WindowContext
from gateway.indicators.enterprise import SUBJECT, EnterpriseIndicator, previous_subjects, rows
from gateway.indicators.registry import register


def packs_for(qty: float, per_pack: float) -> int:
    """Packs a shipment line of ``qty`` parts fills: a part-filled last pack is a pack."""
    return math.ceil(qty / per_pack - 1e-9) if qty > 0 else 0


@register
class ShippedPacks(EnterpriseIndicator):
    """Σ over the window's shipment rows of ceil(qty / parts per counted unit of its product).

    No value at all (not a zero) when no product master is declared. Rows whose product has
    no size (imported before the master said so) are left out and flagged
    ``product_not_in_master``; detail ``rows_without_master`` says how many."""

    name = "erp.shipped_packs"
    category = "erp"
    unit = "packs"
    dataset = "shipments"
    also_reads = ("products",)  # a changed master converts the shipments anew
    reads_history = False

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        cache = ctx.params.setdefault("_cache", {})
        if "product_master" not in cache:
            cache["product_master"] = master_rows(ctx.store) if ctx.store is not None else {}
        master = cache["product_master"]
        if not master:
            # No master (never, or no longer): no figure. One sent before is revised to null.
            if previous_subjects(ctx, self.name, SUBJECT):
                return [self.value(ctx, None, ["no_product_master"])]
            return []
        products = load_products(getattr(ctx.profile, "products", {}) or {})
        need = products.counted_field
        rs = rows(ctx, "shipments")
        total, missing, seen = 0, 0, set()
        for r in rs:
            size = (master.get(r.get("product") or "") or {}).get(need)
            if not size:
                missing += 1
                continue
            total += packs_for(float(r.get("qty") or 0), float(size))
            seen.add(r["product"])
        flags = [] if rs else ["no_rows"]
        if missing:
            flags.append("product_not_in_master")
        value = float(total) if seen or not rs else None  # no product converted: unknown, not 0
        return [self.value(ctx, value, flags, counted_unit=products.counted_unit, products=len(seen),
                           rows_without_master=missing)]
