"""ERP indicators from imported orders, shipments, receivables and purchases.

Counterparties and products are tokens (see gateway/privacy/tokens.py); amounts are exact
here and in the local store, and generalised into ranges on the way out
(gateway/privacy/policy.py). Balances (open receivables, ageing) are as of the window's
last local day; flows (orders per stage, shipments) count what happened inside it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from gateway.connectors.datasets import STAGE_FIELDS, STAGES
from gateway.indicators.base import IndicatorValue, WindowContext
from gateway.indicators.enterprise import (
    MONTH,
    EnterpriseIndicator,
    as_of,
    count_distinct,
    day_of,
    month_window,
    per_subject,
    rows,
)
from gateway.indicators.registry import register

DEFAULT_TERMS_DAYS = 30  # when an invoice has no due date
AGEING = (("current", None, 0), ("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), (">90", 91, None))


class _Erp(EnterpriseIndicator):
    category = "erp"


def hhi(amounts: dict[str, float]) -> float | None:
    """Herfindahl-Hirschman index on a 0-10,000 scale: sum of squared percentage shares."""
    total = sum(v for v in amounts.values() if v > 0)
    if total <= 0:
        return None
    return sum((100.0 * v / total) ** 2 for v in amounts.values() if v > 0)


def stage_of(order: dict[str, Any], day: date) -> str | None:
    """The furthest lifecycle stage an order had reached by ``day`` (inclusive)."""
    reached = None
    for stage in STAGES:
        d = day_of(order.get(STAGE_FIELDS[stage]))
        if d is not None and d <= day:
            reached = stage
    return reached


@register
class OrdersByStage(_Erp):
    """Orders that reached each lifecycle stage inside the window (a flow: new orders,
    checked, scheduled, produced, stocked in/out, shipped, signed back, invoiced, paid).
    Subject ``stage:<stage>``."""

    name = "erp.orders_stage_count"
    unit = "count"
    dataset = "orders"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        first, last = as_of_window(ctx)
        counts: dict[str, set[str]] = {f"stage:{s}": set() for s in STAGES}
        for o in rows(ctx, "orders", 0, ctx.end):
            for stage in STAGES:
                d = day_of(o.get(STAGE_FIELDS[stage]))
                if d is not None and first <= d <= last:
                    counts[f"stage:{stage}"].add(o["order_no"])
        return per_subject(self, ctx, {k: float(len(v)) for k, v in counts.items()}, "stage:")


def as_of_window(ctx: WindowContext) -> tuple[date, date]:
    last = as_of(ctx)
    first = last - timedelta(days=round(ctx.length / 86400) - 1)
    return first, last


@register
class OpenOrders(_Erp):
    """Orders placed by the window's end and not yet paid: the pipeline."""

    name = "erp.orders_open"
    unit = "count"
    dataset = "orders"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        last = as_of(ctx)
        open_ = {o["order_no"] for o in rows(ctx, "orders", 0, ctx.end) if stage_of(o, last) != "payment"}
        return [self.value(ctx, float(len(open_)))]


@register
class OpenOrdersByStage(_Erp):
    """The open pipeline by where each order stands at the window's end (its furthest stage
    reached, unpaid orders only). Subject ``stage:<stage>``."""

    name = "erp.orders_open_by_stage"
    unit = "count"
    dataset = "orders"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        last = as_of(ctx)
        at: dict[str, set[str]] = {f"stage:{s}": set() for s in STAGES[:-1]}
        for o in rows(ctx, "orders", 0, ctx.end):
            stage = stage_of(o, last)
            if stage is not None and stage != "payment":
                at[f"stage:{stage}"].add(o["order_no"])
        return per_subject(self, ctx, {k: float(len(v)) for k, v in at.items()}, "stage:")


@register
class OrderAmount(_Erp):
    """Value of the orders placed in the window (sales booked)."""

    name = "erp.order_amount"
    unit = "CNY"
    dataset = "orders"
    reads_history = False

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        rs = rows(ctx, "orders")
        total = sum(float(r.get("amount") or 0) for r in rs)
        flags = [] if rs else ["no_rows"]
        if any(r.get("amount") is None for r in rs):
            flags.append("amount_missing")
        return [self.value(ctx, round(total, 2), flags)]


@register
class Shipments(_Erp):
    """Shipments dated in the window (distinct shipment numbers); the bank compares them with
    warehouse out-counts."""

    name = "erp.shipments_count"
    unit = "count"
    dataset = "shipments"
    reads_history = False

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        n, distinct = count_distinct(ctx, "shipments", "ship_no")  # in SQL: a busy month's numbers stay there
        return [self.value(ctx, float(distinct), [] if n else ["no_rows"])]


@register
class ShippedQty(_Erp):
    name = "erp.shipped_qty"
    unit = "units"
    dataset = "shipments"
    reads_history = False

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        rs = rows(ctx, "shipments")
        return [self.value(ctx, round(sum(float(r.get("qty") or 0) for r in rs), 6), [] if rs else ["no_rows"])]


def outstanding(inv: dict[str, Any], day: date) -> float:
    """What was still owed on an invoice at the end of ``day``."""
    issued = day_of(inv["invoice_date"])
    if issued is None or issued > day:
        return 0.0
    paid = day_of(inv.get("paid_date"))
    amount = float(inv["amount"])
    if paid is not None and paid <= day:
        pa = inv.get("paid_amount")
        return max(0.0, amount - float(pa)) if pa is not None else 0.0
    return amount


