"""A cluster of negative news: several negative items about the enterprise within a short window.

News records carry a sentiment score from -1 to 1 (the provider's). Items at or below
``negative_at`` are negative; the largest number of them inside any ``window_days`` window of the
last ``lookback_days`` is the cluster size: at least ``yellow_count`` yellow, ``orange_count``
orange. The finding cites each item's digest. Worked example: docs/cross-verification.md,
"Outside records".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from cloud_stub.repayment.inputs import RepaymentInputs
from cloud_stub.rules._repay import RepaymentRule
from cloud_stub.rules.base import Finding, register
from cloud_stub.rules.repay_outside_adverse import cite, day_epoch, recent


@register
class OutsideNews(RepaymentRule):
    id = "repay_outside_news"
    version = 1
    title = "Cluster of negative news"
    needs = ("outside:news",)
    defaults: Mapping[str, Any] = {"lookback_days": 90, "window_days": 30, "negative_at": -0.5, "yellow_count": 3,
                                   "orange_count": 6}

    def assess(self, ri: RepaymentInputs, params: Mapping[str, Any]) -> list[Finding]:
        p = params
        neg = [x for x in recent(ri, "news", int(p["lookback_days"]))
               if float(x["data"]["sentiment"]) <= p["negative_at"]]
        best: list[dict[str, Any]] = []
        for i, first in enumerate(neg):
            d0 = date.fromisoformat(first["date"])
            group = [x for x in neg[i:] if (date.fromisoformat(x["date"]) - d0).days < p["window_days"]]
            if len(group) > len(best):
                best = group
        n = len(best)
        sev = "orange" if n >= p["orange_count"] else "yellow" if n >= p["yellow_count"] else None
        if sev is None:
            return []
        mean = sum(float(x["data"]["sentiment"]) for x in best) / n
        return [self.finding(
            ri, sev, f"news:{best[0]['sha256'][:16]}", day_epoch(best[0]["date"]), day_epoch(best[-1]["date"]) + 86400,
            compared={"records": cite(best), "headlines": [x["data"].get("headline") for x in best]},
            statistic={"negative_items": n, "mean_sentiment": round(mean, 3)},
            threshold={k: p[k] for k in ("window_days", "negative_at", "yellow_count", "orange_count")},
            direction="adverse", indicators=("outside:news",),
            message=f"{n} negative news items within {p['window_days']} days "
                    f"({best[0]['date']} to {best[-1]['date']})")]
