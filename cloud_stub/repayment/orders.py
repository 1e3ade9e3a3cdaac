"""Progress of open orders against due dates: what is owed to customers in the next weeks, against
what the plant is forecast to make and what it has been shipping.

Reads the gateway's due-date indicators (gateway/indicators/orders_due.py): per local day the open
quantity by due bucket (``erp.orders_open_due_qty``, subjects ``due:overdue|0-7|8-30|>30|none``),
the open order count by bucket, and the orders delivered on time or late (``erp.orders_delivered_count``).
The report's ``repayment.open_orders`` (docs/scoring.md, "Order progress"):

* ``due_within_{H}d_qty``: open quantity overdue or due within ``H`` days (30) on the latest day every
  dated bucket is observed: what the plant owes its customers in that period;
* against the production forecast for the next ``H`` days (same report, ``forecasts.production``):
  ``shortfall`` = max(0, due - forecast total), its interval from the forecast's interval
  (``[max(0, due - upper), max(0, due - lower)]``; a larger output means a smaller shortfall), all in
  the units the MES and ERP count;
* against the recent shipment rate: shipped per observed day over the last ``H`` days x ``H``, and the
  days it takes at that rate to ship what is due (``days_to_clear``);
* ``on_time_rate`` over the last ``H`` days, and the overdue count and quantity.

A figure the gateway could not know (no due dates, no deliveries) is not observed: the section says
``assessed: false`` with the reason, never a zero shortfall. A count suppressed for privacy (1 or 2
orders) counts as 1, its lower bound, like the order-flow rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rule_inputs import DAY_MAX_S, DAY_MIN_S

OPEN_QTY, OPEN_COUNT = "erp.orders_open_due_qty", "erp.orders_open_due_count"
DELIVERED = "erp.orders_delivered_count"
DATED = ("overdue", "0-7", "8-30", ">30")
SHIPPED = "erp.shipped_qty"


def _r(x: float, nd: int = 2) -> float | None:
    return round(float(x), nd) if np.isfinite(x) else None


def counts(ri: RepaymentInputs, name: str, subject: str) -> np.ndarray:
    """A day count on the local days; a suppressed small count as 1 (its lower bound), unknown NaN."""
    starts = ri.day_starts()
    out = np.full(len(starts), np.nan)
    for (subj, n), s in ri.ev.series_by_name.get(name, {}).items():
        if subj != subject or not DAY_MIN_S <= n <= DAY_MAX_S:
            continue
        vals = np.where(np.isfinite(s.value), s.value, np.where(s.flagged("suppressed_small_count"), 1.0, np.nan))
        idx = np.searchsorted(starts, s.start)
        ok = idx < len(starts)
        ok[ok] = starts[idx[ok]] == s.start[ok]
        out[idx[ok]] = vals[ok]
    return out


def open_qty(ri: RepaymentInputs) -> dict[str, np.ndarray]:
    """Open quantity per dated due bucket, per local day (NaN: not observed)."""
    return {b: ri.daily(OPEN_QTY, f"due:{b}") for b in DATED}


def overdue_share(ri: RepaymentInputs) -> np.ndarray:
    """Overdue share of the open quantity that has a due date, per day (NaN: not observed, or nothing open)."""
    q = open_qty(ri)
    total = np.sum([q[b] for b in DATED], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, q["overdue"] / total, np.nan)


def on_time(ri: RepaymentInputs, idx: slice) -> tuple[float, float]:
    """(on time, late) deliveries summed over the days ``idx`` (suppressed counts as 1, unknown days left out)."""
    on, late = counts(ri, DELIVERED, "delivery:on_time")[idx], counts(ri, DELIVERED, "delivery:late")[idx]
    seen = np.isfinite(on) & np.isfinite(late)
    return float(on[seen].sum()), float(late[seen].sum())


def observed(ri: RepaymentInputs) -> str | None:
    """Why order progress cannot be assessed (None: it can)."""
    if not ri.has(OPEN_QTY):
        return ("no open orders by due date reached the bank (erp.orders_open_due_qty): the ERP connector maps no "
                "due date, or none of its orders has one")
    return None


def open_orders(ri: RepaymentInputs, production: Mapping[str, Any], horizon: int = 30) -> dict[str, Any]:
    """The report's ``open_orders`` section (module docstring)."""
    why = observed(ri)
    if why:
        return {"assessed": False, "reason": why}
    q = open_qty(ri)
    seen = np.flatnonzero(np.all([np.isfinite(q[b]) for b in DATED], axis=0))
    if len(seen) == 0:
        return {"assessed": False, "reason": "no day with every dated due bucket observed"}
    i = int(seen[-1])
    # Every figure from the rounded ones the report states, so a bank can redo the arithmetic exactly (V55).
    by = {b: round(float(q[b][i]), 2) for b in DATED}
    due = round(by["overdue"] + by["0-7"] + by["8-30"], 2)
    overdue_n = counts(ri, OPEN_COUNT, "due:overdue")[i]
    none_qty = ri.daily(OPEN_QTY, "due:none")[i]
    out: dict[str, Any] = {
        "assessed": True, "as_of_day": int(ri.day_starts()[i]), "horizon_days": horizon, "unit": "units",
        "open_qty_by_due": {b: _r(v) for b, v in by.items()}, "open_qty_without_due_date": _r(none_qty),
        f"due_within_{horizon}d_qty": _r(due), "overdue_qty": _r(by["overdue"]),
        "overdue_orders": _r(overdue_n, 0), "overdue_orders_suppressed": bool(np.isfinite(overdue_n)
                                          and not np.isfinite(ri.daily(OPEN_COUNT, "due:overdue")[i])),
    }
    fc = production.get(f"next_{horizon}d") if production.get("assessed") else None
    if isinstance(fc, Mapping) and fc.get("total") is not None:
        out["production_forecast"] = {k: fc.get(k) for k in ("total", "lower", "upper")}
        out["shortfall"] = {"expected": _r(max(0.0, due - float(fc["total"]))),
                            "lower": _r(max(0.0, due - float(fc["upper"]))),
                            "upper": _r(max(0.0, due - float(fc["lower"]))), "level": production.get("level")}
    else:
        out["shortfall"] = None
        out["shortfall_reason"] = production.get("reason") or "no production forecast"
    recent = slice(max(0, i + 1 - horizon), i + 1)
    shipped = ri.daily(SHIPPED)[recent] if ri.has(SHIPPED) else np.array([])
    days = int(np.isfinite(shipped).sum())
    if days:
        rate = round(float(np.nansum(shipped)) / days, 2)
        out["shipments"] = {"per_day": rate, f"next_{horizon}d_at_recent_rate": _r(rate * horizon),
                            "days_observed": days,
                            "days_to_clear": _r(due / rate, 1) if rate > 0 else None}
    else:
        out["shipments"] = None
    on, late = on_time(ri, recent)
    out["deliveries"] = {"on_time": _r(on, 0), "late": _r(late, 0),
                         "on_time_rate": _r(on / (on + late), 4) if on + late > 0 else None}
    return out