def due_day(inv: dict[str, Any]) -> date:
    due = day_of(inv.get("due_date"))
    if due is not None:
        return due
    issued = day_of(inv["invoice_date"])
    assert issued is not None  # required field
    return issued + timedelta(days=DEFAULT_TERMS_DAYS)


def ageing_bucket(days_overdue: int) -> str:
    for label, lo, hi in AGEING:
        if (lo is None or days_overdue >= lo) and (hi is None or days_overdue <= hi):
            return label
    return ">90"  # pragma: no cover


def _ageing(ctx: WindowContext) -> dict[str, tuple[float, int]]:
    day = as_of(ctx)
    out = {label: (0.0, 0) for label, _, _ in AGEING}
    for inv in rows(ctx, "receivables", 0, ctx.end):
        owed = outstanding(inv, day)
        if owed <= 0:
            continue
        label = ageing_bucket((day - due_day(inv)).days)
        amt, n = out[label]
        out[label] = (amt + owed, n + 1)
    return out


@register
class ReceivablesOpen(_Erp):
    name = "erp.receivables_open_amount"
    unit = "CNY"
    dataset = "receivables"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        day = as_of(ctx)
        total = sum(outstanding(inv, day) for inv in rows(ctx, "receivables", 0, ctx.end))
        return [self.value(ctx, round(total, 2))]


@register
class OverdueAmount(_Erp):
    """Open receivables by days past due as of the window's end: current (not yet due),
    1-30, 31-60, 61-90, >90. Subject ``ageing:<bucket>``."""

    name = "erp.receivables_ageing_amount"
    unit = "CNY"
    dataset = "receivables"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        return [self.value(ctx, round(a, 2), subject=f"ageing:{k}") for k, (a, _) in _ageing(ctx).items()]


@register
class OverdueCount(_Erp):
    name = "erp.receivables_ageing_count"
    unit = "count"
    dataset = "receivables"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        return [self.value(ctx, float(n), subject=f"ageing:{k}") for k, (_, n) in _ageing(ctx).items()]


@register
class DSO(_Erp):
    """Days sales outstanding = open receivables at the end / (invoiced in the month / days)."""

    name = "erp.dso_days"
    unit = "d"
    dataset = "receivables"
    periods = (MONTH,)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        day = as_of(ctx)
        sales = sum(float(r["amount"]) for r in rows(ctx, "receivables"))
        if sales <= 0:
            return [self.value(ctx, None, ["no_sales"])]
        ar = sum(outstanding(inv, day) for inv in rows(ctx, "receivables", 0, ctx.end))
        days = round(ctx.length / 86400)
        return [self.value(ctx, round(ar / (sales / days), 2))]


@register
class CustomerHHI(_Erp):
    """Customer concentration of the month's orders (by amount), computed on site from
    tokens; only the index leaves, never the shares or who they belong to."""

    name = "erp.customer_hhi"
    unit = "HHI"
    dataset = "orders"
    reads_history = False
    periods = (MONTH,)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        per: dict[str, float] = {}
        for r in rows(ctx, "orders"):
            per[r["customer"]] = per.get(r["customer"], 0.0) + float(r.get("amount") or 0)
        v = hhi(per)
        return [self.value(ctx, None if v is None else round(v, 1), [] if v is not None else ["no_rows"])]


@register
class SupplierHHI(_Erp):
    name = "erp.supplier_hhi"
    unit = "HHI"
    dataset = "purchases"
    reads_history = False
    periods = (MONTH,)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        per: dict[str, float] = {}
        for r in rows(ctx, "purchases"):
            per[r["supplier"]] = per.get(r["supplier"], 0.0) + float(r.get("amount") or 0)
        v = hhi(per)
        return [self.value(ctx, None if v is None else round(v, 1), [] if v is not None else ["no_rows"])]


def _avg_prices(rs: list[dict[str, Any]]) -> dict[str, float]:
    amt: dict[str, float] = {}
    qty: dict[str, float] = {}
    for r in rs:
        if r.get("product") and r.get("qty") and r.get("amount") is not None and float(r["qty"]) > 0:
            amt[r["product"]] = amt.get(r["product"], 0.0) + float(r["amount"])
            qty[r["product"]] = qty.get(r["product"], 0.0) + float(r["qty"])
    return {p: amt[p] / qty[p] for p in amt}


@register
class PriceIndex(_Erp):
    """Average selling price per product this month against the previous month (= 100).
    Unit prices never leave: the privacy policy floors the index to its step (5 points)."""

    name = "erp.price_index"
    unit = "index"
    dataset = "orders"
    reads_history = False
    periods = (MONTH,)

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        tz = ctx.params["tz"]
        first = as_of_window(ctx)[0]
        prev_start, prev_len = month_window(first - timedelta(days=1), tz)
        now_p = _avg_prices(rows(ctx, "orders"))
        base = _avg_prices(rows(ctx, "orders", prev_start, prev_start + prev_len))
        vals = {f"product:{p}": 100.0 * now_p[p] / base[p] for p in now_p if base.get(p)}
        return per_subject(self, ctx, vals, "product:")
