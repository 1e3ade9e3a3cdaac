"""Feed verify: the order progress a score report states (``repayment.open_orders``, docs/wire-format.md §23).

Two checks a bank can make without recomputing the forecast (``feed rescore`` recomputes everything):

* V55, from the signed report alone: the section's numbers follow from one another: what is due within
  the horizon is the sum of the overdue, 0-7 and 8-30 day buckets; the production forecast it compares with
  is the report's own ``forecasts.production`` for that horizon; the shortfall and its interval are
  ``max(0, due - total|upper|lower)``; the shipments at the recent rate are ``per_day x horizon``; the
  on-time rate is ``on_time / (on_time + late)``. A section that is not assessed states no figures.
* V56, against the verified records: each open quantity by due bucket is the value of the newest verified
  ``erp.orders_open_due_qty`` record of that bucket and day (record id at most the report's
  ``inputs.max_record_id``), rounded to 2 decimals. Skipped when the bank did not verify those records
  (another category grant, or an incremental run that verified them earlier).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from cloud_stub.texts import Msg, msg

OPEN_QTY = "erp.orders_open_due_qty"
DATED = ("overdue", "0-7", "8-30", ">30")
ROUNDING = 0.011  # the report rounds each figure to 2 decimals; a sum of three may be off by 0.01
DAY_MIN_S, DAY_MAX_S = 82800, 90000


def _num(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise ValueError(f"not a number: {x!r}")
    return float(x)


def _near(a: Any, b: float) -> bool:
    return abs(_num(a) - b) <= ROUNDING


def arithmetic(report: Mapping[str, Any]) -> list[Msg]:
    """V55: problems with the open-orders section of one signed report ([] when none, or no section)."""
    rep = report.get("repayment")
    oo = rep.get("open_orders") if isinstance(rep, Mapping) else None
    if not isinstance(oo, Mapping):
        return []
    if oo.get("assessed") is not True:
        stated = sorted(k for k in ("shortfall", "overdue_qty", "due_within_30d_qty") if k in oo)
        return [msg("open_orders: not assessed, yet states {stated}", stated=stated)] if stated else []
    out: list[Msg] = []
    try:
        h = int(oo["horizon_days"])
        by = {b: _num(oo["open_qty_by_due"][b]) for b in DATED}
        due = by["overdue"] + by["0-7"] + by["8-30"]
        if not _near(oo[f"due_within_{h}d_qty"], due):
            out.append(msg("open_orders: due within {days} days {stated} is not overdue + 0-7 + 8-30 ({due})",
                           days=h, stated=oo[f"due_within_{h}d_qty"], due=f"{due:.2f}"))
        if not _near(oo["overdue_qty"], by["overdue"]):
            out.append(msg("open_orders: overdue_qty {stated} is not the overdue bucket {bucket}",
                           stated=oo["overdue_qty"], bucket=by["overdue"]))
        fc = ((rep.get("forecasts") or {}).get("production") or {}).get(f"next_{h}d")
        s = oo.get("shortfall")
        if s is not None:
            stated = oo.get("production_forecast") or {}
            if not isinstance(fc, Mapping) or any(stated.get(k) != fc.get(k) for k in ("total", "lower", "upper")):
                out.append(msg("open_orders: production forecast {stated} is not the report's "
                               "forecasts.production next_{days}d", stated=stated, days=h))
            else:
                due_s = _num(oo[f"due_within_{h}d_qty"])
                for k, src in (("expected", "total"), ("lower", "upper"), ("upper", "lower")):
                    want = max(0.0, due_s - _num(fc[src]))
                    if not _near(s[k], want):
                        out.append(msg("open_orders: shortfall {bound} {stated} is not max(0, due - forecast "
                                       "{source}) = {want}", bound=k, stated=s[k], source=src, want=f"{want:.2f}"))
                if not _num(s["lower"]) <= _num(s["expected"]) <= _num(s["upper"]):
                    out.append(msg("open_orders: shortfall {expected} outside its interval [{lower}, {upper}]",
                                   expected=s["expected"], lower=s["lower"], upper=s["upper"]))
        sh = oo.get("shipments")
        if sh is not None and not _near(sh[f"next_{h}d_at_recent_rate"], _num(sh["per_day"]) * h):
            out.append(msg("open_orders: shipments at the recent rate {stated} are not {per_day} x {days}",
                           stated=sh[f"next_{h}d_at_recent_rate"], per_day=sh["per_day"], days=h))
        d = oo["deliveries"]
        n = _num(d["on_time"]) + _num(d["late"])
        if (d["on_time_rate"] is None) != (n == 0) or (n and abs(_num(d["on_time_rate"]) - _num(d["on_time"]) / n)
                                                        > 0.0001):
            out.append(msg("open_orders: on-time rate {rate} does not follow from {on_time} on time and {late} late",
                           rate=d["on_time_rate"], on_time=d["on_time"], late=d["late"]))
    except (AttributeError, KeyError, OverflowError, TypeError, ValueError) as exc:
        out.append(msg("open_orders: malformed ({kind}: {error})", kind=type(exc).__name__, error=exc))
    return out


def due_records(verified: Mapping[Any, str]) -> dict[tuple[str, int], list[tuple[int, Any]]]:
    """(subject, window start) -> [(record id, value)] of the verified ``erp.orders_open_due_qty`` day records
    (``verified``: record id -> the compact JSON feed_verify keeps of each verified indicator record)."""
    out: dict[tuple[str, int], list[tuple[int, Any]]] = {}
    for rid, text in verified.items():
        if OPEN_QTY not in text:
            continue
        try:  # signed by a gateway, but a gateway may sign nonsense: skip what has no day window
            rec = json.loads(text)
            w = rec.get("window") or {}
            day = DAY_MIN_S <= int(w.get("len") or 0) <= DAY_MAX_S
            if rec.get("name") == OPEN_QTY and isinstance(rid, int) and day:
                out.setdefault((str(rec.get("subject")), int(w["start"])), []).append((rid, rec.get("value")))
        except (AttributeError, KeyError, OverflowError, TypeError, ValueError):
            continue
    return out


def against_records(report: Mapping[str, Any], records: Mapping[tuple[str, int], list[tuple[int, Any]]]) -> list[Msg]:
    """V56: the open quantities the report states against the newest verified record of each bucket and day."""
    oo = (report.get("repayment") or {}).get("open_orders") if isinstance(report.get("repayment"), Mapping) else None
    if not isinstance(oo, Mapping) or oo.get("assessed") is not True:
        return []
    try:
        day = int(oo["as_of_day"])
        bound = int((report.get("inputs") or {}).get("max_record_id") or 0)
        mine = {b: [x for x in records.get((f"due:{b}", day), []) if x[0] <= bound] for b in DATED}
        if not all(mine.values()):
            return []  # not verifiable in this run
        out = []
        for b in DATED:
            _, value = max(mine[b], key=lambda x: x[0])
            want = None if value is None else round(float(value), 2)
            if want != oo["open_qty_by_due"][b]:
                out.append(msg("open_orders: open quantity due {bucket} on day {day} is {stated}, the verified "
                               "record says {want}", bucket=b, day=day, stated=oo["open_qty_by_due"][b], want=want))
        return out
    except (AttributeError, KeyError, OverflowError, TypeError, ValueError) as exc:
        return [msg("open_orders: malformed ({kind}: {error})", kind=type(exc).__name__, error=exc)]
