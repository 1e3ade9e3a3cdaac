"""Synthetic ERP day records for the repayment rules, delivered through the receiver's real ingest.

A steady enterprise by default: orders booked every day, receivables in steady state (all
current or 1-30 days overdue), the lifecycle flowing (ordered -> produced -> shipped -> invoiced
-> paid, a few a day), MES output on weekdays. Keyword functions of the day index change one
aspect (the signal a test wants to show); everything leaves the way the gateway sends it
(amounts as lower bounds of their privacy range with ``detail.range``, small counts suppressed).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloud_helpers import FakeGateway
from rule_inputs_helpers import DAY0, enrolled, push, rec

from cloud_stub.db import ReceiverDB

DAY = 86400
BUCKETS = [0, 1000, 2000, 3000, 5000, 7500, 10000, 15000, 20000, 30000, 50000, 75000, 100000, 150000, 200000,
           300000, 500000, 750000, 1000000, 1500000, 2000000]
STAGES = ("order", "produce", "ship", "receivable", "payment")


def amount(name: str, start: int, value: float, subject: str = "") -> dict[str, Any]:
    """An amount as it leaves the site: the lower bound of its range."""
    lo = max(b for b in BUCKETS if b <= value)
    hi = min((b for b in BUCKETS if b > value), default=None)
    return rec(name, "erp", subject, start, DAY, float(lo), "CNY", ["bucketed"], {"range": [lo, hi]})


def count(name: str, start: int, value: float, subject: str = "") -> dict[str, Any]:
    if 0 < value < 3:
        return rec(name, "erp", subject, start, DAY, None, "count", ["suppressed_small_count"])
    return rec(name, "erp", subject, start, DAY, float(value), "count")


@dataclass
class ErpFactory:
    days: int = 42
    seed: int = 3
    orders_per_day: float = 20000.0
    revenue: Callable[[int], float] = lambda d: 1.0  # multiplier on orders booked
    ar: Callable[[int], float] = lambda d: 1.0  # multiplier on open receivables
    old_share: Callable[[int], float] = lambda d: 0.0  # share of the open amount 31-60 days overdue
    stage_factor: dict[str, Callable[[int], float]] = field(default_factory=dict)
    customer_hhi: float | None = None
    dso: tuple[float, ...] = ()  # erp.dso_days of consecutive 30-day months from the first day
    production: Callable[[int], float] = lambda d: 1.0
    with_receivables: bool = True
    with_orders: bool = True

    def records(self) -> list[dict[str, Any]]:
        rng = random.Random(self.seed)
        out: list[dict[str, Any]] = []
        for d in range(self.days):
            t = DAY0 + d * DAY
            weekday = d % 7 < 5
            if self.with_orders:
                out.append(amount("erp.order_amount", t, self.orders_per_day * self.revenue(d) * rng.uniform(0.8, 1.2)))
                for s in STAGES:
                    f = self.stage_factor.get(s, lambda _d: 1.0)(d)
                    out.append(count("erp.orders_stage_count", t, round(5 * f * rng.uniform(0.8, 1.2)), f"stage:{s}"))
                out.append(rec("erp.shipped_qty", "erp", "", t, DAY, float(round(1000 * rng.uniform(0.9, 1.1)))
                               if weekday else 0.0, "units"))
            if self.with_receivables:
                total = 600000.0 * self.ar(d) * rng.uniform(0.97, 1.03)
                old = total * self.old_share(d)
                split = {"current": (total - old) * 0.7, "1-30": (total - old) * 0.3, "31-60": old, "61-90": 0.0,
                         ">90": 0.0}
                out.append(amount("erp.receivables_open_amount", t, total))
                out += [amount("erp.receivables_ageing_amount", t, v, f"ageing:{b}") for b, v in split.items()]
            out.append(rec("mes.good_qty", "mes", "", t, DAY, float(round(2000 * self.production(d)
                                                                          * rng.uniform(0.95, 1.05)))
                           if weekday else 0.0, "units"))
        for month, days in enumerate(self.dso):
            out.append(rec("erp.dso_days", "erp", "enterprise", DAY0 + month * 30 * DAY, 30 * DAY, days, "d"))
        if self.customer_hhi is not None:
            for month in (0, 1):
                out.append(rec("erp.customer_hhi", "erp", "enterprise", DAY0 + month * 30 * DAY, 30 * DAY,
                               self.customer_hhi, "HHI"))
        return out


def deliver(rdb: ReceiverDB, factory: ErpFactory, enterprise: str = "ent-1") -> FakeGateway:
    gw = enrolled(rdb, FakeGateway(gateway_id=f"gw-{enterprise}", enterprise=enterprise))
    push(rdb, gw, factory.records())
    return gw
