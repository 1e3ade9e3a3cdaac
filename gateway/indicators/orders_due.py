"""Open orders against their due dates, and on-time delivery, from the imported orders.

The bank asks whether the plant can make and ship what it promised in time. Only counts and
sums leave the site: per due bucket the number of open orders, their open quantity and open
amount (the privacy policy turns amounts into ranges and suppresses small counts like every
``erp.*`` figure), and per window how many orders were delivered on time or late. No order
number, customer or product is in any value or detail.

Definitions, as of the window's last local day ``D``:

* an order line is *delivered* on the first of its ``shipped_date`` / ``signed_date`` (a signed-back
  delivery note implies the shipment); an order is *open* on ``D`` when it was placed by ``D`` and
  one of its lines is not delivered by ``D``;
* the order's due day is the earliest ``due_date`` of its open lines; bucket by ``due - D``:
  ``overdue`` (< 0), ``0-7``, ``8-30``, ``>30`` days, ``none`` (no open line has a due date);
* delivered on time: every line delivered in the window was delivered on or before its due date.

Missing data is never a zero: when no order row carries a due date (the connector maps no
``due_date`` column, or the ERP leaves it empty) every value is null with ``no_data`` and
``detail.reason = "no_due_dates"``; the same with ``no_delivery_dates`` when no row carries a
shipped or signed-back date (every order would look open and, in time, overdue).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from gateway.indicators.base import IndicatorValue, WindowContext
from gateway.indicators.enterprise import EnterpriseIndicator, as_of, day_of, rows
from gateway.indicators.erp import as_of_window
from gateway.indicators.registry import register

DUE_BUCKETS = ("overdue", "0-7", "8-30", ">30", "none")
DELIVERY = ("on_time", "late", "no_due")
DELIVERED_FIELDS = ("shipped_date", "signed_date")


def delivered_on(line: dict[str, Any]) -> date | None:
    """The day a line left the plant (the first delivery date it has), or None."""
    days = [d for d in (day_of(line.get(f)) for f in DELIVERED_FIELDS) if d is not None]
    return min(days) if days else None


def due_bucket(due: date | None, day: date) -> str:
    if due is None:
        return "none"
    left = (due - day).days
    return "overdue" if left < 0 else "0-7" if left <= 7 else "8-30" if left <= 30 else ">30"


def _missing(lines: Sequence[dict[str, Any]]) -> str | None:
    """Why these orders cannot be judged against due dates (None: they can)."""
    if not any(line.get("due_date") for line in lines):
        return "no_due_dates"
    if not any(delivered_on(line) is not None for line in lines):
        return "no_delivery_dates"
    return None


def _by_order(lines: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        out.setdefault(str(line["order_no"]), []).append(line)
    return out


def open_by_due(lines: Sequence[dict[str, Any]], day: date) -> dict[str, tuple[int, float, float, bool]]:
    """Per due bucket: (open orders, open quantity, open amount, an open line had no amount)."""
    out = {b: (0, 0.0, 0.0, False) for b in DUE_BUCKETS}
    for order in _by_order(lines).values():
        open_lines = [ln for ln in order if (day_of(ln.get("order_date")) or day) <= day
                      and ((d := delivered_on(ln)) is None or d > day)]
        if not open_lines:
            continue
        dues = [d for d in (day_of(ln.get("due_date")) for ln in open_lines) if d is not None]
        b = due_bucket(min(dues) if dues else None, day)
        n, qty, amount, no_amount = out[b]
        out[b] = (n + 1, qty + sum(float(ln.get("qty") or 0) for ln in open_lines),
                  amount + sum(float(ln.get("amount") or 0) for ln in open_lines),
                  no_amount or any(ln.get("amount") is None for ln in open_lines))
    return out


def deliveries(lines: Sequence[dict[str, Any]], first: date, last: date) -> dict[str, int]:
    """Orders with a line delivered in [first, last]: on time, late, or with no due date to judge."""
    out = dict.fromkeys(DELIVERY, 0)
    for order in _by_order(lines).values():
        shipped = [(d, day_of(ln.get("due_date"))) for ln in order
                   if (d := delivered_on(ln)) is not None and first <= d <= last]
        if not shipped:
            continue
        if any(due is None for _, due in shipped):
            out["no_due"] += 1
        elif all(d <= due for d, due in shipped if due is not None):
            out["on_time"] += 1
        else:
            out["late"] += 1
    return out


class _OrdersDue(EnterpriseIndicator):
    category = "erp"
    dataset = "orders"
    subjects: tuple[str, ...] = ()
    prefix = ""

    def _not_observed(self, ctx: WindowContext, why: str) -> list[IndicatorValue]:
        return [self.value(ctx, None, ["no_data"], subject=f"{self.prefix}{s}", reason=why) for s in self.subjects]


class _OpenByDue(_OrdersDue):
    subjects = DUE_BUCKETS
    prefix = "due:"
    slot = 0  # which figure of open_by_due

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        lines = rows(ctx, "orders", 0, ctx.end)
        why = _missing(lines)
        if why:
            return self._not_observed(ctx, why)
        got = open_by_due(lines, as_of(ctx))
        out = []
        for b in DUE_BUCKETS:
            v = got[b][self.slot]
            flags = ["amount_missing"] if self.slot == 2 and got[b][3] else []
            out.append(self.value(ctx, round(float(v), 2 if self.slot == 2 else 6), flags, subject=f"due:{b}"))
        return out


@register
class OpenOrdersDueCount(_OpenByDue):
    """Open orders by due bucket at the window's last day (``due:overdue`` is the overdue count)."""

    name = "erp.orders_open_due_count"
    unit = "count"
    slot = 0


@register
class OpenOrdersDueQty(_OpenByDue):
    """Open (not yet delivered) quantity by due bucket: what the plant still has to make or ship."""

    name = "erp.orders_open_due_qty"
    unit = "units"
    slot = 1


@register
class OpenOrdersDueAmount(_OpenByDue):
    """Open order value by due bucket (leaves the site as a range, like every amount)."""

    name = "erp.orders_open_due_amount"
    unit = "CNY"
    slot = 2


@register
class OrdersDelivered(_OrdersDue):
    """Orders delivered in the window, on time (delivered <= due) or late; ``delivery:no_due`` counts
    deliveries of orders without a due date. On-time rate = on_time / (on_time + late)."""

    name = "erp.orders_delivered_count"
    unit = "count"
    subjects = DELIVERY
    prefix = "delivery:"

    def compute(self, ctx: WindowContext) -> list[IndicatorValue]:
        lines = rows(ctx, "orders", 0, ctx.end)
        why = _missing(lines)
        if why:
            return self._not_observed(ctx, why)
        first, last = as_of_window(ctx)
        got = deliveries(lines, first, last)
        return [self.value(ctx, float(got[k]), subject=f"delivery:{k}") for k in DELIVERY]
